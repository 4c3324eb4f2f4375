"""``localstripe_url``: a localstripe server for the Stripe adapter's tests, and
``stripe_runtime`` / ``stripe_client``: the app on a database of the test's own, its Stripe
gateways pointed at that server.

Shared by tests/gateways, tests/payments, tests/portal and tests/webhooks: each conftest or
test module imports the fixtures it uses from here.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import stripe

from billing.kit.clock import FixedClock
from billing.runtime import Runtime
from tests.conftest import Database, app_client, make_runtime

# localstripe pickles its whole store to the fixed path /tmp/localstripe.pickle after every
# write: slow, and shared by every instance on the machine. Run it with persistence off.
_LAUNCH = (
    "import sys, localstripe.resources as r;"
    "r.Store.dump_to_disk = lambda self: None;"
    "from localstripe.server import start;"
    "sys.argv = ['localstripe', '--from-scratch', '--port', sys.argv[1]];"
    "start()"
)


async def card_at_stripe(
    sdk: stripe.StripeClient, number: str = "4242424242424242", *, exp_year: int = 2030
) -> str:
    """A card made at Stripe as Stripe.js makes it (our server only ever sees the pm_ id)."""
    pm = await sdk.v1.payment_methods.create_async(
        params={
            "type": "card",
            "card": {"number": number, "exp_month": 12, "exp_year": exp_year, "cvc": "123"},
        }
    )
    return str(pm.id)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def localstripe_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a fresh localstripe server on a free port, killed at session end."""
    port = _free_port()
    log = Path(tmp_path_factory.mktemp("localstripe")) / "server.log"
    python = Path(sys.executable)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(python), "-c", _LAUNCH, str(port)], stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://localhost:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"localstripe exited: {log.read_text()[-2000:]}")
            try:
                answer = httpx.get(f"{url}/v1/customers", auth=("sk_test_x", ""), timeout=1)
                if answer.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("localstripe did not answer within 20 s")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
async def stripe_runtime(
    database: Database, clock: FixedClock, localstripe_url: str
) -> AsyncIterator[Runtime]:
    """A runtime whose Stripe gateways call localstripe; closing it closes them too."""
    rt = await make_runtime(database, clock, stripe_api_base=localstripe_url)
    yield rt
    await rt.close()


@pytest.fixture
async def stripe_client(stripe_runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(stripe_runtime) as client:
        yield client
