"""Flow helpers (:pipeline, :raw, :sleep, :transcript), transcript replay, TLS key logs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from support import (
    LOOPBACK,
    RawPeer,
    RawServer,
    RecordingUI,
    engine_for,
    lines,
    practice,
    raw_engine,
    run,
    run_cli,
    wait_until,
)

from smtpshell.config import TlsOptions
from smtpshell.errors import UsageError
from smtpshell.session import Phase


def test_pipeline_sends_the_group_at_once_and_reads_replies_in_order() -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await engine_for(server)
            await lines(engine, "EHLO flow.example",
                        ":pipeline MAIL FROM:<a@example.com>; RCPT TO:<b@example.com>; "
                        "RCPT TO:<reject@example.com>; DATA")
            assert bytes(server.inbox.wire[0]).endswith(
                b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n"
                b"RCPT TO:<reject@example.com>\r\nDATA\r\n")
            text = ui.text
            assert text.index("250 2.1.0") < text.index("250 2.1.5") < text.index("550 5.1.1") \
                < text.index("354")
            assert engine.state.phase is Phase.DATA and engine.state.recipients == 1

    run(scenario())


def test_pipeline_keeps_orcpt_semicolons() -> None:
    async def server_side(peer: RawPeer) -> None:
        await peer.greet_ehlo("PIPELINING", "DSN")
        await peer.expect(b"MAIL")
        await peer.expect(b"RCPT TO:<b@example.com> ORCPT=rfc822;b@example.com")
        await peer.send(b"250 ok\r\n250 ok\r\n")
        await peer.until_closed()

    async def scenario() -> None:
        async with RawServer(server_side) as srv:
            engine, _ = await raw_engine(srv)
            await lines(engine, "EHLO x.example", ":pipeline MAIL FROM:<a@example.com>; "
                        "RCPT TO:<b@example.com> ORCPT=rfc822;b@example.com")
            await engine.dialer.hang_up(quit_first=False)
            await srv.finished()

    run(scenario())


def test_pipeline_refused_where_pipelining_is_not_advertised() -> None:
    async def server_side(peer: RawPeer) -> None:
        await peer.greet_ehlo("8BITMIME")
        await peer.until_closed()

    async def scenario() -> None:
        async with RawServer(server_side) as srv:
            engine, ui = await raw_engine(srv)
            await lines(engine, "EHLO x.example")
            result = await engine.handle_line(
                ":pipeline MAIL FROM:<a@b.example>; RCPT TO:<c@d.example>")
            assert result.refused  # a refusal, as any the safe mode makes: a script stops
            assert "did not advertise PIPELINING" in ui.text
            await engine.dialer.hang_up(quit_first=False)
            await srv.finished()
            assert srv.received == b"EHLO x.example\r\n"

    run(scenario())


@pytest.mark.parametrize(("group", "problem"), [
    ("NOOP; MAIL FROM:<a@b.example>", "NOOP may only be the last"),
    ("DATA; RSET", "DATA may only be the last"),
    ("MAIL FROM:<a@b.example>; AUTH PLAIN AGRlbW8AZGVtbw==", "AUTH is never pipelined"),
    ("STARTTLS", "STARTTLS is never pipelined"),
])
def test_pipeline_follows_rfc_2920_grouping(group: str, problem: str) -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, _ = await engine_for(server)
            await lines(engine, "EHLO flow.example")
            server.inbox.wire[0].clear()
            with pytest.raises(UsageError, match=problem):
                await lines(engine, f":pipeline {group}")
            assert bytes(server.inbox.wire[0]) == b""

    run(scenario())


def test_raw_only_with_safe_mode_off() -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await engine_for(server)
            assert (await engine.handle_line(":raw NOOP\\r\\n")).refused
            assert "safe mode exists to stop" in ui.text
            await lines(engine, ":safe off", ":raw NOOP\\r\\nNOOP\\r\\n", ":raw EHLO x\\x2ey\\r\\n")
            assert bytes(server.inbox.wire[0]) == b"NOOP\r\nNOOP\r\nEHLO x.y\r\n"
            assert ui.text.count("250 2.0.0 OK") == 2 and "unsolicited" not in ui.text
            assert "-> NOOP\\r\\nNOOP\\r\\n" in ui.text

    run(scenario())


def test_sleep_waits_and_checks_its_argument() -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, _ = await engine_for(server)
            loop = asyncio.get_running_loop()
            start = loop.time()
            await lines(engine, ":sleep 0.05")
            assert loop.time() - start >= 0.05
            for bad in ("soon", "-1", "99999"):
                with pytest.raises(UsageError):
                    await lines(engine, f":sleep {bad}")

    run(scenario())


SESSION = ["EHLO replay.example", ":starttls", ":authplain demo demo", ":mail a@example.com",
           ":rcpt b@example.com", "DATA", "Subject: replayed", "", "..dots", ".",
           ":mail a@example.com", ":expect 550", ":rcpt reject@example.com", "QUIT"]


def test_a_transcript_is_a_regression_script(tmp_path: Path) -> None:
    log, ca = tmp_path / "session.log", tmp_path / "ca.pem"

    async def scenario() -> None:
        async with practice() as server:
            ca.write_text(server.ca_pem)
            engine, _ = await engine_for(server, transcript=str(log))
            await lines(engine, *SESSION)
            recorded = log.read_text()
            assert "I: :authplain demo ********" in recorded and "demo demo" not in recorded
            assert "tls   C: RCPT TO:<b@example.com>" in recorded
            assert "plain S: 220 practice" in recorded
            where = f"{LOOPBACK}:{server.port}"
            code, out, err = await run_cli(where, "--cafile", str(ca), "--script", str(log),
                                             "--secret-env", "PRACTICE_PASSWORD",
                                             env={"PRACTICE_PASSWORD": "demo"})
            assert (code, err) == (0, ""), out
            assert [m.content for m in server.inbox.messages] == [
                b"Subject: replayed\r\n\r\n..dots\r\n"] * 2
            # the server changed its mind: the same transcript now fails
            code, out, _ = await run_cli(where, "--cafile", str(ca), "--script", str(log),
                                           "--secret-env", "WRONG",
                                           env={"WRONG": "not-the-password"})
            assert code == 1 and "expected 235, got 535" in out
            # no secret and no terminal: the masked line cannot run
            code, _, err = await run_cli(where, "--cafile", str(ca), "--script", str(log))
            assert code == 2 and "masked secret" in (err + _)

    run(scenario())


def test_a_hand_written_rfc_transcript_replays_its_c_lines(tmp_path: Path) -> None:
    script = tmp_path / "rfc.txt"
    script.write_text("S: 220 mx.example ESMTP\nC: EHLO rfc.example\nS: 250-mx.example\n"
                      "S: 250 8BITMIME\nC: MAIL FROM:<a@example.com>\nS: 250 OK\n"
                      "C: RCPT TO:<reject@example.com>\nS: 550 5.1.1 No\nC: QUIT\nS: 221 bye\n")

    async def scenario() -> None:
        async with practice() as server:
            code, out, _ = await run_cli(f"{LOOPBACK}:{server.port}", "--script", str(script))
            assert code == 0, out
            assert bytes(server.inbox.wire[0]) == (b"EHLO rfc.example\r\nMAIL FROM:<a@example.com>"
                                                   b"\r\nRCPT TO:<reject@example.com>\r\nQUIT\r\n")

    run(scenario())


def test_transcript_helper_starts_and_stops(tmp_path: Path) -> None:
    log = tmp_path / "t.log"

    async def scenario() -> None:
        async with practice() as server:
            engine, _ = await engine_for(server, RecordingUI())
            await lines(engine, "NOOP", f":transcript {log}", "EHLO t.example", ":transcript off",
                        "RSET")
            text = log.read_text()
            assert "C: EHLO t.example" in text and "S: 250-practice" in text
            assert "NOOP" not in text and "RSET" not in text
            assert oct(log.stat().st_mode)[-3:] == "600"

    run(scenario())


def test_keylog_writes_tls_secrets_to_a_private_file(tmp_path: Path) -> None:
    keys = tmp_path / "keys.log"

    async def scenario() -> None:
        async with practice() as server:
            engine, _ = await engine_for(server, tls=TlsOptions(cadata=server.ca_pem,
                                                                keylog=str(keys)))
            await lines(engine, "EHLO k.example", ":starttls")

    run(scenario())
    text = keys.read_text()
    assert "CLIENT_HANDSHAKE_TRAFFIC_SECRET" in text
    assert oct(keys.stat().st_mode)[-3:] == "600"


def test_raw_auth_is_masked_in_the_transcript_and_script_output(tmp_path: Path) -> None:
    log = tmp_path / "raw.log"

    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await engine_for(server, script=True, transcript=str(log))
            await lines(engine, "EHLO raw.example", ":starttls", ":safe off",
                        ":raw AUTH PLAIN AGRlbW8AZGVtbw==\\r\\n", ":raw NOOP\\r\\n")
            assert bytes(server.inbox.wire[0]).endswith(
                b"AUTH PLAIN AGRlbW8AZGVtbw==\r\nNOOP\r\n")
            assert "AGRlbW8AZGVtbw" not in ui.text and "AGRlbW8AZGVtbw" not in log.read_text()
            assert "-> NOOP\\r\\n" in ui.text and "C: NOOP\\r\\n" in log.read_text()
            assert "I: :raw ********" in log.read_text()

    run(scenario())


def test_the_running_transcript_as_a_diagram_or_a_page(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await engine_for(server, transcript=str(tmp_path / "t.log"))
            await lines(engine, "EHLO view.example", ":transcript mermaid")
            assert "sequenceDiagram" in ui.text and "Client->>Server: EHLO view.example" in ui.text
            await lines(engine, f":transcript html {tmp_path / 'page.html'}")
            assert (tmp_path / "page.html").read_text().startswith("<!DOCTYPE html>")
            engine.stop_transcript()
            with pytest.raises(UsageError, match="no transcript is being written"):
                await engine.handle_line(":transcript mermaid")

    run(scenario())


def test_stopping_a_pipelined_group_gives_up_every_reply_in_it() -> None:
    """Ctrl-C while a group waits: each of its replies comes late, none is taken for the
    next command's (before, only the one being waited on was given up)."""
    release = asyncio.Event()

    async def server(peer: RawPeer) -> None:
        await peer.greet_ehlo("PIPELINING")
        for verb in (b"MAIL", b"RCPT", b"RCPT"):
            await peer.expect(verb)
        await release.wait()
        await peer.send(b"250 one\r\n250 two\r\n250 three\r\n")
        await peer.expect(b"RSET")
        await peer.send(b"250 reset\r\n")
        await peer.until_closed()

    async def scenario() -> None:
        async with RawServer(server) as srv:
            engine, ui = await raw_engine(srv, ehlo="x.example", script=True)
            step = asyncio.ensure_future(engine.handle_line(
                ":pipeline MAIL FROM:<a@x.example>; RCPT TO:<b@x.example>; RCPT TO:<c@x.example>"))
            await wait_until(lambda: srv.received.count(b"RCPT") == 2)
            step.cancel()
            with pytest.raises(asyncio.CancelledError):
                await step
            assert [o.abandoned for o in engine.state.machine.owed] == [True] * 3
            release.set()
            await wait_until(lambda: not engine.state.out_of_step)
            assert ui.text.count("late reply to") == 3 and "late reply to RCPT" in ui.text
            result = await engine.handle_line("RSET")
            assert result.reply is not None and result.reply.lines == ("250 reset",)

    run(scenario())


def test_a_star_cancelling_an_auth_exchange_is_shown_not_masked() -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await engine_for(server, script=True)
            await lines(engine, "EHLO star.example", ":starttls", "AUTH LOGIN", "*")
            assert "-> *\n501" in ui.text and not engine.state.auth_dialog

    run(scenario())
