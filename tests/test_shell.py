"""The prompt_toolkit front end, driven through pipe input."""

from __future__ import annotations

import asyncio
import io
import stat
from pathlib import Path

import pytest
from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output.plain_text import PlainTextOutput
from support import (
    CTRL_D,
    RawPeer,
    RawServer,
    drive,
    practice,
    raw_settings,
    run,
    wait_until,
)

from smtpshell.helpers import make_engine
from smtpshell.session import SessionState
from smtpshell.shell import ShellUI, make_history, run_shell

SESSION = "\r".join([
    "EHLO client.example", ":starttls", "AUTH PLAIN AGRlbW8AZGVtbw==",
    "MAIL FROM:<me@example.com>", "RCPT TO:<you@example.com>", "DATA", "From: me@example.com",
    "Subject: test", "", "hello", ".", ":inbox", "QUIT", ""]) + CTRL_D


@pytest.mark.parametrize("color", [False, True])  # True: the lexers run on every keystroke
def test_the_classic_session_typed_at_the_prompt(tmp_path: Path, color: bool) -> None:
    history = tmp_path / "state" / "history"

    async def scenario() -> None:
        async with practice() as server:
            engine, screen = await drive(server, SESSION, history, color)
            assert bytes(server.inbox.wire[0]) == (
                b"EHLO client.example\r\nSTARTTLS\r\nEHLO client.example\r\n"
                b"AUTH PLAIN AGRlbW8AZGVtbw==\r\nMAIL FROM:<me@example.com>\r\n"
                b"RCPT TO:<you@example.com>\r\nDATA\r\nFrom: me@example.com\r\n"
                b"Subject: test\r\n\r\nhello\r\n.\r\nQUIT\r\n")
            assert server.inbox.messages[0].content.endswith(b"\r\n\r\nhello\r\n")
            assert "data> " in screen and "tls1.3> " in screen
            assert "1 message(s)" in screen and "221 2.0.0 Bye" in screen
            assert engine.finished

    run(scenario())
    saved = history.read_text()
    assert "MAIL FROM:<me@example.com>" in saved
    assert "AUTH" not in saved and "AGRlbW8AZGVtbw" not in saved
    assert "+From: me@example.com" not in saved and "+hello" not in saved  # message text
    assert stat.S_IMODE(history.stat().st_mode) == 0o600


def test_the_history_keeps_commands_that_went_out(tmp_path: Path) -> None:
    """Not message text typed in DATA mode, not lines the safe mode refused."""
    history = tmp_path / "h"
    keys = "\r".join(["EHLO h.example", "R", "NOOP " + "x" * 600, "MAIL FROM:<a@example.com>",
                      "RCPT TO:<b@example.com>", "DATA", "Subject: private plans", "",
                      "the body", ".", ""]) + CTRL_D

    async def scenario() -> None:
        async with practice() as server:
            await drive(server, keys, history)
            assert server.inbox.messages[0].content.endswith(b"the body\r\n")

    run(scenario())
    kept = [line[1:] for line in history.read_text().splitlines() if line.startswith("+")]
    assert kept == ["EHLO h.example", "MAIL FROM:<a@example.com>", "RCPT TO:<b@example.com>",
                    "DATA"]


def test_paste_is_split_into_lines_and_ctrl_d_ends_data(tmp_path: Path) -> None:
    keys = ("\x1b[200~EHLO paste.example\nMAIL FROM:<a@example.com>\nRCPT TO:<b@example.com>"
            "\nDATA\nSubject: pasted\n\n.x\x1b[201~\r" + CTRL_D + "QUIT\r" + CTRL_D)

    async def scenario() -> None:
        async with practice() as server:
            await drive(server, keys, tmp_path / "h")
            assert server.inbox.messages[0].content == b"Subject: pasted\r\n\r\n.x\r\n"
            assert bytes(server.inbox.wire[0]).endswith(b"\r\n..x\r\n.\r\nQUIT\r\n")

    run(scenario())


@pytest.mark.parametrize("end", ["\r", "\r\n", "\n"])
def test_a_paste_from_a_real_terminal_is_lines(tmp_path: Path, end: str) -> None:
    """tmux, xterm and VTE send a bracketed paste's line breaks as CR."""
    body = end.join(["EHLO paste.example", "NOOP", "RSET"])
    keys = f"\x1b[200~{body}\x1b[201~\r" + CTRL_D

    async def scenario() -> None:
        async with practice() as server:
            _, screen = await drive(server, keys, tmp_path / "h")
            assert "bare CR" not in screen
            assert bytes(server.inbox.wire[0]) == (b"EHLO paste.example\r\nNOOP\r\nRSET\r\n"
                                                   b"QUIT\r\n")

    run(scenario())


def test_sclient_habits_and_bad_helpers_leave_the_shell_up(tmp_path: Path) -> None:
    keys = "\r".join(["R", "Q", ":nonsense", "::x", "NOOP", ""]) + CTRL_D

    async def scenario() -> None:
        async with practice() as server:
            _, screen = await drive(server, keys, tmp_path / "h")
            assert screen.count("openssl s_client") == 2
            assert "there is no helper :nonsense" in screen
            assert bytes(server.inbox.wire[0]) == b":x\r\nNOOP\r\nQUIT\r\n"
            assert "Traceback" not in screen

    run(scenario())


def test_confirmation_is_asked_at_the_prompt(tmp_path: Path) -> None:
    keys = "\r".join(["EHLO a.example", "RCPT TO:<x@example.com>", "n",
                      "RCPT TO:<y@example.com>", "y", ""]) + CTRL_D

    async def scenario() -> None:
        async with practice() as server:
            _, screen = await drive(server, keys, tmp_path / "h")
            assert "! RCPT before MAIL: there is no transaction to add a recipient to." in screen
            assert "Send anyway? [y/N] n" in screen and "Send anyway? [y/N] y" in screen
            assert screen.count("! Not sent.") == 1  # the one answered "n"
            assert bytes(server.inbox.wire[0]) == (b"EHLO a.example\r\nRCPT TO:<y@example.com>"
                                                   b"\r\nQUIT\r\n")

    run(scenario())


def test_unsolicited_421_prints_above_the_waiting_prompt(tmp_path: Path) -> None:
    async def server(peer: RawPeer) -> None:
        await peer.send(b"220 raw.test\r\n")
        await peer.send(b"421 4.4.2 raw.test closing: idle too long\r\n")
        peer.close()

    async def scenario() -> None:
        screen = io.StringIO()
        async with RawServer(server) as srv:
            with create_pipe_input() as pipe, create_app_session(
                    input=pipe, output=PlainTextOutput(screen)):
                ui = ShellUI(color=False)
                state = SessionState()
                engine = make_engine(raw_settings(srv), state, ui)
                await engine.dialer.open_target(srv.target())
                shell = asyncio.ensure_future(run_shell(
                    engine, state, ui, make_history(None, engine)))
                await wait_until(lambda: "closed>" in screen.getvalue())
                assert not shell.done()  # the prompt was up all along
                pipe.send_text(CTRL_D)
                assert await shell == 0
        text = screen.getvalue()
        assert "421 4.4.2 raw.test closing" in text
        assert text.index("421 4.4.2") < text.rindex("closed>")
        assert "connection closed: the server closed the connection" in text
        assert srv.received == b""

    run(scenario())


def test_a_stray_escape_sequence_does_not_take_the_shell_down(tmp_path: Path) -> None:
    """ESC [ 3 1 m typed (not pasted) looks to prompt_toolkit like a broken mouse report."""
    keys = "\x1b[31m\rNOOP\r" + CTRL_D

    async def scenario() -> None:
        async with practice() as server:
            _, screen = await drive(server, keys, tmp_path / "h")
            assert bytes(server.inbox.wire[0]).endswith(b"NOOP\r\nQUIT\r\n")
            assert "Traceback" not in screen

    run(scenario())


@pytest.mark.parametrize(("mode", "sent"), [("vi", b"NOOP\r\n"), ("emacs", b"NOOPX")])
def test_vi_key_bindings_when_asked(tmp_path: Path, mode: str, sent: bytes) -> None:
    """Esc, then x: in vi mode the last character is deleted; emacs reads Esc x as Meta-x."""
    keys = "NOOPX\x1bx\r" + CTRL_D

    async def scenario() -> None:
        async with practice() as server:
            await drive(server, keys, tmp_path / "h", edit_mode=mode)
            assert bytes(server.inbox.wire[0]).startswith(sent)

    run(scenario())
