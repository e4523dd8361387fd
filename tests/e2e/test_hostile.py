"""Hostile use of the real `thidua run` over HTTP: two clusters, every role, junk, overlong
and control-character text, markup, forged and stale button data and files without
captions, sent through the Bot API emulator one after another, as people would.

Counted for every input (the rows of issue 12's table): the generic internal-error reply,
no answer at all, a message Telegram would refuse (over 4,096 characters), an unhandled
exception in the bot's log. Each must be zero. The walk is seeded and bounded
(HOSTILE_INPUTS, default 300 per database; the closing note's figures come from a longer
run of the same test with HOSTILE_INPUTS=3000).
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES
from tests.e2e.harness import (
    BotProcess,
    Emulator,
    Person,
    Reply,
    bot_env,
    bot_token,
    files_sent,
    seed_cluster,
)

pytestmark = pytest.mark.e2e

SEED = 12_2026
INPUTS = int(os.environ.get("HOSTILE_INPUTS", "300"))
INTERNAL_ERROR = "Có lỗi xảy ra"
TELEGRAM_LIMIT = 4096
ANSWER_WAIT_S = 8.0

WORDS = ["", "x", "0", "-1", "1,5", "105", "có", "=", "99999999999999999999", "1e309", "NaN",
         "1.1.1", "1.2.1", "9.9", "Q2", "Q5", "H1", "N", "2024", "STC-PYEN", "STC-NOPE",
         "CUM6-STC", "KHOI-TW-TNINH", "<b>x</b>", "<i>", "&amp;", "a&b<c", "\x00\x1b[31m",
         "=HYPERLINK(\"http://x\",\"y\")", "@SUM(A1)", "😀" * 30, "a" * 5000, "\n\n",
         "vi", "en", "zalo", "auto", "1234 5678"]  # fmt: skip
SEGMENTS = ["", "0", "1", "-1", "x", "N", "y", "Q2", "1.1.1", "2024", "ok", "no", "done",
            "skip", "có", "99999999999999999999", "a" * 50]  # fmt: skip
HEADS = ["rg", "rc", "rp", "rpp", "rb", "rx", "rr", "rnow", "rv", "re", "rn", "rk", "pg",
         "tvu", "tvb", "tvp", "tvc", "tvk", "tva", "tvx", "tvr", "tvok", "yc", "yx", "hoc",
         "hov", "hok", "hox", "lang", "ch", "lk", "zz"]  # fmt: skip
COMMANDS = ["start", "help", "baocao", "report", "tiendo", "lichsu", "cancel", "bxh",
            "tonghop", "thamdinh", "giaitrinh", "xuat", "ketthucnam", "bangiao", "nhacnho",
            "hanchot", "whoami", "lang", "kenh", "lienket", "linkgroup", "bophieu", "bienban",
            "totrinh"]  # fmt: skip


def _press(person: Person, data: str, under: Reply | None) -> None:
    """A callback query with any data (forged or stale), under the bot's last message."""
    message_id = under.message_id if under else 1
    body = {
        "from": person._from(),
        "data": data,
        "message": {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": person._chat(),
            "from": {"id": 666, "is_bot": True, "first_name": "Bot"},
            "text": under.text if under else "…",
        },
        "botToken": person.token,
    }
    person.emulator.post("/sendCallback", body)


def _answers(person: Person, before: int, folder: Path, files_before: int) -> list[Reply] | None:
    """The texts the bot answered with; [] when it answered with a file only (the emulator
    shows no files: they are in FixingRequest's outbox); None for no answer at all."""
    deadline = time.monotonic() + ANSWER_WAIT_S
    while time.monotonic() < deadline:
        person.fetch()
        if len(person.seen) > before:
            time.sleep(0.15)  # a second message of the same answer (a board's chart)
            person.fetch()
            return person.seen[before:]
        if len(files_sent(folder, person.user_id)) > files_before:
            return []
        time.sleep(0.02)
    return None


def test_hostile_input_over_http_gets_an_answer_and_never_an_internal_error(
    emulator: Emulator, e2e_db_url: str, tmp_path: Path
) -> None:
    token = bot_token("hostile")
    admin_id = 9901
    env = bot_env(
        db_url=e2e_db_url, token=token, emulator=emulator, folder=tmp_path, admins=[admin_id]
    )
    cum6 = seed_cluster(e2e_db_url, EXAMPLES / "cum6-stc-2024.toml", "CUM6-STC")
    tayninh = seed_cluster(e2e_db_url, EXAMPLES / "khoi-tw-tayninh.toml", "KHOI-TW-TNINH")
    # In the example clusters' year (Bình Định merges away later), on a working day.
    clock = {"E2E_CLOCK": "2024-05-10T10:00:00+07:00"}
    bot = BotProcess("hostile", ["run"], {**env, **clock}, tmp_path)
    bot.start()
    counts: Counter[str] = Counter()
    examples: dict[str, str] = {}
    try:
        bot.wait_polling()
        people = [
            Person(emulator, token, 9902, "Cán bộ Bình Định"),
            Person(emulator, token, 9903, "Cụm trưởng"),
            Person(emulator, token, 9904, "Cụm phó"),
            Person(emulator, token, 9905, "Khối Tây Ninh"),
            Person(emulator, token, 9906, "Người lạ"),
            Person(emulator, token, admin_id, "Quản trị"),
        ]
        joins = [cum6["STC-BDINH"], cum6["STC-QNAM"], cum6["STC-QNGAI"]]
        joins.append(next(iter(tayninh.values())))
        for person, invite in zip(people, joins, strict=False):
            person.ask(f"/start {invite}", "Chào mừng")
        rng = random.Random(SEED)
        for step in range(INPUTS):
            person = rng.choice(people)
            before = len(person.seen)
            files_before = len(files_sent(tmp_path, person.user_id))
            last = person.seen[-1] if person.seen else None
            kind = rng.random()
            if kind < 0.4:
                args = [rng.choice(WORDS) for _ in range(rng.randint(0, 3))]
                what = " ".join([f"/{rng.choice(COMMANDS)}", *args]).strip()
                person.say(what)
            elif kind < 0.6 and last is not None and last.buttons():
                what = rng.choice(last.buttons())
                _press(person, what, last)
            elif kind < 0.8:
                parts = [rng.choice(SEGMENTS) for _ in range(rng.randint(0, 4))]
                what = ":".join([rng.choice(HEADS), *parts])
                _press(person, what, last)
            else:
                what = rng.choice([w for w in WORDS if w.strip()])
                person.say(what)
            counts["inputs"] += 1
            replies = _answers(person, before, tmp_path, files_before)
            if replies is None:
                counts["no answer"] += 1
                examples.setdefault("no answer", f"#{step} {what[:80]!r}")
            for reply in replies or []:
                if INTERNAL_ERROR in reply.plain:
                    counts["internal error"] += 1
                    examples.setdefault("internal error", f"#{step} {what[:80]!r}")
    finally:
        assert bot.stop() == 0, bot.log_tail()

    too_long = [
        c
        for c in bot.calls("sendMessage")
        if len(str(c["params"].get("text", ""))) > TELEGRAM_LIMIT
    ]
    log = bot.log.read_text(encoding="utf-8")
    print(f"\nhostile walk: {dict(counts)}; too long: {len(too_long)}; examples: {examples}")
    assert counts["internal error"] == 0, examples
    assert counts["no answer"] == 0, examples
    assert too_long == []
    assert "Traceback" not in log, log[-3000:]
