"""End-to-end harness: the `telegram-test-api` emulator, the real `thidua` process, and the
people who talk to it through the emulator's client endpoints.

Every wait is bounded and polls a condition; nothing sleeps for a fixed time except where the
test asserts that something does *not* happen.
"""

from __future__ import annotations

import asyncio
import base64
import html
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.conftest import IN_CI

E2E_DIR = Path(__file__).resolve().parent
PYTHON = sys.executable
THIDUA = str(Path(PYTHON).with_name("thidua"))
RUN_BOT = str(E2E_DIR / "run_bot.py")
EMULATOR_JS = E2E_DIR / "emulator.js"
EMULATOR_PACKAGE = E2E_DIR / "node_modules" / "telegram-test-api"
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
# What the emulator's getMe answers; invitation links use it.
BOT_USERNAME = "TestNameBot"
WAIT_S = 20.0

T = TypeVar("T")
_TAG = re.compile(r"<[^>]+>")


def need_node() -> str:
    """The node binary; without it (or the emulator package) skip, or fail in CI."""
    node = shutil.which("node")
    problem = None
    if node is None:
        problem = "Node.js is not installed (the e2e tier runs the telegram-test-api emulator)"
    elif not EMULATOR_PACKAGE.is_dir():
        problem = "telegram-test-api is not installed: run `npm ci --prefix tests/e2e`"
    if problem is not None:
        if IN_CI:
            pytest.fail(f"e2e tier required in CI: {problem}")
        pytest.skip(problem)
    assert node is not None
    return node


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(what: str, check: Callable[[], T | None], timeout: float = WAIT_S) -> T:
    """Poll `check` until it returns something truthy (returned), or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)


def plain(text: str) -> str:
    """A message as a person reads it: tags removed, entities decoded."""
    return html.unescape(_TAG.sub("", text))


# ------------------------------------------------------------------------------ emulator


def terminate(process: subprocess.Popen[Any], timeout: float = 10) -> None:
    """SIGTERM, as systemd stops a service; SIGKILL if it does not stop in time."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Emulator:
    """The telegram-test-api server in a node process, and its client endpoints."""

    def __init__(self, node: str, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log.open("w", encoding="utf-8")
        self.process = subprocess.Popen(
            [node, str(EMULATOR_JS), str(self.port)],
            cwd=E2E_DIR,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # "ready PORT", or EOF if it died
        if not line.startswith("ready"):
            self.stop()
            raise RuntimeError(f"the emulator did not start: {log.read_text(encoding='utf-8')}")
        self.http = httpx.Client(base_url=self.url, timeout=10.0)

    def post(self, path: str, payload: dict[str, Any]) -> Any:
        answer = self.http.post(path, json=payload)
        answer.raise_for_status()
        return answer.json()

    def stop(self) -> None:
        if hasattr(self, "http"):
            self.http.close()
        terminate(self.process)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._log.close()


class FaultyProxy:
    """tests/e2e/faulty.py in a process of its own, in front of the emulator: the bot's Bot
    API base URL points here, and the test injects faults per method over `/_faults`."""

    def __init__(self, emulator: Emulator, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log.open("w", encoding="utf-8")
        args = [PYTHON, "-m", "tests.e2e.faulty", "--port", str(self.port)]
        self.process = subprocess.Popen(
            [*args, "--upstream", emulator.url],
            cwd=E2E_DIR.parents[1],
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # "ready PORT", or EOF if it died
        if not line.startswith("ready"):
            self.stop()
            raise RuntimeError(f"the fault proxy did not start: {log.read_text('utf-8')}")
        self.http = httpx.Client(base_url=self.url, timeout=10.0)

    def inject(self, method: str, kind: str, **rule: Any) -> None:
        """Add a rule: see tests/e2e/faulty.py (count= or share=, retry_after=, delay=…)."""
        answer = self.http.post("/_faults", json={"method": method, "kind": kind, **rule})
        answer.raise_for_status()

    def state(self) -> dict[str, Any]:
        answer = self.http.get("/_faults")
        answer.raise_for_status()
        found: dict[str, Any] = answer.json()
        return found

    def injected(self, method: str | None = None) -> list[dict[str, Any]]:
        return [i for i in self.state()["injected"] if method is None or i["method"] == method]

    def pending(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.state()["pending"]
        return found

    def clear(self) -> None:
        self.http.delete("/_faults").raise_for_status()

    def env(self) -> dict[str, str]:
        """The bot's settings that route its Bot API calls through this proxy."""
        return {"THIDUA_TELEGRAM__BASE_URL": f"{self.url}/bot"}

    def stop(self) -> None:
        if hasattr(self, "http"):
            self.http.close()
        terminate(self.process)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._log.close()


# ------------------------------------------------------------------------------ the bot


@dataclass
class BotProcess:
    """The real `thidua` process (through tests/e2e/run_bot.py), polling or webhook."""

    name: str
    args: list[str]
    env: dict[str, str]
    folder: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def calls_log(self) -> Path:
        return self.folder / f"{self.name}.calls.jsonl"

    @property
    def log(self) -> Path:
        return self.folder / f"{self.name}.log"

    def start(self) -> None:
        self.calls_log.unlink(missing_ok=True)
        env = {**self.env, "E2E_CALLS_LOG": str(self.calls_log)}
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [PYTHON, RUN_BOT, *self.args],
                cwd=self.folder,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def calls(self, method: str | None = None) -> list[dict[str, Any]]:
        """The Bot API calls the process made, in order (from FixingRequest's log)."""
        if not self.calls_log.is_file():
            return []
        rows = [
            json.loads(line)
            for line in self.calls_log.read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
        return [r for r in rows if method is None or r["method"] == method]

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        if not self.log.is_file():
            return ""
        return "\n".join(self.log.read_text(encoding="utf-8").splitlines()[-lines:])

    def wait_until(self, what: str, check: Callable[[], T | None], timeout: float = 30) -> T:
        def checked() -> T | None:
            if not self.alive():
                raise AssertionError(f"{self.name} exited while waiting for {what}")
            return check()

        try:
            return wait_for(what, checked, timeout)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- {self.name} log ---\n{self.log_tail()}") from None

    def wait_polling(self) -> None:
        """Ready once the first getUpdates went out (the command menus may still be on
        their way: they are sent alongside it)."""
        self.wait_until("the first getUpdates", lambda: bool(self.calls("getUpdates")))

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, as systemd stops it; returns the exit code."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError(
                    f"{self.name} did not stop within {timeout} s\n{self.log_tail()}"
                ) from None
        return self.process.returncode


def bot_env(
    *,
    db_url: str,
    token: str,
    emulator: Emulator,
    folder: Path,
    admins: list[int] | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a bot process: settings only from THIDUA_* variables."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("THIDUA_", "E2E_"))}
    env.update(
        {
            "THIDUA_DATABASE__URL": db_url,
            "THIDUA_TELEGRAM__TOKEN": token,
            "THIDUA_TELEGRAM__BASE_URL": f"{emulator.url}/bot",
            "THIDUA_TELEGRAM__BASE_FILE_URL": f"{emulator.url}/file/bot",
            "THIDUA_TELEGRAM__BOT_USERNAME": BOT_USERNAME,
            "THIDUA_APP__ADMINS": json.dumps(admins or []),
            "THIDUA_APP__STORAGE_DIR": str(folder / "storage"),
            "THIDUA_APP__LOG_LEVEL": "INFO",
            "E2E_OUTBOX": str(folder / "outbox"),
            "E2E_FIXTURES": str(folder / "fixtures"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


def thidua(env: dict[str, str], folder: Path, *args: str) -> str:
    """Run the installed `thidua` command line, as a secretariat would; its output."""
    done = subprocess.run(
        [THIDUA, *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"thidua {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def invite_tokens(output: str) -> dict[str, str]:
    """unit code → token, from `thidua invite` output."""
    units = re.findall(r"^(\S+)  ", output, flags=re.MULTILINE)
    tokens = re.findall(r"\?start=([A-Za-z0-9_-]+)", output)
    assert len(units) == len(tokens) and tokens, output
    return dict(zip(units, tokens, strict=True))


# ------------------------------------------------------------------------------ people

_ids = itertools.count(1)


@dataclass
class Reply:
    message_id: int
    text: str
    markup: dict[str, Any]

    @property
    def plain(self) -> str:
        return plain(self.text)

    def buttons(self) -> list[str]:
        rows = self.markup.get("inline_keyboard", []) if self.markup else []
        return [b.get("callback_data", "") for row in rows for b in row]


@dataclass
class Person:
    """A Telegram user in a private chat with the bot, through the emulator's client API."""

    emulator: Emulator
    token: str
    user_id: int
    name: str = "Nguyễn Văn An"
    language: str = "vi"
    seen: list[Reply] = field(default_factory=list)
    cursor: int = 0

    def _from(self) -> dict[str, Any]:
        return {
            "id": self.user_id,
            "is_bot": False,
            "first_name": self.name,
            "username": f"user{self.user_id}",
            "language_code": self.language,
        }

    def _chat(self) -> dict[str, Any]:
        return {"id": self.user_id, "type": "private", "first_name": self.name}

    def message(self, text: str | None = None, **extra: Any) -> dict[str, Any]:
        """The Update JSON of a message from this person (as Telegram would post it)."""
        message: dict[str, Any] = {
            "message_id": next(_ids),
            "from": self._from(),
            "chat": self._chat(),
            "date": int(time.time()),
            **extra,
        }
        if text is not None:
            message["text"] = text
            if text.startswith("/"):
                command = text.split()[0]
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return {"update_id": next(_ids) + 1_000_000, "message": message}

    def say(self, text: str) -> None:
        """Type a message (a command when it starts with /)."""
        body = {**self.message(text)["message"], "botToken": self.token}
        body.pop("message_id")
        self.emulator.post("/sendCommand" if text.startswith("/") else "/sendMessage", body)

    def send_document(
        self, fixtures: Path, file_id: str, name: str, content: bytes, caption: str | None = None
    ) -> None:
        """Send a file; its bytes are what the bot downloads (served by FixingRequest)."""
        fixtures.mkdir(parents=True, exist_ok=True)
        (fixtures / file_id).write_bytes(content)
        extra: dict[str, Any] = {
            "document": {
                "file_id": file_id,
                "file_unique_id": f"u-{file_id}",
                "file_name": name,
                "mime_type": "application/pdf",
                "file_size": len(content),
            }
        }
        if caption is not None:
            extra["caption"] = caption
        body = {**self.message(None, **extra)["message"], "botToken": self.token}
        body.pop("message_id")
        self.emulator.post("/sendMessage", body)

    def callback(self, data: str, under: Reply | None = None) -> dict[str, Any]:
        """The Update JSON of a press on an inline button under one of the bot's messages
        (by default the message last expected)."""
        under = under or self.seen[self.cursor - 1]
        assert data in under.buttons(), f"no button {data!r} under {under.plain!r}"
        return {
            "update_id": next(_ids) + 1_000_000,
            "callback_query": {
                "id": str(next(_ids)),
                "chat_instance": str(self.user_id),
                "from": self._from(),
                "data": data,
                "message": {
                    "message_id": under.message_id,
                    "date": int(time.time()),
                    "chat": self._chat(),
                    "from": {"id": 666, "is_bot": True, "first_name": "Bot"},
                    "text": under.text,
                },
            },
        }

    def press(self, data: str, under: Reply | None = None) -> None:
        """Press an inline button, through the emulator."""
        query = self.callback(data, under)["callback_query"]
        # The emulator assigns the query id and drops chat_instance (FixingRequest adds it).
        body = {k: v for k, v in query.items() if k not in ("id", "chat_instance")}
        self.emulator.post("/sendCallback", {**body, "botToken": self.token})

    def fetch(self) -> list[Reply]:
        """The bot's messages to this chat that arrived since the last fetch."""
        answer = self.emulator.post("/getUpdates", {"token": self.token, "chatId": self.user_id})
        new = [
            Reply(
                message_id=int(item["messageId"]),
                text=str(item["message"].get("text", "")),
                markup=item["message"].get("reply_markup") or {},
            )
            for item in answer.get("result", [])
        ]
        self.seen.extend(new)
        return new

    def _next(self, what: str, match: Callable[[Reply], bool], timeout: float) -> Reply:
        """Wait for the next unconsumed message from the bot that `match`es; consume it (and
        everything before it)."""

        def found() -> Reply | None:
            self.fetch()
            for index in range(self.cursor, len(self.seen)):
                if match(self.seen[index]):
                    self.cursor = index + 1
                    return self.seen[index]
            return None

        try:
            return wait_for(what, found, timeout)
        except AssertionError:
            got = [(r.plain[:100], r.buttons()) for r in self.seen[self.cursor :]]
            raise AssertionError(f"no {what}; the bot sent {got}") from None

    def expect(self, contains: str, timeout: float = WAIT_S) -> Reply:
        """The next message from the bot containing `contains` (in plain text)."""
        return self._next(f"reply containing {contains!r}", lambda r: contains in r.plain, timeout)

    def expect_button(self, data: str, timeout: float = WAIT_S) -> Reply:
        """The next message from the bot with a button carrying `data`."""
        return self._next(f"reply with a button {data!r}", lambda r: data in r.buttons(), timeout)

    def ask(self, text: str, contains: str) -> Reply:
        self.say(text)
        return self.expect(contains)


# ------------------------------------------------------------------------------ cluster


def cluster_toml(code: str, year: int, *, units: Sequence[str] = "ABCD", rules: str = "") -> str:
    """A quiet cluster for `year`, so reports on the real clock fall in an open period: one
    yearly period, no reminders before its deadline and no weekly leaderboard post, so
    nothing scheduled interrupts a conversation. `units`: the member units' code suffixes
    (the first chairs, the second is vice-chair); `rules`: more `[years.…]` tables."""
    members = "".join(
        f'[[units]]\ncode = "{code}-{u}"\nname = "Sở Tài chính tỉnh E2E {u}"\n'
        f'short_name = "Tỉnh {u}"\n\n'
        for u in units
    )
    return f"""[cluster]
code = "{code}"
name = "Cụm thi đua E2E {code}"
kind = "cum"

{members}
[[years]]
year = {year}
chair = "{code}-{units[0]}"
vice_chair = "{code}-{units[1]}"

[years.periods]
cadence = "yearly"
deadline_day = 5

[years.reminders]
before_days = []
overdue_days = 0
escalate_after_days = 60

[years.leaderboard]
enabled = false

{rules}
[[years.criteria]]
code = "1"
name = "Thực hiện nhiệm vụ chuyên môn"
kind = "group"

[[years.criteria]]
code = "1.1"
name = "Thu ngân sách nhà nước đạt dự toán"
kind = "quantitative"
max_points = 40
target = 100
measure_unit = "%"

[[years.criteria]]
code = "1.2"
name = "Ban hành kế hoạch thi đua đúng hạn"
kind = "yes_no"
max_points = 20
evidence_required = true

[[years.criteria]]
code = "1.3"
name = "Gương điển hình được nhân rộng"
kind = "count"
max_points = 20
points_each = 5
measure_unit = "gương"

[[years.criteria]]
code = "2"
name = "Công tác thi đua, khen thưởng"
kind = "group"

[[years.criteria]]
code = "2.1"
name = "Tổ chức phong trào thi đua"
kind = "judged"
max_points = 20
"""


_tokens = itertools.count(1)


def bot_token(name: str) -> str:
    """A token of its own for each bot in the run (the emulator keeps chats per token)."""
    return f"{700000 + next(_tokens)}:TEST-e2e-{name}-{os.getpid()}"


def prepare_cluster(
    env: dict[str, str],
    folder: Path,
    code: str,
    *,
    cli: bool = True,
    units: Sequence[str] = "ABCD",
    rules: str = "",
) -> dict[str, str]:
    """A cluster for the current year and an invitation per unit: unit code → token.

    With `cli`, as the secretariat does it: `thidua cluster import` and `thidua invite` (a
    second each, to start Python); otherwise through the same services, in this process."""
    path = folder / f"{code.lower()}.toml"
    toml = cluster_toml(code, datetime.now(TZ).year, units=units, rules=rules)
    path.write_text(toml, encoding="utf-8")
    if cli:
        thidua(env, folder, "cluster", "import", str(path))
        return invite_tokens(thidua(env, folder, "invite", code))
    return seed_cluster(env["THIDUA_DATABASE__URL"], path, code)


def seed_cluster(url: str, path: Path, code: str) -> dict[str, str]:
    """Migrate, import a cluster file and issue an invitation per member unit, in-process
    (what `thidua cluster import` and `thidua invite` do); unit code → token."""
    return asyncio.run(_seed(url, path, code))


async def _seed(url: str, path: Path, code: str) -> dict[str, str]:
    from models.db import create_engine, session_factory
    from models.migrate import upgrade
    from services import invites
    from services.cluster_file import load_cluster_file
    from services.clusters import import_cluster

    now = datetime.now(TZ)
    engine = create_engine(url)
    try:
        await upgrade(engine)
        async with session_factory(engine)() as session:
            await import_cluster(session, load_cluster_file(path), now=now, actor="e2e")
            issued = await invites.create_invites(
                session,
                cluster_code=code,
                unit_code=None,
                now=now,
                days=14,
                max_uses=None,
                actor="e2e",
            )
    finally:
        await engine.dispose()
    return {item.unit_code: item.token for item in issued}


@dataclass(frozen=True)
class SentFile:
    """A file the bot sent (sendDocument, sendPhoto…), as FixingRequest kept it."""

    method: str
    chat_id: int
    caption: str
    name: str
    content: bytes


def files_sent(folder: Path, chat_id: int) -> list[SentFile]:
    """Files sent to a chat, oldest first: the emulator has no sendDocument/sendPhoto, so
    they are checked in the outbox instead."""
    outbox = folder / "outbox"
    if not outbox.is_dir():
        return []
    found = []
    for meta_path in sorted(outbox.glob("*.json"), key=lambda p: int(p.stem)):
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if int(meta["params"].get("chat_id", 0)) != chat_id:
            continue
        for name in meta["files"]:
            found.append(
                SentFile(
                    method=meta["method"],
                    chat_id=chat_id,
                    caption=plain(str(meta["params"].get("caption", ""))),
                    name=name,
                    content=(outbox / f"{meta_path.stem}-{name}").read_bytes(),
                )
            )
    return found


# ------------------------------------------------------------------------------ Zalo


class ZaloStandinProcess:
    """tests/zalo/standin.py in a process of its own: the Zalo Bot API as the bot sees it."""

    def __init__(self, token: str, log: Path, rate_limit: float | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log.open("w", encoding="utf-8")
        args = [PYTHON, "-m", "tests.zalo.standin", "--port", str(self.port), "--token", token]
        if rate_limit is not None:
            args += ["--rate-limit-per-second", str(rate_limit)]
        self.process = subprocess.Popen(
            args, cwd=E2E_DIR.parents[1], stdout=self._log, stderr=subprocess.STDOUT
        )
        self.http = httpx.Client(base_url=self.url, timeout=15.0)
        wait_for("the Zalo stand-in", self._up)

    def _up(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError("the Zalo stand-in exited")
        try:
            return self.http.get("/_test/stats").status_code == 200
        except httpx.HTTPError:
            return False

    def test_api(self, path: str, payload: dict[str, Any] | None = None) -> Any:
        if payload is None:
            answer = self.http.get(f"/_test/{path}")
        else:
            answer = self.http.post(f"/_test/{path}", json=payload)
        answer.raise_for_status()
        return answer.json()["result"]

    def sent(self, chat_id: str) -> list[dict[str, Any]]:
        answer = self.http.get("/_test/sent", params={"chat_id": chat_id})
        answer.raise_for_status()
        found: list[dict[str, Any]] = answer.json()["result"]
        return found

    def stop(self) -> None:
        self.http.close()
        terminate(self.process)
        self._log.close()


@dataclass
class ZaloPerson:
    """A Zalo user writing to the bot, through the stand-in's test side."""

    standin: ZaloStandinProcess
    user_id: str
    name: str
    cursor: int = 0

    def say(self, text: str) -> None:
        self.standin.test_api(
            "inject", {"user_id": self.user_id, "display_name": self.name, "text": text}
        )

    def send_image(self, content: bytes, caption: str = "") -> None:
        payload: dict[str, Any] = {
            "user_id": self.user_id,
            "display_name": self.name,
            "image": base64.b64encode(content).decode(),
        }
        if caption:
            payload["caption"] = caption
        self.standin.test_api("inject", payload)

    def received(self) -> list[dict[str, Any]]:
        return self.standin.sent(self.user_id)

    def expect(self, contains: str, timeout: float = WAIT_S) -> dict[str, Any]:
        """The next message (text, or picture caption) containing `contains`; consumed with
        everything before it."""

        def found() -> dict[str, Any] | None:
            sent = self.received()
            for index in range(self.cursor, len(sent)):
                words = sent[index].get("text") or sent[index].get("caption") or ""
                if contains in words:
                    self.cursor = index + 1
                    return sent[index]
            return None

        try:
            return wait_for(f"a Zalo message containing {contains!r}", found, timeout)
        except AssertionError:
            got = [(m["method"], (m.get("text") or m.get("caption", ""))[:120]) for m in
                   self.received()[self.cursor :]]  # fmt: skip
            raise AssertionError(f"no Zalo message with {contains!r}; the bot sent {got}") from None

    def ask(self, text: str, contains: str) -> dict[str, Any]:
        self.say(text)
        return self.expect(contains)
