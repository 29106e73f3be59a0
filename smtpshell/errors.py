"""The error types smtpshell raises on purpose.

Each carries one sentence for the user and a hint; `cli` maps the class to an
exit status. Nothing here formats or prints.
"""

from __future__ import annotations

__all__ = [
    "ConnectionFailed",
    "ProtocolViolation",
    "ReplyTimeout",
    "ServerClosed",
    "SmtpShellError",
    "TlsFailed",
    "UsageError",
]


class SmtpShellError(Exception):
    """Base: `str(err)` is the sentence, `hint` what to try."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint

    @property
    def line(self) -> str:
        """The sentence and its hint on one line, as standard error gets them."""
        return f"{self} ({self.hint})" if self.hint else str(self)


class UsageError(SmtpShellError):
    """Bad options or helper arguments."""

    exit_code = 2


class ConnectionFailed(SmtpShellError):
    """The connection could not be opened, or was lost."""

    exit_code = 3


class ServerClosed(ConnectionFailed):
    """The server closed the connection (or it broke) while we waited."""


class ReplyTimeout(ConnectionFailed):
    """No reply within the deadline."""


class TlsFailed(ConnectionFailed):
    """The TLS handshake, the certificate check or STARTTLS failed."""


class ProtocolViolation(ConnectionFailed):
    """The server did something that forces us to hang up (response injection, flood)."""
