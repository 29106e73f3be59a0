"""A scripted raw server on loopback: injection, no STARTTLS, broken replies."""

from __future__ import annotations

import asyncio

import pytest
from support import (
    STEP,
    RawPeer,
    RawServer,
    RecordingUI,
    lines,
    raw_engine,
    raw_settings,
    run,
    wait_until,
)

from smtpshell.errors import (
    ConnectionFailed,
    ProtocolViolation,
    ReplyTimeout,
    ServerClosed,
    TlsFailed,
)
from smtpshell.helpers import make_engine
from smtpshell.protocol import Command, Reply
from smtpshell.session import SessionState
from smtpshell.traffic import Listener


async def until_starttls(peer: RawPeer) -> None:
    await peer.greet_ehlo("PIPELINING", "STARTTLS")
    await peer.expect(b"STARTTLS")


class SawReply(Listener):
    """Lets the raw server act right after the client has read a reply."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    def on_reply(self, reply: Reply, command: Command | None, late: bool) -> None:
        if command is not None and command.verb == "STARTTLS":
            self.event.set()


@pytest.mark.parametrize("after_220", [
    [b"220 go\r\n250-injected\r\n250 more\r\n"],  # same packet
    [b"220 go\r\n250 par"],  # a fragment without CRLF
    [b"220 go\r\n", b"250 injected\r\n"],  # the next packet, after the client read the 220
], ids=["same-packet", "fragment", "next-packet"])
def test_starttls_response_injection_aborts_before_the_handshake(after_220: list[bytes]) -> None:
    seen = SawReply()

    async def server(peer: RawPeer) -> None:
        await until_starttls(peer)
        await peer.send(after_220[0])
        if len(after_220) > 1:
            await seen.event.wait()
            await peer.send(after_220[1])
        await peer.until_closed()

    async def scenario() -> None:
        async with RawServer(server) as srv:
            ui = RecordingUI()
            settings = raw_settings(srv)
            engine = make_engine(settings, SessionState(), ui, listeners=[seen])
            assert engine.target is not None
            await engine.dialer.open_target(engine.target)
            await lines(engine, "EHLO x.example")
            with pytest.raises(ConnectionFailed) as caught:
                await lines(engine, ":starttls")
            await srv.finished()
            # nothing after STARTTLS left the client: no ClientHello, no command
            assert srv.received == b"EHLO x.example\r\nSTARTTLS\r\n"
            assert isinstance(caught.value, ProtocolViolation)
            assert "response injection" in str(caught.value)
            assert "injected" not in ui.text.split("220 go")[-1]  # never shown as a reply
            assert not engine.state.connected and engine.state.tls is None

    run(scenario())


def test_starttls_option_against_a_server_without_it_sends_nothing_after_ehlo() -> None:
    async def server(peer: RawPeer) -> None:
        await peer.greet_ehlo("PIPELINING", "8BITMIME")
        await peer.until_closed()

    async def scenario() -> None:
        async with RawServer(server) as srv:
            with pytest.raises(TlsFailed, match="does not offer STARTTLS"):
                await raw_engine(srv, "starttls", ehlo="x.example")
            await srv.finished()
            assert srv.received == b"EHLO x.example\r\n"

    run(scenario())


@pytest.mark.parametrize("answer", [b"454 4.7.0 TLS not available\r\n", b"354 go ahead\r\n",
                                    b"334 VXNlcm5hbWU6\r\n"])
def test_starttls_refused_never_continues_in_plaintext(answer: bytes) -> None:
    async def server(peer: RawPeer) -> None:
        await until_starttls(peer)
        await peer.send(answer)
        await peer.until_closed()

    async def scenario() -> None:
        async with RawServer(server) as srv:
            engine, _ = await raw_engine(srv, "starttls", connect=False, ehlo="x.example")
            with pytest.raises(TlsFailed, match="refused STARTTLS"):
                await engine.dialer.open_target(srv.target("starttls"))
            await srv.finished()
            assert srv.received == b"EHLO x.example\r\nSTARTTLS\r\n"
            assert engine.state.phase.value == "idle" and not engine.state.auth_dialog

    run(scenario())


@pytest.mark.parametrize(("reply", "problem"), [
    (b"250-first\r\n251 second\r\n", "different codes (250 then 251)"),
    (b"250 bare lf\n", "bare LF"),
    (b"250 caf\xe9\r\n", "not UTF-8"),
    (b"250 \x1b[2J\x1b]0;owned\x07 \xe2\x80\xae\r\n", None),
])
def test_broken_replies_are_shown_flagged_and_not_fatal(reply: bytes, problem: str | None
                                                        ) -> None:
    async def server(peer: RawPeer) -> None:
        await peer.send(b"220 raw.test\r\n")
        await peer.expect(b"NOOP")
        await peer.send(reply)
        await peer.expect(b"NOOP")
        await peer.send(b"250 still here\r\n")
        await peer.until_closed()

    async def scenario() -> None:
        async with RawServer(server) as srv:
            engine, ui = await raw_engine(srv)
            await lines(engine, "NOOP")
            if problem:
                assert "! server: " in ui.text and problem in ui.text
            else:  # terminal controls arrive escaped, never raw
                assert "\x1b" not in ui.text and "\u202e" not in ui.text
                assert "\\x1b[2J" in ui.text and "\\u202e" in ui.text
            await lines(engine, "NOOP")
            assert "250 still here" in ui.text and engine.state.connected

    run(scenario())


def test_close_mid_reply_is_reported_and_the_shell_goes_on() -> None:
    async def server(peer: RawPeer) -> None:
        await peer.send(b"220 raw.test\r\n")
        await peer.expect(b"EHLO")
        await peer.send(b"250-raw.test\r\n250-PIPEL")
        peer.close()

    async def scenario() -> None:
        async with RawServer(server) as srv:
            engine, ui = await raw_engine(srv)
            result = await engine.handle_line("EHLO x.example")
            assert result.reply is not None and result.reply.code == 250
            assert "closed in the middle of this reply" in ui.text
            await srv.finished()
            assert engine.conn is not None
            await engine.conn.closed
            assert "connection closed: the server closed the connection" in ui.text
            with pytest.raises(ServerClosed, match="not connected"):
                await lines(engine, "NOOP")

    run(scenario())


def test_unsolicited_421_is_shown_and_marks_the_session() -> None:
    async def server(peer: RawPeer) -> None:
        await peer.send(b"220 raw.test\r\n")
        await peer.expect(b"NOOP")
        await peer.send(b"250 ok\r\n421 4.4.2 idle too long\r\n")
        await peer.until_closed()

    async def scenario() -> None:
        async with RawServer(server) as srv:
            engine, ui = await raw_engine(srv)
            await lines(engine, "NOOP")
            assert "unsolicited reply" in ui.text and "421 4.4.2 idle too long" in ui.text
            assert engine.state.closing
            await engine.dialer.hang_up(quit_first=True)  # no QUIT to a server that said 421
            await srv.finished()
            assert srv.received == b"NOOP\r\n"

    run(scenario())


@pytest.mark.parametrize(("banner", "kind"), [
    (b"SSH-2.0-OpenSSH_9.6\r\n", "an SSH server"),
    (b"* OK [CAPABILITY IMAP4rev1] ready\r\n", "an IMAP server"),
    (b"+OK POP3 ready\r\n", "a POP3 server"),
])
def test_a_server_that_is_not_smtp_says_what_it_is(banner: bytes, kind: str) -> None:
    async def server(peer: RawPeer) -> None:
        await peer.send(banner)
        await peer.until_closed()

    async def scenario() -> None:
        async with RawServer(server) as srv:
            with pytest.raises(ConnectionFailed, match=f"not an SMTP server.*{kind}"):
                await raw_engine(srv)

    run(scenario())


def test_reply_timeout_then_the_late_reply_is_paired_with_its_command() -> None:
    gave_up = asyncio.Event()

    async def server(peer: RawPeer) -> None:
        await peer.send(b"220 raw.test\r\n")
        await peer.expect(b"NOOP")
        await gave_up.wait()
        await peer.send(b"250 2.0.0 late but here\r\n")
        await peer.expect(b"RSET")
        await peer.send(b"250 2.0.0 reset\r\n")
        await peer.until_closed()

    async def scenario() -> None:
        async with RawServer(server) as srv:
            engine, ui = await raw_engine(srv, timeout=0.2)
            with pytest.raises(ReplyTimeout, match=r"no reply within 0\.2 s"):
                await lines(engine, "NOOP")
            assert engine.state.out_of_step
            gave_up.set()
            await wait_until(lambda: "late but here" in ui.text)
            assert "late reply to NOOP" in ui.text and not engine.state.out_of_step
            engine.settings = engine.settings._replace(timeout=STEP)
            result = await engine.handle_line("RSET")
            assert result.reply is not None and result.reply.texts == ("2.0.0 reset",)

    run(scenario())
