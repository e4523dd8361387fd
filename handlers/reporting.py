"""Reporting in a private chat: the guided /report flow, the one-line form, /progress and
/history. Every rule is in services.reporting; this module asks, renders and replies."""

from __future__ import annotations

import asyncio
import html
import logging
import warnings
from pathlib import Path
from typing import Any

from telegram import InlineKeyboardMarkup, Message
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from handlers.common import Call, button, use_case
from handlers.context import Context, ReportDraft
from handlers.i18n import Html
from handlers.render import (
    mark,
    period_label,
    period_line,
    progress_page,
    short,
    value_text,
)
from models.tables import CriterionKind
from services import reporting
from services.errors import InvalidInput
from services.reporting import EvidenceIn, PeriodState, Preview, Sheet

log = logging.getLogger(__name__)

CHOOSE, VALUE, EVIDENCE, NOTE, CONFIRM = range(5)
END = ConversationHandler.END
REPORT_COMMANDS = ["report", "baocao"]
PROGRESS_COMMANDS = ["progress", "tiendo"]
HISTORY_COMMANDS = ["history", "lichsu"]


def _draft(call: Call) -> ReportDraft:
    data = call.context.user_data
    assert data is not None  # private-chat updates always carry a user
    if data.draft is None:
        data.draft = ReportDraft()
    return data.draft


def _drop_draft(call: Call) -> None:
    if call.context.user_data is not None:
        call.context.user_data.draft = None


def _evidence(message: Message | None) -> tuple[str, str, str, str | None, int] | None:
    """The file of a message, if it has one (a document, or the largest photo size)."""
    if message is None:
        return None
    if message.document is not None:
        doc = message.document
        return (
            doc.file_id,
            doc.file_unique_id,
            doc.file_name or f"{doc.file_unique_id}.bin",
            doc.mime_type,
            doc.file_size or 0,
        )
    if message.photo:
        photo = message.photo[-1]
        return (
            photo.file_id,
            photo.file_unique_id,
            f"{photo.file_unique_id}.jpg",
            "image/jpeg",
            photo.file_size or 0,
        )
    return None


async def _store(
    call: Call, drafts: list[tuple[str, str, str, str | None, int]]
) -> list[EvidenceIn]:
    """Download the files into the storage directory, just before the report is saved."""
    data = call.context.bot_data
    seat = call.actor.seat
    assert seat is not None
    folder = data.storage_dir / seat.cluster_code / str(seat.year) / seat.unit_code
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    stored = []
    for file_id, unique_id, name, mime, size in drafts:
        reporting.check_evidence_size(size, data.evidence_limit)
        # The stored name is Telegram's unique id: a user-chosen name never becomes a path.
        target = folder / f"{unique_id}{Path(name).suffix.lower()[:10]}"
        telegram_file = await call.context.bot.get_file(file_id)
        await telegram_file.download_to_drive(target)
        stored.append(EvidenceIn(file_id, unique_id, name, mime, size, str(target)))
    return stored


# ---------------------------------------------------------------- the guided flow


async def _show_groups(call: Call) -> int:
    draft = _draft(call)
    sheet = await reporting.sheet(
        call.session, call.actor, period_code=draft.period_code, now=call.now, year=False
    )
    assert sheet.period is not None
    draft.period_code = sheet.period.code
    t = call.t
    rows = []
    for group in sheet.groups:
        if group.depth:
            continue
        lines = [ln for ln in sheet.lines if ln.criterion.code.split(".")[0] == group.code]
        done = sum(1 for ln in lines if ln.latest is not None)
        rows.append(
            [
                button(
                    f"{group.code}. {short(group.name, 40)} ({done}/{len(lines)})",
                    f"rg:{group.code}",
                )
            ]
        )
    loose = [ln for ln in sheet.lines if ln.criterion.group_code is None]
    for line in loose:
        rows.append(
            [
                button(
                    f"{mark(line.latest)} {line.criterion.code} {short(line.criterion.name, 40)}",
                    f"rc:{line.criterion.code}",
                )
            ]
        )
    rows.append(
        [button(t.raw("report.other_period"), "rp"), button(t.raw("report.cancel_button"), "rx")]
    )
    text = Html(
        "\n".join(
            [
                t("report.choose_group", unit=sheet.unit_name),
                period_line(t, sheet.period, sheet.year, call.context.bot_data.tz),
                t("report.legend"),
            ]
        )
    )
    await call.reply(text, InlineKeyboardMarkup(rows))
    return CHOOSE


def _group_lines(sheet: Sheet, group_code: str) -> list[reporting.Line]:
    prefix = group_code + "."
    return [ln for ln in sheet.lines if ln.criterion.code.startswith(prefix)]


@use_case
async def report_entry(call: Call) -> int | None:
    """/report, /baocao: the guided flow; with arguments, the one-line form."""
    if not call.private:
        await call.reply(call.t("report.private_only"))
        return END
    if call.args:
        await _one_line(call, call.args, [])
        return END
    _drop_draft(call)  # a new /report starts from a clean draft
    return await _show_groups(call)


@use_case
async def report_from_button(call: Call) -> int | None:
    """A "report now" button (from a reminder or /progress): straight to the criterion."""
    query = call.update.callback_query
    assert query is not None and query.data is not None
    _, period_code, code = query.data.split(":", 2)
    draft = _draft(call)
    draft.period_code = period_code or None
    return await _ask_value(call, code)


@use_case
async def choose(call: Call) -> int | None:
    """The buttons of the choosing screen: a group, a criterion, another period, cancel."""
    query = call.update.callback_query
    assert query is not None and query.data is not None
    data = query.data
    draft = _draft(call)
    t = call.t
    if data == "rx":
        _drop_draft(call)
        await call.reply(t("report.cancelled"))
        return END
    if data == "rb":
        return await _show_groups(call)
    if data == "rp":
        periods = await reporting.periods(call.session, call.actor, call.now)
        year = (call.actor.seat.year if call.actor.seat else None) or 0
        rows = [
            [
                button(
                    f"{period_label(t, p.code, year)} · {t.raw('period.short.' + p.state.value)}",
                    f"rpp:{p.code}",
                )
            ]
            for p in periods
            if p.state is not PeriodState.FUTURE
        ]
        await call.reply(t("report.choose_period"), InlineKeyboardMarkup(rows))
        return CHOOSE
    if data.startswith("rpp:"):
        draft.period_code = data.removeprefix("rpp:")
        return await _show_groups(call)
    if data.startswith("rg:"):
        group = data.removeprefix("rg:")
        draft.group_code = group
        sheet = await reporting.sheet(
            call.session, call.actor, period_code=draft.period_code, now=call.now, year=False
        )
        rows = [
            [
                button(
                    f"{mark(ln.latest)} {ln.criterion.code} {short(ln.criterion.name, 45)}",
                    f"rc:{ln.criterion.code}",
                )
            ]
            for ln in _group_lines(sheet, group)
        ]
        rows.append([button(t.raw("report.back"), "rb")])
        await call.reply(t("report.choose_criterion", group=group), InlineKeyboardMarkup(rows))
        return CHOOSE
    if data.startswith("rc:"):
        return await _ask_value(call, data.removeprefix("rc:"))
    return CHOOSE


async def _ask_value(call: Call, code: str) -> int:
    draft = _draft(call)
    sheet = await reporting.sheet(
        call.session, call.actor, period_code=draft.period_code, now=call.now, year=False
    )
    assert sheet.period is not None
    draft.period_code = sheet.period.code
    line = next((ln for ln in sheet.lines if ln.criterion.code == code), None)
    if line is None:
        # Validates the code the same way the one-line form does, with the same message.
        await reporting.preview(
            call.session,
            call.actor,
            criterion_code=code,
            period_code=draft.period_code,
            raw_value="0",
            language=call.t.language,
            now=call.now,
        )
        raise InvalidInput("error.criterion_not_found", code=code, cluster=sheet.cluster_code)
    draft.criterion_code = code
    c = line.criterion
    t = call.t
    parts = [
        t("report.criterion_head", code=c.code, name=c.name, max=t.number(c.max_points)),
        period_line(t, sheet.period, sheet.year, call.context.bot_data.tz),
    ]
    if line.latest is not None:
        parts.append(
            t(
                "report.current",
                value=value_text(t, c, line.latest.value),
                version=line.latest.version,
            )
        )
    keyboard = None
    if c.kind is CriterionKind.YES_NO:
        parts.append(t("report.ask_yes_no"))
        keyboard = InlineKeyboardMarkup(
            [[button(t.raw("value.yes"), "rv:có"), button(t.raw("value.no"), "rv:không")]]
        )
    else:
        target = t.number(c.target) if c.target is not None else "—"
        parts.append(
            t(
                f"report.ask.{c.kind.value}",
                unit=c.measure_unit or "",
                target=target,
                max=t.number(c.max_points),
                each=t.number(c.points_each) if c.points_each is not None else "",
            )
        )
    parts.append(t("report.cancel_hint"))
    await call.reply(Html("\n".join(parts)), keyboard)
    return VALUE


async def _check_value(call: Call, raw: str) -> Preview:
    draft = _draft(call)
    assert draft.criterion_code is not None
    return await reporting.preview(
        call.session,
        call.actor,
        criterion_code=draft.criterion_code,
        period_code=draft.period_code,
        raw_value=raw,
        language=call.t.language,
        now=call.now,
    )


async def _ask_evidence(call: Call, checked: Preview) -> int:
    t = call.t
    key = (
        "report.ask_evidence_required"
        if checked.criterion.evidence_required
        else "report.ask_evidence"
    )
    await call.reply(
        t(key, proposed=t.number(checked.proposed), max=t.number(checked.criterion.max_points)),
        InlineKeyboardMarkup([[button(t.raw("report.skip"), "re:done")]]),
    )
    return EVIDENCE


@use_case
async def value_typed(call: Call) -> int | None:
    """The value, typed."""
    message = call.update.effective_message
    assert message is not None and message.text is not None
    checked = await _check_value(call, message.text)
    _draft(call).value_text = message.text
    return await _ask_evidence(call, checked)


@use_case
async def value_pressed(call: Call) -> int | None:
    """The value, from the yes/no buttons."""
    query = call.update.callback_query
    assert query is not None and query.data is not None
    raw = query.data.removeprefix("rv:")
    checked = await _check_value(call, raw)
    _draft(call).value_text = raw
    return await _ask_evidence(call, checked)


@use_case
async def evidence_sent(call: Call) -> int | None:
    """A document or photo as evidence; several may be sent."""
    item = _evidence(call.update.effective_message)
    assert item is not None
    reporting.check_evidence_size(item[4], call.context.bot_data.evidence_limit)
    draft = _draft(call)
    draft.evidence.append(item)
    t = call.t
    await call.reply(
        t("report.evidence_received", name=item[2], count=len(draft.evidence)),
        InlineKeyboardMarkup([[button(t.raw("report.continue"), "re:done")]]),
    )
    return EVIDENCE


@use_case
async def evidence_done(call: Call) -> int | None:
    """On to the note."""
    draft = _draft(call)
    assert draft.criterion_code is not None
    checked = await _check_value(call, draft.value_text or "")
    if checked.criterion.evidence_required and not draft.evidence:
        raise InvalidInput("error.evidence_required", code=checked.criterion.code)
    t = call.t
    if checked.criterion.kind is CriterionKind.JUDGED:
        await call.reply(t("report.ask_note_required"))
    else:
        await call.reply(
            t("report.ask_note"), InlineKeyboardMarkup([[button(t.raw("report.skip"), "rn:skip")]])
        )
    return NOTE


async def _confirm(call: Call) -> int:
    draft = _draft(call)
    checked = await _check_value(call, draft.value_text or "")
    t = call.t
    c = checked.criterion
    seat = call.actor.seat
    assert seat is not None and seat.year is not None
    lines = [
        t("report.confirm_head"),
        t("report.confirm_criterion", code=c.code, name=short(c.name, 120)),
        t("report.confirm_period", period=period_label(t, checked.period.code, seat.year)),
        t("report.confirm_value", value=value_text(t, c, checked.value)),
        t("report.confirm_score", proposed=t.number(checked.proposed), max=t.number(c.max_points)),
        t("report.confirm_evidence", files=", ".join(e[2] for e in draft.evidence) or "—"),
        t("report.confirm_note", note=draft.note or "—"),
        t("report.confirm_version", version=checked.next_version),
    ]
    if checked.late:
        lines.append(t("report.confirm_late"))
    keyboard = InlineKeyboardMarkup(
        [[button(t.raw("report.send"), "rk:ok"), button(t.raw("report.cancel_button"), "rk:no")]]
    )
    await call.reply(Html("\n".join(lines)), keyboard)
    return CONFIRM


@use_case
async def note_typed(call: Call) -> int | None:
    """The note (or, for a judged item, the justification)."""
    message = call.update.effective_message
    assert message is not None and message.text is not None
    _draft(call).note = message.text
    return await _confirm(call)


@use_case
async def note_skipped(call: Call) -> int | None:
    """No note."""
    draft = _draft(call)
    checked = await _check_value(call, draft.value_text or "")
    if checked.criterion.kind is CriterionKind.JUDGED:
        raise InvalidInput("error.judged_needs_note", code=checked.criterion.code)
    draft.note = None
    return await _confirm(call)


@use_case
async def confirmed(call: Call) -> int | None:
    """Send or cancel the report on the confirm screen."""
    query = call.update.callback_query
    assert query is not None
    if query.data != "rk:ok":
        _drop_draft(call)
        await call.reply(call.t("report.cancelled"))
        return END
    draft = _draft(call)
    assert draft.criterion_code is not None
    stored = await _store(call, draft.evidence)
    done = await reporting.submit(
        call.session,
        call.actor,
        criterion_code=draft.criterion_code,
        period_code=draft.period_code,
        raw_value=draft.value_text or "",
        note=draft.note,
        evidence=stored,
        evidence_limit=call.context.bot_data.evidence_limit,
        language=call.t.language,
        now=call.now,
    )
    _drop_draft(call)
    await call.reply(_saved_text(call, done))
    return END


def _saved_text(call: Call, done: reporting.Submitted) -> Html:
    t = call.t
    c = done.preview.criterion
    seat = call.actor.seat
    year = seat.year if seat and seat.year else 0
    text = t(
        "report.saved",
        code=c.code,
        period=period_label(t, done.preview.period.code, year),
        value=value_text(t, c, done.preview.value),
        proposed=t.number(done.preview.proposed),
        max=t.number(c.max_points),
        version=done.version,
    )
    if done.preview.late:
        text = Html(text + "\n" + t("report.saved_late"))
    return text


@use_case
async def cancel(call: Call) -> int | None:
    """/cancel: leave the flow; nothing is saved."""
    _drop_draft(call)
    await call.reply(call.t("report.cancelled"))
    return END


@use_case
async def unexpected(call: Call) -> int | None:
    """Something the current step did not ask for."""
    await call.reply(call.t("report.unexpected"))
    return None


async def timed_out(update: object, context: Context) -> None:
    """An abandoned flow is forgotten; nothing was saved."""
    if context.user_data is not None:
        context.user_data.draft = None


# ---------------------------------------------------------------- the one-line form


async def _one_line(
    call: Call, args: list[str], evidence: list[tuple[str, str, str, str | None, int]]
) -> None:
    period_code = None
    if len(args) >= 3:
        # An optional leading period code: /baocao Q1 2.1 có reports for Q1 (late, say).
        codes = {
            p.code.lower() for p in await reporting.periods(call.session, call.actor, call.now)
        }
        if args[0].lower() in codes:
            period_code, args = args[0], args[1:]
    if len(args) < 2:
        raise InvalidInput("error.one_line_usage")
    code, raw, note = args[0], args[1], " ".join(args[2:]) or None
    # Checked before any download: a wrong value must not leave a file behind.
    await reporting.preview(
        call.session,
        call.actor,
        criterion_code=code,
        period_code=period_code,
        raw_value=raw,
        language=call.t.language,
        now=call.now,
    )
    stored = await _store(call, evidence)
    done = await reporting.submit(
        call.session,
        call.actor,
        criterion_code=code,
        period_code=period_code,
        raw_value=raw,
        note=note,
        evidence=stored,
        evidence_limit=call.context.bot_data.evidence_limit,
        language=call.t.language,
        now=call.now,
    )
    await call.reply(_saved_text(call, done))


@use_case
async def report_with_file(call: Call) -> None:
    """A document or photo whose caption is a one-line report: the file is the evidence."""
    message = call.update.effective_message
    assert message is not None and message.caption is not None
    item = _evidence(message)
    words = message.caption.split()[1:]
    await _one_line(call, words, [item] if item else [])


# ---------------------------------------------------------------- progress and history


def _progress_keyboard(
    call: Call, scope: str, period: str, page: int, pages: int
) -> InlineKeyboardMarkup:
    t = call.t
    toggle = (
        button(t.raw("progress.show_year"), f"pg:y:{period}:0")
        if scope == "p"
        else button(t.raw("progress.show_period"), f"pg:p:{period}:0")
    )
    row = []
    if page > 0:
        row.append(button("◀", f"pg:{scope}:{period}:{page - 1}"))
    row.append(toggle)
    if page < pages - 1:
        row.append(button("▶", f"pg:{scope}:{period}:{page + 1}"))
    return InlineKeyboardMarkup([row, [button(t.raw("progress.report_now"), "rnow")]])


async def _show_progress(call: Call, scope: str, period: str | None, page: int) -> None:
    sheet = await reporting.sheet(
        call.session, call.actor, period_code=period, now=call.now, year=scope == "y"
    )
    text, pages = progress_page(call.t, sheet, page, call.context.bot_data.tz)
    code = sheet.period.code if sheet.period else (period or "")
    await call.reply(text, _progress_keyboard(call, scope, code, page, pages))


@use_case
async def progress(call: Call) -> None:
    """/progress, /tiendo [period]: the unit's standing, criterion by criterion."""
    if not call.private:
        await call.reply(call.t("report.private_only"))
        return
    await _show_progress(call, "p", call.args[0] if call.args else None, 0)


@use_case
async def progress_page_button(call: Call) -> None:
    """Paging and the period/year switch of /progress."""
    query = call.update.callback_query
    assert query is not None and query.data is not None
    _, scope, period, page = query.data.split(":")
    await _show_progress(call, scope, period or None, int(page))


@use_case
async def history(call: Call) -> None:
    """/history, /lichsu CODE: every version the unit reported on a criterion."""
    if not call.args:
        raise InvalidInput("error.history_usage")
    criterion, versions = await reporting.history(
        call.session, call.actor, criterion_code=call.args[0]
    )
    t = call.t
    lines: list[str] = [t("history.head", code=criterion.code, name=short(criterion.name, 120))]
    if not versions:
        lines.append(t("history.none"))
    for v in versions:
        entry = t(
            "history.version",
            version=v.version,
            period=v.period_code,
            when=t.datetime(v.reported_at, call.context.bot_data.tz),
            value=value_text(t, criterion, v.value),
            proposed=t.number(v.proposed) if v.proposed is not None else "—",
        )
        extras = []
        if v.late:
            extras.append(t.raw("history.late"))
        if v.evidence:
            extras.append("📎 " + html.escape(", ".join(v.evidence)))
        if v.note:
            extras.append("📝 " + html.escape(short(v.note, 200)))
        if v.verified is not None:
            extras.append(
                t("history.verified", verified=t.number(v.verified), reason=v.review_reason or "—")
            )
        lines.append(entry + "".join("\n    " + e for e in extras))
    await call.reply(Html("\n".join(lines)))


def handlers() -> list[BaseHandler[Any, Context, Any]]:
    """The reporting handlers, in the order they must be registered."""
    with warnings.catch_warnings():
        # per_message=False is right here (one flow per user, across messages); PTB warns
        # about CallbackQueryHandlers in that mode on purpose.
        warnings.filterwarnings("ignore", category=PTBUserWarning, message=".*per_message.*")
        flow = ConversationHandler(
            entry_points=[
                CommandHandler(REPORT_COMMANDS, report_entry),
                CallbackQueryHandler(report_from_button, pattern=r"^rr:"),
                CallbackQueryHandler(report_entry, pattern=r"^rnow$"),
            ],
            states={
                CHOOSE: [CallbackQueryHandler(choose, pattern=r"^(rg:|rc:|rp|rpp:|rb|rx)")],
                VALUE: [
                    MessageHandler(filters.TEXT & ~filters.COMMAND, value_typed),
                    CallbackQueryHandler(value_pressed, pattern=r"^rv:"),
                ],
                EVIDENCE: [
                    MessageHandler(filters.Document.ALL | filters.PHOTO, evidence_sent),
                    CallbackQueryHandler(evidence_done, pattern=r"^re:done$"),
                ],
                NOTE: [
                    MessageHandler(filters.TEXT & ~filters.COMMAND, note_typed),
                    CallbackQueryHandler(note_skipped, pattern=r"^rn:skip$"),
                ],
                CONFIRM: [CallbackQueryHandler(confirmed, pattern=r"^rk:")],
                ConversationHandler.TIMEOUT: [MessageHandler(filters.ALL, timed_out)],
            },
            fallbacks=[
                CommandHandler("cancel", cancel),
                # A new /report restarts the flow instead of being taken as a value.
                CommandHandler(REPORT_COMMANDS, report_entry),
                MessageHandler(filters.ALL & ~filters.COMMAND, unexpected),
                CallbackQueryHandler(unexpected),
            ],
            conversation_timeout=30 * 60,
            name="report",
        )
    return [
        flow,
        MessageHandler(
            (filters.Document.ALL | filters.PHOTO)
            & filters.CaptionRegex(r"^/(report|baocao)(@\w+)?(\s|$)"),
            report_with_file,
        ),
        CommandHandler(PROGRESS_COMMANDS, progress),
        CallbackQueryHandler(progress_page_button, pattern=r"^pg:"),
        CommandHandler(HISTORY_COMMANDS, history),
    ]
