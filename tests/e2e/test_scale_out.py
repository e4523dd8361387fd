"""Two webhook workers on one database, as docs/deploy.md describes for several machines,
with no affinity at all: each handles what the proxy gives it, and the guided /report flow
(whose draft is a row in the database) still works when its steps land on different
workers."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e.harness import (
    BotProcess,
    Emulator,
    Person,
    bot_env,
    bot_token,
    free_port,
    prepare_cluster,
)

pytestmark = pytest.mark.e2e

SECRET = "scale-out-secret"
PATH = "/telegram"


@dataclass
class Pair:
    emulator: Emulator
    token: str
    workers: list[BotProcess]
    http: list[httpx.Client]
    invites: dict[str, str]

    def person(self, user_id: int, name: str = "Nguyễn Văn An") -> Person:
        return Person(self.emulator, self.token, user_id, name)

    def post(self, worker: int, update: dict[str, Any]) -> None:
        answer = self.http[worker].post(
            PATH, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
        )
        assert answer.status_code == 200, answer.text

    def replies_sent_by(self, worker: int, chat_id: int) -> int:
        return sum(
            1
            for call in self.workers[worker].calls("sendMessage")
            if int(call["params"]["chat_id"]) == chat_id
        )


def _healthy(http: httpx.Client) -> bool:
    try:
        return http.get("/healthz").status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def pair(
    emulator: Emulator, e2e_db_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pair]:
    folder = tmp_path_factory.mktemp("scale-out")
    token = bot_token("scale")
    ports = [free_port(), free_port()]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    base = bot_env(db_url=e2e_db_url, token=token, emulator=emulator, folder=folder)
    # Migrates the database first: the workers do not (docs/deploy.md).
    invites = prepare_cluster(base, folder, "SCALE", cli=False)
    workers = []
    for index, port in enumerate(ports):
        env = {
            **base,
            "THIDUA_DATABASE__MIGRATE_ON_START": "false",
            "THIDUA_TELEGRAM__WEBHOOK_SECRET": SECRET,
        }
        args = ["run", "--webhook", "--port", str(port)]
        args += ["--webhook-url", "https://thidua.example.test/telegram"]
        workers.append(BotProcess(f"worker{index}", args, env, folder))
    for worker in workers:
        worker.start()
    clients = [httpx.Client(base_url=url, timeout=10.0) for url in urls]
    try:
        for worker, http in zip(workers, clients, strict=True):
            worker.wait_until("/healthz", functools.partial(_healthy, http))
        yield Pair(emulator, token, workers, clients, invites)
    finally:
        codes = [w.stop() for w in workers]
        for http in clients:
            http.close()
    assert codes == [0, 0], [w.log_tail() for w in workers]


def test_each_worker_answers_what_it_receives(pair: Pair) -> None:
    officer = pair.person(3001, "Trịnh Văn Lâm")

    pair.post(0, officer.message(f"/start {pair.invites['SCALE-C']}"))
    officer.expect("Chào mừng")
    pair.post(1, officer.message("/whoami"))
    officer.expect("Sở Tài chính tỉnh E2E C")

    # Nothing is passed between workers: each answered the update it was given.
    assert pair.replies_sent_by(0, 3001) == 1
    assert pair.replies_sent_by(1, 3001) == 1


def test_a_guided_report_completes_when_its_steps_land_on_different_workers(
    pair: Pair,
) -> None:
    officer = pair.person(3002, "Mai Thị Ngọc")
    pair.post(1, officer.message(f"/start {pair.invites['SCALE-D']}"))
    officer.expect("Chào mừng")

    pair.post(1, officer.message("/baocao"))
    officer.expect_button("rg:1")
    pair.post(0, officer.callback("rg:1"))
    officer.expect_button("rc:1.3")
    pair.post(1, officer.callback("rc:1.3"))
    officer.expect("số")
    pair.post(0, officer.message("3"))
    officer.expect_button("re:done")
    pair.post(1, officer.callback("re:done"))
    officer.expect_button("rn:skip")
    pair.post(0, officer.message("ba gương điển hình"))
    officer.expect_button("rk:ok")
    pair.post(1, officer.callback("rk:ok"))
    saved = officer.expect("Đã lưu báo cáo tiêu chí 1.3")

    assert "15" in saved.plain
    # Both workers took steps of the one flow: no affinity, the draft is in the database.
    assert pair.replies_sent_by(0, 3002) == 3
    assert pair.replies_sent_by(1, 3002) == 5
