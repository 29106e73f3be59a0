"""Safe-mode verdicts, as a table."""

from __future__ import annotations

import pytest

from smtpshell import redact, safety
from smtpshell.machine import ClientMachine, Stage
from smtpshell.protocol import Capabilities, Reply
from smtpshell.session import Phase, SessionState, TlsInfo

TLS = TlsInfo("TLSv1.3", "X", 256, None, verified=True)


CAPS = Capabilities.from_ehlo(Reply(250, ("250-mx", "250-AUTH PLAIN LOGIN", "250 8BITMIME")))
MACHINE = ("phase", "capabilities", "auth_dialog", "closing")


def state(**kw: object) -> SessionState:
    """A session after EHLO (AUTH PLAIN LOGIN, 8BITMIME), changed as told: protocol facts
    go to the machine, the user's toggles and TLS to the session."""
    machine = ClientMachine(stage=Stage.READY, capabilities=CAPS)
    for key in MACHINE:
        if key in kw:
            setattr(machine, key, kw.pop(key))
    s = SessionState(machine=machine)
    s.observe_connected("mx.test", 25, None)
    for key, value in kw.items():
        setattr(s, key, value)
    return s


def is_secret(line: str, s: SessionState) -> bool:
    return redact.is_secret(line, s.auth_dialog, s.secrets)


@pytest.mark.parametrize("line", ["R", "Q", "k", "K", "C", " R "])
def test_sclient_traps_are_not_sent(line: str) -> None:
    verdict = safety.check_command(line, state())
    assert verdict.action == "refuse"
    assert "openssl s_client" in verdict.reason and verdict.hint


@pytest.mark.parametrize(("line", "problem"), [
    ("NOOP\rRSET", "bare CR"), ("NOOP\nRSET", "bare LF"), ("NOOP\0", "NUL"),
    ("NOOP \x1b[31m", "U+001B"),
])
def test_control_characters_refused(line: str, problem: str) -> None:
    verdict = safety.check_command(line, state())
    assert verdict.action == "refuse" and problem in verdict.reason


def test_limits() -> None:
    assert safety.check_command("NOOP " + "x" * 505, state()).action == "send"  # 512 with CRLF
    verdict = safety.check_command("NOOP " + "x" * 506, state())
    assert verdict.action == "refuse" and "512" in verdict.reason
    # RFC 4954 §4: the AUTH line stays within 512; the response may take 12,288 after a 334
    verdict = safety.check_command("AUTH XOAUTH2 " + "A" * 4000, state(tls=TLS))
    assert verdict.action == "refuse" and "512" in verdict.reason
    assert "send AUTH XOAUTH2 alone" in verdict.hint and "12,288" in verdict.hint
    assert safety.check_answer("A" * 12286, state()).action == "send"
    verdict = safety.check_answer("A" * 12287, state())
    assert verdict.action == "refuse" and "12288 (RFC 4954 §4)" in verdict.reason
    assert safety.check_text("x" * 998, state()).action == "send"
    verdict = safety.check_text("x" * 999, state())
    assert verdict.action == "refuse" and "1000" in verdict.reason


def test_non_ascii_needs_smtputf8() -> None:
    verdict = safety.check_command("MAIL FROM:<jöran@example>", state(phase=Phase.IDLE))
    assert verdict.action == "refuse" and "SMTPUTF8" in verdict.reason
    caps = Capabilities.from_ehlo(Reply(250, ("250-mx", "250 SMTPUTF8")))
    assert safety.check_command("MAIL FROM:<jöran@example>", state(capabilities=caps)) \
        .action == "send"


def test_eight_bit_text_warns_without_8bitmime() -> None:
    assert safety.check_text("grüße", state()).reason == ""
    verdict = safety.check_text("grüße", state(capabilities=Capabilities()))
    assert verdict.action == "send" and "8BITMIME" in verdict.reason


@pytest.mark.parametrize(("line", "kw", "word"), [
    ("RCPT TO:<a@b>", {}, "RCPT before MAIL"),
    ("DATA", {"phase": Phase.MAIL}, "DATA before any accepted RCPT"),
    ("MAIL FROM:<a@b>", {"phase": Phase.RCPT}, "already open"),
    ("MAIL FROM:<a@b>", {"capabilities": None}, "before EHLO"),
    ("AUTH PLAIN AGRlbW8AZGVtbw==", {}, "without TLS"),
    ("AUTH PLAIN AGRlbW8AZGVtbw==", {"tls": TlsInfo("TLSv1.3", "X", 256, None, False)},
     "not verified"),
    ("AUTH PLAIN AGRlbW8AZGVtbw==", {"tls": TLS, "capabilities": None}, "before EHLO"),
    ("NOOP", {"closing": True}, "closing"),
    ("AUTH CRAM-MD5", {"tls": TLS}, "did not offer AUTH CRAM-MD5 (it offers PLAIN LOGIN)"),
])
def test_order_mistakes_ask(line: str, kw: dict[str, object], word: str) -> None:
    verdict = safety.check_command(line, state(**kw))
    assert verdict.action == "confirm" and word in verdict.reason


def test_good_order_just_sends() -> None:
    assert safety.check_command("RCPT TO:<a@b>", state(phase=Phase.MAIL)) == safety.SEND
    assert safety.check_command("DATA", state(phase=Phase.RCPT)) == safety.SEND
    assert safety.check_command("AUTH LOGIN", state(tls=TLS)) == safety.SEND


def test_unsafe_mode_sends_but_never_a_second_starttls() -> None:
    assert safety.check_command("R", state(safe=False)) == safety.SEND
    assert safety.check_command("NOOP\rX", state(safe=False)) == safety.SEND
    assert safety.check_command("starttls", state(safe=False, tls=TLS)).action == "refuse"


def test_secrets() -> None:
    assert is_secret("auth plain AGRlbW8AZGVtbw==", state())
    assert is_secret("ZGVtbw==", state(auth_dialog=True))
    assert not is_secret("MAIL FROM:<a@b>", state())


@pytest.mark.parametrize(("command", "params", "problem"), [
    ("MAIL", ["MT-PRIORITY=1"], "needs the MT-PRIORITY extension"),
    ("MAIL", ["FOO=1"], "no SMTP extension defines a MAIL parameter FOO"),
    ("RCPT", ["RET=FULL"], "no SMTP extension defines a RCPT parameter RET"),
    ("MAIL", ["BODY=BINARYMIME"], "needs the 8BITMIME or BINARYMIME"),
    ("MAIL", ["BODY=9BIT"], "9BIT is not one of"),
])
def test_params_refused(command: str, params: list[str], problem: str) -> None:
    caps = Capabilities.from_ehlo(Reply(250, ("250-mx", "250-8BITMIME", "250-DSN",
                                              "250 SIZE 5000")))
    if "BINARYMIME" in params[0]:
        caps = Capabilities()
    verdict = safety.check_params(command, params, state(capabilities=caps))
    assert verdict.action == "refuse" and problem in verdict.reason


def test_params_accepted() -> None:
    caps = Capabilities.from_ehlo(Reply(250, ("250-mx", "250-8BITMIME", "250-DSN",
                                              "250-SMTPUTF8", "250 SIZE 5000")))
    good = state(capabilities=caps)
    assert safety.check_params("MAIL", ["SIZE=4999", "BODY=8bitmime", "RET=HDRS", "SMTPUTF8",
                                        "ENVID=x1"], good) == safety.SEND
    assert safety.check_params("RCPT", ["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;a@b"],
                               good) == safety.SEND
    assert "SIZE limit of 5000" in safety.check_params("MAIL", ["SIZE=5001"], good).reason
    assert "takes no value" in safety.check_params("MAIL", ["SMTPUTF8=1"], good).reason
    assert safety.check_params("MAIL", ["FOO=1"], state(safe=False)) == safety.SEND


def test_arguments_with_control_characters_are_refused_in_every_mode() -> None:
    verdict = safety.check_argument("a@b\r\nRCPT TO:<c@d>", "the address")
    assert verdict.action == "refuse" and "bare CR" in verdict.reason
    assert safety.check_argument("a@b", "the address") == safety.SEND


def test_notify_never_stands_alone() -> None:
    caps = Capabilities.from_ehlo(Reply(250, ("250-mx", "250 DSN")))
    verdict = safety.check_params("RCPT", ["NOTIFY=NEVER,SUCCESS"], state(capabilities=caps))
    assert verdict.action == "refuse" and "RFC 3461" in verdict.reason
    assert safety.check_params("RCPT", ["NOTIFY=NEVER"], state(capabilities=caps)) == \
        safety.SEND


def test_secrets_wherever_they_stand() -> None:
    s = state()
    for line in (" AUTH PLAIN AGRlbW8AZGVtbw==", ":pipeline MAIL FROM:<a@b>; auth plain xyz",
                 ":raw AUTH PLAIN AGRlbW8AZGVtbw==\\r\\n"):
        assert is_secret(line, s), line
    assert not is_secret("MAIL FROM:<a@b>", s)
    s.remember_secret("s3cret-Pass")
    assert is_secret("czNjcmV0LVBhc3M=", s)  # its base64, typed on its own later
