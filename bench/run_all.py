"""Run every benchmark (bench/bench_*.py) and print one table.

    .venv/bin/python -m bench.run_all [--quick] [--only NAME ...] [--json FILE]

Each bench runs in its own process (`python -m bench.bench_<name>`), so one cannot skew
another's memory or start-up figures; its progress goes to stderr as it runs and its JSON
lines (one figure each) are collected. A bench that fails is reported at the end and makes
the exit status 1; the others still run.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import goals

BENCH_DIR = Path(__file__).resolve().parent
COLUMNS = ("bench", "case", "metric", "value", "unit", "note")


# Those that write millions of rows run last: for a while after them the disk is still
# flushing and PostgreSQL checkpointing, and a bench of latencies run then measured that
# (the one-line report's throughput was about a fifth lower right after `scale`).
LAST = ("memory", "midyear", "scale")


def discover() -> list[str]:
    names = sorted(p.stem.removeprefix("bench_") for p in BENCH_DIR.glob("bench_*.py"))
    return sorted(names, key=lambda name: LAST.index(name) + 1 if name in LAST else 0)


def run(name: str, quick: bool) -> tuple[list[dict[str, Any]], str | None]:
    """The figures a bench printed, and an error message if it failed."""
    cmd = [sys.executable, "-m", f"bench.bench_{name}", *(["--quick"] if quick else [])]
    print(f"== {name}: {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
    began = time.perf_counter()
    done = subprocess.run(cmd, cwd=BENCH_DIR.parent, stdout=subprocess.PIPE, text=True, check=False)
    rows, error = [], None
    for line in done.stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            error = f"not JSON: {line[:80]}"
            continue
        if set(row) >= set(COLUMNS) - {"note"}:
            rows.append(row)
    if done.returncode != 0:
        error = f"exit status {done.returncode}"
    elif not rows:
        error = "printed no figures"
    print(f"== {name}: {time.perf_counter() - began:.1f} s", file=sys.stderr, flush=True)
    return rows, error


def _value(value: Any) -> str:
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:.2f}"
        return f"{value:.4f}"
    return str(value)


def table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table (readable as plain text, pasteable into docs/performance.md)."""
    cells = [[_value(r.get(c, "")) for c in COLUMNS] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(COLUMNS)]

    def line(values: list[str]) -> str:
        padded = [
            v.rjust(w) if COLUMNS[i] == "value" else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join(
            "-" * (w + 1) + ":" if c == "value" else "-" * (w + 2)
            for c, w in zip(COLUMNS, widths, strict=True)
        )
        + "|"
    )
    return "\n".join([line(list(COLUMNS)), rule, *(line(row) for row in cells)])


def machine() -> str:
    cores = len(__import__("os").sched_getaffinity(0))
    return f"{platform.platform()}, {cores} cores, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--only", nargs="+", metavar="NAME", help=f"some of: {discover()}")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args()
    names = args.only or discover()
    unknown = sorted(set(names) - set(discover()))
    if unknown:
        parser.error(f"unknown bench {unknown}; there are {discover()}")
    all_rows: list[dict[str, Any]] = []
    failures: list[str] = []
    for name in names:
        rows, error = run(name, args.quick)
        all_rows += rows
        if error:
            failures.append(f"{name}: {error}")
    print(f"\nMachine: {machine()}{' (quick run)' if args.quick else ''}\n")
    print(table(all_rows))
    print(
        "\nThe goals of issue 13 (bench/goals.py)" + (", at the quick sizes" if args.quick else "")
    )
    print()
    print(goals.table(all_rows))
    if args.json:
        args.json.write_text(json.dumps(all_rows, indent=1, ensure_ascii=False), "utf-8")
    if failures:
        print("\nFailed: " + "; ".join(failures), file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
