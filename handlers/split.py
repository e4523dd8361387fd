"""Long texts cut into messages a platform accepts: Zalo takes 2,000 characters, Telegram
4,096 after entity parsing.

Both splitters cut at the best whitespace in reach — a blank line, else a line end, else a
space, each preferred only in the second half of the allowed length so a part is never
needlessly short — and drop the whitespace at the cut. A word longer than the limit is the
only thing ever cut in the middle (never before a combining mark, so a Vietnamese letter
written with a separate tone mark stays whole).

`split_html` counts what Telegram counts: the text after entity parsing (tags removed,
`&lt;` one character). It never cuts inside a tag or an entity, and every part is
well-formed: tags open at a cut are closed at the end of the part and opened again, with
their attributes, at the start of the next.

Every part is non-empty; a text with nothing but whitespace gives no part at all. A text
that fits is returned unchanged, as the only part.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass

from handlers.i18n import Html

# Only these break a line: a no-break space (U+00A0) means "keep together".
_SPACES = frozenset(" \t\n\r\f\v")
# Tags that open and close (Telegram's HTML subset plus the usual aliases). Anything else
# is passed through as it is and never counted as open.
_PAIRED = frozenset(
    {
        "a",
        "b",
        "blockquote",
        "code",
        "del",
        "em",
        "i",
        "ins",
        "pre",
        "s",
        "span",
        "strike",
        "strong",
        "tg-emoji",
        "tg-spoiler",
        "u",
    }
)
_TOKEN_RE = re.compile(
    r"(?P<tag></?[A-Za-z][\w-]*(?:\s[^>]*)?/?>)"
    r"|(?P<entity>&(?:#[0-9]+|#[xX][0-9A-Fa-f]+|[A-Za-z][A-Za-z0-9]*);)"
    r"|(?P<char>.)",
    re.DOTALL,
)
_TAG_NAME_RE = re.compile(r"</?([A-Za-z][\w-]*)")
_TAG_RE = re.compile(r"</?[A-Za-z][\w-]*(?:\s[^>]*)?/?>")  # _TOKEN_RE's tag alone

BLANK_LINE, LINE_END, SPACE = 3, 2, 1


def _is_space(char: str) -> bool:
    return char in _SPACES


def _skip_spaces(text: str, index: int) -> int:
    while index < len(text) and _is_space(text[index]):
        index += 1
    return index


def _run_kind(text: str, index: int) -> tuple[int, int]:
    """The kind of the whitespace run starting at `index`, and where it ends."""
    end = _skip_spaces(text, index)
    newlines = text.count("\n", index, end)
    kind = BLANK_LINE if newlines >= 2 else LINE_END if newlines == 1 else SPACE
    return kind, end


def _cut(text: str, start: int, limit: int) -> tuple[int, int]:
    """Where the part starting at `start` ends, and where the next one starts."""
    window_end = start + limit  # the part is text[start:end] with end <= window_end
    half = start + max(1, limit // 2)
    best: tuple[int, int, int] | None = None  # (kind, end, next start) in the second half
    last_any: tuple[int, int] | None = None  # the last cut at any whitespace
    index = start + 1
    while index <= window_end and index < len(text):
        if _is_space(text[index]) and not _is_space(text[index - 1]):
            kind, run_end = _run_kind(text, index)
            last_any = (index, run_end)
            if index >= half and (best is None or kind >= best[0]):
                best = (kind, index, run_end)
            index = run_end
        else:
            index += 1
    if best is not None:
        return best[1], best[2]
    if last_any is not None:
        return last_any
    # One word longer than the limit: a hard cut, but not just before a combining mark.
    end = window_end
    while end > start + 1 and unicodedata.combining(text[end]):
        end -= 1
    return end, end


def _spans(text: str, limit: int) -> list[tuple[int, int]]:
    """The parts of `text` as (start, end) index pairs; the whitespace between is dropped."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    stop = len(text)
    while stop > 0 and _is_space(text[stop - 1]):
        stop -= 1
    spans: list[tuple[int, int]] = []
    start = _skip_spaces(text, 0)
    while start < stop:
        if stop - start <= limit:
            spans.append((start, stop))
            break
        end, following = _cut(text, start, limit)
        spans.append((start, end))
        start = following
    return spans


def split_plain(text: str, limit: int) -> list[str]:
    """`text` in parts of at most `limit` characters, cut at whitespace where possible."""
    if len(text) <= limit:
        return [text] if text.strip(" \t\n\r\f\v") else []
    return [text[start:end] for start, end in _spans(text, limit)]


@dataclass(frozen=True)
class _Token:
    source: str  # the HTML as written
    visible: str  # what it shows: one character for text and entities, "" for a tag
    tag: str | None = None  # the lower-case tag name, for a paired tag
    closing: bool = False


def _tokens(body: str) -> list[_Token]:
    tokens: list[_Token] = []
    for match in _TOKEN_RE.finditer(body):
        source = match.group(0)
        if match.lastgroup == "tag":
            name_match = _TAG_NAME_RE.match(source)
            name = name_match.group(1).lower() if name_match else ""
            if name in _PAIRED and not source.endswith("/>"):
                tokens.append(_Token(source, "", name, source.startswith("</")))
            else:
                tokens.append(_Token(source, ""))
        elif match.lastgroup == "entity":
            decoded = html.unescape(source)
            # Counted as one character, as Telegram counts it (a rare named entity that
            # decodes to two characters still shows as one glyph).
            tokens.append(_Token(source, decoded[:1] or "?"))
        else:
            tokens.append(_Token(source, source))
    return tokens


def _apply(stack: list[_Token], token: _Token) -> bool:
    """Track open tags; False for a closing tag that closes nothing (dropped: it would make
    the part malformed, and the platform would refuse the message)."""
    if token.tag is None:
        return True
    if not token.closing:
        stack.append(token)
        return True
    for depth in range(len(stack) - 1, -1, -1):
        if stack[depth].tag == token.tag:
            del stack[depth:]
            return True
    return False


def _closing(stack: list[_Token]) -> str:
    return "".join(f"</{token.tag}>" for token in reversed(stack))


def split_html(body: Html, limit: int) -> list[Html]:
    """Safe HTML in well-formed parts of at most `limit` visible characters each."""
    if len(body) <= limit and "&" not in body:
        # Nearly every reply: no longer than the limit even counting its tags, and without
        # entities what shows is the text between the tags. Tokenising it character by
        # character would cost a third of a millisecond to say the same.
        return [Html(body)] if _TAG_RE.sub("", body).strip(" \t\n\r\f\v") else []
    tokens = _tokens(body)
    positions = [index for index, token in enumerate(tokens) if token.visible]
    visible = "".join(tokens[index].visible for index in positions)
    if len(visible) <= limit:
        return [Html(body)] if visible.strip(" \t\n\r\f\v") else []
    parts: list[Html] = []
    stack: list[_Token] = []
    done = 0  # tokens before this one have been placed or dropped
    spans = _spans(visible, limit)
    for start, end in spans:
        first, last = positions[start], positions[end - 1] + 1
        # Tags between two parts (in the whitespace dropped) still open or close; those
        # after the last part need nothing: the part closes what is open.
        for token in tokens[done:first]:
            _apply(stack, token)
        out = [token.source for token in stack]
        for token in tokens[first:last]:
            if _apply(stack, token):
                out.append(token.source)
        out.append(_closing(stack))
        parts.append(Html("".join(out)))
        done = last
    return parts
