"""One SMTP connection on an asyncio.Protocol that owns its receive buffer.

Owns: opening (plain, implicit TLS, -4/-6, source address, deadlines), sending
lines and message text, pairing each reply with the oldest command still
waiting (a FIFO, so pipelining works), handing every reply to the listeners
(unsolicited ones too), STARTTLS with the response-injection guard, close.
Must not: format anything for the screen or decide policy; it routes.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
from collections import deque
from dataclasses import dataclass

from .config import Target
from .errors import ConnectionFailed, ProtocolViolation, ReplyTimeout, ServerClosed
from .protocol import Command, Reply, ReplyParser, ReplyTooLarge
from .session import TlsInfo
from .tls import describe, handshake_failure

__all__ = ["GREETING", "Connection", "Listener"]

GREETING = Command("", kind="greeting")
FLOOD_BYTES = 1024 * 1024  # received since we last sent anything: more is a flood
FLOOD_REPLIES = 100  # unsolicited replies since we last sent anything


class Listener:
    """Receives traffic in order. Subclasses override what they need."""

    def on_connected(self, peer: tuple[str, int], tls: TlsInfo | None) -> None:
        """The transport is up (for implicit TLS: after the handshake)."""

    def on_sent(self, command: Command | None, data: bytes, echo: bool) -> None:
        """Bytes went out: a command, or message text (command None). `echo` is
        False when the user already sees them (a line typed at the prompt)."""

    def on_reply(self, reply: Reply, command: Command | None, late: bool) -> None:
        """A reply, with the command it answers (None: unsolicited; late: given up on)."""

    def on_tls(self, tls: TlsInfo) -> None:
        """STARTTLS completed."""

    def on_closed(self, reason: str) -> None:
        """The connection is gone."""


@dataclass
class _Pending:
    command: Command
    future: asyncio.Future[Reply]
    abandoned: bool = False


class Connection(asyncio.Protocol):
    def __init__(self, target: Target, listeners: list[Listener]) -> None:
        self.target = target
        self.tls: TlsInfo | None = None
        self._listeners = listeners  # shared: a transcript started later hears everything
        self._parser = ReplyParser()
        self._pending: deque[_Pending] = deque()
        self._transport: asyncio.Transport | None = None
        self._close_reason: str | None = None
        self._tls_guard = False  # between the 220 to STARTTLS and the handshake
        self._injected = bytearray()
        self._writable = asyncio.Event()
        self._writable.set()
        self._unasked_bytes = 0
        self._unasked_replies = 0
        self._lost = False
        self._ctx: ssl.SSLContext | None = None
        self._sni: str | None = None
        loop = asyncio.get_running_loop()
        self.closed: asyncio.Future[str] = loop.create_future()  # resolves with the reason
        self.greeting: asyncio.Future[Reply] = loop.create_future()
        self._pending.append(_Pending(GREETING, self.greeting))

    # -- opening -----------------------------------------------------------

    @classmethod
    async def open(cls, target: Target, ctx: ssl.SSLContext | None, sni: str | None,
                   listeners: list[Listener], timeout: float) -> Connection:
        """Connect (TLS from the first byte when target.mode is 'tls')."""
        loop = asyncio.get_running_loop()
        conn = cls(target, listeners)
        use_tls = ctx if target.mode == "tls" else None
        conn._ctx = use_tls
        conn._sni = (sni or target.server_name or target.host) if use_tls else None
        try:
            async with asyncio.timeout(timeout):
                await loop.create_connection(
                    lambda: conn, target.host, target.port, ssl=use_tls,
                    server_hostname=conn._sni, family=target.family,
                    local_addr=target.source,
                    ssl_handshake_timeout=timeout if use_tls else None)
        except (ssl.SSLError, ssl.CertificateError) as err:
            raise handshake_failure(err, target.host) from None
        except TimeoutError:
            raise ConnectionFailed(f"no answer from {target.label} within {timeout:g} s",
                                   "check the host, the port and any firewall; "
                                   "--timeout S waits longer") from None
        except OSError as err:
            raise _connect_error(err, target) from None
        return conn

    @property
    def is_open(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    @property
    def out_of_step(self) -> bool:
        """A reply we gave up waiting for has not arrived yet."""
        return any(p.abandoned for p in self._pending)

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
        peer = (self.target.host, self.target.port)
        for listener in self._listeners:
            listener.on_connected(peer, self.tls)

    def data_received(self, data: bytes) -> None:
        if self._tls_guard:
            self._injected += data
            return
        self._unasked_bytes += len(data)
        if self._unasked_bytes > FLOOD_BYTES:
            self.abort(f"the server sent more than {FLOOD_BYTES // 1024} KiB without being "
                       "asked; cut off")
            return
        self._parser.push(data)
        try:
            for reply in self._parser.replies():
                self._dispatch(reply)
                if self._tls_guard:
                    self._injected += self._parser.take_unparsed()
                    return
        except ReplyTooLarge as err:
            self.abort(str(err))

    def eof_received(self) -> bool | None:
        # the peer is gone: say so now, not a loop turn later (the transport closes itself)
        self.connection_lost(None)
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._lost:
            return  # already reported (abort, EOF), or under way: a listener may abort
        self._lost = True
        leftover = self._parser.close() if not self._tls_guard else None
        if leftover is not None:
            self._dispatch(leftover)
        reason = self._close_reason or (
            "the server closed the connection" if exc is None else
            f"the connection broke ({_describe_oserror(exc)})")
        self._transport = None
        self._writable.set()
        while self._pending:
            fut = self._pending.popleft().future
            if not fut.done():
                fut.set_exception(ServerClosed(reason, "use :reconnect to connect again"))
                fut.exception()  # read by whoever awaits it; never logged as lost
        self.closed.set_result(reason)
        for listener in self._listeners:
            listener.on_closed(reason)

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    # -- sending -----------------------------------------------------------

    def send(self, command: Command, echo: bool = True) -> asyncio.Future[Reply]:
        """Write one line (CRLF added); the future resolves with its reply."""
        transport = self._require_open()
        fut: asyncio.Future[Reply] = self.closed.get_loop().create_future()
        self._pending.append(_Pending(command, fut))
        data = command.line.encode("utf-8") + b"\r\n"
        for listener in self._listeners:
            listener.on_sent(command, data, echo)
        self._write(transport, data)
        return fut

    def send_raw(self, data: bytes, replies: int, secret: bool = False
                 ) -> list[asyncio.Future[Reply]]:
        """Bytes exactly as given (:raw); `replies` is how many replies to pair with them."""
        transport = self._require_open()
        command = Command(data.decode("utf-8", "backslashreplace"), kind="raw", secret=secret)
        futures: list[asyncio.Future[Reply]] = []
        for _ in range(replies):
            futures.append(self.closed.get_loop().create_future())
            self._pending.append(_Pending(command, futures[-1]))
        for listener in self._listeners:
            listener.on_sent(command, data, True)
        self._write(transport, data)
        return futures

    async def send_text(self, data: bytes, echo: bool = True, timeout: float | None = None
                        ) -> None:
        """Write message text (no reply expected); waits while the socket is full, at
        most `timeout` seconds (RFC 5321 §4.5.3.2.5: a server that stops reading)."""
        transport = self._require_open()
        for listener in self._listeners:
            listener.on_sent(None, data, echo)
        self._write(transport, data)
        try:
            async with asyncio.timeout(timeout):
                await self._writable.wait()
        except TimeoutError:
            self.abort("the server stopped reading the message")
            raise ReplyTimeout(f"the server took no message text for {timeout:g} s",
                               "the connection was closed; :reconnect to try again") from None
        if self._transport is None:
            raise ServerClosed(self.closed.result() if self.closed.done() else "closed",
                               "use :reconnect to connect again")

    def _write(self, transport: asyncio.Transport, data: bytes) -> None:
        self._unasked_bytes = self._unasked_replies = 0
        transport.write(data)

    async def wait(self, fut: asyncio.Future[Reply], timeout: float) -> Reply:
        """Await a reply; on timeout or cancel the command stays paired, marked abandoned."""
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.shield(fut)
        except TimeoutError:
            self._abandon(fut)
            raise ReplyTimeout(f"no reply within {timeout:g} s",
                               "the session is out of step: :reconnect, or wait for the "
                               "late reply") from None
        except asyncio.CancelledError:
            self._abandon(fut)
            raise

    async def request(self, command: Command, timeout: float, echo: bool = True) -> Reply:
        return await self.wait(self.send(command, echo), timeout)

    async def settle(self, timeout: float) -> bool:
        """Wait for the replies given up on; if they do not come, forget them.
        True if the session came back in step by itself."""
        waiting = [p.future for p in self._pending if p.abandoned]
        if waiting:
            await asyncio.wait(waiting, timeout=timeout)
        late = [p for p in self._pending if p.abandoned]
        for pending in late:
            self._pending.remove(pending)
            pending.future.cancel()
        return not late

    def _abandon(self, fut: asyncio.Future[Reply]) -> None:
        for pending in self._pending:
            if pending.future is fut:
                pending.abandoned = True

    def _require_open(self) -> asyncio.Transport:
        if self._transport is None or self._transport.is_closing():
            raise ServerClosed("not connected", "use :connect HOST or :reconnect")
        return self._transport

    # -- STARTTLS ----------------------------------------------------------

    async def starttls(self, ctx: ssl.SSLContext, sni: str | None, timeout: float,
                       echo: bool = True) -> Reply:
        """Send STARTTLS; on 220, guard against injection, then hand over to TLS.

        Returns the reply; a reply other than 220 leaves the connection as it was.
        """
        reply = await self.request(Command("STARTTLS"), timeout, echo)
        if reply.code != 220 or not self._tls_guard:
            return reply
        injected = bytes(self._injected) or self._peek()
        if injected:
            self.abort("response injection")
            raise ProtocolViolation(
                f"response injection: after its 220 reply to STARTTLS the server sent "
                f"{_preview(injected)} before the TLS handshake, bytes that could pass for "
                "replies sent over TLS; the connection was closed",
                "the server or something on the path is broken or hostile (CVE-2011-0411)")
        self._tls_guard = False
        self._sni = sni or self.target.server_name or self.target.host
        transport = self._require_open()
        try:
            new = await asyncio.get_running_loop().start_tls(
                transport, self, ctx, server_hostname=self._sni, ssl_handshake_timeout=timeout)
        except (ssl.SSLError, ssl.CertificateError, OSError, TimeoutError) as err:
            self.abort("the TLS handshake failed")
            raise handshake_failure(err, self.target.host) from None
        if new is None:
            raise ServerClosed("the server closed the connection during the TLS handshake")
        self._transport = new
        self.tls = describe(new.get_extra_info("ssl_object"), self._sni, self._sni, ctx)
        for listener in self._listeners:
            listener.on_tls(self.tls)
        return reply

    def _dispatch(self, reply: Reply) -> None:
        if reply.code is None and self._pending and self._pending[0].command is not GREETING:
            self._unpaired(reply)  # text that is no reply answers nothing (the greeting aside)
            return
        pending = self._pending.popleft() if self._pending else None
        command = pending.command if pending else None
        if pending is None:
            self._unasked_replies += 1
            if self._unasked_replies > FLOOD_REPLIES:
                self.abort(f"the server sent more than {FLOOD_REPLIES} replies nobody asked "
                           "for; cut off")
                return
        if command is not None and command.verb == "STARTTLS" and reply.code == 220:
            self._tls_guard = True
            if self._transport is not None:
                self._transport.pause_reading()
        for listener in self._listeners:
            listener.on_reply(reply, command, bool(pending and pending.abandoned))
        if pending is not None and not pending.future.done():
            pending.future.set_result(reply)

    def _unpaired(self, reply: Reply) -> None:
        self._unasked_replies += 1
        for listener in self._listeners:
            listener.on_reply(reply, None, False)

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

    def close(self) -> None:
        if self._transport is not None:
            self._close_reason = self._close_reason or "closed"
            self._transport.close()

    def abort(self, reason: str) -> None:
        """Drop the connection now: nothing more is read or written, and the
        listeners hear of it before this returns."""
        self._close_reason = reason
        if self._transport is not None:
            self._transport.abort()
        self.connection_lost(None)


def _preview(data: bytes) -> str:
    text = data[:60].decode("ascii", "backslashreplace")
    return repr(text) + ("…" if len(data) > 60 else "")


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
