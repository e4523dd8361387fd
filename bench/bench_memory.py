"""Memory and start-up of the real bot process, next to a bare PTB echo bot in the same run.

    .venv/bin/python -m bench.bench_memory [--quick]

Each process is started as in production (`thidua run`, long polling) against a stand-in
Bot API server on 127.0.0.1 (bench/_botkit.py). Figures:
- start-up: from the process launch to its first getUpdates (imports, settings, getMe,
  the migration check; the command menus go out alongside it), on a migrated database and
  on an empty one;
- RSS when idle (3 s after start-up) and the peak RSS (VmHWM) after handling N one-line
  reports, read from /proc (Linux);
- the peak RSS after the chair's /bxh, /tonghop and /xuat on the nationwide-size database
  of bench_scale (1,000 clusters, 3.84 million reports; --quick: 20 clusters);
- replies per second through the whole process, which PTB's AIORateLimiter holds to
  Telegram's 30 messages/s in the bot (the echo bot has no limiter).

Our own modules are byte-compiled first, as an install compiles them (and as the
site-packages both processes import already are): with PYTHONDONTWRITEBYTECODE set, as in
some development shells, the bot would otherwise compile ~80 source files at every start
and the figure would measure the compiler, not the start-up.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._botkit import REPO, TOKEN, StandIn, emit, progress, seed_sync, text_update

BENCH = "memory"
OFFICER = 4343
IDLE_S = 3.0
THIDUA = str(Path(sys.executable).with_name("thidua"))


def rss_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of a process in MB, from /proc/<pid>/status."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("THIDUA_")}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


def _start(cmd: list[str], env: dict[str, str], folder: Path) -> subprocess.Popen[bytes]:
    log = (folder / "process.log").open("wb")
    try:
        return subprocess.Popen(cmd, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
    finally:
        log.close()


def _stop(process: subprocess.Popen[bytes], folder: Path) -> None:
    """SIGTERM; then refuse figures from a run whose log shows an error."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log = (folder / "process.log").read_text(encoding="utf-8", errors="replace")
    errors = [line for line in log.splitlines() if " ERROR " in line or "Traceback" in line]
    if errors or process.returncode != 0:
        raise RuntimeError(f"the process failed (exit {process.returncode}): {errors[:3]}")


def measure(case: str, cmd: list[str], env: dict[str, str], folder: Path, n: int) -> None:
    with StandIn() as api:
        env = {**env, "THIDUA_TELEGRAM__BASE_URL": f"{api.url}/bot"}
        env["BENCH_BASE_URL"] = f"{api.url}/bot"
        began = time.perf_counter()
        process = _start(cmd, env, folder)
        try:
            if not api.wait(lambda: api.first_get_updates is not None, timeout=120):
                raise RuntimeError(f"{case}: no getUpdates within 120 s; see {folder}")
            assert api.first_get_updates is not None
            startup = api.first_get_updates - began
            time.sleep(IDLE_S)  # let start-up work (first scheduler tick) settle
            idle, idle_peak = rss_mb(process.pid)
            before = api.replies
            updates = [text_update(OFFICER, f"/baocao 1.1.3 {80 + i % 20}") for i in range(n)]
            fed = time.perf_counter()
            api.feed(updates)
            if not api.wait(lambda: api.replies - before >= n, timeout=n / 5 + 60):
                raise RuntimeError(f"{case}: only {api.replies - before}/{n} replies; {folder}")
            rate = n / (time.perf_counter() - fed)
            _, peak = rss_mb(process.pid)
        finally:
            _stop(process, folder)
    note = "vs echo_bot" if case != "echo_bot" else "bare PTB echo bot: the floor"
    emit(BENCH, case, "startup_to_first_getUpdates", startup, "s", note)
    emit(BENCH, case, "rss_idle", idle, "MB", note)
    emit(BENCH, case, "peak_rss_idle", idle_peak, "MB", note)
    emit(BENCH, case, f"peak_rss_after_{n}_updates", peak, "MB", note)
    emit(BENCH, case, "replies_per_s", rate, "1/s", note + "; the bot's rate limiter caps 30/s")
    progress(
        f"  {case}: start-up {startup:.2f} s, idle {idle:.0f} MB, peak after {n} updates "
        f"{peak:.0f} MB, {rate:.0f} replies/s"
    )


def startup_only(case: str, cmd: list[str], env: dict[str, str], folder: Path) -> None:
    with StandIn() as api:
        env = {**env, "THIDUA_TELEGRAM__BASE_URL": f"{api.url}/bot"}
        began = time.perf_counter()
        process = _start(cmd, env, folder)
        try:
            if not api.wait(lambda: api.first_get_updates is not None, timeout=120):
                raise RuntimeError(f"{case}: no getUpdates within 120 s; see {folder}")
            assert api.first_get_updates is not None
            startup = api.first_get_updates - began
        finally:
            _stop(process, folder)
    emit(BENCH, case, "startup_to_first_getUpdates", startup, "s", "migrates an empty database")
    progress(f"  {case}: start-up {startup:.2f} s")


async def _scale_db(url: str, clusters: int, officer: int) -> None:
    """bench_scale's database, and a chair officer of its middle cluster."""
    from sqlalchemy import select

    from bench.bench_scale import NOW, generate
    from models.db import create_engine, session_factory
    from models.migrate import upgrade
    from models.tables import Cluster, Membership, Role, Unit
    from services import invites, onboarding
    from services.addresses import Address

    engine = create_engine(url)
    try:
        await upgrade(engine)
        await generate(engine, clusters)
        code = f"CUM-{max(1, clusters // 2):04d}"
        async with session_factory(engine)() as session:
            chair = await session.scalar(
                select(Unit.code)
                .join(Membership, Membership.unit_id == Unit.id)
                .join(Cluster, Cluster.id == Membership.cluster_id)
                .where(Cluster.code == code, Membership.role == Role.CHAIR)
            )
            assert chair is not None
            [issued] = await invites.create_invites(
                session,
                cluster_code=code,
                unit_code=chair,
                now=NOW,
                days=365,
                max_uses=None,
                actor="bench",
            )
            person = onboarding.Person(
                address=Address("telegram", str(officer)), full_name="Cụm trưởng", username=None
            )
            await onboarding.join(session, person, issued.token, NOW)
    finally:
        await engine.dispose()


def measure_scale(env: dict[str, str], folder: Path, clusters: int) -> None:
    url = f"sqlite+aiosqlite:///{folder / 'scale.db'}"
    progress(f"  generating bench_scale's database: {clusters} clusters")
    asyncio.run(_scale_db(url, clusters, OFFICER + 1))
    env = {**env, "THIDUA_DATABASE__URL": url}
    # /bxh answers with the table and the chart, /tonghop with one message, /xuat a file.
    asks = ["/bxh", "/tonghop", "/xuat"]
    with StandIn() as api:
        env["THIDUA_TELEGRAM__BASE_URL"] = f"{api.url}/bot"
        process = _start([THIDUA, "run"], env, folder)
        try:
            if not api.wait(lambda: api.first_get_updates is not None, timeout=120):
                raise RuntimeError(f"scale: no getUpdates within 120 s; see {folder}")
            time.sleep(IDLE_S)
            idle, _ = rss_mb(process.pid)
            began = time.perf_counter()
            api.feed([text_update(OFFICER + 1, ask) for ask in asks])
            want = {"sendMessage": 2, "sendPhoto": 1, "sendDocument": 1}
            if not api.wait(lambda: all(api.sent[m] >= n for m, n in want.items()), 300):
                raise RuntimeError(f"scale: got {dict(api.sent)}, want {want}; see {folder}")
            took = time.perf_counter() - began
            _, peak = rss_mb(process.pid)
        finally:
            _stop(process, folder)
    note = f"{clusters} clusters; vs thidua_run on the example cluster"
    emit(BENCH, "thidua_run_scale", "rss_idle", idle, "MB", note)
    emit(BENCH, "thidua_run_scale", "peak_rss_after_bxh_tonghop_xuat", peak, "MB", note)
    emit(BENCH, "thidua_run_scale", "bxh_tonghop_xuat_wall", took, "s", "through the process")
    progress(f"  thidua_run_scale: idle {idle:.0f} MB, peak {peak:.0f} MB, {took:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer updates (a smoke run)")
    args = parser.parse_args()
    n = 60 if args.quick else 600
    if not Path("/proc/self/status").is_file():
        progress("memory: needs Linux /proc; skipped")
        return
    progress(f"memory and start-up: real processes, {n} one-line reports each")
    for package in ("bot", "handlers", "services", "models", "bench"):
        compileall.compile_dir(REPO / package, quiet=1)
    with tempfile.TemporaryDirectory(prefix="thidua-bench-") as tmp:
        folder = Path(tmp)
        url = f"sqlite+aiosqlite:///{folder / 'bench.db'}"
        seed_sync(url, OFFICER)
        base = {
            "THIDUA_DATABASE__URL": url,
            "THIDUA_TELEGRAM__TOKEN": TOKEN,
            "THIDUA_TELEGRAM__BOT_USERNAME": "bench_bot",
            "THIDUA_APP__STORAGE_DIR": str(folder / "storage"),
            "THIDUA_APP__LOG_LEVEL": "WARNING",
        }
        echo = [sys.executable, "-m", "bench.echo_bot"]
        measure("echo_bot", echo, _env({"PYTHONPATH": str(REPO)}), folder, n)
        measure("thidua_run", [THIDUA, "run"], _env(base), folder, n)
        fresh = {**base, "THIDUA_DATABASE__URL": f"sqlite+aiosqlite:///{folder / 'fresh.db'}"}
        startup_only("thidua_run_empty_db", [THIDUA, "run"], _env(fresh), folder)
        measure_scale(_env(base), folder, 20 if args.quick else 1000)


if __name__ == "__main__":
    main()
