"""Online backup of the SQLite database with SQLite's backup API.

The copy is consistent even while the bot writes (the backup API copies pages under a read
transaction; in WAL mode writers are not blocked). It is written under a temporary name and
renamed when complete and checked, so a half-written file never looks like a backup, and it
is switched out of WAL mode so the copy is one self-contained file.
PostgreSQL is backed up with pg_dump instead (docs/deploy.md).
"""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import make_url

_STAMP = "%Y%m%d-%H%M%S"


class BackupError(Exception):
    """The copy could not be made or did not pass its integrity check."""


@dataclass(frozen=True)
class Backup:
    path: Path
    size: int


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL; None for any other database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    return Path(parsed.database or ":memory:")


def backup_name(source: Path, now: datetime) -> str:
    """`thidua-20241125-030000.db`: the database's name and the UTC time of the copy."""
    return f"{source.stem}-{now.strftime(_STAMP)}{source.suffix or '.db'}"


def backup_sqlite(source: Path, target: Path) -> Backup:
    """Copy `source` to `target` (which must not exist) with the online backup API."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        # mode=rw: never create an empty database where the real one was expected.
        with (
            closing(sqlite3.connect(f"file:{source}?mode=rw", uri=True)) as src,
            closing(sqlite3.connect(partial)) as dst,
        ):
            src.execute("PRAGMA busy_timeout=30000")
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")
            check = dst.execute("PRAGMA integrity_check").fetchone()
            if check is None or check[0] != "ok":
                raise BackupError(f"integrity check of the copy failed: {check}")
        partial.rename(target)
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(str(exc)) from exc
    except BackupError:
        partial.unlink(missing_ok=True)
        raise
    return Backup(path=target, size=target.stat().st_size)


def prune_backups(folder: Path, source: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` timestamped backups of `source` in `folder`."""
    pattern = re.compile(
        re.escape(source.stem) + r"-\d{8}-\d{6}" + re.escape(source.suffix or ".db") + r"$"
    )
    # The timestamp in the name sorts in time order.
    ours = sorted(p for p in folder.iterdir() if p.is_file() and pattern.fullmatch(p.name))
    removed = ours[:-keep] if keep else ours
    for path in removed:
        path.unlink()
    return removed
