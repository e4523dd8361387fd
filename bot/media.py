"""Files served at unguessable, short-lived URLs, for channels that take a picture or a
file only as a link: Zalo's sendPhoto fetches a URL, and it sends no documents at all.

`MediaStore.put` writes the bytes under `root` and answers
`{base_url}/media/{token}/{name}`; `media_routes` serves them to whoever has the URL
(the platform's fetcher, the person following the link) until the time to live has passed.

- The token is `secrets.token_urlsafe(24)` (192 random bits): the URL is the only key, so
  responses say `Cache-Control: private, no-store` and nothing lists the files.
- Everything is on disk — `<token>.bin` and a JSON sidecar `<token>.json` with the type,
  the file name and the expiry — so several processes (webhook workers) share one root
  without an index in memory; each file is written beside its final name and renamed, the
  sidecar last, so a reader never sees half a file.
- `purge()` removes what has expired; call it now and then (the reminder tick will do).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

Clock = Callable[[], datetime]
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")
_UNSAFE_RE = re.compile(r"[^A-Za-z0-9._-]+")
NAME_MAX = 100


def _now() -> datetime:
    return datetime.now(UTC)


def safe_filename(name: str) -> str:
    """A file name fit for a URL and a Content-Disposition: ASCII letters, digits, `._-`
    ("Bảng điểm Quý 1.xlsx" → "Bang_diem_Quy_1.xlsx")."""
    base = Path(name.replace("\\", "/")).name
    base = base.replace("đ", "d").replace("Đ", "D")
    ascii_name = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    cleaned = _UNSAFE_RE.sub("_", ascii_name).strip("._-")
    if not cleaned:
        return "file"
    if len(cleaned) > NAME_MAX:
        stem, dot, suffix = cleaned.rpartition(".")
        if dot and len(suffix) <= 10:
            cleaned = stem[: NAME_MAX - len(suffix) - 1] + "." + suffix
        else:
            cleaned = cleaned[:NAME_MAX]
    return cleaned


def _write_atomic(path: Path, content: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        temporary.write_bytes(content)
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)


class MediaStore:
    """Short-lived files behind unguessable URLs, shared by every process on one root."""

    def __init__(self, root: Path, base_url: str, ttl: timedelta, clock: Clock = _now) -> None:
        if ttl <= timedelta(0):
            raise ValueError("ttl must be positive")
        self.root = root
        self.base_url = base_url.rstrip("/")
        self.ttl = ttl
        self.clock = clock

    def _paths(self, token: str) -> tuple[Path, Path]:
        return self.root / f"{token}.bin", self.root / f"{token}.json"

    def _put(self, token: str, content: bytes, name: str, mime: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        data, sidecar = self._paths(token)
        expires = self.clock() + self.ttl
        _write_atomic(data, content)
        meta = {"mime": mime, "filename": name, "expires": expires.isoformat()}
        _write_atomic(sidecar, json.dumps(meta).encode())

    async def put(self, content: bytes, filename: str, mime: str) -> str:
        """Store `content` and answer its public URL."""
        token = secrets.token_urlsafe(24)
        name = safe_filename(filename)
        await asyncio.to_thread(self._put, token, content, name, mime)
        return f"{self.base_url}/media/{token}/{name}"

    def _meta(self, sidecar: Path) -> tuple[str, str, datetime] | None:
        try:
            meta = json.loads(sidecar.read_text())
            expires = datetime.fromisoformat(meta["expires"])
            return str(meta["mime"]), str(meta["filename"]), expires
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def get(self, token: str) -> tuple[Path, str, str] | None:
        """(path, mime, filename) of a stored file; None when unknown or expired."""
        if not _TOKEN_RE.fullmatch(token):
            return None  # also keeps "../" and friends out of the path
        data, sidecar = self._paths(token)
        meta = self._meta(sidecar)
        if meta is None or not data.is_file():
            return None
        mime, filename, expires = meta
        if expires <= self.clock():
            return None
        return data, mime, filename

    def purge(self) -> int:
        """Remove expired files (and leftovers of interrupted writes); how many went."""
        if not self.root.is_dir():
            return 0
        now = self.clock()
        removed = 0
        for sidecar in self.root.glob("*.json"):
            meta = self._meta(sidecar)
            if meta is not None and meta[2] > now:
                continue
            data = sidecar.with_suffix(".bin")
            data.unlink(missing_ok=True)
            sidecar.unlink(missing_ok=True)
            removed += 1
        # A .bin whose sidecar never came (a crash between the two writes), once it is
        # older than a time to live: by then no one can be waiting for it.
        horizon = (now - self.ttl).timestamp()
        for data in self.root.glob("*.bin"):
            try:
                stale = data.stat().st_mtime < horizon
            except OSError:
                continue
            if stale and not data.with_suffix(".json").exists():
                data.unlink(missing_ok=True)
                removed += 1
        return removed


def media_routes(store: MediaStore) -> list[Route]:
    """GET (and HEAD) `/media/{token}/{name}` for the files of `store`."""

    async def serve(request: Request) -> Response:
        token = str(request.path_params["token"])
        name = str(request.path_params["name"])
        found = await asyncio.to_thread(store.get, token)
        if found is None or found[2] != name:
            return PlainTextResponse(
                "not found", status_code=404, headers={"Cache-Control": "no-store"}
            )
        path, mime, filename = found
        return FileResponse(
            path,
            media_type=mime,
            filename=filename,
            content_disposition_type="inline",
            headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"},
        )

    return [Route("/media/{token}/{name}", serve, methods=["GET", "HEAD"])]
