"""A cluster split between Telegram and Zalo runs a reporting period end to end, against the
real `thidua run` serving both channels from one process: telegram-test-api for Telegram,
our stand-in (tests/zalo/standin.py) for Zalo, both over real HTTP.

The officer of Bình Định joins on Zalo and reports with a picture; a reminder reaches them on
Zalo while Phú Yên's officer gets theirs on Telegram; the chair reviews from Telegram and the
Zalo officer is told, explains, and sees the board with its chart (a picture the stand-in
fetches from our media server). The clock starts just before, then just after, Friday
28/06/2024 08:00, the "7 days before" reminder of Q2 (as in test_reminders.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from models.db import create_engine, session_factory
from models.tables import EvidenceFile, ReminderLog, Report
from tests.conftest import EXAMPLES
from tests.e2e.harness import (
    BotProcess,
    Emulator,
    Person,
    ZaloPerson,
    ZaloStandinProcess,
    bot_env,
    bot_token,
    free_port,
    seed_cluster,
)

pytestmark = pytest.mark.e2e

ZALO_TOKEN = "990011:zalo-e2e-secret"
BEFORE = "2024-06-28T07:55:00+07:00"
AFTER = "2024-06-28T08:01:00+07:00"
QUIET_S = 1.5
# A small JPEG-looking picture: the bot stores the bytes it downloads, whatever they are.
PHOTO = b"\xff\xd8\xff\xe0" + b"anh chup bien ban thu ngan sach" * 20


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZaloStandinProcess]:
    process = ZaloStandinProcess(ZALO_TOKEN, tmp_path_factory.mktemp("zalo") / "standin.log")
    yield process
    process.stop()


async def _rows(url: str) -> tuple[list[tuple[str, str, str]], list[EvidenceFile], list[Report]]:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            ledger = await session.execute(
                select(ReminderLog.rule, ReminderLog.recipient, ReminderLog.status)
            )
            files = list(await session.scalars(select(EvidenceFile)))
            reports = list(await session.scalars(select(Report)))
            return [tuple(r) for r in ledger], files, reports  # type: ignore[misc]
    finally:
        await engine.dispose()


def test_a_period_runs_end_to_end_with_officers_on_telegram_and_on_zalo(
    emulator: Emulator, standin: ZaloStandinProcess, e2e_db_url: str, tmp_path: Path
) -> None:
    token = bot_token("zalo")
    media_port = free_port()
    zalo_env = {
        "THIDUA_ZALO__TOKEN": ZALO_TOKEN,
        "THIDUA_ZALO__BASE_URL": standin.url,
        "THIDUA_ZALO__BOT_NAME": "Thi đua Cụm 6",
        "THIDUA_ZALO__PORT": str(media_port),
        "THIDUA_ZALO__PUBLIC_URL": f"http://127.0.0.1:{media_port}",
        "THIDUA_ZALO__POLL_TIMEOUT": "2",
    }
    env = bot_env(
        db_url=e2e_db_url, token=token, emulator=emulator, folder=tmp_path, extra=zalo_env
    )
    invite = seed_cluster(e2e_db_url, EXAMPLES / "cum6-stc-2024.toml", "CUM6-STC")
    on_zalo = ZaloPerson(standin, f"zalo-bdinh-{token[:6]}", "Trần Thị Zalo")
    pyen = Person(emulator, token, 5102, "Lê Văn Phú")
    chair = Person(emulator, token, 5103, "Nguyễn Cụm Trưởng")
    vice = ZaloPerson(standin, f"zalo-vice-{token[:6]}", "Phạm Cụm Phó")

    early = BotProcess("zalo-before", ["run"], {**env, "E2E_CLOCK": BEFORE}, tmp_path)
    early.start()
    try:
        early.wait_polling()
        # Joining: the same invitation, typed on Zalo (no start links there).
        welcome = on_zalo.ask(invite["STC-BDINH"], "Chào mừng")
        pyen.ask(f"/start {invite['STC-PYEN']}", "Chào mừng")
        chair.ask(f"/start {invite['STC-QNAM']}", "Chào mừng")
        vice.ask(f"/start {invite['STC-QNGAI']}", "Chào mừng")
        # A report with a picture as its evidence, in one line (the caption).
        on_zalo.send_image(PHOTO, caption="/baocao 1.1.1 105")
        saved = on_zalo.expect("Đã lưu báo cáo tiêu chí 1.1.1")
        # The guided flow by numbers: /baocao shows numbered choices, "1" picks group 1.
        menu = on_zalo.ask("/baocao", "Trả lời bằng số thứ tự")
        group = on_zalo.ask("1", "1.1.2")
        cancelled = on_zalo.ask("/cancel", "")
    finally:
        assert early.stop() == 0, early.log_tail()

    late = BotProcess("zalo-after", ["run"], {**env, "E2E_CLOCK": AFTER}, tmp_path)
    late.start()
    try:
        late.wait_polling()
        zalo_reminder = on_zalo.expect("Nhắc hạn báo cáo", timeout=30)
        telegram_reminder = pyen.expect("Nhắc hạn báo cáo", timeout=30)
        time.sleep(QUIET_S)
        again = [m for m in on_zalo.received()[on_zalo.cursor :] if "Nhắc hạn" in m.get("text", "")]
        assert again == []

        # The chair adjusts the Zalo officer's score from Telegram; the officer is told there.
        chair.ask("/thamdinh STC-BDINH 1.1.1 1 thiếu chứng từ gốc", "Đã điều chỉnh")
        notice = on_zalo.expect("thiếu chứng từ gốc")
        on_zalo.ask("/giaitrinh 1.1.1 Đã bổ sung bản gốc", "Đã gửi giải trình")
        explained = chair.expect("Đã bổ sung bản gốc")

        # The board: the table as text, the chart as a picture fetched from our server.
        on_zalo.say("/bxh")
        table = on_zalo.expect("Bảng xếp hạng")
        chart = wait_photo(on_zalo)

        # The vice-chair on Zalo: the summary as text, the workbook as a link to download.
        summary = vice.ask("/tonghop", "Tổng hợp")
        export = vice.ask("/xuat", "/media/")
        link = re.search(r"http://127\.0\.0\.1:\d+/media/\S+", export["text"])
        assert link is not None, export["text"]
        workbook = httpx.get(link.group(0), timeout=10.0)
    finally:
        assert late.stop() == 0, late.log_tail()

    assert "Sở Tài chính tỉnh Bình Định" in welcome["text"]
    assert "(lần 1)" in saved["text"]
    assert "[1]" in menu["text"] and "<" not in menu["text"]  # plain text, no tags
    assert "[1]" in group["text"]
    assert cancelled["method"] == "sendMessage"
    assert "05/07/2024" in zalo_reminder["text"] and "05/07/2024" in telegram_reminder.plain
    assert "1.1.1 " not in zalo_reminder["text"] and "1.1.2 " in zalo_reminder["text"]
    assert "/giaitrinh 1.1.1" in notice["text"]
    assert "STC-BDINH" in explained.plain or "Bình Định" in explained.plain
    assert "Bình Định" in table["text"]
    assert int(str(chart["size"])) > 1000 and chart["content_type"] == "image/png"
    assert "Bình Định" in summary["text"]
    assert workbook.status_code == 200 and workbook.content[:2] == b"PK"  # an .xlsx (zip)
    assert workbook.headers["cache-control"] == "private, no-store"

    ledger, files, reports = asyncio.run(_rows(e2e_db_url))
    mine = f"zalo:{on_zalo.user_id}"
    zalo_rows = [(rule, status) for rule, to, status in ledger if to == mine]
    # Once, on Zalo; and the private weekly boards of the weeks before were skipped (their
    # day had ended: the cluster has no group, so its Zalo officers get the board privately).
    assert [r for r in zalo_rows if not r[0].startswith("leaderboard:")] == [("before:7", "sent")]
    assert {r[1] for r in zalo_rows if r[0].startswith("leaderboard:")} <= {"skipped"}
    assert ("before:7", "telegram:5102", "sent") in ledger
    [photo] = files
    assert photo.file_ref.startswith("zalo:http") and photo.size == len(PHOTO)
    stored = Path(photo.stored_path or "")
    assert hashlib.sha256(stored.read_bytes()).digest() == hashlib.sha256(PHOTO).digest()
    assert [r.criterion_id for r in reports if r.version == 1]


def wait_photo(person: ZaloPerson) -> dict[str, object]:
    from tests.e2e.harness import wait_for

    def found() -> dict[str, object] | None:
        photos = [m for m in person.received() if m["method"] == "sendPhoto"]
        return photos[-1] if photos else None

    return wait_for("the board's chart on Zalo", found)


def test_in_webhook_mode_one_server_carries_both_channels_and_checks_zalos_secret(
    emulator: Emulator, standin: ZaloStandinProcess, e2e_db_url: str, tmp_path: Path
) -> None:
    token = bot_token("zalo-webhook")
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    zalo_env = {
        "THIDUA_ZALO__TOKEN": ZALO_TOKEN,
        "THIDUA_ZALO__BASE_URL": standin.url,
        "THIDUA_ZALO__WEBHOOK_URL": f"{origin}/zalo",
        "THIDUA_ZALO__WEBHOOK_SECRET": "zalo-webhook-secret",
        "THIDUA_TELEGRAM__WEBHOOK_SECRET": "telegram-secret",
    }
    env = bot_env(
        db_url=e2e_db_url, token=token, emulator=emulator, folder=tmp_path, extra=zalo_env
    )
    invite = seed_cluster(e2e_db_url, EXAMPLES / "cum6-stc-2024.toml", "CUM6-STC")
    person = ZaloPerson(standin, f"zalo-hook-{token[:6]}", "Đỗ Thị Webhook")
    hook = "https://thidua.example.test/telegram"  # Telegram posts nowhere in this test
    args = ["run", "--webhook", "--port", str(port), "--webhook-url", hook]
    bot = BotProcess("zalo-webhook", args, {**env, "E2E_CLOCK": BEFORE}, tmp_path)
    polls = standin.test_api("stats")["polls"]
    bot.start()
    try:
        bot.wait_until(
            "Zalo's webhook registered",
            lambda: standin.test_api("stats")["webhook_url"] == f"{origin}/zalo",
        )
        welcome = person.ask(f"/start {invite['STC-KHOA']}", "Chào mừng")
        with httpx.Client(base_url=origin, timeout=10.0) as http:
            forged = http.post(
                "/zalo",
                json={"ok": True, "result": {"event_name": "message.text.received"}},
                headers={"X-Bot-Api-Secret-Token": "not-the-secret"},
            )
            unsigned = http.post("/zalo", json={})
            health = http.get("/healthz")
        stats = standin.test_api("stats")
    finally:
        assert bot.stop() == 0, bot.log_tail()
        standin.test_api("reset", {})

    assert "Khánh Hòa" in welcome["text"]
    assert (forged.status_code, unsigned.status_code) == (403, 403)
    assert health.status_code == 200
    # The message came by webhook (POSTed by the stand-in and answered 200), not by polling.
    assert stats["deliveries"] == [200] and stats["polls"] == polls
