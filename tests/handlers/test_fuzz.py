"""Hostile input, seeded and bounded: every command and button head of the router, with
junk, overlong, control-character and markup arguments, forged button data, free text and
files in every step, from every role, in private and in a group.

For each input the core must answer without an internal error (an exception out of
`handle`), send only well-formed HTML that quotes no long stretch of the user's input, and
change nothing when it refuses (the rows people reported stay as they were).
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

import pytest
from sqlalchemy import func, select

from handlers.core import Core, handle
from handlers.io import Attachment, Incoming, Text
from models.db import create_engine, session_factory
from models.tables import Draft, EvidenceFile, Explanation, Report, Review, YearResult
from services.addresses import Address
from services.cluster_file import load_cluster_file
from services.clusters import import_cluster
from services.onboarding import Person
from services.rehearsal import seat
from tests.conftest import EXAMPLES, IN_CI, NOW
from tests.handlers.conftest import Clock, RecordingChannel

SEED = 20261201
# Inputs per database: enough to walk into every step many times, bounded for CI.
INPUTS = 1500 if IN_CI else 600
QUOTE_LIMIT = 300  # no reply may repeat a longer stretch of what the user typed

OFFICER = Address("console", "fuzz-officer")
CHAIR = Address("console", "fuzz-chair")
VICE = Address("console", "fuzz-vice")
STRANGER = Address("console", "fuzz-stranger")
ADMIN = Address("console", "fuzz-admin")
GROUP = Address("console", "group-fuzz")
PEOPLE = [OFFICER, CHAIR, VICE, STRANGER, ADMIN]

HOSTILE = [
    "",
    "x",
    "0",
    "-1",
    "1,5",
    "105",
    "có",
    "không",
    "=",
    "99999999999999999999",
    "1e309",
    "NaN",
    "inf",
    "-0",
    "1.1.1",
    "1.1",
    "9.9",
    "Q1",
    "Q2",
    "Q5",
    "H1",
    "N",
    "2024",
    "2023",
    "1900",
    "STC-PYEN",
    "STC-QNAM",
    "STC-NOPE",
    "CUM6-STC",
    "cum6-stc",
    "KHOI-TW-TNINH",
    "<b>đậm</b>",
    "<script>alert(1)</script>",
    "&amp;&lt;",
    "a&b<c>d",
    "\x00\x1b[31m\x1f",
    '=HYPERLINK("http://x","y")',
    "=cmd|' /C calc'!A0",
    "+1",
    "@SUM(A1)",
    "😀" * 50,
    "Sở Tài chính tỉnh Bình Định",
    "a" * 5000,
    "ghi chú " * 700,
    "\n\n\n",
    "vi",
    "en",
    "fr",
    "telegram",
    "zalo",
    "auto",
    "1234 5678",
    "A" * 32,
]
SEGMENTS = ["", "0", "1", "2", "7", "-1", "x", "N", "y", "p", "Q2", "1.1.1", "1.2", "2024",
            "99999999999999999999", "ok", "no", "done", "skip", "có", "vi", "auto",
            "a" * 80]  # fmt: skip
FILES = [
    Attachment("document", "console:/q2.pdf", "u-doc", "Báo cáo.pdf", "application/pdf", 900),
    Attachment("photo", "console:/x.jpg", "u-photo", "u-photo.jpg", "image/jpeg", 1200),
    Attachment("document", "console:/big.bin", "u-big", "big.bin", None, 900 * 1024 * 1024),
    Attachment("document", "console:/evil", "u-evil", "=cmd|' /C calc'!A0\x00.pdf", None, 10),
    Attachment("document", "console:/long", "u-long", "tên dài " * 60 + ".docx", None, 10),
]  # fmt: skip


class _Tags(HTMLParser):
    """Fails on unbalanced or unknown tags (what Telegram's HTML parser refuses)."""

    ALLOWED: ClassVar[set[str]] = {"b", "i", "u", "s", "code", "pre", "a"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.bad: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.ALLOWED:
            self.bad.append(f"<{tag}>")
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.bad.append(f"</{tag}>")


def html_problems(body: str) -> list[str]:
    parser = _Tags()
    parser.feed(body)
    parser.close()
    return parser.bad + [f"unclosed <{t}>" for t in parser.stack]


def _longest_common_run(needle: str, haystack: str) -> int:
    """Length of the longest stretch of `needle` (≥ QUOTE_LIMIT) that appears in haystack."""
    if len(needle) <= QUOTE_LIMIT:
        return 0
    step = QUOTE_LIMIT // 2
    for start in range(0, len(needle) - QUOTE_LIMIT + 1, step):
        if needle[start : start + QUOTE_LIMIT] in haystack:
            return QUOTE_LIMIT
    return 0


@dataclass
class World:
    core: Core
    channel: RecordingChannel
    url: str


@pytest.fixture
async def world(db_url: str, tmp_path: Path) -> AsyncIterator[World]:
    engine = create_engine(db_url)
    async with session_factory(engine)() as session:
        await import_cluster(session, load_cluster_file(EXAMPLES / "cum6-stc-2024.toml"), now=NOW)
        for address, unit in ((OFFICER, "STC-BDINH"), (CHAIR, "STC-QNAM"), (VICE, "STC-QNGAI")):
            await seat(session, Person(address, f"Cán bộ {unit}", None), "CUM6-STC", unit, NOW)
    channel = RecordingChannel(buttons=True, text_limit=4096)
    core = Core(
        sessions=session_factory(engine),
        storage_dir=tmp_path / "storage",
        clock=Clock(NOW),
        admins=frozenset({str(ADMIN)}),
    )
    core.channels.add(channel)
    try:
        yield World(core, channel, db_url)
    finally:
        await engine.dispose()


async def _counts(core: Core) -> dict[str, int]:
    tables = {"reports": Report, "reviews": Review, "explanations": Explanation,
              "files": EvidenceFile, "results": YearResult}  # fmt: skip
    async with core.session_factory()() as session:
        return {
            name: int(await session.scalar(select(func.count()).select_from(t)) or 0)
            for name, t in tables.items()
        }


def _input(rng: random.Random, core: Core, channel: RecordingChannel) -> Incoming:
    who = rng.choice(PEOPLE)
    in_group = rng.random() < 0.08
    chat = GROUP if in_group else who
    kind = rng.random()
    text, button = "", None
    files: tuple[Attachment, ...] = ()
    offered = [
        c.data for _, m in channel.sent[-3:] if isinstance(m, Text) for r in m.choices for c in r
    ]
    if kind < 0.35:  # a command with arguments
        name = rng.choice(sorted(core.router.commands))
        args = [rng.choice(HOSTILE) for _ in range(rng.randint(0, 4))]
        text = " ".join([f"/{name}", *args]).strip()
    elif kind < 0.55 and offered:  # a button the bot just offered (walks real flows)
        button = rng.choice(offered)
    elif kind < 0.75:  # forged button data
        head = rng.choice([*sorted(core.router.buttons), "zz", ""])
        button = ":".join([head, *(rng.choice(SEGMENTS) for _ in range(rng.randint(0, 5)))])
    elif kind < 0.92:  # free text (an answer to whatever step is open)
        text = rng.choice(HOSTILE)
    else:  # a file, with or without a caption
        files = (rng.choice(FILES),)
        text = rng.choice(["", "/baocao 1.1.1 105", "/baocao 1.2.1 có", "ghi chú", "/xuat"])
    return Incoming(
        sender=who,
        chat=chat,
        private=not in_group,
        full_name=rng.choice(["Người thử", "Tên rất dài " * 40, "\x00"]),
        text=text,
        attachments=files,
        button=button,
    )


async def test_hostile_input_never_breaks_the_core(world: World) -> None:
    rng = random.Random(SEED)
    core, channel = world.core, world.channel
    failures: list[str] = []
    refusals = changed_on_refusal = 0
    for step in range(INPUTS):
        incoming = _input(rng, core, channel)
        before = await _counts(core)
        sent_before = len(channel.sent)
        what = (
            f"#{step} {incoming.sender.id}: {incoming.text[:60]!r} button={incoming.button!r:.60}"
        )
        try:
            await handle(core, incoming)
        except Exception as exc:  # an internal error: the person would see "Có lỗi xảy ra"
            failures.append(f"{what} → {type(exc).__name__}: {exc}"[:300])
            continue
        replies = [m for _, m in channel.sent[sent_before:] if isinstance(m, Text)]
        for reply in replies:
            bad = html_problems(reply.body)
            if bad:
                failures.append(f"{what} → malformed HTML {bad[:3]}")
            if not reply.body.strip():
                failures.append(f"{what} → an empty message")
            if _longest_common_run(incoming.text, reply.body):
                failures.append(f"{what} → quotes {len(incoming.text)} typed characters back")
        if replies and replies[-1].body.startswith("❌"):
            refusals += 1
            if await _counts(core) != before:
                changed_on_refusal += 1
                failures.append(f"{what} → refused, yet the database changed")
        if incoming.private and not channel.sent[sent_before:]:
            failures.append(f"{what} → no answer at all")
    # The walk must have reached the flows, not just bounced off the front door.
    counts = await _counts(core)
    async with core.session_factory()() as session:
        drafts_seen = int(await session.scalar(select(func.count()).select_from(Draft)) or 0)

    assert failures == [], f"{len(failures)} failures:\n" + "\n".join(failures[:40])
    assert refusals > INPUTS // 20
    assert counts["reports"] > 0, counts
    assert changed_on_refusal == 0
    assert drafts_seen >= 0
