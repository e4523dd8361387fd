"""bot/media.py: short-lived files behind unguessable URLs, served by a real uvicorn."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from bot.media import MediaStore, media_routes, safe_filename
from tests.zalo.standin import serve_app

START = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def _store(root: Path, clock: Clock, base_url: str = "https://bot.example.org/") -> MediaStore:
    return MediaStore(root, base_url, timedelta(hours=1), clock)


def _files(root: Path) -> list[str]:
    return sorted(path.name for path in root.iterdir())


async def test_put_answers_an_unguessable_url_and_get_finds_it(tmp_path: Path) -> None:
    store = _store(tmp_path, Clock())
    url = await store.put(b"PNG bytes", "Bảng điểm Quý 1.png", "image/png")
    prefix = "https://bot.example.org/media/"
    assert url.startswith(prefix)
    token, name = url.removeprefix(prefix).split("/")
    assert len(token) == 32  # token_urlsafe(24): 192 random bits
    assert name == "Bang_diem_Quy_1.png"
    found = store.get(token)
    assert found is not None
    path, mime, filename = found
    assert (mime, filename) == ("image/png", name)
    assert path.read_bytes() == b"PNG bytes"
    other = await store.put(b"PNG bytes", "Bảng điểm Quý 1.png", "image/png")
    assert other != url


async def test_expired_files_are_gone_and_purged(tmp_path: Path) -> None:
    clock = Clock()
    store = _store(tmp_path, clock)
    old = (await store.put(b"old", "a.txt", "text/plain")).split("/")[-2]
    clock.now += timedelta(minutes=50)
    new = (await store.put(b"new", "b.txt", "text/plain")).split("/")[-2]
    clock.now += timedelta(minutes=11)
    assert store.get(old) is None
    assert store.get(new) is not None
    assert store.purge() == 1
    assert _files(tmp_path) == [f"{new}.bin", f"{new}.json"]
    clock.now += timedelta(hours=2)
    (tmp_path / "orphan.bin").write_bytes(b"a crash between the two writes")
    assert store.purge() == 1  # the expired pair; the orphan is still young by its mtime
    assert store.get(new) is None


def test_several_processes_share_one_root(tmp_path: Path) -> None:
    clock = Clock()
    writer, reader = _store(tmp_path, clock), _store(tmp_path, clock)
    url = asyncio.run(writer.put(b"shared", "x.pdf", "application/pdf"))
    found = reader.get(url.split("/")[-2])
    assert found is not None and found[0].read_bytes() == b"shared"


def test_get_refuses_what_is_not_a_token(tmp_path: Path) -> None:
    store = _store(tmp_path, Clock())
    (tmp_path / "secret.json").write_text('{"mime": "x", "filename": "x", "expires": "2999"}')
    for token in ("../secret", "secret", "", "a/b" * 10, "." * 20):
        assert store.get(token) is None


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("Bảng điểm.xlsx", "Bang_diem.xlsx"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\x\\báo cáo.pdf", "bao_cao.pdf"),
        ("Đề xuất (v2).docx", "De_xuat_v2_.docx"),
        ("...", "file"),
        ("ảnh", "anh"),
        ("x" * 300 + ".png", "x" * 96 + ".png"),
    ],
)
def test_safe_filename(name: str, safe: str) -> None:
    assert safe_filename(name) == safe


async def test_routes_serve_with_type_and_no_cache(tmp_path: Path) -> None:
    clock = Clock()
    store = _store(tmp_path, clock)
    async with serve_app(Starlette(routes=media_routes(store))) as base:
        store.base_url = base
        url = await store.put(b"\x89PNG\r\n\x1a\nrest", "chart.png", "image/png")
        async with httpx.AsyncClient() as http:
            found = await http.get(url)
            head = await http.head(url)
            wrong_name = await http.get(url.rsplit("/", 1)[0] + "/other.png")
            unknown = await http.get(f"{base}/media/{'A' * 32}/chart.png")
            clock.now += timedelta(hours=2)
            expired = await http.get(url)
    assert found.status_code == 200
    assert found.content == b"\x89PNG\r\n\x1a\nrest"
    assert found.headers["content-type"] == "image/png"
    assert found.headers["cache-control"] == "private, no-store"
    assert found.headers["content-disposition"].startswith("inline")
    assert head.status_code == 200
    assert [r.status_code for r in (wrong_name, unknown, expired)] == [404, 404, 404]
