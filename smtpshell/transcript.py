"""Transcripts: writing a session down, and reading one back as a script.

Owns: `Transcript`, the traffic listener that appends RFC-style lines —
`I:` what the user typed, `C:` what was sent, `S:` what the server said,
`*` events — each with a timestamp and the layer (plain or tls), secrets
masked, server text made inert; and `replay`, which turns a saved
transcript into script lines: each input again, preceded by `:expect` with
the code the server gave it then.
Must not: decide what to send; it records and translates.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from typing import TextIO

from .config import open_private
from .connection import Listener
from .protocol import Command, Reply
from .redact import redact, sent_lines
from .render import inert
from .session import SessionState, TlsInfo

__all__ = ["HEADER", "Transcript", "replay"]

HEADER = "# smtpshell transcript"
_LINE = re.compile(r"^(?:\S+ (?:plain|tls) +)?([ICS]):(?: (.*))?$")
_FINAL = re.compile(r"^([2-5]\d\d)(?: |$)")


class Transcript(Listener):
    def __init__(self, handle: TextIO, state: SessionState, path: str = "") -> None:
        self.path = path
        self._handle = handle
        self._state = state
        self._layer = "tls" if state.tls else "plain"  # it may start mid-session
        self._write("*", f"{HEADER[2:]} started")

    @classmethod
    def open(cls, path: str, state: SessionState) -> Transcript:
        handle = open_private(path)
        if handle.tell() == 0:
            handle.write(HEADER + " (replay it with --script)\n")
        return cls(handle, state, path)

    def close(self) -> None:
        self._handle.close()

    def _write(self, tag: str, text: str) -> None:
        stamp = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        sep = ": " if tag in "ICS" else "  "
        self._handle.write(f"{stamp} {self._layer:<5} {tag}{sep}{text}\n")

    def input(self, line: str) -> None:
        """What the user typed, its secret arguments already masked by the Engine."""
        self._write("I", inert(redact(line, self._state.secrets)))

    def on_connected(self, peer: tuple[str, int], tls: TlsInfo | None) -> None:
        self._layer = "tls" if tls else "plain"
        self._write("*", f"connected to {peer[0]}:{peer[1]}" + (f", {tls.version}" if tls
                                                                 else ""))

    def on_sent(self, command: Command | None, data: bytes, echo: bool) -> None:
        for line in sent_lines(command, data, self._state.secrets):
            self._write("C", inert(line))

    def on_reply(self, reply: Reply, command: Command | None, late: bool) -> None:
        if command is None or late:
            self._write("*", "unsolicited reply" if command is None else "late reply")
        for line in reply.lines:
            self._write("S", inert(redact(line, self._state.secrets)))
        for problem in reply.problems:
            self._write("*", f"server: {problem}")

    def on_tls(self, tls: TlsInfo) -> None:
        self._layer = "tls"
        self._write("*", f"TLS is up: {tls.version} {tls.cipher}, "
                         f"{'verified' if tls.verified else tls.verify_error}")

    def on_closed(self, reason: str) -> None:
        self._write("*", f"closed: {reason}")


async def replay(lines: AsyncIterator[tuple[int, str]]
                 ) -> AsyncIterator[tuple[int, str, str | None]]:
    """Script lines as (number, text, expected code), a transcript turned into
    its inputs and the reply code each earned then.

    A file that starts with the transcript header replays its `I:` lines (what
    was typed, helpers included); a hand-written RFC-style one its `C:` lines.
    Any other script passes through with no expectations. The expectation is
    handed over beside the line, not as an `:expect` line, which in DATA mode
    would be message text.
    """
    step: tuple[int, str] | None = None
    code: str | None = None
    inputs = None  # "I" or "C", once the file has shown what it is
    async for number, line in lines:
        if inputs is None:
            inputs = "I" if line.startswith(HEADER) else "C" if _LINE.match(line) else ""
        match = _LINE.match(line) if inputs else None
        if match is None:
            if not inputs:
                yield number, line, None
            continue
        tag, text = match.group(1), match.group(2) or ""
        if tag == inputs:
            if step is not None:
                yield (*step, code)
            step, code = (number, text), None
        elif tag == "S" and (final := _FINAL.match(text)):
            code = final.group(1)
    if step is not None:
        yield (*step, code)
