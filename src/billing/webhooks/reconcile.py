"""Re-reading pending payments from the gateway on a schedule, so a lost webhook loses nothing.

The payments engineer's ``recover_stuck_attempts`` covers attempts interrupted before the
gateway answered (no ``gateway_ref``). This covers the others: the gateway answered
"pending" (Pix, boleto, 3-D Secure, a card still processing) and the webhook that should
settle it never came. Each attempt is re-read 5 minutes, 1 hour and 1 day after it was
made, then daily until it is two weeks old.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.db import is_postgres, unit_of_work
from billing.gateways import GatewayError
from billing.jobs import JobContext
from billing.models import Customer, PaymentAttempt, PaymentReconciliation

log = structlog.get_logger("billing.webhooks.reconcile")

SCHEDULE = [timedelta(minutes=5), timedelta(hours=1), timedelta(days=1)]
THEN_EVERY = timedelta(days=1)
GIVE_UP_AFTER = timedelta(days=14)
PENDING = ("processing", "requires_action")


def next_check(attempted_at: datetime, checks: int) -> datetime | None:
    """When the check after ``checks`` checks is due; None once the attempt is too old."""
    if checks < len(SCHEDULE):
        return attempted_at + SCHEDULE[checks]
    due = attempted_at + SCHEDULE[-1] + THEN_EVERY * (checks - len(SCHEDULE) + 1)
    return due if due - attempted_at <= GIVE_UP_AFTER else None


async def due_attempts(
    session: AsyncSession, *, now: datetime, limit: int
) -> list[tuple[str, int]]:
    """(attempt id, checks so far) of pending attempts whose next re-read is due."""
    query = (
        select(PaymentAttempt.id, PaymentReconciliation.checks)
        .outerjoin(PaymentReconciliation, PaymentReconciliation.attempt_id == PaymentAttempt.id)
        .where(
            PaymentAttempt.status.in_(PENDING),
            PaymentAttempt.gateway_ref.is_not(None),
            PaymentAttempt.attempted_at <= now - SCHEDULE[0],
            or_(
                PaymentReconciliation.attempt_id.is_(None),
                PaymentReconciliation.next_check_at <= now,
            ),
        )
        .order_by(PaymentAttempt.attempted_at)
        .limit(limit)
    )
    return [
        (attempt_id, checks or 0) for attempt_id, checks in (await session.execute(query)).all()
    ]


async def reconcile_attempt(ctx: JobContext, attempt_id: str) -> str | None:
    """Ask the gateway about one attempt and record what it says; returns the new status."""
    from billing.payments.gateway_registry import GatewayNotConfigured, merchant_gateway
    from billing.payments.outcomes import record_outcome

    async with unit_of_work(ctx.session_factory) as session:
        row = (
            await session.execute(
                select(PaymentAttempt, Customer.gateway_customer_ref)
                .join(Customer, Customer.id == PaymentAttempt.customer_id)
                .where(PaymentAttempt.id == attempt_id)
            )
        ).first()
        if row is None or row[0].status not in PENDING:
            return None
        attempt, customer_ref = row
        try:
            gateway, _ = await merchant_gateway(session, ctx, attempt.merchant_id)
        except GatewayNotConfigured:
            gateway = None
    found = None
    if gateway is not None and customer_ref:
        try:
            found = await gateway.find_charge(
                idempotency_key=attempt.idempotency_key, gateway_customer=customer_ref
            )
        except GatewayError as exc:
            # Counted as a check all the same: the schedule moves on, the next one retries.
            log.warning("reconcile_deferred", payment_id=attempt_id, error=str(exc))
    async with unit_of_work(ctx.session_factory) as session:
        await ctx.clock.sync(session)
        now = ctx.clock.now()
        status = attempt.status
        if found is not None:
            updated = await record_outcome(session, attempt_id=attempt_id, result=found, now=now)
            status = updated.status
        query = select(PaymentReconciliation).where(PaymentReconciliation.attempt_id == attempt_id)
        if is_postgres(session):
            query = query.with_for_update()
        mark = await session.scalar(query)
        if mark is None:
            mark = PaymentReconciliation(
                attempt_id=attempt_id, merchant_id=attempt.merchant_id, checks=0
            )
            session.add(mark)
        mark.checks += 1
        mark.last_checked_at, mark.last_status = now, status
        mark.next_check_at = (
            next_check(attempt.attempted_at, mark.checks) if status in PENDING else None
        )
    return status


async def reconcile_due(ctx: JobContext, *, limit: int = 200) -> int:
    async with unit_of_work(ctx.session_factory) as session:
        await ctx.clock.sync(session)
        due = await due_attempts(session, now=ctx.clock.now(), limit=limit)
    for attempt_id, _ in due:
        await reconcile_attempt(ctx, attempt_id)
    return len(due)
