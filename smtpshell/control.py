"""Helpers for the session itself: :help, :connect, :reconnect, :close, :quit,
:abort, :ehlo, :starttls, :expect, :resync, :safe.

Owns: those helpers and the :help overview.
Must not: touch the connection except through the Engine.
"""

from __future__ import annotations

import re

from . import safety
from .commands import Args, Engine, helper
from .config import Target, TlsMode, implied_mode, parse_hostport
from .errors import UsageError
from .knowledge import VERBS
from .render import Fragments, column_lines, format_note

__all__ = ["SessionHelpers"]

_CODE_PATTERN = re.compile(r"[1-5](\d\d|\dx|xx)")  # 250, 25x, 5xx — a digit never after an x


class SessionHelpers:
    """:help, :connect, :reconnect, :close, :quit, :abort, :ehlo, :starttls, :expect,
    :resync, :safe."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @helper(":help [NAME or VERB]", "helpers; SMTP verbs with syntax, RFC and example",
            max_args=1)
    async def help(self, args: Args) -> None:
        engine = self.engine
        if not args.positional:
            engine.ui.show(_help_overview(engine))
            return
        name = args.positional[0].lstrip(":")
        found = engine.helpers.get(name.lower())
        info, mode = found[0] if found else None, ""
        if info is None and name.lower() in engine.elsewhere:
            info, mode = engine.elsewhere[name.lower()]
        verb = None if args.positional[0].startswith(":") else VERBS.get(name.upper())
        if info is None and verb is None:
            raise UsageError(f"no helper or verb called {name!r}", "type :help for the list")
        if info is not None:  # :ehlo and EHLO: show both
            only = f"\n  (only with {mode}: smtpshell {mode})" if mode else ""
            engine.note(f"{info.syntax}\n  {info.summary}{only}")
        if verb is not None:
            ext = f" (needs the {verb.extension} extension)" if verb.extension else ""
            engine.note(f"{verb.syntax} — {verb.meaning}{ext}\n  {verb.rfc}; "
                        f"example: {verb.example}")

    @helper(":connect HOST[:PORT] [--tls|--starttls|--plain] | --mx DOMAIN [--port N]",
            "connect to another server (the current one gets QUIT once the new one answers); "
            "--mx: to a domain's mail servers, on this session's port unless --port; with "
            "--demo, HOST demo is the practice server (--tls: its implicit-TLS port)",
            options=("--tls", "--starttls", "--plain", "--mx=", "--port="), max_args=1)
    async def connect(self, args: Args) -> None:
        engine, domain = self.engine, args.value("--mx")
        if bool(domain) == bool(args.positional):
            raise UsageError(":connect takes a HOST or --mx DOMAIN")
        host, port = parse_hostport(args.positional[0] if args.positional else "", None)
        if args.value("--port") is not None:
            _, port = parse_hostport(f"x:{args.value('--port')}", None)
        elif domain and engine.target is not None:
            port = engine.target.port
        mode: TlsMode | None = ("tls" if args.flag("--tls") else "starttls"
                                if args.flag("--starttls") else None)
        practice = engine.settings.practice
        if practice is not None and host.lower() == "demo":
            await engine.dialer.open_target(practice.target(mode or "plain", port))
            return
        port = port or (465 if mode == "tls" else 25)
        mode = implied_mode(port, mode, args.flag("--plain"))
        if domain:
            await engine.dialer.open_mx(domain, port, mode)
            return
        base = engine.target or Target(host)
        await engine.dialer.open_target(base._replace(host=host, port=port, mode=mode,
                                         server_name=None))

    @helper(":reconnect", "connect again to the same server, the same way")
    async def reconnect(self, args: Args) -> None:
        if self.engine.target is None:
            raise UsageError("there is nowhere to reconnect to", "use :connect HOST")
        await self.engine.dialer.hang_up(quit_first=False)
        await self.engine.dialer.open_target(self.engine.target)

    @helper(":close", "close the connection without QUIT", needs_connection=True)
    async def close(self, args: Args) -> None:
        await self.engine.dialer.hang_up(quit_first=False)
        self.engine.note("closed; :reconnect to connect again")

    @helper(":quit", "send QUIT (when connected) and leave")
    async def quit(self, args: Args) -> None:
        await self.engine.dialer.hang_up(quit_first=True)
        self.engine.finished = True

    @helper(":abort", "in DATA mode: abandon the message (SMTP can only do that by closing "
            "the connection: it asks first)")
    async def abort(self, args: Args) -> None:
        engine = self.engine
        if not engine.state.in_data:
            raise UsageError("there is no message being written to abort",
                             "RSET ends a transaction; :close ends the connection")
        question = ("SMTP has no way to take back DATA but to close the connection: the "
                    "message is abandoned, nothing is delivered, and the session ends. Close?")
        if not engine.script and not await engine.ui.confirm(question):
            engine.note("the message goes on; a line with only '.' ends it")
            return
        engine.connection().close("the message was abandoned (:abort) before the final '.', "
                                  "so nothing was delivered", drop=True)
        engine.note(":reconnect starts a new session")

    @helper(":ehlo [NAME]", "EHLO with a default name; the reply becomes the capability set",
            max_args=1, needs_connection=True)
    async def ehlo(self, args: Args) -> None:
        await self.engine.dialer.ehlo(args.positional[0] if args.positional else None)

    @helper(":starttls", "STARTTLS, handshake, certificate check, EHLO again",
            needs_connection=True)
    async def starttls(self, args: Args) -> None:
        if not await self.engine.allowed(safety.check_command("STARTTLS", self.engine.state)):
            return
        await self.engine.dialer.starttls(ehlo_after=True, fail_closed=True)

    @helper(":expect CODE[,CODE…]", "the next reply must have this code (250, 5xx, 55x)",
            min_args=1, max_args=1)
    async def expect(self, args: Args) -> None:
        codes = tuple(c.strip().lower() for c in args.positional[0].split(","))
        if not all(_CODE_PATTERN.fullmatch(c) for c in codes):
            raise UsageError(f"{args.positional[0]!r} is not a reply code pattern",
                             "write 250, 25x, 5xx or 250,251")
        self.engine.expect_next(codes)

    @helper(":resync [SECONDS]", "out of step (a reply was given up on): wait for the late "
            "reply, then carry on (default 5 s)", max_args=1, needs_connection=True)
    async def resync(self, args: Args) -> None:
        engine = self.engine
        try:
            seconds = float(args.positional[0]) if args.positional else 5.0
        except ValueError:
            raise UsageError(f"{args.positional[0]!r} is not a number of seconds") from None
        came = await engine.connection().settle(seconds)
        if came:
            engine.note("in step: every reply is paired with its command again")
        else:
            engine.note(f"no late reply within {seconds:g} s; the replies given up on are "
                        "forgotten (one that still comes will show as unsolicited)", "warning")

    @helper(":safe [on|off]", "the safe mode: it refuses s_client habits (R, Q, k, K), bare "
            "CR/LF/NUL, overlong and non-ASCII lines, and asks before AUTH without TLS and "
            "order mistakes", max_args=1)
    async def safe(self, args: Args) -> None:
        state = self.engine.state
        if args.positional:
            word = args.positional[0].lower()
            if word not in ("on", "off"):
                raise UsageError(":safe takes on or off")
            state.safe = word == "on"
        self.engine.note(f"safe mode is {'on' if state.safe else 'off'}")


def _help_overview(engine: Engine) -> Fragments:
    width = engine.ui.width()
    rows = [(info.syntax, info.summary)
            for info, _ in sorted(engine.helpers.values(), key=lambda h: h[0].name)]
    lines = ["Helpers (a line starting with ':' is for the shell; everything else goes to "
             "the server):", *column_lines(rows, 34, width),
             "SMTP verbs (:help VERB for syntax and an example):", "  " + " ".join(VERBS),
             "In DATA mode every line is message text; a line with only '.' ends it."]
    return format_note("\n".join(lines), width=width)
