"""Message files read once and checked as they stream: :data FILE and :bdat FILE against
real servers on loopback, from regular files, pipes, FIFOs and standard input."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from support import (
    LOOPBACK,
    STEP,
    RawPeer,
    RawServer,
    engine_for,
    lines,
    practice,
    raw_engine,
    run,
    run_cli,
    wait_until,
)

from smtpshell.payload import BDAT_CHUNK, CHUNK
from smtpshell.protocol import TextEncoder
from smtpshell.safety import text_line_problem
from smtpshell.server import PracticeServer
from smtpshell.session import Phase

ENVELOPE = ["EHLO files.example", ":mail a@example.com", ":rcpt b@example.com"]
MESSAGE = b"Subject: streamed\n\nline one\n.\n..dots\r\nbare\rcr\nlast, no newline"
ARRIVES = b"Subject: streamed\r\n\r\nline one\r\n.\r\n..dots\r\nbare\r\ncr\r\nlast, no newline\r\n"
LIMIT_TEXT = "1001 octets with its CRLF, over the 1000 that RFC 5321 §4.5.3.1.6 allows"


def wire(server: PracticeServer) -> bytes:
    return bytes(server.inbox.wire[0])


def filler(n: int) -> bytes:
    """Exactly n bytes of short, harmless CRLF lines (no dots, no NUL)."""
    assert n >= 2
    full, rest = divmod(n, 100)
    if rest == 1:
        full, rest = full - 1, rest + 100
    out = (b"f" * 98 + b"\r\n") * full
    return out + (b"g" * (rest - 2) + b"\r\n" if rest else b"")


async def server_side_gone(server: PracticeServer) -> None:
    """The practice server saw the connection end: nothing more can arrive."""
    await wait_until(lambda: not server.connections)


# -- readable-once sources: a pipe, a FIFO, fed by a thread -------------------------


def _writer(fd: int, data: bytes, pieces: int = 1) -> None:
    try:
        step = max(1, -(-len(data) // pieces))
        for start in range(0, len(data), step):
            os.write(fd, data[start:start + step])
    except OSError:  # the reader went away (BrokenPipeError): the test is over
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def pipe_of(feed: Callable[[int], None]) -> Iterator[str]:
    """An anonymous pipe as /dev/fd/N; `feed(w)` runs in a thread and owns `w`."""
    r, w = os.pipe()
    thread = threading.Thread(target=feed, args=(w,), daemon=True)
    thread.start()
    try:
        yield f"/dev/fd/{r}"
    finally:
        os.close(r)  # a writer still writing gets EPIPE and ends
        thread.join(STEP)
        assert not thread.is_alive(), "the pipe writer did not end"


@contextlib.contextmanager
def fifo_of(path: Path, data: bytes) -> Iterator[str]:
    os.mkfifo(path)

    def feed() -> None:
        _writer(os.open(path, os.O_WRONLY), data)  # blocks until the shell opens it

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    try:
        yield str(path)
    finally:
        if thread.is_alive():  # never opened by the shell: let the writer's open return
            with contextlib.suppress(OSError):
                os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
        thread.join(STEP)
        assert not thread.is_alive(), "the FIFO writer did not end"


# -- 1. anything readable once ----------------------------------------------------


@pytest.mark.parametrize("helper", [":data", ":bdat"])
@pytest.mark.parametrize("kind", ["file", "pipe", "fifo"])
def test_message_from_file_pipe_and_fifo_arrives_intact(tmp_path: Path, kind: str,
                                                        helper: str) -> None:
    async def send(path: str) -> None:
        async with practice() as server:
            engine, ui = await engine_for(server)
            await lines(engine, *ENVELOPE)
            result = await engine.handle_line(f"{helper} {path}")
            assert not result.refused and result.expected, ui.text
            [received] = server.inbox.messages
            assert received.content == ARRIVES
            if helper == ":data":
                sent = wire(server).split(b"DATA\r\n", 1)[1]
                assert sent.count(b"\r\n.\r\n") == 1 and sent.endswith(b"\r\n.\r\n")
            else:
                assert wire(server).endswith(b"BDAT %d LAST\r\n" % len(ARRIVES) + ARRIVES)
            assert engine.state.phase is Phase.IDLE and engine.state.connected

    if kind == "file":
        (tmp_path / "m.eml").write_bytes(MESSAGE)
        run(send(str(tmp_path / "m.eml")))
    elif kind == "pipe":
        with pipe_of(lambda w: _writer(w, MESSAGE, pieces=3)) as path:
            run(send(path))
    else:
        with fifo_of(tmp_path / "fifo", MESSAGE) as path:
            run(send(path))


def test_dash_reads_the_message_from_standard_input(tmp_path: Path) -> None:
    script = tmp_path / "send.script"
    script.write_text("\n".join([*ENVELOPE, ":data -", "QUIT"]) + "\n")

    async def scenario() -> None:
        async with practice() as server:
            code, out, err = await run_cli(f"{LOOPBACK}:{server.port}", "--script", str(script),
                                           stdin=MESSAGE)
            assert code == 0, (out, err)
            [received] = server.inbox.messages
            assert received.content == ARRIVES
            assert wire(server).count(b"\r\n.\r\n") == 1

    run(scenario())


# -- 2. checked as it streams ---------------------------------------------------------


@pytest.mark.parametrize(("bad", "rule", "straddle"), [
    (b"bad\x00line", "holds a NUL byte", False),
    (b"x" * 1200, "is 1202 octets with its CRLF, over the 1000", False),
    (b"x" * 1200, "is 1202 octets with its CRLF, over the 1000", True),
])
def test_a_bad_line_mid_message_stops_it_and_closes(tmp_path: Path, bad: bytes, rule: str,
                                                    straddle: bool) -> None:
    """After the first read (CHUNK) went out, a bad line: no final dot, nothing delivered."""
    head = filler(CHUNK - 600) if straddle else filler(CHUNK + 4_000)  # straddle: across a read
    message = tmp_path / "mid.eml"
    message.write_bytes(head + bad + b"\r\n" + filler(5_000))
    number = head.count(b"\n") + 1

    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await engine_for(server)
            await lines(engine, *ENVELOPE)
            result = await engine.handle_line(f":data {message}")
            assert result.refused
            assert f"the message was stopped: in mid.eml, line {number} {rule}" in ui.text
            assert "nothing was delivered" in ui.text
            assert not engine.state.connected
            await server_side_gone(server)
            sent = wire(server)
            assert b"DATA\r\n" in sent and head[:1000] in sent  # it was mid-message
            assert b"\r\n.\r\n" not in sent and bad not in sent
            assert server.inbox.messages == []

    run(scenario())


@pytest.mark.parametrize(("helper", "bad", "rule"), [
    (":data", b"nul\x00here", "holds a NUL byte"),
    (":data", b"y" * 999, "is " + LIMIT_TEXT),
    (":bdat", b"nul\x00here", "holds a NUL byte"),
    (":bdat", b"y" * 999, "is " + LIMIT_TEXT),
])
def test_a_bad_line_in_the_first_chunk_sends_nothing(tmp_path: Path, helper: str, bad: bytes,
                                                     rule: str) -> None:
    message = tmp_path / "early.eml"
    message.write_bytes(filler(30_000) + bad + b"\r\n" + filler(200_000))

    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await engine_for(server)
            await lines(engine, *ENVELOPE)
            server.inbox.wire[0].clear()
            result = await engine.handle_line(f"{helper} {message}")
            assert result.refused
            assert f"Not sent: in early.eml, line 301 {rule}" in ui.text
            await lines(engine, "NOOP")  # still connected, and nothing went before NOOP
            assert wire(server) == b"NOOP\r\n"
            assert server.inbox.messages == []

    run(scenario())


def test_bdat_stops_mid_message_without_last(tmp_path: Path) -> None:
    """A NUL after the first BDAT chunk went out: no BDAT … LAST, the connection closed."""
    head = filler(BDAT_CHUNK + CHUNK + 100_000)  # the chunk before it is whole and sent
    message = tmp_path / "mid.eml"
    message.write_bytes(head + b"nul\x00here\r\n" + filler(1_000))

    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await engine_for(server)
            await lines(engine, *ENVELOPE)
            result = await engine.handle_line(f":bdat {message}")
            assert result.refused
            line = head.count(b"\n") + 1
            assert f"in mid.eml, line {line} holds a NUL byte" in ui.text
            assert not engine.state.connected
            await server_side_gone(server)
            sent = wire(server)
            assert b"BDAT %d\r\n" % BDAT_CHUNK in sent  # one chunk went out
            assert b"LAST" not in sent and b"\x00" not in sent
            assert server.inbox.messages == []

    run(scenario())


# -- 3. endless sources --------------------------------------------------------------


@pytest.mark.parametrize("helper", [":data", ":bdat"])
def test_dev_zero_is_refused_at_once(helper: str) -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await engine_for(server)
            await lines(engine, *ENVELOPE)
            server.inbox.wire[0].clear()
            result = await engine.handle_line(f"{helper} /dev/zero")
            assert result.refused
            assert "Not sent: in zero, line 1 holds a NUL byte" in ui.text
            assert engine.state.connected
            await lines(engine, "NOOP")
            assert wire(server) == b"NOOP\r\n"

    run(scenario())


class Yes:
    """`yes |`: "y\\n" lines into a pipe until the reading side is closed."""

    def __init__(self) -> None:
        self.written = 0

    def __call__(self, w: int) -> None:
        block = b"y\n" * 8192
        try:
            while True:
                self.written += os.write(w, block)
        except OSError:  # BrokenPipeError once the test closes the read side
            pass
        finally:
            os.close(w)


@pytest.mark.parametrize("helper", [":data", ":bdat"])
def test_an_endless_pipe_is_cut_once_it_passes_size(helper: str) -> None:
    limit = 200_000
    yes = Yes()

    async def scenario(path: str) -> None:
        async with practice(size_limit=limit) as server:
            engine, ui = await engine_for(server)
            await lines(engine, *ENVELOPE)
            result = await engine.handle_line(f"{helper} {path}")
            assert result.refused
            assert f"the message was stopped: in {os.path.basename(path)}, more than the " \
                   f"server's SIZE limit of {limit} bytes" in ui.text
            assert yes.written > limit
            assert not engine.state.connected
            await server_side_gone(server)
            sent = wire(server)
            assert b"\r\n.\r\n" not in sent and b"LAST" not in sent
            assert server.inbox.messages == []

    with pipe_of(yes) as path:
        run(scenario(path))


class Taken:
    """What a server that reads and forgets took: a count, the last bytes, the commands."""

    def __init__(self) -> None:
        self.bytes, self.tail, self.commands = 0, b"", b""


@pytest.mark.parametrize(("helper", "peak_allowed"), [
    (":data", 5 * 1024 * 1024),
    (":bdat", 6 * BDAT_CHUNK),  # a BDAT chunk is 1 MiB, held whole (and copied) to send it
])
def test_an_endless_pipe_never_grows_memory(helper: str, peak_allowed: int) -> None:
    """Far more than the peak allowed passes through; the peak stays flat.

    The server here reads and forgets: the practice server, in this process, keeps every
    line it takes as an object, which tracemalloc would count with the shell's memory."""
    limit = 24_000_000
    yes, taken = Yes(), Taken()

    async def server_side(peer: RawPeer) -> None:
        async def take(most: int) -> int:
            async with asyncio.timeout(STEP):
                data = await peer.reader.read(most)
            if most and not data:
                raise asyncio.IncompleteReadError(b"", most)
            taken.bytes += len(data)
            taken.tail = (taken.tail + data)[-5:]
            return len(data)

        await peer.greet_ehlo("PIPELINING", "8BITMIME", "CHUNKING", f"SIZE {limit}")
        for verb in (b"MAIL", b"RCPT"):
            await peer.expect(verb)
            await peer.send(b"250 ok\r\n")
        if helper == ":data":
            await peer.expect(b"DATA")
            await peer.send(b"354 go\r\n")
        with contextlib.suppress(ConnectionResetError, asyncio.IncompleteReadError):
            while True:
                if helper == ":bdat":
                    command = await peer.line()
                    if not command:
                        return
                    taken.commands += command
                    left = int(command.split()[1])
                    while left:  # in pieces: this server holds no chunk whole
                        left -= await take(min(left, CHUNK))
                    await peer.send(b"250 chunk taken\r\n")
                else:
                    await take(CHUNK)

    async def scenario(path: str) -> None:
        async with RawServer(server_side) as srv:
            engine, ui = await raw_engine(srv)
            await lines(engine, "EHLO files.example", ":mail a@example.com",
                        ":rcpt b@example.com")
            tracemalloc.start()
            try:
                result = await engine.handle_line(f"{helper} {path}")
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            await srv.finished()
            assert result.refused
            assert f"SIZE limit of {limit} bytes" in ui.text
            assert yes.written > limit > 3 * peak_allowed and taken.bytes > limit // 2
            assert peak < peak_allowed, peak
            assert not engine.state.connected
            assert taken.tail != b"\r\n.\r\n" and b"LAST" not in taken.commands

    with pipe_of(yes) as path:
        run(scenario(path))


# -- 4. the 1000-octet rule counts the line as written --------------------------------


DOT_LINE = b"." + b"x" * 997  # 998 octets: 1000 with CRLF; 1001 on the wire once stuffed


@pytest.mark.parametrize("where", ["first line", "across a read"])
def test_a_998_octet_dot_line_from_a_file_goes_through(tmp_path: Path, where: str) -> None:
    head = b"" if where == "first line" else filler(CHUNK - 500)
    data = head + DOT_LINE + b"\r\nafter\r\n"
    message = tmp_path / "dots.eml"
    message.write_bytes(data)

    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await engine_for(server)
            await lines(engine, *ENVELOPE)
            result = await engine.handle_line(f":data {message}")
            assert not result.refused, ui.text
            assert b"\r\n." + DOT_LINE + b"\r\n" in b"\r\n" + wire(server)  # stuffed on the wire
            [received] = server.inbox.messages
            assert received.content == data

    run(scenario())


def test_a_998_octet_dot_line_typed_in_data_mode_goes_through() -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await engine_for(server)
            await lines(engine, *ENVELOPE, "DATA")
            assert engine.state.phase is Phase.DATA
            result = await engine.handle_line(DOT_LINE.decode())
            assert not result.refused, ui.text
            await lines(engine, ".")
            [received] = server.inbox.messages
            assert received.content == DOT_LINE + b"\r\n"
            assert wire(server).endswith(b"\r\n." + DOT_LINE + b"\r\n.\r\n")

    run(scenario())


def test_a_999_octet_line_is_refused_typed_and_from_a_file_alike(tmp_path: Path) -> None:
    line = b"z" * 999
    message = tmp_path / "long.eml"
    message.write_bytes(b"ok\r\n" + line + b"\r\n")

    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await engine_for(server)
            await lines(engine, *ENVELOPE)
            from_file = await engine.handle_line(f":data {message}")
            assert from_file.refused
            assert f"Not sent: in long.eml, line 2 is {LIMIT_TEXT}" in ui.text
            assert b"DATA" not in wire(server)
            ui.chunks.clear()
            await lines(engine, "DATA")
            typed = await engine.handle_line(line.decode())
            assert typed.refused
            assert f"Not sent: the line is {LIMIT_TEXT}" in ui.text
            assert line not in wire(server)
            await lines(engine, ".")
            assert server.inbox.messages[0].content == b""

    run(scenario())


# -- 5. CR and LF in different reads ---------------------------------------------------


def test_cr_and_lf_in_different_reads_of_a_pipe_are_one_line_end() -> None:
    """The first read ends on the CR, the LF starts the next: a read of a pipe takes
    CHUNK bytes or waits for EOF (a buffered read), so the split falls exactly there."""
    head = filler(CHUNK - 2) + b"a\r"
    tail = b"\nb\r\n\r\nc\r\n"
    assert len(head) == CHUNK

    def feed(w: int) -> None:
        try:
            os.write(w, head)
            os.write(w, tail)
        except OSError:
            pass
        finally:
            os.close(w)

    async def scenario(path: str) -> None:
        async with practice() as server:
            engine, ui = await engine_for(server)
            await lines(engine, *ENVELOPE)
            result = await engine.handle_line(f":data {path}")
            assert not result.refused, ui.text
            [received] = server.inbox.messages
            assert received.content == head + tail  # no blank line lost or added

    with pipe_of(feed) as path:
        run(scenario(path))


def encoded(chunks: list[bytes], *, stuff: bool = True) -> tuple[bytes, int]:
    encoder = TextEncoder(stuff=stuff, check_line=text_line_problem)
    out = b"".join(encoder.feed(chunk) for chunk in chunks) + encoder.end()
    return out, encoder.lines


@pytest.mark.parametrize("chunks", [
    [b"a\r", b"\nb\r\n"],
    [b"a\r", b"\n", b"b"],
    [b"a\r", b"\r\n", b"b"],
    [b"\r", b"\n.", b"\r", b"\n"],
    [b"a\r", b"\n", b"\n", b"b"],  # a lone LF after the CR's own LF: a blank line
    [b"a\r", b"\n", b"\r", b"\n"],
])
def test_text_encoder_split_cr_lf_is_as_unsplit(chunks: list[bytes]) -> None:
    whole = b"".join(chunks)
    assert encoded(chunks) == encoded([whole])
    assert encoded(chunks, stuff=False) == encoded([whole], stuff=False)


TOKENS = st.sampled_from([b"a", b".", b"\r", b"\n", b"\r\n", "é".encode(), b" "])
# each chunk a few tokens, often a lone "\r" or "\n"; now and then one cut inside a token
CHUNKINGS = st.lists(st.lists(TOKENS, max_size=5).map(b"".join), max_size=14) | st.builds(
    lambda text, cuts: [text[a:b] for a, b in itertools.pairwise(
        sorted({0, len(text), *(c % (len(text) + 1) for c in cuts)}))],
    st.lists(TOKENS, max_size=40).map(b"".join), st.lists(st.integers(0, 200), max_size=12))


@settings(max_examples=400, deadline=None)
@given(chunks=CHUNKINGS)
@example(chunks=[b"a\r", b"\n", b"\n"])
def test_text_encoder_output_does_not_depend_on_chunking(chunks: list[bytes]) -> None:
    whole = b"".join(chunks)
    for stuff in (True, False):
        assert encoded(chunks, stuff=stuff) == encoded([whole], stuff=stuff)


# -- 6. BINARYMIME: the bytes untouched ----------------------------------------------------


@pytest.mark.parametrize(("body", "content", "expected"), [
    (" BODY=BINARYMIME", b"bare\nlone\rcr\x00nul\xff\r\n.\r\nend", None),
    ("", b"bare\nlone\rcr\r\n.\r\nend", b"bare\r\nlone\r\ncr\r\n.\r\nend\r\n"),
])
def test_bdat_sends_bytes_untouched_only_after_body_binarymime(
        tmp_path: Path, body: str, content: bytes, expected: bytes | None) -> None:
    message = tmp_path / "blob.bin"
    message.write_bytes(content)
    got: list[bytes] = []

    async def server_side(peer: RawPeer) -> None:
        await peer.greet_ehlo("CHUNKING", "BINARYMIME", "8BITMIME")
        await peer.expect(b"MAIL FROM:<a@x>" + body.encode())
        await peer.send(b"250 ok\r\n")
        await peer.expect(b"RCPT TO:<b@x>")
        await peer.send(b"250 ok\r\n")
        command = await peer.expect(b"BDAT ")
        size, last = command.split()[1:]
        assert last == b"LAST", command
        async with asyncio.timeout(STEP):
            got.append(await peer.reader.readexactly(int(size)))
        peer.received += got[-1]
        await peer.send(b"250 2.0.0 taken\r\n")
        await peer.until_closed()

    async def scenario() -> None:
        async with RawServer(server_side) as srv:
            engine, ui = await raw_engine(srv)
            await lines(engine, "EHLO files.example", f"MAIL FROM:<a@x>{body}", "RCPT TO:<b@x>")
            result = await engine.handle_line(f":bdat {message}")
            assert not result.refused and result.expected, ui.text
            assert result.reply is not None and result.reply.code == 250
            assert got == [expected if expected is not None else content]
            engine.connection().close()
            await srv.finished()

    run(scenario())


# -- 7. an empty message -------------------------------------------------------------------


def test_an_empty_file_is_warned_about_before_data(tmp_path: Path) -> None:
    empty = tmp_path / "empty.eml"
    empty.write_bytes(b"")

    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await engine_for(server)
            await lines(engine, *ENVELOPE)
            ui.chunks.clear()
            result = await engine.handle_line(f":data {empty}")
            assert not result.refused
            warning = ui.text.find("Warning: empty.eml is empty")
            assert 0 <= warning < ui.text.find("-> DATA")
            assert wire(server).endswith(b"DATA\r\n.\r\n")
            [received] = server.inbox.messages
            assert received.content == b""

    run(scenario())


# -- 8. progress ----------------------------------------------------------------------------


def test_bdat_of_a_large_file_shows_progress(tmp_path: Path) -> None:
    big = tmp_path / "big.eml"
    big.write_bytes(filler(BDAT_CHUNK + 300_000))

    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await engine_for(server)
            await lines(engine, *ENVELOPE)
            result = await engine.handle_line(f":bdat {big}")
            assert not result.refused, ui.text
            size = big.stat().st_size
            assert ui.progressed == [("sending big.eml", size, size)]
            assert b"BDAT %d\r\n" % BDAT_CHUNK in wire(server)
            assert wire(server).count(b"BDAT") == 2
            assert server.inbox.messages[0].content == big.read_bytes()

    run(scenario())

