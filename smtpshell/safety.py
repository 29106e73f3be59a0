"""Safe-mode policy: may this line leave the shell?

Owns: `check_command`, `check_answer` and `check_text` (-> Verdict: send,
refuse, confirm), and the one line-length rule (`command_limit`,
`text_line_problem`) that typed lines, helpers and message files all obey.
Rules that hold whatever the mode (no second STARTTLS) are applied first;
the rest only while `state.safe` is on.
Must not: do I/O, send anything, or change state.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from typing import Literal, NamedTuple

from .knowledge import AUTH_RESPONSE_LINE, COMMAND_LINE, EXTENSIONS, SCLIENT_TRAPS, TEXT_LINE, Param
from .protocol import Capabilities
from .session import Phase, SessionState

__all__ = [
    "SEND",
    "Verdict",
    "check_answer",
    "check_argument",
    "check_command",
    "check_params",
    "check_text",
    "command_limit",
    "control_problem",
    "text_line_problem",
]


class Verdict(NamedTuple):
    """What to do with a line. `reason` with `send` is a warning to show."""

    action: Literal["send", "refuse", "confirm"]
    reason: str = ""
    hint: str = ""


SEND = Verdict("send")


def helper_needs(helper: str, extension: str, state: SessionState, would: str,
                 instead: str) -> Verdict:
    """A helper that only makes sense where the server advertised `extension`."""
    caps = state.capabilities
    if not state.safe or (caps is not None and extension in caps):
        return SEND
    return Verdict("refuse", f"Not sent: the server did not advertise {extension}, so "
                   f"{helper} {would}.", f"{instead}, or :safe off")


def raw_bytes(state: SessionState) -> Verdict:
    """:raw sends what the safe mode exists to stop: only with it off."""
    if not state.safe:
        return SEND
    return Verdict("refuse", "Not sent: :raw sends bytes the safe mode exists to stop.",
                   "turn it off first with :safe off (for testing your own server)")


def message_bytes(data: bytes, state: SessionState) -> Verdict:
    """A composed message (:send) is checked whole before it goes."""
    if b"\0" in data and state.safe:
        return Verdict("refuse", "Not sent: the message holds NUL bytes; a server that drops "
                       "them can find an end of data inside it (SMTP smuggling).",
                       ":safe off sends it")
    return SEND


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


# -- line lengths: one rule for every line that leaves ---------------------------


def command_limit(line: str) -> tuple[int, str]:
    """The octets (with CRLF) this command line may take, and where that comes from:
    512 (RFC 5321), plus the room MAIL and RCPT parameters add (AUTH= 500, …)."""
    limit, source = COMMAND_LINE
    verb = line.split(" ", 1)[0].upper()
    if verb not in ("MAIL", "RCPT"):
        return limit, source
    used = {word.split("=", 1)[0].upper() for word in line.split()[2:]}
    rooms: dict[str, tuple[int, str, str]] = {}
    for ext in EXTENSIONS.values():
        for param in ext.params:
            if param.command == verb and param.name in used and param.room[0]:
                best = rooms.get(ext.keyword)
                if best is None or best[0] < param.room[0]:
                    rooms[ext.keyword] = (param.room[0], param.room[1], param.name)
    for room, where, name in rooms.values():
        limit += room
        source += f", +{room} for {name}= ({where})"
    return limit, source


def text_line_problem(octets: int) -> str | None:
    """A line of message text of `octets` without its CRLF, as the user wrote it: the
    dot added for transparency does not count (RFC 5321 §4.5.3.1.6)."""
    limit, source = TEXT_LINE
    if octets + 2 > limit:
        return f"{octets + 2} octets with its CRLF, over the {limit} that {source} allows"
    return None


def _too_long(line: str, limit: tuple[int, str], what: str) -> Verdict | None:
    size = len(line.encode("utf-8")) + 2
    if size <= limit[0]:
        return None
    return Verdict("refuse", f"Not sent: {what} is {size} octets with CRLF; the limit is "
                   f"{limit[0]} ({limit[1]}).")


# -- verdicts -----------------------------------------------------------------


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


def check_answer(line: str, state: SessionState) -> Verdict:
    """An answer to a 334: base64 (or '*'), on one line of at most 12,288 octets."""
    if not state.safe:
        return SEND
    problem = control_problem(line)
    if problem:
        return Verdict("refuse", f"Not sent: the answer holds {problem}.")
    return _too_long(line, AUTH_RESPONSE_LINE, "the answer") or SEND


def check_text(line: str, state: SessionState, helpers: Container[str] = ()) -> Verdict:
    """A line of message text in DATA mode."""
    if not state.safe:
        return SEND
    problem = control_problem(line)
    if problem:
        return Verdict("refuse", f"Not sent: the line holds {problem}, which could end or "
                       "split the message on the server (SMTP smuggling).")
    too_long = text_line_problem(len(line.encode("utf-8")))
    if too_long:
        return Verdict("refuse", f"Not sent: the line is {too_long}.",
                       "wrap the line, or encode the body")
    looks = _looks_like_a_command(line, helpers)
    if looks:
        return Verdict("confirm", f"In DATA mode every line is message text: {looks!r} would "
                       "go into the message, not act as a command. :abort abandons the "
                       "message; '.' alone ends it. Send it as text?")
    caps = state.capabilities
    if not line.isascii() and (caps is None or "8BITMIME" not in caps):
        return Verdict("send", "Warning: 8-bit text, but the server did not advertise "
                       "8BITMIME (RFC 6152); it may reject or mangle it.")
    return SEND


def _looks_like_a_command(line: str, helpers: Container[str]) -> str | None:
    word = line.strip().split(" ", 1)[0]
    if word.startswith(":") and word[1:].lower() in helpers:
        return word
    if line.strip().upper() in ("RSET", "QUIT"):
        return line.strip()
    return None


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
    too_long = _too_long(line, command_limit(line), "the line")
    if too_long is not None and verb == "AUTH":
        return Verdict("refuse", too_long.reason, f"send AUTH {_mechanism(line) or 'MECH'} "
                       "alone; after the 334, the response may take up to "
                       f"{AUTH_RESPONSE_LINE[0]:,} octets ({AUTH_RESPONSE_LINE[1]}); the AUTH "
                       "helpers do this for you")
    if too_long is not None:
        return too_long
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
    return _auth_problem(line, verb, state) or _transaction_problem(verb, state)


def _auth_problem(line: str, verb: str, state: SessionState) -> str | None:
    if verb != "AUTH":
        return None
    if state.tls is None:
        return ("AUTH on a connection without TLS: anyone on the path can read the "
                "credentials (base64 is not encryption).")
    if not state.tls.verified:
        return ("AUTH over TLS whose certificate was not verified: a man in the middle "
                "could read the credentials.")
    mechanism = _mechanism(line)
    if state.capabilities is not None and mechanism and \
            mechanism not in state.capabilities.auth_mechanisms:
        offered = " ".join(state.capabilities.auth_mechanisms) or "no AUTH at all"
        return f"The server did not offer AUTH {mechanism} (it offers {offered})."
    return None


def _transaction_problem(verb: str, state: SessionState) -> str | None:
    if verb in ("AUTH", "MAIL") and not state.greeted:
        return f"{verb} before EHLO: the server does not know you yet (RFC 5321 §4.1.4)."
    if verb == "MAIL" and state.phase is not Phase.IDLE:
        return "A transaction is already open; MAIL now is an error (RSET first)."
    if verb == "RCPT" and state.phase not in (Phase.MAIL, Phase.RCPT):
        return "RCPT before MAIL: there is no transaction to add a recipient to."
    if verb == "DATA" and state.machine.body == "BINARYMIME":
        return "BODY=BINARYMIME must be sent with BDAT, not DATA (RFC 3030 §3)."
    if verb == "DATA" and state.phase is not Phase.RCPT:
        return "DATA before any accepted RCPT: the server will refuse it (503)."
    if verb == "BDAT" and state.phase not in (Phase.RCPT, Phase.BDAT):
        return "BDAT before any accepted RCPT: the server will refuse it (503)."
    return None
