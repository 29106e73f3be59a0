"""The example scripts in examples/: each runs as `smtpshell --demo --script
examples/NAME.smtp` from the repository root, exits 0, and does what its header says."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from support import run, run_cli

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.smtp"))


def _crlf_size(name: str) -> int:
    """The size of a message file on the wire: every line ended by CRLF."""
    return len((EXAMPLES / name).read_bytes().replace(b"\n", b"\r\n"))


def _b64(name: str) -> str:
    return base64.b64encode((EXAMPLES / name).read_bytes()).decode()


# For each example, text its output must hold: proof it did what its header says.
FACTS: dict[str, list[str]] = {
    "submission-587-starttls.smtp": [
        "-> STARTTLS\n220 Ready to start TLS\n* TLS is up:",
        "-> AUTH PLAIN ********\n235 2.7.0",
        "-> ..this line starts with a dot",  # stuffed on the wire…
        "\n.this line starts with a dot: the shell sends it",  # …and arrived as written
        "250 2.0.0 Queued as message 1",
        "1. from <me@example.com> to <you@example.com>",
        "TLS, user demo, subject 'Hello over STARTTLS'",
    ],
    "implicit-tls-465.smtp": [
        "waiting for the greeting\n* TLS is up:",  # TLS before the greeting: no STARTTLS
        "certificate check: passed",
        "235 2.7.0",
        "250 2.0.0 Queued as message 1",
    ],
    "auth-login-by-hand.smtp": [
        "* ZGVtbw==",
        '* "Username:"',
        "501 5.7.0 Auth aborted",
        '334 UGFzc3dvcmQ6  ← "Password:"',
        "235 2.7.0 Authentication successful",
        "503 Already authenticated",
    ],
    "dsn-request.smtp": [
        "-> MAIL FROM:<me@example.com> RET=HDRS ENVID=QQ314159\n555 ",
        "555: a MAIL FROM or RCPT TO parameter is not recognised",
        "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;you@example.com\n555 RCPT TO parameters",
        "-> RSET\n250 2.0.0 Reset\n-> QUIT",
    ],
    "send-with-attachment.smtp": [
        "235 2.7.0",
        "250 2.0.0 Queued as message 1",
        "Content-Type: multipart/mixed",
        'Content-Disposition: attachment; filename="report.csv"',
        _b64("report.csv"),
    ],
    "check-certificate.smtp": [
        "STARTTLS                         the connection can be upgraded",
        "* TLSv1.",
        "* certificate: CN=",
        "issuer:    CN=smtpshell practice CA",
        "SHA-256:",
        "-> QUIT\n221 2.0.0 Bye",
    ],
    "pipelining.smtp": [
        "-> MAIL FROM:<me@example.com>\n-> RCPT TO:<alice@example.com>\n"
        "-> RCPT TO:<bob@example.com>\n-> DATA\n250 2.1.0 Sender OK\n250 2.1.5 Recipient OK\n"
        "250 2.1.5 Recipient OK\n354 ",
        "to <alice@example.com>, <bob@example.com>",
    ],
    "reading-failures.smtp": [
        "550 5.1.1 No such mailbox here",
        "5.1.1: Bad destination mailbox address",
        "451 4.3.0 Try again later",
        "class 4: Persistent transient failure",
        "-> RSET\n250 2.0.0 Reset",
    ],
    "smuggling-check.smtp": [
        "* safe mode is off",
        "-> NOOP\\n\n250 2.0.0 OK",
        '-> NOOP\\rNOOP\\r\\n\n500 Error: command "NOOP\\x0dNOOP" not recognized',
        "\\r\\n.\\r\\n\n250 2.0.0 Queued as message 1",  # one reply, at the real end
        "before\n.\nNOOP\nafter",  # the fake end and the NOOP stayed message text
    ],
    "message-from-file.smtp": [
        "-> DATA\n354 ",
        "250 2.0.0 Queued as message 1",
        f"-> BDAT {_crlf_size('message.eml')} LAST\n250 2.0.0 Queued as message 2",
        f"1. from <me@example.com> to <you@example.com>, {_crlf_size('message.eml')} bytes",
        f"2. from <me@example.com> to <you@example.com>, {_crlf_size('message.eml')} bytes",
        "\n.This line starts with a dot.\n",
    ],
    "auth-mechanisms.smtp": [
        "-> AUTH CRAM-MD5\n334 ",
        '"status": "401"',
        "535 5.7.8 Authentication credentials invalid",
        "-> AUTH XOAUTH2 ********\n235 2.7.0",
    ],
}


def _run(*args: str, stdin: str = "") -> tuple[int, str, str]:
    return run(run_cli(*args, stdin=stdin))


@pytest.fixture(autouse=True)
def _from_the_repository_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """The examples name their files relative to the repository root; run_cli's
    subprocess starts where the test process stands."""
    monkeypatch.chdir(ROOT)


def test_there_are_examples() -> None:
    assert len(SCRIPTS) >= 9
    assert set(SCRIPTS) == set(FACTS), "every example needs its facts here, and only they"


@pytest.mark.parametrize("name", SCRIPTS)
def test_example_runs_and_does_what_it_says(name: str) -> None:
    code, out, err = _run("--demo", "--script", f"examples/{name}")
    assert "Traceback" not in out + err and "internal error" not in out + err, out + err
    assert (code, err) == (0, ""), out
    for fact in FACTS[name]:
        assert fact in out, f"{fact!r} not in the output of {name}:\n{out}"


@pytest.mark.parametrize("name", SCRIPTS)
def test_example_starts_with_a_header(name: str) -> None:
    lines = (EXAMPLES / name).read_text(encoding="utf-8").splitlines()
    header = []
    for line in lines:
        if not line.startswith("#"):
            break
        header.append(line)
    text = "\n".join(header)
    assert lines[0].startswith(f"# {name}:"), lines[0]
    assert f"smtpshell --demo --script examples/{name}" in text
    for label in ("Shows:", "Stands for:", "Run:", "Real server"):
        assert label in text, f"{name}: the header has no {label!r}"
    assert f"--script examples/{name}" in text.split("Real server", 1)[1]


# What smtpshell does not do yet, found while writing the examples. Strict: once it
# does, these fail as XPASS, and the examples can show it.


def test_inbox_says_tls_for_mail_over_implicit_tls() -> None:
    script = (EXAMPLES / "implicit-tls-465.smtp").read_text(encoding="utf-8") + ":inbox\n"
    code, out, _ = _run("--demo", "--script", "-", stdin=script)
    assert code == 0 and "1 message(s)" in out
    assert ", TLS, user demo" in out


def test_raw_can_send_a_message_body_when_told_how_many_replies_are_due() -> None:
    script = ("EHLO client.example\n:safe off\nMAIL FROM:<me@example.com>\n"
              "RCPT TO:<you@example.com>\n:raw DATA\\r\\n\n"
              ":raw --replies 1 Subject: probe\\r\\n\\r\\nbefore\\n.\\nNOOP\\r\\n"
              "after\\r\\n.\\r\\n\n:inbox 1\n")
    code, out, _ = _run("--demo", "--timeout", "1", "--script", "-", stdin=script)
    assert "250 2.0.0 Queued as message 1" in out and "unsolicited" not in out
    assert code == 0, out
