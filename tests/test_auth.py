"""AUTH helpers against the practice server (and a raw server for the odd cases);
no password, and no base64 of one, ever reaches history or a transcript."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output.plain_text import PlainTextOutput
from support import (
    RawPeer,
    RawServer,
    RecordingUI,
    engine_for,
    lines,
    practice,
    practice_settings,
    raw_engine,
    run,
)

from smtpshell.errors import UsageError
from smtpshell.helpers import make_engine
from smtpshell.protocol import auth_plain, cram_md5
from smtpshell.session import SessionState
from smtpshell.shell import ShellUI, make_history, run_shell

TLS_UP = ["EHLO auth.example", ":starttls"]


async def after_tls(server, *, ui: RecordingUI | None = None, **changes):  # type: ignore[no-untyped-def]
    engine, ui = await engine_for(server, ui, **changes)
    await lines(engine, *TLS_UP)
    server.inbox.wire[0].clear()
    return engine, ui


@pytest.mark.parametrize(("line", "wire"), [
    (":authplain demo demo", b"AUTH PLAIN AGRlbW8AZGVtbw==\r\n"),
    (":authplain demo demo --authzid boss", b"AUTH PLAIN Ym9zcwBkZW1vAGRlbW8=\r\n"),
    (":authlogin demo demo", b"AUTH LOGIN\r\nZGVtbw==\r\nZGVtbw==\r\n"),
    (":authlogin --initial demo demo", b"AUTH LOGIN ZGVtbw==\r\nZGVtbw==\r\n"),
    (":xoauth2 demo demo-token",
     b"AUTH XOAUTH2 " + base64.b64encode(b"user=demo\x01auth=Bearer demo-token\x01\x01")
     + b"\r\n"),
])
def test_each_mechanism_succeeds_with_the_right_bytes(line: str, wire: bytes) -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await after_tls(server)
            await lines(engine, line)
            if "--authzid" not in line:  # the practice server has no user "boss"
                assert engine.state.auth_user == "demo"
                assert "235 2.7.0" in ui.text
            assert bytes(server.inbox.wire[0]) == wire

    run(scenario())


def test_cram_md5_answers_the_challenge() -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await after_tls(server)
            await lines(engine, ":authcram demo demo")
            assert engine.state.auth_user == "demo"
            first, answer, _ = bytes(server.inbox.wire[0]).split(b"\r\n")
            assert first == b"AUTH CRAM-MD5"
            challenge = ui.text.split("334 ")[1].split()[0]
            assert answer.decode() == cram_md5("demo", "demo", base64.b64decode(challenge))
            assert '← "<' in ui.text  # the challenge shown decoded

    run(scenario())


@pytest.mark.parametrize("line", [":authplain demo wrong", ":authlogin demo wrong",
                                  ":authcram demo wrong", ":xoauth2 demo wrong-token",
                                  ":auth demo wrong"])
def test_each_mechanism_fails_with_535(line: str) -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await after_tls(server)
            result = await engine.handle_line(line)
            assert result.reply is not None and result.reply.code == 535
            assert not result.expected and engine.state.auth_user is None
            if "xoauth2" in line:
                assert '"status": "401"' in ui.text  # the JSON error, decoded

    run(scenario())


def test_auth_picks_the_strongest_offered_and_asks_for_the_password_hidden() -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await after_tls(server, ui=RecordingUI(secrets=["demo"]))
            await lines(engine, ":auth demo")
            assert "using CRAM-MD5" in ui.text and engine.state.auth_user == "demo"
            assert ui.questions == ["password for demo: "]

    run(scenario())


def test_a_password_typed_hidden_is_not_echoed() -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await after_tls(server, ui=RecordingUI(secrets=["demo", "demo"]))
            await lines(engine, ":authplain demo")
            assert "-> AUTH PLAIN ********" in ui.text and "AGRlbW8AZGVtbw==" not in ui.text
            assert engine.state.auth_user == "demo"
            engine2, ui2 = await after_tls(server, ui=RecordingUI(secrets=["demo"]))
            await lines(engine2, ":authlogin demo")
            # the user is no secret, but here it is the password too: hidden in any form
            assert "-> ********\n334" in ui2.text and "ZGVtbw" not in ui2.text
            assert bytes(server.inbox.wire[1]).endswith(b"ZGVtbw==\r\nZGVtbw==\r\n")

    run(scenario())


def test_no_password_given_sends_nothing() -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await after_tls(server)
            await lines(engine, ":authplain demo")
            assert bytes(server.inbox.wire[0]) == b""
            assert "nothing was sent" in ui.text

    run(scenario())


def test_auth_without_tls_asks_first_and_says_why() -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await engine_for(server, RecordingUI(confirm=False))
            await lines(engine, "EHLO auth.example", ":authplain demo demo")
            assert "without TLS" in ui.questions[0] and "base64 is not encryption" in \
                ui.questions[0]
            assert bytes(server.inbox.wire[0]) == b"EHLO auth.example\r\n"

    run(scenario())


def test_a_bad_challenge_is_answered_with_a_star() -> None:
    async def server_side(peer: RawPeer) -> None:
        await peer.greet_ehlo("AUTH CRAM-MD5")
        await peer.expect(b"AUTH CRAM-MD5")
        await peer.send(b"334 this is not base64!\r\n")
        await peer.expect(b"*")
        await peer.send(b"501 5.7.0 cancelled\r\n")
        await peer.until_closed()

    async def scenario() -> None:
        async with RawServer(server_side) as srv:
            engine, ui = await raw_engine(srv, ui=RecordingUI(confirm=True))
            await lines(engine, "EHLO x.example", ":authcram demo demo")
            assert "not valid base64" in ui.text
            assert b"*\r\n" in srv.received and "demo" not in srv.received.decode()

    run(scenario())


def test_a_server_that_keeps_asking_is_cut_off() -> None:
    async def server_side(peer: RawPeer) -> None:
        await peer.greet_ehlo("AUTH LOGIN")
        await peer.expect(b"AUTH LOGIN")
        await peer.send(b"334 VXNlcm5hbWU6\r\n")
        while (await peer.line()).strip() != b"*":
            await peer.send(b"334 UGFzc3dvcmQ6\r\n")
        await peer.send(b"501 5.7.0 cancelled\r\n")
        await peer.until_closed()

    async def scenario() -> None:
        async with RawServer(server_side) as srv:
            engine, ui = await raw_engine(srv, ui=RecordingUI(confirm=True))
            await lines(engine, "EHLO x.example", ":authlogin demo demo")
            assert "cancelling the exchange with '*'" in ui.text
            assert srv.received.count(b"\r\n") <= 6  # EHLO, AUTH, user, password, *

    run(scenario())


def test_encode_only_helpers_send_nothing() -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await engine_for(server)
            await lines(engine, ":b64 \\0demo\\0demo", ":unb64 AGRlbW8AZGVtbw==",
                        ":b64plain demo demo", ":b64 plain text")
            assert bytes(server.inbox.wire[0]) == b""
            assert ui.text.count("AGRlbW8AZGVtbw==") == 2
            assert '"\\0demo\\0demo"' in ui.text
            assert base64.b64encode(b"plain text").decode() in ui.text
            with pytest.raises(UsageError, match="not valid base64"):
                await lines(engine, ":unb64 !!!")
            with pytest.raises(UsageError, match="unknown escape"):
                await lines(engine, ":b64 \\q")

    run(scenario())


# -- secrets: history and transcript ---------------------------------------------

PASSWORD = "s3cret-Pass"
FORMS = [PASSWORD, base64.b64encode(PASSWORD.encode()).decode(),
         auth_plain("demo", PASSWORD), "czNjcmV0LVBhc3M"]


def test_no_secret_in_history_or_transcript_for_any_auth_path(tmp_path: Path) -> None:
    """Every AUTH path, typed at a real prompt: the history and the transcript keep no
    password and no base64 of it (the server fails them all: wrong password)."""
    history, transcript = tmp_path / "history", tmp_path / "session.log"
    typed = [
        "EHLO secret.example", ":starttls",
        f":authplain demo {PASSWORD}", f":authlogin demo {PASSWORD}",
        f":authlogin --initial demo {PASSWORD}", f":authcram demo {PASSWORD}",
        f":xoauth2 demo {PASSWORD}", ":authplain demo", PASSWORD, f":auth demo {PASSWORD}",
        f"AUTH PLAIN {auth_plain('demo', PASSWORD)}",
        "AUTH LOGIN", "ZGVtbw==", base64.b64encode(PASSWORD.encode()).decode(),
        f":b64 {PASSWORD}", f":b64plain demo {PASSWORD}", "NOOP",
    ]
    keys = "\r".join(typed) + "\r\x04"  # PASSWORD alone answers the hidden prompt

    async def scenario() -> None:
        async with practice() as server:
            screen = io.StringIO()
            with create_pipe_input() as pipe, create_app_session(
                    input=pipe, output=PlainTextOutput(screen)):
                ui = ShellUI(color=False)
                settings = practice_settings(server, transcript=str(transcript))
                state = SessionState()
                engine = make_engine(settings, state, ui,
                                     inbox=server.inbox)
                assert settings.target is not None
                await engine.dialer.open_target(settings.target)
                pipe.send_text(keys)
                await run_shell(engine, state, ui, make_history(history, engine))
            assert screen.getvalue().count("535 5.7.8") >= 7

    run(scenario())
    saved, written = history.read_text(), transcript.read_text()
    for form in FORMS:
        assert form not in saved, form
        assert form not in written, form
    assert "EHLO secret.example" in saved and "NOOP" in saved
    assert "C: AUTH PLAIN ********" in written and "I: :authplain demo ********" in written
    assert "I: AUTH PLAIN ********" in written and "I: ********" in written  # a 334 answer
    assert oct(transcript.stat().st_mode)[-3:] == "600"


def test_the_profile_user_when_the_helper_is_typed_bare() -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await after_tls(server, ui=RecordingUI(secrets=["demo"]), user="demo")
            await lines(engine, ":auth")
            assert engine.state.auth_user == "demo" and ui.questions == ["password for demo: "]
            bare, _ = await after_tls(server)
            with pytest.raises(UsageError, match="which user"):
                await lines(bare, ":authplain")

    run(scenario())
