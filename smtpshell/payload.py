"""Message text on its way out: read once, checked as it streams, never half delivered.

Owns: `Source` (anything that can be read once: a regular file, a pipe, a
FIFO, /dev/stdin, process substitution; or bytes already built), and sending
it as DATA text or as BDAT chunks. The first chunk is read and checked before
DATA or the first BDAT goes out, so a file that is wrong from its start sends
nothing; a line that breaks a rule later, or more than the server's SIZE, stops
the message mid-way and closes the connection — never the final '.', never
BDAT LAST. Memory stays flat whatever the file (/dev/zero, `yes |`).
Must not: build messages (message.py does) or decide what a verb means.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, BinaryIO

from . import safety
from .errors import UsageError
from .protocol import Command, Reply, TextEncoder, TextProblem

if TYPE_CHECKING:
    from .commands import Engine

__all__ = ["BDAT_CHUNK", "CHUNK", "Source", "send_bdat", "send_data"]

CHUNK = 64 * 1024
BDAT_CHUNK = 1024 * 1024
PROGRESS_FROM = 1024 * 1024  # a progress bar for messages larger than this


class Source:
    """Message bytes read once, chunk by chunk; `size` when it is known beforehand."""

    def __init__(self, name: str, handle: BinaryIO | None = None, data: bytes = b"",
                 size: int | None = None) -> None:
        self.name = name
        self.size = size
        self._handle, self._data = handle, data
        self._regular = handle is None or size is not None

    @classmethod
    async def open(cls, path: str) -> Source:
        """Open a path for one pass; a FIFO is opened without blocking the shell."""
        try:
            info = os.stat(path)
            if stat.S_ISDIR(info.st_mode):
                raise IsADirectoryError(21, "it is a directory")
            regular = stat.S_ISREG(info.st_mode)
            opener: Callable[[], BinaryIO] = lambda: open(path, "rb")  # noqa: E731, SIM115
            handle = opener() if regular else await asyncio.get_running_loop(
            ).run_in_executor(None, opener)
        except OSError as err:
            raise UsageError(f"cannot read {path}: {err.strerror or err}") from None
        return cls(os.path.basename(path) or path, handle, size=info.st_size if regular else None)

    async def read(self) -> bytes:
        if self._handle is None:
            data, self._data = self._data[:CHUNK], self._data[CHUNK:]
            return data
        if self._regular:  # a regular file does not block
            return self._handle.read(CHUNK)
        return await asyncio.get_running_loop().run_in_executor(None, self._handle.read, CHUNK)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


def _encoder(engine: Engine, *, stuff: bool, binary: bool = False) -> TextEncoder:
    check = safety.text_line_problem if engine.state.safe and not binary else None
    return TextEncoder(stuff=stuff, check_line=check, binary=binary)


def _before_first_byte(engine: Engine, source: Source, first: bytes) -> safety.Verdict:
    """What can be known before anything is sent: the size of a regular file, an
    empty file (a warning)."""
    caps = engine.state.capabilities
    limit = caps.size if caps and engine.state.safe else None
    if limit and source.size is not None and source.size > limit:
        return safety.Verdict("refuse", f"Not sent: {source.name} is {source.size} bytes; the "
                              f"server's SIZE limit is {limit} (RFC 1870).",
                              ":safe off sends it anyway")
    if not first:
        return safety.Verdict("send", f"Warning: {source.name} is empty: the server gets a "
                              "message with no header and no body.")
    return safety.SEND


class _Watch:
    """Checks that need the stream so far: the SIZE limit, 8-bit text without 8BITMIME."""

    def __init__(self, engine: Engine, encoder: TextEncoder) -> None:
        caps = engine.state.capabilities
        self.engine, self.encoder = engine, encoder
        self.limit = caps.size if caps and engine.state.safe else None
        self.warn_8bit = engine.state.safe and (caps is None or "8BITMIME" not in caps)

    def check(self) -> None:
        if self.limit and self.encoder.octets > self.limit:
            raise TextProblem(f"more than the server's SIZE limit of {self.limit} bytes "
                              "(RFC 1870)")
        if self.warn_8bit and self.encoder.eight_bit:
            self.warn_8bit = False
            self.engine.note("8-bit text, but the server did not advertise 8BITMIME "
                             "(RFC 6152); it may reject or mangle it", "warning")


async def _first(engine: Engine, source: Source, encoder: TextEncoder
                 ) -> tuple[bytes, bytes] | None:
    """Read and check the first chunk; None if the message may not go (nothing sent)."""
    first = await source.read()
    try:
        wire = encoder.feed(first)
    except TextProblem as err:
        await engine.allowed(safety.Verdict("refuse", f"Not sent: in {source.name}, {err}.",
                                            ":safe off sends it anyway"))
        return None
    if not await engine.allowed(_before_first_byte(engine, source, first)):
        return None
    return first, wire


def _stopped(engine: Engine, source: Source, err: TextProblem) -> None:
    """A rule broken mid-message: SMTP has no way to take back what was sent but to
    close, so the connection goes and the line counts as not sent."""
    engine.connection().close(f"the message was stopped: in {source.name}, {err}; the "
                              "connection was closed before the end, so nothing was delivered",
                              drop=True)
    engine.refused()


def _progress(engine: Engine, source: Source
              ) -> contextlib.AbstractContextManager[Callable[[int], None]]:
    size = source.size or 0
    return engine.ui.progress(f"sending {source.name}", size if size > PROGRESS_FROM else 0)


async def send_data(engine: Engine, source: Source,
                    begin: Callable[[], Awaitable[Reply | None]] | None = None) -> Reply | None:
    """DATA, the text dot-stuffed and checked as it streams, then the final '.'.
    `begin` sends what goes before the text instead of DATA alone (a pipelined
    envelope ending in DATA) and gives DATA's reply."""
    encoder = _encoder(engine, stuff=True)
    start = await _first(engine, source, encoder)
    if start is None:
        return None
    reply = await (begin() if begin is not None else engine.send_command("DATA"))
    if reply is None or reply.code != 354:
        return reply
    first, wire = start
    conn, watch = engine.connection(), _Watch(engine, encoder)
    try:
        with _progress(engine, source) as advance:
            while first:
                watch.check()
                await conn.send_text(wire, echo=False, timeout=engine.timeout("data-block"))
                advance(len(first))
                first = await source.read()
                wire = encoder.feed(first)
            await conn.send_text(encoder.end(), echo=False, timeout=engine.timeout("data-block"))
    except TextProblem as err:
        _stopped(engine, source, err)
        return None
    except BaseException:
        conn.interrupt()  # Ctrl-C or a failure mid-message: close, never '.'
        raise
    return await engine.end_data(echo=True)


async def send_bdat(engine: Engine, source: Source, binary: bool) -> Reply | None:
    """BDAT chunks of the text (CRLF-normalised, or untouched for BINARYMIME), the last
    marked LAST; progress shows from the first chunk."""
    encoder = _encoder(engine, stuff=False, binary=binary)
    start = await _first(engine, source, encoder)
    if start is None:
        return None
    if not await engine.allowed(safety.check_command("BDAT 0 LAST", engine.state)):
        return None
    watch, reply = _Watch(engine, encoder), None
    try:
        with _progress(engine, source) as advance:
            async for chunk, last in _chunks(source, encoder, start, advance, watch):
                line = f"BDAT {len(chunk)}" + (" LAST" if last else "")
                reply = await engine.request(Command(line), payload=chunk)
                if reply.code != 250:
                    if not last:
                        engine.note("BDAT was refused: the rest was not sent; RSET ends the "
                                    "transaction", "warning")
                    return reply
    except TextProblem as err:
        _stopped(engine, source, err)
        return None
    except BaseException:
        if engine.conn is not None:
            engine.conn.interrupt()
        raise
    return reply


async def _chunks(source: Source, encoder: TextEncoder, start: tuple[bytes, bytes],
                  advance: Callable[[int], None], watch: _Watch
                  ) -> AsyncIterator[tuple[bytes, bool]]:
    """The encoded text cut into BDAT_CHUNK pieces, the last one marked."""
    first, wire = start
    buffer, eof = bytearray(wire), not first
    advance(len(first))
    if eof:
        buffer += encoder.end()
    while True:
        while not eof and len(buffer) <= BDAT_CHUNK:
            watch.check()
            chunk = await source.read()
            eof = not chunk
            buffer += encoder.feed(chunk) if chunk else encoder.end()
            advance(len(chunk))
        if eof and len(buffer) <= BDAT_CHUNK:
            yield bytes(buffer), True
            return
        yield bytes(buffer[:BDAT_CHUNK]), False
        del buffer[:BDAT_CHUNK]
