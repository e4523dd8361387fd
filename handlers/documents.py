"""The year-end meeting's documents: /bienban (the minutes) and /totrinh (the award
proposal), sent as Word files. Rules and rights are in services/documents.py."""

from __future__ import annotations

from handlers.core import Call, Router
from handlers.i18n import texts
from handlers.io import Document
from services import documents
from services.documents import DocumentKind

MINUTES_COMMANDS = ["minutes", "bienban"]
PROPOSAL_COMMANDS = ["proposal", "totrinh"]


async def _send(call: Call, kind: DocumentKind) -> None:
    if not call.private:
        await call.reply(call.t("chair.private_only"))
        return
    # The documents are official and in Vietnamese, like the workbook, whoever asks.
    made = await documents.document(call.session, call.actor, kind, texts("vi"), args=call.args)
    t = call.t
    if kind is DocumentKind.MINUTES:
        caption = t("documents.minutes_caption", year=made.year, cluster=made.cluster_code)
    else:
        units = ", ".join(made.proposed) or t.raw("documents.nobody")
        caption = t(
            "documents.proposal_caption", year=made.year, cluster=made.cluster_code, units=units
        )
    await call.send(call.chat, Document(made.content, made.filename, caption))


async def minutes_command(call: Call) -> None:
    """/minutes, /bienban [CLUSTER] [YEAR]: the minutes of the year-end deliberation."""
    await _send(call, DocumentKind.MINUTES)


async def proposal_command(call: Call) -> None:
    """/proposal, /totrinh [CLUSTER] [YEAR]: the award proposal to the emulation council."""
    await _send(call, DocumentKind.PROPOSAL)


def register(router: Router) -> None:
    """The year-end documents."""
    router.command(MINUTES_COMMANDS, minutes_command)
    router.command(PROPOSAL_COMMANDS, proposal_command)
