"""Onboarding through the real Application: /start with and without an invitation, /help by
role, /lang, /whoami, /linkgroup, the command menus, and refusals in the user's language."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.telegram.app import ThiduaApp
from models.db import create_engine, session_factory
from models.tables import Cluster, Officer
from tests.telegram.conftest import ADMIN_ID, InviteMaker
from tests.telegram.harness import RecordingRequest, bot_added_to_group, button, message

OFFICER = 2001
CHAIR = 2002
GROUP = -100_555


async def officers(url: str) -> int:
    engine = create_engine(url)
    async with session_factory(engine)() as session:
        n = await session.scalar(select(func.count()).select_from(Officer))
    await engine.dispose()
    return int(n or 0)


async def group_of(url: str, code: str) -> int | None:
    engine = create_engine(url)
    async with session_factory(engine)() as session:
        chat = await session.scalar(select(Cluster.group_address).where(Cluster.code == code))
    await engine.dispose()
    if chat is None:
        return None
    assert chat.startswith("telegram:"), chat
    return int(chat.removeprefix("telegram:"))


async def test_start_with_an_invitation_binds_the_officer_and_welcomes_them(
    app: ThiduaApp, recorder: RecordingRequest, invite: InviteMaker, seeded: str
) -> None:
    token = await invite("STC-BDINH")

    await app.process_update(message(app, OFFICER, f"/start {token}"))

    [reply] = recorder.texts_to(OFFICER)
    assert "Chào mừng Nguyễn Văn An" in reply
    assert "Sở Tài chính tỉnh Bình Định" in reply
    assert "Thành viên" in reply
    assert await officers(seeded) == 1


async def test_start_alone_explains_how_to_join(app: ThiduaApp, recorder: RecordingRequest) -> None:
    await app.process_update(message(app, OFFICER, "/start"))

    [reply] = recorder.texts_to(OFFICER)
    assert "link mời" in reply
    assert "/help" in reply


async def test_a_wrong_token_gets_a_clear_message_and_binds_nobody(
    app: ThiduaApp, recorder: RecordingRequest, seeded: str
) -> None:
    await app.process_update(message(app, OFFICER, "/start notARealToken_0123456789abcdef"))

    [reply] = recorder.texts_to(OFFICER)
    assert "Link mời không đúng" in reply
    assert await officers(seeded) == 0


async def test_the_name_from_telegram_is_escaped_in_html_replies(
    app: ThiduaApp, recorder: RecordingRequest, invite: InviteMaker
) -> None:
    token = await invite("STC-PYEN")

    await app.process_update(message(app, OFFICER, f"/start {token}", name="<b>Hacker</b>"))

    [reply] = recorder.texts_to(OFFICER)
    assert "&lt;b&gt;Hacker&lt;/b&gt;" in reply
    assert "<b>Hacker</b>" not in reply


async def test_help_lists_only_what_the_role_allows(
    app: ThiduaApp, recorder: RecordingRequest, invite: InviteMaker
) -> None:
    await app.process_update(message(app, OFFICER, "/help"))
    stranger_help = recorder.texts_to(OFFICER)[-1]
    assert "/linkgroup" not in stranger_help
    assert "link mời" in stranger_help

    await app.process_update(message(app, CHAIR, f"/start {await invite('STC-QNAM')}"))
    await app.process_update(message(app, CHAIR, "/help"))

    chair_help = recorder.texts_to(CHAIR)[-1]
    assert "Cụm trưởng" in chair_help
    assert "/whoami" in chair_help


async def test_lang_switches_every_later_message_to_english(
    app: ThiduaApp, recorder: RecordingRequest, invite: InviteMaker
) -> None:
    await app.process_update(message(app, OFFICER, "/lang"))
    chooser = recorder.sent()[-1]
    assert "reply_markup" in chooser.params

    await app.process_update(button(app, OFFICER, "lang:en"))
    assert recorder.texts_to(OFFICER)[-1] == "✅ Language set to English."
    assert recorder.sent("answerCallbackQuery")

    await app.process_update(message(app, OFFICER, "/start WrongTokenWrongToken123"))
    assert "This invitation link is not valid" in recorder.texts_to(OFFICER)[-1]

    await app.process_update(message(app, OFFICER, "/lang fr"))
    assert "Unsupported language" in recorder.texts_to(OFFICER)[-1]

    await app.process_update(message(app, OFFICER, "/lang vi"))
    assert recorder.texts_to(OFFICER)[-1] == "✅ Đã chuyển sang Tiếng Việt."


async def test_whoami_shows_unit_cluster_and_role_for_a_khoi(
    app: ThiduaApp, recorder: RecordingRequest, invite: InviteMaker
) -> None:
    await app.process_update(
        message(app, OFFICER, f"/start {await invite('TN-CTHUE', 'KHOI-TW-TNINH')}")
    )

    await app.process_update(message(app, OFFICER, "/whoami"))

    reply = recorder.texts_to(OFFICER)[-1]
    assert "Cục Thuế" in reply
    assert "Khối trưởng" in reply  # a khối's chair, not a cụm's
    assert "2024" in reply


async def test_only_the_chair_links_the_group(
    app: ThiduaApp, recorder: RecordingRequest, invite: InviteMaker, seeded: str
) -> None:
    await app.process_update(message(app, OFFICER, f"/start {await invite('STC-NTHUAN')}"))
    await app.process_update(message(app, CHAIR, f"/start {await invite('STC-QNAM')}"))

    await app.process_update(message(app, OFFICER, "/linkgroup", chat_id=GROUP))
    refusal = recorder.texts_to(GROUP)[-1]
    assert "không có quyền" in refusal and "Cụm trưởng" in refusal
    assert await group_of(seeded, "CUM6-STC") is None

    await app.process_update(message(app, CHAIR, "/linkgroup", chat_id=GROUP))
    assert "đã được gắn" in recorder.texts_to(GROUP)[-1]
    assert await group_of(seeded, "CUM6-STC") == GROUP

    await app.process_update(message(app, CHAIR, "/linkgroup"))
    assert "trong nhóm chat" in recorder.texts_to(CHAIR)[-1]


async def test_an_admin_links_a_group_by_naming_the_cluster(
    app: ThiduaApp, recorder: RecordingRequest, seeded: str
) -> None:
    await app.process_update(message(app, ADMIN_ID, "/linkgroup", chat_id=GROUP))
    assert "mã Cụm" in recorder.texts_to(GROUP)[-1]

    await app.process_update(message(app, ADMIN_ID, "/linkgroup KHOI-TW-TNINH", chat_id=GROUP))
    assert await group_of(seeded, "KHOI-TW-TNINH") == GROUP

    await app.process_update(message(app, ADMIN_ID, "/linkgroup NOPE", chat_id=GROUP))
    assert "NOPE" in recorder.texts_to(GROUP)[-1]


async def test_the_bot_greets_a_group_it_is_added_to(
    app: ThiduaApp, recorder: RecordingRequest
) -> None:
    await app.process_update(bot_added_to_group(app, GROUP, CHAIR))

    assert "/linkgroup" in recorder.texts_to(GROUP)[-1]


async def test_free_text_in_private_points_to_help(
    app: ThiduaApp, recorder: RecordingRequest
) -> None:
    await app.process_update(message(app, OFFICER, "xin chào"))
    await app.process_update(message(app, OFFICER, "/nosuchcommand"))

    assert recorder.texts_to(OFFICER) == ["Tôi chưa hiểu. Gõ /help để xem các lệnh."] * 2


async def test_start_up_publishes_the_command_menus_in_both_languages(
    app: ThiduaApp, recorder: RecordingRequest
) -> None:
    menus = recorder.sent("setMyCommands")

    languages = {m.params.get("language_code") for m in menus}
    assert languages == {None, "vi", "en"}
    english_private = next(
        m
        for m in menus
        if m.params.get("language_code") == "en"
        and m.params["scope"]["type"] == "all_private_chats"
    )
    described = {c["command"]: c["description"] for c in english_private.params["commands"]}
    assert described["lang"].startswith("Switch language")
    vietnamese_group = next(
        m
        for m in menus
        if m.params.get("language_code") == "vi" and m.params["scope"]["type"] == "all_group_chats"
    )
    group_commands = {c["command"] for c in vietnamese_group.params["commands"]}
    assert {"help", "linkgroup", "bxh"} <= group_commands  # Vietnamese aliases in vi menus
    assert not group_commands & {"start", "baocao", "tiendo", "whoami"}  # private-only
