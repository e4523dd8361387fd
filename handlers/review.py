"""The chair's review (/thamdinh), guided with choices or in one line, and the unit's
explanation (/giaitrinh). Every rule is in services.review; this module asks and tells. The
guided review is a step machine over a draft row, like the report flow."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from handlers.channel import Undeliverable
from handlers.core import Call, Router
from handlers.i18n import Html, Texts, texts
from handlers.io import Choice, Text, choices
from handlers.render import short
from models.tables import CriterionKind
from services import drafts, review
from services.errors import InvalidInput
from services.review import ItemDetail, Recipient, Reviewed
from services.standings import Entry, Leaf

log = logging.getLogger(__name__)

KIND = "review"
CHOOSE, SCORE, REASON, CONFIRM = "choose", "score", "reason", "confirm"
REVIEW_COMMANDS = ["review", "thamdinh"]
EXPLAIN_COMMANDS = ["explain", "giaitrinh"]
PAGE = 10


@dataclass
class ReviewDraft:
    """A chair's review being composed; nothing is stored until it is confirmed."""

    cluster_code: str
    unit_code: str | None = None
    criterion_code: str | None = None
    report_id: int | None = None  # the version shown: a newer one makes the review stale
    score_text: str | None = None  # None: verify as proposed
    reason: str | None = None
    page: int = 0


async def _draft(call: Call, *steps: str) -> ReviewDraft:
    """The open review, at one of these steps (any step when none are named)."""
    found = await call.draft(KIND)
    if found is None:
        raise InvalidInput("error.review_expired")
    if steps and found.step not in steps:
        raise InvalidInput("error.stale_button")
    return ReviewDraft(**found.data)


async def _save(call: Call, draft: ReviewDraft, step: str) -> None:
    await call.save_draft(KIND, step, asdict(draft))


def _tz(call: Call) -> ZoneInfo:
    return call.core.tz


def value_text(t: Texts, leaf: Leaf, value: Decimal | None) -> str:
    if value is None:
        return "—"
    if leaf.kind is CriterionKind.YES_NO:
        return t.raw("value.yes") if value else t.raw("value.no")
    unit = f" {leaf.measure_unit}" if leaf.measure_unit else ""
    return f"{t.number(value)}{unit}"


def status_mark(entry: Entry) -> str:
    """🕓 waiting for review, ✔ verified as proposed, ✏ adjusted."""
    if entry.verified is None:
        return "🕓"
    return "✏" if entry.adjusted else "✔"


# ---------------------------------------------------------------- screens


async def _show_units(call: Call, cluster_code: str | None) -> None:
    view = await review.units(call.session, call.actor, cluster_code=cluster_code)
    t = call.t
    rows = [
        [
            Choice(
                f"{u.member.short_name} · {u.pending}/{u.reported} "
                + t.raw("review.pending_short"),
                f"tvu:{u.member.code}",
            )
        ]
        for u in view.units
    ]
    rows.append([Choice(t.raw("review.cancel_button"), "tvx")])
    await _save(call, ReviewDraft(cluster_code=view.cluster_code), CHOOSE)
    await call.reply(t("review.choose_unit", year=view.year), choices(*rows))


async def _show_items(call: Call, draft: ReviewDraft, page: int = 0) -> None:
    assert draft.unit_code is not None
    view = await review.items(
        call.session, call.actor, cluster_code=draft.cluster_code, unit_code=draft.unit_code
    )
    t = call.t
    if not view.items:
        await _save(call, draft, CHOOSE)
        await call.reply(
            t("review.nothing_reported", unit=view.member.short_name),
            choices([Choice(t.raw("review.back"), "tvb")]),
        )
        return
    pages = -(-len(view.items) // PAGE)
    page = min(max(page, 0), pages - 1)
    draft.page = page
    rows = [
        [
            Choice(
                f"{status_mark(i.entry)} {i.leaf.code} {short(i.leaf.name, 40)}",
                f"tvc:{i.leaf.code}",
            )
        ]
        for i in view.items[page * PAGE : (page + 1) * PAGE]
    ]
    nav = []
    if page > 0:
        nav.append(Choice("◀", f"tvp:{page - 1}"))
    nav.append(Choice(t.raw("review.back"), "tvb"))
    if page < pages - 1:
        nav.append(Choice("▶", f"tvp:{page + 1}"))
    rows.append(nav)
    pending = sum(1 for i in view.items if i.entry.verified is None)
    await _save(call, draft, CHOOSE)
    await call.reply(
        t(
            "review.choose_criterion",
            unit=view.member.name,
            reported=len(view.items),
            pending=pending,
            page=page + 1,
            pages=pages,
        ),
        choices(*rows),
    )


def detail_text(t: Texts, d: ItemDetail, tz: ZoneInfo) -> Html:
    e = d.entry
    lines = [
        t("review.detail_head", unit=d.member.name, code=d.leaf.code, name=short(d.leaf.name, 150)),
        t(
            "review.detail_version",
            period=e.period_code,
            version=e.version,
            when=t.datetime(e.reported_at, tz) if e.reported_at else "—",
        ),
        t("review.detail_value", value=value_text(t, d.leaf, e.value)),
        t("review.detail_proposed", proposed=t.number(e.proposed), max=t.number(d.max_points)),
        t("review.detail_note", note=e.note or "—"),
        t("review.detail_evidence", files=", ".join(d.evidence) or "—"),
    ]
    if e.late:
        lines.append(t("review.detail_late"))
    if e.verified is not None:
        lines.append(
            t("review.detail_reviewed", verified=t.number(e.verified), reason=e.reason or "—")
        )
    for answer in d.explanations:
        lines.append(
            t("review.detail_explanation", text=answer.text, when=t.datetime(answer.at, tz))
        )
    if d.leaf.kind is CriterionKind.PENALTY:
        lines.append(t("review.penalty_hint"))
    return Html("\n".join(lines))


async def _show_item(call: Call, draft: ReviewDraft, criterion_code: str) -> None:
    assert draft.unit_code is not None
    detail = await review.item(
        call.session,
        call.actor,
        cluster_code=draft.cluster_code,
        unit_code=draft.unit_code,
        criterion_code=criterion_code,
    )
    draft.criterion_code = detail.leaf.code
    draft.report_id = detail.entry.report_id
    draft.score_text = draft.reason = None
    t = call.t
    await _save(call, draft, CHOOSE)
    await call.reply(
        detail_text(t, detail, _tz(call)),
        choices(
            [Choice(t.raw("review.keep"), "tvk"), Choice(t.raw("review.adjust"), "tva")],
            [Choice(t.raw("review.back"), f"tvp:{draft.page}")],
        ),
    )


async def _confirm(call: Call, draft: ReviewDraft) -> None:
    if draft.unit_code is None or draft.criterion_code is None:
        raise InvalidInput("error.stale_button")
    t = call.t
    if draft.score_text is None:
        detail = await review.item(
            call.session,
            call.actor,
            cluster_code=draft.cluster_code,
            unit_code=draft.unit_code,
            criterion_code=draft.criterion_code,
        )
        proposed = verified = detail.entry.proposed
    else:
        checked = await review.check_score(
            call.session,
            call.actor,
            cluster_code=draft.cluster_code,
            unit_code=draft.unit_code,
            criterion_code=draft.criterion_code,
            score_text=draft.score_text,
            language=t.language,
        )
        proposed, verified = checked.proposed, checked.verified
    text = t(
        "review.confirm",
        code=draft.criterion_code,
        unit=draft.unit_code,
        proposed=t.number(proposed),
        verified=t.number(verified),
        reason=draft.reason or "—",
    )
    await _save(call, draft, CONFIRM)
    await call.reply(
        text,
        choices(
            [Choice(t.raw("review.save"), "tvok"), Choice(t.raw("review.cancel_button"), "tvx")]
        ),
    )


# ---------------------------------------------------------------- telling people


async def notify(call: Call, recipients: list[Recipient], make: Callable[[Texts], Html]) -> int:
    """Message each recipient in their language, on their channel; one unreachable person
    stops nobody."""
    sent = 0
    for person in recipients:
        t = texts(person.language or call.core.default_language)
        try:
            await call.send(person.address, Text(make(t)), t)
        except Undeliverable as exc:
            log.warning("could not tell %s about a review: %s", person.address, exc.detail)
            continue
        sent += 1
    return sent


def review_notice(t: Texts, done: Reviewed) -> Html:
    """What the unit's officers are told about the chair's review."""
    role = t.raw(f"role.chair.{done.cluster_kind}")
    key = "review.notify_adjusted" if done.adjusted else "review.notify_verified"
    return t(
        key,
        role=role,
        code=done.leaf.code,
        name=short(done.leaf.name, 120),
        period=done.entry.period_code,
        version=done.entry.version,
        proposed=t.number(done.entry.proposed),
        verified=t.number(done.verified),
        reason=done.reason or "—",
    )


async def _after_review(call: Call, done: Reviewed) -> None:
    told = await notify(call, done.recipients, lambda t: review_notice(t, done))
    t = call.t
    key = "review.saved_adjusted" if done.adjusted else "review.saved_verified"
    await call.reply(
        t(
            key,
            told,
            code=done.leaf.code,
            unit=done.member.short_name,
            proposed=t.number(done.entry.proposed),
            verified=t.number(done.verified),
            told=told,
        )
    )


# ---------------------------------------------------------------- the handlers


async def review_entry(call: Call) -> None:
    """/review, /thamdinh [UNIT [CODE [SCORE reason…]]]: guided, or in one line."""
    if not call.private:
        await call.reply(call.t("chair.private_only"))
        return
    args = call.args
    await call.drop_draft(KIND)
    if len(args) >= 3:
        unit, code, score, reason = args[0], args[1], args[2], " ".join(args[3:]) or None
        done = await review.submit(
            call.session,
            call.actor,
            cluster_code=None,
            unit_code=unit,
            criterion_code=code,
            score_text=score,
            reason=reason,
            report_id=None,
            reviewer=call.person,
            language=call.t.language,
            now=call.now,
        )
        await _after_review(call, done)
        return
    if not args:
        await _show_units(call, None)
        return
    if call.actor.seat is None and call.actor.is_admin and len(args) == 1:
        # An admin without a unit names the cluster first.
        await _show_units(call, args[0])
        return
    view = await review.items(call.session, call.actor, cluster_code=None, unit_code=args[0])
    draft = ReviewDraft(cluster_code=view.cluster_code, unit_code=view.member.code)
    if len(args) == 2:
        await _show_item(call, draft, args[1])
        return
    await _show_items(call, draft)


async def chosen(call: Call) -> None:
    """The choices of the review screens: unit, page, criterion, keep or adjust, cancel."""
    data = call.button
    t = call.t
    if data == "tvx":
        await call.drop_draft(KIND)
        await call.reply(t("review.cancelled"))
        return
    draft = await _draft(call, CHOOSE)
    if data == "tvb":
        await _show_units(call, draft.cluster_code)
        return
    if data.startswith("tvu:"):
        draft.unit_code = data.removeprefix("tvu:")
        await _show_items(call, draft)
        return
    if data.startswith("tvp:"):
        page = data.removeprefix("tvp:")
        if draft.unit_code is None or not page.isdigit():
            raise InvalidInput("error.stale_button")
        await _show_items(call, draft, int(page[:4]))
        return
    if data.startswith("tvc:"):
        if draft.unit_code is None:
            raise InvalidInput("error.stale_button")
        await _show_item(call, draft, data.removeprefix("tvc:"))
        return
    if draft.criterion_code is None:
        raise InvalidInput("error.stale_button")  # keep/adjust belong to a criterion's screen
    if data == "tvk":
        draft.score_text = None
        draft.reason = None
        await _confirm(call, draft)
        return
    if data == "tva":
        await _save(call, draft, SCORE)
        await call.reply(t("review.ask_score"))
        return
    raise InvalidInput("error.stale_button")


async def _score_typed(call: Call, draft: ReviewDraft, typed: str) -> None:
    """The adjusted score, typed; checked at once, then the reason."""
    if draft.unit_code is None or draft.criterion_code is None:
        raise InvalidInput("error.review_expired")
    checked = await review.check_score(
        call.session,
        call.actor,
        cluster_code=draft.cluster_code,
        unit_code=draft.unit_code,
        criterion_code=draft.criterion_code,
        score_text=typed,
        language=call.t.language,
    )
    draft.score_text = typed.strip()
    t = call.t
    await _save(call, draft, REASON)
    if checked.adjusted:
        await call.reply(t("review.ask_reason", verified=t.number(checked.verified)))
    else:
        await call.reply(
            t("review.ask_reason_optional"), choices([Choice(t.raw("review.skip"), "tvr")])
        )


async def reason_skipped(call: Call) -> None:
    """No reason (only offered when the score stays as proposed)."""
    draft = await _draft(call, REASON)
    draft.reason = None
    await _confirm(call, draft)


async def confirmed(call: Call) -> None:
    """Save the review, tell the unit, and go back to the unit's criteria."""
    draft = await _draft(call, CONFIRM)
    assert draft.unit_code is not None and draft.criterion_code is not None
    done = await review.submit(
        call.session,
        call.actor,
        cluster_code=draft.cluster_code,
        unit_code=draft.unit_code,
        criterion_code=draft.criterion_code,
        score_text=draft.score_text,
        reason=draft.reason,
        report_id=draft.report_id,
        reviewer=call.person,
        language=call.t.language,
        now=call.now,
    )
    await _after_review(call, done)
    # Straight on to the unit's next criterion: a chair reviews a unit in one sitting.
    await _show_items(call, draft, draft.page)


async def step(call: Call, found: drafts.Open) -> None:
    """Typed text while a review is open: the score or the reason."""
    draft = ReviewDraft(**found.data)
    typed = call.incoming.text
    if found.step == SCORE and typed and not call.incoming.attachments:
        await _score_typed(call, draft, typed)
    elif found.step == REASON and typed and not call.incoming.attachments:
        draft.reason = typed
        await _confirm(call, draft)
    else:
        await call.refuse(call.t("review.unexpected"))


def explain_notice(t: Texts, done: review.Explained) -> Html:
    return t(
        "explain.notify",
        unit=done.unit_name,
        code=done.leaf.code,
        name=short(done.leaf.name, 120),
        proposed=t.number(done.entry.proposed),
        verified=t.number(done.entry.verified) if done.entry.verified is not None else "—",
        text=done.text,
        unit_code=done.unit_code,
    )


async def explain(call: Call) -> None:
    """/explain, /giaitrinh CODE text…: the unit's answer to the chair's review."""
    if not call.private:
        await call.reply(call.t("chair.private_only"))
        return
    if len(call.args) < 2:
        raise InvalidInput("error.explain_usage")
    # The text as typed (line breaks kept), after the command and the code.
    parts = call.incoming.text.split(maxsplit=2)
    text = parts[2] if len(parts) > 2 else ""
    done = await review.explain(
        call.session, call.actor, criterion_code=call.args[0], text=text, now=call.now
    )
    told = await notify(call, done.recipients, lambda t: explain_notice(t, done))
    await call.reply(call.t("explain.saved", told, code=done.leaf.code, told=told))


def register(router: Router) -> None:
    """The review dialogue and /giaitrinh."""
    router.command(REVIEW_COMMANDS, review_entry)
    router.command(EXPLAIN_COMMANDS, explain)
    router.button(["tvu", "tvc"], chosen, "s")
    router.button("tvp", chosen, "i")
    router.button(["tvb", "tvk", "tva", "tvx"], chosen)
    router.button("tvr", reason_skipped)
    router.button("tvok", confirmed)
    router.step(KIND, step)
