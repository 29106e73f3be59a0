"""What the user sees, as fragments: the one style table and pure formatters.

Owns: `STYLE` (every style class, once), `styled`, formatters for replies,
sent lines, notes, errors, the prompt and the toolbar, `inert` (server text
made harmless to a terminal), and `Screen`, the traffic listener that shows
replies. Fragments are `(style, text)` pairs; the shell hands them to
prompt_toolkit, scripts print their text.
Must not: import prompt_toolkit, do I/O itself (it writes through a sink), or
change state.
"""

from __future__ import annotations

import functools
import re
import textwrap
from collections.abc import Callable
from typing import TYPE_CHECKING

from .errors import SmtpShellError
from .knowledge import EXTENSIONS, NON_SMTP_BANNERS
from .protocol import Capabilities, Command, Reply, b64_text
from .redact import carries, redact, sent_lines
from .session import Phase, SessionState, TlsInfo
from .traffic import Listener

if TYPE_CHECKING:
    from . import codes
    from .machine import Closed
    from .tls import CertSummary

__all__ = [
    "STYLE",
    "Fragments",
    "Screen",
    "Sink",
    "ansi",
    "banner_kind",
    "column_lines",
    "explain_line",
    "format_caps",
    "format_cert",
    "format_error",
    "format_explain",
    "format_hint",
    "format_note",
    "format_reply",
    "format_sent",
    "format_tls",
    "human_bytes",
    "inert",
    "plain",
    "prompt_text",
    "styled",
    "toolbar",
    "wrap",
]

Fragments = list[tuple[str, str]]
SHOWN = 1000  # characters of one reply line on screen (the transcript keeps them all)
Sink = Callable[[Fragments], None]

STYLE: dict[str, str] = {
    "reply.2": "ansigreen",
    "reply.3": "ansicyan",
    "reply.4": "ansiyellow",
    "reply.5": "ansired",
    "reply.0": "ansimagenta",
    "reply.enhanced": "bold",
    "reply.decoded": "ansicyan italic",
    "reply.problem": "ansimagenta",
    "sent": "ansibrightblack",
    "note": "",
    "warning": "ansiyellow",
    "error": "ansired bold",
    "hint": "ansibrightblack italic",
    "prompt.peer": "ansiblue bold",
    "prompt.tls": "ansigreen",
    "prompt.plain": "ansiyellow",
    "prompt.data": "ansimagenta bold",
    "prompt.closed": "ansired",
    "toolbar": "noreverse bg:#303030 #d0d0d0",
    "toolbar.key": "bg:#303030 #808080",
    "toolbar.bad": "bg:#303030 ansired",
    "toolbar.lesson": "bg:#303030 ansicyan",
    "lesson": "ansicyan",
    "explain": "ansibrightblack",
    # what the lexers produce (prompt_toolkit names Pygments tokens pygments.*)
    "pygments.keyword": "ansiblue bold",
    "pygments.keyword.type": "ansiblue",
    "pygments.keyword.pseudo": "ansicyan",
    "pygments.name.function": "ansimagenta bold",
    "pygments.name.variable": "ansicyan",
    "pygments.name.attribute": "ansiyellow",
    "pygments.name.tag": "ansiblue bold",
    "pygments.operator": "",
    "pygments.punctuation": "",
    "pygments.literal.string": "ansigreen",
    "pygments.literal.number": "bold",
    "pygments.text": "",
    "pygments.comment": "ansibrightblack",
    "pygments.generic.inserted": "ansigreen",
    "pygments.generic.subheading": "ansicyan",
    "pygments.generic.emph": "ansiyellow",
    "pygments.generic.error": "ansired",
    "pygments.generic.traceback": "ansimagenta",
    "pygments.generic.prompt": "ansiblue bold",
    "pygments.generic.output": "ansigreen",
    "pygments.generic.strong": "bold",
}

# C0 and C1 controls, DEL, and the Unicode bidi and invisible format characters:
# a server may not move the cursor, recolour the screen or reorder text.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069"
                     "\u061c\ufeff]")


def styled(name: str, text: str) -> tuple[str, str]:
    return ("class:" + name, text)


def plain(fragments: Fragments) -> str:
    return "".join(text for _, text in fragments)


_SGR = {"bold": "1", "italic": "3", "underline": "4"} | {
    f"ansi{bright}{name}": str(base + index)
    for bright, base in (("", 30), ("bright", 90))
    for index, name in enumerate(("black", "red", "green", "yellow", "blue", "magenta", "cyan",
                                  "white"))} | {"ansigray": "37"}


@functools.cache
def _sgr(style: str) -> str:
    """The ANSI SGR sequence for a fragment's style classes, from STYLE (colours and
    weight only: backgrounds are the toolbar's, which a script has not)."""
    codes = [_SGR[word] for name in style.split() if name.startswith("class:")
             for word in STYLE.get(name[6:], "").split() if word in _SGR]
    return f"\x1b[{';'.join(codes)}m" if codes else ""


def ansi(fragments: Fragments) -> str:
    """Fragments as ANSI-coloured text, for output that is not prompt_toolkit's (a
    script's in a terminal, or with FORCE_COLOR)."""
    out = []
    for style, text in fragments:
        sgr, body = _sgr(style), text.rstrip("\n")
        out.append(f"{sgr}{body}\x1b[0m{text[len(body):]}" if sgr and body else text)
    return "".join(out)


def inert(text: str) -> str:
    """Server text with every control and bidi character shown escaped."""
    return _UNSAFE.sub(lambda m: _escape(m.group()), text)


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def format_reply(reply: Reply, command: Command | None = None, late: bool = False) -> Fragments:
    """A reply as the user sees it: coloured by class, enhanced code set apart,
    334 challenges decoded, problems named below it."""
    out: Fragments = []
    if command is None and reply.code is not None:
        out.append(styled("warning", "* unsolicited reply (no command was waiting):\n"))
    elif late:
        out.append(styled("warning", f"* late reply to {command_name(command)}:\n"))
    klass = f"reply.{reply.klass}"
    enhanced = reply.enhanced
    for index, full in enumerate(reply.lines):
        line = full if len(full) <= SHOWN else \
            f"{full[:SHOWN]}… ({len(full) - SHOWN} more characters)"
        if reply.code is None:
            out.append(styled(klass, "S: " + inert(line)))
        elif index == 0 and enhanced:
            head, rest = line[:4], line[4 + len(enhanced):]
            out += [styled(klass, inert(head)), styled("reply.enhanced", enhanced),
                    styled(klass, inert(rest))]
        else:
            out.append(styled(klass, inert(line)))
        if reply.code == 334:
            out += _decoded(reply.texts[index])
        out.append(("", "\n"))
    for problem in reply.problems:
        out.append(styled("reply.problem", f"! server: {problem}\n"))
    if reply.fault and reply.code is not None:
        out.append(styled("reply.problem", f"! {reply.fault}: it counts as a failure\n"))
    kind = banner_kind(reply)
    if kind:
        out.append(styled("reply.problem", f"! this looks like {kind}, not an SMTP server\n"))
    return out


def banner_kind(reply: Reply) -> str | None:
    """What another protocol's text says it is ('an SSH server'), for a reply with no code."""
    first = reply.lines[0] if reply.lines and reply.code is None else ""
    return next((kind for prefix, kind in NON_SMTP_BANNERS.items()
                 if first.upper().startswith(prefix.upper())), None)


_PSEUDO = {"greeting": "the greeting", "data-end": "the end of the message (the final '.')",
           "auth-answer": "an AUTH answer", "raw": "the :raw bytes"}


def command_name(command: Command | None) -> str:
    """A command as a person names it: 'MAIL FROM:<a@b>', 'the end of the message'."""
    if command is None:
        return "the greeting"
    if command.kind in _PSEUDO:
        return _PSEUDO[command.kind]
    return command.verb if command.secret else command.line


def _decoded(text: str) -> Fragments:
    decoded = b64_text(text)
    return [] if decoded is None else [styled("reply.decoded", f'  ← "{inert(decoded)}"')]


def format_sent(command: Command | None, data: bytes, secrets: set[str] | None) -> Fragments:
    """A line the shell sent on the user's behalf (helpers, scripts); with `secrets`
    (scripts, whose output ends up in logs) the secrets are masked."""
    return [styled("sent", "".join(f"-> {inert(line)}\n"
                                   for line in sent_lines(command, data, secrets)))]


def human_bytes(count: float) -> str:
    """1536 -> '1.5 KB': sizes in the units a person reads (powers of 1000, as disks)."""
    if count < 1000:
        return f"{count:.0f} bytes"
    for unit in ("KB", "MB"):
        count /= 1000
        if count < 1000:
            return f"{count:.1f} {unit}"
    return f"{count / 1000:.1f} GB"


def format_note(text: str, kind: str = "note", width: int | None = None) -> Fragments:
    """The shell's own words: always start with '* ' or '! ', which no reply line does;
    with `width`, wrapped to it at word boundaries."""
    mark = "! " if kind in ("warning", "error") else "* "
    return [styled(kind, wrap(mark + text, width) + "\n")]


_LABEL = re.compile(r"^\s*[^\s:][^:]{0,24}:\s+(?=\S)")  # "  next: ", "TLS:        "
MIN_WRAP = 30  # narrower than this, wrapping helps nobody


def wrap(text: str, width: int | None) -> str:
    """Each line that is too long broken at word boundaries, continuing under where its
    text starts: after a 'label:' column, else under the line's own indent (the first
    line of a note, after its '* ')."""
    if not width or width < MIN_WRAP:
        return text
    out = []
    for line in text.split("\n"):
        if len(line) <= width:
            out.append(line)
            continue
        label = _LABEL.match(line)
        lead = len(line) - len(line.lstrip(" "))
        indent = label.end() if label and label.end() < width // 2 else lead or 2
        out += _wrapped(line, width, " " * indent) or [line]
    return "\n".join(out)


# spaces a line is never broken at: "RFC 2920", "§ 4", "33.6 MB"
_JOINED = re.compile(r"(?<=RFC) (?=\d)|(?<=§) (?=\d)|(?<=\d) (?=§)"
                     r"|(?<=\d) (?=(?:bytes|KB|MB|GB)\b)")
_GLUE = "\ue000"  # a private-use character: stands for such a space while wrapping


def _wrapped(text: str, width: int, indent: str = "") -> list[str]:
    lines = textwrap.wrap(_JOINED.sub(_GLUE, text), width, subsequent_indent=indent,
                          break_on_hyphens=False)
    return [line.replace(_GLUE, " ") for line in lines]


def column_lines(rows: list[tuple[str, str]], key_width: int, width: int | None) -> list[str]:
    """Two aligned columns: a key, and its text wrapped under the text column. A key
    wider than its column gets a line of its own when there is a width to keep."""
    at = 2 + key_width + 1
    out = []
    for key, text in rows:
        if not width or width < at + MIN_WRAP // 2:
            out.append(f"  {key:<{key_width}} {text}")
            continue
        body = _wrapped(text, width - at) or [""]
        if len(key) > key_width:
            out += wrap(f"  {key}", width).split("\n")
            first = " " * at
        else:
            first = f"  {key:<{key_width}} "
        out += [first + body[0], *(" " * at + more for more in body[1:])]
    return out


def format_hint(hint: str) -> Fragments:
    return [styled("hint", f"  hint: {hint}\n")]


def format_error(err: SmtpShellError) -> Fragments:
    return format_note(f"{err}.", "error") + (format_hint(err.hint) if err.hint else [])


def prompt_text(state: SessionState) -> Fragments:
    """`mail.example.com:587 tls1.3> `, `data> ` in DATA mode."""
    if state.phase is Phase.DATA:
        return [styled("prompt.data", "data> ")]
    if state.auth_dialog and state.connected:  # the next line answers the server's 334
        return [styled("prompt.data", "auth> ")]
    if state.peer is None:
        return [styled("prompt.closed", "(not connected)> ")]
    host, port = state.peer
    peer = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if not state.connected:
        return [styled("prompt.closed", f"{peer} closed> ")]
    layer = (styled("prompt.tls", state.tls.short) if state.tls
             else styled("prompt.plain", "plain"))
    return [styled("prompt.peer", peer), ("", " "), layer, ("", "> ")]


def toolbar(state: SessionState, width: int | None = None) -> Fragments:
    """Peer, TLS (from the transport), user, phase, safe mode. Narrower than it needs, it
    shortens instead of being cut: the cipher goes first, then the labels, then the peer
    is shortened from the left."""
    for level in range(3):
        out = _toolbar(state, level)
        if width is None or len(plain(out)) <= width:
            return out
    excess = len(plain(out)) - (width or 0)
    return _toolbar(state, 2, excess)


def _toolbar(state: SessionState, level: int, cut: int = 0) -> Fragments:
    key = "toolbar.key"
    out: Fragments = []

    def item(label: str, value: str, style: str = "toolbar") -> None:
        if level < 2:
            out.append(styled(key, f" {label} "))
        else:
            out.append(styled(key, " " if not out else " · "))
        out.append(styled(style, value + ("" if level == 2 else " ")))

    if state.peer and state.connected:
        peer = f"{state.peer[0]}:{state.peer[1]}"
        item("peer", "…" + peer[cut + 1:] if cut else peer)
    else:
        item("peer", "not connected", "toolbar.bad")
    tls = _tls_label(state.tls, cipher=level == 0) if state.tls else "no TLS" if level == 2 \
        else "none"
    item("tls", tls, "toolbar" if state.tls else "toolbar.bad")
    item("user", state.auth_user or "-")
    phase = state.phase.value
    if state.phase is Phase.RCPT:
        phase = f"rcpt ×{state.recipients}"
    item("phase", phase)
    item("safe", ("safe " if level == 2 else "") + ("on" if state.safe else "OFF"),
         "toolbar" if state.safe else "toolbar.bad")
    if state.out_of_step:
        item("!", "out of step", "toolbar.bad")
    if state.lesson:
        item("learn", state.lesson, "toolbar.lesson")
    return out


def _tls_label(tls: TlsInfo, cipher: bool = True) -> str:
    return tls.version + (f" {tls.cipher}" if cipher else "") + \
        ("" if tls.verified else " (unverified)")


def format_tls(tls: TlsInfo | None) -> Fragments:
    """:tls — from the transport, never from anything the server said."""
    if tls is None:
        return format_note("no TLS on this connection (:starttls upgrades it)", "warning")
    bits = f" ({tls.bits} bits)" if tls.bits else ""
    check = "passed" if tls.verified else tls.verify_error or "not verified"
    sni = tls.sni or "none (connected by address; the certificate is checked for it)"
    return format_note(f"{tls.version}, cipher {tls.cipher}{bits}\n  SNI: {sni}\n"
                       f"  certificate check: {check}")


def format_cert(cert: CertSummary, label: str, width: int | None = None) -> Fragments:
    days = cert.days_left()
    validity = (f"{cert.not_before:%Y-%m-%d} to {cert.not_after:%Y-%m-%d} "
                + (f"({days} days left)" if days >= 0 else f"(EXPIRED {-days} days ago)"))
    lines = [f"{label}: {inert(cert.subject)}",
             f"  issuer:    {inert(cert.issuer)}" + ("  (self-signed)" if cert.self_signed
                                                      else ""),
             f"  names:     {inert(', '.join(cert.sans)) or '(no subjectAltName)'}",
             f"  valid:     {validity}",
             f"  key:       {cert.key}",
             f"  signature: {cert.signature}",
             f"  SHA-256:   {cert.sha256}",
             f"  serial:    {cert.serial}"]
    return format_note("\n".join(lines), "warning" if days < 0 else "note", width)


def format_caps(caps: Capabilities, width: int | None = None) -> Fragments:
    """:caps — each extension parsed and explained in a line (like msmtp --serverinfo)."""
    rows = []
    for keyword, params in caps.extensions.items():
        known = EXTENSIONS.get(keyword)
        meaning = known.meaning if known else "not in the IANA registry (vendor-specific)"
        source = f" [{known.rfc}]" if known else ""
        rows.append((inert(" ".join((keyword, *params))),
                     f"{meaning}{_cap_detail(keyword, params, caps)}{source}"))
    lines = [f"{caps.domain} offers {len(caps.extensions)} extension(s):",
             *column_lines(rows, 32, width)]
    return format_note("\n".join(lines), width=width)


def _cap_detail(keyword: str, params: tuple[str, ...], caps: Capabilities) -> str:
    if keyword == "SIZE":
        size = caps.size
        return f": {size / 1_000_000:.1f} MB" if size else ": no fixed limit"
    if keyword == "AUTH":
        return f": {', '.join(caps.auth_mechanisms) or 'none listed'}"
    return ""


def explain_line(reply: Reply) -> Fragments:
    """One dim line under a reply (--explain): what it means, what to do next."""
    if reply.code is None:
        return []
    from . import codes  # the tables are built when a reply is first explained

    entry, detail = codes.basic(reply.code), _enhanced_entry(reply.enhanced)
    text = f"{reply.code}: {entry.meaning if entry else codes.describe_class(reply.code)}"
    step = entry.next_step if entry else ""
    if detail is not None and reply.enhanced and reply.klass == 2:
        text += f"; {reply.enhanced}: {detail.name.lower()}"  # the meanings describe failures
    elif detail is not None and reply.enhanced:
        text += f"; {reply.enhanced}: {detail.meaning}"
        step = detail.next_step
    return [styled("explain", f"  ↳ {text}" + (f" → {step}" if step else "") + "\n")]


def format_explain(code: int | None, enhanced: str | None, width: int | None = None
                   ) -> Fragments:
    """:explain [CODE] [ENHANCED] — the basic code, then the enhanced one digit by digit,
    and whether the two agree (RFC 3463 §2: the class repeats the first digit)."""
    from . import codes

    lines = []
    if code is not None:
        entry = codes.basic(code)
        lines += ([f"{code}: {entry.meaning}  [{entry.rfc}]", f"  next: {entry.next_step}"]
                  if entry is not None else
                  [f"{code}: not a code the RFCs list; {codes.describe_class(code)}"])
    if enhanced:
        lines += _explain_enhanced(enhanced)
    if code is not None and enhanced and str(code)[0] != enhanced[0]:
        lines.append(f"  they disagree: {code} is a class {str(code)[0]} reply, {enhanced} a "
                     f"class {enhanced[0]} status; RFC 3463 §2 wants the same class (the "
                     "server is wrong, or the two were copied from different replies)")
    return format_note("\n".join(lines), width=width)


def _explain_enhanced(code: str) -> list[str]:
    from . import codes

    klass, _, detail = code.partition(".")
    lines = [f"{code}:"]
    if klass.isdigit() and int(klass) in codes.CLASSES:
        lines.append(f"  class {klass}: {codes.CLASSES[int(klass)]}")
    subject = detail.split(".")[0]
    if subject.isdigit() and int(subject) in codes.SUBJECTS:
        lines.append(f"  subject {subject}: {codes.SUBJECTS[int(subject)]}")
    entry = _enhanced_entry(code)
    if entry is None:
        lines.append("  this detail is not in the IANA registry of enhanced status codes")
        return lines
    lines[0] = f"{code}: {entry.name}  [{entry.rfc}]"
    if int(klass) not in entry.classes:
        lines.append(f"  (the registry lists it for class {'/'.join(map(str, entry.classes))})")
    return [*lines, f"  means: {entry.meaning}", f"  next: {entry.next_step}"]


def _enhanced_entry(code: str | None) -> codes.EnhancedCode | None:
    """The registry entry for X.Y.Z by its subject and detail, whatever the class."""
    from . import codes

    if not code or code.count(".") != 2:
        return None
    return codes.ENHANCED_CODES.get(code.split(".", 1)[1])


class Screen(Listener):
    """Shows the traffic the user did not type: replies, TLS, closing."""

    def __init__(self, sink: Sink, state: SessionState, secrets: set[str] | None) -> None:
        self._sink = sink
        self._state = state
        self._secrets = secrets  # scripts: output ends up in CI logs, so mask these

    def on_sent(self, command: Command | None, data: bytes, echo: bool) -> None:
        if not echo:
            return
        secrets = self._secrets
        if secrets is None and command is not None and carries(command.line, self._state.hidden):
            # a password typed hidden stays hidden, in any form, whatever line carries it
            secrets, command = self._state.hidden, command._replace(secret=True)
        self._sink(format_sent(command, data, secrets))

    def on_connected(self, peer: tuple[str, int], tls: TlsInfo | None) -> None:
        host = f"[{peer[0]}]" if ":" in peer[0] else peer[0]
        self._sink(format_note(f"connected to {host}:{peer[1]}, waiting for the greeting"))
        if tls is not None:
            self.on_tls(tls)

    def on_reply(self, reply: Reply, command: Command | None, late: bool) -> None:
        if self._secrets:  # a server may echo a password back; scripts write logs
            reply = reply._replace(lines=tuple(redact(line, self._secrets)
                                               for line in reply.lines))
        self._sink(format_reply(reply, command, late)
                   + (explain_line(reply) if self._state.explain else []))

    def on_tls(self, tls: TlsInfo) -> None:
        verified = "certificate verified" if tls.verified else f"certificate {tls.verify_error}"
        self._sink(format_note(f"TLS is up: {tls.version}, {tls.cipher}, {verified}"))

    def on_closed(self, closed: Closed) -> None:
        if closed.quiet:  # we hung up as asked (QUIT, :close), or the server did after 221
            return
        kind = "note" if closed.expected else "warning"  # after 221/421: no alarm
        self._sink(format_note(f"connection closed: {closed.reason}", kind))
