"""The leaderboard (/bxh): a monospace table and a bar chart, in the group or in private.

Rendering is presentation, so it lives here, in pure functions testable without Telegram;
the standings come from services.standings. The scheduled post of the reminders feature
uses `send_board`, so the weekly board and /bxh look the same.
"""

from __future__ import annotations

import asyncio
import html
import io
import unicodedata
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.numbers import format_decimal

from handlers.core import Call, Core, Router
from handlers.i18n import Html, Texts, texts
from handlers.io import Picture, Text
from services import leaderboard
from services.addresses import Address
from services.standings import Board, UnitStanding
from services.uow import Session

LEADERBOARD_COMMANDS = ["leaderboard", "bxh"]
NAME_WIDTH = 12
# DejaVu Sans ships with matplotlib and has every Vietnamese letter (ắ, ệ, ữ…).
FONT = "DejaVu Sans"
VERIFIED_COLOUR = "#1f5fa8"
PROPOSED_COLOUR = "#b9d3ee"


def fixed(t: Texts, value: Any, places: int = 2) -> str:
    """A number with a fixed number of decimals (columns line up): 85,50 / 85.50."""
    return format_decimal(value, format="#,##0." + "0" * places, locale=t.babel_locale)


def _cell(text: str, width: int) -> str:
    text = unicodedata.normalize("NFC", text)
    return text if len(text) <= width else text[: width - 1] + "…"


def movement(t: Texts, standing: UnitStanding) -> str:
    """↑2, ↓1, = or "mới" (not on the last posted board)."""
    moved = standing.movement
    if moved is None:
        return t.raw("lb.new")
    if moved > 0:
        return f"↑{moved}"
    if moved < 0:
        return f"↓{-moved}"
    return "="


def board_table(t: Texts, board: Board, *, ratings: bool = False) -> str:
    """The standings as a plain monospace table (for <pre> in chat and for the terminal)."""
    show_move = board.previous_at is not None and not ratings
    names = [_cell(s.member.short_name, NAME_WIDTH) for s in board.standings]
    name_width = max([len(t.raw("lb.col_unit")), *map(len, names)])
    verified = [fixed(t, s.verified) for s in board.standings]
    proposed = [fixed(t, s.proposed) for s in board.standings]
    done = [f"{round(s.completion * 100)}%" for s in board.standings]
    head = [t.raw("lb.col_rank"), t.raw("lb.col_unit"), t.raw("lb.col_verified")]
    cols: list[list[str]] = [[str(s.rank) for s in board.standings], names, verified]
    if ratings:
        head.append(t.raw("lb.col_rating"))
        cols.append([t.raw(f"rating.short.{s.rating}") for s in board.standings])
    else:
        head += [t.raw("lb.col_proposed"), t.raw("lb.col_done")]
        cols += [proposed, done]
        if show_move:
            head.append(t.raw("lb.col_move"))
            cols.append([movement(t, s) for s in board.standings])
    widths = [max(len(h), *(len(v) for v in col)) for h, col in zip(head, cols, strict=True)]
    widths[1] = name_width

    # The unit's name (and a rating) reads left to right; numbers line up on the right.
    left = {1, 3} if ratings else {1}

    def line(values: list[str]) -> str:
        out = [
            value.ljust(width) if i in left else value.rjust(width)
            for i, (value, width) in enumerate(zip(values, widths, strict=True))
        ]
        return " ".join(out).rstrip()

    rows = [line(head)]
    rows += [line([col[i] for col in cols]) for i in range(len(board.standings))]
    return "\n".join(rows)


def board_message(t: Texts, board: Board) -> Html:
    """The leaderboard message: heading, the table in <pre>, and what it is compared with."""
    tz = ZoneInfo(board.timezone)
    if not board.standings:
        return t("lb.empty", cluster=board.cluster_name, year=board.year)
    parts = [
        t(
            "lb.final_head" if board.closed else "lb.head",
            year=board.year,
            cluster=board.cluster_name,
        ),
        t("lb.legend", when=t.datetime(board.computed_at, tz)),
        f"<pre>{html.escape(board_table(t, board, ratings=board.closed))}</pre>",
    ]
    if board.closed:
        parts.append(t("lb.rating_legend"))
    elif board.previous_at is not None:
        parts.append(t("lb.compared", when=t.date(board.previous_at.astimezone(tz).date())))
    else:
        parts.append(t("lb.first"))
    if board.shared_ranks:
        parts.append(t("lb.tie_ballot" if board.tie_rule == "ballot" else "lb.tie_shared"))
    unreviewed = sum(s.unreviewed for s in board.standings)
    if unreviewed and not board.closed:
        parts.append(t("lb.unreviewed", unreviewed, count=unreviewed))
    return Html("\n".join(parts))


def chart_png(t: Texts, board: Board) -> bytes:
    """A horizontal bar chart of the verified (and, lighter, proposed) totals, as PNG."""
    standings = board.standings
    n = max(len(standings), 1)
    # matplotlib on first use, not at start-up: it costs ~40 MB and ~0.4 s, and most
    # processes (workers answering reports) never draw a chart.
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # Off-screen rendering, also on a server without a display. The chart is drawn on a
    # Figure with the Agg canvas directly (no pyplot and its global state), so this only
    # pins what anything else importing pyplot in this process would get.
    matplotlib.use("Agg")
    figure = Figure(figsize=(8, 1.6 + 0.5 * n), dpi=110)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    labels = [f"{s.rank}. {unicodedata.normalize('NFC', s.member.short_name)}" for s in standings]
    rows = list(range(len(standings)))
    proposed = [float(s.proposed) for s in standings]
    verified = [float(s.verified) for s in standings]
    ax.barh(rows, proposed, height=0.8, color=PROPOSED_COLOUR, label=t.raw("lb.chart_proposed"))
    ax.barh(rows, verified, height=0.45, color=VERIFIED_COLOUR, label=t.raw("lb.chart_verified"))
    top = max([*proposed, *verified, 1.0])
    short_proposed = t.raw("lb.col_proposed")
    for row, (mine, checked) in enumerate(zip(proposed, verified, strict=True)):
        ax.text(
            max(mine, checked) + top * 0.01,
            row,
            f"{fixed(t, checked)}  ({short_proposed} {fixed(t, mine)})",
            va="center",
            fontsize=9,
            fontfamily=FONT,
            color="#222222",
        )
    ax.set_yticks(rows, labels, fontfamily=FONT, fontsize=10)
    ax.invert_yaxis()  # rank 1 on top
    ax.set_xlim(0, top * 1.3)
    ax.set_xlabel(t.raw("lb.chart_xlabel"), fontfamily=FONT)
    ax.set_title(
        t.raw("lb.chart_title").format(year=board.year, cluster=board.cluster_code),
        fontfamily=FONT,
        fontsize=12,
        fontweight="bold",
    )
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -0.1 - 0.4 / n),
        ncol=2,
        prop={"family": FONT, "size": 9},
        frameon=False,
    )
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


async def send_rendered(
    core: Core, to: Address, t: Texts, board: Board, *, batch: bool = False
) -> None:
    """Send the table, then the chart as a picture (rendered in a thread: it is CPU work)."""
    await core.channels.send(to, Text(board_message(t, board)), batch=batch)
    if not board.standings:
        return
    png = await asyncio.to_thread(chart_png, t, board)
    caption = t("lb.chart_caption", year=board.year, cluster=board.cluster_code)
    await core.channels.send(to, Picture(png, caption), batch=batch)


async def send_board(
    core: Core,
    session: Session,
    cluster_id: int,
    to: Address,
    now: datetime,
    since: datetime | None = None,
) -> None:
    """Post a cluster's board (table and chart) to a chat and keep it: the next board shows
    who moved since this one. Used by the scheduled post and by /bxh in the group; `since`
    for a round sent to officers one by one (movement against the post before the round)."""
    board = await leaderboard.cluster_board(session, cluster_id, now, since=since)
    await send_rendered(core, to, texts(board.language), board, batch=True)
    await leaderboard.record_post(session, board, to, now, actor="system")


async def show(call: Call) -> None:
    """/leaderboard, /bxh [CLUSTER]: the board; in the group it is posted and kept."""
    code = call.args[0] if call.args else None
    in_group = not call.private
    board = await leaderboard.board(
        call.session,
        call.actor,
        cluster_code=code,
        group=call.chat if in_group else None,
        now=call.now,
    )
    if in_group and code is None:
        # A board posted to the cluster's own group is what movement is measured from.
        await send_rendered(call.core, call.chat, texts(board.language), board)
        await leaderboard.record_post(
            call.session, board, call.chat, call.now, actor=call.actor.audit_name
        )
        return
    await send_rendered(call.core, call.chat, call.t, board)


def register(router: Router) -> None:
    """The leaderboard command."""
    router.command(LEADERBOARD_COMMANDS, show)
