"""Unit tests for handlers/split.py: long texts cut into messages a platform accepts."""

from __future__ import annotations

import html
import random
from html.parser import HTMLParser

import pytest

from handlers.i18n import Html
from handlers.split import split_html, split_plain

SPACES = " \t\n\r\f\v"


class _Balance(HTMLParser):
    """Parses a part; records the text and whether every tag was closed in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parsed(part: str) -> str:
    """The visible text of a well-formed part (fails the test otherwise)."""
    parser = _Balance()
    parser.feed(part)
    parser.close()
    assert parser.errors == [], (part, parser.errors)
    assert parser.stack == [], (part, parser.stack)
    return "".join(parser.text)


def _contiguous(original: str, parts: list[str]) -> None:
    """The parts are the original in order, with only whitespace left out between them."""
    position = 0
    for part in parts:
        found = original.find(part, position)
        assert found >= 0, (part, original[position : position + 40])
        assert original[position:found].strip(SPACES) == "", original[position:found]
        position = found + len(part)
    assert original[position:].strip(SPACES) == ""


# ---------------------------------------------------------------- split_plain


def test_a_text_that_fits_is_one_part_unchanged() -> None:
    assert split_plain("  hello\n", 10) == ["  hello\n"]


def test_nothing_but_whitespace_gives_no_part() -> None:
    assert split_plain("", 10) == []
    assert split_plain(" \n\n ", 2) == []


def test_cuts_at_a_space_never_inside_a_word() -> None:
    parts = split_plain("hello world this is a test of splitting", 12)
    assert parts == ["hello world", "this is a", "test of", "splitting"]


def test_prefers_a_blank_line_then_a_line_end() -> None:
    text = "first line of text\nsecond one\n\nthird paragraph here"
    assert split_plain(text, 34) == ["first line of text\nsecond one", "third paragraph here"]
    text = "aaaa bbbb cccc\ndddd eeee ffff gggg"
    assert split_plain(text, 20) == ["aaaa bbbb cccc", "dddd eeee ffff gggg"]


def test_a_blank_line_too_early_does_not_make_a_tiny_part() -> None:
    text = "ab\n\n" + " ".join(["word"] * 10)
    parts = split_plain(text, 30)
    assert len(parts[0]) > 15, parts


def test_a_word_longer_than_the_limit_is_hard_split() -> None:
    assert split_plain("x " + "a" * 25 + " y", 10) == ["x", "a" * 10, "a" * 10, "aaaaa y"]


def test_a_hard_cut_never_separates_a_combining_mark() -> None:
    word = "e\u0301" * 6  # "é" written as e + combining acute, twelve code points
    parts = split_plain(word, 5)
    assert all(part[0] != "\u0301" for part in parts), parts
    assert "".join(parts) == word
    assert all(len(part) <= 5 for part in parts)


def test_a_no_break_space_is_not_a_cut() -> None:
    assert split_plain("12\u00a0345 6789", 8) == ["12\u00a0345", "6789"]


def test_the_limit_must_be_positive() -> None:
    with pytest.raises(ValueError):
        split_plain("a long text", 0)


def test_vietnamese_text_at_zalo_length() -> None:
    line = "Đơn vị đã nộp báo cáo tiêu chí 1.1.1 đúng hạn, điểm đề xuất 9,5."
    text = "\n".join([line] * 80)
    parts = split_plain(text, 2000)
    assert len(parts) == 3
    assert all(len(part) <= 2000 for part in parts)
    assert all(part.endswith("9,5.") and part.startswith("Đơn vị") for part in parts)
    _contiguous(text, parts)


WORDS = ["a", "bb", "ccc", "Đơn", "vị", "tiêu", "chí", "x" * 17, "&", "<", "điểm", "9,5"]
GLUE = [" ", " ", " ", "\n", "\n\n", "  ", "\t"]


def _random_text(rng: random.Random) -> str:
    pieces = []
    for _ in range(rng.randint(0, 60)):
        pieces.append(rng.choice(WORDS))
        pieces.append(rng.choice(GLUE))
    return "".join(pieces)


@pytest.mark.parametrize("seed", range(300))
def test_property_plain(seed: int) -> None:
    rng = random.Random(seed)
    text = _random_text(rng)
    limit = rng.randint(1, 40)
    parts = split_plain(text, limit)
    assert all(part.strip(SPACES) for part in parts)
    assert all(len(part) <= limit for part in parts)
    _contiguous(text, parts)
    # A word is cut only when it is longer than the limit: a part glued to the next one
    # (no whitespace between them) is a full-length run without any whitespace.
    position = 0
    for part in parts[:-1]:
        end = text.find(part, position) + len(part)
        if text[end] not in SPACES:
            assert len(part) == limit and not any(c in SPACES for c in part), (part, text)
        position = end


# ---------------------------------------------------------------- split_html


def test_html_that_fits_is_one_part_unchanged() -> None:
    body = Html("<b>Hi</b> &lt;there&gt;")
    assert split_html(body, 10) == [body]


def test_html_counts_text_after_entity_parsing() -> None:
    body = Html("<b>" + "&lt;" * 10 + "</b>")  # ten characters, 43 bytes of HTML
    assert split_html(body, 10) == [body]
    assert len(split_html(body, 9)) == 2


def test_html_closes_and_reopens_tags_across_a_cut() -> None:
    body = Html('<b>hello &lt;world&gt;</b> this <i>is <a href="x">a test</a> of</i> splitting')
    parts = split_html(body, 12)
    assert parts == [
        "<b>hello</b>",
        "<b>&lt;world&gt;</b> this",
        '<i>is <a href="x">a test</a> of</i>',
        "splitting",
    ]


def test_html_reopens_a_link_with_its_attributes() -> None:
    body = Html('<a href="https://example.org/?a=1&amp;b=2">one two three four</a>')
    parts = split_html(body, 8)
    assert parts[1].startswith('<a href="https://example.org/?a=1&amp;b=2">')
    assert all(part.endswith("</a>") for part in parts)


def test_html_never_cuts_inside_an_entity_or_a_tag() -> None:
    body = Html("<code>" + "&amp;" * 30 + "</code>")
    parts = split_html(body, 7)
    for part in parts:
        assert part.startswith("<code>") and part.endswith("</code>")
        inner = part.removeprefix("<code>").removesuffix("</code>")
        assert inner == "&amp;" * (len(inner) // 5)


def test_html_pre_block_split_on_lines() -> None:
    rows = "\n".join(f"{n:>3} Đơn vị {n}" for n in range(1, 40))
    body = Html(f"<b>Bảng</b>\n<pre>{rows}</pre>")
    parts = split_html(body, 100)
    assert len(parts) > 1
    for part in parts:
        assert len(html.unescape(_parsed(part))) <= 100
    assert parts[1].startswith("<pre>")


def test_html_whitespace_only_gives_no_part() -> None:
    assert split_html(Html("<b> </b>\n"), 5) == []


HTML_OPEN = ["<b>", "<i>", "<code>", '<a href="https://e.org/x?y=1&amp;z=2">', "<pre>", "<u>"]
HTML_WORDS = ["a", "bb", "Đơn", "vị", "&lt;", "&amp;", "&gt;", "x" * 13, "&#39;", "điểm"]


def _random_html(rng: random.Random) -> str:
    out: list[str] = []
    stack: list[str] = []
    for _ in range(rng.randint(0, 50)):
        roll = rng.random()
        if roll < 0.15 and len(stack) < 3:
            tag = rng.choice(HTML_OPEN)
            name = tag[1:].split(">")[0].split()[0]
            if name in stack:
                continue
            out.append(tag)
            stack.append(name)
        elif roll < 0.28 and stack:
            out.append(f"</{stack.pop()}>")
        else:
            out.append(rng.choice(HTML_WORDS))
            out.append(rng.choice(GLUE))
    out.extend(f"</{name}>" for name in reversed(stack))
    return "".join(out)


@pytest.mark.parametrize("seed", range(300))
def test_property_html(seed: int) -> None:
    rng = random.Random(seed)
    body = Html(_random_html(rng))
    limit = rng.randint(1, 30)
    parts = split_html(body, limit)
    visible = _parsed(body)
    texts = [_parsed(part) for part in parts]  # each part is well-formed
    assert all(text.strip(SPACES) for text in texts)
    assert all(len(text) <= limit for text in texts), (body, parts)
    _contiguous(visible, texts)
    if not visible.strip(SPACES):
        assert parts == []
