"""The conversation core: one incoming message in, the answers out, on any channel.

`handle()` opens one unit of work per update, resolves who is talking, and routes:
a press on a choice by its data's head ("rg:1" → "rg"), a command by name (Vietnamese
aliases included), anything else typed in a private chat to the person's open guided
dialogue (a draft row), else a pointer to /help. A `DomainError` raised by a service
becomes a message in the person's language and the session rolls back.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from handlers.channel import Channel, Channels
from handlers.i18n import LANGUAGES, Html, Texts, texts
from handlers.io import Choices, Incoming, Outgoing, Text
from services import drafts, menus, updates
from services.access import Actor, resolve_actor, resolve_update
from services.addresses import Address
from services.errors import DomainError
from services.onboarding import Person, mark_reachable, upsert_user
from services.uow import Session, SessionFactory

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


def _all_routes() -> Router:
    from handlers.routes import build_router  # the modules it registers import this one

    return build_router()


@dataclass(eq=False)  # one per process, compared and hashed by identity
class Core:
    """Shared, read-mostly state of the bot, whatever the channel. Never a session:
    sessions are per update."""

    sessions: SessionFactory | None = None
    channels: Channels = field(default_factory=Channels)
    admins: frozenset[str] = frozenset()
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Ho_Chi_Minh"))
    default_language: str = "vi"
    storage_dir: Path = Path("storage")
    # Telegram lets bots download files up to 20 MB.
    evidence_limit: int = 20 * 1024 * 1024
    bot_username: str = ""
    # Injected so tests move time instead of sleeping.
    clock: Callable[[], datetime] = utc_now
    router: Router = field(default_factory=_all_routes)

    def session_factory(self) -> SessionFactory:
        if self.sessions is None:
            raise RuntimeError("the database is not open yet: the bot is not started")
        return self.sessions


@dataclass
class Call:
    """One update being handled: its session, who sent it, their texts and 'now'."""

    core: Core
    incoming: Incoming
    session: Session
    actor: Actor
    t: Texts
    now: datetime
    args: list[str] = field(default_factory=list)

    @property
    def private(self) -> bool:
        return self.incoming.private

    @property
    def chat(self) -> Address:
        return self.incoming.chat

    @property
    def channel(self) -> Channel:
        return self.core.channels.get(self.incoming.channel)

    @property
    def button(self) -> str:
        return self.incoming.button or ""

    @property
    def person(self) -> Person:
        i = self.incoming
        return Person(address=i.sender, full_name=i.full_name, username=i.username)

    async def reply(self, text: Html, options: Choices = ()) -> None:
        await self.send(self.chat, Text(text, options))

    async def refuse(self, text: Html) -> None:
        """Say why the input was not taken. A refusal changes nothing, not even the
        numbered choices a button-less chat is answering."""
        await present(self.core, self.session, self.chat, Text(text), self.t, now=self.now)

    async def send(self, to: Address, message: Outgoing, t: Texts | None = None) -> None:
        """Send within this update (its session keeps a button-less chat's menu); `t` is
        the recipient's language when it is not the sender's."""
        await present(
            self.core, self.session, to, message, t or self.t, now=self.now, reply=to == self.chat
        )

    async def user_id(self) -> int:
        """The person's row (created for an admin who never joined a unit)."""
        if self.actor.user_id is not None:
            return self.actor.user_id
        user = await upsert_user(self.session, self.person, self.now)
        await self.session.commit()
        return user.id

    # Guided dialogues: the draft of this person and kind, in the database.
    async def draft(self, kind: str) -> drafts.Open | None:
        if self.actor.user_id is None:
            return None
        return await drafts.get(self.session, self.actor.user_id, kind, self.now)

    async def save_draft(self, kind: str, step: str, data: dict[str, Any]) -> None:
        await drafts.save(self.session, await self.user_id(), kind, step, data, self.now)

    async def drop_draft(self, kind: str | None = None) -> bool:
        if self.actor.user_id is None:
            return False
        return await drafts.drop(self.session, self.actor.user_id, kind)


def numbered(t: Texts, message: Text) -> tuple[Text, list[str]]:
    """A choice list as numbered lines to answer by typing, for a channel without buttons;
    with the data each number stands for."""
    options = [c for row in message.choices for c in row]
    if not options:
        return message, []
    lines = [message.body, ""]
    lines += [f"[{n}] {html.escape(c.label, quote=False)}" for n, c in enumerate(options, 1)]
    if len(options) == 1:
        lines.append(t("choices.reply_one"))
    else:
        lines.append(t("choices.reply", count=len(options)))
    return Text(Html("\n".join(lines))), [c.data for c in options]


async def present(
    core: Core,
    session: Session,
    to: Address,
    message: Outgoing,
    t: Texts,
    *,
    now: datetime,
    batch: bool = False,
    reply: bool = False,
) -> None:
    """Send one message. Where the channel has no buttons, its choices become numbered lines
    and are remembered for that chat (committed with the caller's session); a reply without
    choices forgets the old ones, so a typed "2" is then an answer, not a press. (Another
    message without choices, a notice or a reminder, leaves a dialogue's menu alone.)"""
    channel = core.channels.get(to.channel)
    if not channel.buttons and isinstance(message, Text):
        message, options = numbered(t, message)
        if options or reply:
            await menus.remember(session, to, options, now)
    await channel.send(to, message, batch=batch)


Handler = Callable[[Call], Awaitable[None]]
Step = Callable[[Call, drafts.Open], Awaitable[None]]


@dataclass
class Router:
    """Which handler takes which input. Filled once by `handlers.routes.register`."""

    commands: dict[str, Handler] = field(default_factory=dict)
    # head → (handler, shape): the shape says what follows the head, one letter a part.
    buttons: dict[str, tuple[Handler, str]] = field(default_factory=dict)
    steps: dict[str, Step] = field(default_factory=dict)
    unknown: Handler | None = None
    stale_button: Handler | None = None
    unsupported: Handler | None = None

    def command(self, names: list[str] | str, handler: Handler) -> None:
        for name in [names] if isinstance(names, str) else names:
            if name in self.commands:
                raise ValueError(f"command /{name} registered twice")
            self.commands[name] = handler

    def button(self, heads: list[str] | str, handler: Handler, shape: str = "") -> None:
        """A button's data is its head and `len(shape)` parts, "rg:1.2" for shape "s":
        `i` a whole number (an id, a year, a page), `s` a short token (a code, a word),
        `o` a token that may be empty.
        Data of any other shape is out of date or forged and never reaches `handler`."""
        if set(shape) - set(_PARTS):
            raise ValueError(f"button shape {shape!r}: only {''.join(_PARTS)} letters")
        for head in [heads] if isinstance(heads, str) else heads:
            if head in self.buttons:
                raise ValueError(f"button {head!r} registered twice")
            self.buttons[head] = (handler, shape)

    def button_for(self, data: str) -> Handler | None:
        """The handler of a button's data, if the data has the shape its head was given."""
        head, *parts = data.split(":")
        found = self.buttons.get(head)
        if found is None:
            return None
        handler, shape = found
        if len(parts) != len(shape):
            return None
        if not all(_PARTS[kind].fullmatch(part) for kind, part in zip(shape, parts, strict=True)):
            return None
        return handler

    def step(self, kind: str, handler: Step) -> None:
        self.steps[kind] = handler


# Telegram's callback data is at most 64 bytes; a part is a short code, word or number.
_PARTS = {
    "i": re.compile(r"[0-9]{1,9}"),
    "s": re.compile(r"[\w.\-]{1,40}"),
    "o": re.compile(r"[\w.\-]{0,40}"),  # a token that may be empty ("no period chosen")
}


# A refusal may quote what was typed (a code, a value): never more than this of it.
QUOTE_LIMIT = 60


def quoted(value: object) -> object:
    """What a person typed, shortened for quoting back (a 5,000-character "value" must not
    come back whole; already-safe HTML is ours, never cut)."""
    if isinstance(value, str) and not isinstance(value, Html) and len(value) > QUOTE_LIMIT:
        return value[: QUOTE_LIMIT - 1].rstrip() + "…"
    return value


def error_text(t: Texts, err: DomainError) -> Html:
    params: dict[str, object] = {
        key: t.number(value) if isinstance(value, Decimal) else quoted(value)
        for key, value in err.params.items()
    }
    if "permission" in params:
        params["permission"] = t.raw(f"perm.{params['permission']}")
    if "holders" in params:
        params["holders"] = t.raw(f"holders.{params['holders']}")
    return t(err.key, **params)


async def _route(call: Call) -> None:
    router = call.core.router
    incoming = call.incoming
    if incoming.unsupported:
        if incoming.private and router.unsupported is not None:
            await router.unsupported(call)
        return
    if incoming.button is not None:
        handler = router.button_for(incoming.button) or router.stale_button
        if handler is not None:
            await handler(call)
        return
    command = incoming.command
    if command is not None:
        name, call.args = command
        found = router.commands.get(name)
        if found is not None:
            await found(call)
            return
    elif incoming.private and call.actor.user_id is not None:
        open_draft = await drafts.current(call.session, call.actor.user_id, call.now)
        step = router.steps.get(open_draft.kind) if open_draft else None
        if open_draft is not None and step is not None:
            await step(call, open_draft)
            return
    # Whatever nobody took in a private chat (free text, a file without a caption) gets a
    # pointer to /help rather than silence.
    if incoming.private and router.unknown is not None:
        await router.unknown(call)


# C0 control characters but tab and line ends, and DEL: PostgreSQL refuses NUL in text and
# the rest is terminal junk that breaks workbooks and logs. Removed at the door, once.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _clean(incoming: Incoming) -> Incoming:
    def c(value: str) -> str:
        return _CONTROL.sub("", value)

    def named(name: str, limit: int) -> str:
        # The columns' sizes (users.full_name, evidence_files.file_name): a longer name
        # is cut, keeping a file's extension, rather than failing the whole update.
        name = c(name)
        if len(name) <= limit:
            return name
        stem, dot, ext = name.rpartition(".")
        return (
            (stem[: limit - len(ext) - 2] + "…." + ext) if dot and len(ext) <= 10 else name[:limit]
        )

    return replace(
        incoming,
        text=c(incoming.text),
        full_name=named(incoming.full_name, 255) or "?",
        username=named(incoming.username, 64) if incoming.username else incoming.username,
        button=c(incoming.button) if incoming.button is not None else None,
        attachments=tuple(
            replace(
                a,
                name=named(a.name, 255) or a.unique_id,
                mime=named(a.mime, 100) if a.mime else a.mime,
                unique_id=a.unique_id[:128],
            )
            for a in incoming.attachments
        ),
    )


async def _typed_choice(core: Core, session: Session, incoming: Incoming) -> Incoming:
    """On a channel without buttons, a typed number that names one of the chat's numbered
    choices is a press on it."""
    if incoming.button is not None or not incoming.text or incoming.attachments:
        return incoming
    if core.channels.get(incoming.channel).buttons:
        return incoming
    data = await menus.pressed(session, incoming.chat, incoming.text, core.clock())
    return incoming if data is None else replace(incoming, text="", button=data)


async def handle(core: Core, incoming: Incoming) -> None:
    """Answer one incoming message: one session, the actor, the route, clear refusals."""
    incoming = _clean(incoming)
    async with core.session_factory()() as session:
        key = incoming.update_id
        try:
            await _handle(core, session, incoming, key)
        except updates.Redelivered:
            # Another worker took the same update first and committed; what this one did
            # is rolled back, and it says nothing (the other one answered).
            await session.rollback()
            log.info("update %s was handled by another worker at the same time", key)


async def _handle(core: Core, session: Session, incoming: Incoming, key: str | None) -> None:
    # One query: who is talking, their seat and working year, and whether this update was
    # handled before (services.updates).
    actor, seen = await resolve_update(
        session, incoming.sender, core.admins, updates.key_of(key) if key else None
    )
    if seen:
        log.info("update %s was delivered again: already handled", key)
        return
    if key is not None:
        updates.record(session, key, core.clock())
    if not actor.reachable:
        await mark_reachable(session, incoming.sender, core.clock())
    incoming = await _typed_choice(core, session, incoming)
    call = Call(
        core=core,
        incoming=incoming,
        session=session,
        actor=actor,
        t=texts(actor.language or core.default_language),
        now=core.clock(),
    )
    try:
        await _route(call)
    except DomainError as err:
        await session.rollback()
        log.info("refused an update from %s: %s", incoming.sender, err.key)
        await call.refuse(error_text(call.t, err))
    # The unit of work ends here: what the services committed is kept, and so is what
    # sending added (a button-less chat's menu), and the update's key if nothing before
    # committed it.
    await session.commit()


async def language_of(core: Core, address: Address, hint: str | None = None) -> Texts:
    """The person's texts for an error message outside an update's session: their own
    language if the database says it (it may be the very thing failing), else the
    platform's hint (Telegram's language_code), else the default."""
    try:
        async with asyncio.timeout(2), core.session_factory()() as session:
            actor = await resolve_actor(session, address, core.admins)
        if actor.language:
            return texts(actor.language)
    except Exception as exc:  # the database is down, or the bot is not started
        log.info("no stored language for %s: %r", address, exc)
    return texts(hint if hint in LANGUAGES else core.default_language)


async def answer(core: Core, incoming: Incoming) -> None:
    """`handle`, for a channel adapter without an error handler of its own (PTB has one):
    an unexpected failure is logged and the person told, never silence."""
    try:
        await handle(core, incoming)
    except Exception:
        log.exception("unhandled error while handling an update from %s", incoming.sender)
        t = await language_of(core, incoming.sender)
        try:
            await core.channels.send(incoming.chat, Text(t("error.internal")))
        except Exception as exc:  # the channel itself is failing: the log says it all
            log.warning("could not tell %s about the error: %r", incoming.chat, exc)
