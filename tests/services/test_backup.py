"""`thidua backup`: an online copy of the SQLite database, on a real file."""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.cli import app
from models.backup import backup_name, backup_sqlite, prune_backups
from tests.cli_runner import CliRunner
from tests.conftest import EXAMPLES

runner = CliRunner()


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A migrated SQLite file with the example cluster, as `thidua cluster import` leaves it."""
    for name in list(os.environ):
        if name.upper().startswith("THIDUA_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "data" / "thidua.db"
    path.parent.mkdir()
    monkeypatch.setenv("THIDUA_DATABASE__URL", f"sqlite+aiosqlite:///{path}")
    imported = runner.invoke(app, ["cluster", "import", str(EXAMPLES / "cum6-stc-2024.toml")])
    assert imported.exit_code == 0, imported.output
    yield path


def _counts(path: Path) -> dict[str, int]:
    with closing(sqlite3.connect(path)) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


def test_backup_writes_a_timestamped_copy_with_the_same_rows_beside_the_database(
    database: Path,
) -> None:
    result = runner.invoke(app, ["backup"])

    assert result.exit_code == 0, result.output
    [copy] = list((database.parent / "backups").iterdir())
    assert re.fullmatch(r"thidua-\d{8}-\d{6}\.db", copy.name)
    assert str(copy) in result.output and "kiểm tra toàn vẹn: tốt" in result.output
    assert _counts(copy) == _counts(database)
    assert _counts(copy)["units"] == 9
    with closing(sqlite3.connect(copy)) as conn:
        # One self-contained file: not in WAL mode, so no -wal/-shm is needed beside it.
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_backup_to_a_named_file_refuses_to_overwrite_it(database: Path, tmp_path: Path) -> None:
    target = tmp_path / "copy.db"

    first = runner.invoke(app, ["backup", "-o", str(target)])
    second = runner.invoke(app, ["backup", "-o", str(target)])

    assert first.exit_code == 0 and target.is_file()
    assert second.exit_code == 1
    assert "không ghi đè" in second.output


def test_backup_into_a_directory_keeps_only_the_newest_when_asked(
    database: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "nightly"
    folder.mkdir()
    for day in (1, 2, 3):
        old = folder / backup_name(database, datetime(2024, 5, day, tzinfo=UTC))
        old.write_bytes(b"old")
    unrelated = folder / "notes.txt"
    unrelated.write_text("keep me", encoding="utf-8")

    result = runner.invoke(app, ["backup", "-o", str(folder), "--keep", "2"])

    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in folder.iterdir())
    assert names[0] == "notes.txt" and len(names) == 3
    assert "thidua-20240503-000000.db" in names  # the newest old one, and today's
    assert "Đã xoá 2 bản sao lưu cũ" in result.output


def test_backup_of_postgresql_points_to_pg_dump(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("THIDUA_DATABASE__URL", "postgresql+asyncpg://u@127.0.0.1/thidua")

    result = runner.invoke(app, ["backup"])

    assert result.exit_code == 2
    assert "pg_dump" in result.output


def test_backup_of_a_missing_database_file_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("THIDUA_DATABASE__URL", f"sqlite+aiosqlite:///{tmp_path / 'none.db'}")

    result = runner.invoke(app, ["backup"])

    assert result.exit_code == 1
    assert "none.db" in result.output
    assert not (tmp_path / "none.db").exists() and not (tmp_path / "backups").exists()


def test_a_backup_taken_during_a_write_has_only_what_was_committed(
    database: Path, tmp_path: Path
) -> None:
    with closing(sqlite3.connect(database, isolation_level=None)) as writer:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE units SET name = 'đang sửa' WHERE code = 'STC-PYEN'")
        copy = backup_sqlite(database, tmp_path / "during.db")
        writer.execute("COMMIT")

    with closing(sqlite3.connect(copy.path)) as conn:
        name = conn.execute("SELECT name FROM units WHERE code = 'STC-PYEN'").fetchone()[0]
    assert name == "Sở Tài chính tỉnh Phú Yên"
    assert not (tmp_path / "during.db.partial").exists()


def test_prune_keeps_the_newest_and_ignores_other_files(tmp_path: Path) -> None:
    source = tmp_path / "thidua.db"
    names = [backup_name(source, datetime(2024, 1, d, tzinfo=UTC)) for d in (5, 1, 3)]
    for name in [*names, "thidua.db", "other-20240101-000000.db"]:
        (tmp_path / name).write_bytes(b"x")

    removed = prune_backups(tmp_path, source, 1)

    assert sorted(p.name for p in removed) == [
        "thidua-20240101-000000.db",
        "thidua-20240103-000000.db",
    ]
    assert (tmp_path / "thidua-20240105-000000.db").exists()
    assert (tmp_path / "other-20240101-000000.db").exists()
