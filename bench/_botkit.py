"""Shared pieces of the update-path and memory benchmarks: the JSON-lines output, a
recording BaseRequest (the idea of tests/handlers/harness.py, not imported from tests/), a
stand-in Bot API HTTP server, and a seeded SQLite database."""

from __future__ import annotations

import asyncio
import itertools
import json
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from telegram.request import BaseRequest, RequestData

REPO = Path(__file__).resolve().parent.parent
CUM6 = REPO / "examples" / "cum6-stc-2024.toml"
# 10:00 on 10/05/2024 in Hà Nội: Q2 2024 of the example cluster is open.
NOW = datetime(2024, 5, 10, 3, 0, tzinfo=UTC)
TOKEN = "123456:BENCH"
BOT = {"id": 5_000_000, "is_bot": True, "first_name": "Thi Đua Bot", "username": "bench_bot"}


def emit(bench: str, case: str, metric: str, value: float, unit: str, note: str = "") -> None:
    """One result line on stdout (the contract bench/run_all.py reads)."""
    row = {"bench": bench, "case": case, "metric": metric, "value": round(value, 4)}
    print(json.dumps({**row, "unit": unit, "note": note}, ensure_ascii=False), flush=True)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentile(values: list[float], share: float) -> float:
    """The `share` quantile (0.5, 0.99) of `values`, interpolated."""
    if len(values) == 1:
        return values[0]
    cuts = statistics.quantiles(values, n=1000, method="inclusive")
    return cuts[min(len(cuts) - 1, max(0, round(share * 1000) - 1))]


def user(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": "Cán bộ", "language_code": "vi"}


_ids = itertools.count(1)


def text_update(user_id: int, text: str) -> dict[str, Any]:
    """The JSON of a private message (a command when it starts with /)."""
    message: dict[str, Any] = {
        "message_id": next(_ids),
        "date": int(time.time()),
        "chat": {"id": user_id, "type": "private", "first_name": "Cán bộ"},
        "from": user(user_id),
        "text": text,
    }
    if text.startswith("/"):
        length = len(text.split()[0])
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
    return {"update_id": next(_ids), "message": message}


def _answer(method: str, params: dict[str, Any], ids: Iterator[int]) -> Any:
    if method == "getMe":
        return BOT
    if method.startswith("send"):
        chat_id = int(params.get("chat_id", 0))
        return {
            "message_id": next(ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "text": str(params.get("text", "")),
        }
    return True


@dataclass
class RecordingRequest(BaseRequest):
    """Answers every Bot API call at once, as Telegram would, and counts them."""

    sent: int = 0
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    @property
    def read_timeout(self) -> float | None:
        return 1.0

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        name = url.rsplit("/", 1)[-1]
        params = dict(request_data.parameters) if request_data else {}
        if name.startswith("send"):
            self.sent += 1
        return 200, json.dumps({"ok": True, "result": _answer(name, params, self._ids)}).encode()


class StandIn:
    """A tiny Bot API server on 127.0.0.1 for a real bot process: answers every method,
    hands out queued updates on getUpdates (long polling up to 1 s), counts replies."""

    def __init__(self) -> None:
        self.updates: list[dict[str, Any]] = []
        self.replies = 0
        self.sent: Counter[str] = Counter()
        self.first_get_updates: float | None = None
        self._lock = threading.Condition()
        self._ids = itertools.count(1)
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # One segment per answer, sent at once: headers and body written separately
            # would meet delayed ACKs and cost ~40 ms per request.
            wbufsize = 1 << 16
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                params: dict[str, Any] = {}
                if "urlencoded" in self.headers.get("Content-Type", ""):
                    params = {k: v[0] for k, v in parse_qs(body.decode()).items()}
                method = self.path.rsplit("/", 1)[-1]
                payload = json.dumps({"ok": True, "result": stand_in.handle(method, params)})
                data = payload.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the bot stopped while a long poll was waiting

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> StandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def feed(self, updates: list[dict[str, Any]]) -> None:
        with self._lock:
            self.updates.extend(updates)
            self._lock.notify_all()

    def handle(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getUpdates":
            with self._lock:
                if self.first_get_updates is None:
                    self.first_get_updates = time.perf_counter()
                    self._lock.notify_all()
                if not self.updates:
                    self._lock.wait(timeout=1.0)
                batch, self.updates = self.updates[:100], self.updates[100:]
                return batch
        if method.startswith("send"):
            with self._lock:
                self.replies += 1
                self.sent[method] += 1
                self._lock.notify_all()
        return _answer(method, params, self._ids)

    def wait(self, condition: Any, timeout: float) -> bool:
        """Wait (bounded) until `condition()` holds, woken by each call that changes state."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while not condition():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(timeout=min(left, 0.5))
        return True


async def seed(url: str, officer_id: int) -> None:
    """Migrate, import the example cluster and join one officer of Bình Định by invitation."""
    from models.db import create_engine, session_factory
    from models.migrate import upgrade
    from services import invites, onboarding
    from services.addresses import Address
    from services.cluster_file import load_cluster_file
    from services.clusters import import_cluster

    engine = create_engine(url)
    try:
        await upgrade(engine)
        async with session_factory(engine)() as session:
            await import_cluster(session, load_cluster_file(CUM6), now=NOW)
            [issued] = await invites.create_invites(
                session,
                cluster_code="CUM6-STC",
                unit_code="STC-BDINH",
                now=NOW,
                days=365,
                max_uses=None,
                actor="bench",
            )
            person = onboarding.Person(
                address=Address("telegram", str(officer_id)), full_name="Cán bộ", username=None
            )
            await onboarding.join(session, person, issued.token, NOW)
    finally:
        await engine.dispose()


def seed_sync(url: str, officer_id: int) -> None:
    asyncio.run(seed(url, officer_id))


async def seed_officers(url: str, channel: str, external_ids: list[str]) -> None:
    """Migrate, import the example cluster (as of 10/05/2024) and put one officer per
    external id on `channel`, spread over its six units: directly, a batch is about
    sending, not joining."""
    from sqlalchemy import select

    from models.db import create_engine, session_factory
    from models.migrate import upgrade
    from models.tables import Cluster, Identity, Membership, Officer, User
    from services.cluster_file import load_cluster_file
    from services.clusters import import_cluster

    engine = create_engine(url)
    await upgrade(engine)
    async with session_factory(engine)() as session:
        await import_cluster(session, load_cluster_file(CUM6), now=NOW)
        cluster = await session.scalar(select(Cluster).where(Cluster.code == "CUM6-STC"))
        assert cluster is not None
        units = list(
            await session.scalars(
                select(Membership.unit_id).where(
                    Membership.cluster_id == cluster.id, Membership.year == 2024
                )
            )
        )
        users = [
            User(full_name=f"Cán bộ {i}", username=None, language=None, channel=None,
                 created_at=NOW, updated_at=NOW)
            for i in range(len(external_ids))
        ]  # fmt: skip
        session.add_all(users)
        await session.flush()
        for i, (user, external) in enumerate(zip(users, external_ids, strict=True)):
            session.add(
                Identity(user_id=user.id, channel=channel, external_id=external,
                         reachable=True, created_at=NOW, last_seen_at=NOW)
            )  # fmt: skip
            session.add(
                Officer(user_id=user.id, unit_id=units[i % len(units)], cluster_id=cluster.id,
                        invite_id=None, active=True, joined_at=NOW, left_at=None)
            )  # fmt: skip
        await session.commit()
    await engine.dispose()
