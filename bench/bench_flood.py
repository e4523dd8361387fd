"""A flood: N officers of N units send a one-line report at the same instant, through the
real Application (bot.telegram.app.build_application, a SQLite file) fed through its update
queue as polling feeds it. Reply latency p50/p99 from that instant, next to the floor
measured in the same run: the same updates handled one after another, as before the
per-person processor (bot/telegram/updates.py).

    .venv/bin/python -m bench.bench_flood [--quick] [--rtt-ms 50]

Each Bot API call answers after `--rtt-ms` (Telegram's round trip from a server in Việt
Nam is some tens of ms): with a request that answers at once nothing would wait on I/O and
concurrency would have nothing to overlap. The production rate limiter (bot/telegram/
limits.py: at most 30 messages in any second, each counted until its answer is back) is
on, as in production, and off in a third case, to show its share: with it, N replies in
one second cannot all leave within a second. Its floor, printed first: the k-th reply
(k = ⌈0.99·N⌉) goes with the ⌊(k-1)/30⌋-th group of 30, each group one second plus a
round trip after the one before, and is answered a round trip later.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.request import RequestData

from bench._botkit import NOW, TOKEN, RecordingRequest, emit, percentile, progress, text_update
from bot.settings import Settings
from bot.telegram.app import ThiduaApp, build_application
from bot.telegram.limits import OVERALL_PER_SECOND
from tests.e2e.harness import cluster_toml

BENCH = "flood"
FIRST_ID = 9001
CODE = "FLOOD"


def _cluster(units: int) -> str:
    """The e2e tier's quiet one-period cluster, with `units` member units (001, 002, …)."""
    return cluster_toml(CODE, NOW.year, units=[f"{n:03d}" for n in range(1, units + 1)])


async def _seed(url: str, folder: Path, n: int) -> None:
    """Migrate, import an N-unit cluster, and join one officer per unit by invitation."""
    from models.db import create_engine, session_factory
    from models.migrate import upgrade
    from services import invites, onboarding
    from services.addresses import Address
    from services.cluster_file import load_cluster_file
    from services.clusters import import_cluster

    path = folder / "flood.toml"
    path.write_text(_cluster(n), encoding="utf-8")
    engine = create_engine(url)
    try:
        await upgrade(engine)
        async with session_factory(engine)() as session:
            await import_cluster(session, load_cluster_file(path), now=NOW)
            issued = await invites.create_invites(
                session,
                cluster_code=CODE,
                unit_code=None,
                now=NOW,
                days=365,
                max_uses=None,
                actor="bench",
            )
            tokens = {item.unit_code: item.token for item in issued}
            for i in range(n):
                address = Address("telegram", str(FIRST_ID + i))
                person = onboarding.Person(address=address, full_name="Cán bộ", username=None)
                await onboarding.join(session, person, tokens[f"{CODE}-{i + 1:03d}"], NOW)
    finally:
        await engine.dispose()


@dataclass
class SlowRequest(RecordingRequest):
    """Answers every call after a fixed round trip; notes when each chat got a message."""

    rtt: float = 0.05
    replied: dict[int, float] = field(default_factory=dict)

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
        if name != "getUpdates":
            await asyncio.sleep(self.rtt)
        answer = await super().do_request(url, method, request_data)
        if name == "sendMessage" and request_data is not None:
            chat = int(str(request_data.parameters.get("chat_id", 0)))
            self.replied.setdefault(chat, time.perf_counter())
        return answer


def _app(url: str, folder: Path, request: SlowRequest) -> ThiduaApp:
    settings = Settings.model_validate(
        {
            "database": {"url": url, "migrate_on_start": False},
            "telegram": {"token": TOKEN, "bot_username": "bench_bot"},
            "app": {"storage_dir": str(folder / "storage")},
        }
    )
    return build_application(settings, request=request, clock=lambda: NOW)


def _updates(n: int, value: int) -> Iterator[dict[str, Any]]:
    for i in range(n):
        yield text_update(FIRST_ID + i, f"/baocao 1.1 {value + i % 20}")


async def _case(
    case: str, url: str, folder: Path, n: int, rtt: float, *, concurrent: bool, limiter: bool
) -> None:
    request = SlowRequest(rtt=rtt)
    app = _app(url, folder, request)
    if not limiter:
        app.bot._rate_limiter = None
    await app.initialize()
    if app.post_init is not None:
        await app.post_init(app)
    await app.start()
    try:
        updates = [Update.de_json(data, app.bot) for data in _updates(n, 60)]
        request.replied.clear()
        began = time.perf_counter()
        if concurrent:
            for update in updates:
                app.update_queue.put_nowait(update)  # all at once, as one getUpdates brings
            await app.update_queue.join()
            processor = app.update_processor
            await processor.join()  # type: ignore[attr-defined]
        else:
            for update in updates:
                await app.process_update(update)  # one after another: the old way
        total = time.perf_counter() - began
    finally:
        await app.stop()
        await app.shutdown()
        if app.post_shutdown is not None:
            await app.post_shutdown(app)
    chats = {FIRST_ID + i for i in range(n)}
    assert chats <= set(request.replied), "every officer must be answered"
    latencies = [(request.replied[c] - began) * 1000 for c in chats]
    note = f"{n} reports at one instant, Bot API rtt {rtt * 1000:.0f} ms"
    emit(BENCH, case, "p50", percentile(latencies, 0.50), "ms", note)
    emit(BENCH, case, "p99", percentile(latencies, 0.99), "ms", note)
    emit(BENCH, case, "total", total * 1000, "ms", note)
    progress(
        f"  {case}: p50 {percentile(latencies, 0.5):,.0f} ms, "
        f"p99 {percentile(latencies, 0.99):,.0f} ms, all done in {total * 1000:,.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30 officers (a smoke run)")
    parser.add_argument("-n", type=int, default=None, help="officers (default 100)")
    parser.add_argument("--rtt-ms", type=float, default=50.0, help="Bot API round trip")
    args = parser.parse_args()
    n = args.n or (30 if args.quick else 100)
    rtt = args.rtt_ms / 1000
    progress(f"flood: {n} officers report at once, SQLite file, in-process Application")
    # The limiter alone: the 99th percentile reply cannot be answered before this,
    # however fast the bot is.
    groups = (math.ceil(0.99 * n) - 1) // OVERALL_PER_SECOND
    floor = (groups * (1 + rtt) + rtt) * 1000
    emit(BENCH, "rate_limit_floor", "p99", floor, "ms", "30 in any second, counted to the answer")
    with tempfile.TemporaryDirectory(prefix="thidua-bench-") as tmp:
        folder = Path(tmp)
        url = f"sqlite+aiosqlite:///{folder / 'flood.db'}"
        asyncio.run(_seed(url, folder, n))
        # Each case adds a version per unit; no two officers share a unit, so none compete.
        for case, concurrent, limiter in (
            ("sequential_floor", False, True),
            ("per_person_concurrent", True, True),
            ("per_person_concurrent_no_limiter", True, False),
        ):
            asyncio.run(_case(case, url, folder, n, rtt, concurrent=concurrent, limiter=limiter))


if __name__ == "__main__":
    main()
