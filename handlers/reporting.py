"""Reporting in a private chat: the guided /report flow, the one-line form, /progress and
/history. Every rule is in services.reporting; this module asks, renders and replies, on any
channel. The guided flow is a step machine over a draft row (services.drafts): a restart
or another worker takes the next step."""

from __future__ import annotations

import asyncio
import html
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from handlers.channel import Undeliverable
from handlers.core import Call, Router
from handlers.i18n import Html
from handlers.io import Attachment, Choice, Choices, choices
from handlers.render import (
    mark,
    period_label,
    period_line,
    progress_page,
    short,
    value_text,
)
from models.tables import CriterionKind
from services import drafts, reporting
from services.errors import InvalidInput
from services.reporting import EvidenceIn, PeriodState, Preview, Sheet

log = logging.getLogger(__name__)

KIND = "report"
CHOOSE, VALUE, EVIDENCE, NOTE, CONFIRM = "choose", "value", "evidence", "note", "confirm"
REPORT_COMMANDS = ["report", "baocao"]
PROGRESS_COMMANDS = ["progress", "tiendo"]
HISTORY_COMMANDS = ["history", "lichsu"]


@dataclass
class ReportDraft:
    """A report being composed in the guided flow; nothing is stored until it is confirmed."""

    period_code: str | None = None
    group_code: str | None = None
    criterion_code: str | None = None
    value_text: str | None = None
    note: str | None = None
    evidence: list[dict[str, Any]] = field(default_factory=list)  # Attachment fields

    @classmethod
    def of(cls, found: drafts.Open | None) -> ReportDraft:
        return cls(**found.data) if found is not None else cls()

    def files(self) -> list[Attachment]:
        return [Attachment(**item) for item in self.evidence]


async def _load(call: Call) -> tuple[ReportDraft, str | None]:
    found = await call.draft(KIND)
    return ReportDraft.of(found), found.step if found else None


async def _save(call: Call, draft: ReportDraft, step: str) -> None:
    await call.save_draft(KIND, step, asdict(draft))


async def _store(call: Call, files: list[Attachment]) -> list[EvidenceIn]:
    """Download the files into the storage directory, just before the report is saved."""
    if not files:
        return []  # most reports: no folder to make, no thread to wait for
    core = call.core
    seat = call.actor.seat
    assert seat is not None
    folder = core.storage_dir / seat.cluster_code / str(seat.year) / seat.unit_code
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    stored = []
    for item in files:
        reporting.check_evidence_size(item.size, core.evidence_limit)
        # The stored name is the channel's unique id: a user-chosen name never becomes a path.
        target = folder / f"{item.unique_id}{Path(item.name).suffix.lower()[:10]}"
        try:
            await call.channel.fetch(item, target)
        except Undeliverable as exc:
            log.warning("evidence %s could not be fetched: %s", item.unique_id, exc.detail)
            await asyncio.to_thread(target.unlink, missing_ok=True)
            limit = reporting.megabytes(core.evidence_limit)
            raise InvalidInput("error.evidence_download", limit_mb=limit) from None
        # Zalo tells no size before the download: the file on disk says it.
        size = item.size or (await asyncio.to_thread(target.stat)).st_size
        stored.append(EvidenceIn(item.ref, item.unique_id, item.name, item.mime, size, str(target)))
    return stored


# ---------------------------------------------------------------- the guided flow


def _group_lines(sheet: Sheet, group_code: str) -> list[reporting.Line]:
    prefix = group_code + "."
    return [ln for ln in sheet.lines if ln.criterion.code.startswith(prefix)]


async def _sheet(call: Call, draft: ReportDraft) -> Sheet:
    return await reporting.sheet(
        call.session, call.actor, period_code=draft.period_code, now=call.now, year=False
    )


async def _show_groups(call: Call, draft: ReportDraft) -> None:
    sheet = await _sheet(call, draft)
    assert sheet.period is not None
    draft.period_code = sheet.period.code
    t = call.t
    rows: list[list[Choice]] = []
    for group in sheet.groups:
        if group.depth:
            continue
        lines = [ln for ln in sheet.lines if ln.criterion.code.split(".")[0] == group.code]
        done = sum(1 for ln in lines if ln.latest is not None)
        label = f"{group.code}. {short(group.name, 40)} ({done}/{len(lines)})"
        rows.append([Choice(label, f"rg:{group.code}")])
    for line in sheet.lines:
        if line.criterion.group_code is None:
            label = f"{mark(line.latest)} {line.criterion.code} {short(line.criterion.name, 40)}"
            rows.append([Choice(label, f"rc:{line.criterion.code}")])
    rows.append(
        [Choice(t.raw("report.other_period"), "rp"), Choice(t.raw("report.cancel_button"), "rx")]
    )
    text = Html(
        "\n".join(
            [
                t("report.choose_group", unit=sheet.unit_name),
                period_line(t, sheet.period, sheet.year, call.core.tz),
                t("report.legend"),
            ]
        )
    )
    await _save(call, draft, CHOOSE)
    await call.reply(text, choices(*rows))


async def report_entry(call: Call) -> None:
    """/report, /baocao: the guided flow; with arguments, the one-line form."""
    if not call.private:
        await call.reply(call.t("report.private_only"))
        return
    if call.args:
        await _one_line(call, call.args, list(call.incoming.attachments))
        return
    # A new /report starts from a clean draft; the year's state is checked before any step.
    await call.drop_draft(KIND)
    await reporting.check_open(call.session, call.actor)
    await _show_groups(call, ReportDraft())


async def report_from_button(call: Call) -> None:
    """A "report now" button (from a reminder or /progress): straight to the criterion."""
    _, period_code, code = [*call.button.split(":", 2), "", ""][:3]
    if not code:
        raise InvalidInput("error.stale_button")
    await reporting.check_open(call.session, call.actor)
    draft = ReportDraft(period_code=period_code or None)
    await _ask_value(call, draft, code)


async def report_now(call: Call) -> None:
    """The "report" button of a reminder or /progress: the guided flow from the start."""
    call.args = []
    await report_entry(call)


async def _in_step(call: Call, *steps: str) -> ReportDraft:
    """The draft, if the flow is at one of these steps; an older screen's button is out of
    date and says so (the flow stays where it is)."""
    draft, step = await _load(call)
    if step not in steps:
        raise InvalidInput("error.stale_button")
    return draft


async def choose(call: Call) -> None:
    """The buttons of the choosing screen: a group, a criterion, another period, cancel."""
    data = call.button
    t = call.t
    if data == "rx":
        await call.drop_draft(KIND)
        await call.reply(t("report.cancelled"))
        return
    draft = await _in_step(call, CHOOSE)
    if data == "rb":
        await _show_groups(call, draft)
        return
    if data == "rp":
        periods = await reporting.periods(call.session, call.actor, call.now)
        year = (call.actor.seat.year if call.actor.seat else None) or 0
        rows = [
            [
                Choice(
                    f"{period_label(t, p.code, year)} · {t.raw('period.short.' + p.state.value)}",
                    f"rpp:{p.code}",
                )
            ]
            for p in periods
            if p.state is not PeriodState.FUTURE
        ]
        await call.reply(t("report.choose_period"), choices(*rows))
        return
    if data.startswith("rpp:"):
        draft.period_code = data.removeprefix("rpp:")
        await _show_groups(call, draft)
        return
    if data.startswith("rg:"):
        group = data.removeprefix("rg:")
        draft.group_code = group
        sheet = await _sheet(call, draft)
        rows = [
            [
                Choice(
                    f"{mark(ln.latest)} {ln.criterion.code} {short(ln.criterion.name, 45)}",
                    f"rc:{ln.criterion.code}",
                )
            ]
            for ln in _group_lines(sheet, group)
        ]
        rows.append([Choice(t.raw("report.back"), "rb")])
        await _save(call, draft, CHOOSE)
        await call.reply(t("report.choose_criterion", group=group), choices(*rows))
        return
    if data.startswith("rc:"):
        await _ask_value(call, draft, data.removeprefix("rc:"))


async def _ask_value(call: Call, draft: ReportDraft, code: str) -> None:
    sheet = await _sheet(call, draft)
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
        period_line(t, sheet.period, sheet.year, call.core.tz),
    ]
    if line.latest is not None:
        parts.append(
            t(
                "report.current",
                value=value_text(t, c, line.latest.value),
                version=line.latest.version,
            )
        )
    options: Choices = ()
    if c.kind is CriterionKind.YES_NO:
        parts.append(t("report.ask_yes_no"))
        options = choices(
            [Choice(t.raw("value.yes"), "rv:có"), Choice(t.raw("value.no"), "rv:không")]
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
    await _save(call, draft, VALUE)
    await call.reply(Html("\n".join(parts)), options)


async def _check_value(call: Call, draft: ReportDraft, raw: str) -> Preview:
    if draft.criterion_code is None:
        raise InvalidInput("error.stale_button")
    return await reporting.preview(
        call.session,
        call.actor,
        criterion_code=draft.criterion_code,
        period_code=draft.period_code,
        raw_value=raw,
        language=call.t.language,
        now=call.now,
    )


async def _take_value(call: Call, draft: ReportDraft, raw: str) -> None:
    checked = await _check_value(call, draft, raw)
    draft.value_text = raw
    t = call.t
    key = (
        "report.ask_evidence_required"
        if checked.criterion.evidence_required
        else "report.ask_evidence"
    )
    await _save(call, draft, EVIDENCE)
    await call.reply(
        t(key, proposed=t.number(checked.proposed), max=t.number(checked.criterion.max_points)),
        choices([Choice(t.raw("report.skip"), "re:done")]),
    )


async def value_pressed(call: Call) -> None:
    """The value, from the yes/no buttons."""
    draft = await _in_step(call, VALUE)
    await _take_value(call, draft, call.button.removeprefix("rv:"))


async def _add_evidence(call: Call, draft: ReportDraft) -> None:
    """Documents or photos as evidence; several may be sent."""
    t = call.t
    for item in call.incoming.attachments:
        reporting.check_evidence_size(item.size, call.core.evidence_limit)
        draft.evidence.append(asdict(item))
    last = call.incoming.attachments[-1]
    await _save(call, draft, EVIDENCE)
    await call.reply(
        t(
            "report.evidence_received",
            len(draft.evidence),
            name=last.name,
            count=len(draft.evidence),
        ),
        choices([Choice(t.raw("report.continue"), "re:done")]),
    )


async def evidence_done(call: Call) -> None:
    """On to the note."""
    draft = await _in_step(call, EVIDENCE)
    checked = await _check_value(call, draft, draft.value_text or "")
    if checked.criterion.evidence_required and not draft.evidence:
        raise InvalidInput("error.evidence_required", code=checked.criterion.code)
    t = call.t
    await _save(call, draft, NOTE)
    if checked.criterion.kind is CriterionKind.JUDGED:
        await call.reply(t("report.ask_note_required"))
    else:
        await call.reply(t("report.ask_note"), choices([Choice(t.raw("report.skip"), "rn:skip")]))


async def _confirm(call: Call, draft: ReportDraft) -> None:
    checked = await _check_value(call, draft, draft.value_text or "")
    t = call.t
    c = checked.criterion
    seat = call.actor.seat
    year = seat.year if seat and seat.year else 0
    lines = [
        t("report.confirm_head"),
        t("report.confirm_criterion", code=c.code, name=short(c.name, 120)),
        t("report.confirm_period", period=period_label(t, checked.period.code, year)),
        t("report.confirm_value", value=value_text(t, c, checked.value)),
        t("report.confirm_score", proposed=t.number(checked.proposed), max=t.number(c.max_points)),
        t(
            "report.confirm_evidence",
            files=", ".join(f.name for f in draft.files()) or "—",
        ),
        t("report.confirm_note", note=draft.note or "—"),
        t("report.confirm_version", version=checked.next_version),
    ]
    if checked.late:
        lines.append(t("report.confirm_late"))
    await _save(call, draft, CONFIRM)
    await call.reply(
        Html("\n".join(lines)),
        choices(
            [Choice(t.raw("report.send"), "rk:ok"), Choice(t.raw("report.cancel_button"), "rk:no")]
        ),
    )


async def note_skipped(call: Call) -> None:
    """No note."""
    draft = await _in_step(call, NOTE)
    checked = await _check_value(call, draft, draft.value_text or "")
    if checked.criterion.kind is CriterionKind.JUDGED:
        raise InvalidInput("error.judged_needs_note", code=checked.criterion.code)
    draft.note = None
    await _confirm(call, draft)


async def confirmed(call: Call) -> None:
    """Send or cancel the report on the confirm screen."""
    if call.button != "rk:ok":
        await call.drop_draft(KIND)
        await call.reply(call.t("report.cancelled"))
        return
    draft = await _in_step(call, CONFIRM)
    assert draft.criterion_code is not None  # set before the flow reaches CONFIRM
    stored = await _store(call, draft.files())
    done = await reporting.submit(
        call.session,
        call.actor,
        criterion_code=draft.criterion_code,
        period_code=draft.period_code,
        raw_value=draft.value_text or "",
        note=draft.note,
        evidence=stored,
        evidence_limit=call.core.evidence_limit,
        language=call.t.language,
        now=call.now,
    )
    await call.drop_draft(KIND)
    await call.reply(_saved_text(call, done))


async def step(call: Call, found: drafts.Open) -> None:
    """Typed text or files while the flow is open: the answer to the current step."""
    draft = ReportDraft.of(found)
    incoming = call.incoming
    if found.step == EVIDENCE and incoming.attachments:
        await _add_evidence(call, draft)
    elif found.step == VALUE and incoming.text and not incoming.attachments:
        await _take_value(call, draft, incoming.text)
    elif found.step == NOTE and incoming.text and not incoming.attachments:
        draft.note = incoming.text
        await _confirm(call, draft)
    else:
        await call.refuse(call.t("report.unexpected"))


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


async def cancel(call: Call) -> None:
    """/cancel: leave whatever guided step is open; nothing is saved."""
    found = await call.draft("review")
    await call.drop_draft()
    await call.reply(call.t("review.cancelled" if found else "report.cancelled"))


# ---------------------------------------------------------------- the one-line form


async def _one_line(call: Call, args: list[str], evidence: list[Attachment]) -> None:
    # An optional leading period code: /baocao Q1 2.1 có reports for Q1 (late, say).
    split = await reporting.one_line(call.session, call.actor, args)
    period_code, code = split.period_code, split.criterion_code
    raw, note = split.raw_value, split.note
    if evidence:
        # Checked before any download: a wrong value must not leave a file behind. (Without
        # files, submitting checks the same; the version is taken when it is stored.)
        await reporting.preview(
            call.session,
            call.actor,
            criterion_code=code,
            period_code=period_code,
            raw_value=raw,
            language=call.t.language,
            now=call.now,
            count_versions=False,
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
        evidence_limit=call.core.evidence_limit,
        language=call.t.language,
        now=call.now,
    )
    await call.reply(_saved_text(call, done))


# ---------------------------------------------------------------- progress and history


def _progress_choices(call: Call, scope: str, period: str, page: int, pages: int) -> Choices:
    t = call.t
    toggle = (
        Choice(t.raw("progress.show_year"), f"pg:y:{period}:0")
        if scope == "p"
        else Choice(t.raw("progress.show_period"), f"pg:p:{period}:0")
    )
    row = []
    if page > 0:
        row.append(Choice("◀", f"pg:{scope}:{period}:{page - 1}"))
    row.append(toggle)
    if page < pages - 1:
        row.append(Choice("▶", f"pg:{scope}:{period}:{page + 1}"))
    return choices(row, [Choice(t.raw("progress.report_now"), "rnow")])


async def _show_progress(call: Call, scope: str, period: str | None, page: int) -> None:
    sheet = await reporting.sheet(
        call.session, call.actor, period_code=period, now=call.now, year=scope == "y"
    )
    text, pages = progress_page(call.t, sheet, page, call.core.tz)
    code = sheet.period.code if sheet.period else (period or "")
    await call.reply(text, _progress_choices(call, scope, code, page, pages))


async def progress(call: Call) -> None:
    """/progress, /tiendo [period]: the unit's standing, criterion by criterion."""
    if not call.private:
        await call.reply(call.t("report.private_only"))
        return
    await _show_progress(call, "p", call.args[0] if call.args else None, 0)


async def progress_page_button(call: Call) -> None:
    """Paging and the period/year switch of /progress."""
    parts = call.button.split(":")
    if len(parts) != 4 or parts[1] not in ("p", "y") or not parts[3].isdigit():
        raise InvalidInput("error.stale_button")
    _, scope, period, page = parts
    await _show_progress(call, scope, period or None, int(page[:4]))


async def history(call: Call) -> None:
    """/history, /lichsu CODE: every version the unit reported on a criterion."""
    if not call.private:
        # A unit's notes and files are its own: never shown in the cluster's group.
        await call.reply(call.t("report.private_only"))
        return
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
            when=t.datetime(v.reported_at, call.core.tz),
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


def register(router: Router) -> None:
    """The reporting commands, buttons and the guided flow's steps."""
    router.command(REPORT_COMMANDS, report_entry)
    router.command("cancel", cancel)
    router.command(PROGRESS_COMMANDS, progress)
    router.command(HISTORY_COMMANDS, history)
    router.button(["rg", "rc", "rpp"], choose, "s")
    router.button(["rp", "rb", "rx"], choose)
    router.button("rr", report_from_button, "ss")
    router.button("rnow", report_now)
    router.button("rv", value_pressed, "s")
    router.button("re", evidence_done, "s")
    router.button("rn", note_skipped, "s")
    router.button("rk", confirmed, "s")
    router.button("pg", progress_page_button, "soi")
    router.step(KIND, step)
