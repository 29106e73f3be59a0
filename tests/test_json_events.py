"""--json: every event a script run can give, each checked against events.schema.json,
secrets masked, and the summary last whatever happens."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from support import LOOPBACK, run, run_cli

import smtpshell

SCHEMA = json.loads((Path(smtpshell.__file__).parent / "events.schema.json").read_text())
VALIDATOR = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
KINDS = set(SCHEMA["$defs"]) - {"time"}
PASSWORD_B64 = "AGRlbW8AZGVtbw=="  # \0demo\0demo

SESSION = [
    "EHLO ci.example", ":starttls", f"AUTH PLAIN {PASSWORD_B64}", "NOOP extra",
    "MAIL FROM:<a@example.com>", "RCPT TO:<b@example.com>", "DATA", "Subject: hi", "",
    "hello", ".", "RCPT TO:<c@example.com>", "QUIT"]


def events(out: str) -> list[dict[str, Any]]:
    """Every line of standard output is one event that the schema accepts."""
    found = []
    for line in out.splitlines():
        event = json.loads(line)
        errors = [error.message for error in VALIDATOR.iter_errors(event)]
        assert not errors, (event, errors)
        found.append(event)
    assert found and found[-1]["event"] == "summary"
    assert [e["event"] for e in found].count("summary") == 1
    return found


def of(found: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in found if e["event"] == kind]


def test_a_whole_session_as_events_every_kind_valid() -> None:
    async def scenario() -> list[dict[str, Any]]:
        code, out, err = await run_cli("--demo", "--json", stdin="\n".join(SESSION) + "\n")
        assert code == 1 and err == ""  # RCPT outside a transaction: refused, not sent
        return events(out)

    found = run(scenario())
    assert {e["event"] for e in found} == KINDS  # every kind the schema names, once at least
    connected, *_ = of(found, "connected")
    assert connected["host"] == LOOPBACK and found[0] is connected
    greeting, ehlo = of(found, "reply")[:2]
    assert (greeting["code"], greeting["command"]) == (220, None)
    assert ehlo["command"] == "EHLO ci.example" and "STARTTLS" in ehlo["lines"]
    [tls] = of(found, "tls")
    assert tls["version"].startswith("TLSv1.") and tls["verified"] and tls["problem"] is None
    [cert] = of(found, "cert")
    assert "DNS:localhost" in cert["names"] and cert["days_left"] > 0
    auth = next(e for e in of(found, "reply") if e["code"] == 235)
    assert (auth["command"], auth["enhanced"]) == ("AUTH PLAIN ********", "2.7.0")
    assert [e["message_bytes"] for e in of(found, "sent") if "message_bytes" in e] == \
        [len(b"Subject: hi\r\n"), 2, len(b"hello\r\n")]
    [refusal] = of(found, "refusal")
    assert refusal["line"] == "RCPT TO:<c@example.com>" and "RCPT before MAIL" in \
        refusal["reason"]
    assert of(found, "closed")[-1]["expected"] is True
    summary = found[-1]
    assert (summary["exit"], summary["status"], summary["error"]) == (1, "unexpected", None)
    assert summary["lines"] == SESSION.index("RCPT TO:<c@example.com>") + 1
    assert summary["replies"] == len(of(found, "reply"))
    text = json.dumps(found)
    assert PASSWORD_B64 not in text and "\\u0000demo" not in text


def test_implicit_tls_says_tls_and_cert_right_after_connected() -> None:
    async def scenario() -> None:
        code, out, _ = await run_cli("--demo", "--tls", "--json", stdin="QUIT\n")
        assert code == 0
        found = events(out)
        assert [e["event"] for e in found[:4]] == ["connected", "tls", "cert", "reply"]
        assert found[-1]["status"] == "ok" and found[-1]["exit"] == 0

    run(scenario())


def test_a_secret_from_the_environment_is_masked_everywhere(tmp_path: Path) -> None:
    script = tmp_path / "auth.smtp"
    script.write_text("EHLO ci.example\n:starttls\n:authplain demo\nQUIT\n")

    async def scenario() -> None:
        code, out, _ = await run_cli("--demo", "--json", "--script", str(script),
                                     "--secret-env", "PASS", env={"PASS": "demo"})
        assert code == 0
        found = events(out)
        assert any(e["event"] == "reply" and e["code"] == 235 for e in found)
        assert PASSWORD_B64 not in out
        assert all("demo" not in e.get("line", "").split("PLAIN")[-1]
                   for e in of(found, "sent"))

    run(scenario())


def test_a_refused_connection_still_ends_with_a_summary() -> None:
    with socket.socket() as probe:  # a port nobody listens on: bound, never listening
        probe.bind((LOOPBACK, 0))
        port = probe.getsockname()[1]

        async def scenario() -> None:
            code, out, err = await run_cli(f"{LOOPBACK}:{port}", "--json", stdin="QUIT\n")
            assert code == 3
            [summary] = events(out)
            assert (summary["status"], summary["lines"]) == ("connection", 0)
            assert summary["error"] and summary["error"] in err  # the same sentence

        run(scenario())


def test_a_line_after_the_connection_closed_ends_with_status_connection() -> None:
    async def scenario() -> None:
        code, out, _ = await run_cli("--demo", "--json", stdin="EHLO x\n:close\nNOOP\n")
        found = events(out)
        assert code == 3 and (found[-1]["exit"], found[-1]["status"]) == (3, "connection")
        assert of(found, "closed")[0]["expected"] is True
        assert "line 1 was the last answered" in of(found, "note")[-1]["text"]

    run(scenario())


@pytest.mark.parametrize("extra", [["--interactive", "--script", "/dev/null"],
                                   ["--tutorial"]])
def test_json_is_for_scripts_only(extra: list[str]) -> None:
    async def scenario() -> None:
        code, out, err = await run_cli("--demo", "--json", *extra)
        assert code == 2 and out == "" and "--json is for scripts" in err

    run(scenario())
