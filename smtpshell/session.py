"""What the session is: the one object the prompt, toolbar, completer and safe mode read.

Owns: `SessionState` — the user's toggles (safe mode, explanations), the peer
and the TLS layer as the transport reports them, addresses and the EHLO name
used, the secrets seen — and `TlsInfo`. Everything the wire decides (phase,
capabilities, AUTH, out of step, closed) it reads from the connection's
`ClientMachine`, never keeps a copy of.
Must not: do I/O, format text, or decide policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NamedTuple

from .machine import ClientMachine, Phase
from .protocol import ADDRESS, Capabilities, Command
from .redact import secret_forms, wire_secrets

__all__ = ["Phase", "SessionState", "TlsInfo"]


class TlsInfo(NamedTuple):
    """The TLS layer as the transport reports it — never as the server claims."""

    version: str
    cipher: str
    bits: int | None
    sni: str | None
    verified: bool
    verify_error: str | None = None  # why verification failed (or would have, with --insecure)
    peer_der: bytes | None = None
    peer_dict: Mapping[str, object] = MappingProxyType({})  # getpeercert(), if verified
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
    tls: TlsInfo | None = None
    addresses: list[str] = field(default_factory=list)
    ehlo_name: str | None = None  # the name last given to EHLO/HELO: :starttls says it again
    secrets: set[str] = field(default_factory=set, repr=False)  # forms to mask when written
    hidden: set[str] = field(default_factory=set, repr=False)  # typed at a hidden prompt
    lesson: str | None = None  # where the tutorial is ("lesson 2 · step 3/6"), for the toolbar
    machine: ClientMachine = field(default_factory=ClientMachine.unconnected, repr=False)

    # -- read from the wire's state machine -------------------------------------

    @property
    def connected(self) -> bool:
        return self.machine.connected

    @property
    def phase(self) -> Phase:
        return self.machine.phase

    @property
    def recipients(self) -> int:
        return self.machine.recipients

    @property
    def capabilities(self) -> Capabilities | None:
        return self.machine.capabilities

    @property
    def greeted(self) -> bool:
        return self.machine.capabilities is not None

    @property
    def auth_user(self) -> str | None:
        return self.machine.auth_user

    @property
    def auth_dialog(self) -> bool:
        """The server sent 334: the next line answers it."""
        return self.machine.auth_dialog and self.machine.connected

    @property
    def closing(self) -> bool:
        """The server said 421 or 221: it will hang up."""
        return self.machine.closing

    @property
    def out_of_step(self) -> bool:
        """A reply was given up on; replies may be paired wrongly until it comes."""
        return self.machine.out_of_step

    @property
    def in_data(self) -> bool:
        """Lines are message text now (the server said 354)."""
        return self.machine.phase is Phase.DATA and self.machine.connected

    # -- what the session itself remembers ----------------------------------------

    def remember_secret(self, secret: str, hidden: bool = False) -> None:
        forms = secret_forms(secret)
        self.secrets |= forms
        if hidden:  # typed where nobody could see it: the screen must not show it either
            self.hidden |= forms

    def observe_connected(self, host: str, port: int, tls: TlsInfo | None) -> None:
        self.peer = (host, port)
        self.tls = tls

    def observe_closed(self) -> None:
        self.tls = None  # what the toolbar and :tls show belongs to a live connection

    def observe_tls(self, tls: TlsInfo) -> None:
        self.tls = tls

    def observe_sent(self, command: Command) -> None:
        for address in ADDRESS.findall(command.line):
            if address not in self.addresses:
                self.addresses.append(address)
        self.secrets |= wire_secrets(command, self.machine.auth_mechanism,
                                     self.machine.challenge)
        if command.verb in ("EHLO", "HELO") and len(words := command.line.split()) == 2:
            self.ehlo_name = words[1]
