"""A fault-injecting HTTP proxy in front of the Bot API emulator. Tests only.

    python -m tests.e2e.faulty --port 8082 --upstream http://127.0.0.1:8081

Prints one line "ready PORT" once it listens. The bot's `THIDUA_TELEGRAM__BASE_URL` points
here; every `/bot<TOKEN>/<method>` call is forwarded to the emulator unchanged unless a fault
rule for that method says otherwise. Plain asyncio rather than a web framework, because one
fault is closing the socket without an answer, which a framework would not let us do.

Control side, JSON over HTTP:

- `POST /_faults` `{"method": "sendMessage", "kind": "500", "count": 3}` adds a rule; the
  next 3 calls of that method get the fault. Instead of `count`, `"share": 0.3, "seed": 1`
  injects into that share of calls (seeded, so a run is reproducible), for `limit` calls at
  most. Kinds:
    `429`  (`retry_after`, seconds),  `500`, `502`,
    `delay` (hold the call `delay` seconds, longer than the bot's read timeout, then close),
    `reset` (close the socket at once, no answer: the client sees a reset),
    `text`  (200 with a body that is not JSON: an HTML error page from some middlebox),
    `no_ok` (200 with JSON that has no `ok`).
  `"forward": true` sends the call to the emulator first and then spoils the answer: the
  ambiguous case where Telegram took the message but the bot never learnt it. `"chat_id"`
  limits a rule to calls for that chat.
- `GET /_faults`: `{"injected": [{"n", "method", "kind", "chat_id", "cause"}…],
  "calls": {method: count}, "pending": [rules]}`; `cause` is the unique text a fault
  carries where it can (`injected 500 (#7)`), so a test can find each one in the bot's log.
- `DELETE /_faults`: drop every rule (what was injected stays listed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import socket
import struct
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

KINDS = frozenset({"429", "500", "502", "delay", "reset", "text", "no_ok"})
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 429: "Too Many Requests",
           500: "Internal Server Error", 502: "Bad Gateway"}  # fmt: skip


@dataclass
class Rule:
    method: str
    kind: str
    count: int | None = None  # the next `count` calls…
    share: float | None = None  # …or this share of calls (seeded), `limit` at most
    seed: int = 0
    limit: int | None = None
    retry_after: int = 1
    delay: float = 3.0
    forward: bool = False
    chat_id: str | None = None
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def applies(self, method: str, chat_id: str | None) -> bool:
        if method != self.method or (self.chat_id is not None and chat_id != self.chat_id):
            return False
        if self.count is not None:
            if self.count <= 0:
                return False
            self.count -= 1
            return True
        if self.limit is not None and self.limit <= 0:
            return False
        hit = self.rng.random() < (self.share or 0.0)
        if hit and self.limit is not None:
            self.limit -= 1
        return hit

    def spent(self) -> bool:
        return (self.count is not None and self.count <= 0) or (
            self.limit is not None and self.limit <= 0
        )

    def shown(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("rng")
        return out


def _rule(payload: dict[str, Any]) -> Rule:
    kind = str(payload["kind"])
    if kind not in KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; one of {sorted(KINDS)}")
    if ("count" in payload) == ("share" in payload):
        raise ValueError("give either count or share")
    rule = Rule(
        method=str(payload["method"]),
        kind=kind,
        count=int(payload["count"]) if "count" in payload else None,
        share=float(payload["share"]) if "share" in payload else None,
        seed=int(payload.get("seed", 0)),
        limit=int(payload["limit"]) if "limit" in payload else None,
        retry_after=int(payload.get("retry_after", 1)),
        delay=float(payload.get("delay", 3.0)),
        forward=bool(payload.get("forward", False)),
        chat_id=str(payload["chat_id"]) if payload.get("chat_id") is not None else None,
    )
    rule.rng.seed(rule.seed)
    return rule


def _chat_id(headers: dict[str, str], body: bytes) -> str | None:
    """The call's chat_id, from a form (what PTB sends) or a JSON body."""
    kind = headers.get("content-type", "")
    try:
        if "json" in kind:
            value = json.loads(body or b"{}").get("chat_id")
        else:
            value = parse_qs(body.decode("utf-8", "replace")).get("chat_id", [None])[0]
    except (ValueError, AttributeError):
        return None
    return None if value is None else str(value)


class Proxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = httpx.AsyncClient(base_url=upstream, timeout=30.0)
        self.rules: list[Rule] = []
        self.injected: list[dict[str, Any]] = []
        self.calls: dict[str, int] = {}

    # ------------------------------------------------------------------ HTTP/1.1, by hand

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # keep-alive: httpx reuses its connections
                line = await reader.readline()
                if not line.strip():
                    return
                verb, target, _version = line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while True:
                    raw = await reader.readline()
                    if raw in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = raw.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
                if not await self.answer(verb, target, headers, body, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            return
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    @staticmethod
    async def write(
        writer: asyncio.StreamWriter, status: int, body: bytes, kind: str = "application/json"
    ) -> None:
        head = (
            f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}\r\n"
            f"Content-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
            "Connection: keep-alive\r\n\r\n"
        )
        writer.write(head.encode("latin-1") + body)
        await writer.drain()

    @staticmethod
    def reset(writer: asyncio.StreamWriter) -> None:
        """Close with an RST (SO_LINGER 0), not a polite FIN: a connection reset."""
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    # ------------------------------------------------------------------ control and faults

    async def answer(
        self, verb: str, target: str, headers: dict[str, str], body: bytes, w: asyncio.StreamWriter
    ) -> bool:
        path = urlsplit(target).path
        if path == "/_faults":
            return await self.control(verb, body, w)
        method = path.rsplit("/", 1)[-1]
        self.calls[method] = self.calls.get(method, 0) + 1
        chat_id = _chat_id(headers, body)
        rule = next((r for r in self.rules if r.applies(method, chat_id)), None)
        self.rules = [r for r in self.rules if not r.spent()]
        if rule is None:
            status, payload, kind = await self.forward(verb, target, headers, body)
            await self.write(w, status, payload, kind)
            return True
        n = len(self.injected) + 1
        # "(#1)", never a part of "(#12)": a test finds each one in the bot's log.
        cause = f"injected {rule.kind} (#{n})"
        self.injected.append({"n": n, "method": method, "kind": rule.kind, "chat_id": chat_id,
                              "cause": cause, "forwarded": rule.forward,
                              "at": time.time()})  # fmt: skip
        if rule.forward:
            await self.forward(verb, target, headers, body)
        if rule.kind == "429":
            # What Telegram answers; PTB reads only parameters.retry_after from it.
            flood = {"ok": False, "error_code": 429, "description": f"Too Many Requests: "
                       f"retry after {rule.retry_after} ({cause})",
                       "parameters": {"retry_after": rule.retry_after}}  # fmt: skip
            await self.write(w, 429, json.dumps(flood).encode())
        elif rule.kind in ("500", "502"):
            code = int(rule.kind)
            error = {"ok": False, "error_code": code, "description": cause}
            await self.write(w, code, json.dumps(error).encode())
        elif rule.kind == "delay":
            await asyncio.sleep(rule.delay)
            self.reset(w)
            return False
        elif rule.kind == "reset":
            self.reset(w)
            return False
        elif rule.kind == "text":
            page = f"<html><body>upstream hiccup ({cause})</body></html>".encode()
            await self.write(w, 200, page, "text/html")
        else:  # no_ok
            await self.write(w, 200, json.dumps({"description": cause}).encode())
        return True

    async def forward(
        self, verb: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes, str]:
        kept = {k: v for k, v in headers.items() if k in ("content-type", "accept")}
        try:
            answer = await self.upstream.request(verb, target, content=body, headers=kept)
        except httpx.HTTPError as exc:
            payload = {"ok": False, "error_code": 502, "description": f"proxy: {exc!r}"}
            return 502, json.dumps(payload).encode(), "application/json"
        kind = answer.headers.get("content-type", "application/json")
        return answer.status_code, answer.content, kind

    async def control(self, verb: str, body: bytes, w: asyncio.StreamWriter) -> bool:
        if verb == "POST":
            try:
                rule = _rule(json.loads(body))
            except (ValueError, KeyError, TypeError) as exc:
                await self.write(w, 400, json.dumps({"ok": False, "error": str(exc)}).encode())
                return True
            self.rules.append(rule)
        elif verb == "DELETE":
            self.rules.clear()
        state = {
            "ok": True,
            "injected": self.injected,
            "calls": self.calls,
            "pending": [r.shown() for r in self.rules],
        }
        await self.write(w, 200, json.dumps(state).encode())
        return True


async def main(port: int, upstream: str) -> None:
    proxy = Proxy(upstream)
    server = await asyncio.start_server(proxy.serve, "127.0.0.1", port)
    print(f"ready {port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    options = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(options.port, options.upstream))
    sys.exit(0)
