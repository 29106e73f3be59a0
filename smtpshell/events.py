"""`--json`: a script's session as one JSON object per line, for jq rather than scraping.

Owns: `JsonEvents`, which stands where the screen would (the traffic listener)
and is the script's UI too (the shell's own words become note events), and the
summary that ends the stream. What each event holds is `events.schema.json`,
beside this file; a test checks every kind against it.
Must not: write anything but JSON lines on its output, or a secret (lines are
masked as the script's text output masks them).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import TYPE_CHECKING, Any

from .errors import UsageError
from .redact import redact, redact_command
from .render import Fragments, plain
from .script import EXIT_LOST, EXIT_OK, EXIT_PIPE, EXIT_UNEXPECTED, ScriptUI
from .traffic import Listener

if TYPE_CHECKING:
    from .machine import Closed
    from .protocol import Command, Reply
    from .session import SessionState, TlsInfo

__all__ = ["JsonEvents"]

_LEVELS = {"class:warning": "warning", "class:error": "error", "class:hint": "hint"}
_STATUS = {EXIT_OK: "ok", EXIT_UNEXPECTED: "unexpected", UsageError.exit_code: "usage",
           EXIT_LOST: "connection", 130: "interrupted", EXIT_PIPE: "pipe"}


class JsonEvents(ScriptUI, Listener):
    """The --json stream: traffic from the connection, notes from the Engine's UI."""

    def __init__(self, secrets: list[str] | None = None) -> None:
        super().__init__(secrets=secrets)
        self._state: SessionState | None = None
        self._started = time.monotonic()
        self._line: str | None = None  # the script line running now
        self._reason: str | None = None  # the last warning or error it earned
        self._lines = self._replies = 0

    def watch(self, state: SessionState) -> None:
        """The session whose secrets are masked (known once the Engine is built)."""
        self._state = state

    # -- the UI: the shell's own words -----------------------------------------

    def show(self, fragments: Fragments) -> None:
        text = plain(fragments).rstrip("\n")
        if not text:
            return
        level = _LEVELS.get(fragments[0][0], "info")
        if text[:2] in ("* ", "! "):  # the screen's marks; here the level says it
            text = text[2:]
        if level in ("warning", "error"):
            self._reason = text
        self.emit("note", level=level, text=text)

    def emit(self, event: str, **fields: Any) -> None:
        now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
        record = {"event": event, "time": now.replace("+00:00", "Z"), **fields}
        self.write(json.dumps(record, ensure_ascii=False) + "\n")

    def finish(self, status: int, error: str | None = None) -> None:
        """The summary, the last event; `error`: the line standard error gets, if any."""
        self.emit("summary", exit=status, status=_STATUS.get(status, "unexpected"),
                  error=error, lines=self._lines, replies=self._replies,
                  seconds=round(time.monotonic() - self._started, 3))
        self.flush()

    # -- the listener: traffic -------------------------------------------------

    def _masked(self) -> set[str]:
        return self._state.secrets if self._state is not None else set()

    def on_input(self, line: str) -> None:
        self._lines += 1
        self._line, self._reason = line, None
        self.emit("input", line=line)

    def on_line_done(self, replies: tuple[Reply, ...], refused: bool) -> None:
        if refused and self._line is not None:
            self.emit("refusal", line=self._line, reason=self._reason or "not sent")

    def on_connected(self, peer: tuple[str, int], tls: TlsInfo | None) -> None:
        self.emit("connected", host=peer[0], port=peer[1])
        if tls is not None:
            self.on_tls(tls)

    def on_sent(self, command: Command | None, data: bytes, echo: bool) -> None:
        if command is None:
            self.emit("sent", message_bytes=len(data))
        else:
            self.emit("sent", line=redact_command(command, self._masked()))

    def on_reply(self, reply: Reply, command: Command | None, late: bool) -> None:
        self._replies += 1
        secrets = self._masked()
        self.emit("reply", code=reply.code or 0, enhanced=reply.enhanced,
                  lines=[redact(text, secrets) for text in reply.texts],
                  command=redact_command(command, secrets) if command and command.line else None,
                  late=late, problems=list(reply.problems))

    def on_tls(self, tls: TlsInfo) -> None:
        self.emit("tls", version=tls.version, cipher=tls.cipher, bits=tls.bits, sni=tls.sni,
                  verified=tls.verified, problem=tls.verify_error)
        if tls.peer_der is not None:
            self._cert(tls.peer_der)

    def _cert(self, der: bytes) -> None:
        from .tls import summarize  # cryptography: only a --json run that met TLS loads it

        cert = summarize(der)
        self.emit("cert", subject=cert.subject, issuer=cert.issuer, names=list(cert.sans),
                  not_before=_iso(cert.not_before), not_after=_iso(cert.not_after),
                  days_left=cert.days_left(), self_signed=cert.self_signed, sha256=cert.sha256)

    def on_closed(self, closed: Closed) -> None:
        self.emit("closed", reason=closed.reason, expected=closed.expected)


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
