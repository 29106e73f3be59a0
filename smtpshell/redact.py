"""Secrets out of everything written down: transcripts, script output.

Owns: `secret_forms` (a secret and every base64 form it can take inside a
longer base64 string), `redact` (replace them with ********) and
`redact_command` (the secret part of an AUTH line or an AUTH answer).
Must not: keep secrets itself (SessionState holds the set) or do I/O.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable

from .protocol import Command

__all__ = ["MASK", "redact", "redact_command", "secret_forms", "sent_lines"]

MASK = "********"
MIN_FORM = 4  # shorter fragments would mask ordinary words


def secret_forms(secret: str) -> set[str]:
    """The secret, and its base64 at each of the three byte alignments.

    Inside base64 of a longer string (AUTH PLAIN's blob, say), a secret's
    bytes land at offset 0, 1 or 2 of a 3-byte group; only the characters
    computed from its bytes alone are stable, so those are what we look for.
    """
    data = secret.encode("utf-8")
    forms = {secret} if len(secret) >= MIN_FORM else set()
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + data).decode()
        first = -(-8 * offset // 6)  # first character whose bits are all the secret's
        last = (8 * (offset + len(data))) // 6  # one past the last such character
        if last - first >= MIN_FORM:
            forms.add(encoded[first:last])
    return forms


def redact(text: str, secrets: Iterable[str]) -> str:
    for form in sorted(secrets, key=len, reverse=True):
        if form:
            text = text.replace(form, MASK)
    return text


def redact_command(command: Command, secrets: Iterable[str]) -> str:
    """The line as it may be written down."""
    line = command.line
    if command.secret:
        words = line.split(" ")
        if command.verb == "AUTH":
            line = " ".join(words[:2] + [MASK] * (len(words) > 2))
        else:
            line = MASK
    return redact(line, secrets)


def sent_lines(command: Command | None, data: bytes, secrets: Iterable[str] | None
               ) -> list[str]:
    """What went out, as lines to show or write down: message text split at its CRLFs,
    a command as one line (:raw bytes with their CR and LF visible); with `secrets`,
    masked."""
    if command is None:
        text = data.decode("utf-8", "backslashreplace").removesuffix("\r\n")
        return (redact(text, secrets) if secrets is not None else text).split("\r\n")
    line = redact_command(command, secrets) if secrets is not None else command.line
    return [line.replace("\r", "\\r").replace("\n", "\\n") if command.kind == "raw"
            else line]
