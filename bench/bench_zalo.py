"""A reminder batch to officers on Zalo, paced at our configured limit, against the stand-in.

The stand-in Zalo Bot API (tests/zalo/standin.py, real HTTP on 127.0.0.1) answers 429
"Quota exceeded" above `--standin-limit` sends per second. The real core — ledger on SQLite,
planner, paced sender, ZaloChannel on our httpx client — sends Cụm 6's "3 days before"
reminder to `--officers` officers (default 300; `--quick`: 60), each in their own Zalo chat,
at `zalo.per_second` (default 10/s).

Printed (one JSON object per line): the batch's wall time next to its floor at the
configured pace (officers / per_second) and next to the same sends made raw, unpaced,
through the client (what the machine and the stand-in can do); the count of 429s; and how
many messages each officer got (each exactly once, or the bench fails).

    .venv/bin/python -m bench.bench_zalo [--quick] [--officers N] [--per-second R]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from bench._botkit import seed_officers
from bot.zalo.channel import ZaloChannel, ZaloPacing
from bot.zalo.client import ZaloClient
from handlers import delivery
from handlers.core import Core
from models.db import create_engine, session_factory
from tests.zalo.standin import ZaloStandin

BENCH = "zalo"
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "cum6-stc-2024.toml"
HCM = ZoneInfo("Asia/Ho_Chi_Minh")
SEEDED_AT = datetime(2024, 5, 10, 3, 0, tzinfo=UTC)
BATCH_AT = datetime(2024, 7, 2, 8, 5, tzinfo=HCM)  # Cụm 6's "3 days before" Q2 reminder
TOKEN = "4455:bench-zalo-token"


def emit(case: str, metric: str, value: float, unit: str, note: str = "") -> None:
    row: dict[str, Any] = {"bench": BENCH, "case": case, "metric": metric}
    row |= {"value": round(value, 4), "unit": unit}
    if note:
        row["note"] = note
    print(json.dumps(row, ensure_ascii=False), flush=True)


def zalo_id(i: int) -> str:
    return f"zbench{i:05d}"


def first_contact(standin_url: str, officers: int) -> None:
    """Every officer writes to the bot once: Zalo lets a bot write only to who wrote first."""
    with httpx.Client(base_url=standin_url, timeout=10.0) as http:
        for i in range(officers):
            http.post("/_test/inject", json={"user_id": zalo_id(i), "text": "xin chào"})


async def raw_floor(standin_url: str, officers: int) -> float:
    """The same number of sends, unpaced, straight through the client."""
    async with ZaloClient(TOKEN, standin_url) as client:
        began = time.perf_counter()
        for i in range(officers):
            await client.send_message(zalo_id(i), "floor")
        return time.perf_counter() - began


async def batch(url: str, standin_url: str, per_second: float) -> delivery.BatchResult:
    engine = create_engine(url)
    client = ZaloClient(TOKEN, standin_url)
    core = Core(sessions=session_factory(engine), clock=lambda: BATCH_AT)

    async def no_publish(content: bytes, filename: str, mime: str) -> str:
        raise AssertionError("a reminder has no picture")

    pacing = ZaloPacing(per_second=per_second, private_gap=1.0, ceiling_per_second=per_second)
    core.channels.add(ZaloChannel(client, no_publish, max_download=1, pacing=pacing))
    try:
        return await delivery.run_tick(core, BATCH_AT, catch_up=False)
    finally:
        await client.aclose()
        await engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--officers", type=int, default=None)
    parser.add_argument("--per-second", type=float, default=10.0, help="zalo.per_second")
    parser.add_argument("--standin-limit", type=float, default=12.0)
    args = parser.parse_args()
    officers = args.officers or (60 if args.quick else 300)
    logging.basicConfig(level=logging.WARNING)

    standin = ZaloStandin(TOKEN, rate_limit_per_second=None).start()
    try:
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
            asyncio.run(seed_officers(url, "zalo", [zalo_id(i) for i in range(officers)]))
            first_contact(standin.url, officers)
            raw = asyncio.run(raw_floor(standin.url, officers))
            with httpx.Client(base_url=standin.url) as http:
                http.post("/_test/reset", json={})
                first_contact(standin.url, officers)
                http.post("/_test/config", json={"rate_limit_per_second": args.standin_limit})
            began = time.perf_counter()
            result = asyncio.run(batch(url, standin.url, args.per_second))
            wall = time.perf_counter() - began
            with httpx.Client(base_url=standin.url) as http:
                sent = http.get("/_test/sent").json()["result"]
                stats = http.get("/_test/stats").json()["result"]
    finally:
        standin.stop()

    per_chat = Counter(m["chat_id"] for m in sent if m["method"] == "sendMessage")
    floor = officers / args.per_second
    emit("batch", "messages", officers, "count", f"{args.per_second:g}/s configured")
    emit("batch", "wall", wall, "s", f"floor at the configured pace {floor:.1f} s")
    emit("batch", "floor_paced", floor, "s", "officers / zalo.per_second")
    emit("batch", "floor_raw", raw, "s", "the same sends unpaced, same run")
    emit("batch", "ratio_to_paced_floor", wall / floor, "x")
    emit("batch", "sent_per_second", result.sent / wall, "msg/s")
    emit("batch", "rate_limited_429", stats["rate_limited"], "count",
         f"stand-in limit {args.standin_limit:g}/s")  # fmt: skip
    emit("batch", "officers_messaged_once", sum(1 for n in per_chat.values() if n == 1), "count")
    twice = sum(1 for n in per_chat.values() if n > 1)
    missing = officers - len(per_chat)
    emit("batch", "duplicates", twice, "count")
    emit("batch", "missing", missing, "count")
    if twice or missing or result.sent != officers:
        print(f"FAIL: sent {result.sent}, duplicates {twice}, missing {missing}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
