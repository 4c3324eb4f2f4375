"""``/v1/reports/...``: JSON by default, CSV with ``?format=csv`` or ``Accept: text/csv``
(the same rows and columns as the JSON ``data``)."""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Sequence
from datetime import date
from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.params import QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from billing.kit.clock import Clock
from billing.models import Merchant
from billing.reports import service
from billing.reports.mrr import mrr as mrr_report
from billing.reports.recovery import recovery as recovery_report


def _wants_csv(request: Request[Any, Any, Any], fmt: str | None) -> bool:
    if fmt is not None:
        return fmt == "csv"
    return "text/csv" in request.headers.get("accept", "")


def to_csv(rows: Sequence[Any]) -> str:
    """Dataclass rows to CSV; list cells joined with ';'."""
    out = io.StringIO()
    if not rows:
        return ""
    names = [f.name for f in dataclasses.fields(rows[0])]
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(names)
    for row in rows:
        values = [getattr(row, n) for n in names]
        writer.writerow([";".join(v) if isinstance(v, list) else v for v in values])
    return out.getvalue()


def _answer(
    request: Request[Any, Any, Any], fmt: str | None, rows: Sequence[Any], name: str,
    extra: dict[str, Any] | None = None,
) -> Response[Any]:  # fmt: skip
    if _wants_csv(request, fmt):
        return Response(
            to_csv(rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    return Response({**(extra or {}), "data": [dataclasses.asdict(r) for r in rows]})


class ReportController(Controller):
    path = "/v1/reports"
    tags = ["reports"]

    @get("/aging")
    async def aging(
        self, request: Request[Any, Any, Any], merchant: Merchant, db_session: AsyncSession,
        clock: Clock, format: str | None = None,
    ) -> Response[Any]:  # fmt: skip
        rows = await service.aging(db_session, merchant.id, now=clock.now())
        return _answer(request, format, rows, "aging", {"currency": merchant.currency})

    @get("/debtors")
    async def debtors(
        self, request: Request[Any, Any, Any], merchant: Merchant, db_session: AsyncSession,
        clock: Clock, sort: str = "amount", limit: int = 100, starting_after: str | None = None,
        format: str | None = None,
    ) -> Response[Any]:  # fmt: skip
        page = await service.debtors(
            db_session, merchant.id, now=clock.now(), sort=sort, limit=limit,
            starting_after=starting_after,
        )  # fmt: skip
        extra = {"currency": merchant.currency, "has_more": page.has_more}
        return _answer(request, format, page.rows, "debtors", extra)

    @get("/customers/{customer_id:str}/metrics")
    async def customer_metrics(
        self, request: Request[Any, Any, Any], customer_id: str, merchant: Merchant,
        db_session: AsyncSession, format: str | None = None,
    ) -> Response[Any]:  # fmt: skip
        row = await service.customer_metrics(
            db_session, merchant.id, customer_id, merchant.currency
        )
        if _wants_csv(request, format):
            return _answer(request, format, [row], "customer_metrics")
        return Response(dataclasses.asdict(row))

    @get("/recovery")
    async def recovery(
        self, request: Request[Any, Any, Any], merchant: Merchant, db_session: AsyncSession,
        clock: Clock, interval: str = "month",
        from_: Annotated[date | None, QueryParameter(name="from")] = None,
        to: date | None = None, attribution_days: int = 7, format: str | None = None,
    ) -> Response[Any]:  # fmt: skip
        rows = await recovery_report(
            db_session, merchant.id, now=clock.now(), timezone=merchant.timezone,
            interval=interval, start=from_, end=to, attribution_days=attribution_days,
        )  # fmt: skip
        extra = {"currency": merchant.currency, "interval": interval}
        return _answer(request, format, rows, "recovery", extra)

    @get("/mrr")
    async def mrr(
        self, request: Request[Any, Any, Any], merchant: Merchant, db_session: AsyncSession,
        clock: Clock, interval: str = "month",
        from_: Annotated[date | None, QueryParameter(name="from")] = None,
        to: date | None = None, format: str | None = None,
    ) -> Response[Any]:  # fmt: skip
        rows = await mrr_report(
            db_session, merchant.id, currency=merchant.currency, now=clock.now(),
            timezone=merchant.timezone, interval=interval, start=from_, end=to,
        )  # fmt: skip
        extra = {"currency": merchant.currency, "interval": interval}
        return _answer(request, format, rows, "mrr", extra)
