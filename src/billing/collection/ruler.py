"""The collection ruler's sweep: queue each due (installment, step) in the outbox.

Set-based: on PostgreSQL one ``INSERT ... SELECT`` for every merchant and step at once (the
steps' windows travel as arrays and are joined to the open installments); on SQLite one per
merchant and step. An installment is queued for the step it has reached and not the next.
The outbox's unique (invoice, step) makes a step impossible to queue twice, however often
the sweep runs. Quiet hours and the weekly cap are applied at delivery
(``collection.delivery``), which defers a message, never drops it.

Reaching a step: the step D+n of an installment due on local day D is due at ``send_at``
(local) on day D+n (``quiet_hours.ruler_step_time``). An installment is queued for the
*latest* step it has reached: if the ruler was paused (a promise to pay) or not running,
it resumes at the current step instead of sending the missed ones in a burst.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import exists, func, literal, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from billing.collection.policy import RulerPolicy, RulerStep, ruler_policy
from billing.collection.quiet_hours import ruler_step_time
from billing.db import UTCDateTime, is_postgres
from billing.models import (
    CollectionMessage,
    Invoice,
    Merchant,
    MerchantSettings,
    PaymentPromise,
)
from billing.subscriptions.periods import local_to_utc, to_local

# The last step is not started for installments that reached it longer ago than this.
STALE_AFTER_DAYS = 7

_INV = Invoice.__table__
_MSG = CollectionMessage.__table__
_PROM = PaymentPromise.__table__


def _day_start(day: date, tz: str) -> datetime:
    return local_to_utc(datetime.combine(day, time(0)), tz)


def step_threshold(now: datetime, offset_days: int, tz: str, send_at: time) -> datetime:
    """Installments due before this instant have reached step D+``offset_days`` by ``now``."""
    local = to_local(now, tz)
    last_day = local.date() if local.time() >= send_at else local.date() - timedelta(days=1)
    return _day_start(last_day - timedelta(days=offset_days - 1), tz)


def step_windows(
    policy: RulerPolicy, tz: str, now: datetime
) -> list[tuple[list[RulerStep], datetime, datetime]]:
    """(steps of one offset, due_at lower bound inclusive, upper bound exclusive)."""
    by_offset: dict[int, list[RulerStep]] = defaultdict(list)
    for step in policy.steps:
        by_offset[step.offset_days].append(step)
    offsets = sorted(by_offset)
    windows = []
    for i, offset in enumerate(offsets):
        upper = step_threshold(now, offset, tz, policy.send_at)
        following = offsets[i + 1] if i + 1 < len(offsets) else offset + STALE_AFTER_DAYS
        lower = step_threshold(now, following, tz, policy.send_at)
        windows.append((by_offset[offset], lower, upper))
    return windows


def _insert(session: AsyncSession) -> Any:
    return postgresql.insert if is_postgres(session) else sqlite.insert


async def queue_steps_for_merchant(
    session: AsyncSession, merchant_id: str, policy: RulerPolicy, tz: str, now: datetime
) -> int:
    """Queue every (installment, step) of one merchant due at ``now``; returns rows queued."""
    queued = 0
    at = literal(now, UTCDateTime)
    paused = exists().where(
        _PROM.c.merchant_id == merchant_id,
        _PROM.c.customer_id == _INV.c.customer_id,
        _PROM.c.status == "pending",
    )
    for steps, lower, upper in step_windows(policy, tz, now):
        for step in steps:
            already = exists().where(_MSG.c.invoice_id == _INV.c.id, _MSG.c.step_key == step.key)
            query = select(
                (literal("msg_") + func.substr(_INV.c.id, 5) + literal(f"_{step.slug}")),
                _INV.c.merchant_id,
                _INV.c.customer_id,
                _INV.c.id,
                literal(step.key),
                literal(step.offset_days),
                literal(step.channel),
                literal(step.template),
                literal(step.tone),
                literal("pending"),
                at,
                at,
                literal(0),
                at,
            ).where(
                _INV.c.merchant_id == merchant_id,
                _INV.c.status == "open",
                _INV.c.total > _INV.c.amount_paid,
                _INV.c.due_at >= lower,
                _INV.c.due_at < upper,
                ~already,
                ~paused,
            )
            if step.offset_days < 0:
                # A reminder is about a date still ahead; past it, the D+ steps speak.
                query = query.where(_INV.c.due_at > now)
            columns = [
                "id", "merchant_id", "customer_id", "invoice_id", "step_key", "offset_days",
                "channel", "template", "tone", "status", "scheduled_at", "deliver_at",
                "attempts", "created_at",
            ]  # fmt: skip
            stmt = _insert(session)(_MSG).from_select(columns, query).on_conflict_do_nothing()
            result = await session.execute(stmt)
            queued += max(int(result.rowcount or 0), 0)  # type: ignore[attr-defined]
    return queued


async def merchants_with_open_installments(session: AsyncSession) -> Sequence[str]:
    rows = await session.scalars(
        select(_INV.c.merchant_id).where(_INV.c.status == "open").distinct()
    )
    return rows.all()


async def ruler_settings(
    session: AsyncSession, merchant_ids: Sequence[str]
) -> dict[str, tuple[RulerPolicy, str]]:
    rows = await session.execute(
        select(Merchant.id, Merchant.timezone, MerchantSettings.collection)
        .outerjoin(MerchantSettings, MerchantSettings.merchant_id == Merchant.id)
        .where(Merchant.id.in_(list(merchant_ids)))
    )
    return {mid: (ruler_policy(stored), tz) for mid, tz, stored in rows}


# One row of ``w`` per (merchant, step): its window of due dates. Windows of one merchant
# never overlap (step_windows), so an installment matches at most one offset. A step already
# queued is left to ON CONFLICT (one unique-index probe): an anti-join against the outbox
# planned from a young table's statistics rescans the rows this very statement inserts.
_PG_QUEUE = text(
    """
    INSERT INTO collection_messages (id, merchant_id, customer_id, invoice_id, step_key,
        offset_days, channel, template, tone, status, scheduled_at, deliver_at, attempts,
        created_at)
    SELECT 'msg_' || substr(i.id, 5) || '_' || w.slug, i.merchant_id, i.customer_id, i.id,
        w.step_key, w.offset_days, w.channel, w.template, w.tone, 'pending', :now, :now, 0,
        :now
    FROM unnest(CAST(:merchant_id AS text[]), CAST(:step_key AS text[]),
            CAST(:slug AS text[]), CAST(:offset_days AS int[]), CAST(:channel AS text[]),
            CAST(:template AS text[]), CAST(:tone AS text[]),
            CAST(:lower AS timestamptz[]), CAST(:upper AS timestamptz[]))
        AS w(merchant_id, step_key, slug, offset_days, channel, template, tone, lower, upper)
    JOIN invoices AS i ON i.merchant_id = w.merchant_id
        AND i.due_at >= w.lower AND i.due_at < w.upper
    WHERE i.status = 'open' AND i.total > i.amount_paid
        -- a reminder is about a date still ahead; past it, the D+ steps speak
        AND (w.offset_days >= 0 OR i.due_at > :now)
        AND NOT EXISTS (SELECT 1 FROM payment_promises AS p
                        WHERE p.merchant_id = i.merchant_id AND p.customer_id = i.customer_id
                          AND p.status = 'pending')
    ON CONFLICT DO NOTHING
    """
)
_PG_MERCHANTS_PER_STATEMENT = 500  # bounds the arrays when there are many merchants


async def _queue_all_pg(
    session: AsyncSession, settings: dict[str, tuple[RulerPolicy, str]], now: datetime
) -> int:
    queued = 0
    merchants = list(settings.items())
    for start in range(0, len(merchants), _PG_MERCHANTS_PER_STATEMENT):
        windows: dict[str, list[Any]] = defaultdict(list)
        for merchant_id, (policy, tz) in merchants[start : start + _PG_MERCHANTS_PER_STATEMENT]:
            for steps, lower, upper in step_windows(policy, tz, now):
                for step in steps:
                    for name, value in (
                        ("merchant_id", merchant_id), ("step_key", step.key),
                        ("slug", step.slug), ("offset_days", step.offset_days),
                        ("channel", step.channel), ("template", step.template),
                        ("tone", step.tone), ("lower", lower), ("upper", upper),
                    ):  # fmt: skip
                        windows[name].append(value)
        if not windows:
            continue
        result = await session.execute(_PG_QUEUE, {"now": now, **windows})
        queued += max(int(result.rowcount or 0), 0)  # type: ignore[attr-defined]
    return queued


async def queue_due_steps(session: AsyncSession, now: datetime) -> int:
    merchant_ids = await merchants_with_open_installments(session)
    settings = await ruler_settings(session, merchant_ids)
    if is_postgres(session):
        return await _queue_all_pg(session, settings, now)
    total = 0
    for merchant_id, (policy, tz) in settings.items():
        total += await queue_steps_for_merchant(session, merchant_id, policy, tz, now)
    return total


def next_step_time(
    policy: RulerPolicy, tz: str, due_at: datetime, after: datetime
) -> datetime | None:
    """The first step time of an installment strictly after ``after`` (for the sandbox clock)."""
    times = sorted(ruler_step_time(due_at, s.offset_days, tz, policy.send_at) for s in policy.steps)
    return next((t for t in times if t > after), None)
