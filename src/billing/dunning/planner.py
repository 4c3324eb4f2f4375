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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Table,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    text,
    true,
    update,
)
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
    session: AsyncSession, merchant_ids: Iterable[str]
) -> dict[str, tuple[DunningPolicy, str]]:
    rows = await session.execute(
        select(Merchant.id, Merchant.timezone, MerchantSettings.dunning)
        .outerjoin(MerchantSettings, MerchantSettings.merchant_id == Merchant.id)
        .where(Merchant.id.in_(set(merchant_ids)))
    )
    return {mid: (dunning_policy(stored), tz) for mid, tz, stored in rows}


# --- Planning at the moment a failure is recorded (payments.outcomes) -------------------


@dataclass(frozen=True)
class AttemptFact:
    """What the plan needs of one automatic attempt."""

    id: str
    number: int
    payment_method_id: str | None
    status: str
    decline_type: str | None
    decline_code: str | None
    failed_at: datetime  # completed_at, else attempted_at (3-D Secure left pending)


def plan_latest_automatic(
    policy: DunningPolicy,
    tz: str,
    invoice_id: str,
    attempts: Sequence[AttemptFact],
    now: datetime,
) -> Plan | None:
    """The plan for an installment's latest automatic attempt if it failed, else None.

    Same inputs as the sweep's SQL (``unplanned_failures``): failures are the automatic
    ones on the latest attempt's payment method, counted from the first of them.
    """
    if not attempts:
        return None
    latest = max(attempts, key=lambda a: a.number)
    if latest.status not in FAILED:
        return None
    same = [
        a
        for a in attempts
        if a.status in FAILED and a.payment_method_id == latest.payment_method_id
    ]
    decline_type = latest.decline_type
    if latest.status == "requires_action":
        decline_type = "authentication_required"
    return plan_failure(
        policy,
        tz,
        invoice_id=invoice_id,
        failures=len(same),
        first_failure_at=min(_aware(a.failed_at) for a in same),
        decline_type=decline_type,
        decline_code=latest.decline_code,
        now=now,
    )


def _fact(attempt: PaymentAttempt) -> AttemptFact:
    return AttemptFact(
        attempt.id,
        attempt.attempt_number,
        attempt.payment_method_id,
        attempt.status,
        attempt.decline_type,
        attempt.decline_code,
        attempt.completed_at or attempt.attempted_at,
    )


@dataclass
class RetryContext:
    """The merchants' policies and the installments' automatic attempts, loaded once per
    batch of outcomes *before* the outcomes change any attempt."""

    policies: dict[str, tuple[DunningPolicy, str]]
    attempts: dict[str, list[AttemptFact]]

    def next_attempt(self, invoice: Invoice, attempt: PaymentAttempt) -> datetime | None:
        """``next_payment_attempt`` after ``attempt`` (status already failed or
        requires_action) was recorded; the same time the planner's sweep computes."""
        policy, tz = self.policies[invoice.merchant_id]
        now = attempt.completed_at or attempt.attempted_at
        facts = [f for f in self.attempts.get(invoice.id, []) if f.id != attempt.id]
        if attempt.initiated_by in AUTOMATIC:
            plan = plan_latest_automatic(policy, tz, invoice.id, [*facts, _fact(attempt)], now)
            return plan.next_retry_at if plan else None
        # A payer or merchant payment is not a retry: the automatic schedule stands as it
        # was before the payment started (starting it took the retry off the sweep).
        plan = plan_latest_automatic(policy, tz, invoice.id, facts, now)
        if plan is not None:
            return plan.next_retry_at
        if attempt.status == "failed" and attempt.decline_type == "soft":
            # No automatic charge has failed yet: the schedule's first retry, from now,
            # without counting this payment as one.
            return plan_failure(
                policy,
                tz,
                invoice_id=invoice.id,
                failures=1,
                first_failure_at=now,
                decline_type="soft",
                decline_code=attempt.decline_code,
                now=now,
            ).next_retry_at
        return None


async def load_retry_context(
    session: AsyncSession, attempts: Sequence[PaymentAttempt]
) -> RetryContext:
    """Two queries for a whole batch of outcomes."""
    policies = await merchant_policies(session, {a.merchant_id for a in attempts})
    facts: dict[str, list[AttemptFact]] = {}
    rows = await session.execute(
        select(
            _ATT.c.invoice_id,
            _ATT.c.id,
            _ATT.c.attempt_number,
            _ATT.c.payment_method_id,
            _ATT.c.status,
            _ATT.c.decline_type,
            _ATT.c.decline_code,
            func.coalesce(_ATT.c.completed_at, _ATT.c.attempted_at),
        ).where(
            _ATT.c.invoice_id.in_({a.invoice_id for a in attempts}),
            _ATT.c.initiated_by.in_(AUTOMATIC),
        )
    )
    for invoice_id, *fact in rows:
        facts.setdefault(invoice_id, []).append(AttemptFact(*fact))
    return RetryContext(policies, facts)


# --- The sweep: the safety net for every failure not yet in dunning_states ---------------


def unplanned_failures(batch: int, postgres: bool, after: str = "") -> Any:
    """Open installments whose latest automatic attempt failed and is not yet planned, in
    invoice id order after ``after``, with that method's failure count and first failure.

    PostgreSQL walks ``ix_invoices_open_automatic`` and looks each installment's latest
    attempt up through ``ix_payment_attempts_automatic`` (LATERAL, LIMIT 1): the cost is
    one batch of index probes, never a pass over every failed attempt. SQLite has no
    LATERAL and nests loops anyway: correlated subqueries there.
    """
    on: Any
    if postgres:
        latest: Any = (
            select(
                _ATT.c.id,
                _ATT.c.payment_method_id,
                _ATT.c.decline_type,
                _ATT.c.decline_code,
                _ATT.c.status,
            )
            .where(_ATT.c.invoice_id == _INV.c.id, _ATT.c.initiated_by.in_(AUTOMATIC))
            .order_by(_ATT.c.attempt_number.desc())
            .limit(1)
            .lateral("latest_attempt")
        )
        on = true()
    else:
        latest = _ATT
        numbers = _ATT.alias("automatic_attempts")
        top = (
            select(func.max(numbers.c.attempt_number))
            .where(numbers.c.invoice_id == _INV.c.id, numbers.c.initiated_by.in_(AUTOMATIC))
            .correlate(_INV)
            .scalar_subquery()
        )
        on = and_(_ATT.c.invoice_id == _INV.c.id, _ATT.c.attempt_number == top)
    failed = _ATT.alias("failed_attempts")
    same_method = and_(
        failed.c.invoice_id == _INV.c.id,
        failed.c.initiated_by.in_(AUTOMATIC),
        failed.c.status.in_(FAILED),
        failed.c.payment_method_id.is_not_distinct_from(latest.c.payment_method_id),
    )
    failures = select(func.count()).where(same_method).scalar_subquery()
    first = (
        select(func.min(func.coalesce(failed.c.completed_at, failed.c.attempted_at)))
        .where(same_method)
        .scalar_subquery()
    )
    handled = exists().where(_DST.c.invoice_id == _INV.c.id, _DST.c.last_attempt_id == latest.c.id)
    query = (
        select(
            _INV.c.id,
            _INV.c.merchant_id,
            _INV.c.customer_id,
            latest.c.id.label("attempt_id"),
            latest.c.payment_method_id,
            latest.c.decline_type,
            latest.c.decline_code,
            latest.c.status.label("attempt_status"),
            failures.label("failures"),
            first.label("first_failure_at"),
        )
        .select_from(_INV.join(latest, on))
        .where(
            _INV.c.status == "open",
            _INV.c.collection_method == "charge_automatically",
            _INV.c.id > after,  # keyset: each batch starts where the last one ended
            latest.c.status.in_(FAILED),
            ~handled,
        )
        .order_by(_INV.c.id)
        .limit(batch)
    )
    if postgres:
        # Two planners never take the same installment; each takes the next free batch.
        query = query.with_for_update(of=_INV, skip_locked=True)
    return query


# unnest: a whole batch in one statement and one round trip, whatever its size.
_PG_RETRIES = text(
    """UPDATE invoices SET next_payment_attempt = planned.at
       FROM unnest(CAST(:ids AS varchar[]), CAST(:ats AS timestamptz[])) AS planned(id, at)
       WHERE invoices.id = planned.id AND invoices.status = 'open'
         AND (invoices.next_payment_attempt IS NULL OR invoices.next_payment_attempt > :now)
         AND invoices.next_payment_attempt IS DISTINCT FROM planned.at"""
)
_STATE_COLUMNS = (
    ("invoice_id", "varchar"), ("merchant_id", "varchar"), ("customer_id", "varchar"),
    ("last_attempt_id", "varchar"), ("payment_method_id", "varchar"), ("failures", "int"),
    ("first_failure_at", "timestamptz"), ("decline_type", "varchar"),
    ("decline_code", "varchar"), ("status", "varchar"), ("next_retry_at", "timestamptz"),
    ("final_action_at", "timestamptz"), ("final_action", "varchar"),
    ("updated_at", "timestamptz"),
)  # fmt: skip
_PG_STATES = text(
    "INSERT INTO dunning_states ({columns}) SELECT * FROM unnest({arrays})"
    " ON CONFLICT (invoice_id) DO UPDATE SET {updates}"
    # Under READ COMMITTED a planner whose selection raced another's commit can lock an
    # installment the other has just planned (its snapshot predates that state): the same
    # plan again, written once.
    " WHERE dunning_states.last_attempt_id IS DISTINCT FROM excluded.last_attempt_id".format(
        columns=", ".join(c for c, _ in _STATE_COLUMNS),
        arrays=", ".join(f"CAST(:{c} AS {t}[])" for c, t in _STATE_COLUMNS),
        updates=", ".join(f"{c} = excluded.{c}" for c, _ in _STATE_COLUMNS[1:]),
    )
)


async def plan_failed_attempts(
    session: AsyncSession, now: datetime, *, batch: int = 1000, after: str = ""
) -> tuple[int, str, int]:
    """One batch of unhandled failures with invoice ids after ``after``: plan retries,
    record the dunning state. Returns (installments selected, last invoice id, installments
    newly planned)."""
    postgres = is_postgres(session)
    if postgres:
        # These statements are index probes costed as if they read every row; JIT
        # compiling them costs more than running them.
        await session.execute(text("SET LOCAL jit = off"))
    rows = (await session.execute(unplanned_failures(batch, postgres, after))).all()
    if not rows:
        return 0, after, 0
    policies = await merchant_policies(session, {r.merchant_id for r in rows})
    states: list[dict[str, Any]] = []
    for r in rows:
        policy, tz = policies[r.merchant_id]
        failures, first = int(r.failures or 1), _aware(r.first_failure_at or now)
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
    # payments.outcomes planned most of these already with the same policy and inputs, so
    # this rarely changes a row; it never moves a retry that is already due (being charged).
    if postgres:
        await session.execute(
            _PG_RETRIES,
            {
                "ids": [s["invoice_id"] for s in states],
                "ats": [s["next_retry_at"] for s in states],
                "now": now,
            },
        )
        written = await session.execute(
            _PG_STATES, {c: [s[c] for s in states] for c, _ in _STATE_COLUMNS}
        )
        planned = int(written.rowcount or 0)  # type: ignore[attr-defined]
    else:
        await session.execute(
            update(_INV)
            .where(
                _INV.c.id == bindparam("b_id"),
                _INV.c.status == "open",
                or_(_INV.c.next_payment_attempt.is_(None), _INV.c.next_payment_attempt > now),
            )
            .values(next_payment_attempt=bindparam("b_at")),
            [{"b_id": s["invoice_id"], "b_at": s["next_retry_at"]} for s in states],
        )
        ids = [s["invoice_id"] for s in states]
        await session.execute(delete(_DST).where(_DST.c.invoice_id.in_(ids)))
        await session.execute(insert(_DST), states)
        planned = len(states)
    return len(rows), rows[-1].id, planned


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
