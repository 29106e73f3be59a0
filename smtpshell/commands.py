"""The Engine: one code path for every line, typed, pasted or scripted.

Owns: routing a line (DATA text, AUTH answer, `::text`, `:helper`, raw SMTP
through the safe mode), sending and awaiting replies, judging every reply a
line earned against `:expect`, and the helper registry (`@helper` carries
syntax and summary for :help and completion). Connecting, STARTTLS and
hanging up are the Dialer's; the helpers live in their own modules.
Must not: import prompt_toolkit, or print except through its UI.
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol, TypeVar

from . import safety
from .config import Settings
from .connection import Connection, HungUpOnQuit, Pending
from .dialer import Dialer
from .errors import ReplyTimeout, ServerClosed, UsageError
from .knowledge import reply_timeout
from .machine import Closed
from .protocol import Command, Reply, stuff_line
from .redact import MASK, is_secret, redact_command
from .render import Fragments, Screen, banner_kind, format_hint, format_note
from .session import SessionState, TlsInfo
from .traffic import Listener
from .transcript import Transcript

__all__ = ["UI", "Args", "Engine", "HelperInfo", "LineResult", "helper", "helper_infos",
           "reply_matches"]


class UI(Protocol):
    """What the Engine needs from a front end."""

    def show(self, fragments: Fragments) -> None: ...

    async def confirm(self, question: str) -> bool: ...

    async def secret(self, prompt: str) -> str | None: ...

    def progress(self, label: str, total: int
                 ) -> AbstractContextManager[Callable[[int], None]]:
        """Show progress of `total` bytes (0: unknown); yields `advance(n)`."""
        ...

    def width(self) -> int | None:
        """Columns to wrap long text to (None: do not wrap)."""
        ...


# -- helpers and their arguments ---------------------------------------------


class HelperInfo(NamedTuple):
    """A helper's contract: feeds :help, completion, argument checks and history."""

    name: str
    syntax: str
    summary: str
    options: tuple[str, ...] = ()  # "--tls" a flag; "--authzid=" takes a value; "--to=*" repeats
    min_args: int = 0
    max_args: int | None = 0  # None: any number
    needs_connection: bool = False
    secret_from: int | None = None  # positional arguments from this index on are secrets
    takes_files: bool = False

    def option(self, name: str) -> str | None:
        for spec in self.options:
            if spec.split("=", 1)[0] == name:
                return spec
        return None


class Args(NamedTuple):
    positional: tuple[str, ...] = ()
    options: Mapping[str, Any] = MappingProxyType({})
    raw: str = ""  # everything after the helper name, untouched

    def flag(self, name: str) -> bool:
        return bool(self.options.get(name))

    def value(self, name: str) -> str | None:
        value = self.options.get(name)
        return value if isinstance(value, str) else None

    def values(self, name: str) -> list[str]:
        value = self.options.get(name)
        return list(value) if isinstance(value, list) else []


HelperFn = Callable[[Args], Awaitable[None]]
F = TypeVar("F", bound=Callable[..., Awaitable[None]])


def helper(syntax: str, summary: str, **contract: Any) -> Callable[[F], F]:
    """Mark a method as the helper named by the first word of `syntax`."""
    name = syntax.split()[0].lstrip(":")

    def mark(fn: F) -> F:
        fn.__helper__ = HelperInfo(name, syntax, summary, **contract)  # type: ignore[attr-defined]
        return fn

    return mark


def helper_infos(group: type) -> dict[str, tuple[HelperInfo, str]]:
    """The helpers a group class defines: name -> (contract, method name)."""
    found = {}
    for attr in dir(group):
        info = getattr(getattr(group, attr), "__helper__", None)
        if isinstance(info, HelperInfo):
            found[info.name] = (info, attr)
    return found


def collect_helpers(*groups: object) -> dict[str, tuple[HelperInfo, HelperFn]]:
    return {name: (info, getattr(group, attr)) for group in groups
            for name, (info, attr) in helper_infos(type(group)).items()}


def parse_args(info: HelperInfo, raw: str) -> Args:
    """Options may stand before or after the positional arguments."""
    try:
        words = shlex.split(raw)
    except ValueError as err:
        raise UsageError(f":{info.name}: {err}", f"usage: {info.syntax}") from None
    positional: list[str] = []
    options: dict[str, Any] = {}
    while words:
        word = words.pop(0)
        if not word.startswith("--") or word == "--":
            positional.append(word)
            continue
        name, eq, inline = word.partition("=")
        spec = info.option(name)
        if spec is None:
            raise UsageError(f":{info.name} has no option {name}", f"usage: {info.syntax}")
        if not spec.endswith(("=", "=*")):
            options[name] = True
            continue
        if not eq and not words:
            raise UsageError(f":{info.name}: {name} needs a value", f"usage: {info.syntax}")
        value = inline if eq else words.pop(0)
        if spec.endswith("*"):
            options.setdefault(name, []).append(value)
        else:
            options[name] = value
    if len(positional) < info.min_args:
        raise UsageError(f":{info.name} needs {_count(info.min_args)}", f"usage: {info.syntax}")
    if info.max_args is not None and len(positional) > info.max_args:
        most = f"at most {_count(info.max_args)}" if info.max_args else "no arguments"
        raise UsageError(f":{info.name} takes {most}, not {len(positional)}",
                         f"usage: {info.syntax}")
    return Args(tuple(positional), options, raw)


def _count(n: int) -> str:
    return f"{n} argument" + ("s" if n != 1 else "")


def _options_text(args: Args) -> list[str]:
    words = []
    for name, value in args.options.items():
        for one in value if isinstance(value, list) else [value]:
            words.append(name if one is True else f"{name}={shlex.quote(one)}")
    return words


# -- the engine --------------------------------------------------------------


class LineResult(NamedTuple):
    """What one line came to: every reply it earned, and whether each was what the
    script expected (no 4xx/5xx and nothing invalid, or what :expect named)."""

    replies: tuple[Reply, ...] = ()
    expected: bool = True
    refused: bool = False

    @property
    def reply(self) -> Reply | None:
        return self.replies[-1] if self.replies else None


class _StateListener(Listener):
    """Feeds the traffic to SessionState; first in line, so the screen sees new state."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def on_connected(self, peer: tuple[str, int], tls: TlsInfo | None) -> None:
        self.engine.state.observe_connected(peer[0], peer[1], tls)

    def on_sent(self, command: Command | None, data: bytes, echo: bool) -> None:
        if command is not None:
            self.engine.state.observe_sent(command)

    def on_reply(self, reply: Reply, command: Command | None, late: bool) -> None:
        kind = banner_kind(reply)
        if kind and self.engine.conn is not None:  # SSH, HTTP…: nothing more will make sense
            self.engine.conn.drop(f"the peer answered like {kind}, not an SMTP server")

    def on_tls(self, tls: TlsInfo) -> None:
        self.engine.state.observe_tls(tls)

    def on_closed(self, closed: Closed) -> None:
        self.engine.state.observe_closed()
        if not closed.expected:
            self.engine.lost = closed


def reply_matches(patterns: tuple[str, ...], reply: Reply) -> bool:
    """Does the reply's code fit one of these patterns ('250', '25x', '5xx')?"""
    code = str(reply.code or "---")
    return any(all(p in ("x", c) for p, c in zip(pattern, code, strict=True))
               for pattern in patterns)


class Engine:
    """Routes lines and runs helpers; both front ends drive it the same way."""

    def __init__(self, settings: Settings, state: SessionState, ui: UI, *,
                 script: bool = False, extra_listeners: Sequence[Listener] = (),
                 helper_groups: Sequence[Callable[[Engine], object]] = (),
                 elsewhere: dict[str, tuple[HelperInfo, str]] | None = None,
                 screen: Listener | None = None) -> None:
        self.settings = settings
        self.state = state
        self.ui = ui
        self.script = script
        self.target = settings.target
        self.conn: Connection | None = None
        self.finished = False
        self.lost: Closed | None = None  # the connection ended without being asked to
        self.dialer = Dialer(self)
        # the screen shows the traffic; --json puts its event stream in its place
        screen = screen or Screen(ui.show, state, state.secrets if script else None)
        self.listeners: list[Listener] = [_StateListener(self), *extra_listeners, screen]
        self.transcript: Transcript | None = None
        if settings.transcript:
            self.start_transcript(settings.transcript)
        self.helpers = collect_helpers(*(make(self) for make in helper_groups))
        self.elsewhere = elsewhere or {}  # helpers of other modes: name -> (contract, mode)
        self._expect: tuple[str, ...] | None = None
        self._replies: list[tuple[Reply, bool]] = []  # what this line earned; judged or not
        self.last_reply: Reply | None = None  # for :explain with no arguments
        self._refused = False

    def adopt(self, conn: Connection) -> None:
        """Make a newly opened connection the session's: the state reads its machine."""
        self.conn, self.lost = conn, None
        self.state.machine = conn.machine
        conn.attach(self.listeners)

    # -- lines ---------------------------------------------------------------

    async def handle_text(self, text: str) -> list[LineResult]:
        """A paste may hold many lines: each goes after the previous reply.

        If DATA is refused, the rest of the paste is not sent: it was meant as
        message text and would reach the server as commands.
        """
        lines = text.split("\n")
        results = []
        for index, line in enumerate(lines):
            was_data = line.strip().upper() in ("DATA", ":DATA") and not self.state.in_data
            results.append(await self.handle_line(line.removesuffix("\r")))
            rest = len(lines) - index - 1
            if was_data and rest and not self.state.in_data:
                self.note(f"DATA was not accepted, so the {rest} pasted line(s) after it were "
                          "not sent: they would have reached the server as commands.", "warning")
                break
        return results

    async def handle_line(self, line: str) -> LineResult:
        self._replies, self._refused = [], False
        shown = line if self.state.in_data else self.redact_input(line)
        for listener in self.listeners:
            listener.on_input(shown)
        try:
            await self._route(line)
        finally:
            replies = tuple(r for r, _ in self._replies)
            for listener in self.listeners:
                listener.on_line_done(replies, self._refused)
        return LineResult(replies, self._judge(), self._refused)

    async def _route(self, line: str) -> None:
        if self.state.in_data:
            if line.strip().lower() == ":abort":
                await self._helper(line.strip())
            else:
                await self._data_line(line)
        elif line.startswith(":") and not line.startswith("::"):
            await self._helper(line)
        elif self.state.auth_dialog:
            if await self.allowed(safety.check_answer(line, self.state)):
                cancel = line.strip() == "*"  # RFC 4954 §4: no secret, and worth seeing
                await self.request(Command(line, kind="auth-answer", secret=not cancel),
                                   echo=self.script)
        elif line.strip():
            await self.send_command(line[1:] if line.startswith("::") else line,
                                    echo=self.script)

    async def send_command(self, line: str, echo: bool = True) -> Reply | None:
        """A raw SMTP line through the safe mode; None if it was not sent (or QUIT
        was answered by the server hanging up, which is what QUIT asks)."""
        self.connection()  # "not connected" first: no question about a line that cannot go
        if not await self.allowed(safety.check_command(line, self.state)):
            return None
        if line.split(" ", 1)[0].upper() == "STARTTLS":
            return await self.dialer.starttls(ehlo_after=False, fail_closed=False, echo=echo)
        secret = is_secret(line, self.state.auth_dialog, self.state.secrets)
        try:
            return await self.request(Command(line, secret=secret), echo=echo)
        except HungUpOnQuit:
            return None

    async def allowed(self, verdict: safety.Verdict) -> bool:
        if verdict.action == "send":
            if verdict.reason:
                self.note(verdict.reason, "warning")
            return True
        if verdict.action == "confirm" and await self.ui.confirm(verdict.reason):
            return True
        if verdict.action == "refuse":
            reason = verdict.reason
        elif self.script:
            reason = (f"Not sent: {verdict.reason} A script cannot confirm; --unsafe would "
                      "send it.")
        else:
            reason = "Not sent."
        self.note(reason, "warning")
        if verdict.hint:
            self.ui.show(format_hint(verdict.hint))
        self.refused()
        return False

    def refused(self) -> None:
        """This line was not sent: a script stops here."""
        self._refused = True

    async def _data_line(self, line: str) -> None:
        if line == ".":
            await self.end_data()
            return
        if await self.allowed(safety.check_text(line, self.state, self.helpers)):
            await self.connection().send_text(stuff_line(line), echo=self.script,
                                              timeout=self.timeout("data-block"))

    async def end_data(self, echo: bool | None = None) -> Reply:
        """The end-of-data line; its reply ends the transaction."""
        return await self.request(Command(".", kind="data-end"),
                                  echo=self.script if echo is None else echo)

    async def _helper(self, line: str) -> None:
        name, _, raw = line[1:].partition(" ")
        found = self.helpers.get(name.lower())
        if not name:
            raise UsageError("a line starting with ':' needs a helper name after it",
                             "type :help for the list; '::text' sends ':text'")
        if found is None and name.lower() in self.elsewhere:
            mode = self.elsewhere[name.lower()][1]
            raise UsageError(f":{name.lower()} comes with {mode}", f"smtpshell {mode}")
        if found is None:
            raise UsageError(f"there is no helper :{name}", "type :help for the list")
        info, run = found
        # before shlex, which would take a CR or a tab for a space between words
        if not await self.allowed(safety.check_argument(raw, f"the line for :{info.name}")):
            return
        args = parse_args(info, raw)
        if info.needs_connection:
            self.connection()
        await run(args)

    def is_secret_line(self, line: str) -> bool:
        """Must this typed line stay out of history? (credentials, AUTH, 334 answers)"""
        if line.startswith(":") and not line.startswith("::"):  # a helper: its arguments
            return self.redact_input(line) != line
        return is_secret(line.removeprefix("::"), self.state.auth_dialog, self.state.secrets)

    def redact_input(self, line: str) -> str:
        """The typed line as it may be written down: secret helper arguments masked."""
        state = self.state
        if not line.startswith(":") or line.startswith("::"):
            secret = is_secret(line.removeprefix("::"), state.auth_dialog, state.secrets)
            kind = "auth-answer" if state.auth_dialog else "command"
            return redact_command(Command(line, kind, secret=True), ()) if secret else line
        name, _, raw = line[1:].partition(" ")
        found = self.helpers.get(name.lower())
        if found is None or found[0].secret_from is None:  # :raw or :pipeline with AUTH
            # a helper line never answers a 334, so the AUTH dialog makes it no secret
            return f":{name} {MASK}" if is_secret(raw, False, state.secrets) else line
        try:
            args = parse_args(found[0], raw)
        except UsageError:
            return f":{name} {MASK}"  # cannot tell which word is the secret: mask them all
        keep = found[0].secret_from
        if len(args.positional) <= keep:
            return line
        words = [shlex.quote(a) for a in args.positional[:keep]]
        words += [MASK] * (len(args.positional) - keep)
        return " ".join([f":{name}", *words, *_options_text(args)])

    def expect_next(self, codes: tuple[str, ...]) -> None:
        """Each reply the next line earns must match one of these ('250', '5xx')."""
        self._expect = codes

    def _judge(self) -> bool:
        """Every outcome must be a success, or match :expect. A 3yz that a later reply
        of the same line followed (354 then 250, 334 then 235) is a step, not an outcome."""
        judged = [reply for reply, judge in self._replies if judge]
        if not judged:
            return True  # :expect itself, a comment: the expectation waits for a reply
        expected, self._expect = self._expect, None
        ok = True
        for index, reply in enumerate(judged):
            if reply.klass == 3 and reply.fault is None and index < len(judged) - 1:
                continue
            if expected is None:
                ok = ok and not reply.failed
            elif not reply_matches(expected, reply):
                self.note(f"expected {' or '.join(expected)}, got {reply.code or '---'}",
                          "warning")
                ok = False
        return ok

    # -- talking to the server -------------------------------------------------

    def connection(self) -> Connection:
        if self.conn is None or not self.conn.is_open:
            raise ServerClosed("not connected", "use :connect HOST or :reconnect")
        return self.conn

    def timeout(self, verb: str) -> float:
        return self.settings.timeout or reply_timeout(verb)

    async def request(self, command: Command, echo: bool = True, payload: bytes = b"",
                      judged: bool = True) -> Reply:
        """Send one command (and a BDAT chunk after it) and wait for its reply.

        Ctrl-C stops the wait; the machine decides what that leaves (a late reply,
        or a closed connection). `judged` False: bookkeeping a helper does on its
        own (the RSET after refusals), which a script does not judge.
        """
        conn = self.connection()
        pending = conn.send(command, echo)
        if payload:
            await conn.send_text(payload, echo=False, timeout=self.timeout("data-block"))
        try:
            reply = await conn.wait(pending, self.timeout(command.verb))
        except ServerClosed as err:
            if command.kind == "data-end" and not isinstance(err, HungUpOnQuit):
                raise ServerClosed("the server closed the connection after the final '.' "
                                   "without a reply: the outcome is unknown, the message may "
                                   "have been delivered", "check the recipient's mailbox "
                                   "before sending it again") from None
            raise
        self.record(reply, judged)
        if command.verb == "QUIT" and reply.code == 221:
            conn.close()  # the session is over; don't wait for the server to hang up
            await self.dialer.finish(conn)
        return reply

    async def request_all(self, commands: Sequence[Command]) -> list[Reply]:
        """Send every command at once (pipelining), then take the replies in order."""
        conn = self.connection()
        pending = [conn.send(command) for command in commands]
        return await self.await_replies(pending, [c.verb for c in commands])

    async def await_replies(self, pending: Sequence[Pending], verbs: Sequence[str]
                            ) -> list[Reply]:
        conn = self.connection()
        replies = []
        for index, (one, verb) in enumerate(zip(pending, verbs, strict=True)):
            try:
                replies.append(await conn.wait(one, self.timeout(verb)))
            except HungUpOnQuit:
                break
            except (asyncio.CancelledError, ReplyTimeout):
                for rest in pending[index + 1:]:  # the whole group is given up, not one reply
                    conn.give_up(rest)
                raise
            self.record(replies[-1])
        return replies

    def record(self, reply: Reply, judged: bool = True) -> None:
        """A reply this line earned (for :expect), and the last one (:explain)."""
        self._replies.append((reply, judged))
        self.last_reply = reply

    def start_transcript(self, path: str) -> None:
        self.stop_transcript()
        self.transcript = Transcript.open(path, self.state)
        self.listeners.insert(1, self.transcript)  # after the state, before the screen

    def stop_transcript(self) -> None:
        if self.transcript is not None:
            self.listeners.remove(self.transcript)
            self.transcript.close()
            self.transcript = None

    def note(self, text: str, kind: str = "note") -> None:
        self.ui.show(format_note(text, kind, self.ui.width()))

    async def ask_secret(self, prompt: str) -> str | None:
        """A password or token asked hidden: remembered as a secret that the screen, too,
        never shows in any form."""
        secret = await self.ui.secret(prompt)
        if secret:
            self.state.remember_secret(secret, hidden=True)
        return secret
