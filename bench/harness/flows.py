"""The sessions the tasks time, as the same SMTP lines for every tool.

A `Flow` says what one connection does: how it secures itself, whether it
authenticates, how many messages it sends and which. From it come smtpshell's
script and the bytes s_client reads; smtplib_peer.py and swaks are given the same
facts as arguments and send the same lines (smtplib's `mail`/`rcpt`/`data`, no
SIZE= parameter; swaks' `--data @FILE`).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Mode = Literal["plain", "starttls", "tls"]

EHLO_NAME = "bench.example"
# No line starts with '.', and no CRLF at the end: each tool ends the text with
# CRLF . CRLF, so every tool puts the same bytes on the wire (swaks adds the final
# CRLF itself, and a file ending in one would give it an empty last line).
SMALL_MESSAGE = (b"From: <a@bench.example>\r\nTo: <b@bench.example>\r\nSubject: bench\r\n"
                 b"\r\nhello from bench/run")
LINE = b"The quick brown fox jumps over the lazy dog, 0123456789 times over.\r\n"


@dataclass(frozen=True)
class Account:
    """Who the session is, on a given server."""

    user: str
    password: str
    sender: str
    recipient: str

    def auth_plain(self) -> str:
        """The AUTH PLAIN initial response, as every tool sends it."""
        return base64.b64encode(f"\0{self.user}\0{self.password}".encode()).decode()


@dataclass(frozen=True)
class Flow:
    """One connection: EHLO in `mode`, AUTH PLAIN if `auth`, `messages` messages, QUIT.
    The message is SMALL_MESSAGE, or the file `body`."""

    mode: Mode
    auth: bool = False
    messages: int = 0
    body: Path | None = None

    def key(self) -> str:
        """A name for the files made for this flow."""
        body = f"-{self.body.stem}" if self.body else ""
        return f"{self.mode}{'-auth' if self.auth else ''}-{self.messages}{body}"


def envelope(flow: Flow, account: Account) -> list[str]:
    """The commands after EHLO and before the first message's text."""
    return [f"AUTH PLAIN {account.auth_plain()}"] if flow.auth else []


def smtpshell_script(flow: Flow, account: Account) -> str:
    """smtpshell's --script: EHLO comes from --ehlo (before and after STARTTLS)."""
    lines = envelope(flow, account)
    text = SMALL_MESSAGE.decode().split("\r\n")
    for _ in range(flow.messages):
        lines += [f"MAIL FROM:<{account.sender}>", f"RCPT TO:<{account.recipient}>"]
        lines += [f":data {flow.body}"] if flow.body else ["DATA", *text, "."]
    return "\n".join([*lines, "QUIT"]) + "\n"


def wire_input(flow: Flow, account: Account) -> Iterator[bytes]:
    """What s_client reads on standard input, CRLF already (no -crlf), in pieces."""
    head = [f"EHLO {EHLO_NAME}", *envelope(flow, account)]
    yield "".join(f"{line}\r\n" for line in head).encode()
    for _ in range(flow.messages):
        yield f"MAIL FROM:<{account.sender}>\r\nRCPT TO:<{account.recipient}>\r\nDATA\r\n".encode()
        if flow.body:
            with flow.body.open("rb") as source:
                while block := source.read(1 << 20):
                    yield block
        else:
            yield SMALL_MESSAGE
        yield b"\r\n.\r\n"
    yield b"QUIT\r\n"


def make_message(path: Path, megabytes: int) -> Path:
    """A message of about `megabytes` MB: short headers, then 71-octet lines."""
    if path.exists() and path.stat().st_size >= megabytes * 1_000_000:
        return path
    block = LINE * 1000
    with path.open("wb") as handle:
        handle.write(b"From: <a@bench.example>\r\nTo: <b@bench.example>\r\n"
                     b"Subject: bench, large\r\n\r\n")
        for _ in range(megabytes * 1_000_000 // len(block)):
            handle.write(block)
        handle.write(b"the end")
    return path
