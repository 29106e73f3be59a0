"""SessionState: what the session itself remembers, and what it reads from the machine."""

from __future__ import annotations

from smtpshell.machine import ClientMachine
from smtpshell.protocol import Command
from smtpshell.render import plain, prompt_text, toolbar
from smtpshell.session import Phase, SessionState, TlsInfo

EHLO = b"250-mx.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n"


def connected() -> SessionState:
    state = SessionState(machine=ClientMachine())
    state.observe_connected("mx.test", 25, None)
    state.machine.receive(b"220 mx.test\r\n")
    return state


def walk(state: SessionState, *steps: tuple[str, bytes], kind: str = "command") -> SessionState:
    """Send each line as the connection does (machine first, then the listeners)."""
    for line, reply in steps:
        command = Command(line, kind, secret=kind == "auth-answer" or line.startswith("AUTH"))
        state.machine.send(command)
        state.observe_sent(command)
        state.machine.receive(reply)
    return state


def test_the_state_reads_the_machine() -> None:
    state = walk(connected(), ("EHLO x", EHLO), ("MAIL FROM:<a@b>", b"250 ok\r\n"))
    assert state.greeted and state.capabilities is not None and "STARTTLS" in state.capabilities
    assert state.phase is Phase.MAIL and state.connected and not state.out_of_step
    assert not SessionState().connected  # before any connection: an unconnected machine


def test_addresses_seen_and_the_ehlo_name() -> None:
    ok = b"250 ok\r\n"
    state = walk(connected(), ("EHLO client.test", EHLO), ("MAIL FROM:<a@b.example>", ok),
                 ("RCPT TO:<c@d.example>", ok), ("RCPT TO:<a@b.example>", ok))
    assert state.addresses == ["a@b.example", "c@d.example"]
    assert state.ehlo_name == "client.test"


def test_a_typed_auth_plain_remembers_the_password_not_the_user() -> None:
    state = walk(connected(), ("EHLO x", EHLO), ("AUTH PLAIN AGRlbW8Ac2VjcmV0", b"235 ok\r\n"))
    assert "secret" in state.secrets and "demo" not in state.secrets


def test_after_a_typed_auth_login_only_the_password_is_a_secret() -> None:
    state = walk(connected(), ("EHLO x", EHLO), ("AUTH LOGIN", b"334 VXNlcm5hbWU6\r\n"))
    walk(state, ("ZGVtbw==", b"334 UGFzc3dvcmQ6\r\n"), ("c2VjcmV0", b"235 ok\r\n"),
         kind="auth-answer")
    assert "secret" in state.secrets and "c2VjcmV0" in state.secrets
    assert not any("demo" in form or form in "MAIL FROM:<demo@example.com>"
                   for form in state.secrets)
    assert state.auth_user == "demo"


def test_toolbar_and_prompt_read_the_state() -> None:
    state = walk(connected(), ("EHLO x", EHLO), ("MAIL FROM:<a@b>", b"250 ok\r\n"),
                 ("RCPT TO:<c@d>", b"250 ok\r\n"), ("RCPT TO:<e@f>", b"250 ok\r\n"))
    bar = plain(toolbar(state))
    assert "peer mx.test:25" in bar and "tls none" in bar and "rcpt ×2" in bar
    assert "safe on" in bar and plain(prompt_text(state)) == "mx.test:25 plain> "
    state.observe_tls(TlsInfo("TLSv1.3", "TLS_AES_128_GCM_SHA256", 128, None, False, "x"))
    assert "TLSv1.3 TLS_AES_128_GCM_SHA256 (unverified)" in plain(toolbar(state))
    assert plain(prompt_text(state)) == "mx.test:25 tls1.3> "
    walk(state, ("DATA", b"354 go\r\n"))
    state.safe = False
    assert plain(prompt_text(state)) == "data> " and "safe OFF" in plain(toolbar(state))
    state.machine.close("closed")
    state.observe_closed()
    assert plain(prompt_text(state)) == "mx.test:25 closed> "
