"""bot/zalo/client.py against the stand-in Zalo Bot API, over real HTTP."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import httpx
import pytest

from bot.zalo.client import (
    EVENT_IMAGE,
    EVENT_TEXT,
    DownloadTooLarge,
    ZaloClient,
    ZaloError,
    ZaloNetworkError,
    parse_update,
)
from tests.zalo.standin import StandinControl, ZaloStandin, bot_side, free_port


def _names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


async def test_get_me(client: ZaloClient, standin: ZaloStandin) -> None:
    me = await client.get_me()
    assert me.id == standin.token.split(":")[0]
    assert me.account_type == "BASIC"
    assert me.can_join_groups is False


async def test_a_wrong_token_is_401_and_never_in_the_message(standin: ZaloStandin) -> None:
    wrong = "999:not-the-right-secret"
    async with ZaloClient(wrong, base_url=standin.url) as client:
        with pytest.raises(ZaloError) as caught:
            await client.get_me()
    assert caught.value.code == 401
    assert caught.value.method == "getMe"
    assert wrong not in str(caught.value)
    assert caught.value.__cause__ is None


async def test_get_updates_returns_one_text_update(
    client: ZaloClient, control: StandinControl
) -> None:
    await control.inject_text("u-1", "Xin chào", display_name="Nguyễn Văn A")
    await control.inject_text("u-2", "second")
    update = await client.get_updates(2)
    assert update is not None and update.message is not None
    assert update.event_name == EVENT_TEXT
    message = update.message
    assert (message.sender.id, message.sender.display_name) == ("u-1", "Nguyễn Văn A")
    assert message.sender.is_bot is False
    assert (message.chat.id, message.chat.chat_type) == ("u-1", "PRIVATE")
    assert message.text == "Xin chào"
    assert message.date > 1_600_000_000_000  # milliseconds
    following = await client.get_updates(2)
    assert following is not None and following.message is not None
    assert following.message.text == "second"
    assert following.message.message_id != message.message_id


@pytest.mark.parametrize("empty", ["empty", "408"])
async def test_get_updates_without_an_update_is_none(
    client: ZaloClient, control: StandinControl, empty: str
) -> None:
    await control.configure(empty_poll=empty)
    assert await client.get_updates(1) is None


async def test_webhook_set_info_delete(client: ZaloClient) -> None:
    info = await client.set_webhook("https://bot.example.org/zalo", "s3cret-token")
    assert info.url == "https://bot.example.org/zalo"
    assert info.updated_at > 0
    assert (await client.get_webhook_info()).url == "https://bot.example.org/zalo"
    with pytest.raises(ZaloError) as refused:
        await client.get_updates(1)  # refused while a webhook is set
    assert refused.value.code == 400
    assert (await client.delete_webhook()).url == ""
    assert (await client.get_webhook_info()).url == ""


async def test_set_webhook_secret_length(client: ZaloClient) -> None:
    with pytest.raises(ValueError):
        await client.set_webhook("https://bot.example.org/zalo", "short")
    with pytest.raises(ZaloError) as refused:  # the stand-in checks it too
        await client.call("setWebhook", {"url": "https://x.org", "secret_token": "x" * 257})
    assert refused.value.code == 400


async def test_send_message_and_chat_action(client: ZaloClient, control: StandinControl) -> None:
    await control.inject_text("u-1", "hi")
    sent = await client.send_message("u-1", "Chào bạn")
    assert sent.message_id and sent.date > 0
    await client.send_chat_action("u-1", "typing")
    recorded = await control.sent("u-1")
    assert [(m["method"], m.get("text"), m.get("action")) for m in recorded] == [
        ("sendMessage", "Chào bạn", None),
        ("sendChatAction", None, "typing"),
    ]


async def test_send_message_limits(client: ZaloClient, control: StandinControl) -> None:
    await control.inject_text("u-1", "hi")
    await client.send_message("u-1", "x" * 2000)
    for text in ("", "x" * 2001):
        with pytest.raises(ZaloError) as refused:
            await client.send_message("u-1", text)
        assert refused.value.code == 400
    with pytest.raises(ZaloError) as unknown:
        await client.send_message("nobody-wrote", "hi")
    assert unknown.value.code == 400


async def test_blocked_and_rate_limited(client: ZaloClient, control: StandinControl) -> None:
    await control.inject_text("u-1", "hi")
    await control.block("u-1")
    with pytest.raises(ZaloError) as blocked:
        await client.send_message("u-1", "hello")
    assert blocked.value.code == 403
    await control.unblock("u-1")
    await control.configure(rate_limit_per_second=2)
    await client.send_message("u-1", "one")
    await client.send_message("u-1", "two")
    with pytest.raises(ZaloError) as limited:
        await client.send_message("u-1", "three")
    assert (limited.value.code, limited.value.description) == (429, "Quota exceeded")
    assert (await control.stats())["rate_limited"] == 1


async def test_no_server_is_a_network_error_without_the_token() -> None:
    token = "123:very-secret-token"
    async with ZaloClient(token, base_url=f"http://127.0.0.1:{free_port()}") as client:
        with pytest.raises(ZaloNetworkError) as caught:
            await client.get_me()
    assert token not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


async def test_download_an_image_with_a_size_limit(
    client: ZaloClient, control: StandinControl, tmp_path: Path
) -> None:
    image = b"\xff\xd8\xff" + bytes(range(256)) * 40  # 10 kB
    await control.inject_image("u-1", image, caption="minh chứng")
    update = await client.get_updates(2)
    assert update is not None and update.message is not None
    assert update.event_name == EVENT_IMAGE
    assert update.message.caption == "minh chứng"
    url = update.message.photo
    assert url is not None and url.startswith("http")
    target = tmp_path / "evidence.jpg"
    assert await client.download(url, target, max_bytes=len(image)) == len(image)
    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(image).digest()
    too_small = tmp_path / "too-small.jpg"
    with pytest.raises(DownloadTooLarge):
        await client.download(url, too_small, max_bytes=len(image) - 1)
    assert _names(tmp_path) == ["evidence.jpg"]  # no partial file left behind
    with pytest.raises(ZaloError) as missing:
        await client.download(url + "-gone", tmp_path / "gone.jpg", max_bytes=10**6)
    assert missing.value.code == 404


async def test_the_stand_in_takes_form_and_query_parameters(
    standin: ZaloStandin, control: StandinControl
) -> None:
    await control.inject_text("u-9", "hi")
    base = f"{standin.url}/bot{standin.token}"
    async with httpx.AsyncClient() as http:
        form = await http.post(f"{base}/sendMessage", data={"chat_id": "u-9", "text": "form"})
        query = await http.get(f"{base}/sendMessage", params={"chat_id": "u-9", "text": "query"})
        wrong = await http.get(f"{base}/sendmessage", params={"chat_id": "u-9", "text": "x"})
    assert form.json()["ok"] and query.json()["ok"]
    assert wrong.json()["error_code"] == 400  # method names are case-sensitive
    assert [m["text"] for m in await control.sent("u-9")] == ["form", "query"]


async def test_the_token_never_reaches_a_log(
    standin: ZaloStandin, control: StandinControl, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("httpx").setLevel(logging.DEBUG)  # as if someone turned it up
    try:
        async with ZaloClient(standin.token, base_url=standin.url) as client:
            await client.get_me()
            await client.get_updates(0)
            with pytest.raises(ZaloError):
                await client.send_message("nobody", "hi")
    finally:
        logging.getLogger("httpx").setLevel(logging.NOTSET)
    ours = bot_side(caplog.records)  # everything but the stand-in's access log
    messages = [record.getMessage() for record in ours]
    assert any("HTTP Request" in m and "<token>" in m for m in messages), messages
    secret = standin.token.split(":", 1)[1]
    assert all(secret not in m for m in messages)
    assert all(secret not in (r.exc_text or "") for r in ours)


def test_updates_parse_leniently() -> None:
    bare = {
        "event_name": "message.someday.received",
        "extra": {"nested": True},
        "message": {
            "from": {"id": 12345, "first_name": "Old Sample", "avatar": "x"},
            "chat": {"id": 12345, "chat_type": "GROUP", "new": 1},
            "message_id": "m1",
            "date": 1750316131602,
            "photo": {"url": "https://cdn.example/p.jpg", "width": 10},
        },
    }
    update = parse_update(bare)
    assert update.event_name == "message.someday.received"
    assert update.message is not None
    assert update.message.sender.id == "12345"
    assert update.message.sender.display_name == "Old Sample"
    assert update.message.chat.chat_type == "GROUP"
    assert update.message.photo == "https://cdn.example/p.jpg"
    wrapped = parse_update({"ok": True, "result": {"event_name": "user.follow"}})
    assert wrapped.message is None
    bad: object
    malformed = {"event_name": "message.text.received", "message": {"from": {}}}
    for bad in ([], "x", malformed, {"ok": True}, {"ok": True, "result": None}):
        with pytest.raises(ValueError):
            parse_update(bad)
