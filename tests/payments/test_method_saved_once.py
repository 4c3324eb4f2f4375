"""One attached row per (customer, gateway method): the unique index of migration 0015, the
attach path's answer when it loses a race to it, and the migration merging old copies."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing.db import make_engine, make_session_factory, unit_of_work
from billing.gateways import PaymentMethodInfo
from billing.kit.ids import new_id
from billing.merchants.service import create_merchant
from billing.migrate import upgrade
from billing.models import Customer, PaymentMethod, Plan, Subscription
from billing.payments import methods
from billing.payments.card_setups import save_confirmed_card
from billing.payments.methods import Saved, save_method
from billing.runtime import Runtime
from tests.conftest import BACKENDS, START, MerchantAccount, make_database

CARD = PaymentMethodInfo(
    gateway_ref="pm_racedcard", type="card", brand="visa", last4="4242", exp_month=12, exp_year=2034
)
GATEWAY_CUSTOMER = "cus_gw_maria"


def _card_row(
    card_id: str,
    merchant_id: str,
    customer_id: str,
    gateway_ref: str,
    *,
    is_default: bool,
    now: datetime,
    detached_at: datetime | None = None,
) -> PaymentMethod:
    return PaymentMethod(
        id=card_id,
        merchant_id=merchant_id,
        customer_id=customer_id,
        gateway_ref=gateway_ref,
        type="card",
        is_default=is_default,
        created_at=now,
        detached_at=detached_at,
    )


async def _save_card(
    session: AsyncSession, merchant_id: str, customer_id: str, *, set_default: bool, now: datetime
) -> Saved:
    """``save_method`` for CARD, attached to Maria's gateway customer."""
    return await save_method(
        session,
        merchant_id=merchant_id,
        customer_id=customer_id,
        gateway_customer=GATEWAY_CUSTOMER,
        info=CARD,
        set_default=set_default,
        now=now,
    )


async def _customer_with_default_card(
    session_factory: async_sessionmaker[AsyncSession], merchant_id: str, now: datetime
) -> tuple[str, str, str]:
    """(customer id, its default card's id, its subscription's id)."""
    customer_id, card_id, plan_id, sub_id = (
        new_id("cus"),
        new_id("pm"),
        new_id("plan"),
        new_id("sub"),
    )
    async with unit_of_work(session_factory) as session:
        session.add(
            Customer(
                id=customer_id,
                merchant_id=merchant_id,
                email=f"{uuid.uuid4().hex[:8]}@example.com",
                name="Maria Souza",
                gateway_customer_ref=GATEWAY_CUSTOMER,
                created_at=now,
            )
        )
        session.add(
            Plan(
                id=plan_id,
                merchant_id=merchant_id,
                name="Mensal",
                amount=10000,
                currency="BRL",
                interval="month",
                created_at=now,
            )
        )
        await session.flush()
        session.add(
            _card_row(card_id, merchant_id, customer_id, "pm_oldcard", is_default=True, now=now)
        )
        await session.flush()
        session.add(
            Subscription(
                id=sub_id,
                merchant_id=merchant_id,
                customer_id=customer_id,
                plan_id=plan_id,
                payment_method_id=card_id,
                status="active",
                anchor_at=now,
                current_period_start=now,
                current_period_end=now,
                created_at=now,
            )
        )
    return customer_id, card_id, sub_id


async def test_the_loser_of_a_race_gets_the_winners_row_and_writes_nothing(
    runtime: Runtime, merchant: MerchantAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two saves of one card on two sessions at once. The winner has inserted but not yet
    committed when the loser looks: on PostgreSQL the loser finds nothing, its insert waits
    for the winner and then breaks the unique index; on SQLite its transaction waits at
    BEGIN IMMEDIATE and then finds the row. Either way it answers as a replay would."""
    now = runtime.clock.now()
    customer_id, old_card, sub_id = await _customer_with_default_card(
        runtime.session_factory, merchant.id, now
    )
    inserts = 0
    real_insert = methods._insert_method

    async def counting_insert(*args: object, **kwargs: object) -> PaymentMethod:
        nonlocal inserts
        inserts += 1
        return await real_insert(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(methods, "_insert_method", counting_insert)
    async with runtime.session_factory() as winner_session:
        # The winner keeps the old default; the loser asks for the card to be the default.
        won = await _save_card(winner_session, merchant.id, customer_id, set_default=False, now=now)
        assert won.created

        async def lose() -> tuple[PaymentMethod, bool]:
            async with unit_of_work(runtime.session_factory) as session:
                return await save_confirmed_card(
                    session,
                    merchant_id=merchant.id,
                    customer_id=customer_id,
                    gateway_customer=GATEWAY_CUSTOMER,
                    info=CARD,
                    now=now,
                )

        loser = asyncio.create_task(lose())
        await asyncio.sleep(0.5)  # the loser is now blocked on the winner
        assert not loser.done()
        await winner_session.commit()
        method, created = await asyncio.wait_for(loser, 30)

    assert (method.id, created) == (won.method.id, False)
    if runtime.settings.database_url.startswith("postgresql"):
        assert inserts == 2  # the index, not the look-up, stopped the second row
    async with runtime.session_factory() as session:
        rows = list(
            await session.scalars(
                select(PaymentMethod).where(PaymentMethod.customer_id == customer_id)
            )
        )
        sub = await session.get(Subscription, sub_id)
    by_ref = {row.gateway_ref: row for row in rows}
    assert sorted(by_ref) == ["pm_oldcard", "pm_racedcard"] and len(rows) == 2
    # The loser's "make it the default" and subscription switch were undone with it.
    assert by_ref["pm_oldcard"].is_default and not by_ref["pm_racedcard"].is_default
    assert sub is not None and sub.payment_method_id == old_card


async def test_a_removed_card_does_not_block_saving_the_same_method_again(
    runtime: Runtime, merchant: MerchantAccount
) -> None:
    now = runtime.clock.now()
    customer_id, _, _ = await _customer_with_default_card(runtime.session_factory, merchant.id, now)
    async with unit_of_work(runtime.session_factory) as session:
        first = await _save_card(session, merchant.id, customer_id, set_default=True, now=now)
        first.method.detached_at = now  # what removing it does: the row stays
    async with unit_of_work(runtime.session_factory) as session:
        second = await _save_card(session, merchant.id, customer_id, set_default=True, now=now)
    assert second.created and second.method.id != first.method.id


@pytest.mark.parametrize("backend", BACKENDS)
def test_migration_merges_cards_saved_twice_before_the_index(backend: str, tmp_path: Path) -> None:
    db, cleanup = make_database(backend, tmp_path, migrate=False)
    try:
        upgrade(db.url, "0014")
        ids = asyncio.run(_saved_twice(db.url))
        upgrade(db.url)
        kept, copy, removed, sub_id = ids
        rows, sub_method = asyncio.run(_read(db.url, sub_id))
        assert rows[kept][0] is None and rows[kept][1]  # attached, and the default now
        assert rows[copy][0] is not None and not rows[copy][1]  # marked detached
        assert rows[removed] == (START, False)  # already removed: untouched
        assert sub_method == kept
    finally:
        cleanup()


async def _saved_twice(url: str) -> tuple[str, str, str, str]:
    """A customer whose card was saved twice (the younger copy the default and in use) and
    once more removed, on the schema before 0015."""
    engine = make_engine(url)
    factory = make_session_factory(engine)
    async with unit_of_work(factory) as session:
        merchant, _ = await create_merchant(session, name="Loja", now=START)
        merchant_id = merchant.id
    customer_id, card_id, sub_id = await _customer_with_default_card(factory, merchant_id, START)
    kept, copy, removed = "pm_0001kept", "pm_0002copy", "pm_0000removed"
    async with unit_of_work(factory) as session:
        for pm_id, default, detached in (
            (kept, False, None),
            (copy, True, None),
            (removed, False, START),
        ):
            session.add(
                _card_row(
                    pm_id,
                    merchant_id,
                    customer_id,
                    "pm_twice",
                    is_default=default,
                    now=START,
                    detached_at=detached,
                )
            )
        old = await session.get(PaymentMethod, card_id)
        assert old is not None
        old.is_default = False
        sub = await session.get(Subscription, sub_id)
        assert sub is not None
        sub.payment_method_id = copy
    await engine.dispose()
    return kept, copy, removed, sub_id


async def _read(
    url: str, sub_id: str
) -> tuple[dict[str, tuple[datetime | None, bool]], str | None]:
    engine = make_engine(url)
    async with make_session_factory(engine)() as session:
        rows = {
            pm.id: (pm.detached_at, pm.is_default)
            for pm in await session.scalars(select(PaymentMethod))
        }
        sub = await session.get(Subscription, sub_id)
        assert sub is not None
        method = sub.payment_method_id
    await engine.dispose()
    return rows, method
