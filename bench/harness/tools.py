"""Each tool's command line for a flow, and for T0 (a prompt in a terminal).

Every tool verifies the server's certificate against the server's CA, names itself
bench.example in EHLO, and sends the lines of flows.py. A tool that cannot do what
a task asks raises Skip with the reason (swaks sends one message per connection;
s_client speaks only TLS).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .flows import EHLO_NAME, SMALL_MESSAGE, Flow, Mode, smtpshell_script, wire_input
from .install import Target
from .measure import Command
from .servers import Server

HERE = Path(__file__).resolve().parent
# smtpshell's prompt is "HOST:PORT MODE> " (drawn without its last space); the
# smtplib peer prints the same. Both only after the 220 greeting.
SHELL_READY = re.compile(rb"(?s)220[ -].*[\r\n]\S+:\d+ [\w.]+>")
# s_client -starttls smtp swallows the greeting; it is ready once it has printed
# its handshake summary, which ends with a line of dashes.
S_CLIENT_READY = re.compile(rb"Verify return code:[^\n]*\n(?:[^\n]*\n)*?---")


S_CLIENT_NOTE = (
    "s_client writes its input as it reads it, not waiting for replies: its sessions are "
    "pipelined (these servers accept that). With -starttls smtp it reads the 220 and sends "
    "its own EHLO itself, so for T0 it is ready once it prints its handshake summary.")


class Skip(Exception):
    """This tool cannot do this task: why, in one line."""


@dataclass(frozen=True)
class Kit:
    """What the builders need: the programs and a folder for the inputs they make."""

    target: Target
    work: Path

    def file(self, name: str, data: bytes) -> Path:
        path = self.work / name
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
        return path

    def stream(self, name: str, pieces: Iterable[bytes]) -> Path:
        """A file written once from `pieces` (for inputs the size of a message)."""
        path = self.work / name
        if not path.exists():
            with path.open("wb") as out:
                for piece in pieces:
                    out.write(piece)
        return path


@dataclass(frozen=True)
class Prompt:
    argv: tuple[str, ...]
    ready: re.Pattern[bytes]


def port_for(server: Server, mode: Mode) -> int:
    if mode != "tls":
        return server.port
    if server.tls_port is None:
        raise Skip(f"{server.name} has no implicit-TLS listener")
    return server.tls_port


def _body(kit: Kit, flow: Flow) -> Path:
    return flow.body or kit.file("small.eml", SMALL_MESSAGE)


# -- smtpshell -------------------------------------------------------------------------

def smtpshell_session(kit: Kit, flow: Flow, server: Server) -> Command:
    script = kit.file(f"{flow.key()}-{server.name}.smtp",
                      smtpshell_script(flow, server.account).encode())
    return Command((str(kit.target.smtpshell), f"{server.host}:{port_for(server, flow.mode)}",
                    f"--{flow.mode}", "--ehlo", EHLO_NAME, "--cafile", str(server.cafile),
                    "--script", str(script)))


def smtpshell_prompt(kit: Kit, mode: Mode, server: Server | None) -> Prompt:
    """In a terminal: `--demo` (server None), or HOST:PORT with --starttls --cafile."""
    if server is None:
        return Prompt((str(kit.target.smtpshell), "--demo"), SHELL_READY)
    tls = ("--starttls", "--cafile", str(server.cafile)) if mode == "starttls" else ()
    return Prompt((str(kit.target.smtpshell), f"{server.host}:{server.port}", *tls),
                  SHELL_READY)


# -- smtplib ---------------------------------------------------------------------------

def _smtplib(kit: Kit, mode: Mode, server: Server, *extra: str) -> tuple[str, ...]:
    return (str(kit.target.python), str(HERE / "smtplib_peer.py"), f"host={server.host}",
            f"port={port_for(server, mode)}", f"mode={mode}", f"cafile={server.cafile}",
            f"ehlo={EHLO_NAME}", *extra)


def smtplib_session(kit: Kit, flow: Flow, server: Server) -> Command:
    account = server.account
    auth = (f"auth={account.auth_plain()}",) if flow.auth else ()
    return Command(_smtplib(kit, flow.mode, server, *auth, f"sender={account.sender}",
                            f"recipient={account.recipient}", f"messages={flow.messages}",
                            f"body={_body(kit, flow)}"))


def smtplib_prompt(kit: Kit, mode: Mode, server: Server | None) -> Prompt:
    if server is None:
        raise Skip("smtplib has no practice server of its own")
    return Prompt(_smtplib(kit, mode, server, "prompt=1"), SHELL_READY)


# -- swaks -----------------------------------------------------------------------------

def swaks_session(kit: Kit, flow: Flow, server: Server) -> Command:
    if flow.messages > 1:
        raise Skip("swaks sends one message per connection")
    account = server.account
    argv = ["swaks", "--server", server.host, "--port", str(port_for(server, flow.mode)),
            "--helo", EHLO_NAME]
    if flow.mode != "plain":
        argv += ["--tls" if flow.mode == "starttls" else "--tls-on-connect", "--tls-verify",
                 "--tls-ca-path", str(server.cafile)]
    if flow.auth:
        argv += ["--auth", "PLAIN", "--auth-user", account.user,
                 "--auth-password", account.password]
    if flow.messages:
        argv += ["--from", account.sender, "--to", account.recipient,
                 "--data", f"@{_body(kit, flow)}"]
    else:
        argv += ["--quit-after", "EHLO"]
    return Command(tuple(argv))


def swaks_prompt(kit: Kit, mode: Mode, server: Server | None) -> Prompt:
    raise Skip("swaks has no interactive prompt")


# -- openssl s_client ------------------------------------------------------------------

def _s_client(server: Server, mode: Mode) -> list[str]:
    if mode == "plain":
        raise Skip("s_client speaks only TLS")
    argv = ["openssl", "s_client", "-connect", f"{server.host}:{port_for(server, mode)}",
            "-CAfile", str(server.cafile), "-verify_return_error", "-verify_ip", server.host]
    if mode == "starttls":
        argv += ["-starttls", "smtp", "-name", EHLO_NAME]
    return argv


def s_client_session(kit: Kit, flow: Flow, server: Server) -> Command:
    """s_client writes what it reads as it reads it, without waiting for replies: for
    more than one command that is pipelining, whatever the server advertised."""
    stdin = kit.stream(f"{flow.key()}-{server.name}.s_client",
                       wire_input(flow, server.account))
    return Command((*_s_client(server, flow.mode), "-quiet"), stdin, expect=b"221")


def s_client_prompt(kit: Kit, mode: Mode, server: Server | None) -> Prompt:
    if server is None:
        raise Skip("s_client has no practice server of its own")
    return Prompt(tuple(_s_client(server, mode)), S_CLIENT_READY)


# -- the tools ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Tool:
    name: str
    program: str | None  # what must be on PATH (None: the target's own)
    session: Callable[[Kit, Flow, Server], Command]
    prompt: Callable[[Kit, Mode, Server | None], Prompt]
    note: str = ""  # what the table should say about how it was driven

    def missing(self) -> str | None:
        if self.program is None or shutil.which(self.program):
            return None
        return f"{self.name}: not installed (apt-get install {self.program})"


SMTPSHELL = Tool("smtpshell", None, smtpshell_session, smtpshell_prompt)
SMTPLIB = Tool("smtplib", None, smtplib_session, smtplib_prompt)
TOOLS = (SMTPSHELL, SMTPLIB, Tool("swaks", "swaks", swaks_session, swaks_prompt),
         Tool("s_client", "openssl", s_client_session, s_client_prompt, S_CLIENT_NOTE))
