"""What the practice server received, and `:inbox` to look at it.

Owns: `Received` (one message as stored), `Inbox` (the messages and, for the
tests, every byte each connection sent) and `InboxHelpers` (`:inbox`, which
exists only with --demo; its contract is known in every mode so that `:help
inbox` and `:inbox` elsewhere can say so). Subjects are shown decoded
(RFC 2047 encoded words), with the email package, imported only then.
Must not: import aiosmtpd (the server does) or talk to the server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from .commands import Args, Engine, helper
from .errors import UsageError
from .render import inert

if TYPE_CHECKING:
    import datetime as dt

__all__ = ["Inbox", "InboxHelpers", "Received"]


class Received(NamedTuple):
    """One message as the server stored it (after dot-unstuffing)."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes
    tls: bool
    user: str | None
    when: dt.datetime


@dataclass
class Inbox:
    messages: list[Received] = field(default_factory=list)
    wire: list[bytearray] = field(default_factory=list)  # per connection, when recorded


class InboxHelpers:
    """`:inbox` for --demo: what the practice server received."""

    MODE = "--demo"  # the only mode with a practice server to look into

    def __init__(self, engine: Engine, inbox: Inbox) -> None:
        self.engine = engine
        self.store = inbox

    @helper(":inbox [N]", "with --demo: the messages the practice server received (N: one)",
            max_args=1)
    async def inbox(self, args: Args) -> None:
        messages = self.store.messages
        if not messages:
            self.engine.note("the practice server has received no messages yet")
            return
        if not args.positional:
            lines = [f"{len(messages)} message(s); :inbox N shows one"]
            lines += [f"  {n}. {summary(m)}" for n, m in enumerate(messages, 1)]
            self.engine.note("\n".join(lines))
            return
        number = args.positional[0]
        if not number.isdigit() or not 1 <= int(number) <= len(messages):
            raise UsageError(f"there is no message {number}", f"1 to {len(messages)}")
        message = messages[int(number) - 1]
        text = message.content.decode("utf-8", "backslashreplace").replace("\r\n", "\n")
        self.engine.note(f"message {number}: {summary(message)}\n" + inert(text.rstrip("\n")))


def summary(message: Received) -> str:
    """One line: envelope, size, TLS, user and the subject, decoded."""
    subject = _subject(message.content)
    how = "TLS" if message.tls else "plaintext"
    user = f", user {message.user}" if message.user else ""
    return (f"from <{message.mail_from}> to {', '.join(f'<{r}>' for r in message.rcpt_tos)}, "
            f"{len(message.content)} bytes, {how}{user}" +
            (f", subject {inert(subject)!r}" if subject else ""))


def _subject(content: bytes) -> str:
    """The Subject as a person reads it: `=?utf-8?q?Gr=C3=BC=C3=9Fe?=` is 'Grüße'."""
    from email.parser import BytesHeaderParser
    from email.policy import default

    try:
        value = BytesHeaderParser(policy=default).parsebytes(content).get("subject")
    except (ValueError, LookupError):  # a header the parser cannot take: shown as sent
        return ""
    return " ".join(str(value).split()) if value is not None else ""
