"""The SMTP client protocol as one I/O-free state machine, the way h11 is for HTTP.

Owns: what the wire means, and every rule that moves it. Bytes in
(`receive`, `connection_lost`), commands and message text out (`send`,
`send_raw`, `send_text`: each returns the bytes to write, or refuses), and
explicit transitions for the rest: the user stopped waiting (`cancel`), TLS
is up (`tls_started`), we hang up (`close`). It holds the commands still owed
a reply (a FIFO, so pipelining works; a command given up on stays in it,
marked, so its late reply is shown as late), the stage (greeting, ready,
STARTTLS, handshake, closed), the mail transaction's phase, the AUTH dialog,
the capabilities, the STARTTLS injection guard and the flood limits. Each
reply is judged here too: a code that cannot be a success at that moment
carries its `fault`.
Rule of thumb: after any cancellation the machine is either in a state it
can prove (a late reply will be shown as late) or closed.
Must not: do I/O, await, know about asyncio, or format for the screen.
"""

from __future__ import annotations

import enum
import re
from collections import deque
from dataclasses import dataclass, field
from itertools import count
from typing import NamedTuple

from .protocol import Capabilities, Command, Reply, ReplyParser, ReplyTooLarge, b64_text

__all__ = [
    "FLOOD_BYTES",
    "FLOOD_REPLIES",
    "GREETING",
    "Answer",
    "ClientMachine",
    "Closed",
    "Event",
    "NotNow",
    "Owed",
    "Phase",
    "Stage",
    "StartTls",
]

GREETING = Command("", kind="greeting")
FLOOD_BYTES = 1024 * 1024  # received since we last sent anything: more is a flood
FLOOD_REPLIES = 100  # replies nobody asked for since we last sent anything
_BDAT = re.compile(r"BDAT\s+(\d+)(\s+LAST)?\s*$", re.IGNORECASE)
_BODY = re.compile(r"\sBODY=(\S+)", re.IGNORECASE)


class Stage(enum.Enum):
    """Where the connection stands."""

    GREETING = "greeting"  # connected; the greeting has not come yet
    READY = "ready"
    STARTTLS = "starttls"  # STARTTLS went out: nothing else goes until its reply
    HANDSHAKE = "handshake"  # its 220 came: nothing is read or sent until TLS is up
    CLOSED = "closed"


class Phase(enum.Enum):
    """Where the mail transaction stands (RFC 5321 §3.3, RFC 3030)."""

    IDLE = "idle"
    MAIL = "mail"
    RCPT = "rcpt"
    DATA = "data"  # the server said 354: what goes now is message text
    BDAT = "bdat"  # chunks sent, the LAST one not yet


class NotNow(Exception):
    """The machine does not allow this now; `str()` says why."""


@dataclass
class Owed:
    """A command still owed a reply."""

    ticket: int
    command: Command
    abandoned: bool = False  # the user stopped waiting: its reply will be late


class Answer(NamedTuple):
    """A reply, with the command it answers (None: nobody asked for it)."""

    reply: Reply
    command: Command | None
    ticket: int | None
    late: bool = False  # answers a command the user gave up waiting for


class StartTls(NamedTuple):
    """The 220 to STARTTLS came and nothing after it: hand the transport to TLS now
    (stop reading first; anything read before the handshake is injection)."""


class Closed(NamedTuple):
    """The connection is over.

    `drop`: the machine decided (injection, flood, an interrupted message…) and the
    transport must be dropped at once. `expected`: the close was asked for (QUIT,
    :close) or announced (221, 421), not a failure. `quiet`: nothing to tell (we
    hung up as asked, or the server did after its 221). `owed`: what will never be
    answered now.
    """

    reason: str
    expected: bool = False
    drop: bool = False
    after_quit: bool = False  # the server hung up on QUIT without a 221: what QUIT asked
    owed: tuple[Owed, ...] = ()
    quiet: bool = False


Event = Answer | StartTls | Closed


@dataclass
class ClientMachine:
    """One connection's protocol state; `ClientMachine.unconnected()` before any."""

    stage: Stage = Stage.GREETING
    phase: Phase = Phase.IDLE
    recipients: int = 0
    capabilities: Capabilities | None = None  # None until EHLO (or HELO) succeeded
    greeted_with: str | None = None  # "EHLO" or "HELO"
    body: str | None = None  # the BODY= of the open transaction (BINARYMIME: no CRLF rules)
    auth_user: str | None = None
    auth_dialog: bool = False  # the server sent 334: the next line answers it
    closing: bool = False  # the server said 221 or 421: it will hang up
    quit_done: bool = False  # QUIT got its 221: the session is over
    no_service: bool = False  # the greeting was 554: QUIT is all that may be sent
    tls: bool = False
    close_reason: str | None = None
    injected: bytes = b""  # what came between the 220 to STARTTLS and the handshake
    _owed: deque[Owed] = field(default_factory=deque)
    _tickets: count[int] = field(default_factory=lambda: count(1))
    _parser: ReplyParser = field(default_factory=ReplyParser)
    _chunk_left: int = 0  # octets of a BDAT chunk still to go
    auth_mechanism: str = ""  # of the AUTH exchange under way, or the last one
    challenge: str | None = None  # the last 334's text, decoded (what an answer answers)
    _auth_attempt: str | None = None  # the user of the AUTH exchange under way
    _unasked_bytes: int = 0
    _unasked_replies: int = 0

    def __post_init__(self) -> None:
        if self.stage is Stage.GREETING and not self._owed:
            self._owed.append(Owed(0, GREETING))

    @classmethod
    def unconnected(cls) -> ClientMachine:
        return cls(stage=Stage.CLOSED)

    # -- what the readers ask ----------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.stage is not Stage.CLOSED

    @property
    def out_of_step(self) -> bool:
        """A reply the user gave up on has not come yet: the next one may be that."""
        return any(owed.abandoned for owed in self._owed)

    @property
    def owed(self) -> tuple[Owed, ...]:
        return tuple(self._owed)

    def refusal(self, command: Command) -> str | None:
        """Why `command` may not be sent now, or None."""
        if self.stage is Stage.CLOSED:
            return "not connected"
        if self.stage is Stage.GREETING:
            return "the server has not greeted yet"
        if self.stage is Stage.STARTTLS:
            return "STARTTLS is waiting for its reply"
        if self.stage is Stage.HANDSHAKE:
            return "the TLS handshake is under way"
        if self._chunk_left:
            return "a BDAT chunk is still being sent"
        if self.phase is Phase.DATA and command.kind != "data-end":
            return "the server is reading message text (DATA): only text, or '.' to end it"
        if self.auth_dialog and command.kind != "auth-answer" and command.kind != "raw":
            return "the server waits for an answer to its 334"
        if self.no_service and command.verb != "QUIT":
            return "the server refused service (554 greeting): only QUIT may follow"
        return None

    # -- out ---------------------------------------------------------------------

    def send(self, command: Command) -> tuple[int, bytes]:
        """The ticket of the reply to come, and the bytes to write."""
        problem = self.refusal(command)
        if problem:
            raise NotNow(problem)
        ticket = self._owe(command)
        self._on_sent(command)
        return ticket, command.line.encode("utf-8") + b"\r\n"

    def send_raw(self, command: Command, replies: int) -> list[int]:
        """Bytes written exactly as given (:raw); `replies` is how many they earn."""
        problem = self.refusal(command)
        if problem:
            raise NotNow(problem)
        self._unasked_bytes = self._unasked_replies = 0
        return [self._owe(command) for _ in range(replies)]

    def send_text(self, data: bytes) -> bytes:
        """Message text: after a 354, or the octets a BDAT command announced."""
        if self.stage is Stage.CLOSED:
            raise NotNow("not connected")
        if self._chunk_left:
            if len(data) > self._chunk_left:
                raise NotNow("more octets than the BDAT command announced")
            self._chunk_left -= len(data)
        elif self.phase is not Phase.DATA:
            raise NotNow("message text goes only after a 354 reply to DATA")
        self._unasked_bytes = self._unasked_replies = 0
        return data

    def _owe(self, command: Command) -> int:
        ticket = next(self._tickets)
        self._owed.append(Owed(ticket, command))
        self._unasked_bytes = self._unasked_replies = 0
        return ticket

    def _on_sent(self, command: Command) -> None:
        """Transitions that happen when a command leaves, before any reply."""
        verb = command.verb
        if verb == "STARTTLS":
            self.stage = Stage.STARTTLS
        elif verb == "data-end":  # after the final dot the transaction is over, whatever comes
            self._end_transaction()
        elif verb == "BDAT" and (match := _BDAT.match(command.line)):
            self._chunk_left = int(match.group(1))
            if match.group(2):
                self._end_transaction()
            else:
                self.phase = Phase.BDAT
        elif verb == "AUTH":
            words = command.line.split()
            self.auth_mechanism = words[1].upper() if len(words) > 1 else ""
            self._auth_attempt = _auth_user(self.auth_mechanism, words[2]) \
                if len(words) > 2 else None
        elif command.kind == "auth-answer" and self._auth_attempt is None:
            self._auth_attempt = _auth_user(self.auth_mechanism, command.line)

    # -- in ----------------------------------------------------------------------

    def receive(self, data: bytes) -> list[Event]:
        """Bytes from the server; the events they complete, in order."""
        if self.stage is Stage.CLOSED:
            return []
        if self.stage is Stage.HANDSHAKE:
            return self.inject(data)
        self._unasked_bytes += len(data)
        if self._unasked_bytes > FLOOD_BYTES:
            return self._fail(f"the server sent more than {FLOOD_BYTES // 1024} KiB without "
                              "being asked; cut off")
        self._parser.push(data)
        events: list[Event] = []
        try:
            for reply in self._parser.replies():
                events += self._on_reply(reply)
                if self._now(Stage.CLOSED):
                    return events
                if self._now(Stage.HANDSHAKE):
                    rest = self._parser.take_unparsed()
                    return events + (self.inject(rest) if rest else [StartTls()])
        except ReplyTooLarge as err:
            events += self._fail(str(err))
        return events

    def _now(self, stage: Stage) -> bool:
        """The stage as it is now (a reply may just have moved it)."""
        return self.stage is stage

    def inject(self, data: bytes) -> list[Event]:
        """Bytes that came after the 220 to STARTTLS and before the handshake: the
        response injection of CVE-2011-0411. Nothing after them can be trusted."""
        if self.stage is not Stage.HANDSHAKE or not data:
            return []
        self.injected = data
        return self._fail("response injection: bytes came after the 220 to STARTTLS, before "
                          "the TLS handshake")

    def connection_lost(self, reason: str | None = None) -> list[Event]:
        """The transport is gone (EOF, reset). `reason` None: the server closed it."""
        if self.stage is Stage.CLOSED:
            return []
        events: list[Event] = []
        leftover = self._parser.close() if self.stage is not Stage.HANDSHAKE else None
        if leftover is not None:
            events += self._on_reply(leftover)
        waiting = [owed for owed in self._owed if not owed.abandoned]
        after_quit = bool(waiting) and waiting[0].command.verb == "QUIT"
        expected = self.closing or after_quit
        text = reason or ("the server closed the connection after its 221 to QUIT"
                          if self.quit_done else "the server closed the connection")
        if after_quit:
            text = "the server closed the connection after QUIT without a 221 reply"
        return [*events, self._closed(text, expected=expected, after_quit=after_quit,
                                      quiet=self.quit_done)]

    def tls_started(self) -> None:
        """The handshake completed: what plaintext taught is forgotten (RFC 3207 §4.2)."""
        if self.stage is Stage.HANDSHAKE:
            self.stage = Stage.READY
            self.tls = True
            self._reset_session()

    def cancel(self, ticket: int | None = None) -> list[Event]:
        """The user stopped waiting: for a reply (`ticket`), or for the transport
        (the handshake, message text being written). Either the reply will come
        late and be shown as late, or the connection is closed here."""
        if self.stage is Stage.CLOSED:
            return []
        owed = next((o for o in self._owed if o.ticket == ticket), None)
        if self.stage is Stage.HANDSHAKE:
            return self._fail("the TLS handshake was interrupted, so the connection was "
                              "closed: nothing more may go in plaintext")
        if self.stage is Stage.STARTTLS:
            return self._fail("gave up waiting for the reply to STARTTLS: a late 220 cannot "
                              "be taken up safely, so the connection was closed")
        mid_message = self.phase in (Phase.DATA, Phase.BDAT) or self._chunk_left
        if mid_message and (owed is None or owed.command.verb == "BDAT"):
            return self._fail("the message was interrupted: the connection was closed so that "
                              "no partial message is delivered")
        if owed is None:
            return []
        if owed.command.kind == "greeting":
            return self._fail("gave up waiting for the greeting")
        owed.abandoned = True
        return []

    def forget_abandoned(self) -> bool:
        """:resync gave up on the late replies: drop them. True if there were none."""
        late = [owed for owed in self._owed if owed.abandoned]
        for owed in late:
            self._owed.remove(owed)
        return not late

    def close(self, reason: str, *, expected: bool = True, drop: bool = False,
              quiet: bool = False) -> list[Event]:
        """We hang up (QUIT done, :close, :abort, a failure we detected). `quiet`: the
        caller says why itself (an error it raises, a note)."""
        if self.stage is Stage.CLOSED:
            return []
        return [self._closed(reason, expected=expected, drop=drop, quiet=quiet)]

    # -- the rules ---------------------------------------------------------------

    def _on_reply(self, reply: Reply) -> list[Event]:
        head = self._owed[0] if self._owed else None
        if reply.code is None and head is not None and head.command.kind != "greeting":
            return self._unasked(reply)  # text that is no reply answers nothing
        if head is None:
            return self._unasked(reply)
        self._owed.popleft()
        command = head.command
        fault = reply_fault(reply, command)
        if fault:
            reply = reply._replace(fault=fault)
        self._transition(reply, command, fault)
        return [Answer(reply, command, head.ticket, head.abandoned)]

    def _unasked(self, reply: Reply) -> list[Event]:
        if reply.code == 421:
            self.closing = True
        self._unasked_replies += 1
        if self._unasked_replies > FLOOD_REPLIES:
            return self._fail(f"the server sent more than {FLOOD_REPLIES} replies nobody asked "
                              "for; cut off")
        return [Answer(reply, None, None)]

    def _transition(self, reply: Reply, command: Command, fault: str | None) -> None:
        code, verb = reply.code or 0, command.verb
        if code == 421:
            self.closing = True
        if verb == "greeting":
            self.stage = Stage.READY
            self.no_service = code == 554
        elif verb == "STARTTLS":
            self.stage = Stage.HANDSHAKE if code == 220 and not fault else Stage.READY
        elif verb in ("AUTH", "auth-answer"):
            self._auth_reply(code, reply)
        elif verb == "DATA" and code == 354:
            self.phase = Phase.DATA
        elif code // 100 == 2 and not fault:
            self._success(verb, command, reply)

    def _success(self, verb: str, command: Command, reply: Reply) -> None:
        if verb in ("EHLO", "HELO"):
            self._end_transaction()
            self.greeted_with = verb
            self.capabilities = Capabilities.from_ehlo(reply) if verb == "EHLO" \
                else Capabilities(reply.texts[0].split(" ", 1)[0] if reply.texts else "")
        elif verb == "MAIL":
            self.phase, self.recipients = Phase.MAIL, 0
            body = _BODY.search(command.line)
            self.body = body.group(1).upper() if body else None
        elif verb == "RCPT" and self.phase in (Phase.MAIL, Phase.RCPT):
            self.phase = Phase.RCPT
            self.recipients += 1
        elif verb == "RSET":
            self._end_transaction()
        elif verb == "QUIT":
            self.closing = self.quit_done = True

    def _auth_reply(self, code: int, reply: Reply) -> None:
        self.auth_dialog = code == 334
        self.challenge = b64_text(reply.texts[0]) if code == 334 and reply.texts else None
        if code == 235:
            self.auth_user = self._auth_attempt or "(unknown)"
        if code != 334:
            self._auth_attempt = None

    def _end_transaction(self) -> None:
        self.phase, self.recipients, self.body = Phase.IDLE, 0, None

    def _reset_session(self) -> None:
        self._end_transaction()
        self.capabilities = self.greeted_with = None
        self.auth_user = self._auth_attempt = self.challenge = None
        self.auth_dialog = False

    def _fail(self, reason: str) -> list[Event]:
        return [self._closed(reason, expected=False, drop=True)]

    def _closed(self, reason: str, *, expected: bool, drop: bool = False,
                after_quit: bool = False, quiet: bool = False) -> Closed:
        owed = tuple(self._owed)
        self._owed.clear()
        self.stage, self.close_reason = Stage.CLOSED, reason
        self._chunk_left = 0
        self._end_transaction()
        self.auth_dialog = False
        return Closed(reason, expected, drop, after_quit, owed, quiet)


# Replies that may answer a command with "go on" (3yz): RFC 5321 §4.3.2, RFC 4954.
_GO_ON = {"DATA": 354, "AUTH": 334, "auth-answer": 334}


def reply_fault(reply: Reply, command: Command | None) -> str | None:
    """Why this reply cannot count as a success for `command`, or None.

    RFC 5321 §4.2: a reply code's first digit is 2 to 5; every line of a
    multi-line reply carries the same code; 3yz asks for more, which only
    DATA (354) and AUTH (334) can be asked; the greeting is 220 or 554.
    """
    code = reply.code
    if code is None:
        return "this is not an SMTP reply (no 3-digit code)"
    if code < 200:
        return f"SMTP has no 1yz replies, so {code} is not a valid reply (RFC 5321 §4.2.1)"
    if any(problem.startswith("continuation lines carry different codes")
           for problem in reply.problems):
        return "the lines of this reply carry different codes, so it is no valid reply"
    verb = command.verb if command is not None else ""
    if verb == "raw" or command is None:
        return None
    if verb == "greeting" and code not in (220, 554, 421):
        return f"{code} is not a greeting: a server greets with 220 (or 554, no service)"
    if reply.klass == 3 and _GO_ON.get(verb) != code:
        what = "the greeting" if verb == "greeting" else verb
        return f"{code} asks for more, but {what} has no next step to give"
    if verb == "DATA" and reply.klass == 2:
        return "DATA succeeds only with 354; this 2yz leaves nobody knowing what comes next"
    if verb == "STARTTLS" and reply.klass == 2 and code != 220:
        return f"STARTTLS starts TLS only on 220, not {code}"
    return None


def _auth_user(mechanism: str, response: str) -> str | None:
    """Who is authenticating, read from an AUTH response (for the toolbar)."""
    text = b64_text(response)
    if text is None:
        return None
    if mechanism == "PLAIN":  # authzid NUL authcid NUL password (RFC 4616)
        parts = text.split("\0")
        return parts[1] if len(parts) == 3 else None
    if mechanism == "LOGIN":  # the first answer is the user name
        return text
    if mechanism == "CRAM-MD5":  # user SP digest (RFC 2195)
        return text.rpartition(" ")[0] or None
    if mechanism == "XOAUTH2":  # user=NAME ^A auth=Bearer TOKEN ^A ^A
        return next((f[5:] for f in text.split("\x01") if f.startswith("user=")), None)
    return None
