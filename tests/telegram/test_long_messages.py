"""Every message the bot sends fits Telegram's limits (bot/telegram/channel.py): texts over
4,096 characters go in several messages, each well-formed HTML, the buttons under the last;
a caption over 1,024 is cut and the rest follows as text; an empty text is never sent.
Lengths are counted as Telegram counts them: after entity parsing."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

from bot.telegram.app import ThiduaApp
from bot.telegram.channel import CAPTION_LIMIT, TEXT_LIMIT
from handlers.i18n import Html
from handlers.io import Choice, Document, Picture, Text, choices
from services.addresses import Address
from tests.telegram.conftest import InviteMaker
from tests.telegram.harness import RecordingRequest, Sent, message

OFFICER = 4501
TAG = re.compile(r"<[^>]+>")


def visible(body: str) -> str:
    """What Telegram counts: the text after entity parsing."""
    return html.unescape(TAG.sub("", body))


class Balance(HTMLParser):
    """Every tag opened is closed, in order (Telegram refuses anything else)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.open[-1:] or 'nothing'}")
        else:
            self.open.pop()


def well_formed(body: str) -> bool:
    checker = Balance()
    checker.feed(body)
    checker.close()
    return not checker.errors and not checker.open


def long_html(paragraphs: int) -> Html:
    """Paragraphs with bold, code and escaped characters, ~10,000 visible characters for 40."""
    line = (
        "<b>Tiêu chí 1.1</b>: thu ngân sách đạt <code>105 %</code> &lt;so với dự toán&gt; "
        "— giải trình của đơn vị về số liệu đã được rà soát kỹ lưỡng trong quý này. "
    )
    return Html("\n\n".join(f"<i>Đoạn {n}.</i> " + line * 2 for n in range(paragraphs)))


def keyboard(sent: Sent) -> list[str]:
    markup = sent.params.get("reply_markup") or {}
    rows = markup.get("inline_keyboard", []) if isinstance(markup, dict) else []
    return [b.get("callback_data", "") for row in rows for b in row]


async def test_a_10000_character_text_arrives_in_parts_that_fit_with_the_buttons_on_the_last(
    app: ThiduaApp, recorder: RecordingRequest
) -> None:
    body = long_html(40)
    assert len(visible(body)) > 10_000
    options = choices([Choice("Gửi", "rk:ok"), Choice("Huỷ", "rk:cancel")])

    await app.bot_data.channels.send(Address("telegram", str(OFFICER)), Text(body, options))

    parts = recorder.sent()
    assert len(parts) >= 3
    assert all(len(visible(p.text)) <= TEXT_LIMIT for p in parts)
    assert all(well_formed(p.text) for p in parts)
    assert all(p.params.get("parse_mode") == "HTML" for p in parts)
    assert [keyboard(p) for p in parts] == [[]] * (len(parts) - 1) + [["rk:ok", "rk:cancel"]]
    # Nothing lost or repeated: the parts hold the whole text, in order (cuts at whitespace).
    assert " ".join(visible(p.text) for p in parts).split() == visible(body).split()


async def test_a_text_that_fits_is_sent_as_it_is_in_one_message(
    app: ThiduaApp, recorder: RecordingRequest
) -> None:
    body = Html("a &lt; " * 1023 + "<b>xyzw</b>")  # 4,096 visible characters, 7,172 in HTML
    assert len(visible(body)) == TEXT_LIMIT

    await app.bot_data.channels.send(Address("telegram", str(OFFICER)), Text(body))

    assert [p.text for p in recorder.sent()] == [body]


async def test_an_empty_text_is_never_sent(app: ThiduaApp, recorder: RecordingRequest) -> None:
    await app.bot_data.channels.send(Address("telegram", str(OFFICER)), Text(Html(" \n ")))

    assert recorder.sent() == []


async def test_a_long_caption_is_cut_and_the_rest_follows_as_text(
    app: ThiduaApp, recorder: RecordingRequest
) -> None:
    caption = long_html(8)  # ~2,000 visible characters
    to = Address("telegram", str(OFFICER))

    await app.bot_data.channels.send(to, Document(b"PK\x03\x04", "bang-diem.xlsx", caption))
    await app.bot_data.channels.send(to, Picture(b"\x89PNG", caption))

    for method in ("sendDocument", "sendPhoto"):
        [sent] = recorder.sent(method)
        shown = str(sent.params["caption"])
        assert 0 < len(visible(shown)) <= CAPTION_LIMIT and well_formed(shown)
    texts = [p.text for p in recorder.sent()]
    assert len(texts) == 2 and all(well_formed(t) for t in texts)
    for method, rest in zip(("sendDocument", "sendPhoto"), texts, strict=True):
        [sent] = recorder.sent(method)
        together = visible(str(sent.params["caption"])) + " " + visible(rest)
        assert together.split() == visible(caption).split()


async def test_a_short_caption_is_left_alone(app: ThiduaApp, recorder: RecordingRequest) -> None:
    caption = Html("<b>Bảng điểm</b> quý 2")

    await app.bot_data.channels.send(
        Address("telegram", str(OFFICER)), Document(b"x", "a.xlsx", caption)
    )

    [sent] = recorder.sent("sendDocument")
    assert sent.params["caption"] == caption
    assert recorder.sent() == []


async def test_history_after_many_long_versions_is_sent_in_parts_that_fit(
    app: ThiduaApp, recorder: RecordingRequest, invite: InviteMaker
) -> None:
    """The case from the issue: /lichsu after versions with long notes was refused."""
    await app.process_update(message(app, OFFICER, f"/start {await invite('STC-BDINH')}"))
    note = "giải trình số liệu thu ngân sách theo từng sắc thuế và địa bàn " * 4
    for value in range(50, 80):  # 30 versions: ~10,000 characters of history
        await app.process_update(message(app, OFFICER, f"/baocao 1.3.2 {value} {note}"))
    recorder.clear()

    await app.process_update(message(app, OFFICER, "/lichsu 1.3.2"))

    parts = recorder.texts_to(OFFICER)
    assert len(parts) >= 3
    assert all(len(visible(p)) <= TEXT_LIMIT and well_formed(p) for p in parts)
    history = "\n".join(visible(p) for p in parts)
    assert [int(n) for n in re.findall(r"Lần (\d+)", history)] == list(range(30, 0, -1))
