"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Dialect, Numeric
from sqlalchemy.types import TypeDecorator, TypeEngine

_QUANTUM = Decimal("0.0001")


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime, stored in UTC.

    SQLite keeps no time zone, so a naive value read back would silently be local or UTC
    depending on who wrote it; refusing naive input and returning UTC keeps time explicit.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Points(TypeDecorator[Decimal]):
    """A decimal score or value with 4 decimal places.

    PostgreSQL stores NUMERIC exactly. SQLite has no decimal type, and SQLAlchemy warns
    when asked to fake one; there we store a REAL and round back to 4 places, which is
    exact for the magnitudes a scoring table holds (well under 10**9).
    """

    impl = Numeric(18, 4)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Numeric(18, 4, asdecimal=False))
        return dialect.type_descriptor(Numeric(18, 4))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        value = Decimal(value).quantize(_QUANTUM)
        return float(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(str(round(float(value), 4))).quantize(_QUANTUM)
        return Decimal(value).quantize(_QUANTUM)
