"""What the update path reads on every update but what changes only on import, kept in
process memory.

Two kinds of memory, with different lifetimes:

- `Memo`: process-wide, keyed by (cluster year id, revision). A year's rules (its criteria
  tree, unit targets, periods) change only when a file is imported, a year is closed or
  handed over, and every such change gives the year a new `cluster_years.revision` in the
  same transaction (models/tables.py, `_rules_changed`). The revision is read fresh with the
  actor on every update, in the same query, so a process, or a webhook worker, whose memory
  holds an older revision simply misses and loads the new rules: nothing to broadcast.
- `remember`/`known`: the working year's row as the actor query read it, for the rest of
  this update's session, so the services do not read it again. It is forgotten at the
  session's next flush, write statement, commit or rollback: after the session has written
  anything, or in a later unit of work, the services read the row again.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session

from models.tables import YearStatus


@dataclass(frozen=True)
class Year:
    """A cluster's working year as one update sees it: what reporting checks, and the key
    of its cached rules."""

    cluster_id: int
    cluster_code: str
    cluster_kind: str  # "cum" or "khoi"
    timezone: str
    year_id: int
    year: int
    status: YearStatus
    late_lock_days: int
    revision: int

    @property
    def key(self) -> tuple[int, int]:
        return self.year_id, self.revision


_YEARS = "thidua.years"


def remember(session: AsyncSession, year: Year) -> None:
    """Keep the year's row for the rest of this unit of work (until it writes)."""
    session.info.setdefault(_YEARS, {})[year.cluster_id, year.year] = year


def known(session: AsyncSession, cluster_id: int, year: int | None) -> Year | None:
    """The year's row if this unit of work read it and has written nothing since."""
    found: dict[tuple[int, int | None], Year] | None = session.info.get(_YEARS)
    return found.get((cluster_id, year)) if found else None


def _forget(session: Session, *_: Any) -> None:
    session.info.pop(_YEARS, None)


def _forget_on_write(state: ORMExecuteState) -> None:
    if not state.is_select:
        _forget(state.session)


for _name in ("after_flush", "after_commit", "after_soft_rollback"):
    event.listen(Session, _name, _forget)
# A statement that writes (an UPDATE of the year's row, say) may change what was read.
event.listen(Session, "do_orm_execute", _forget_on_write)


T = TypeVar("T")


class Memo(Generic[T]):
    """A small least-recently-used map of loaded values. Values must be immutable: they are
    shared by every update of the process."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, T] = OrderedDict()
        self.loads = 0  # how many times a value was loaded: for tests and benchmarks

    async def get(self, key: Hashable, load: Callable[[], Awaitable[T]]) -> T:
        try:
            value = self._items[key]
        except KeyError:
            # Two updates missing at once both load: the same rules, harmless, no lock.
            value = await load()
            self.loads += 1
            self._items[key] = value
            if len(self._items) > self.size:
                self._items.popitem(last=False)
        else:
            self._items.move_to_end(key)
        return value

    def clear(self) -> None:
        self._items.clear()
