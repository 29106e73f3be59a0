"""Transcripts: writing a session down.

Owns: `Transcript`, the traffic listener that appends RFC-style lines —
`I:` what the user typed, `C:` what was sent, `S:` what the server said,
`*` events — each with a timestamp and the layer (plain or tls), secrets
masked, server text made inert. What smtpshell sends on its own (the QUIT
at the end of a script or on Ctrl-D) is marked, so a replay (script.py)
does not take it for part of the last typed line.
Must not: decide what to send; it records.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, TextIO

from .config import open_private
from .protocol import Command, Reply
from .redact import redact, sent_lines
from .render import inert
from .session import SessionState, TlsInfo
from .traffic import Listener

if TYPE_CHECKING:
    from .machine import Closed

__all__ = ["FORMATS", "HEADER", "ON_ITS_OWN", "STOPPED", "Transcript"]

HEADER = "# smtpshell transcript"
FORMATS = ("mermaid", "html")  # what sessionview.py draws a transcript as
ON_ITS_OWN = "smtpshell sends what follows on its own (not typed)"
STOPPED = "the script stopped here: an unexpected reply"


class Transcript(Listener):
    def __init__(self, handle: TextIO, state: SessionState, path: str = "") -> None:
        self.path = path
        self._handle = handle
        self._state = state
        self._layer = "tls" if state.tls else "plain"  # it may start mid-session
        self._typed = False  # inside a typed line: what is sent belongs to it
        self._write("*", f"{HEADER[2:]} started")

    @classmethod
    def open(cls, path: str, state: SessionState) -> Transcript:
        handle = open_private(path)
        if handle.tell() == 0:
            handle.write(HEADER + " (replay it with --script)\n")
        return cls(handle, state, path)

    def close(self) -> None:
        self._handle.close()

    def _write(self, tag: str, *texts: str) -> None:
        """Lines with one tag, in one write (the file is line-buffered: one flush)."""
        stamp = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        head = f"{stamp} {self._layer:<5} {tag}{': ' if tag in 'ICS' else '  '}"
        self._handle.write("".join(f"{head}{text}\n" for text in texts))

    def on_input(self, line: str) -> None:
        """What the user typed, its secret arguments already masked by the Engine."""
        self._typed = True
        self._write("I", inert(redact(line, self._state.secrets)))

    def on_line_done(self, replies: tuple[Reply, ...], refused: bool) -> None:
        """The typed line is over: whatever is sent next, smtpshell sends on its own."""
        self._typed = False

    def event(self, text: str) -> None:
        self._write("*", text)

    def on_connected(self, peer: tuple[str, int], tls: TlsInfo | None) -> None:
        self._layer = "tls" if tls else "plain"
        self._write("*", f"connected to {peer[0]}:{peer[1]}" + (f", {tls.version}" if tls
                                                                 else ""))

    def on_sent(self, command: Command | None, data: bytes, echo: bool) -> None:
        if not self._typed:
            self._typed = True  # marked once, up to the next typed line
            self._write("*", ON_ITS_OWN)
        self._write("C", *inert("\n".join(sent_lines(command, data, self._state.secrets)))
                    .split("\n"))

    def on_reply(self, reply: Reply, command: Command | None, late: bool) -> None:
        if command is None or late:
            self._write("*", "unsolicited reply" if command is None else "late reply")
        self._write("S", *(inert(redact(line, self._state.secrets)) for line in reply.lines))
        for problem in reply.problems:
            self._write("*", f"server: {problem}")

    def on_tls(self, tls: TlsInfo) -> None:
        self._layer = "tls"
        self._write("*", f"TLS is up: {tls.version} {tls.cipher}, "
                         f"{'verified' if tls.verified else tls.verify_error}")

    def on_closed(self, closed: Closed) -> None:
        self._write("*", f"closed: {closed.reason}")
