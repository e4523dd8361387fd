"""The chair's review (/thamdinh), guided with buttons or in one line, and the unit's
explanation (/giaitrinh). Every rule is in services.review; this module asks and tells."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardMarkup
from telegram.error import TelegramError
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
from handlers.context import Context, ReviewDraft
from handlers.i18n import Html, Texts, texts
from handlers.render import short
from models.tables import CriterionKind
from services import review
from services.errors import InvalidInput
from services.review import ItemDetail, Recipient, Reviewed
from services.standings import Entry, Leaf

log = logging.getLogger(__name__)

CHOOSE, SCORE, REASON, CONFIRM = range(10, 14)
END = ConversationHandler.END
REVIEW_COMMANDS = ["review", "thamdinh"]
EXPLAIN_COMMANDS = ["explain", "giaitrinh"]
PAGE = 10


def _draft(call: Call) -> ReviewDraft:
    data = call.context.user_data
    assert data is not None
    if data.review is None:
        raise InvalidInput("error.review_expired")
    return data.review


def _start_draft(call: Call, cluster_code: str) -> ReviewDraft:
    data = call.context.user_data
    assert data is not None
    data.review = ReviewDraft(cluster_code=cluster_code)
    return data.review


def _drop(call: Call) -> None:
    if call.context.user_data is not None:
        call.context.user_data.review = None


def _tz(call: Call) -> ZoneInfo:
    return call.context.bot_data.tz


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


async def _show_units(call: Call, cluster_code: str | None) -> int:
    view = await review.units(call.session, call.actor, cluster_code=cluster_code)
    _start_draft(call, view.cluster_code)
    t = call.t
    rows = [
        [
            button(
                f"{u.member.short_name} · {u.pending}/{u.reported} "
                + t.raw("review.pending_short"),
                f"tvu:{u.member.code}",
            )
        ]
        for u in view.units
    ]
    rows.append([button(t.raw("review.cancel_button"), "tvx")])
    await call.reply(t("review.choose_unit", year=view.year), InlineKeyboardMarkup(rows))
    return CHOOSE


async def _show_items(call: Call, page: int = 0) -> int:
    draft = _draft(call)
    assert draft.unit_code is not None
    view = await review.items(
        call.session, call.actor, cluster_code=draft.cluster_code, unit_code=draft.unit_code
    )
    t = call.t
    if not view.items:
        await call.reply(
            t("review.nothing_reported", unit=view.member.short_name),
            InlineKeyboardMarkup([[button(t.raw("review.back"), "tvb")]]),
        )
        return CHOOSE
    pages = -(-len(view.items) // PAGE)
    page = min(max(page, 0), pages - 1)
    draft.page = page
    rows = [
        [
            button(
                f"{status_mark(i.entry)} {i.leaf.code} {short(i.leaf.name, 40)}",
                f"tvc:{i.leaf.code}",
            )
        ]
        for i in view.items[page * PAGE : (page + 1) * PAGE]
    ]
    nav = []
    if page > 0:
        nav.append(button("◀", f"tvp:{page - 1}"))
    nav.append(button(t.raw("review.back"), "tvb"))
    if page < pages - 1:
        nav.append(button("▶", f"tvp:{page + 1}"))
    rows.append(nav)
    pending = sum(1 for i in view.items if i.entry.verified is None)
    await call.reply(
        t(
            "review.choose_criterion",
            unit=view.member.name,
            reported=len(view.items),
            pending=pending,
            page=page + 1,
            pages=pages,
        ),
        InlineKeyboardMarkup(rows),
    )
    return CHOOSE


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


async def _show_item(call: Call, criterion_code: str) -> int:
    draft = _draft(call)
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
    keyboard = InlineKeyboardMarkup(
        [
            [button(t.raw("review.keep"), "tvk"), button(t.raw("review.adjust"), "tva")],
            [button(t.raw("review.back"), f"tvp:{draft.page}")],
        ]
    )
    await call.reply(detail_text(t, detail, _tz(call)), keyboard)
    return CHOOSE


async def _confirm(call: Call) -> int:
    draft = _draft(call)
    assert draft.unit_code is not None and draft.criterion_code is not None
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
    keyboard = InlineKeyboardMarkup(
        [[button(t.raw("review.save"), "tvok"), button(t.raw("review.cancel_button"), "tvx")]]
    )
    await call.reply(text, keyboard)
    return CONFIRM


# ---------------------------------------------------------------- telling people


async def _notify(
    context: Context, recipients: list[Recipient], make: Callable[[Texts], Html]
) -> int:
    """Message each recipient in their language; one unreachable person stops nobody."""
    sent = 0
    for person in recipients:
        t = texts(person.language or context.bot_data.default_language)
        try:
            await context.bot.send_message(person.telegram_id, make(t))
        except TelegramError as exc:
            log.warning("could not tell user %s about a review: %s", person.telegram_id, exc)
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
    told = await _notify(call.context, done.recipients, lambda t: review_notice(t, done))
    t = call.t
    key = "review.saved_adjusted" if done.adjusted else "review.saved_verified"
    await call.reply(
        t(
            key,
            code=done.leaf.code,
            unit=done.member.short_name,
            proposed=t.number(done.entry.proposed),
            verified=t.number(done.verified),
            told=told,
        )
    )


# ---------------------------------------------------------------- the handlers


@use_case
async def review_entry(call: Call) -> int | None:
    """/review, /thamdinh [UNIT [CODE [SCORE reason…]]]: guided, or in one line."""
    if not call.private:
        await call.reply(call.t("chair.private_only"))
        return END
    args = call.args
    _drop(call)
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
        return END
    if not args:
        return await _show_units(call, None)
    if call.actor.seat is None and call.actor.is_admin and len(args) == 1:
        # An admin without a unit names the cluster first.
        return await _show_units(call, args[0])
    view = await review.items(call.session, call.actor, cluster_code=None, unit_code=args[0])
    draft = _start_draft(call, view.cluster_code)
    draft.unit_code = view.member.code
    if len(args) == 2:
        return await _show_item(call, args[1])
    return await _show_items(call)


@use_case
async def chosen(call: Call) -> int | None:
    """The buttons of the choosing screens: unit, page, criterion, keep or adjust."""
    query = call.update.callback_query
    assert query is not None and query.data is not None
    data = query.data
    t = call.t
    if data == "tvx":
        _drop(call)
        await call.reply(t("review.cancelled"))
        return END
    draft = _draft(call)
    if data == "tvb":
        return await _show_units(call, draft.cluster_code)
    if data.startswith("tvu:"):
        draft.unit_code = data.removeprefix("tvu:")
        return await _show_items(call)
    if data.startswith("tvp:"):
        return await _show_items(call, int(data.removeprefix("tvp:")))
    if data.startswith("tvc:"):
        return await _show_item(call, data.removeprefix("tvc:"))
    if data == "tvk":
        draft.score_text = None
        draft.reason = None
        return await _confirm(call)
    if data == "tva":
        await call.reply(t("review.ask_score"))
        return SCORE
    return None


@use_case
async def score_typed(call: Call) -> int | None:
    """The adjusted score, typed; checked at once, then the reason."""
    message = call.update.effective_message
    assert message is not None and message.text is not None
    draft = _draft(call)
    assert draft.unit_code is not None and draft.criterion_code is not None
    checked = await review.check_score(
        call.session,
        call.actor,
        cluster_code=draft.cluster_code,
        unit_code=draft.unit_code,
        criterion_code=draft.criterion_code,
        score_text=message.text,
        language=call.t.language,
    )
    draft.score_text = message.text.strip()
    t = call.t
    if checked.adjusted:
        await call.reply(t("review.ask_reason", verified=t.number(checked.verified)))
    else:
        await call.reply(
            t("review.ask_reason_optional"),
            InlineKeyboardMarkup([[button(t.raw("review.skip"), "tvr")]]),
        )
    return REASON


@use_case
async def reason_typed(call: Call) -> int | None:
    """The reason for the adjustment."""
    message = call.update.effective_message
    assert message is not None and message.text is not None
    _draft(call).reason = message.text
    return await _confirm(call)


@use_case
async def reason_skipped(call: Call) -> int | None:
    """No reason (only offered when the score stays as proposed)."""
    _draft(call).reason = None
    return await _confirm(call)


@use_case
async def confirmed(call: Call) -> int | None:
    """Save the review, tell the unit, and go back to the unit's criteria."""
    query = call.update.callback_query
    assert query is not None
    if query.data != "tvok":
        _drop(call)
        await call.reply(call.t("review.cancelled"))
        return END
    draft = _draft(call)
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
    return await _show_items(call, draft.page)


@use_case
async def cancel(call: Call) -> int | None:
    """/cancel: leave the review; nothing is saved."""
    _drop(call)
    await call.reply(call.t("review.cancelled"))
    return END


@use_case
async def unexpected(call: Call) -> int | None:
    """Something the current step did not ask for."""
    await call.reply(call.t("review.unexpected"))
    return None


@use_case
async def expired(call: Call) -> None:
    """A review button pressed after the review ended (or the bot restarted)."""
    await call.reply(call.t("error.review_expired"))


async def timed_out(update: object, context: Context) -> None:
    """An abandoned review is forgotten; nothing was saved."""
    if context.user_data is not None:
        context.user_data.review = None


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


@use_case
async def explain(call: Call) -> None:
    """/explain, /giaitrinh CODE text…: the unit's answer to the chair's review."""
    if not call.private:
        await call.reply(call.t("chair.private_only"))
        return
    if len(call.args) < 2:
        raise InvalidInput("error.explain_usage")
    message = call.update.effective_message
    assert message is not None and message.text is not None
    # The text as typed (line breaks kept), after the command and the code.
    parts = message.text.split(maxsplit=2)
    text = parts[2] if len(parts) > 2 else ""
    done = await review.explain(
        call.session, call.actor, criterion_code=call.args[0], text=text, now=call.now
    )
    told = await _notify(call.context, done.recipients, lambda t: explain_notice(t, done))
    await call.reply(call.t("explain.saved", code=done.leaf.code, told=told))


def handlers() -> list[BaseHandler[Any, Context, Any]]:
    """The review conversation and /giaitrinh."""
    with warnings.catch_warnings():
        # per_message=False is right here (one review per chair, across messages).
        warnings.filterwarnings("ignore", category=PTBUserWarning, message=".*per_message.*")
        flow = ConversationHandler(
            entry_points=[CommandHandler(REVIEW_COMMANDS, review_entry)],
            states={
                CHOOSE: [CallbackQueryHandler(chosen, pattern=r"^tv[ubpckax]")],
                SCORE: [MessageHandler(filters.TEXT & ~filters.COMMAND, score_typed)],
                REASON: [
                    MessageHandler(filters.TEXT & ~filters.COMMAND, reason_typed),
                    CallbackQueryHandler(reason_skipped, pattern=r"^tvr$"),
                ],
                CONFIRM: [CallbackQueryHandler(confirmed, pattern=r"^tv(ok|x)$")],
                ConversationHandler.TIMEOUT: [MessageHandler(filters.ALL, timed_out)],
            },
            fallbacks=[
                CommandHandler("cancel", cancel),
                CommandHandler(REVIEW_COMMANDS, review_entry),
                MessageHandler(filters.TEXT & ~filters.COMMAND, unexpected),
                CallbackQueryHandler(unexpected, pattern=r"^tv"),
            ],
            conversation_timeout=30 * 60,
            name="review",
        )
    return [
        flow,
        CallbackQueryHandler(expired, pattern=r"^tv"),
        CommandHandler(EXPLAIN_COMMANDS, explain),
    ]
