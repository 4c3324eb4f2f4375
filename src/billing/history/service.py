"""Everything that happened in collecting one customer's debt, for operators.

Agreements (renegotiation) appear twice: when made, and when they ended.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.collection.promises import get_customer
from billing.gateways.declines import payer_message
from billing.history.schemas import (
    AgreementEndedEntry,
    AgreementEntry,
    AttemptEntry,
    DunningEntry,
    HistoryEntry,
    InvoiceEntry,
    MessageEntry,
    NoteEntry,
    PromiseEntry,
)
from billing.kit.errors import ProblemError
from billing.kit.ids import new_id
from billing.kit.pagination import check_limit
from billing.models import (
    Agreement,
    CollectionMessage,
    CustomerNote,
    DunningState,
    Invoice,
    PaymentAttempt,
    PaymentPromise,
)

MAX_NOTE_CHARS = 5000


async def customer_history(
    session: AsyncSession,
    merchant_id: str,
    customer_id: str,
    *,
    limit: int = 100,
    starting_after: str | None = None,
) -> tuple[list[HistoryEntry], bool]:
    """Newest first; ties by id. A customer's history is small enough to merge in memory."""
    check_limit(limit)
    customer = await get_customer(session, merchant_id, customer_id)
    scope = {"merchant_id": merchant_id, "customer_id": customer.id}
    entries: list[HistoryEntry] = []
    for inv in await session.scalars(select(Invoice).filter_by(**scope)):
        entries.append(
            InvoiceEntry(
                inv.id, inv.created_at, inv.number, inv.status, inv.currency, inv.total,
                inv.amount_paid, inv.due_at, inv.paid_at, inv.subscription_id,
            )
        )  # fmt: skip
    for a in await session.scalars(select(PaymentAttempt).filter_by(**scope)):
        code = a.decline_code or a.failure_code
        reason = payer_message(code, customer.locale) if a.status != "succeeded" and code else None
        entries.append(
            AttemptEntry(
                a.id, a.attempted_at, a.invoice_id, a.amount, a.currency, a.status,
                a.initiated_by, a.payment_method_id, a.failure_code, a.decline_code,
                a.decline_type, reason,
            )
        )  # fmt: skip
    for m in await session.scalars(select(CollectionMessage).filter_by(**scope)):
        entries.append(
            MessageEntry(
                m.id, m.sent_at or m.deliver_at, m.invoice_id, m.step_key, m.channel,
                m.rendered_template or m.template, m.tone, m.status, m.recipient, m.last_error,
            )
        )  # fmt: skip
    for n in await session.scalars(select(CustomerNote).filter_by(**scope)):
        entries.append(NoteEntry(n.id, n.created_at, n.body))
    for p in await session.scalars(select(PaymentPromise).filter_by(**scope)):
        entries.append(
            PromiseEntry(
                p.id, p.created_at, p.amount, p.currency, p.promised_date, p.status,
                p.resolved_at,
            )
        )  # fmt: skip
    for d in await session.scalars(select(DunningState).filter_by(**scope)):
        entries.append(
            DunningEntry(
                f"dun_{d.invoice_id}", d.updated_at, d.invoice_id, d.status, d.next_retry_at,
                d.final_action,
            )
        )  # fmt: skip
    for g in await session.scalars(select(Agreement).filter_by(**scope)):
        entries.append(
            AgreementEntry(
                g.id, g.created_at, g.id, g.status, g.source, g.currency, g.principal, g.total,
                g.installment_count,
            )
        )  # fmt: skip
        if g.ended_at is not None:
            entries.append(
                AgreementEndedEntry(
                    f"{g.id}_ended", g.ended_at, g.id, g.status, g.currency, g.restored_amount
                )
            )
    entries.sort(key=lambda e: (e.occurred_at, e.id), reverse=True)
    if starting_after:
        ids = [e.id for e in entries]
        entries = entries[ids.index(starting_after) + 1 :] if starting_after in ids else []
    return entries[:limit], len(entries) > limit


async def add_note(
    session: AsyncSession, merchant_id: str, customer_id: str, body: str, *, now: datetime
) -> CustomerNote:
    await get_customer(session, merchant_id, customer_id)
    text = body.strip()
    if not text or len(text) > MAX_NOTE_CHARS:
        raise ProblemError(
            f"body: between 1 and {MAX_NOTE_CHARS} characters",
            status=422,
            code="validation_error",
            errors=[{"field": "body", "message": f"between 1 and {MAX_NOTE_CHARS} characters"}],
        )
    note = CustomerNote(
        id=new_id("note"), merchant_id=merchant_id, customer_id=customer_id, body=text,
        created_at=now,
    )  # fmt: skip
    session.add(note)
    await session.flush()
    return note
