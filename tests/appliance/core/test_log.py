"""Log lines are JSON with the request context, and personal data or secrets never reach them."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import structlog

from appliance.auth.roles import Role
from appliance.core.log import REDACTED, configure_logging, redact_text
from appliance.testing.builders import make_user, sign_in

PHONE = "13800138000"
EMAIL = "li.lei@example.com"
PASSWORD = "hunter2-Qx93"
BEARER = "apl_Tk9fZ2l2ZW5fdG9fYV9sb2c"
SESSION = "sess-Vb61xq0ZzP"
TOKEN = "tok-Mr27kD"
SECRETS = (PHONE, EMAIL, PASSWORD, BEARER, SESSION, TOKEN)


@pytest.fixture
def stderr(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """capsys, with the logging set-up of the tests around put back before capsys closes its stream.

    Tests call configure_logging() themselves, so its handler writes to capsys's stderr. Request this
    fixture after `client` so it is torn down first: the app's shutdown then logs to the real stderr.
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield capsys
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.contextvars.clear_contextvars()


def json_lines(text: str) -> list[dict[str, Any]]:
    lines = [line for line in text.splitlines() if line.strip()]
    parsed: list[dict[str, Any]] = [json.loads(line) for line in lines]
    return parsed


def test_structlog_event_is_json_with_request_id_and_no_personal_data(stderr: pytest.CaptureFixture[str]) -> None:
    configure_logging("json")
    structlog.contextvars.bind_contextvars(request_id="req-5f2a9c01")

    structlog.get_logger("appliance.test").warning(
        "customer_contacted",
        phone=PHONE,
        email=EMAIL,
        password=PASSWORD,
        authorization=f"Bearer {BEARER}",
        cookie=f"__Host-appliance-session={SESSION}",
        token=TOKEN,
        note=f"called {PHONE}, then wrote to {EMAIL}",
        branch_id="0b7e3f6c-2a53-4c39-9d51-3f0a6f1c2e11",
    )

    err = stderr.readouterr().err
    [line] = json_lines(err)
    assert line["event"] == "customer_contacted"
    assert line["request_id"] == "req-5f2a9c01"
    assert line["level"] == "warning"
    assert line["branch_id"] == "0b7e3f6c-2a53-4c39-9d51-3f0a6f1c2e11"
    assert line["phone"] == line["password"] == line["authorization"] == line["cookie"] == REDACTED
    assert line["note"] == f"called {REDACTED}, then wrote to {REDACTED}"
    for secret in SECRETS:
        assert secret not in err


def test_stdlib_log_record_is_json_with_request_id_and_no_personal_data(stderr: pytest.CaptureFixture[str]) -> None:
    configure_logging("json")
    structlog.contextvars.bind_contextvars(request_id="req-7c3e1d02")

    logging.getLogger("thirdparty.client").warning(
        "POST /login from %s <%s> password=%s Authorization: Bearer %s Cookie: __Host-appliance-session=%s token=%s",
        PHONE, EMAIL, PASSWORD, BEARER, SESSION, TOKEN,
    )

    err = stderr.readouterr().err
    [line] = json_lines(err)
    assert line["event"].startswith("POST /login from ")
    assert line["logger"] == "thirdparty.client"
    assert line["request_id"] == "req-7c3e1d02"
    for secret in SECRETS:
        assert secret not in err


def test_exception_tracebacks_are_redacted(stderr: pytest.CaptureFixture[str]) -> None:
    configure_logging("json")
    log = structlog.get_logger("appliance.test")

    try:
        raise LookupError(f"no customer with e-mail {EMAIL} or phone {PHONE}")
    except LookupError:
        log.exception("customer_lookup_failed")
        logging.getLogger("thirdparty.worker").exception("job failed")

    err = stderr.readouterr().err
    first, second = json_lines(err)
    assert (first["event"], second["event"]) == ("customer_lookup_failed", "job failed")
    for line in (first, second):
        assert "Traceback" in line["exception"]
        assert "LookupError: no customer with e-mail" in line["exception"]
    assert EMAIL not in err
    assert PHONE not in err


async def test_failed_login_with_an_email_username_keeps_it_out_of_the_logs(
    client: httpx.AsyncClient, database: str, stderr: pytest.CaptureFixture[str]
) -> None:
    await make_user("li.lei@example.com", Role.front_desk)
    configure_logging("json", "debug")
    structlog.get_logger("appliance.test").debug("login_probe_start")

    response = await client.post("/api/v1/auth/login", json={"username": EMAIL, "password": PASSWORD})

    err = stderr.readouterr().err
    assert response.status_code == 401
    assert response.json()["code"] == "login_failed"
    lines = json_lines(err)
    assert lines[0]["event"] == "login_probe_start"
    assert EMAIL not in err
    assert PASSWORD not in err
    # The database drivers log each statement with its parameters at debug level, where redaction
    # cannot know every personal value (a name): their debug lines are kept out altogether.
    assert not any(line["logger"] in ("aiosqlite", "asyncpg", "piccolo") for line in lines)


async def test_each_request_is_logged_with_its_route_template_not_its_path(
    client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("json", "info")
    await make_user("boss", Role.owner)
    await sign_in(client, "boss")
    capsys.readouterr()

    response = await client.get(
        "/api/v1/users/00000000-0000-4000-8000-000000000000", params={"phone": "13800138000"}
    )

    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("event") == "request"]
    assert response.status_code == 404
    assert len(requests) == 1
    logged = requests[0]
    assert logged["route"] == "/api/v1/users/{user_id}"
    assert logged["status"] == 404
    assert logged["method"] == "GET"
    assert logged["request_id"] == response.headers["x-request-id"]
    assert logged["actor_kind"] == "user"
    assert "13800138000" not in json.dumps(lines)
    assert "00000000-0000-4000-8000-000000000000" not in json.dumps(requests)


@pytest.mark.parametrize(
    "text",
    [f"手机{PHONE}", f"tel:+86{PHONE}", f"{PHONE}。", f"call {PHONE} now", f"8613912345678"],
)
def test_a_mobile_number_in_text_is_masked(text: str) -> None:
    assert redact_text(text).count(REDACTED) == 1
    assert "1380013800" not in redact_text(text) and "1391234567" not in redact_text(text)


@pytest.mark.parametrize("identifier", ["4b3b8860822b46d18216326986a60343", "a6f0c2e1-7d3b-4f0e-9a1b-13912345678c"])
def test_an_identifier_holding_a_run_of_digits_is_not_taken_for_a_mobile_number(identifier: str) -> None:
    # CI once redacted part of a request id: its hex held "18216326986", which looks like a mobile number.
    assert redact_text(identifier) == identifier


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa failed", "693a91f6"),
        ("https://oapi.dingtalk.com/robot/send?access_token=abc123def&timestamp=1700000000000&sign=Zm9vYmFy%3D", "Zm9vYmFy"),
    ],
)
def test_a_webhook_address_keeps_its_place_but_not_its_secret(text: str, secret: str) -> None:
    masked = redact_text(text)
    assert secret not in masked and "abc123def" not in masked
    assert REDACTED in masked and text.split("?")[0] in masked  # where it was sent stays readable
