"""The practice server: a real SMTP server (aiosmtpd) bound in the running loop.

Owns: `PracticeServer` (port 0 by default, STARTTLS with a CA and certificate
made at start, AUTH after TLS for demo/demo, a realistic EHLO), filling its
`Inbox` (inbox.py), and `serve_forever` for `--serve`. The tests use it as
their server; `record_wire` keeps every byte each connection sent.
Must not: be imported unless --demo, --serve or a test asks for it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import secrets
import ssl
import time
from collections.abc import Callable
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from .errors import ConnectionFailed
from .inbox import Inbox, Received, summary
from .knowledge import AUTH_RESPONSE_LINE
from .protocol import unb64
from .tls import PracticeCerts, cached_practice_certs, make_practice_certs

__all__ = ["DEMO_PASSWORD", "DEMO_USER", "PracticeServer"]

DEMO_USER = "demo"
DEMO_PASSWORD = "demo"
DEMO_TOKEN = "demo-token"  # XOAUTH2
# Recipients with these local parts are refused, to show what refusals look like.
REFUSALS = {
    "reject": "550 5.1.1 No such mailbox here (the practice server refuses reject@)",
    "tempfail": "451 4.3.0 Try again later (the practice server defers tempfail@)",
}


class _Handler:
    """aiosmtpd hooks: realistic replies with enhanced status codes."""

    def __init__(self, inbox: Inbox, notify: Callable[[Received], None] | None,
                 implicit_tls: bool) -> None:
        self.inbox = inbox
        self.notify = notify
        self.implicit_tls = implicit_tls  # aiosmtpd sets session.ssl only after STARTTLS

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope,
                          hostname: str, responses: list[str]) -> list[str]:
        session.host_name = hostname
        last = responses.pop()  # "250 HELP"
        extra = ["250-PIPELINING", "250-ENHANCEDSTATUSCODES", "250-CHUNKING"]
        return responses[:1] + extra + responses[1:] + [last]

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, options: list[str]) -> str:
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 Sender OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, options: list[str]) -> str:
        refusal = REFUSALS.get(address.split("@", 1)[0].lower())
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 Recipient OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        auth = session.auth_data
        received = Received(
            mail_from=envelope.mail_from or "", rcpt_tos=tuple(envelope.rcpt_tos),
            content=content, tls=self.implicit_tls or session.ssl is not None,
            user=auth.login.decode() if isinstance(auth, LoginPassword) else None,
            when=dt.datetime.now(dt.UTC))
        self.inbox.messages.append(received)
        if self.notify is not None:
            self.notify(received)
        return f"250 2.0.0 Queued as message {len(self.inbox.messages)}"

    async def auth_CRAM__MD5(self, server: SMTP, args: list[str]) -> AuthResult:
        """RFC 2195: the server sends a fresh challenge; the client proves the password."""
        challenge = f"<{secrets.randbelow(10**9)}.{int(time.time())}@practice>".encode()
        response = await server.challenge_auth(challenge)
        if not isinstance(response, bytes):  # '*' or bad base64: already answered 501
            return AuthResult(success=False, handled=True)
        user, _, digest = response.decode("utf-8", "replace").partition(" ")
        expected = hmac.new(DEMO_PASSWORD.encode(), challenge, hashlib.md5).hexdigest()
        ok = user == DEMO_USER and hmac.compare_digest(digest, expected)
        return AuthResult(success=ok, handled=False, auth_data=LoginPassword(user.encode(), b""),
                          message=None if ok else _INVALID)

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        """The bearer token `demo-token` for user demo; a failure is explained in JSON."""
        try:
            blob = unb64(args[1]) if len(args) > 1 else await server.challenge_auth("")
        except ValueError:
            await server.push("501 5.5.2 Cannot decode base64")
            return AuthResult(success=False, handled=True)
        if not isinstance(blob, bytes):
            return AuthResult(success=False, handled=True)
        fields = dict(f.split(b"=", 1) for f in blob.split(b"\x01") if b"=" in f)
        if fields.get(b"user") == DEMO_USER.encode() and \
                fields.get(b"auth") == f"Bearer {DEMO_TOKEN}".encode():
            return AuthResult(success=True, auth_data=LoginPassword(DEMO_USER.encode(), b""))
        error = json.dumps({"status": "401", "schemes": "Bearer", "scope": "smtp"})
        await server.challenge_auth(error)  # the client answers with an empty line
        return AuthResult(success=False, handled=False, message=_INVALID)

    async def handle_RSET(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return "250 2.0.0 Reset"

    async def handle_NOOP(self, server: SMTP, session: Session, envelope: Envelope,
                          arg: str) -> str:
        return "250 2.0.0 OK"

    async def handle_QUIT(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return "221 2.0.0 Bye"


_INVALID = "535 5.7.8 Authentication credentials invalid"


def _authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                  auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data == (
        DEMO_USER.encode(), DEMO_PASSWORD.encode())
    if not ok:
        return AuthResult(success=False, handled=False, message=_INVALID)
    return AuthResult(success=True, auth_data=auth_data)


class _PracticeSMTP(SMTP):
    AuthLoginUsernameChallenge = "Username:"
    AuthLoginPasswordChallenge = "Password:"

    def __init__(self, handler: _Handler, wire: bytearray | None,
                 sessions: set[_PracticeSMTP], **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._wire = wire
        self._sessions = sessions
        self._chunked: Envelope | None = None  # the envelope the BDAT chunks belong to
        self._chunks = bytearray()

    def data_received(self, data: bytes) -> None:
        if self._wire is not None:
            self._wire += data
        super().data_received(data)

    def connection_lost(self, error: Exception | None) -> None:
        self._sessions.discard(self)
        super().connection_lost(error)

    async def challenge_auth(self, *args: Any, **kwargs: Any) -> Any:
        """RFC 4954 §4: an answer to a 334 may take 12,288 octets, but aiosmtpd reads
        every line with one limit (1001): lift it for the answer only."""
        reader = self._reader
        limit = getattr(reader, "_limit", None)
        setattr(reader, "_limit", AUTH_RESPONSE_LINE[0])  # noqa: B010 - a private field
        try:
            return await super().challenge_auth(*args, **kwargs)
        finally:
            setattr(reader, "_limit", limit)  # noqa: B010

    def drop(self) -> None:
        """Close the connection now, the socket under TLS included."""
        for transport in (self._original_transport, self.transport):
            if isinstance(transport, asyncio.Transport):
                transport.abort()

    async def smtp_BDAT(self, arg: str | None) -> None:
        """RFC 3030 CHUNKING: exactly SIZE octets follow the command; LAST ends the message."""
        if await self.check_helo_needed():
            return
        words = (arg or "").split()
        if not 1 <= len(words) <= 2 or not words[0].isdigit() or \
                words[1:] not in ([], ["LAST"], ["last"]):
            await self.push("501 5.5.4 Syntax: BDAT size [LAST]")
            return
        chunk = await self._reader.readexactly(int(words[0]))  # read it even to refuse it
        envelope = self.envelope
        assert envelope is not None
        if not envelope.rcpt_tos:
            await self.push("503 5.5.1 Error: need RCPT command")
            return
        if self._chunked is not envelope:
            self._chunked, self._chunks = envelope, bytearray()
        self._chunks += chunk
        if len(words) == 1:
            await self.push(f"250 2.0.0 {len(chunk)} octets received")
            return
        envelope.content = envelope.original_content = bytes(self._chunks)
        self._chunks = bytearray()
        status = await self._call_handler_hook("DATA")
        self.envelope = self._create_envelope()  # what aiosmtpd does after DATA
        await self.push(status)


class PracticeServer:
    """The practice server. `await start()` binds it (port 0: the OS picks). With
    `smtps_too` it listens a second time, with TLS from the first byte (`tls_port`), as
    a real server does on 465 beside 587."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *,
                 record_wire: bool = False, certs: PracticeCerts | None = None,
                 size_limit: int = 32 * 1024 * 1024,
                 notify: Callable[[Received], None] | None = None,
                 implicit_tls: bool = False, smtps_too: bool = False) -> None:
        self.host = host
        self.port = port
        self.tls_port: int | None = None
        self.inbox = Inbox()
        self.certs = certs or make_practice_certs()
        self._record = record_wire
        self._size_limit = size_limit
        self._notify = notify
        self._implicit = implicit_tls  # SMTPS (RFC 8314) instead of STARTTLS
        self._smtps_too = smtps_too
        self._servers: list[asyncio.AbstractServer] = []
        self._sessions: set[_PracticeSMTP] = set()

    @property
    def ca_pem(self) -> str:
        return self.certs.ca_pem

    async def start(self) -> None:
        # aiosmtpd logs to "mail.log"; with no handler Python would print its
        # warnings over the shell's screen
        logger = logging.getLogger("mail.log")
        if not logger.handlers:
            logger.addHandler(logging.NullHandler())
        ctx = self.certs.server_context()
        self.port = await self._listen(self.port, ctx, self._implicit)
        if self._smtps_too:
            self.tls_port = await self._listen(0, ctx, implicit=True)

    async def _listen(self, port: int, ctx: ssl.SSLContext, implicit: bool) -> int:
        loop = asyncio.get_running_loop()
        handler = _Handler(self.inbox, self._notify, implicit)

        def factory() -> SMTP:
            wire = None
            if self._record:
                wire = bytearray()
                self.inbox.wire.append(wire)
            session = _PracticeSMTP(handler, wire, self._sessions,
                                    tls_context=None if implicit else ctx,
                                    auth_require_tls=not implicit, enable_SMTPUTF8=True,
                                    hostname="practice.smtpshell.test",
                                    ident="smtpshell practice", authenticator=_authenticate,
                                    data_size_limit=self._size_limit, loop=loop)
            self._sessions.add(session)
            return session

        server = await loop.create_server(factory, self.host, port,
                                          ssl=ctx if implicit else None)
        self._servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    @property
    def connections(self) -> int:
        """Connections still open (a test waits for a close to reach the server)."""
        return len(self._sessions)

    async def stop(self) -> None:
        """Close the listeners and every connection still open. Since Python 3.12.1
        wait_closed() waits for all of them, and nothing closes a client that went
        quiet (after STARTTLS, aiosmtpd keeps the socket under its own transport)."""
        servers, self._servers = self._servers, []
        for server in servers:
            server.close()
        for session in list(self._sessions):
            session.drop()
        for server in servers:
            await server.wait_closed()


async def serve_forever(port: int, cache: str, host: str = "127.0.0.1") -> None:
    """--serve: run until Ctrl-C, saying how to connect and what arrives. Its CA is the
    one --demo keeps in the state directory (`cache`)."""
    certs = cached_practice_certs(cache)
    server = PracticeServer(host, port, notify=_announce, certs=certs, smtps_too=True)
    try:
        await server.start()
    except OSError as err:
        raise ConnectionFailed(f"cannot listen on {host}:{port}: {err.strerror or err}",
                               "choose another --port") from None
    ca_path = os.path.join(cache, "ca.pem")
    print(f"Practice server on {host}:{server.port} (STARTTLS) and {host}:{server.tls_port} "
          f"(TLS from the first byte), user {DEMO_USER}, password {DEMO_PASSWORD}; its CA "
          f"is {ca_path}\n"
          f"Connect with:  smtpshell {host}:{server.port} --starttls --cafile {ca_path}\n"
          f"          or:  smtpshell {host}:{server.tls_port} --tls --cafile {ca_path}\n"
          "Ctrl-C stops it; messages are kept in memory until then.", flush=True)
    await asyncio.Event().wait()


def _announce(message: Received) -> None:
    print(f"received: {summary(message)}", flush=True)
