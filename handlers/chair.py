"""The chair's commands: /tonghop (summary), /xuat (export), /ketthucnam (close the year)
and /bangiao (hand the chair over). Rules and rights are in the services; this module
renders and replies."""

from __future__ import annotations

import html
from collections import defaultdict
from datetime import datetime
from zoneinfo import ZoneInfo

from handlers.core import Call, Core, Router
from handlers.i18n import Html, Texts, texts
from handlers.io import Choice, Document, Text, choices
from handlers.leaderboard import board_table, movement, send_rendered
from handlers.render import period_label
from services import export, summary, yearend
from services.addresses import Address
from services.errors import InvalidInput
from services.summary import Summary
from services.uow import Session

SUMMARY_COMMANDS = ["summary", "tonghop"]
EXPORT_COMMANDS = ["export", "xuat"]
CLOSE_COMMANDS = ["closeyear", "ketthucnam"]
HANDOVER_COMMANDS = ["handover", "bangiao"]
LOWEST_CRITERIA = 5


def _percent(part: int, whole: int) -> int:
    return round(100 * part / whole) if whole else 0


def _role_word(t: Texts, kind: str, role: str) -> str:
    return t.raw(f"role.{role}.{kind}")


# ---------------------------------------------------------------- summary


def summary_message(t: Texts, s: Summary) -> Html:
    """The period summary, short enough to read on a phone."""
    tz = ZoneInfo(s.timezone)
    done, total = s.completion
    state_key = "summary.overdue" if s.deadline_passed else "summary.due"
    out = [
        t(
            "summary.head",
            period=period_label(t, s.period.code, s.year),
            cluster=s.cluster_name,
        ),
        t(state_key, deadline=t.datetime(s.period.deadline, tz)),
        t("summary.completion", done=done, total=total, percent=_percent(done, total)),
        "",
        t("summary.units_head"),
    ]
    for line in s.units:
        if line.complete:
            mark = "✅"
        elif line.reported:
            mark = "🟡"
        else:
            mark = "❌" if s.deadline_passed else "⬜"
        text = f"{mark} {html.escape(line.member.short_name)} {line.reported}/{line.base_leaves}"
        if line.late:
            text += " · " + t.raw("summary.late").format(count=line.late)
        out.append(text)
    missing = [u.member.short_name for u in s.units if not u.complete]
    if missing:
        key = "summary.missing_overdue" if s.deadline_passed else "summary.missing"
        out += ["", t(key, count=len(missing), units=", ".join(missing))]
    by_group: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for c in s.criteria:
        by_group[c.leaf.group_code][0] += c.reported_units
        by_group[c.leaf.group_code][1] += c.units
    if by_group:
        groups = " · ".join(
            f"{html.escape(code)}: {_percent(part, whole)}%"
            for code, (part, whole) in by_group.items()
        )
        out += ["", t("summary.groups", groups=Html(groups))]
    lowest = sorted(s.criteria, key=lambda c: (c.reported_units, c.leaf.code))
    lowest = [c for c in lowest if c.reported_units < c.units][:LOWEST_CRITERIA]
    if lowest:
        codes = ", ".join(f"{c.leaf.code} ({c.reported_units}/{c.units})" for c in lowest)
        out.append(t("summary.lowest", criteria=codes))
    out.append("")
    if s.pending_reviews:
        waiting = ", ".join(
            f"{u.member.short_name} {u.pending_reviews}" for u in s.units if u.pending_reviews
        )
        out.append(t("summary.pending", s.pending_reviews, count=s.pending_reviews, units=waiting))
    else:
        out.append(t("summary.no_pending"))
    if s.explanations:
        chair = t.raw(f"role.chair.{s.cluster_kind}")
        out.append(t("summary.explanations", s.explanations, count=s.explanations, chair=chair))
    movers = s.movers()
    if s.board.previous_at is None:
        out.append(t("summary.no_movers_yet"))
    elif movers:
        standing = {x.member.unit_id: x for x in s.board.standings}
        moved = ", ".join(f"{m.short_name} {movement(t, standing[m.unit_id])}" for m, _ in movers)
        out.append(
            t(
                "summary.movers",
                movers=moved,
                when=t.date(s.board.previous_at.astimezone(tz).date()),
            )
        )
    else:
        out.append(t("summary.no_movers"))
    out.append(t("summary.detail", period=s.period.code))
    return Html("\n".join(out))


async def summary_command(call: Call) -> None:
    """/summary, /tonghop [CLUSTER] [PERIOD]: who reported what in a period."""
    if not call.private:
        await call.reply(call.t("chair.private_only"))
        return
    result = await summary.summary(call.session, call.actor, words=call.args, now=call.now)
    await call.reply(summary_message(call.t, result))


async def send_period_summary(
    core: Core,
    session: Session,
    cluster_id: int,
    period_id: int,
    to: Address,
    now: datetime,
) -> None:
    """Send the summary of one period to a chat (the chair, when a period closes), in the
    cluster's language."""
    result = await summary.period_summary(session, cluster_id, period_id, now)
    language = result.board.language
    await core.channels.send(to, Text(summary_message(texts(language), result)), batch=True)


# ---------------------------------------------------------------- export


async def export_command(call: Call) -> None:
    """/export, /xuat [CLUSTER] [YEAR|PERIOD]: the scoring workbook as an .xlsx document."""
    if not call.private:
        await call.reply(call.t("chair.private_only"))
        return
    made = await export.export(call.session, call.actor, words=call.args, now=call.now)
    t = call.t
    scope = (
        period_label(t, made.period_code, made.year)
        if made.period_code
        else t.raw("export.year_scope").format(year=made.year)
    )
    await call.send(
        call.chat,
        Document(
            made.content,
            made.filename,
            t(
                "export.caption",
                made.units,
                cluster=made.cluster_code,
                scope=scope,
                units=made.units,
            ),
        ),
    )


# ---------------------------------------------------------------- closing the year


async def close_command(call: Call) -> None:
    """/closeyear, /ketthucnam [CLUSTER]: the final table to confirm before closing."""
    if not call.private:
        await call.reply(call.t("chair.private_only"))
        return
    code = call.args[0] if call.args else None
    preview = await yearend.close_preview(call.session, call.actor, cluster_code=code, now=call.now)
    t = call.t
    board = preview.board
    parts = [
        t("close.preview_head", year=board.year, cluster=board.cluster_name),
        f"<pre>{html.escape(board_table(t, board, ratings=True))}</pre>",
        t("lb.rating_legend"),
    ]
    if preview.unreviewed:
        parts.append(t("close.unreviewed", preview.unreviewed, count=preview.unreviewed))
    parts.append(t("close.confirm_question", year=board.year))
    await call.reply(
        Html("\n".join(parts)),
        choices(
            [
                Choice(t.raw("close.confirm"), f"yc:{board.cluster_id}:{board.year}"),
                Choice(t.raw("close.cancel"), "yx"),
            ]
        ),
    )


async def close_button(call: Call) -> None:
    """The confirm/cancel buttons of /ketthucnam."""
    if call.button == "yx":
        await call.reply(call.t("close.cancelled"))
        return
    cluster_id, year = _ids(call.button, 2)
    closed = await yearend.close_year(
        call.session, call.actor, cluster_id=cluster_id, year=year, now=call.now
    )
    await call.reply(call.t("close.done", year=closed.board.year))
    await send_rendered(call.core, call.chat, call.t, closed.board)
    if closed.group is not None and closed.group != call.chat:
        await send_rendered(call.core, closed.group, texts(closed.board.language), closed.board)


# ---------------------------------------------------------------- hand-over


def _ids(data: str, count: int) -> list[int]:
    """The numbers after a button's head ("hov:3:2025:12:0"); anything else is a button
    from another version of the bot or made up, and says so."""
    parts = data.split(":")[1:]
    if len(parts) != count or not all(p.isdigit() and len(p) <= 12 for p in parts):
        raise InvalidInput("error.stale_button")
    return [int(p) for p in parts]


def _plan_text(t: Texts, plan: yearend.HandoverPlan) -> list[str]:
    out: list[str] = [
        t(
            "handover.head",
            cluster=plan.cluster_name,
            from_year=plan.from_year,
            to_year=plan.to_year,
            chair=plan.chair or "—",
            vice=plan.vice_chair or "—",
        )
    ]
    out += _changes(t, plan)
    return out


def _changes(t: Texts, plan: yearend.HandoverPlan) -> list[str]:
    """Who leaves next year and who takes each merged unit's place (docs/chair.md)."""
    out: list[str] = [t("handover.successor", unit=new, replaces=old) for old, new in plan.mergers]
    if plan.dropped:
        out.append(t("handover.dropped", units=", ".join(plan.dropped)))
    return out


async def handover_command(call: Call) -> None:
    """/handover, /bangiao [CLUSTER]: choose next year's chair, then vice-chair."""
    if not call.private:
        await call.reply(call.t("chair.private_only"))
        return
    code = call.args[0] if call.args else None
    plan = await yearend.handover_plan(call.session, call.actor, cluster_code=code)
    t = call.t
    role = _role_word(t, plan.cluster_kind, "chair")
    rows = [
        [Choice(c.short_name, f"hoc:{plan.cluster_id}:{plan.to_year}:{c.unit_id}")]
        for c in plan.candidates
    ]
    rows.append([Choice(t.raw("close.cancel"), "hox")])
    text = [*_plan_text(t, plan), t("handover.choose_chair", role=role, year=plan.to_year)]
    await call.reply(Html("\n".join(text)), choices(*rows))


async def handover_button(call: Call) -> None:
    """The buttons of /bangiao: chair, then vice-chair, then confirm."""
    t = call.t
    if call.button == "hox":
        await call.reply(t("handover.cancelled"))
        return
    head = call.button.split(":", 1)[0]
    cluster_id, to_year, *ids = _ids(call.button, 3 if head == "hoc" else 4)
    if head == "hok":
        chair_id, vice_id = ids
        done = await yearend.hand_over(
            call.session,
            call.actor,
            cluster_id=cluster_id,
            to_year=to_year,
            chair_unit_id=chair_id,
            vice_unit_id=vice_id or None,
            now=call.now,
        )
        kind = done.plan.cluster_kind
        text = t(
            "handover.done",
            len(done.plan.candidates),
            year=done.plan.to_year,
            chair_role=_role_word(t, kind, "chair"),
            chair=done.chair.name,
            vice_role=_role_word(t, kind, "vice_chair"),
            vice=done.vice_chair.name if done.vice_chair else "—",
            units=len(done.plan.candidates),
            criteria=done.criteria,
            periods=done.periods,
        )
        await call.reply(Html("\n".join([text, *_changes(t, done.plan)])))
        if done.group is not None:
            g = texts(done.plan.language)
            await call.send(
                done.group,
                Text(
                    g(
                        "handover.announce",
                        year=done.plan.to_year,
                        chair_role=_role_word(g, kind, "chair"),
                        chair=done.chair.name,
                        vice_role=_role_word(g, kind, "vice_chair"),
                        vice=done.vice_chair.name if done.vice_chair else "—",
                    )
                ),
            )
        return
    plan = await yearend.handover_plan(call.session, call.actor, cluster_id=cluster_id)
    role_chair = _role_word(t, plan.cluster_kind, "chair")
    role_vice = _role_word(t, plan.cluster_kind, "vice_chair")
    if head == "hoc":
        [chair_id] = ids
        chair = plan.candidate(chair_id)
        rows = [
            [Choice(c.short_name, f"hov:{cluster_id}:{to_year}:{chair_id}:{c.unit_id}")]
            for c in plan.candidates
            if c.unit_id != chair_id
        ]
        rows.append([Choice(t.raw("handover.no_vice"), f"hov:{cluster_id}:{to_year}:{chair_id}:0")])
        rows.append([Choice(t.raw("close.cancel"), "hox")])
        await call.reply(
            t(
                "handover.choose_vice",
                chair_role=role_chair,
                chair=chair.name,
                role=role_vice,
                year=to_year,
            ),
            choices(*rows),
        )
        return
    chair_id, vice_id = ids
    chair = plan.candidate(chair_id)
    vice = plan.candidate(vice_id) if vice_id else None
    lines = [
        *_plan_text(t, plan),
        t(
            "handover.confirm",
            year=to_year,
            chair_role=role_chair,
            chair=chair.name,
            vice_role=role_vice,
            vice=vice.name if vice else "—",
            units=len(plan.candidates),
        ),
    ]
    await call.reply(
        Html("\n".join(lines)),
        choices(
            [
                Choice(
                    t.raw("handover.confirm_button"),
                    f"hok:{cluster_id}:{to_year}:{chair_id}:{vice_id}",
                ),
                Choice(t.raw("close.cancel"), "hox"),
            ]
        ),
    )


def register(router: Router) -> None:
    """The chair's commands and their buttons."""
    router.command(SUMMARY_COMMANDS, summary_command)
    router.command(EXPORT_COMMANDS, export_command)
    router.command(CLOSE_COMMANDS, close_command)
    router.button("yc", close_button, "ii")
    router.button("yx", close_button)
    router.command(HANDOVER_COMMANDS, handover_command)
    router.button("hoc", handover_button, "iii")
    router.button(["hov", "hok"], handover_button, "iiii")
    router.button("hox", handover_button)
