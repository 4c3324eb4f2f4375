"""The retry planner: what happens to an installment after an automatic charge fails.

It works on the data only. ``payments`` records failed attempts (and may plan a soft
retry itself); the planner finds every open ``charge_automatically`` installment whose
latest automatic/retry attempt failed and that it has not handled yet, and per decline:

- soft: ``next_payment_attempt`` per the merchant's schedule, hours from the *first*
  failure on that payment method (``dunning.schedule.next_retry_at``), so that
  ``payments.charge_due`` performs the retry (a time payments planned inline with its
  defaults is replaced while it is still in the future: the merchant's policy decides);
- hard: no retry on that method (payments disabled it); the ruler's ``payment_failed``
  message asks the payer for a new one;
- authentication_required: no automatic retry; the payer confirms in the portal;
- exhausted (attempts or schedule used up): the final action, at once.

A hard or authentication decline that nobody resolves takes the final action when the
schedule would have run out, so a subscription does not stay ``past_due`` forever.
Payer- and merchant-initiated payments are neither counted nor acted on.

The invoice stays ``open`` whatever the final action: the debt is still owed and the
ruler and the portal keep collecting it; ``uncollectible`` is left for an explicit
write-off by the merchant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, delete, exists, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billing.db import is_postgres
from billing.dunning.policy import DunningPolicy, dunning_policy
from billing.dunning.schedule import next_retry_at
from billing.events.service import record_event
from billing.models import (
    DunningState,
    Invoice,
    Merchant,
    MerchantSettings,
    PaymentAttempt,
    Subscription,
)
from billing.subscriptions.state import SUBSCRIPTION

# Attempts the dunning schedule counts; payer/merchant payments are not retries.
AUTOMATIC = ("automatic", "retry")
FAILED = ("failed", "requires_action")

_INV = cast(Table, Invoice.__table__)
_ATT = cast(Table, PaymentAttempt.__table__)
_DST = cast(Table, DunningState.__table__)


@dataclass(frozen=True)
class Plan:
    status: str  # retrying | awaiting_payer | exhausted
    next_retry_at: datetime | None
    final_action_at: datetime | None


def plan_failure(
    policy: DunningPolicy,
    tz: str,
    *,
    invoice_id: str,
    failures: int,
    first_failure_at: datetime,
    decline_type: str | None,
    decline_code: str | None,
    now: datetime,
) -> Plan:
    """The decision for one failed installment (pure: no I/O)."""
    schedule = policy.retry_schedule_hours
    if decline_type in ("hard", "authentication_required"):
        # Waits for the payer; the final action comes when retries would have ended.
        give_up = first_failure_at + timedelta(hours=schedule[-1])
        return Plan("awaiting_payer", None, max(give_up, now))
    if failures >= policy.max_attempts:
        return Plan("exhausted", None, now)
    at = next_retry_at(
        first_failure_at,
        failures,
        schedule,
        tz,
        # Same key as payments.retries: whoever plans first, the time is the same.
        jitter_key=f"{invoice_id}:{failures}",
        jitter_minutes=policy.jitter_minutes,
        payday_shift=policy.payday_shift,
        decline_code=decline_code,
    )
    if at is None:
        return Plan("exhausted", None, now)
    return Plan("retrying", at, None)


async def merchant_policies(
    session: AsyncSession, merchant_ids: Sequence[str]
) -> dict[str, tuple[DunningPolicy, str]]:
    rows = await session.execute(
        select(Merchant.id, Merchant.timezone, MerchantSettings.dunning)
        .outerjoin(MerchantSettings, MerchantSettings.merchant_id == Merchant.id)
        .where(Merchant.id.in_(set(merchant_ids)))
    )
    return {mid: (dunning_policy(stored), tz) for mid, tz, stored in rows}


def unplanned_failures(batch: int, postgres: bool, after: str = "") -> Any:
    inner = _ATT.alias("automatic_attempts")
    latest = (
        select(func.max(inner.c.attempt_number))
        .where(inner.c.invoice_id == _INV.c.id, inner.c.initiated_by.in_(AUTOMATIC))
        .correlate(_INV)
        .scalar_subquery()
    )
    handled = exists().where(_DST.c.invoice_id == _INV.c.id, _DST.c.last_attempt_id == _ATT.c.id)
    query = (
        select(
            _INV.c.id,
            _INV.c.merchant_id,
            _INV.c.customer_id,
            _INV.c.next_payment_attempt,
            _ATT.c.id.label("attempt_id"),
            _ATT.c.payment_method_id,
            _ATT.c.decline_type,
            _ATT.c.decline_code,
            _ATT.c.status.label("attempt_status"),
        )
        .select_from(_INV)
        .join(_ATT, and_(_ATT.c.invoice_id == _INV.c.id, _ATT.c.attempt_number == latest))
        .where(
            _INV.c.status == "open",
            _INV.c.collection_method == "charge_automatically",
            _INV.c.id > after,  # keyset: each batch starts where the last one ended
            _ATT.c.status.in_(FAILED),
            ~handled,
        )
        .order_by(_INV.c.id)
        .limit(batch)
    )
    if postgres:
        # Two planners never take the same installment; each takes the next free batch.
        query = query.with_for_update(of=_INV, skip_locked=True)
    return query


async def plan_failed_attempts(
    session: AsyncSession, now: datetime, *, batch: int = 1000, after: str = ""
) -> tuple[int, str]:
    """One batch of unhandled failures with invoice ids after ``after``: plan retries,
    record the dunning state. Returns (installments handled, last invoice id)."""
    rows = (await session.execute(unplanned_failures(batch, is_postgres(session), after))).all()
    if not rows:
        return 0, after
    ids = [r.id for r in rows]
    # Counted failures per (invoice, method): the schedule restarts on a new method.
    stats = {
        (i, pm): (int(n), first)
        for i, pm, n, first in await session.execute(
            select(
                _ATT.c.invoice_id,
                _ATT.c.payment_method_id,
                func.count(),
                func.min(func.coalesce(_ATT.c.completed_at, _ATT.c.attempted_at)),
            )
            .where(
                _ATT.c.invoice_id.in_(ids),
                _ATT.c.initiated_by.in_(AUTOMATIC),
                _ATT.c.status.in_(FAILED),
            )
            .group_by(_ATT.c.invoice_id, _ATT.c.payment_method_id)
        )
    }
    policies = await merchant_policies(session, [r.merchant_id for r in rows])
    states: list[dict[str, Any]] = []
    retries: list[dict[str, Any]] = []
    for r in rows:
        policy, tz = policies[r.merchant_id]
        failures, first = stats.get((r.id, r.payment_method_id), (1, now))
        first = _aware(first)
        decline_type = r.decline_type
        if r.attempt_status == "requires_action":
            decline_type = "authentication_required"
        plan = plan_failure(
            policy,
            tz,
            invoice_id=r.id,
            failures=failures,
            first_failure_at=first,
            decline_type=decline_type,
            decline_code=r.decline_code,
            now=now,
        )
        retries.append({"b_id": r.id, "b_at": plan.next_retry_at})
        states.append(
            {
                "invoice_id": r.id,
                "merchant_id": r.merchant_id,
                "customer_id": r.customer_id,
                "last_attempt_id": r.attempt_id,
                "payment_method_id": r.payment_method_id,
                "failures": failures,
                "first_failure_at": first,
                "decline_type": decline_type,
                "decline_code": r.decline_code,
                "status": plan.status,
                "next_retry_at": plan.next_retry_at,
                "final_action_at": plan.final_action_at,
                "final_action": None,
                "updated_at": now,
            }
        )
    # The merchant's policy decides: payments may have planned a retry inline with its
    # defaults; replace it unless it is already due (being charged under a lease).
    await session.execute(
        update(_INV)
        .where(
            _INV.c.id == bindparam("b_id"),
            _INV.c.status == "open",
            or_(_INV.c.next_payment_attempt.is_(None), _INV.c.next_payment_attempt > now),
        )
        .values(next_payment_attempt=bindparam("b_at")),
        retries,
    )
    await session.execute(delete(_DST).where(_DST.c.invoice_id.in_(ids)))
    await session.execute(insert(_DST), states)
    return len(rows), rows[-1].id


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive UTC from an aggregate (no column type to convert it).
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


async def apply_final_actions(session: AsyncSession, now: datetime, *, batch: int = 500) -> int:
    """Take the merchant's final action for installments whose retries are over."""
    query = (
        select(DunningState, Invoice.subscription_id)
        .join(Invoice, Invoice.id == DunningState.invoice_id)
        .where(
            DunningState.status.in_(("exhausted", "awaiting_payer")),
            DunningState.final_action.is_(None),
            DunningState.final_action_at <= now,
            Invoice.status == "open",
        )
        .order_by(DunningState.invoice_id)
        .limit(batch)
    )
    if is_postgres(session):
        query = query.with_for_update(of=DunningState, skip_locked=True)
    rows = (await session.execute(query)).all()
    if not rows:
        return 0
    policies = await merchant_policies(session, [s.merchant_id for s, _ in rows])
    for state, subscription_id in rows:
        action = policies[state.merchant_id][0].final_action
        if subscription_id is not None:
            await _act_on_subscription(session, state, subscription_id, action, now)
        state.final_action = action
        state.status = "final_action_taken"
        state.updated_at = now
    await session.flush()
    return len(rows)


_TARGET = {"cancel": "canceled", "mark_unpaid": "unpaid"}


async def _act_on_subscription(
    session: AsyncSession, state: DunningState, subscription_id: str, action: str, now: datetime
) -> None:
    target = _TARGET.get(action)
    if target is None:  # leave_past_due
        return
    values: dict[str, Any] = {"status": target}
    if target == "canceled":
        values.update(canceled_at=now, ended_at=now, cancel_at_period_end=False)
    result = await session.execute(
        update(Subscription)
        .where(
            Subscription.id == subscription_id,
            Subscription.merchant_id == state.merchant_id,
            # Only along the transition table: a subscription that recovered meanwhile
            # (another installment paid, a new method) is left alone.
            Subscription.status.in_(SUBSCRIPTION.sources_of(target) - {"paused", "trialing"}),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount:  # type: ignore[attr-defined]
        await record_event(
            session,
            state.merchant_id,
            f"subscription.{target}",
            {
                "subscription_id": subscription_id,
                "invoice_id": state.invoice_id,
                "reason": "payment_retries_exhausted",
            },
            now=now,
        )


async def retry_overdue_now(
    session: AsyncSession, merchant_id: str, customer_id: str, now: datetime
) -> int:
    """A new default payment method: retry every overdue installment of the customer now.

    Call it in the transaction that sets the default method; ``payments.charge_due``
    charges them on its next sweep. Returns how many installments were rescheduled.
    """
    result = await session.execute(
        update(Invoice)
        .where(
            Invoice.merchant_id == merchant_id,
            Invoice.customer_id == customer_id,
            Invoice.status == "open",
            Invoice.collection_method == "charge_automatically",
            Invoice.due_at <= now,
        )
        .values(next_payment_attempt=now)
        .execution_options(synchronize_session=False)
    )
    # Hard-declined or exhausted installments get a fresh schedule on the new method.
    await session.execute(
        update(DunningState)
        .where(
            DunningState.merchant_id == merchant_id,
            DunningState.customer_id == customer_id,
            DunningState.final_action.is_(None),
            DunningState.invoice_id.in_(
                select(Invoice.id).where(
                    Invoice.merchant_id == merchant_id,
                    Invoice.customer_id == customer_id,
                    Invoice.status == "open",
                )
            ),
        )
        .values(status="retrying", final_action_at=None, next_retry_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
