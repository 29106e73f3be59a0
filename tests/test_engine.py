"""The Engine against the practice server: what the server received, byte for byte."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from support import RecordingUI, engine_for, lines, practice, run

from smtpshell.config import Target, TlsOptions
from smtpshell.connection import _connect_error
from smtpshell.errors import ServerClosed, TlsFailed, UsageError
from smtpshell.protocol import encode_data
from smtpshell.session import Phase
from smtpshell.tls import make_practice_certs

SESSION = [
    "EHLO client.example",
    ":starttls",
    "AUTH PLAIN AGRlbW8AZGVtbw==",
    "MAIL FROM:<me@example.com>",
    "RCPT TO:<you@example.com>",
    "DATA",
    "From: me@example.com",
    "Subject: test",
    "",
    "hello",
    ".",
    "QUIT",
]
WIRE = (b"EHLO client.example\r\nSTARTTLS\r\nEHLO client.example\r\n"
        b"AUTH PLAIN AGRlbW8AZGVtbw==\r\nMAIL FROM:<me@example.com>\r\n"
        b"RCPT TO:<you@example.com>\r\nDATA\r\nFrom: me@example.com\r\nSubject: test\r\n"
        b"\r\nhello\r\n.\r\nQUIT\r\n")
BODY = b"From: me@example.com\r\nSubject: test\r\n\r\nhello\r\n"


def test_the_classic_session() -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await engine_for(server)
            await lines(engine, *SESSION)
            assert bytes(server.inbox.wire[0]) == WIRE
            [message] = server.inbox.messages
            assert message.content == BODY and message.tls and message.user == "demo"
            assert message.rcpt_tos == ("you@example.com",)
            assert "TLS is up: TLSv1.3" in ui.text and "235 2.7.0" in ui.text
            assert not engine.state.connected

    run(scenario())


def test_phase_follows_replies_and_caps_are_forgotten_after_tls() -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, _ = await engine_for(server)
            await lines(engine, "EHLO a.example")
            assert engine.state.capabilities and "STARTTLS" in engine.state.capabilities
            assert "AUTH" not in engine.state.capabilities
            await lines(engine, ":starttls")
            caps = engine.state.capabilities
            assert caps and "AUTH" in caps and "STARTTLS" not in caps
            await lines(engine, "MAIL FROM:<a@b.example>", "RCPT TO:<c@d.example>")
            assert (engine.state.phase, engine.state.recipients) == (Phase.RCPT, 1)
            await lines(engine, "DATA")
            assert engine.state.phase is Phase.DATA

    run(scenario())


def test_implicit_tls() -> None:
    async def scenario() -> None:
        async with practice(implicit_tls=True) as server:
            engine, _ = await engine_for(server, connect=False)
            assert engine.target is not None
            await engine.dialer.open_target(engine.target._replace(mode="tls"))
            assert engine.state.tls is not None and engine.state.tls.verified
            await lines(engine, "EHLO x.example", "AUTH PLAIN AGRlbW8AZGVtbw==")
            assert engine.state.auth_user == "demo"
            assert bytes(server.inbox.wire[0]).startswith(b"EHLO x.example\r\n")

    run(scenario())


def test_starttls_option_upgrades_before_anything_else() -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, _ = await engine_for(server, connect=False, ehlo="c.example")
            assert engine.target is not None
            await engine.dialer.open_target(engine.target._replace(mode="starttls"))
            assert engine.state.tls is not None and engine.state.greeted
            assert bytes(server.inbox.wire[0]) == (b"EHLO c.example\r\nSTARTTLS\r\n"
                                                   b"EHLO c.example\r\n")

    run(scenario())


def test_untrusted_certificate_fails_with_the_reason_and_insecure_proceeds() -> None:
    async def scenario() -> None:
        async with practice() as server:
            other_ca = make_practice_certs().ca_pem
            engine, _ = await engine_for(server, tls=TlsOptions(cadata=other_ca))
            await lines(engine, "EHLO x.example")
            with pytest.raises(TlsFailed, match="unknown certificate authority"):
                await lines(engine, ":starttls")
            assert not engine.state.connected
            engine.settings = engine.settings._replace(tls=TlsOptions(insecure=True))
            await lines(engine, ":reconnect", ":starttls")
            assert engine.state.tls is not None and not engine.state.tls.verified
            assert engine.state.connected

    run(scenario())


def test_dot_stuffing_arrives_intact() -> None:
    body = b"Subject: dots\r\n\r\n.\r\n..\r\n.x\r\nend\r\n"

    async def scenario() -> None:
        async with practice() as server:
            engine, _ = await engine_for(server)
            await lines(engine, "EHLO x.example", "MAIL FROM:<a@b.example>",
                        "RCPT TO:<c@d.example>", "DATA")
            conn = engine.connection()
            wire = b"".join(encode_data([body[:20], body[20:]]))
            await conn.send_text(wire[:-3])  # all but the final ".\r\n"
            reply = await engine.end_data()
            assert reply.code == 250
            assert server.inbox.messages[0].content == body
            assert bytes(server.inbox.wire[0]).count(b"\r\n.\r\n") == 1

    run(scenario())


def test_typed_dot_lines_are_stuffed() -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, _ = await engine_for(server)
            await lines(engine, "EHLO x.example", "MAIL FROM:<a@b.example>",
                        "RCPT TO:<c@d.example>", "DATA", "..", ".x", "x.", ".")
            assert server.inbox.messages[0].content == b"..\r\n.x\r\nx.\r\n"
            assert bytes(server.inbox.wire[0]).endswith(b"...\r\n..x\r\nx.\r\n.\r\n")

    run(scenario())


def test_sclient_letters_are_never_sent() -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await engine_for(server)
            for letter in "RQkK":
                result = await engine.handle_line(letter)
                assert result.refused
            await lines(engine, "NOOP")
            assert bytes(server.inbox.wire[0]) == b"NOOP\r\n"
            assert ui.text.count("openssl s_client") == 4

    run(scenario())


def test_order_mistake_asks_and_is_sent_when_confirmed() -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await engine_for(server, RecordingUI(confirm=False))
            await lines(engine, "EHLO x.example", "RCPT TO:<a@b.example>")
            assert ui.questions and "RCPT before MAIL" in ui.questions[0]
            ui.answer = True
            await lines(engine, "RCPT TO:<a@b.example>")
            assert bytes(server.inbox.wire[0]) == b"EHLO x.example\r\nRCPT TO:<a@b.example>\r\n"

    run(scenario())


def test_paste_after_refused_data_is_not_sent_as_commands() -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await engine_for(server, RecordingUI(confirm=True))
            await engine.handle_text("EHLO x.example\nDATA\nSubject: x\n\nRSET\n.\n")
            assert bytes(server.inbox.wire[0]) == b"EHLO x.example\r\nDATA\r\n"
            assert "were not sent" in ui.text

    run(scenario())


def test_helpers_errors_are_sentences() -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, _ = await engine_for(server)
            with pytest.raises(UsageError, match="no helper :nope"):
                await lines(engine, ":nope")
            with pytest.raises(UsageError, match="needs 1 argument"):
                await lines(engine, ":expect")
            await lines(engine, ":close")
            with pytest.raises(ServerClosed, match="not connected"):
                await lines(engine, "NOOP")
            await lines(engine, ":reconnect", "NOOP")
            assert engine.state.connected

    run(scenario())


def test_expect() -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await engine_for(server)
            await lines(engine, "EHLO x.example")
            await lines(engine, ":expect 5xx")
            assert (await engine.handle_line("RCPT TO:<a@b.example>")).refused
            assert "expected 5xx" not in ui.text  # not sent, nothing to judge
            engine.state.safe = False
            await lines(engine, ":expect 5xx")
            result = await engine.handle_line("RCPT TO:<a@b.example>")
            assert result.reply is not None and result.reply.code == 503 and result.expected
            result = await engine.handle_line("RCPT TO:<a@b.example>")
            assert not result.expected  # without :expect a 5xx is unexpected

    run(scenario())


@pytest.mark.parametrize(("certs", "reason"), [
    ({"expired": True}, "the certificate has expired"),
    ({"self_signed": True}, "the certificate is self-signed"),
    ({"names": ("other.example",)}, "it was issued for another IP address"),
])
def test_verification_failures_name_the_reason(certs: dict[str, Any], reason: str) -> None:
    made = make_practice_certs(**certs)

    async def scenario() -> None:
        async with practice(certs=made) as server:
            engine, _ = await engine_for(server, tls=TlsOptions(cadata=made.ca_pem))
            with pytest.raises(TlsFailed, match=reason):
                await lines(engine, ":starttls")
            assert not engine.state.connected
            engine.settings = engine.settings._replace(tls=TlsOptions(insecure=True))
            await lines(engine, ":reconnect", ":starttls")
            assert engine.state.tls is not None and not engine.state.tls.verified

    run(scenario())


def test_connect_errors_are_sentences() -> None:
    target = Target("no-such-host.invalid", 25)
    err = _connect_error(socket.gaierror(-2, "Name or service not known"), target)
    assert str(err) == "cannot find the host 'no-such-host.invalid': the name does not resolve"
    err = _connect_error(ConnectionRefusedError(111, "refused"), target)
    assert "refused the connection" in str(err) and err.exit_code == 3
