"""/bophieu (/vote): the secret ballot in chat.

The chair (or vice-chair) opens it (`/bophieu mo [dandau|khenthuong] [GIỜ]`) and may close
it early (`/bophieu dong`); every officer of a member unit sees the candidates, picks up to
the allowed number (buttons, or numbers on Zalo; or `/bophieu MÃ_ĐƠN_VỊ …` in one line),
and confirms: the unit has voted, for good. The unit's other officers are told that it
voted — never what. The result goes to the group and to the chair when it closes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from zoneinfo import ZoneInfo

from handlers.channel import Undeliverable
from handlers.core import Call, Core, Router
from handlers.i18n import Html, Texts, texts
from handlers.io import Choice, Text, choices
from services import ballot
from services.addresses import Address
from services.ballot import BallotView, Result
from services.contacts import Contact
from services.errors import InvalidInput
from services.uow import Session

log = logging.getLogger(__name__)

KIND = "ballot"  # the draft holding the choice being made (deleted when the vote is cast)
COMMANDS = ["vote", "bophieu"]
OPEN_WORDS = {"mo", "mở", "open"}
CLOSE_WORDS = {"dong", "đóng", "close"}
KIND_WORDS = {"dandau": "leading", "leading": "leading", "khenthuong": "award", "award": "award"}


def _percent(t: Texts, share: Decimal) -> str:
    return t.number(share * 100, places=1)


def _kind(t: Texts, kind: str) -> str:
    return t.raw(f"ballot.kind.{kind}")


def _head(t: Texts, view: BallotView) -> list[str]:
    return [
        t("ballot.head", kind=_kind(t, view.kind), year=view.year, cluster=view.cluster_name),
        t(
            "ballot.rules",
            view.choices,
            count=view.choices,
            threshold=_percent(t, view.threshold),
            closes=t.datetime(view.closes_at, ZoneInfo(view.timezone)),
        ),
    ]


async def _screen(call: Call, view: BallotView, picked: list[int]) -> None:
    t = call.t
    lines = _head(t, view)
    if view.unit_voted:
        lines.append(t("ballot.unit_voted", voted=view.voted, voters=view.voters))
        await call.reply(Html("\n".join(lines)))
        return
    lines.append(t("ballot.pick", view.choices, count=view.choices))
    rows = [
        [Choice(("☑ " if c.id in picked else "☐ ") + c.name, f"bv:{view.id}:{c.id}")]
        for c in view.candidates
    ]
    if picked:
        names = ", ".join(c.name for c in view.candidates if c.id in picked)
        lines.append(t("ballot.picked", names=names))
        rows.append(
            [Choice(t.raw("ballot.send"), f"bvok:{view.id}"), Choice(t.raw("ballot.cancel"), "bvx")]
        )
    await call.reply(Html("\n".join(lines)), choices(*rows))


async def _picked(call: Call, ballot_id: int) -> list[int]:
    found = await call.draft(KIND)
    if found is None or found.data.get("ballot") != ballot_id:
        return []
    return [int(x) for x in found.data.get("picked", [])]


async def vote_command(call: Call) -> None:
    t = call.t
    if not call.private:
        await call.reply(t("report.private_only"))
        return
    words = [w.lower() for w in call.args]
    if words and words[0] in OPEN_WORDS:
        kind = KIND_WORDS.get(words[1], "") if len(words) > 1 else "leading"
        if not kind:
            raise InvalidInput("error.ballot_kind", kinds="dandau, khenthuong")
        hours = int(words[2]) if len(words) > 2 and words[2].isdigit() else None
        opened = await ballot.open_ballot(
            call.session, call.actor, call.now, kind=kind, hours=hours
        )
        await call.reply(
            t("ballot.opened", candidates=len(opened.candidates), voters=opened.voters)
        )
        await _announce_open(call, opened)
        return
    if words and words[0] in CLOSE_WORDS:
        done = await ballot.close_by_chair(call.session, call.actor, call.now)
        await announce_result(call.core, call.session, done)
        return
    view = await ballot.current(call.session, call.actor)
    if words and not view.unit_voted:
        by_code = {c.code.lower(): c.id for c in view.candidates}
        unknown = [w for w in words if w not in by_code]
        if unknown:
            raise InvalidInput("error.ballot_candidate", code=unknown[0].upper())
        picked = [by_code[w] for w in words]
        if len(picked) > view.choices:
            raise InvalidInput("error.ballot_choices", most=view.choices)
        await call.save_draft(KIND, "pick", {"ballot": view.id, "picked": picked})
        await _screen(call, view, picked)
        return
    await _screen(call, view, await _picked(call, view.id))


async def toggle(call: Call) -> None:
    """A candidate pressed: chosen, or unchosen; never more than allowed."""
    _, ballot_id, candidate_id = call.button.split(":")
    view = await ballot.current(call.session, call.actor)
    if view.id != int(ballot_id) or int(candidate_id) not in {c.id for c in view.candidates}:
        raise InvalidInput("error.stale_button")
    picked = await _picked(call, view.id)
    chosen = int(candidate_id)
    if chosen in picked:
        picked.remove(chosen)
    elif view.choices == 1:
        picked = [chosen]
    elif len(picked) >= view.choices:
        raise InvalidInput("error.ballot_choices", most=view.choices)
    else:
        picked.append(chosen)
    await call.save_draft(KIND, "pick", {"ballot": view.id, "picked": picked})
    await _screen(call, view, picked)


async def send(call: Call) -> None:
    """The vote confirmed: cast, for good."""
    ballot_id = int(call.button.split(":")[1])
    picked = await _picked(call, ballot_id)
    if not picked:
        raise InvalidInput("error.stale_button")
    done = await ballot.cast(call.session, call.actor, ballot_id, picked, call.now)
    view = done.ballot
    await call.reply(call.t("ballot.cast", voted=view.voted, voters=view.voters))
    seat = call.actor.seat
    assert seat is not None
    others = [
        c
        for c in await ballot.contacts(call.session, view)
        if c.unit_id == seat.unit_id and c.address != call.incoming.sender
    ]
    await _tell(call.core, others, lambda t: t("ballot.unit_told", unit=seat.unit_name))
    if done.result is not None:
        await announce_result(call.core, call.session, done.result)


async def shown(call: Call) -> None:
    """The reminder's "Vote" button: the ballot's screen, if it is still the open one."""
    view = await ballot.current(call.session, call.actor)
    if view.id != int(call.button.split(":")[1]):
        raise InvalidInput("error.stale_button")
    await _screen(call, view, await _picked(call, view.id))


async def cancel(call: Call) -> None:
    await call.drop_draft(KIND)
    await call.reply(call.t("ballot.cancelled"))


async def _tell(core: Core, people: list[Contact], make: Callable[[Texts], Html]) -> int:
    told = 0
    for person in people:
        t = texts(person.language or core.default_language)
        try:
            await core.channels.send(person.address, Text(make(t)), batch=True)
        except Undeliverable as exc:
            log.warning("could not tell %s about the ballot: %s", person.address, exc.detail)
            continue
        told += 1
    return told


async def _announce_open(call: Call, view: BallotView) -> None:
    people = [
        c for c in await ballot.contacts(call.session, view) if c.address != call.incoming.sender
    ]
    await _tell(call.core, people, lambda t: Html("\n".join([*_head(t, view), t("ballot.how")])))


def result_text(t: Texts, result: Result) -> Html:
    view = result.ballot
    lines = [
        t(
            "ballot.result_head",
            kind=_kind(t, view.kind),
            year=view.year,
            cluster=view.cluster_name,
        ),
        t(
            "ballot.turnout",
            voted=view.voted,
            voters=view.voters,
            threshold=_percent(t, view.threshold),
        ),
    ]
    for n, tally in enumerate(result.tallies, start=1):
        lines.append(
            t(
                "ballot.line",
                tally.votes,
                rank=n,
                unit=tally.candidate.name,
                count=tally.votes,
                share=_percent(t, tally.share),
                mark="✅" if tally.reached else "—",
            )
        )
    chosen = ", ".join(x.candidate.name for x in result.chosen)
    lines.append(t("ballot.chosen", units=chosen) if chosen else t("ballot.none_chosen"))
    return Html("\n".join(lines))


async def announce_result(core: Core, session: Session, result: Result) -> None:
    """The count, to the cluster's group (if linked) and to the chair's and vice's officers."""
    view = result.ballot
    if view.group_address is not None:
        t = texts(view.language)
        try:
            await core.channels.send(
                Address.parse(view.group_address), Text(result_text(t, result))
            )
        except Undeliverable as exc:
            log.warning("could not post the ballot's result to the group: %s", exc.detail)
    leaders = await ballot.contacts(session, view, leaders_only=True)
    await _tell(core, leaders, lambda t: result_text(t, result))


def register(router: Router) -> None:
    router.command(COMMANDS, vote_command)
    router.button("bv", toggle, "ii")
    router.button("bvok", send, "i")
    router.button("bvx", cancel)
    router.button("bvo", shown, "i")
