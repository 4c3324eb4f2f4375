"""Agreements: made from the API or the portal, completed when paid, broken when an
installment stays overdue past the agreed tolerance, canceled by the merchant.

Making one: the chosen overdue installments move ``open|uncollectible → renegotiated``
(closed, the ruler and the retry planner only look at ``open``), and N new ordinary open
installments are issued; the ruler and the charging sweep follow them like any other.

Ending one early (broken or canceled): the agreement's unpaid installments are voided and
the original debt comes back, minus what the payer paid on the agreement: the payments
are credited to the originals oldest first (``renegotiated → paid`` when covered, else
``→ open`` with ``amount_paid`` raised). Reopened originals keep their due dates, so late
fee and interest run again from them: concessions (discount, waived fees) are lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billing.collection.late_fees import _local_date_diff
from billing.collection.policy import NegotiationPolicy, negotiation_policy
from billing.collection.promises import get_customer
from billing.collection.settings import stored_section
from billing.events.service import record_event
from billing.invoices.repository import invoice_views
from billing.invoices.schemas import DEFAULT_TZ
from billing.invoices.service import LineDraft, create_invoice, hand_off_for_collection
from billing.invoices.settlement import (
    mark_past_due,
    open_invoices_of,
    reactivate_subscription,
)
from billing.invoices.state import COLLECTIBLE, INVOICE
from billing.kit.errors import Conflict, NotFound, ProblemError, ValidationFailed
from billing.kit.ids import new_id
from billing.kit.pagination import fetch_page
from billing.models import (
    Agreement,
    AgreementInvoice,
    Invoice,
    Merchant,
    PaymentAttempt,
    Subscription,
)
from billing.negotiation.quote import (
    PAYMENT_METHODS,
    DebtItem,
    Quote,
    all_quotes,
    build_quote,
)
from billing.negotiation.state import AGREEMENT

SWEEP_BATCH = 500


async def policy_of(session: AsyncSession, merchant_id: str) -> NegotiationPolicy:
    return negotiation_policy(await stored_section(session, merchant_id, "negotiation"))


def _in_agreement_installments() -> object:
    return exists().where(
        AgreementInvoice.invoice_id == Invoice.id, AgreementInvoice.role == "installment"
    )


async def eligible_debt(
    session: AsyncSession,
    merchant: Merchant,
    customer_id: str,
    policy: NegotiationPolicy,
    *,
    now: datetime,
    for_update: bool = False,
) -> tuple[list[DebtItem], list[Invoice]]:
    """The customer's installments overdue by at least ``min_days_overdue`` (local days),
    with their fees as of now; installments of an agreement are never renegotiated again."""
    query = (
        select(Invoice)
        .where(
            Invoice.merchant_id == merchant.id,
            Invoice.customer_id == customer_id,
            Invoice.status.in_(COLLECTIBLE),
            Invoice.total > Invoice.amount_paid,
            Invoice.due_at < now,
            ~_in_agreement_installments(),  # type: ignore[operator]
        )
        .order_by(Invoice.due_at, Invoice.id)
    )
    if for_update:
        query = query.with_for_update()
    invoices = list((await session.scalars(query)).all())
    views = await invoice_views(session, merchant.id, invoices, now=now)
    tz = merchant.timezone or DEFAULT_TZ
    items: list[DebtItem] = []
    kept: list[Invoice] = []
    for inv, view in zip(invoices, views, strict=True):
        days = _local_date_diff(inv.due_at, now, tz)
        if days < policy.min_days_overdue:
            continue
        items.append(
            DebtItem(
                inv.id, inv.number, inv.due_at, inv.total - inv.amount_paid,
                view.late_fee + view.interest, days,
            )
        )  # fmt: skip
        kept.append(inv)
    return items, kept


async def negotiation_options(
    session: AsyncSession, merchant: Merchant, customer_id: str, *, now: datetime
) -> tuple[NegotiationPolicy, list[DebtItem], list[Quote]]:
    """What the customer may be offered now (no option when nothing is eligible)."""
    await get_customer(session, merchant.id, customer_id)
    policy = await policy_of(session, merchant.id)
    items, _ = await eligible_debt(session, merchant, customer_id, policy, now=now)
    if not items or await _active_agreement(session, merchant.id, customer_id) is not None:
        return policy, items, []
    tz = merchant.timezone or DEFAULT_TZ
    return policy, items, all_quotes(items, policy, first_due_at=now, tz=tz)


async def _active_agreement(
    session: AsyncSession, merchant_id: str, customer_id: str
) -> Agreement | None:
    return await session.scalar(
        select(Agreement).where(
            Agreement.merchant_id == merchant_id,
            Agreement.customer_id == customer_id,
            Agreement.status == "active",
        )
    )


async def create_agreement(
    session: AsyncSession,
    merchant: Merchant,
    customer_id: str,
    *,
    installments: int,
    payment_method: str,
    now: datetime,
    invoice_ids: Sequence[str] | None = None,
    source: str = "api",
    note: str | None = None,
) -> Agreement:
    """Consolidate the customer's eligible overdue installments (or the chosen ones) into
    ``installments`` new ones, per the merchant's negotiation policy. The first is due now."""
    if payment_method not in PAYMENT_METHODS:
        raise ValidationFailed("payment_method", f"one of {', '.join(PAYMENT_METHODS)}")
    await get_customer(session, merchant.id, customer_id)
    policy = await policy_of(session, merchant.id)
    if source == "portal" and not policy.enabled:
        raise ProblemError(
            "Renegotiation is not offered by this merchant.",
            status=409,
            code="negotiation_disabled",
        )
    if await _active_agreement(session, merchant.id, customer_id) is not None:
        raise Conflict("This customer already has an active agreement.")
    items, invoices = await eligible_debt(
        session, merchant, customer_id, policy, now=now, for_update=True
    )
    if invoice_ids is not None:
        wanted = set(invoice_ids)
        unknown = wanted - {i.invoice_id for i in items}
        if unknown or not wanted:
            raise ValidationFailed(
                "invoice_ids",
                f"not overdue installments of this customer that can be renegotiated: "
                f"{', '.join(sorted(unknown)) or '(none given)'}",
            )
        items = [i for i in items if i.invoice_id in wanted]
        invoices = [i for i in invoices if i.id in wanted]
    tz = merchant.timezone or DEFAULT_TZ
    quote = build_quote(items, policy, installments, first_due_at=now, tz=tz)
    ids = [i.id for i in invoices]
    in_flight = await session.scalar(
        select(PaymentAttempt.id).where(
            PaymentAttempt.invoice_id.in_(ids),
            PaymentAttempt.status.in_(("processing", "requires_action")),
        )
    )
    if in_flight is not None:
        # A Pix or boleto already issued could still be paid: settle or let it expire first.
        raise Conflict("A payment of one of these installments is still in progress.")
    agreement = Agreement(
        id=new_id("agr"),
        merchant_id=merchant.id,
        customer_id=customer_id,
        status="active",
        source=source,
        payment_method=payment_method,
        currency=merchant.currency,
        installment_count=quote.installment_count,
        principal=quote.principal,
        fees=quote.fees,
        waived_fees=quote.waived_fees,
        discount=quote.discount,
        total=quote.total,
        restored_amount=0,
        break_after_days=policy.break_after_days,
        note=note,
        created_at=now,
    )
    session.add(agreement)
    await session.flush()
    closed = await session.execute(
        update(Invoice)
        .where(
            Invoice.merchant_id == merchant.id,
            Invoice.id.in_(ids),
            Invoice.status.in_(INVOICE.sources_of("renegotiated")),
        )
        .values(status="renegotiated", next_payment_attempt=None)
        .execution_options(synchronize_session=False)
    )
    if closed.rowcount != len(ids):  # type: ignore[attr-defined]
        raise Conflict("An installment changed while the agreement was being made; try again.")
    for inv in invoices:
        await session.refresh(inv)
    session.add_all(
        AgreementInvoice(
            agreement_id=agreement.id, invoice_id=item.invoice_id, merchant_id=merchant.id,
            role="original", seq=k, amount=item.outstanding,
        )
        for k, item in enumerate(items, start=1)
    )  # fmt: skip
    automatic = payment_method == "card"
    for part in quote.schedule:
        inv = await create_invoice(
            session,
            merchant_id=merchant.id,
            customer_id=customer_id,
            subscription_id=None,
            currency=merchant.currency,
            lines=[
                LineDraft(
                    "agreement",
                    f"Acordo {agreement.id} - parcela {part.seq}/{quote.installment_count}",
                    part.amount,
                )
            ],
            due_at=part.due_at,
            now=now,
            collection_method="charge_automatically" if automatic else "send_invoice",
        )
        if automatic:
            # The charging sweep picks each one up on its due date.
            inv.next_payment_attempt = part.due_at
            if part.due_at <= now:
                hand_off_for_collection(session, inv)
        session.add(
            AgreementInvoice(
                agreement_id=agreement.id, invoice_id=inv.id, merchant_id=merchant.id,
                role="installment", seq=part.seq, amount=part.amount,
            )
        )  # fmt: skip
    await session.flush()
    await _reactivate_subscriptions(session, merchant.id, invoices, now=now)
    await record_event(session, merchant.id, "agreement.created", _event_data(agreement), now=now)
    return agreement


async def _reactivate_subscriptions(
    session: AsyncSession, merchant_id: str, originals: Sequence[Invoice], *, now: datetime
) -> None:
    """A subscription kept past due only by debt now in the agreement is active again."""
    sub_ids = {i.subscription_id for i in originals if i.subscription_id}
    if not sub_ids:
        return
    still_open = await open_invoices_of(session, sub_ids)
    subs = await session.scalars(
        select(Subscription).where(
            Subscription.merchant_id == merchant_id, Subscription.id.in_(sub_ids)
        )
    )
    for sub in subs:
        if not still_open.get(sub.id):
            first = next(i.id for i in originals if i.subscription_id == sub.id)
            await reactivate_subscription(session, sub, invoice_id=first, now=now)


def _event_data(agreement: Agreement) -> dict[str, object]:
    return {
        "agreement_id": agreement.id,
        "customer_id": agreement.customer_id,
        "status": agreement.status,
        "total": agreement.total,
        "currency": agreement.currency,
        "installment_count": agreement.installment_count,
        "restored_amount": agreement.restored_amount,
    }


async def get_agreement(
    session: AsyncSession, merchant_id: str, agreement_id: str, *, for_update: bool = False
) -> Agreement:
    query = select(Agreement).where(
        Agreement.id == agreement_id, Agreement.merchant_id == merchant_id
    )
    if for_update:
        query = query.with_for_update()
    agreement = await session.scalar(query)
    if agreement is None:
        raise NotFound(f"No agreement {agreement_id}")
    return agreement


async def agreement_invoices(
    session: AsyncSession, agreement_ids: Sequence[str]
) -> dict[str, list[tuple[AgreementInvoice, Invoice]]]:
    found: dict[str, list[tuple[AgreementInvoice, Invoice]]] = {a: [] for a in agreement_ids}
    if not agreement_ids:
        return found
    rows = await session.execute(
        select(AgreementInvoice, Invoice)
        .join(Invoice, Invoice.id == AgreementInvoice.invoice_id)
        .where(AgreementInvoice.agreement_id.in_(list(agreement_ids)))
        .order_by(AgreementInvoice.role, AgreementInvoice.seq)
    )
    for link, inv in rows.all():
        found[link.agreement_id].append((link, inv))
    return found


async def list_agreements(
    session: AsyncSession,
    merchant_id: str,
    *,
    customer_id: str | None = None,
    status: str | None = None,
    limit: int = 20,
    starting_after: str | None = None,
) -> tuple[list[Agreement], bool]:
    if status is not None and status not in AGREEMENT.states:
        raise ValidationFailed("status", f"one of {', '.join(sorted(AGREEMENT.states))}")
    query = select(Agreement).where(Agreement.merchant_id == merchant_id)
    if customer_id:
        query = query.where(Agreement.customer_id == customer_id)
    if status:
        query = query.where(Agreement.status == status)
    rows, more = await fetch_page(
        session, query, Agreement.id, limit=limit, starting_after=starting_after
    )
    return list(rows), more


async def cancel_agreement(
    session: AsyncSession, merchant_id: str, agreement_id: str, *, now: datetime
) -> Agreement:
    agreement = await get_agreement(session, merchant_id, agreement_id, for_update=True)
    await end_agreement(session, agreement, "canceled", now=now)
    return agreement


async def end_agreement(
    session: AsyncSession, agreement: Agreement, target: str, *, now: datetime
) -> None:
    """Break or cancel: void what is unpaid, restore the original debt minus what was paid."""
    agreement.status = AGREEMENT.check(agreement.status, target)
    links = (await agreement_invoices(session, [agreement.id]))[agreement.id]
    installments = [inv for link, inv in links if link.role == "installment"]
    originals = sorted(
        ((link, inv) for link, inv in links if link.role == "original"),
        key=lambda pair: (pair[1].due_at, pair[1].id),
    )
    # Paid on the agreement, net of any late charges on its own installments.
    paid = sum(i.amount_paid - i.late_fee - i.interest for i in installments if i.status == "paid")
    for inv in installments:
        if inv.status in COLLECTIBLE:
            inv.status = INVOICE.check(inv.status, "void")
            inv.voided_at = now
            inv.next_payment_attempt = None
    credit = paid
    restored = 0
    for _link, inv in originals:
        outstanding = inv.total - inv.amount_paid
        applied = min(outstanding, credit)
        credit -= applied
        inv.amount_paid += applied
        if inv.amount_paid >= inv.total:
            inv.status = INVOICE.check(inv.status, "paid")
            inv.paid_at = now
        else:
            inv.status = INVOICE.check(inv.status, "open")
            restored += inv.total - inv.amount_paid
    agreement.restored_amount = restored
    agreement.ended_at = now
    await session.flush()
    reopened = [inv for _link, inv in originals if inv.status == "open"]
    await _past_due_again(session, agreement.merchant_id, reopened, target, now=now)
    await record_event(
        session, agreement.merchant_id, f"agreement.{target}", _event_data(agreement), now=now
    )


async def _past_due_again(
    session: AsyncSession,
    merchant_id: str,
    reopened: Sequence[Invoice],
    reason: str,
    *,
    now: datetime,
) -> None:
    """The inverse of ``_reactivate_subscriptions``: a subscription the agreement made
    active is past due again once its restored debt is open."""
    first: dict[str, str] = {}
    for inv in reopened:
        if inv.subscription_id:
            first.setdefault(inv.subscription_id, inv.id)
    if not first:
        return
    subs = await session.scalars(
        select(Subscription).where(
            Subscription.merchant_id == merchant_id, Subscription.id.in_(list(first))
        )
    )
    for sub in subs:
        await mark_past_due(
            session, sub, invoice_id=first[sub.id], now=now, reason=f"agreement_{reason}"
        )


async def sweep_agreements(session: AsyncSession, now: datetime) -> tuple[int, int]:
    """Complete fully paid agreements and break those with an installment overdue past
    their tolerance; returns (completed, broken). Safe to repeat: guarded by status."""
    unpaid = exists().where(
        AgreementInvoice.agreement_id == Agreement.id,
        AgreementInvoice.role == "installment",
        AgreementInvoice.invoice_id == Invoice.id,
        Invoice.status != "paid",
    )
    done = (
        await session.scalars(
            select(Agreement)
            .where(Agreement.status == "active", ~unpaid)
            .order_by(Agreement.id)
            .limit(SWEEP_BATCH)
        )
    ).all()
    for agreement in done:
        agreement.status = AGREEMENT.check(agreement.status, "completed")
        agreement.ended_at = now
        await record_event(
            session, agreement.merchant_id, "agreement.completed", _event_data(agreement), now=now
        )
    # Candidates: an installment overdue by more than the smallest tolerance (1 day); the
    # agreement's own tolerance is checked per row, there are few.
    late = exists().where(
        AgreementInvoice.agreement_id == Agreement.id,
        AgreementInvoice.role == "installment",
        AgreementInvoice.invoice_id == Invoice.id,
        Invoice.status.in_(COLLECTIBLE),
        Invoice.due_at < now - timedelta(days=1),
    )
    candidates = (
        await session.scalars(
            select(Agreement)
            .where(Agreement.status == "active", late)
            .order_by(Agreement.id)
            .limit(SWEEP_BATCH)
        )
    ).all()
    links = await agreement_invoices(session, [a.id for a in candidates])
    broken = 0
    for agreement in candidates:
        limit = now - timedelta(days=agreement.break_after_days)
        if any(
            link.role == "installment" and inv.status in COLLECTIBLE and inv.due_at < limit
            for link, inv in links[agreement.id]
        ):
            await end_agreement(session, agreement, "broken", now=now)
            broken += 1
    await session.flush()
    return len(done), broken
