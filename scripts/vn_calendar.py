"""Write services/vn_calendar.json: Viet Nam's holidays and swapped working days, as the
installed `holidays` computes them, for the years the bot plans reminders in.

    .venv/bin/python -m scripts.vn_calendar

Run it after upgrading `holidays` (tests/unit/test_vn_calendar.py says when): the bot reads
the file instead of loading the library (services/workdays.py, CALENDAR_FILE).
"""

from __future__ import annotations

import json
from importlib.metadata import version

from services.workdays import CALENDAR_FILE, from_library

YEARS = range(2020, 2036)


def calendar() -> dict[str, object]:
    years = {}
    for year in YEARS:
        off, worked = from_library(year)
        years[str(year)] = {
            "off": sorted(d.isoformat() for d in off),
            "worked": sorted(d.isoformat() for d in worked),
        }
    return {"holidays": version("holidays"), "years": years}


def main() -> None:
    CALENDAR_FILE.write_text(json.dumps(calendar(), indent=1) + "\n", encoding="utf-8")
    print(f"{CALENDAR_FILE}: {len(YEARS)} years, holidays {version('holidays')}")


if __name__ == "__main__":
    main()
