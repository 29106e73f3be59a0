"""Envelope and message helpers against the practice server: the bytes it received."""

from __future__ import annotations

import asyncio
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from support import RawPeer, RawServer, RecordingUI, engine_for, lines, practice, raw_engine, run

from smtpshell.errors import ServerClosed, UsageError
from smtpshell.session import Phase

TRICKY = b"line one\n.\n..\n.x\r\nbare\rcr\nlast line without newline"
ARRIVES = b"line one\r\n.\r\n..\r\n.x\r\nbare\r\ncr\r\nlast line without newline\r\n"
ENVELOPE = ["EHLO msg.example", ":mail a@example.com", ":rcpt b@example.com"]


def wire(server) -> bytes:  # type: ignore[no-untyped-def]
    return bytes(server.inbox.wire[0])


def test_mail_and_rcpt_add_brackets_and_params() -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, _ = await engine_for(server)
            await lines(engine, "EHLO msg.example", ":mail <a@example.com> SIZE=2000 BODY=8BITMIME",
                        ":rcpt b@example.com c@example.com", ":rcpt reject@example.com")
            assert wire(server) == (b"EHLO msg.example\r\n"
                                    b"MAIL FROM:<a@example.com> SIZE=2000 BODY=8BITMIME\r\n"
                                    b"RCPT TO:<b@example.com>\r\nRCPT TO:<c@example.com>\r\n"
                                    b"RCPT TO:<reject@example.com>\r\n")
            assert engine.state.recipients == 2

    run(scenario())


@pytest.mark.parametrize("line", [
    ":mail a@example.com\r\nRCPT TO:<x@evil>", ":rcpt b@example.com\x00", ":rcpt b@ex\rample",
    ":mail a@example.com SIZE=1\nDATA", ":mail a@example.com NOTIFY=SUCCESS",
    ":mail a@example.com SIZE=99999999999",
])
def test_bad_arguments_write_zero_bytes(line: str) -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await engine_for(server)
            await lines(engine, "EHLO msg.example")
            server.inbox.wire[0].clear()
            result = await engine.handle_line(line)
            assert result.refused and "Not sent" in ui.text
            assert wire(server) == b""

    run(scenario())


def test_control_characters_refused_even_with_safe_mode_off() -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, _ = await engine_for(server, safe=False)
            await lines(engine, "EHLO msg.example")
            server.inbox.wire[0].clear()
            assert (await engine.handle_line(":mail a@example.com\rX")).refused
            assert wire(server) == b""

    run(scenario())


def test_data_file_arrives_intact_with_one_end_of_data(tmp_path: Path) -> None:
    message = tmp_path / "tricky.eml"
    message.write_bytes(TRICKY)

    async def scenario() -> None:
        async with practice() as server:
            engine, _ = await engine_for(server)
            await lines(engine, *ENVELOPE, f":data {message}")
            assert server.inbox.messages[0].content == ARRIVES
            sent = wire(server).split(b"DATA\r\n", 1)[1]
            assert sent.count(b"\r\n.\r\n") == 1 and sent.endswith(b"\r\n.\r\n")
            assert b"\r\n..\r\n...\r\n..x\r\n" in sent
            assert engine.state.phase is Phase.IDLE

    run(scenario())


def test_data_without_a_file_enters_data_mode() -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, _ = await engine_for(server)
            await lines(engine, *ENVELOPE, ":data")
            assert engine.state.phase is Phase.DATA

    run(scenario())


def test_data_refuses_overlong_lines_before_sending_anything(tmp_path: Path) -> None:
    big = tmp_path / "long.txt"
    big.write_bytes(b"ok\n" + b"x" * 1200 + b"\n")

    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await engine_for(server)
            await lines(engine, *ENVELOPE)
            server.inbox.wire[0].clear()
            assert (await engine.handle_line(f":data {big}")).refused
            assert "1202 octets" in ui.text and wire(server) == b""

    run(scenario())


def test_a_missing_file_is_one_sentence() -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, _ = await engine_for(server)
            with pytest.raises(UsageError, match="cannot read /no/such/file"):
                await lines(engine, *ENVELOPE, ":data /no/such/file")

    run(scenario())


def test_interrupted_data_closes_instead_of_ending_the_message(tmp_path: Path) -> None:
    """Ctrl-C mid-body: the connection closes; '.' is never sent after a partial body."""
    body = tmp_path / "big.txt"
    body.write_bytes(b"0123456789abcdef\n" * 400_000)  # ~6.8 MB: more than socket buffers
    stalled = asyncio.Event()

    async def server_side(peer: RawPeer) -> None:
        await peer.greet_ehlo("PIPELINING")
        for verb in (b"MAIL", b"RCPT"):
            await peer.expect(verb)
            await peer.send(b"250 ok\r\n")
        await peer.expect(b"DATA")
        await peer.send(b"354 go\r\n")
        await peer.reader.readexactly(65536)  # then stop reading: the client's writes stall
        stalled.set()
        await peer.until_closed()

    async def scenario() -> None:
        async with RawServer(server_side) as srv:
            engine, ui = await raw_engine(srv)
            await lines(engine, "EHLO x.example", ":mail a@example.com", ":rcpt b@example.com")
            task = asyncio.ensure_future(engine.handle_line(f":data {body}"))
            await stalled.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await srv.finished()
            assert not engine.state.connected
            assert not srv.received.endswith(b"\r\n.\r\n")
            assert "connection closed: the message was interrupted" in ui.text
            with pytest.raises(ServerClosed):
                await lines(engine, "NOOP")

    run(scenario())


def test_bdat_sends_sized_chunks(tmp_path: Path) -> None:
    message = tmp_path / "tricky.eml"
    message.write_bytes(TRICKY)

    async def scenario() -> None:
        async with practice() as server:
            engine, _ = await engine_for(server)
            await lines(engine, *ENVELOPE, f":bdat {message}")
            assert server.inbox.messages[0].content == ARRIVES
            assert wire(server).endswith(b"BDAT %d LAST\r\n" % len(ARRIVES) + ARRIVES)
            assert engine.state.phase is Phase.IDLE

    run(scenario())


def test_bdat_needs_chunking() -> None:
    async def server_side(peer: RawPeer) -> None:
        await peer.greet_ehlo("PIPELINING")
        await peer.until_closed()

    async def scenario() -> None:
        async with RawServer(server_side) as srv:
            engine, ui = await raw_engine(srv)
            await lines(engine, "EHLO x.example")
            assert (await engine.handle_line(":bdat /etc/hostname")).refused
            assert "did not advertise CHUNKING" in ui.text
            assert srv.received == b"EHLO x.example\r\n"

    run(scenario())


def test_send_builds_a_well_formed_message(tmp_path: Path) -> None:
    attachment = tmp_path / "report.pdf"
    attachment.write_bytes(b"%PDF-1.4 not really\n\x00\xff")

    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await engine_for(server)
            await lines(engine, "EHLO msg.example",
                        ":send --from a@example.com --to b@example.com --to reject@example.com "
                        "--cc c@example.com --subject 'Grüße' --body 'hello there' "
                        f"--header 'X-Test: yes' --attach {attachment}")
            [received] = server.inbox.messages
            assert received.rcpt_tos == ("b@example.com", "c@example.com")
            parsed = message_from_bytes(received.content, policy=policy.default)
            assert parsed["Subject"] == "Grüße" and parsed["X-Test"] == "yes"
            assert parsed["Date"] and parsed["Message-ID"].endswith("@example.com>")
            assert parsed["To"] == "b@example.com, reject@example.com"
            body, part = list(parsed.iter_parts())
            assert body.get_content().strip() == "hello there"
            assert part.get_filename() == "report.pdf"
            assert part.get_content() == attachment.read_bytes()
            assert "550 5.1.1" in ui.text

    run(scenario())


@pytest.mark.parametrize("option", ["--header 'X-Bad: a\rb'", "--subject 'a\nBcc: x@evil'",
                                    "--header NoColon"])
def test_send_refuses_broken_headers(option: str) -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await engine_for(server)
            await lines(engine, "EHLO msg.example")
            server.inbox.wire[0].clear()
            line = f":send --from a@example.com --to b@example.com {option}"
            if "NoColon" in option:
                with pytest.raises(UsageError, match="is not 'Name: value'"):
                    await lines(engine, line)
            else:
                assert (await engine.handle_line(line)).refused
                assert "nothing was written" in ui.text
            assert wire(server) == b""

    run(scenario())


def test_send_stops_when_no_recipient_is_accepted() -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await engine_for(server, RecordingUI())
            await lines(engine, "EHLO msg.example",
                        ":send --from a@example.com --to reject@example.com")
            assert "no recipient was accepted" in ui.text
            # PIPELINING: DATA went in the group and was refused; RSET ends it, no text sent
            assert wire(server).endswith(b"RCPT TO:<reject@example.com>\r\nDATA\r\nRSET\r\n")
            assert not server.inbox.messages

    run(scenario())


def test_large_files_show_progress(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_bytes(b"0123456789abcdef\r\n" * 120_000)  # 2.16 MB

    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await engine_for(server)
            await lines(engine, *ENVELOPE, f":data {big}")
            [(label, total, done)] = ui.progressed
            assert label == "sending big.txt" and total == done == big.stat().st_size
            assert server.inbox.messages[0].content == big.read_bytes()

    run(scenario())


def test_data_refuses_a_file_over_the_size_limit(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 70 + b"\r\n" * 10)

    async def scenario() -> None:
        async with practice(size_limit=50) as server:
            engine, ui = await engine_for(server)
            await lines(engine, *ENVELOPE)
            server.inbox.wire[0].clear()
            assert (await engine.handle_line(f":data {big}")).refused
            assert "SIZE limit is 50" in ui.text and bytes(server.inbox.wire[0]) == b""

    run(scenario())


def test_send_headers_envelope_and_encoding(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, _ = await engine_for(server)
            await lines(engine, "EHLO msg.example",
                        ":send --from 'Alice A <a@example.com>' --to 'Bob <b@example.com>' "
                        "--header 'Subject: mine' --header 'Bcc: hidden@example.com' "
                        "--header 'Content-Type: text/html' --body '<p>grüße</p>'")
            [received] = server.inbox.messages
            assert received.mail_from == "a@example.com"
            assert received.rcpt_tos == ("b@example.com", "hidden@example.com")
            parsed = message_from_bytes(received.content, policy=policy.default)
            assert parsed["Subject"] == "mine" and parsed["Bcc"] is None
            assert parsed.get_content_type() == "text/html"
            assert parsed["Content-Transfer-Encoding"] == "quoted-printable"
            assert received.content.isascii() and "grüße" in parsed.get_content()

    run(scenario())


@pytest.mark.parametrize(("line", "problem"), [
    (":send --from a@example.com --to b@example.com --body-file {nul}", "NUL bytes"),
    (":send --from a@example.com --to b@example.com --header 'Content-Type: image/png'",
     "is not text/"),
    (":send --from a@example.com --to ''", "needs --from and at least one --to"),
    (":rcpt '<>'", "a recipient needs an address"),
])
def test_send_and_rcpt_refusals(tmp_path: Path, line: str, problem: str) -> None:
    nul = tmp_path / "nul.txt"
    nul.write_bytes(b"a\x00b\n")

    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await engine_for(server)
            await lines(engine, "EHLO msg.example", ":mail a@example.com")
            server.inbox.wire[0].clear()
            if problem == "NUL bytes":  # the safe mode's: a refusal, which stops a script
                assert (await engine.handle_line(line.format(nul=nul))).refused
                assert problem in ui.text
            else:
                with pytest.raises(UsageError, match=problem):
                    await lines(engine, line.format(nul=nul))
            assert wire(server) == b""

    run(scenario())


def test_a_utf8_sender_declares_smtputf8() -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, _ = await engine_for(server)
            await lines(engine, "EHLO msg.example", ":mail jörg@example.com")
            assert wire(server).endswith("MAIL FROM:<jörg@example.com> SMTPUTF8\r\n".encode())

    run(scenario())


def test_send_pipelines_the_envelope_where_the_server_offers_it() -> None:
    """RFC 2920: MAIL, each RCPT and DATA go in one group. This server answers nothing
    until it has all four lines, so a client that waited after each would hang here."""
    async def server(peer: RawPeer) -> None:
        await peer.greet_ehlo("PIPELINING")
        group = [await peer.line() for _ in range(4)]
        assert [line.split(b":")[0].split()[0] for line in group] == [
            b"MAIL", b"RCPT", b"RCPT", b"DATA"], group
        await peer.send(b"250 ok\r\n250 ok\r\n550 no\r\n354 go\r\n")
        while await peer.line() not in (b".\r\n", b""):
            pass
        await peer.send(b"250 queued\r\n")
        await peer.until_closed()

    async def scenario() -> None:
        async with RawServer(server) as srv:
            engine, ui = await raw_engine(srv, ehlo="x.example")
            result = await engine.handle_line(
                ":send --from a@x.example --to b@x.example --to reject@x.example")
            assert [r.code for r in result.replies] == [250, 250, 550, 354, 250]
            assert not result.expected  # the refused recipient still counts in a script
            assert "250 queued" in ui.text

    run(scenario())
