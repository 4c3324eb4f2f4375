"""The `billing` command: serve, worker, migrate, merchant, demo, bill."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence

from billing.config import get_settings


def _migrate(_: argparse.Namespace) -> int:
    from billing.migrate import upgrade

    settings = get_settings()
    print(f"Upgrading {_redact(settings.database_url)} to head…", file=sys.stderr)
    upgrade(settings.database_url)
    print("Database is at head.", file=sys.stderr)
    return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from billing.app import create_app

    settings = get_settings()
    _ensure_embedded_schema()
    mode = "embedded scheduler" if settings.embedded_queue else "arq on Redis"
    print(
        f"billing on http://{args.host}:{args.port}  ({_redact(settings.database_url)}, {mode}, "
        f"{settings.gateway} gateway, {settings.clock} clock)",
        file=sys.stderr,
    )
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning")
    return 0


def _worker(_: argparse.Namespace) -> int:
    from arq.worker import run_worker

    from billing.worker import build_worker_settings

    run_worker(build_worker_settings())
    return 0


def _ensure_embedded_schema() -> None:
    """On the embedded default (SQLite) every command brings the file up to date first."""
    settings = get_settings()
    if settings.is_sqlite:
        from billing.migrate import upgrade

        upgrade(settings.database_url)


def _merchant_create(args: argparse.Namespace) -> int:
    from billing.db import unit_of_work
    from billing.merchants.service import create_merchant
    from billing.runtime import build_runtime

    _ensure_embedded_schema()

    async def run() -> dict[str, str]:
        runtime = await build_runtime(get_settings(), start_queue=False)
        try:
            async with unit_of_work(runtime.session_factory) as session:
                now = await runtime.clock.sync(session)
                merchant, key = await create_merchant(
                    session,
                    name=args.name,
                    currency=args.currency,
                    timezone=args.timezone,
                    live=args.live,
                    now=now,
                )
            return {"merchant_id": merchant.id, "api_key": key}
        finally:
            await runtime.close()

    from billing.kit.errors import ProblemError

    try:
        print(json.dumps(asyncio.run(run())))
    except ProblemError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 2
    return 0


def _demo(args: argparse.Namespace) -> int:
    from billing.demo import run_demo

    return run_demo(host=args.host, port=args.port, serve=not args.no_serve)


def _bill(_: argparse.Namespace) -> int:
    from billing.demo import run_billing_now

    return run_billing_now()


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="billing", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the API and portal (and the embedded scheduler)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(func=_serve)

    sub.add_parser("worker", help="run an arq worker (needs BILLING_REDIS_URL)").set_defaults(
        func=_worker
    )
    sub.add_parser("migrate", help="upgrade the database to head").set_defaults(func=_migrate)

    merchant = sub.add_parser("merchant", help="manage merchants")
    msub = merchant.add_subparsers(dest="merchant_command", required=True)
    create = msub.add_parser("create", help="create a merchant and print its API key")
    create.add_argument("--name", required=True)
    create.add_argument("--currency", default="BRL")
    create.add_argument("--timezone", default="America/Sao_Paulo")
    create.add_argument("--live", action="store_true", help="issue a live key (sk_live_…)")
    create.set_defaults(func=_merchant_create)

    demo = sub.add_parser("demo", help="seed a demo merchant with history, then serve")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--no-serve", action="store_true", help="seed only")
    demo.set_defaults(func=_demo)

    sub.add_parser("bill", help="run the billing cycle for everything due now").set_defaults(
        func=_bill
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
