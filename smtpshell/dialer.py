"""Opening and ending sessions: plain, implicit TLS, the MX of a domain, STARTTLS, EHLO,
hang-up.

Owns: `Dialer`, which connects a new transport before it lets the old one go
(a host that does not answer leaves the current session as it was), reads
and judges the greeting (220 greets; 554 gets only QUIT; anything else is no
greeting), says at once that it waits for the greeting and what a long
silence may mean, upgrades with STARTTLS (never falling back to plaintext
when asked not to), and hangs up within a stated deadline.
Must not: route lines or judge script expectations (the Engine does).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from typing import TYPE_CHECKING

from .config import Target, TlsMode
from .connection import CLOSE_DEADLINE, Connection
from .errors import ConnectionFailed, ProtocolViolation, ReplyTimeout, TlsFailed
from .knowledge import CONNECT_TIMEOUT
from .protocol import Command, Reply
from .render import banner_kind, format_error
from .tls import client_context

if TYPE_CHECKING:
    from .commands import Engine

__all__ = ["GREETING_PATIENCE", "Dialer"]

GREETING_PATIENCE = 4.0  # seconds of silence before saying what it may mean
QUIT_DEADLINE = 10.0


class Dialer:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- opening -----------------------------------------------------------------

    async def open_target(self, target: Target) -> None:
        """Connect, read the greeting, and for --starttls upgrade before anything else."""
        engine = self.engine
        tls_opts = engine.settings.tls
        ctx = client_context(tls_opts) if target.mode == "tls" else None
        connect_timeout = engine.settings.timeout or CONNECT_TIMEOUT
        conn = await Connection.open(target, ctx, tls_opts.sni, connect_timeout)
        try:  # the old session ends only now that the new host has answered
            await self.hang_up(quit_first=True)
        except BaseException:
            conn.drop("interrupted")
            raise
        engine.target = target
        engine.adopt(conn)
        await self._greeting(conn, target)
        if target.mode == "starttls":
            await self.starttls(ehlo_after=True, fail_closed=True)
        elif engine.settings.ehlo:
            await self.ehlo()

    async def _greeting(self, conn: Connection, target: Target) -> None:
        engine = self.engine
        timeout = engine.timeout("greeting")
        started = time.monotonic()
        try:
            done, _ = await asyncio.wait({conn.greeting.future},
                                         timeout=min(GREETING_PATIENCE, timeout))
            if not done and timeout > GREETING_PATIENCE:
                engine.note(f"no greeting after {GREETING_PATIENCE:g} s; still waiting "
                            f"(up to {timeout:g} s). A server that says nothing may want TLS "
                            "from the first byte (port 465: --tls), or not speak SMTP",
                            "warning")
            greeting = await conn.wait(conn.greeting, timeout - (time.monotonic() - started))
        except ReplyTimeout:
            raise ReplyTimeout(f"{target.label} sent no greeting within {timeout:g} s",
                               "it may not be an SMTP server: HTTP and TLS servers wait for "
                               "the client to speak first (port 465 wants --tls)") from None
        except BaseException:
            conn.give_up(conn.greeting)  # never leave a half-opened connection behind
            raise
        engine.record(greeting)
        self._judge_greeting(conn, target, greeting)
        if greeting.code == 554:
            await self._no_service(conn, target)

    def _judge_greeting(self, conn: Connection, target: Target, greeting: Reply) -> None:
        if greeting.code == 220 or greeting.code == 554:
            return
        conn.close()  # the error below says why
        if greeting.code is None:
            kind = banner_kind(greeting)
            raise ConnectionFailed(f"{target.label} is not an SMTP server: it greeted with "
                                   f"{greeting.lines[0][:40]!r}" + (f" ({kind})" if kind else ""),
                                   "check the port: 25, 587 or 465 (with --tls)")
        if greeting.code == 421:
            raise ConnectionFailed(f"{target.label} is not taking connections now (421); "
                                   "the connection was closed", "try again later")
        raise ConnectionFailed(f"{target.label} did not greet: {greeting.code} is not a "
                               "greeting (a server greets with 220); the connection was closed",
                               "check the port, or whether something else answers there")

    async def _no_service(self, conn: Connection, target: Target) -> None:
        """RFC 5321 §3.1: after a 554 greeting the client sends only QUIT."""
        self.engine.note("554 at the greeting means no SMTP service here for you: the client "
                         "may only send QUIT (RFC 5321 §3.1)", "warning")
        await self.hang_up(quit_first=True)
        raise ConnectionFailed(f"{target.label} refused service (554 greeting)",
                               "the server does not want mail from this address; "
                               "its text may say why")

    async def open_mx(self, domain: str, port: int, mode: TlsMode) -> None:
        """Look up the domain's MX hosts and connect to the first that answers.

        A host that cannot be reached gives way to the next; a TLS or
        protocol failure does not (it is not an availability problem).
        """
        from .mx import mail_hosts

        engine = self.engine
        base = engine.settings.target or Target(domain)
        timeout = engine.settings.timeout or CONNECT_TIMEOUT
        hosts = await mail_hosts(domain, engine.settings.nameserver, base.family, timeout)
        for host in hosts:
            if not host.addresses:
                engine.note(f"MX {host.preference} {host.name} has no address", "warning")
            for address in host.addresses:
                engine.note(f"MX {host.preference} {host.name} ({address})")
                target = Target(address, port, mode, base.family, base.source, host.name)
                try:
                    await self.open_target(target)
                    return
                except (TlsFailed, ProtocolViolation):
                    raise
                except ConnectionFailed as err:
                    engine.ui.show(format_error(err))
        raise ConnectionFailed(f"no mail server of {domain} could be reached",
                               f"{len(hosts)} MX host(s) tried in preference order")

    # -- during the session --------------------------------------------------------

    def local_name(self) -> str:
        """The host's name if it is a domain name, else an address literal (RFC 5321
        §4.1.4). No DNS lookup: getfqdn() may wait seconds on a resolver for nothing."""
        name = socket.gethostname()
        if "." in name and not name.startswith("localhost"):
            return name
        conn = self.engine.conn
        local = conn.local_address if conn else None
        if local is None:
            return "localhost"
        return f"[IPv6:{local}]" if ":" in local else f"[{local}]"

    async def ehlo(self, name: str | None = None, echo: bool = True) -> Reply | None:
        """EHLO with this name, else --ehlo, else the name last used, else the local one;
        through the safe mode like a typed line (None: not sent)."""
        engine = self.engine
        name = name or engine.settings.ehlo or engine.state.ehlo_name or self.local_name()
        return await engine.send_command(f"EHLO {name}", echo=echo)

    async def starttls(self, *, ehlo_after: bool, fail_closed: bool, echo: bool = True
                       ) -> Reply | None:
        """STARTTLS and the handshake; with `fail_closed`, never go on in plaintext."""
        engine, state = self.engine, self.engine.state
        conn = engine.connection()
        if fail_closed and state.machine.greeted_with == "HELO" and not await self._ehlo_not_helo():
            return None
        if fail_closed and not state.greeted:
            await self.ehlo()
        caps = state.capabilities
        if fail_closed and (caps is None or "STARTTLS" not in caps):
            conn.drop("closed rather than continue in plaintext")
            raise TlsFailed(f"{conn.target.label} does not offer STARTTLS; the connection was "
                            "closed rather than continue in plaintext",
                            "try --tls (port 465), or another server")
        ctx = client_context(engine.settings.tls)
        reply = await engine.request(Command("STARTTLS"), echo=echo)
        if reply.code != 220:
            if fail_closed:
                conn.drop("closed rather than continue in plaintext")
                raise TlsFailed(f"the server refused STARTTLS ({reply.code}); the connection "
                                "was closed rather than continue in plaintext")
            return reply
        await conn.start_tls(ctx, engine.settings.tls.sni, engine.timeout("STARTTLS"))
        if ehlo_after:
            await self.ehlo()
        else:
            engine.note("TLS is up; the server forgot the EHLO: send EHLO again")
        return reply

    async def _ehlo_not_helo(self) -> bool:
        """After HELO nobody knows what the server offers: EHLO first, if the user agrees."""
        question = ("HELO gives no capabilities, so nobody knows whether the server offers "
                    "STARTTLS. Send EHLO first, then STARTTLS?")
        if self.engine.script or not await self.engine.ui.confirm(question):
            self.engine.note("nothing sent: HELO gives no capabilities; send EHLO, then "
                             ":starttls", "warning")
            self.engine.refused()
            return False
        await self.ehlo()
        return True

    # -- ending --------------------------------------------------------------------

    async def hang_up(self, quit_first: bool) -> None:
        """Close the connection, within deadlines; with `quit_first`, politely: an AUTH
        exchange under way is cancelled with '*' (RFC 4954 §4) so that QUIT is not taken
        for a credential. Interrupted, it drops the connection at once."""
        engine = self.engine
        conn, engine.conn = engine.conn, None
        if conn is None:
            return
        try:
            if quit_first and conn.is_open and not engine.state.closing \
                    and not engine.state.in_data:
                with contextlib.suppress(ConnectionFailed):
                    if engine.state.auth_dialog:
                        await conn.wait(conn.send(Command("*", kind="auth-answer")),
                                        QUIT_DEADLINE)
                    await conn.wait(conn.send(Command("QUIT")), QUIT_DEADLINE)
            conn.close()
        except BaseException:
            conn.drop("interrupted while closing; the connection was dropped")
            raise
        await self.finish(conn)

    async def finish(self, conn: Connection) -> None:
        """The socket closed, within the stated deadline (a TLS close some never answer)."""
        if not await conn.finish():
            self.engine.note(f"the server did not answer the TLS close within "
                             f"{CLOSE_DEADLINE:g} s; the socket was dropped")

