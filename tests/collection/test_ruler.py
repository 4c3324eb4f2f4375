"""The collection ruler: steps on their day, quiet hours, weekly cap, one message per step,
nothing after payment, promises pause it; e-mail read back from a real SMTP server."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest
from httpx import AsyncClient
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from tests.collection.conftest import Smtp
from tests.conftest import MerchantAccount, app_client, new_merchant
from tests.dunning.dunning_seed import Installment, seed_installment, set_identity

from billing.collection.tasks import run_ruler
from billing.db import unit_of_work
from billing.kit.clock import FixedClock
from billing.kit.ids import new_id
from billing.models import CollectionMessage, Invoice, PaymentPromise
from billing.queue import InlineDispatcher
from billing.runtime import Runtime

DUE = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)  # Monday 10:00 in São Paulo
SP_OFFSET = timedelta(hours=3)


def local(day: date, hour: int, minute: int = 0) -> datetime:
    """São Paulo wall time (UTC-3, no DST since 2019) as UTC."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC) + SP_OFFSET


async def _setup(runtime: Runtime, **ruler: object) -> tuple[MerchantAccount, AsyncClient]:
    merchant = await new_merchant(runtime)
    async with unit_of_work(runtime.session_factory) as session:
        await set_identity(session, merchant.id)
    client = app_client(runtime)
    if ruler:
        response = await client.put("/v1/settings/collection", json=ruler, headers=merchant.headers)
        assert response.status_code == 200, response.text
    return merchant, client


async def _installment(
    runtime: Runtime, merchant: MerchantAccount, email: str, **kw: object
) -> Installment:
    async with unit_of_work(runtime.session_factory) as session:
        return await seed_installment(
            session, merchant.id, due_at=kw.pop("due_at", DUE), now=DUE - timedelta(days=10),  # type: ignore[arg-type]
            email=email, collection_method="send_invoice", **kw,  # type: ignore[arg-type]
        )  # fmt: skip


async def _tick(runtime: Runtime, clock: FixedClock, at: datetime) -> None:
    clock.set(at)
    await run_ruler(runtime.job_context)
    assert isinstance(runtime.dispatcher, InlineDispatcher)
    await runtime.dispatcher.drain()


async def _messages(runtime: Runtime, invoice_id: str) -> list[CollectionMessage]:
    async with runtime.session_factory() as session:
        rows = await session.scalars(
            select(CollectionMessage)
            .where(CollectionMessage.invoice_id == invoice_id)
            .order_by(CollectionMessage.offset_days)
        )
        return list(rows)


def _email() -> str:
    return f"payer-{uuid.uuid4().hex[:10]}@example.com"


async def test_default_ruler_sends_each_step_on_its_day_with_its_tone(
    mail_runtime: Runtime, clock: FixedClock, smtp: Smtp
) -> None:
    merchant, client = await _setup(mail_runtime)
    email = _email()
    inst = await _installment(mail_runtime, merchant, email)
    due_day = date(2026, 3, 2)
    expected = [
        (-3, "Lembrete: sua parcela vence em"),
        (1, "Sua parcela está em aberto"),  # payment_failed without a failure: overdue
        (3, "Sua parcela está em aberto"),
        (7, "Parcela vencida em"),
        (15, "Aviso final"),
    ]
    for offset, subject in expected:
        day = due_day + timedelta(days=offset)
        await _tick(mail_runtime, clock, local(day, 9, 59))
        assert len(smtp.inbox.to(email)) == expected.index((offset, subject)), offset
        await _tick(mail_runtime, clock, local(day, 10, 0))
        received = smtp.inbox.to(email)
        assert len(received) == expected.index((offset, subject)) + 1, offset
        last = received[-1]
        assert subject in last["Subject"], (offset, last["Subject"])
        assert parsedate_to_datetime(last["Date"]) == local(day, 10, 0)
        body = last.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "11.222.333/0001-81" in body  # CNPJ on every message (CDC art. 42-A)
        assert f"/portal/{merchant.id}" in body
    messages = await _messages(mail_runtime, inst.invoice_id)
    assert [m.status for m in messages] == ["sent"] * 5
    assert messages[1].rendered_template == "overdue"
    # D+3 onward shows late fee and interest as of the day.
    assert "Multa" in smtp.inbox.to(email)[2].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    await client.aclose()


async def test_quiet_hours_defer_and_never_drop(
    mail_runtime: Runtime, clock: FixedClock, smtp: Smtp
) -> None:
    merchant, client = await _setup(
        mail_runtime,
        quiet_hours={"start": "20:00", "end": "08:00"},
        max_contacts_per_week=3,
        steps=[{"offset_days": 1, "channel": "email", "template": "overdue", "tone": "firm"}],
    )
    email = _email()
    inst = await _installment(mail_runtime, merchant, email)
    # The ruler was not running at 10:00; it runs at 21:30 (quiet): queued, deferred.
    await _tick(mail_runtime, clock, local(date(2026, 3, 3), 21, 30))
    [message] = await _messages(mail_runtime, inst.invoice_id)
    assert message.status == "pending"
    assert message.deliver_at == local(date(2026, 3, 4), 8, 0)
    assert smtp.inbox.to(email) == []
    await _tick(mail_runtime, clock, local(date(2026, 3, 4), 7, 59))
    assert smtp.inbox.to(email) == []
    await _tick(mail_runtime, clock, local(date(2026, 3, 4), 8, 0))
    [received] = smtp.inbox.to(email)
    assert parsedate_to_datetime(received["Date"]) == local(date(2026, 3, 4), 8, 0)
    await client.aclose()


async def test_weekly_cap_defers_contacts(
    mail_runtime: Runtime, clock: FixedClock, smtp: Smtp
) -> None:
    merchant, client = await _setup(
        mail_runtime,
        max_contacts_per_week=1,
        steps=[{"offset_days": 1, "channel": "email", "template": "overdue", "tone": "friendly"}],
    )
    email = _email()
    first = await _installment(mail_runtime, merchant, email)
    second = await _installment(
        mail_runtime, merchant, email, customer_id=first.customer_id,
        due_at=DUE + timedelta(days=2),
    )  # fmt: skip
    await _tick(mail_runtime, clock, local(date(2026, 3, 3), 10))
    await _tick(mail_runtime, clock, local(date(2026, 3, 5), 10))
    assert len(smtp.inbox.to(email)) == 1
    [deferred] = await _messages(mail_runtime, second.invoice_id)
    assert deferred.status == "pending"
    assert deferred.deliver_at == local(date(2026, 3, 10), 10)  # a week after the first
    await _tick(mail_runtime, clock, local(date(2026, 3, 10), 10))
    assert len(smtp.inbox.to(email)) == 2
    await client.aclose()


async def test_one_message_per_step_and_none_after_payment(
    mail_runtime: Runtime, clock: FixedClock, smtp: Smtp
) -> None:
    merchant, client = await _setup(mail_runtime)
    email = _email()
    inst = await _installment(mail_runtime, merchant, email)
    at = local(date(2026, 3, 3), 10)
    clock.set(at)
    for _ in range(3):
        await run_ruler(mail_runtime.job_context)
    assert len(await _messages(mail_runtime, inst.invoice_id)) == 1
    # The database itself refuses a second row for the step.
    with pytest.raises(IntegrityError):
        async with unit_of_work(mail_runtime.session_factory) as session:
            [row] = await _messages(mail_runtime, inst.invoice_id)
            session.add(
                CollectionMessage(
                    id=new_id("msg"),
                    merchant_id=row.merchant_id,
                    customer_id=row.customer_id,
                    invoice_id=row.invoice_id,
                    step_key=row.step_key,
                    offset_days=1,
                    channel="email",
                    template="overdue",
                    tone="firm",
                    status="pending",
                    scheduled_at=at,
                    deliver_at=at,
                    attempts=0,
                    created_at=at,
                )
            )
    # Paid before the queued message went out: it is skipped, and no later step comes.
    async with unit_of_work(mail_runtime.session_factory) as session:
        await session.execute(
            update(Invoice)
            .where(Invoice.id == inst.invoice_id)
            .values(status="paid", amount_paid=Invoice.total, paid_at=at)
        )
    assert isinstance(mail_runtime.dispatcher, InlineDispatcher)
    await mail_runtime.dispatcher.drain()
    await _tick(mail_runtime, clock, local(date(2026, 3, 20), 10))
    [message] = await _messages(mail_runtime, inst.invoice_id)
    assert message.status == "skipped"
    assert smtp.inbox.to(email) == []
    await client.aclose()


async def test_a_promise_pauses_the_ruler_and_a_broken_one_resumes_it(
    mail_runtime: Runtime, clock: FixedClock, smtp: Smtp
) -> None:
    merchant, client = await _setup(mail_runtime)
    email = _email()
    inst = await _installment(mail_runtime, merchant, email)
    clock.set(local(date(2026, 3, 2), 15))
    response = await client.post(
        f"/v1/customers/{inst.customer_id}/promises",
        json={"amount": 10000, "date": "2026-03-06"},
        headers=merchant.headers,
    )
    assert response.status_code == 201, response.text
    for day in (3, 4, 5, 6):
        await _tick(mail_runtime, clock, local(date(2026, 3, day), 10))
    assert smtp.inbox.to(email) == []
    assert await _messages(mail_runtime, inst.invoice_id) == []
    # The promised day ends unpaid: broken, and the ruler resumes at the current step (D+3).
    await _tick(mail_runtime, clock, local(date(2026, 3, 7), 10))
    async with mail_runtime.session_factory() as session:
        promise = await session.scalar(
            select(PaymentPromise).where(PaymentPromise.customer_id == inst.customer_id)
        )
    assert promise is not None and promise.status == "broken"
    assert promise.resolved_at == local(date(2026, 3, 7), 10)
    [message] = await _messages(mail_runtime, inst.invoice_id)
    assert (message.step_key, message.status) == ("+3:email", "sent")
    assert len(smtp.inbox.to(email)) == 1
    await client.aclose()
