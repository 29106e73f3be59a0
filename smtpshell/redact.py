"""What counts as a secret, and secrets out of everything written down or shown.

Owns the one rule for secrets: `is_secret` (may this line be written down?),
`wire_secrets` (the password or token a line sent carries), `secret_forms`
(a secret and every base64 form it can take inside a longer base64 string),
`carries` (does a line hold any of them, plainly or inside its base64),
`redact` and `redact_command` (replace them with ********) and `sent_lines`.
Must not: keep secrets itself (SessionState holds the set) or do I/O.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable

from .protocol import Command, b64_text

__all__ = ["MASK", "carries", "is_secret", "redact", "redact_command", "secret_forms",
           "sent_lines", "wire_secrets"]

MASK = "********"
MIN_FORM = 4  # shorter fragments would mask ordinary words
# an AUTH line with a response, wherever it stands (typed, pipelined after ';', raw)
_AUTH_LINE = re.compile(r"(^|[\s;:>])AUTH\s+\S+\s+\S", re.IGNORECASE)


def is_secret(line: str, auth_dialog: bool, secrets: Iterable[str]) -> bool:
    """A line that must never reach history or a transcript unredacted: an AUTH line
    with a response (wherever it stands: typed, pipelined, raw), an answer to a 334, or
    anything holding a secret seen. `AUTH LOGIN` alone carries none."""
    return auth_dialog or bool(_AUTH_LINE.search(line)) or any(form in line
                                                                for form in secrets)


def wire_secrets(command: Command, mechanism: str, challenge: str | None) -> set[str]:
    """The forms of the password or token a secret line carries. A user name is no
    secret: the answer to a 'Username:' challenge, or AUTH LOGIN's initial response,
    is masked as a line but not hunted for elsewhere (it is in MAIL FROM too)."""
    if not command.secret:
        return set()
    words = command.line.split()
    if command.verb == "AUTH":
        if len(words) <= 2 or mechanism == "LOGIN":
            return set()
        payload = words[2]
    elif challenge is not None and _asks_for_user(challenge):
        return set()
    else:
        payload = command.line.strip()
    decoded = b64_text(payload)
    found = {payload, *_credential(mechanism, decoded)} if decoded is not None else {payload}
    return {form for secret in found if secret for form in secret_forms(secret)}


def _asks_for_user(challenge: str) -> bool:
    text = challenge.lower()
    return "user" in text and "pass" not in text


def _credential(mechanism: str, decoded: str) -> list[str]:
    """The secret part of a decoded response."""
    if mechanism == "PLAIN":  # authzid NUL user NUL password (RFC 4616)
        parts = decoded.split("\0")
        return parts[2:] if len(parts) == 3 else [decoded]
    if mechanism in ("XOAUTH2", "OAUTHBEARER"):  # user=… ^A auth=Bearer TOKEN ^A ^A
        return [f.split(" ", 1)[-1] for f in decoded.split("\x01") if f.startswith("auth=")]
    return [decoded]


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


def carries(line: str, forms: Iterable[str]) -> bool:
    """Does the line hold one of these forms, as it stands or inside its last word's
    base64 (an AUTH response)?"""
    forms = list(forms)
    decoded = b64_text(line.split()[-1]) if line.split() else None
    return any(form in line or (decoded is not None and form in decoded) for form in forms)


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
