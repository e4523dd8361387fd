"""bot/zalo/channel.py against the stand-in Zalo Bot API, over real HTTP: what the core's
messages become on Zalo, how Zalo's refusals come back, and evidence downloads."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from bot.media import MediaStore, media_routes
from bot.zalo.channel import Unsupported, ZaloChannel, ZaloPacing, plain, unique_id
from bot.zalo.client import ZaloClient, ZaloUpdate, parse_update
from handlers.channel import Blocked, Rejected, RetryLater, Transient
from handlers.i18n import Html, to_plain
from handlers.io import Attachment, Choice, Document, Incoming, Picture, Text, choices
from services.addresses import Address
from tests.zalo.standin import (
    StandinControl,
    ZaloStandin,
    bot_side,
    free_port,
    serve_app,
)

USER = "6ede9afa66b88fe6d6a9"
ME = Address("zalo", USER)
FAST = ZaloPacing(ceiling_per_second=1000.0)


@pytest.fixture
async def control(control: StandinControl) -> StandinControl:
    await control.inject_text(USER, "xin chào")  # the bot may write only to who wrote first
    return control


@pytest.fixture
async def media(tmp_path: Path) -> AsyncIterator[MediaStore]:
    store = MediaStore(tmp_path / "media", "http://placeholder", timedelta(hours=1))
    async with serve_app(Starlette(routes=media_routes(store))) as base:
        store.base_url = base
        yield store


@pytest.fixture
def channel(client: ZaloClient, media: MediaStore) -> ZaloChannel:
    return ZaloChannel(client, media.put, max_download=50_000, pacing=FAST)


async def _next(client: ZaloClient) -> ZaloUpdate:
    update = await client.get_updates(2)
    assert update is not None
    return update


# ---------------------------------------------------------------- incoming


async def test_text_becomes_incoming(
    channel: ZaloChannel, client: ZaloClient, control: StandinControl
) -> None:
    await _next(client)  # the greeting from the fixture
    await control.inject_text("u-7", "/baocao 1.1.1 105", display_name="Trần Thị B")
    update = await _next(client)
    found = channel.incoming(update)
    assert isinstance(found, Incoming)
    assert found.sender == found.chat == Address("zalo", "u-7")
    assert found.private and found.full_name == "Trần Thị B"
    assert found.command == ("baocao", ["1.1.1", "105"])
    assert update.message is not None
    assert found.update_id == f"zalo:{update.message.message_id}"
    assert not channel.is_group(found.chat)


async def test_an_image_becomes_a_photo_attachment(
    channel: ZaloChannel, client: ZaloClient, control: StandinControl
) -> None:
    await _next(client)
    await control.inject_image("u-7", b"\xff\xd8jpeg", caption="minh chứng 1.1.1")
    update = await _next(client)
    found = channel.incoming(update)
    assert isinstance(found, Incoming)
    assert found.text == "minh chứng 1.1.1"
    assert update.message is not None and update.message.photo is not None
    url = update.message.photo
    uid = hashlib.sha256(url.encode()).hexdigest()[:32]
    assert found.attachments == (
        Attachment("photo", f"zalo:{url}", uid, f"{uid}.jpg", "image/jpeg", 0),
    )
    assert unique_id(url) == uid


@pytest.mark.parametrize("kind", ["sticker", "unsupported"])
async def test_stickers_and_unsupported_messages_are_marked(
    channel: ZaloChannel, client: ZaloClient, control: StandinControl, kind: str
) -> None:
    await _next(client)
    await control.inject(user_id="u-7", kind=kind, display_name="C")
    found = channel.incoming(await _next(client))
    assert isinstance(found, Unsupported)
    assert found.sender == found.chat == Address("zalo", "u-7")
    assert found.event_name == f"message.{kind}.received"
    assert found.private and found.full_name == "C"


def test_a_bot_an_empty_event_and_a_group(channel: ZaloChannel) -> None:
    message = {
        "from": {"id": "b1", "display_name": "Bot", "is_bot": True},
        "chat": {"id": "b1", "chat_type": "PRIVATE"},
        "text": "hi",
        "message_id": "m1",
        "date": 1,
    }
    assert channel.incoming(parse_update({"event_name": "x", "message": message})) is None
    assert channel.incoming(parse_update({"event_name": "user.follow"})) is None
    group = {
        **message,
        "from": {"id": "p1", "is_bot": False},
        "chat": {"id": "g1", "chat_type": "GROUP"},
    }
    found = channel.incoming(
        parse_update({"event_name": "message.text.received", "message": group})
    )
    assert isinstance(found, Incoming) and not found.private
    assert found.full_name == "p1"  # no display name: the id stands in
    assert channel.is_group(Address("zalo", "g1"))


# ---------------------------------------------------------------- sending


async def test_a_long_text_goes_as_plain_parts_of_at_most_2000(
    channel: ZaloChannel, control: StandinControl
) -> None:
    line = "<b>Đơn vị</b> &lt;Sở Tư pháp&gt; đã nộp báo cáo tiêu chí 1.1.1 đúng hạn."
    body = Html("\n".join(f"{n}. {line}" for n in range(1, 121)))
    await channel.send(ME, Text(body))
    sent = await control.sent(USER)
    texts = [m["text"] for m in sent]
    assert len(texts) == 4  # 7,800 characters
    assert all(t.endswith("đúng hạn.") for t in texts)  # cut at line ends
    assert all(1 <= len(t) <= 2000 for t in texts)
    assert all("<b>" not in t and "&lt;" not in t for t in texts)
    assert "".join(texts).replace("\n", "") == to_plain(body).replace("\n", "")
    assert (await control.stats())["rate_limited"] == 0


async def test_the_stand_in_would_refuse_what_the_channel_splits(
    client: ZaloClient, channel: ZaloChannel, control: StandinControl
) -> None:
    long = Html("word " * 1000)
    with pytest.raises(Exception) as refused:
        await client.send_message(USER, to_plain(long))
    assert "400" in str(refused.value)
    await channel.send(ME, Text(long))
    assert [len(m["text"]) for m in await control.sent(USER)] == [1999, 1999, 999]


def test_plain_keeps_a_links_address() -> None:
    body = '<b>Xem</b> <a href="https://e.org/?a=1&amp;b=2">bảng &lt;1&gt;</a> và <a href="x">x</a>'
    assert plain(body) == "Xem bảng <1> (https://e.org/?a=1&b=2) và x"


async def test_choices_fall_back_to_numbered_lines(
    channel: ZaloChannel, control: StandinControl
) -> None:
    options = choices([Choice("Quý 1", "p:q1"), Choice("Quý 2", "p:q2")], [Choice("Huỷ", "x")])
    await channel.send(ME, Text(Html("Chọn kỳ:"), options))
    assert [m["text"] for m in await control.sent(USER)] == [
        "Chọn kỳ:\n\n1. Quý 1\n2. Quý 2\n3. Huỷ"
    ]


async def test_a_picture_is_published_and_fetched_by_the_platform(
    channel: ZaloChannel, control: StandinControl, media: MediaStore
) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20
    await channel.send(ME, Picture(png, Html("<b>Bảng xếp hạng</b> Quý 1")))
    (photo,) = await control.sent(USER)
    assert photo["method"] == "sendPhoto"
    assert photo["photo"].startswith(f"{media.base_url}/media/")
    assert photo["sha256"] == hashlib.sha256(png).hexdigest()
    assert photo["size"] == len(png)
    assert photo["content_type"] == "image/png"
    assert photo["caption"] == "Bảng xếp hạng Quý 1"


async def test_a_long_caption_continues_as_text(
    channel: ZaloChannel, control: StandinControl
) -> None:
    caption = Html("\n".join(["Dòng chú thích khá dài của bảng xếp hạng."] * 100))
    await channel.send(ME, Picture(b"\x89PNG\r\n\x1a\n", caption))
    sent = await control.sent(USER)
    assert [m["method"] for m in sent] == ["sendPhoto", "sendMessage", "sendMessage"]
    assert all(len(m.get("caption") or m["text"]) <= 2000 for m in sent)


async def test_a_document_is_a_link_under_its_caption(
    channel: ZaloChannel, control: StandinControl, media: MediaStore
) -> None:
    content = b"PK\x03\x04 a workbook"
    await channel.send(ME, Document(content, "Tổng hợp 2025.xlsx", Html("Bảng tổng hợp")))
    (message,) = await control.sent(USER)
    caption, link = message["text"].split("\n\n")
    assert caption == "Bảng tổng hợp"
    assert link.startswith(f"📄 Tổng hợp 2025.xlsx: {media.base_url}/media/")
    async with httpx.AsyncClient() as http:
        fetched = await http.get(link.split(": ", 1)[1])
    assert fetched.content == content
    assert fetched.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml"
    )


async def test_errors_become_the_cores(channel: ZaloChannel, control: StandinControl) -> None:
    with pytest.raises(Rejected):
        await channel.send(Address("zalo", "never-wrote"), Text(Html("hi")))
    await control.block(USER)
    with pytest.raises(Blocked):
        await channel.send(ME, Text(Html("hi")))
    await control.unblock(USER)
    await control.configure(rate_limit_per_second=1)
    await channel.send(ME, Text(Html("one")))
    waits = []
    for _ in range(3):
        with pytest.raises(RetryLater) as limited:
            await channel.send(ME, Text(Html("two")))
        waits.append(limited.value.seconds)
    assert waits == [5.0, 10.0, 20.0]  # no retry-after on Zalo: our own backoff
    await control.configure(rate_limit_per_second=0)
    await channel.send(ME, Text(Html("three")))
    await control.configure(rate_limit_per_second=1)
    with pytest.raises(RetryLater) as again:
        await channel.send(ME, Text(Html("four")))
        await channel.send(ME, Text(Html("five")))
    assert again.value.seconds == 5.0  # a success reset the backoff


async def test_a_wrong_token_is_rejected_loudly_without_the_token(
    standin: ZaloStandin, media: MediaStore, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "111:a-wrong-secret-token"
    async with ZaloClient(wrong, base_url=standin.url) as client:
        channel = ZaloChannel(client, media.put, max_download=10, pacing=FAST)
        with (
            caplog.at_level(logging.ERROR, logger="bot.zalo.channel"),
            pytest.raises(Rejected) as refused,
        ):
            await channel.send(ME, Text(Html("hi")))
    assert "401" in str(refused.value)
    assert any("401" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)
    assert "a-wrong-secret-token" not in str(refused.value)
    assert all("a-wrong-secret-token" not in r.getMessage() for r in bot_side(caplog.records))


async def test_no_platform_is_transient(media: MediaStore) -> None:
    async with ZaloClient("1:x", base_url=f"http://127.0.0.1:{free_port()}") as client:
        channel = ZaloChannel(client, media.put, max_download=10, pacing=FAST)
        with pytest.raises(Transient):
            await channel.send(ME, Text(Html("hi")))


async def test_pace_and_identity(channel: ZaloChannel) -> None:
    assert (channel.name, channel.buttons, channel.text_limit) == ("zalo", False, 2000)
    default = ZaloPacing()
    assert (default.pace.per_second, default.pace.private_gap) == (10.0, 1.0)
    assert channel.pace.per_second == FAST.per_second


# ---------------------------------------------------------------- evidence


async def test_fetch_downloads_evidence_within_the_limit(
    channel: ZaloChannel, client: ZaloClient, control: StandinControl, tmp_path: Path
) -> None:
    await _next(client)
    image = b"\xff\xd8\xff\xe0" + b"evidence" * 1000  # 8 kB
    await control.inject_image(USER, image)
    found = channel.incoming(await _next(client))
    assert isinstance(found, Incoming)
    (attachment,) = found.attachments
    target = tmp_path / f"{attachment.unique_id}.jpg"
    await channel.fetch(attachment, target)
    assert target.read_bytes() == image
    small = ZaloChannel(channel.client, channel.publish, max_download=len(image) - 1)
    too_big = tmp_path / "too-big.jpg"
    with pytest.raises(Rejected):
        await small.fetch(attachment, too_big)
    assert not too_big.exists()
    gone = Attachment("photo", attachment.ref + "-gone", "x", "x.jpg", "image/jpeg", 0)
    with pytest.raises(Rejected):
        await channel.fetch(gone, tmp_path / "gone.jpg")
    with pytest.raises(Rejected):
        await channel.fetch(Attachment("photo", "telegram:1", "x", "x", None, 0), target)
