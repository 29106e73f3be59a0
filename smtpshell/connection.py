"""One SMTP connection: an asyncio.Protocol that moves bytes between the socket and
its `ClientMachine`, and nothing more.

Owns: opening the transport (plain or implicit TLS, -4/-6, source address,
deadlines), feeding what arrives to the machine and carrying out what comes
back (replies to the listeners and to whoever awaits them, TLS hand-over,
dropping the connection), writing what the machine allows, the TLS
hand-over itself (with the socket peek that catches injection still in the
kernel), and closing within a deadline.
Must not: decide what anything means (the machine does), format for the
screen, or decide policy.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
from typing import NamedTuple

from .config import Target
from .errors import ConnectionFailed, ProtocolViolation, ReplyTimeout, ServerClosed
from .machine import Answer, ClientMachine, Closed, Event, NotNow, StartTls
from .protocol import Command, Reply
from .session import TlsInfo
from .tls import describe, handshake_failure
from .traffic import Listener

__all__ = ["CLOSE_DEADLINE", "Connection", "HungUpOnQuit", "Pending"]

CLOSE_DEADLINE = 1.0  # seconds a polite close may take (a TLS close_notify Exim never answers)


class HungUpOnQuit(ServerClosed):
    """The server closed the connection on QUIT without a 221: what QUIT asked."""


class Pending(NamedTuple):
    """A reply to come: its ticket in the machine and the future that receives it."""

    ticket: int
    future: asyncio.Future[Reply]


class Connection(asyncio.Protocol):
    def __init__(self, target: Target, ctx: ssl.SSLContext | None = None,
                 sni: str | None = None) -> None:
        self.target = target
        self.machine = ClientMachine()
        self.tls: TlsInfo | None = None
        self._ctx, self._sni = ctx, sni
        self._listeners: list[Listener] | None = None  # None until attached
        self._early = bytearray()  # what came before anyone listened
        self._transport: asyncio.Transport | None = None
        self._writable = asyncio.Event()
        self._writable.set()
        loop = asyncio.get_running_loop()
        self._futures: dict[int, asyncio.Future[Reply]] = {0: loop.create_future()}
        self.greeting = Pending(0, self._futures[0])
        self.closed: asyncio.Future[Closed] = loop.create_future()  # the machine closed
        self.gone: asyncio.Future[None] = loop.create_future()  # the socket is really closed

    # -- opening -----------------------------------------------------------

    @classmethod
    async def open(cls, target: Target, ctx: ssl.SSLContext | None, sni: str | None,
                   timeout: float) -> Connection:
        """Connect (TLS from the first byte when target.mode is 'tls'). Nothing is read
        until `attach`: a new connection may wait while the old one hangs up."""
        loop = asyncio.get_running_loop()
        use_tls = ctx if target.mode == "tls" else None
        name = (sni or target.server_name or target.host) if use_tls else None
        conn = cls(target, use_tls, name)
        try:
            async with asyncio.timeout(timeout):
                await loop.create_connection(
                    lambda: conn, target.host, target.port, ssl=use_tls,
                    server_hostname=name, family=target.family, local_addr=target.source,
                    ssl_handshake_timeout=timeout if use_tls else None,
                    ssl_shutdown_timeout=2 * CLOSE_DEADLINE if use_tls else None)
        except (ssl.SSLError, ssl.CertificateError) as err:
            raise handshake_failure(err, name or target.host) from None
        except TimeoutError:
            raise ConnectionFailed(f"no answer from {target.label} within {timeout:g} s",
                                   "check the host, the port and any firewall; "
                                   "--timeout S waits longer") from None
        except OSError as err:
            raise _connect_error(err, target) from None
        return conn

    def attach(self, listeners: list[Listener]) -> None:
        """Start listening: the listeners hear of the connection, then of what it reads."""
        self._listeners = listeners  # shared: a transcript started later hears everything
        for listener in listeners:
            listener.on_connected((self.target.host, self.target.port), self.tls)
        early, self._early = bytes(self._early), bytearray()
        if early:
            self._handle(self.machine.receive(early))

    @property
    def is_open(self) -> bool:
        return self.machine.connected

    @property
    def local_address(self) -> str | None:
        sock = self._transport.get_extra_info("sockname") if self._transport else None
        return str(sock[0]) if sock else None

    # -- asyncio.Protocol --------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None and self._ctx is not None:
            self.tls = describe(ssl_object, self._sni, self._sni or self.target.host, self._ctx)
            self.machine.tls = True

    def data_received(self, data: bytes) -> None:
        if self._listeners is None:
            self._early += data
            return
        self._handle(self.machine.receive(data))

    def eof_received(self) -> bool | None:
        # the peer is gone: say so now, not a loop turn later (the transport closes itself)
        self._handle(self.machine.connection_lost())
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._writable.set()
        self._handle(self.machine.connection_lost(
            None if exc is None else f"the connection broke ({_describe_oserror(exc)})"))
        if not self.gone.done():
            self.gone.set_result(None)

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    # -- carrying out what the machine says --------------------------------

    def _handle(self, events: list[Event]) -> None:
        listeners = self._listeners or []
        for event in events:
            if isinstance(event, Answer):
                for listener in listeners:
                    listener.on_reply(event.reply, event.command, event.late)
                fut = self._futures.pop(event.ticket, None) if event.ticket is not None \
                    else None
                if fut is not None and not fut.done():
                    fut.set_result(event.reply)
            elif isinstance(event, StartTls):
                if self._transport is not None:
                    self._transport.pause_reading()  # the rest is TLS, or injection
            else:
                self._closed(event)

    def _closed(self, event: Closed) -> None:
        for owed in event.owed:
            fut = self._futures.pop(owed.ticket, None)
            if fut is not None and not fut.done():
                kind = HungUpOnQuit if event.after_quit and owed.command.verb == "QUIT" \
                    else ServerClosed
                fut.set_exception(kind(event.reason, "use :reconnect to connect again"))
                fut.exception()  # read by whoever awaits it; never logged as lost
        transport = self._transport
        if transport is not None and event.drop:
            transport.abort()
        elif transport is not None and not transport.is_closing():
            transport.close()
        self._writable.set()
        if not self.closed.done():
            self.closed.set_result(event)
        for listener in self._listeners or []:
            listener.on_closed(event)

    # -- sending -----------------------------------------------------------

    def send(self, command: Command, echo: bool = True) -> Pending:
        """Write one line (CRLF added); the pending reply resolves when it comes."""
        transport = self._require_open()
        try:
            ticket, data = self.machine.send(command)
        except NotNow as err:
            raise _not_now(err) from None
        pending = Pending(ticket, self._future(ticket))
        self._tell_sent(command, data, echo)
        transport.write(data)
        return pending

    def send_raw(self, data: bytes, replies: int, secret: bool = False) -> list[Pending]:
        """Bytes exactly as given (:raw); `replies` is how many replies to pair with them."""
        transport = self._require_open()
        command = Command(data.decode("utf-8", "backslashreplace"), kind="raw", secret=secret)
        try:
            tickets = self.machine.send_raw(command, replies)
        except NotNow as err:
            raise _not_now(err) from None
        pending = [Pending(t, self._future(t)) for t in tickets]
        self._tell_sent(command, data, True)
        transport.write(data)
        return pending

    async def send_text(self, data: bytes, echo: bool = True, timeout: float | None = None
                        ) -> None:
        """Write message text (no reply expected); waits while the socket is full, at
        most `timeout` seconds (RFC 5321 §4.5.3.2.5: a server that stops reading)."""
        transport = self._require_open()
        if not data:
            return
        try:
            self.machine.send_text(data)
        except NotNow as err:
            raise _not_now(err) from None
        self._tell_sent(None, data, echo)
        transport.write(data)
        try:
            async with asyncio.timeout(timeout):
                await self._writable.wait()
        except TimeoutError:
            self.drop("the server stopped reading the message; the connection was closed")
            raise ReplyTimeout(f"the server took no message text for {timeout:g} s",
                               "the connection was closed; :reconnect to try again") from None
        except asyncio.CancelledError:
            self.interrupt()
            raise
        if not self.machine.connected:
            raise ServerClosed(self.machine.close_reason or "closed",
                               "use :reconnect to connect again")

    def _future(self, ticket: int) -> asyncio.Future[Reply]:
        fut: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._futures[ticket] = fut
        return fut

    def _tell_sent(self, command: Command | None, data: bytes, echo: bool) -> None:
        for listener in self._listeners or []:
            listener.on_sent(command, data, echo)

    def _require_open(self) -> asyncio.Transport:
        if self._transport is None or not self.machine.connected:
            raise ServerClosed("not connected", "use :connect HOST or :reconnect")
        return self._transport

    # -- waiting -----------------------------------------------------------

    async def wait(self, pending: Pending, timeout: float) -> Reply:
        """Await a reply. On timeout or Ctrl-C the machine decides: the reply will come
        late (the command stays paired with it), or the connection is closed."""
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.shield(pending.future)
        except TimeoutError:
            self.give_up(pending)
            hint = ("the session is out of step: :resync waits for the late reply, "
                    ":reconnect starts afresh") if self.machine.connected else \
                "the connection was closed; :reconnect to try again"
            raise ReplyTimeout(f"no reply within {timeout:g} s", hint) from None
        except asyncio.CancelledError:
            self.give_up(pending)
            raise

    def give_up(self, pending: Pending) -> None:
        """The user (or a deadline) stopped waiting for this reply."""
        self._handle(self.machine.cancel(pending.ticket))

    def interrupt(self) -> None:
        """The user stopped waiting for the transport (a handshake, message text)."""
        self._handle(self.machine.cancel(None))

    async def settle(self, timeout: float) -> bool:
        """Wait for the replies given up on; if they do not come, forget them.
        True if the session came back in step by itself."""
        waiting = [self._futures[o.ticket] for o in self.machine.owed
                   if o.abandoned and o.ticket in self._futures]
        if waiting:
            await asyncio.wait(waiting, timeout=timeout)
        came = self.machine.forget_abandoned()
        for fut in waiting:
            fut.cancel()
        return came

    # -- STARTTLS ----------------------------------------------------------

    async def start_tls(self, ctx: ssl.SSLContext, sni: str | None, timeout: float) -> TlsInfo:
        """Hand the connection to TLS after the 220 to STARTTLS. Bytes still in the socket
        are injection (the machine closes); a failed or interrupted handshake closes too."""
        self._handle(self.machine.inject(self._peek()))
        if self.machine.injected:
            raise ProtocolViolation(
                f"response injection: after its 220 reply to STARTTLS the server sent "
                f"{_preview(self.machine.injected)} before the TLS handshake, bytes that could "
                "pass for replies sent over TLS; the connection was closed",
                "the server or something on the path is broken or hostile (CVE-2011-0411)")
        transport = self._require_open()
        self._sni = sni or self.target.server_name or self.target.host
        try:
            new = await asyncio.get_running_loop().start_tls(
                transport, self, ctx, server_hostname=self._sni, ssl_handshake_timeout=timeout,
                ssl_shutdown_timeout=2 * CLOSE_DEADLINE)
        except (ssl.SSLError, ssl.CertificateError, OSError, TimeoutError) as err:
            self.drop("the TLS handshake failed")
            self._socket_gone()
            raise handshake_failure(err, self._sni) from None
        except asyncio.CancelledError:
            self.interrupt()
            self._socket_gone()
            raise
        if new is None or not self.machine.connected:
            self.drop("the server closed the connection during the TLS handshake")
            raise ServerClosed("the server closed the connection during the TLS handshake")
        self._transport = new
        self.tls = describe(new.get_extra_info("ssl_object"), self._sni, self._sni, ctx)
        self.machine.tls_started()
        for listener in self._listeners or []:
            listener.on_tls(self.tls)
        return self.tls

    def _peek(self) -> bytes:
        """Bytes already in the socket, not yet read (the next-packet injection case)."""
        sock = self._transport.get_extra_info("socket") if self._transport else None
        if sock is None:
            return b""
        try:
            with socket.socket(fileno=os.dup(sock.fileno())) as dup:
                return dup.recv(256, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except OSError:  # BlockingIOError: nothing there, which is what we want
            return b""

    # -- closing -----------------------------------------------------------

    def close(self, reason: str | None = None, *, drop: bool = False) -> None:
        """Hang up as asked (after QUIT, :close, :abort): the state says closed at once;
        the socket follows within CLOSE_DEADLINE (see `finish`). With no `reason` there
        is nothing to tell. `drop`: what is still buffered is thrown away, not sent (an
        abandoned message)."""
        self._handle(self.machine.close(reason or "closed", drop=drop, quiet=reason is None))

    def drop(self, reason: str) -> None:
        """Drop the connection now: nothing more is read or written, and the
        listeners hear of it before this returns."""
        self._handle(self.machine.close(reason, expected=False, drop=True))

    async def finish(self) -> bool:
        """Wait until the socket is closed. A peer that does not answer the TLS close
        (close_notify) within CLOSE_DEADLINE is dropped: False."""
        if self.gone.done():
            return True
        try:
            async with asyncio.timeout(CLOSE_DEADLINE):
                await asyncio.shield(self.gone)
        except TimeoutError:
            self._abort_transport()
            return False
        except asyncio.CancelledError:
            self._abort_transport()
            raise
        return True

    def _socket_gone(self) -> None:
        """The handshake never finished: asyncio will not report the loss of a socket
        it had already handed to TLS, so say it here (it was aborted above)."""
        self._transport = None
        if not self.gone.done():
            self.gone.set_result(None)

    def _abort_transport(self) -> None:
        if self._transport is not None:
            self._transport.abort()


def _preview(data: bytes) -> str:
    text = data[:60].decode("ascii", "backslashreplace")
    return repr(text) + ("…" if len(data) > 60 else "")


def _not_now(err: NotNow) -> ServerClosed | ConnectionFailed:
    if str(err) == "not connected":
        return ServerClosed("not connected", "use :connect HOST or :reconnect")
    return ConnectionFailed(f"not sent: {err}")


def _describe_oserror(err: BaseException) -> str:
    if isinstance(err, ConnectionResetError):
        return "reset by the server"
    if isinstance(err, BrokenPipeError):
        return "the server stopped reading (broken pipe)"
    return str(err) or type(err).__name__


def _connect_error(err: OSError, target: Target) -> ConnectionFailed:
    where = target.label
    if isinstance(err, socket.gaierror):
        also = []
        if target.source:
            also.append(f"or the --source address {target.source[0]!r}")
        if target.family != socket.AF_UNSPEC:
            also.append("(with -4/-6, addresses of the other family do not count)")
        return ConnectionFailed(" ".join([f"cannot find the host {target.host!r}", *also])
                                + ": the name does not resolve",
                                "check the spelling, or give an IP address")
    if isinstance(err, ConnectionRefusedError) or "refused" in str(err).lower():
        return ConnectionFailed(f"{where} refused the connection: nothing listens there",
                                "check the port (25, 587, 465) and that the server runs")
    return ConnectionFailed(f"cannot connect to {where}: {err.strerror or err}",
                            "check the address, the network and --source")
