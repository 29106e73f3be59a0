"""The traffic listener: what the session state, the screen and the transcript hear.

Owns: `Listener`, the one interface between the session and those who watch
it. The Engine tells its listeners of every line typed and when it is done; a
connection calls them in order, for every line sent and every reply
(unsolicited ones too), for TLS and for the close.
Must not: import the transport; listeners must not send anything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .machine import Closed
    from .protocol import Command, Reply
    from .session import TlsInfo

__all__ = ["Listener"]


class Listener:
    """Receives traffic in order. Subclasses override what they need."""

    def on_input(self, line: str) -> None:
        """A line typed (or read from a script) is about to run; its secrets masked."""

    def on_line_done(self, replies: tuple[Reply, ...], refused: bool) -> None:
        """That line has run: the replies it earned; `refused`: it was not sent."""

    def on_connected(self, peer: tuple[str, int], tls: TlsInfo | None) -> None:
        """The transport is up (for implicit TLS: after the handshake)."""

    def on_sent(self, command: Command | None, data: bytes, echo: bool) -> None:
        """Bytes went out: a command, or message text (command None). `echo` is
        False when the user already sees them (a line typed at the prompt)."""

    def on_reply(self, reply: Reply, command: Command | None, late: bool) -> None:
        """A reply, with the command it answers (None: unsolicited; late: given up on)."""

    def on_tls(self, tls: TlsInfo) -> None:
        """STARTTLS completed."""

    def on_closed(self, closed: Closed) -> None:
        """The connection is gone: why, and whether that was expected."""
