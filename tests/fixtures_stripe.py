"""``localstripe_url``: a localstripe server for the Stripe adapter's tests.

Shared by tests/gateways and tests/payments: each conftest imports the fixture from here.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

# localstripe pickles its whole store to the fixed path /tmp/localstripe.pickle after every
# write: slow, and shared by every instance on the machine. Run it with persistence off.
_LAUNCH = (
    "import sys, localstripe.resources as r;"
    "r.Store.dump_to_disk = lambda self: None;"
    "from localstripe.server import start;"
    "sys.argv = ['localstripe', '--from-scratch', '--port', sys.argv[1]];"
    "start()"
)


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
