"""The console channel: a chat with the bot in the terminal (`thidua try`).

It proves the core needs no chat platform, and lets a secretariat rehearse its cluster file
(reports, the reminders that would fire, the board, the export) before inviting anyone.
Choices are numbered lines, answered by typing the number; pictures and workbooks are
saved as files and their paths printed. No token, no network.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import TextIO

from handlers.channel import Pace, Rejected
from handlers.i18n import to_plain
from handlers.io import Attachment, Choice, Document, Outgoing, Picture, Text
from services.addresses import Address

CHANNEL = "console"


class ConsoleChannel:
    """Prints what the bot sends; remembers the last choices so "2" presses the second."""

    name = CHANNEL
    buttons = False
    text_limit = 100_000
    # Nothing to protect on a terminal: batches go out as fast as they are made.
    pace = Pace(per_second=1000.0, private_gap=0.0, group_gap=0.0)

    def __init__(self, out: TextIO, files: Path) -> None:
        self.out = out
        self.files = files
        self.options: list[Choice] = []
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
            lines = [head + to_plain(message.body)]
            numbered = [c for row in message.choices for c in row]
            for number, option in enumerate(numbered, start=1):
                lines.append(f"  [{number}] {option.label}")
            if numbered and chat.id == "me":
                self.options = numbered
            self._print("\n".join(lines))
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

    def pressed(self, typed: str) -> str | None:
        """The data of the choice a typed number names, if it names one."""
        if typed.isdigit() and 1 <= int(typed) <= len(self.options):
            return self.options[int(typed) - 1].data
        return None
