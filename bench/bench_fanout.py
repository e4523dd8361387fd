"""Fan-out of reminders against a local Bot API stand-in that enforces Telegram's limits.

A subprocess serves a minimal Bot API on 127.0.0.1 (loopback only) that answers 429 with
`retry_after`, like Telegram, whenever a send would exceed 30 messages/s overall, one per
second in a private chat or 20 per minute in a group, and takes `--latency-ms` to answer
(Telegram's own round trip). The real bot — Application, ledger on SQLite (or `--db`),
planner, paced sender — then sends the "3 days before" reminder to 3,000 officers in 3,000
distinct private chats (`--quick`: 300), while a user asks /help every half second; then
its "1 day before" to the same officers with nobody asking meanwhile.

Printed (one JSON object per line): the batch's wall time next to the theoretical minimum
at 30 messages/s, the count of 429 answers, the throughput, and the p50/p99 latency of the
interactive replies during the batch next to the same replies with the bot idle.

    .venv/bin/python -m bench.bench_fanout [--quick] [--latency-ms 40] [--db URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import math
import os
import statistics
import sys
import tempfile
import time
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from telegram import Update

from bench._botkit import seed_officers
from bot.settings import Settings
from bot.telegram.app import ThiduaApp, build_application
from handlers import delivery

BENCH = "fanout"
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "cum6-stc-2024.toml"
HCM = ZoneInfo("Asia/Ho_Chi_Minh")
SEEDED_AT = datetime(2024, 5, 10, 3, 0, tzinfo=UTC)
# Tuesday 02/07/2024 08:05: Cụm 6's "3 days before" reminder for Q2 is due.
BATCH_AT = datetime(2024, 7, 2, 8, 5, tzinfo=HCM)
# Thursday 04/07/2024 08:05: its "1 day before", to the same officers, sent with nobody
# asking meanwhile (the pacing alone against 30/s).
QUIET_BATCH_AT = datetime(2024, 7, 4, 8, 5, tzinfo=HCM)
OFFICER_BASE = 700_000_000
PROBE_BASE = 900_000_000
PROBE_USERS = 20  # the /help askers rotate, so none of them exceeds 1 message/s
GLOBAL_PER_S, PRIVATE_GAP_S, GROUP_PER_MIN = 30, 1.0, 20
MAX_PROBES = 5_000


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def emit(case: str, metric: str, value: float, unit: str, note: str = "") -> None:
    row: dict[str, Any] = {
        "bench": BENCH,
        "case": case,
        "metric": metric,
        "value": round(value, 4),
        "unit": unit,
    }
    if note:
        row["note"] = note
    print(json.dumps(row, ensure_ascii=False), flush=True)


# ------------------------------------------------------------------ the Bot API stand-in


class StandIn:
    """Answers like the Bot API, and like Telegram's flood control."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.message_ids = itertools.count(1)
        self.reset()

    def reset(self) -> None:
        self.window: deque[float] = deque()
        self.private: dict[int, float] = {}
        self.groups: dict[int, deque[float]] = {}
        self.accepted = 0
        self.refused: dict[str, int] = {"global": 0, "chat": 0, "group": 0}
        self.peak = 0
        # The batch's first and last message accepted (officers' chats, not the askers'),
        # and how many messages of any kind were accepted from the one to the other.
        self.first: float | None = None
        self.last: float | None = None
        self.since_first = 0
        self.in_span = 0

    def admit(self, chat_id: int, now: float) -> tuple[int, str]:
        """0 to accept, else the retry_after to answer (and which limit said no)."""
        while self.window and self.window[0] <= now - 1.0:
            self.window.popleft()
        if len(self.window) >= GLOBAL_PER_S:
            return max(1, math.ceil(self.window[0] + 1.0 - now)), "global"
        if chat_id > 0:
            last = self.private.get(chat_id)
            if last is not None and now - last < PRIVATE_GAP_S:
                return 1, "chat"
        else:
            group = self.groups.setdefault(chat_id, deque())
            while group and group[0] <= now - 60.0:
                group.popleft()
            if len(group) >= GROUP_PER_MIN:
                return max(1, math.ceil(group[0] + 60.0 - now)), "group"
            group.append(now)
        self.window.append(now)
        self.private[chat_id] = now
        self.accepted += 1
        self.peak = max(self.peak, len(self.window))
        if self.first is not None:
            self.since_first += 1
        if chat_id < PROBE_BASE:
            if self.first is None:
                self.first, self.since_first = now, 1
            self.last, self.in_span = now, self.since_first
        return 0, ""

    async def route(self, path: str, body: bytes) -> tuple[int, Any]:
        # In the Bot API's envelope: the bot's own request (bot/telegram/request.py)
        # refuses any other answer.
        if path == "/stats":
            stats = {
                "accepted": self.accepted,
                "refused": self.refused,
                "peak_per_second": self.peak,
                "first": self.first,
                "sending_s": (self.last or 0.0) - (self.first or 0.0),
                "in_span": self.in_span,
            }
            return 200, {"ok": True, "result": stats}
        if path == "/reset":
            self.reset()
            return 200, {"ok": True, "result": True}
        method = path.rsplit("/", 1)[-1]
        params = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        await asyncio.sleep(self.latency)
        if method == "getMe":
            result: Any = {
                "id": 5_000_001,
                "is_bot": True,
                "first_name": "Thi Đua Bot",
                "username": "thidua_bench_bot",
            }
            return 200, {"ok": True, "result": result}
        if method.startswith("send"):
            chat_id = int(params["chat_id"])
            retry_after, limit = self.admit(chat_id, time.monotonic())
            if retry_after:
                self.refused[limit] += 1
                return 429, {
                    "ok": False,
                    "error_code": 429,
                    "description": f"Too Many Requests: retry after {retry_after}",
                    "parameters": {"retry_after": retry_after},
                }
            result = {
                "message_id": next(self.message_ids),
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
                "text": params.get("text", ""),
            }
            return 200, {"ok": True, "result": result}
        return 200, {"ok": True, "result": True}

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                _verb, target, _version = line.decode("latin-1").split(" ", 2)
                length = 0
                while True:
                    header = await reader.readline()
                    if header in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = header.decode("latin-1").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                body = await reader.readexactly(length) if length else b""
                status, payload = await self.route(target.split("?", 1)[0], body)
                data = json.dumps(payload).encode()
                reason = {200: "OK", 429: "Too Many Requests"}.get(status, "Error")
                head = (
                    f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(data)}\r\n\r\n"
                )
                writer.write(head.encode() + data)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


async def serve(latency: float) -> None:
    """The stand-in's process: print the port, serve until stdin closes."""
    stand_in = StandIn(latency)
    server = await asyncio.start_server(stand_in.handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    server.close()
    await server.wait_closed()


# ------------------------------------------------------------------ the bot side


async def prepare(url: str, officers: int) -> None:
    """Cụm 6 imported, and `officers` officers spread over its six units."""
    await seed_officers(url, "telegram", [str(OFFICER_BASE + i) for i in range(officers)])


_ids = itertools.count(1)


def help_update(app: ThiduaApp, user_id: int) -> Update:
    person = {"id": user_id, "is_bot": False, "first_name": "Người hỏi", "language_code": "vi"}
    data = {
        "update_id": next(_ids),
        "message": {
            "message_id": next(_ids),
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private", "first_name": "Người hỏi"},
            "from": person,
            "text": "/help",
            "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
        },
    }
    return Update.de_json(data, app.bot)


async def ask(app: ThiduaApp, n: int) -> float:
    started = time.perf_counter()
    await app.process_update(help_update(app, PROBE_BASE + n % PROBE_USERS))
    return (time.perf_counter() - started) * 1000


async def probe(
    app: ThiduaApp, done: asyncio.Event, samples: list[float], asked: list[float]
) -> None:
    """A person talking to the bot while the batch goes out: /help every half second."""
    for n in range(MAX_PROBES):
        if done.is_set():
            return
        asked.append(time.monotonic())
        samples.append(await ask(app, n))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), 0.5)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


async def stats(app: ThiduaApp, base: str) -> dict[str, Any]:
    request = app.bot.request
    _, body = await request.do_request(f"{base}/stats", "POST")
    found: dict[str, Any] = json.loads(body)["result"]
    return found


async def main(count: int, latency_ms: float, db: str | None) -> None:
    folder = Path(tempfile.mkdtemp(prefix="thidua-bench-"))
    url = db or f"sqlite+aiosqlite:///{folder / 'bench.db'}"
    say(f"preparing {count} officers in {url.split('://')[0]} …")
    await prepare(url, count)

    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.bench_fanout",
        "--serve",
        "--latency-ms",
        str(latency_ms),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert server.stdout is not None and server.stdin is not None
    port = int((await server.stdout.readline()).decode().strip())
    base = f"http://127.0.0.1:{port}"
    say(f"Bot API stand-in on {base} (latency {latency_ms:g} ms, 30/s, 1/s per chat)")
    try:
        settings = Settings.model_validate(
            {
                "database": {"url": url, "migrate_on_start": False},
                "telegram": {
                    "token": "123456:BENCH",
                    "base_url": f"{base}/bot",
                    "base_file_url": f"{base}/file/bot",
                    "bot_username": "thidua_bench_bot",
                },
                "app": {"storage_dir": str(folder / "storage")},
            }
        )
        app = build_application(settings, clock=lambda: BATCH_AT)
        await app.initialize()
        assert app.post_init is not None
        await app.post_init(app)
        try:
            await run(app, base, count, latency_ms)
        finally:
            assert app.post_shutdown is not None
            await app.post_shutdown(app)
            await app.shutdown()
    finally:
        server.stdin.close()
        try:
            await asyncio.wait_for(server.wait(), 10)
        except TimeoutError:
            server.terminate()
            await server.wait()


async def run(app: ThiduaApp, base: str, count: int, latency_ms: float) -> None:
    idle = [await ask(app, n) for n in range(PROBE_USERS)]
    await app.bot.request.do_request(f"{base}/reset", "POST")

    say(f"sending {count} reminders …")
    samples: list[float] = []
    asked: list[float] = []  # when each was asked, on the stand-in's clock
    done = asyncio.Event()
    prober = asyncio.create_task(probe(app, done, samples, asked))
    started = time.perf_counter()
    started_at = time.monotonic()  # the stand-in's clock too (one per machine)
    result = await delivery.run_tick(app.bot_data)
    wall = time.perf_counter() - started
    done.set()
    await prober
    server_stats = await stats(app, base)
    refused = server_stats["refused"]
    too_many = sum(refused.values())
    minimum = count / GLOBAL_PER_S
    say(
        f"sent {result.sent}/{result.planned} in {wall:.1f} s (minimum {minimum:.1f} s); "
        f"429s: {too_many} {refused}; peak {server_stats['peak_per_second']}/s"
    )
    case = f"{count} reminders, {count} private chats"
    limit_note = "stand-in: 30/s overall, 1/s per chat, 20/min per group"
    emit(case, "wall_s", wall, "s", f"theoretical minimum at 30/s: {minimum:g} s")
    emit("theoretical minimum (count / 30 per s)", "wall_s", minimum, "s", "baseline")
    # Replies share the 30/s: the messages the stand-in accepted from the batch's first to
    # its last (replies included) cannot take less than this at 30 in any second.
    in_span = server_stats["in_span"]
    sending_floor = (in_span - 1) // GLOBAL_PER_S
    emit(
        case,
        "sending_s",
        server_stats["sending_s"],
        "s",
        f"the batch's first to last message at the stand-in; minimum for the {in_span} "
        f"messages (batch and replies) it accepted meanwhile: {sending_floor} s",
    )
    emit("minimum for batch and replies in that span", "sending_s", sending_floor, "s", "baseline")
    before = server_stats["first"] - started_at if server_stats["first"] else 0.0
    emit(case, "before_first_s", before, "s", "planning and the first claims")
    emit(case, "throughput", result.sent / wall, "1/s", "Telegram's limit: 30/s")
    emit(case, "sent", result.sent, "count", f"of {result.planned} planned; each once")
    emit(case, "http_429", too_many, "count", f"{limit_note}; by limit: {refused}")
    emit(case, "peak_per_second", server_stats["peak_per_second"], "count", limit_note)
    during = f"{len(samples)} /help replies during the batch"
    idle_note = f"bot idle: p50 {statistics.median(idle):.1f} ms"
    emit(during, "p50_ms", percentile(samples, 0.5), "ms", idle_note)
    emit(
        during,
        "p99_ms",
        percentile(samples, 0.99),
        "ms",
        f"bot idle: p99 {percentile(idle, 0.99):.1f} ms",
    )
    # Those asked while the batch's messages were going out (not while it was planned).
    first = server_stats["first"] or 0.0
    end = first + server_stats["sending_s"]
    sending = [ms for at, ms in zip(asked, samples, strict=True) if first <= at <= end]
    if sending:
        what = f"{len(sending)} /help replies while the batch's messages went out"
        emit(what, "p50_ms", percentile(sending, 0.5), "ms", idle_note)
        idle_p99 = f"bot idle: p99 {percentile(idle, 0.99):.1f} ms"
        emit(what, "p99_ms", percentile(sending, 0.99), "ms", idle_p99)
    emit(f"{len(idle)} /help replies, bot idle", "p50_ms", percentile(idle, 0.5), "ms", "baseline")
    emit(f"{len(idle)} /help replies, bot idle", "p99_ms", percentile(idle, 0.99), "ms", "baseline")
    emit(case, "stand_in_latency", latency_ms, "ms", "per request, like Telegram's round trip")

    # The same size of batch with nobody asking meanwhile: only the pacing against 30/s.
    await app.bot.request.do_request(f"{base}/reset", "POST")
    say(f"sending {count} reminders with no replies meanwhile …")
    started = time.perf_counter()
    quiet = await delivery.run_tick(app.bot_data, QUIET_BATCH_AT)
    wall = time.perf_counter() - started
    server_stats = await stats(app, base)
    too_many = sum(server_stats["refused"].values())
    say(f"sent {quiet.sent}/{quiet.planned} in {wall:.1f} s; 429s: {too_many}")
    alone = f"{count} reminders, no replies meanwhile"
    emit(alone, "wall_s", wall, "s", f"theoretical minimum at 30/s: {minimum:g} s")
    emit(alone, "sent", quiet.sent, "count", f"of {quiet.planned} planned; each once")
    emit(alone, "http_429", too_many, "count", limit_note)


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 reminders instead of 3,000")
    parser.add_argument("--latency-ms", type=float, default=40.0)
    parser.add_argument("--db", help="a database URL (default: a fresh SQLite file)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.latency_ms / 1000))
        return
    os.environ.setdefault("PTB_TIMEDELTA", "true")  # RetryAfter as a timedelta, no warning
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    asyncio.run(main(300 if args.quick else 3000, args.latency_ms, args.db))


if __name__ == "__main__":
    cli()
