"""The console channel: a chat with the bot in the terminal (`thidua try`).

It proves the core needs no chat platform, and lets a secretariat rehearse its cluster file
(reports, the reminders that would fire, the board, the export) before inviting anyone.
It has no buttons: the core numbers the choices and remembers them for the chat, as it does
for Zalo, so typing "2" presses the second. Pictures and workbooks are saved as files and
their paths printed. No token, no network.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import TextIO

from handlers.channel import Pace, Rejected
from handlers.i18n import to_plain
from handlers.io import Attachment, Document, Outgoing, Picture, Text
from services.addresses import Address

CHANNEL = "console"


class ConsoleChannel:
    """Prints what the bot sends."""

    name = CHANNEL
    buttons = False
    text_limit = 100_000
    # Nothing to protect on a terminal: batches go out as fast as they are made.
    pace = Pace(per_second=1000.0, private_gap=0.0, group_gap=0.0)

    def __init__(self, out: TextIO, files: Path) -> None:
        self.out = out
        self.files = files
        self._saved = 0

    def is_group(self, chat: Address) -> bool:
        return chat.id.startswith("group")

    def _print(self, text: str) -> None:
        self.out.write(text.rstrip() + "\n\n")
        self.out.flush()

    def _save(self, name: str, content: bytes) -> Path:
        self.files.mkdir(parents=True, exist_ok=True)
        self._saved += 1
        # A numbered prefix: two boards in one rehearsal never overwrite each other.
        path = self.files / f"{self._saved:03d}-{Path(name).name}"
        path.write_bytes(content)
        return path

    async def send(self, chat: Address, message: Outgoing, *, batch: bool = False) -> None:
        head = "" if chat.id == "me" else f"[→ {chat.id}] "
        if isinstance(message, Text):
            # The core has numbered any choices already (this channel has no buttons).
            self._print(head + to_plain(message.body))
        elif isinstance(message, Document):
            path = self._save(message.filename, message.content)
            self._print(f"{head}📄 {path}\n{to_plain(message.caption)}")
        elif isinstance(message, Picture):
            path = self._save("chart.png", message.png)
            self._print(f"{head}🖼 {path}\n{to_plain(message.caption)}")

    async def fetch(self, attachment: Attachment, target: Path) -> None:
        source = Path(attachment.ref.removeprefix(f"{CHANNEL}:"))
        try:
            await asyncio.to_thread(shutil.copyfile, source, target)
        except OSError as exc:
            raise Rejected(f"cannot read {source}: {exc}") from exc
