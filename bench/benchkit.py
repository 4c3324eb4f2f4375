"""What every benchmark shares: a description of the machine its figures came from."""

from __future__ import annotations

import os
import platform
from pathlib import Path

from billing.jobs import JobCall

PG_ADMIN = os.environ.get("BILLING_TEST_PG", "postgresql://postgres@127.0.0.1:5432")


async def admin(sql: str) -> None:
    """Run one statement on the server's maintenance database (CREATE/DROP DATABASE)."""
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN + "/postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


class CountingDispatcher:
    """Jobs a benchmark's work enqueues are counted, not run."""

    def __init__(self) -> None:
        self.count = 0

    async def dispatch(self, calls: list[JobCall]) -> None:
        self.count += len(calls)


def machine() -> str:
    """CPUs, CPU model, memory and Python version, as recorded in bench/README.md."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
        cpu = next(ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or "unknown CPU"
    try:
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
        ram = f"{mem_kb / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        ram = "? GiB"
    return f"{os.cpu_count()} CPUs ({cpu}), {ram} RAM, Python {platform.python_version()}"


def record(readme: Path, heading: str, row: str, new_section: str) -> None:
    """Add ``row`` at the end of the table under ``heading`` (creating the section from
    ``new_section`` the first time), not at the end of the file."""
    text = readme.read_text() if readme.exists() else ""
    if heading not in text:
        text = text.rstrip("\n") + "\n\n" + new_section.strip("\n") + "\n"
    lines = text.splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith(heading))
    last = at
    for i in range(at + 1, len(lines)):
        if lines[i].startswith("## "):
            break
        if lines[i].startswith("|"):
            last = i
    lines.insert(last + 1, row + "\n")
    readme.write_text("".join(lines))
