"""A fixed SELECT run on the database driver itself, for the few statements a busy page runs.

Through SQLAlchemy's asyncio adapters a small indexed read costs more in Python than in the
database: a greenlet switch and an execution context per statement, and with aiosqlite
four calls per statement (cursor, execute, fetchall, close), each a round trip to the
connection's own thread. This compiles the statement once per dialect and hands it to the
driver as one call (asyncpg's ``fetch``, its prepared-statement cache included; aiosqlite's
``execute_fetchall``), converting values with the columns' own SQLAlchemy types (their
public bind and result processors), so rows read exactly as through SQLAlchemy (a test
compares them). Any other driver takes SQLAlchemy's ordinary path.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import CompoundSelect, Select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import TypeEngine

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]
    binds: tuple[Processor, ...]
    results: tuple[tuple[int, Callable[[Any], Any]], ...]  # only columns that convert
    row: type


class OneHopRead:
    def __init__(self, statement: Select[Any] | CompoundSelect) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def _compile(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.driver)
        if found is None:
            compiled = self.statement.compile(dialect=dialect)
            assert isinstance(compiled, SQLCompiler) and compiled.positiontup is not None
            names = tuple(compiled.positiontup)
            columns = list(self.statement.selected_columns)
            found = _Compiled(
                sql=compiled.string,
                names=names,
                binds=tuple(_bind(compiled.binds[n].type, dialect) for n in names),
                results=tuple(
                    (i, p) for i, c in enumerate(columns) if (p := _result(c.type, dialect))
                ),
                row=namedtuple("Row", [c.key for c in columns]),  # type: ignore[misc]
            )
            self._compiled[dialect.driver] = found
        return found

    async def rows(self, connection: AsyncConnection, params: Mapping[str, Any]) -> list[Any]:
        """The statement's rows (attribute and index access, like SQLAlchemy's)."""
        dialect = connection.dialect
        if dialect.driver not in ("aiosqlite", "asyncpg"):
            return list((await connection.execute(self.statement, dict(params))).all())
        plan = self._compile(dialect)
        args = [
            bind(params[n]) if bind else params[n]
            for n, bind in zip(plan.names, plan.binds, strict=True)
        ]
        driver: Any = (await connection.get_raw_connection()).driver_connection
        if dialect.driver == "asyncpg":
            found: Sequence[Sequence[Any]] = await driver.fetch(plan.sql, *args)
        else:
            found = await driver.execute_fetchall(plan.sql, args)
        rows = []
        for found_row in found:
            values = list(found_row)
            for i, convert in plan.results:
                if values[i] is not None:  # SQLAlchemy's processors keep NULL as None
                    values[i] = convert(values[i])
            rows.append(plan.row(*values))
        return rows


# The dialect's own variant of each type (SQLite's DATETIME parses its text, a
# TypeDecorator wraps it), as SQLAlchemy itself would pick.
def _bind(type_: TypeEngine[Any], dialect: Dialect) -> Processor:
    return type_.dialect_impl(dialect).bind_processor(dialect)


def _result(type_: TypeEngine[Any], dialect: Dialect) -> Processor:
    return type_.dialect_impl(dialect).result_processor(dialect, None)
