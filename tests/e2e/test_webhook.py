"""`thidua run --webhook` as a real process: Telegram's side is played by posting updates to
its HTTP server (as Telegram would, with or without the secret); the bot's answers go to the
Bot API emulator, where the people read them."""

from __future__ import annotations

import re
import time
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

SECRET = "e2e-Webhook_secret-0123456789"
PATH = "/tg-e2e"
PUBLIC_URL = "https://thidua.example.test" + PATH


@dataclass
class Hook:
    emulator: Emulator
    token: str
    bot: BotProcess
    base: str
    http: httpx.Client
    invites: dict[str, str]

    def person(self, user_id: int, name: str = "Nguyễn Văn An") -> Person:
        return Person(self.emulator, self.token, user_id, name)

    def post(self, update: dict[str, Any], secret: str | None = SECRET) -> int:
        """Post an update as Telegram does; the HTTP status the bot answered."""
        headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
        return self.http.post(PATH, json=update, headers=headers).status_code

    def say(self, person: Person, text: str) -> None:
        assert self.post(person.message(text)) == 200


def healthy(http: httpx.Client) -> dict[str, Any] | None:
    try:
        answer = http.get("/healthz")
    except httpx.HTTPError:
        return None
    body: dict[str, Any] = answer.json()
    return body if answer.status_code == 200 else None


@pytest.fixture(scope="module")
def hook(
    emulator: Emulator, e2e_db_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Hook]:
    folder = tmp_path_factory.mktemp("webhook")
    token = bot_token("webhook")
    port = free_port()
    env = bot_env(
        db_url=e2e_db_url,
        token=token,
        emulator=emulator,
        folder=folder,
        extra={"THIDUA_TELEGRAM__WEBHOOK_SECRET": SECRET},
    )
    invites = prepare_cluster(env, folder, "HOOK", cli=False)
    args = ["run", "--webhook", "--listen", "127.0.0.1", "--port", str(port)]
    args += ["--url-path", PATH, "--webhook-url", PUBLIC_URL]
    bot = BotProcess("webhook", args, env, folder)
    base = f"http://127.0.0.1:{port}"
    bot.start()
    with httpx.Client(base_url=base, timeout=10.0) as http:
        try:
            bot.wait_until("/healthz to answer 200", lambda: healthy(http))
            yield Hook(emulator, token, bot, base, http, invites)
        finally:
            code = bot.stop()
    assert code == 0, bot.log_tail()


def test_start_up_registers_the_webhook_with_its_secret_and_every_update_type(
    hook: Hook,
) -> None:
    (registered,) = hook.bot.calls("setWebhook")

    assert registered["params"]["url"] == PUBLIC_URL
    assert registered["params"]["secret_token"] == SECRET
    assert {"message", "callback_query", "my_chat_member"} <= set(
        registered["params"]["allowed_updates"]
    )
    assert hook.bot.calls("getUpdates") == []  # no polling in webhook mode


def test_the_health_check_reports_the_database_and_the_bot(hook: Hook) -> None:
    answer = hook.http.get("/healthz")

    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["bot"] == "TestNameBot"


def test_updates_without_the_right_secret_are_refused_and_never_handled(hook: Hook) -> None:
    intruder = hook.person(2001, "Kẻ Lạ")
    join = intruder.message(f"/start {hook.invites['HOOK-C']}")

    assert hook.post(join, secret=None) == 403
    assert hook.post(join, secret="wrong-secret") == 403
    assert hook.post(join, secret=SECRET.upper()) == 403
    hook.say(intruder, "/whoami")

    # Updates are handled in order: had a refused one been queued, its answer would come first.
    first = intruder.expect("")
    assert "chưa thuộc đơn vị nào" in first.plain


def test_a_malformed_update_is_answered_400(hook: Hook) -> None:
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}

    not_json = hook.http.post(PATH, content=b"{not json", headers=headers)
    not_object = hook.http.post(PATH, json=[1, 2], headers=headers)
    wrong_method = hook.http.get(PATH, headers=headers)

    assert not_json.status_code == 400
    assert not_object.status_code == 400
    assert wrong_method.status_code == 405


def test_an_officer_joins_reports_and_uses_buttons_through_the_webhook(hook: Hook) -> None:
    officer = hook.person(2002, "Hoàng Văn Khoa")

    hook.say(officer, f"/start {hook.invites['HOOK-C']}")
    officer.expect("Chào mừng")
    hook.say(officer, "/baocao 1.3 3")
    saved = officer.expect("Đã lưu báo cáo tiêu chí 1.3")
    hook.say(officer, "/tiendo")
    officer.expect_button("pg:y:N:0")
    assert hook.post(officer.callback("pg:y:N:0")) == 200
    year = officer.expect("Cả năm")

    assert "15" in saved.plain  # 3 * 5 points
    assert "1.3" in year.plain


def test_an_update_telegram_delivers_twice_is_stored_once(hook: Hook) -> None:
    officer = hook.person(2004, "Trịnh Văn Lặp")
    hook.say(officer, f"/start {hook.invites['HOOK-B']}")
    officer.expect("Chào mừng")
    report = officer.message("/baocao 1.1 77")

    # A webhook retry: Telegram did not see our answer in time and posts the update again.
    assert [hook.post(report), hook.post(report)] == [200, 200]
    saved = officer.expect("Đã lưu báo cáo tiêu chí 1.1")
    time.sleep(1.0)  # nothing can be polled for "no second answer"

    assert "(lần 1)" in saved.plain
    assert [r for r in officer.fetch() if "Đã lưu" in r.plain] == []
    hook.say(officer, "/lichsu 1.1")
    history = officer.expect("Lịch sử báo cáo 1.1")
    assert "lần 2" not in history.plain


def test_stopping_finishes_every_update_it_accepted(hook: Hook) -> None:
    officer = hook.person(2003, "Lý Thị Mai")
    hook.say(officer, f"/start {hook.invites['HOOK-D']}")
    officer.expect("Chào mừng")
    count = 40

    statuses = [hook.post(officer.message(f"/baocao 1.1 {50 + i}")) for i in range(count)]
    code = hook.bot.stop()

    assert statuses == [200] * count
    assert code == 0
    # The process has exited: every answer must already be at the emulator.
    officer.fetch()
    saved = [r for r in officer.seen if "Đã lưu báo cáo tiêu chí 1.1" in r.plain]
    assert [r.plain.count(f"(lần {i + 1})") for i, r in enumerate(saved)] == [1] * count
    # The stop really had work left: updates still queued when the signal came were handled.
    queued = re.findall(r"finishing (\d+) queued updates", hook.bot.log.read_text("utf-8"))
    assert queued and int(queued[-1]) > 0, hook.bot.log_tail()
