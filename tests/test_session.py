"""SessionState moves on replies, never on what was typed."""

from __future__ import annotations

import pytest

from smtpshell.protocol import Command, Reply
from smtpshell.session import Phase, SessionState, TlsInfo

EHLO = Reply(250, ("250-mx.test", "250-PIPELINING", "250 STARTTLS"))


def ok(code: int = 250) -> Reply:
    return Reply(code, (f"{code} ok",))


def connected() -> SessionState:
    state = SessionState()
    state.observe_connected("mx.test", 25, None)
    return state


def walk(state: SessionState, *steps: tuple[str, int]) -> SessionState:
    for line, code in steps:
        command = Command(line)
        state.observe_sent(command)
        state.observe_reply(ok(code) if line != "EHLO x" else EHLO, command)
    return state


def test_ehlo_sets_capabilities() -> None:
    state = walk(connected(), ("EHLO x", 250))
    assert state.greeted and state.capabilities is not None
    assert "PIPELINING" in state.capabilities


@pytest.mark.parametrize(("steps", "phase", "recipients"), [
    ([("MAIL FROM:<a@b>", 250)], Phase.MAIL, 0),
    ([("MAIL FROM:<a@b>", 550)], Phase.IDLE, 0),
    ([("MAIL FROM:<a@b>", 250), ("RCPT TO:<c@d>", 250), ("RCPT TO:<e@f>", 251)], Phase.RCPT, 2),
    ([("MAIL FROM:<a@b>", 250), ("RCPT TO:<c@d>", 550)], Phase.MAIL, 0),
    ([("MAIL FROM:<a@b>", 250), ("RCPT TO:<c@d>", 250), ("DATA", 354)], Phase.DATA, 1),
    ([("MAIL FROM:<a@b>", 250), ("RCPT TO:<c@d>", 250), ("DATA", 554)], Phase.RCPT, 1),
    ([("MAIL FROM:<a@b>", 250), ("RSET", 250)], Phase.IDLE, 0),
    ([("RCPT TO:<c@d>", 250)], Phase.IDLE, 0),  # no MAIL: a 250 does not invent one
    ([("NOOP", 354)], Phase.IDLE, 0),  # a 354 that answers the wrong command
])
def test_phase(steps: list[tuple[str, int]], phase: Phase, recipients: int) -> None:
    state = walk(connected(), ("EHLO x", 250), *steps)
    assert (state.phase, state.recipients) == (phase, recipients)


def test_end_of_data_ends_the_transaction_whatever_the_reply() -> None:
    for code in (250, 554):
        state = walk(connected(), ("MAIL FROM:<a@b>", 250), ("RCPT TO:<c@d>", 250),
                     ("DATA", 354))
        state.observe_reply(ok(code), Command(".", kind="data-end"))
        assert state.phase is Phase.IDLE


def test_auth_plain_user_and_dialog() -> None:
    state = walk(connected(), ("EHLO x", 250), ("AUTH PLAIN AGRlbW8AZGVtbw==", 235))
    assert state.auth_user == "demo"
    state = walk(connected(), ("EHLO x", 250), ("AUTH LOGIN", 334))
    assert state.auth_dialog
    for answer, code in (("ZGVtbw==", 334), ("c2VjcmV0", 235)):
        command = Command(answer, kind="auth-answer", secret=True)
        state.observe_sent(command)
        state.observe_reply(ok(code), command)
    assert state.auth_user == "demo" and not state.auth_dialog


def test_tls_forgets_what_plaintext_taught() -> None:
    state = walk(connected(), ("EHLO x", 250), ("MAIL FROM:<a@b>", 250))
    state.observe_tls(TlsInfo("TLSv1.3", "X", 256, None, True))
    assert state.capabilities is None and state.phase is Phase.IDLE
    assert state.tls is not None and state.tls.short == "tls1.3"


def test_421_marks_closing_even_unsolicited() -> None:
    state = connected()
    state.observe_reply(Reply(421, ("421 4.4.2 timeout",)), None)
    assert state.closing


def test_addresses_seen() -> None:
    state = walk(connected(), ("MAIL FROM:<a@b.example>", 250), ("RCPT TO:<c@d.example>", 250),
                 ("RCPT TO:<a@b.example>", 250))
    assert state.addresses == ["a@b.example", "c@d.example"]


def test_toolbar_and_prompt_read_the_state() -> None:
    from smtpshell.render import plain, prompt_text, toolbar

    state = walk(connected(), ("EHLO x", 250), ("MAIL FROM:<a@b>", 250), ("RCPT TO:<c@d>", 250),
                 ("RCPT TO:<e@f>", 250))
    bar = plain(toolbar(state))
    assert "peer mx.test:25" in bar and "tls none" in bar and "rcpt ×2" in bar
    assert "safe on" in bar and plain(prompt_text(state)) == "mx.test:25 plain> "
    state.observe_tls(TlsInfo("TLSv1.3", "TLS_AES_128_GCM_SHA256", 128, None, False, "x"))
    assert "TLSv1.3 TLS_AES_128_GCM_SHA256 (unverified)" in plain(toolbar(state))
    assert plain(prompt_text(state)) == "mx.test:25 tls1.3> "
    state.phase, state.safe = Phase.DATA, False
    assert plain(prompt_text(state)) == "data> " and "safe OFF" in plain(toolbar(state))
    state.observe_closed()
    assert plain(prompt_text(state)) == "mx.test:25 closed> "
