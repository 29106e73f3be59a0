"""The Engine: one code path for every line, typed, pasted or scripted.

Owns: routing a line (DATA text, AUTH answer, `::text`, `:helper`, raw SMTP
through the safe mode), sending and awaiting replies, judging replies
against `:expect`, opening connections (plain, implicit TLS, --starttls),
and the helper registry (`@helper` carries syntax and summary for :help and
completion). The helpers themselves live in their own modules.
Must not: import prompt_toolkit, or print except through its UI.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import socket
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from . import safety
from .config import Settings, Target, TlsMode
from .connection import Connection, Listener
from .errors import (
    ConnectionFailed,
    ProtocolViolation,
    ReplyTimeout,
    ServerClosed,
    TlsFailed,
    UsageError,
)
from .knowledge import CONNECT_TIMEOUT, reply_timeout
from .protocol import Command, Reply, stuff_line
from .redact import MASK, redact_command
from .render import Fragments, Screen, banner_kind, format_error, format_hint, format_note
from .session import Phase, SessionState, TlsInfo
from .tls import client_context
from .transcript import Transcript

__all__ = ["UI", "Args", "Engine", "HelperInfo", "LineResult", "helper", "helper_infos"]


class UI(Protocol):
    """What the Engine needs from a front end."""

    def show(self, fragments: Fragments) -> None: ...

    async def confirm(self, question: str) -> bool: ...

    async def secret(self, prompt: str) -> str | None: ...

    def progress(self, label: str, total: int
                 ) -> AbstractContextManager[Callable[[int], None]]:
        """Show progress of `total` bytes (0: too small to bother); yields `advance(n)`."""
        ...


# -- helpers and their arguments ---------------------------------------------


@dataclass(frozen=True)
class HelperInfo:
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


@dataclass(frozen=True)
class Args:
    positional: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
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


@dataclass(frozen=True)
class LineResult:
    """What one line came to: the last reply it earned, and whether that was
    what the script expected (no 4xx/5xx, or what :expect named)."""

    reply: Reply | None = None
    expected: bool = True
    refused: bool = False


class _StateListener(Listener):
    """Feeds the traffic to SessionState; first in line, so the screen sees new state."""

    def __init__(self, state: SessionState) -> None:
        self.state = state
        self.conn: Connection | None = None

    def on_connected(self, peer: tuple[str, int], tls: TlsInfo | None) -> None:
        self.state.observe_connected(peer[0], peer[1], tls)

    def on_sent(self, command: Command | None, data: bytes, echo: bool) -> None:
        if command is not None:
            self.state.observe_sent(command)

    def on_reply(self, reply: Reply, command: Command | None, late: bool) -> None:
        self.state.observe_reply(reply, command)
        if late and self.conn is not None:
            self.state.out_of_step = self.conn.out_of_step
        kind = banner_kind(reply)
        if kind and self.conn is not None:  # SSH, HTTP…: nothing more will make sense
            self.conn.abort(f"the peer answered like {kind}, not an SMTP server")

    def on_tls(self, tls: TlsInfo) -> None:
        self.state.observe_tls(tls)

    def on_closed(self, reason: str) -> None:
        self.state.observe_closed()


class Engine:
    """Routes lines and runs helpers; both front ends drive it the same way."""

    def __init__(self, settings: Settings, state: SessionState, ui: UI, *,
                 script: bool = False, extra_listeners: Sequence[Listener] = (),
                 helper_groups: Sequence[Callable[[Engine], object]] = ()) -> None:
        self.settings = settings
        self.state = state
        self.ui = ui
        self.script = script
        self.target = settings.target
        self.conn: Connection | None = None
        self.finished = False
        self._state_listener = _StateListener(state)
        self.listeners: list[Listener] = [self._state_listener, *extra_listeners,
                                          Screen(ui.show, state, state.secrets if script else None)]
        self.transcript: Transcript | None = None
        if settings.transcript:
            self.start_transcript(settings.transcript)
        self.helpers = collect_helpers(*(make(self) for make in helper_groups))
        self._expect: tuple[str, ...] | None = None
        self._reply: Reply | None = None
        self.last_reply: Reply | None = None  # for :explain with no arguments
        self._refused = False

    # -- lines ---------------------------------------------------------------

    async def handle_text(self, text: str) -> list[LineResult]:
        """A paste may hold many lines: each goes after the previous reply.

        If DATA is refused, the rest of the paste is not sent: it was meant as
        message text and would reach the server as commands.
        """
        lines = text.split("\n")
        results = []
        for index, line in enumerate(lines):
            was_data = line.strip().upper() in ("DATA", ":DATA") and \
                self.state.phase is not Phase.DATA
            results.append(await self.handle_line(line.removesuffix("\r")))
            rest = len(lines) - index - 1
            if was_data and rest and self.state.phase is not Phase.DATA:
                self.note(f"DATA was not accepted, so the {rest} pasted line(s) after it were "
                          "not sent: they would have reached the server as commands.", "warning")
                break
        return results

    async def handle_line(self, line: str) -> LineResult:
        self._reply, self._refused = None, False
        if self.transcript is not None:
            in_data = self.state.phase is Phase.DATA and self.state.connected
            self.transcript.input(line if in_data else self.redact_input(line))
        await self._route(line)
        return LineResult(self._reply, self._judge(self._reply), self._refused)

    async def _route(self, line: str) -> None:
        if self.state.phase is Phase.DATA and self.state.connected:
            await self._data_line(line)
        elif line.startswith(":") and not line.startswith("::"):
            await self._helper(line)
        elif self.state.auth_dialog and self.state.connected:
            await self.request(Command(line, kind="auth-answer", secret=True),
                               echo=self.script)
        elif line.strip():
            await self.send_command(line[1:] if line.startswith("::") else line,
                                    echo=self.script)

    async def send_command(self, line: str, echo: bool = True) -> Reply | None:
        """A raw SMTP line through the safe mode; None if it was not sent."""
        self.connection()  # "not connected" first: no question about a line that cannot go
        if not await self.allowed(safety.check_command(line, self.state)):
            return None
        if line.split(" ", 1)[0].upper() == "STARTTLS":
            return await self.starttls(ehlo_after=False, fail_closed=False, echo=echo)
        secret = safety.is_secret(line, self.state)
        return await self.request(Command(line, secret=secret), echo=echo)

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
        self._refused = True
        return False

    async def _data_line(self, line: str) -> None:
        if line == ".":
            await self.end_data()
            return
        if await self.allowed(safety.check_text(line, self.state)):
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
        if found is None:
            hint = ("it comes with --demo" if name.lower() == "inbox"
                    else "type :help for the list")
            raise UsageError(f"there is no helper :{name}", hint)
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
        if safety.is_secret(line.removeprefix("::"), self.state):
            return True
        return line.startswith(":") and self.redact_input(line) != line

    def redact_input(self, line: str) -> str:
        """The typed line as it may be written down: secret helper arguments masked."""
        if not line.startswith(":") or line.startswith("::"):
            secret = safety.is_secret(line.removeprefix("::"), self.state)
            kind = "auth-answer" if self.state.auth_dialog else "command"
            return redact_command(Command(line, kind, secret=True), ()) if secret else line
        name, _, raw = line[1:].partition(" ")
        found = self.helpers.get(name.lower())
        if found is None or found[0].secret_from is None:  # :raw or :pipeline with AUTH
            return f":{name} {MASK}" if safety.is_secret(raw, self.state) else line
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
        """The next reply must match one of these patterns ('250', '5xx')."""
        self._expect = codes

    def _judge(self, reply: Reply | None) -> bool:
        if reply is None:
            return True
        expected, self._expect = self._expect, None
        if expected is None:
            return not reply.is_error
        code = str(reply.code or "---")
        ok = any(all(p in ("x", c) for p, c in zip(pattern, code, strict=True))
                 for pattern in expected)
        if not ok:
            self.note(f"expected {' or '.join(expected)}, got {code}", "warning")
        return ok

    # -- talking to the server -------------------------------------------------

    def connection(self) -> Connection:
        if self.conn is None or not self.conn.is_open:
            raise ServerClosed("not connected", "use :connect HOST or :reconnect")
        return self.conn

    def timeout(self, verb: str) -> float:
        return self.settings.timeout or reply_timeout(verb)

    async def request(self, command: Command, echo: bool = True, payload: bytes = b"") -> Reply:
        """Send one command (and a BDAT chunk after it) and wait for its reply.

        Ctrl-C stops the wait; the command stays paired with the reply to come.
        """
        conn = self.connection()
        fut = conn.send(command, echo)
        if payload:
            await conn.send_text(payload, echo=False, timeout=self.timeout("data-block"))
        try:
            reply = await conn.wait(fut, self.timeout(command.verb))
        except ServerClosed as err:
            if command.kind == "data-end":  # the one close after which nobody knows
                raise ServerClosed("the server closed the connection after the final '.' "
                                   "without a reply: the outcome is unknown, the message may "
                                   "have been delivered", "check the recipient's mailbox "
                                   "before sending it again") from None
            raise err from None
        except (asyncio.CancelledError, ConnectionFailed):
            self.state.out_of_step = conn.out_of_step
            raise
        self._record(reply)
        if command.verb == "QUIT" and reply.code == 221:
            conn.close()  # the session is over; don't wait for the server to hang up
            await conn.closed
        return reply

    async def request_all(self, commands: Sequence[Command]) -> list[Reply]:
        """Send every command at once (pipelining), then take the replies in order."""
        conn = self.connection()
        futures = [conn.send(command) for command in commands]
        return await self.await_replies(futures, [c.verb for c in commands])

    async def await_replies(self, futures: Sequence[asyncio.Future[Reply]],
                            verbs: Sequence[str]) -> list[Reply]:
        conn = self.connection()
        replies = []
        for fut, verb in zip(futures, verbs, strict=True):
            try:
                replies.append(await conn.wait(fut, self.timeout(verb)))
            except (asyncio.CancelledError, ConnectionFailed):
                self.state.out_of_step = conn.out_of_step
                raise
            self._record(replies[-1])
        return replies

    def _record(self, reply: Reply) -> None:
        """The reply this line earned so far (for :expect), and the last one (:explain)."""
        self._reply = self.last_reply = reply

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
        self.ui.show(format_note(text, kind))

    async def open_target(self, target: Target) -> None:
        """Connect, read the greeting, and for --starttls upgrade before anything else."""
        self.target = target
        tls_opts = self.settings.tls
        ctx = client_context(tls_opts) if target.mode == "tls" else None
        connect_timeout = self.settings.timeout or CONNECT_TIMEOUT
        conn = await Connection.open(target, ctx, tls_opts.sni, self.listeners, connect_timeout)
        self.conn = self._state_listener.conn = conn
        try:
            greeting = await conn.wait(conn.greeting, self.timeout("greeting"))
        except ReplyTimeout:
            conn.abort("no greeting")
            raise ReplyTimeout(f"{target.label} sent no greeting within "
                               f"{self.timeout('greeting'):g} s",
                               "it may not be an SMTP server: HTTP and TLS servers wait for "
                               "the client to speak first (port 465 wants --tls)") from None
        except BaseException:
            conn.abort("no greeting")  # never leave a half-opened connection behind
            raise
        self._record(greeting)
        if greeting.code is None:
            conn.close()
            kind = banner_kind(greeting)
            raise ConnectionFailed(f"{target.label} is not an SMTP server: it greeted with "
                                   f"{greeting.lines[0][:40]!r}"
                                   + (f" ({kind})" if kind else ""),
                                   "check the port: 25, 587 or 465 (with --tls)")
        if target.mode == "starttls":
            await self.starttls(ehlo_after=True, fail_closed=True)
        elif self.settings.ehlo:
            await self.ehlo()

    async def open_mx(self, domain: str, port: int, mode: TlsMode) -> None:
        """Look up the domain's MX hosts and connect to the first that answers.

        A host that cannot be reached gives way to the next; a TLS or
        protocol failure does not (it is not an availability problem).
        """
        from .mx import mail_hosts

        base = self.settings.target or Target(domain)
        timeout = self.settings.timeout or CONNECT_TIMEOUT
        hosts = await mail_hosts(domain, self.settings.nameserver, base.family, timeout)
        for host in hosts:
            if not host.addresses:
                self.note(f"MX {host.preference} {host.name} has no address", "warning")
            for address in host.addresses:
                self.note(f"MX {host.preference} {host.name} ({address})")
                target = Target(address, port, mode, base.family, base.source, host.name)
                try:
                    await self.open_target(target)
                    return
                except (TlsFailed, ProtocolViolation):
                    raise
                except ConnectionFailed as err:
                    self.ui.show(format_error(err))
        raise ConnectionFailed(f"no mail server of {domain} could be reached",
                               f"{len(hosts)} MX host(s) tried in preference order")

    async def hang_up(self, quit_first: bool) -> None:
        """Close the connection; with `quit_first`, politely: an AUTH exchange under way is
        cancelled with '*' (RFC 4954 §4) so that QUIT is not taken for a credential."""
        conn, self.conn = self.conn, None
        if conn is None or not conn.is_open:
            return
        if quit_first and not self.state.closing and self.state.phase is not Phase.DATA:
            with contextlib.suppress(ConnectionFailed):
                if self.state.auth_dialog:
                    await conn.wait(conn.send(Command("*", kind="auth-answer")), 10)
                await conn.wait(conn.send(Command("QUIT")), 10)
        conn.close()
        await conn.closed

    def ehlo_name(self) -> str:
        """The local FQDN, or an address literal when the host has no domain name."""
        fqdn = socket.getfqdn()
        if "." in fqdn and not fqdn.startswith("localhost"):
            return fqdn
        local = self.conn.local_address if self.conn else None
        if local is None:
            return "localhost"
        return f"[IPv6:{local}]" if ":" in local else f"[{local}]"

    async def ehlo(self, name: str | None = None, echo: bool = True) -> Reply:
        """EHLO with this name, else --ehlo, else the name last used, else the local one."""
        name = name or self.settings.ehlo or self.state.ehlo_name or self.ehlo_name()
        return await self.request(Command(f"EHLO {name}"), echo=echo)

    async def starttls(self, *, ehlo_after: bool, fail_closed: bool, echo: bool = True
                       ) -> Reply | None:
        """STARTTLS and the handshake; with `fail_closed`, never go on in plaintext."""
        conn = self.connection()
        if fail_closed and not self.state.greeted:
            await self.ehlo()
        caps = self.state.capabilities
        if fail_closed and (caps is None or "STARTTLS" not in caps):
            conn.abort("closed rather than continue in plaintext")
            raise TlsFailed(f"{conn.target.label} does not offer STARTTLS; the connection was "
                            "closed rather than continue in plaintext",
                            "try --tls (port 465), or another server")
        ctx = client_context(self.settings.tls)
        reply = await conn.starttls(ctx, self.settings.tls.sni, self.timeout("STARTTLS"), echo)
        self._record(reply)
        if reply.code != 220:
            if fail_closed:
                conn.abort("closed rather than continue in plaintext")
                raise TlsFailed(f"the server refused STARTTLS ({reply.code}); the connection "
                                "was closed rather than continue in plaintext")
            return reply
        if ehlo_after:
            await self.ehlo()
        else:
            self.note("TLS is up; the server forgot the EHLO: send EHLO again")
        return reply
