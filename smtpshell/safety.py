"""Safe-mode policy: may this line leave the shell, and is it a secret?

Owns: `check_command` and `check_text` (-> Verdict: send, refuse, confirm)
and `is_secret`. Rules that hold whatever the mode (no second STARTTLS) are
applied first; the rest only while `state.safe` is on.
Must not: do I/O, send anything, or change state.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from .knowledge import EXTENSIONS, SCLIENT_TRAPS, Param
from .protocol import Capabilities
from .session import Phase, SessionState

__all__ = [
    "COMMAND_LIMIT",
    "SEND",
    "TEXT_LIMIT",
    "Verdict",
    "check_argument",
    "check_command",
    "check_params",
    "check_text",
    "control_problem",
    "is_secret",
]

COMMAND_LIMIT = 512  # octets with CRLF, RFC 5321 §4.5.3.1.4
AUTH_LIMIT = 12288  # RFC 4954 §4: AUTH lines may be longer
TEXT_LIMIT = 1000  # octets with CRLF, RFC 5321 §4.5.3.1.6


@dataclass(frozen=True)
class Verdict:
    """What to do with a line. `reason` with `send` is a warning to show."""

    action: Literal["send", "refuse", "confirm"]
    reason: str = ""
    hint: str = ""


SEND = Verdict("send")


def control_problem(text: str) -> str | None:
    """Name the first CR, LF, NUL or other control character in `text`, if any."""
    for ch in text:
        if ch == "\r":
            return "a bare CR"
        if ch == "\n":
            return "a bare LF"
        if ch == "\0":
            return "a NUL byte"
        if (ord(ch) < 0x20 and ch != "\t") or ord(ch) == 0x7F:
            return f"the control character U+{ord(ch):04X}"
    return None


def check_command(line: str, state: SessionState, order: bool = True) -> Verdict:
    """A raw command line. `order=False` skips the order hints (:pipeline judges a
    group before any of its replies has moved the state)."""
    verb = line.split(" ", 1)[0].upper()
    if verb == "STARTTLS" and state.tls is not None:
        return Verdict("refuse", "This connection is already TLS; a second STARTTLS is never "
                       "sent (RFC 3207 §4.2).")
    if not state.safe:
        return SEND
    for rule in (_sclient_trap, _line_shape, _order) if order else (_sclient_trap, _line_shape):
        verdict = rule(line, verb, state)
        if verdict is not None:
            return verdict
    return SEND


def check_text(line: str, state: SessionState) -> Verdict:
    """A line of message text in DATA mode."""
    if not state.safe:
        return SEND
    problem = control_problem(line)
    if problem:
        return Verdict("refuse", f"Not sent: the line holds {problem}, which could end or "
                       "split the message on the server (SMTP smuggling).")
    size = len(line.encode("utf-8")) + 2 + line.startswith(".")
    if size > TEXT_LIMIT:
        return Verdict("refuse", f"Not sent: the line is {size} octets; RFC 5321 §4.5.3.1.6 "
                       f"allows {TEXT_LIMIT} with CRLF.", "wrap the line, or encode the body")
    caps = state.capabilities
    if not line.isascii() and (caps is None or "8BITMIME" not in caps):
        return Verdict("send", "Warning: 8-bit text, but the server did not advertise "
                       "8BITMIME (RFC 6152); it may reject or mangle it.")
    return SEND


def check_argument(text: str, what: str) -> Verdict:
    """Helper arguments: a control character refuses the line whatever the mode."""
    problem = control_problem(text)
    if problem:
        return Verdict("refuse", f"Not sent: {what} holds {problem}; nothing was written.",
                       "use :raw with :safe off to send such bytes on purpose")
    return SEND


def check_params(command: str, params: Sequence[str], state: SessionState) -> Verdict:
    """MAIL/RCPT parameters against the extensions the server advertised."""
    if not state.safe:
        return SEND
    caps = state.capabilities or Capabilities()
    for word in params:
        key, eq, value = word.partition("=")
        defined = [(p, e) for e in EXTENSIONS.values() for p in e.params
                   if p.name == key.upper() and p.command == command]
        if not defined:
            return Verdict("refuse", f"Not sent: no SMTP extension defines a {command} "
                           f"parameter {key.upper()}.", "see :caps for what the server offers")
        offered = [p for p, e in defined if e.keyword in caps]
        if not offered:
            needs = " or ".join(e.keyword for _, e in defined)
            return Verdict("refuse", f"Not sent: {key.upper()} needs the {needs} extension, "
                           "which the server did not advertise.", ":safe off sends it anyway")
        problem = _param_problem(offered, bool(eq), value, caps)
        if problem:
            return Verdict("refuse", f"Not sent: {key.upper()}: {problem}.")
    return SEND


def _param_problem(offered: list[Param], has_value: bool, value: str,
                   caps: Capabilities) -> str | None:
    shape = offered[0].shape
    allowed = [v for p in offered for v in p.values]
    if shape == "none":
        return "takes no value" if has_value else None
    if not has_value or not value:
        return "needs a value"
    if shape == "number":
        if not value.isdigit():
            return f"{value!r} is not a number"
        if offered[0].name == "SIZE" and caps.size and int(value) > caps.size:
            return f"{value} is more than the server's SIZE limit of {caps.size}"
    words = value.upper().split(",") if shape == "list" else [value.upper()]
    bad = [w for w in words if allowed and w not in allowed]
    if bad:
        return f"{','.join(bad)} is not one of {', '.join(allowed)}"
    if offered[0].name == "NOTIFY" and "NEVER" in words and len(words) > 1:
        return "NEVER cannot be combined with other values (RFC 3461 §4.1)"
    return None


_AUTH_LINE = re.compile(r"(^|[\s;:>])AUTH\s+\S+\s+\S", re.IGNORECASE)


def is_secret(line: str, state: SessionState) -> bool:
    """A line that must never reach history or a transcript unredacted: an AUTH line
    (wherever it stands: typed, pipelined, raw), an answer to a 334, or anything
    holding a secret already seen."""
    if state.auth_dialog or line.strip().split(" ", 1)[0].upper() == "AUTH":
        return True
    if _AUTH_LINE.search(line):
        return True
    return any(form in line for form in state.secrets)


def _sclient_trap(line: str, verb: str, state: SessionState) -> Verdict | None:
    trap = SCLIENT_TRAPS.get(line.strip())
    if trap is None:
        return None
    action, instead = trap
    return Verdict("refuse", f"Not sent: in openssl s_client a line holding only "
                   f"{line.strip()!r} would {action}; here it would go to the server as a "
                   "command.", f"type {instead}")


def _line_shape(line: str, verb: str, state: SessionState) -> Verdict | None:
    problem = control_problem(line)
    if problem:
        return Verdict("refuse", f"Not sent: the line holds {problem}; only whole lines ended "
                       "by CRLF leave the shell.", "use :raw with :safe off to send such bytes")
    size = len(line.encode("utf-8")) + 2
    limit = AUTH_LIMIT if verb == "AUTH" else COMMAND_LIMIT
    if size > limit:
        return Verdict("refuse", f"Not sent: the line is {size} octets; RFC 5321 §4.5.3.1.4 "
                       f"allows {limit} with CRLF.")
    caps = state.capabilities
    if not line.isascii() and (caps is None or "SMTPUTF8" not in caps):
        return Verdict("refuse", "Not sent: non-ASCII text in a command needs the SMTPUTF8 "
                       "extension (RFC 6531), and the server did not advertise it.")
    return None


def _order(line: str, verb: str, state: SessionState) -> Verdict | None:
    reason = _order_problem(line, verb, state)
    return Verdict("confirm", reason) if reason else None


def _mechanism(line: str) -> str | None:
    words = line.split()
    return words[1].upper() if len(words) > 1 else None


def _order_problem(line: str, verb: str, state: SessionState) -> str | None:
    if state.out_of_step and verb != "QUIT":
        return ("The session is out of step: a reply you stopped waiting for has not come, so "
                "the next reply may be that one (:resync or :reconnect first).")
    if state.closing and verb != "QUIT":
        return "The server said it is closing the connection (421/221); it will not act on this."
    if verb == "AUTH" and state.tls is None:
        return ("AUTH on a connection without TLS: anyone on the path can read the "
                "credentials (base64 is not encryption).")
    if verb == "AUTH" and state.tls is not None and not state.tls.verified:
        return ("AUTH over TLS whose certificate was not verified: a man in the middle "
                "could read the credentials.")
    if verb == "AUTH" and state.capabilities is not None and (mechanism := _mechanism(
            line)) and mechanism not in state.capabilities.auth_mechanisms:
        offered = " ".join(state.capabilities.auth_mechanisms) or "no AUTH at all"
        return f"The server did not offer AUTH {mechanism} (it offers {offered})."
    if verb in ("AUTH", "MAIL") and not state.greeted:
        return f"{verb} before EHLO: the server does not know you yet (RFC 5321 §4.1.4)."
    if verb == "MAIL" and state.phase is not Phase.IDLE:
        return "A transaction is already open; MAIL now is an error (RSET first)."
    if verb == "RCPT" and state.phase not in (Phase.MAIL, Phase.RCPT):
        return "RCPT before MAIL: there is no transaction to add a recipient to."
    if verb in ("DATA", "BDAT") and state.phase is not Phase.RCPT:
        return f"{verb} before any accepted RCPT: the server will refuse it (503)."
    return None
