"""What the session is, and the only place it changes.

Owns: `SessionState` (connection, peer, TLS, capabilities, transaction phase,
authenticated user, toggles, addresses seen) and `Phase`. State moves on the
server's replies — DATA mode starts on `354`, not on typing DATA — through
the `observe_*` methods, which the connection's listeners call.
Must not: do I/O, format text, or decide policy.
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
from dataclasses import dataclass, field

from .protocol import Capabilities, Command, Reply
from .redact import secret_forms

__all__ = ["Phase", "SessionState", "TlsInfo"]

_ADDRESS = re.compile(r"<([^<>\s]+@[^<>\s]+)>")


class Phase(enum.Enum):
    """Where the mail transaction stands (RFC 5321 §3.3)."""

    IDLE = "idle"
    MAIL = "mail"
    RCPT = "rcpt"
    DATA = "data"


@dataclass(frozen=True)
class TlsInfo:
    """The TLS layer as the transport reports it — never as the server claims."""

    version: str
    cipher: str
    bits: int | None
    sni: str | None
    verified: bool
    verify_error: str | None = None  # why verification failed (or would have, with --insecure)
    peer_der: bytes | None = None
    peer_dict: dict[str, object] = field(default_factory=dict)  # ssl's getpeercert(), if verified
    chain_der: tuple[bytes, ...] = ()

    @property
    def short(self) -> str:
        """`tls1.3` — what the prompt shows."""
        return self.version.lower().replace("v", "")


@dataclass
class SessionState:
    """Everything the prompt, toolbar, completer and safe mode read."""

    safe: bool = True
    explain: bool = False
    peer: tuple[str, int] | None = None
    connected: bool = False
    tls: TlsInfo | None = None
    capabilities: Capabilities | None = None  # None until an EHLO/HELO succeeded
    phase: Phase = Phase.IDLE
    recipients: int = 0
    auth_user: str | None = None
    auth_dialog: bool = False  # the server sent 334: the next line answers it
    closing: bool = False  # the server said 421 or 221: it will hang up
    out_of_step: bool = False  # a reply was given up on; replies may be paired wrongly
    addresses: list[str] = field(default_factory=list)
    ehlo_name: str | None = None  # the name last given to EHLO/HELO: :starttls says it again
    secrets: set[str] = field(default_factory=set, repr=False)  # forms to mask when written
    hidden: set[str] = field(default_factory=set, repr=False)  # typed at a hidden prompt
    _auth_attempt: str | None = None  # the user of the AUTH exchange under way
    _auth_mechanism: str = ""

    def remember_secret(self, secret: str, hidden: bool = False) -> None:
        forms = secret_forms(secret)
        self.secrets |= forms
        if hidden:  # typed where nobody could see it: the screen must not show it either
            self.hidden |= forms

    @property
    def greeted(self) -> bool:
        return self.capabilities is not None

    def observe_connected(self, host: str, port: int, tls: TlsInfo | None) -> None:
        self.peer = (host, port)
        self.connected = True
        self.tls = tls
        self._reset_session()
        self.closing = False
        self.out_of_step = False

    def observe_closed(self) -> None:
        self.connected = False
        self.tls = None  # what the toolbar and :tls show belongs to a live connection
        self._reset_session()

    def observe_tls(self, tls: TlsInfo) -> None:
        """After STARTTLS everything learned in plaintext is forgotten (RFC 3207 §4.2)."""
        self.tls = tls
        self._reset_session()

    def observe_sent(self, command: Command) -> None:
        for address in _ADDRESS.findall(command.line):
            if address not in self.addresses:
                self.addresses.append(address)
        if command.secret:
            self._remember_wire_secret(command)
        if command.verb in ("EHLO", "HELO") and len(words := command.line.split()) == 2:
            self.ehlo_name = words[1]
        if command.verb == "AUTH":
            words = command.line.split()
            self._auth_mechanism = words[1].upper() if len(words) > 1 else ""
            self._auth_attempt = _auth_user(self._auth_mechanism, words[2]) \
                if len(words) > 2 else None
        elif command.kind == "auth-answer" and self._auth_attempt is None:
            self._auth_attempt = _auth_user(self._auth_mechanism, command.line)

    def observe_reply(self, reply: Reply, command: Command | None) -> None:
        if reply.code == 421:
            self.closing = True
        if command is None:
            return
        verb, code = command.verb, reply.code or 0
        if verb in ("AUTH", "auth-answer"):
            self._observe_auth(code)
        elif code // 100 == 2:
            self._observe_success(verb, reply)
        elif verb == "DATA" and code == 354:
            self.phase = Phase.DATA
        if verb == "data-end" or (verb == "BDAT" and command.line.upper().endswith(" LAST")):
            self._reset_transaction()

    def _remember_wire_secret(self, command: Command) -> None:
        """What a secret line carries: its base64 and what that decodes to."""
        words = command.line.split()
        if command.verb == "AUTH" and len(words) <= 2:
            return
        payload = words[2] if command.verb == "AUTH" else command.line
        self.remember_secret(payload)
        decoded = _b64_text(payload) or ""
        parts = decoded.split("\0")
        # AUTH PLAIN is authzid NUL user NUL password: the password is the secret
        for part in parts[2:] if len(parts) == 3 else [decoded]:
            if part:
                self.remember_secret(part)

    def _observe_success(self, verb: str, reply: Reply) -> None:
        if verb == "EHLO":
            self._reset_transaction()
            self.capabilities = Capabilities.from_ehlo(reply)
        elif verb == "HELO":
            self._reset_transaction()
            self.capabilities = Capabilities()
        elif verb == "MAIL":
            self.phase, self.recipients = Phase.MAIL, 0
        elif verb == "RCPT" and self.phase in (Phase.MAIL, Phase.RCPT):
            self.phase = Phase.RCPT
            self.recipients += 1
        elif verb == "RSET":
            self._reset_transaction()
        elif verb == "QUIT":
            self.closing = True

    def _observe_auth(self, code: int) -> None:
        self.auth_dialog = code == 334
        if code == 235:
            self.auth_user = self._auth_attempt or "(unknown)"
        if code != 334:
            self._auth_attempt = None

    def _reset_transaction(self) -> None:
        self.phase = Phase.IDLE
        self.recipients = 0

    def _reset_session(self) -> None:
        self._reset_transaction()
        self.capabilities = None
        self.auth_user = None
        self.auth_dialog = False
        self._auth_attempt = None


def _b64_text(data: str) -> str | None:
    try:
        return base64.b64decode(data.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def _auth_user(mechanism: str, response: str) -> str | None:
    """Who is authenticating, read from an AUTH response (for the toolbar)."""
    text = _b64_text(response)
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
