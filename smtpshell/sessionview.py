"""Session views: a saved transcript drawn as a Mermaid sequence diagram or one HTML page.

Owns: `parse` (the lines of a transcript, or of a hand-written RFC-style C:/S:
dialogue, read into `Entry`s: commands, whole replies, message text, typed lines,
events, comments), `to_mermaid`, `to_html` and `render_file`. Secrets stay as the
transcript masked them (********): nothing is unmasked, nothing more is masked.
Server text is made inert again, since a hand-written file may hold controls.
A transcript with no line but blanks and comments parses to no entries, and the
renderers draw an empty session for it; `render_file` refuses it (a UsageError):
pointing the command line at an empty file is a mistake worth a word.
Must not: import Pygments at module level (only `to_html` needs it; start-up cost),
do I/O outside `render_file`, or know reply meanings itself (codes.py does, through
render.explain_line).
"""

from __future__ import annotations

import html
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, cast

from .errors import UsageError
from .protocol import Command, Reply
from .render import STYLE, banner_kind, explain_line, inert, plain
from .transcript import FORMATS

__all__ = ["FORMATS", "Entry", "Kind", "parse", "render_file", "to_html", "to_mermaid"]

Kind = Literal["comment", "typed", "command", "reply", "message", "chunk", "event"]

# `2026-11-29T11:23:28.046Z plain C: EHLO me.example`, as transcript.py writes it
_STAMPED = re.compile(r"(\d{4}-\d\d-\d\dT[\d:.]+(?:Z|[+-]\d\d:?\d\d)?) +(\S+) +(.*)$")
_TAGGED = re.compile(r"([ICS]): ?(.*)$")
_EVENT = re.compile(r"\*(?:\s+(.*))?$")
_CODE = re.compile(r"([1-5]\d\d)([ -]|$)")
_BDAT = re.compile(r"BDAT\s+\d+", re.IGNORECASE)
_CONNECTED = re.compile(r"connected to (\S+?):(\d+)(?:,|$)")
_SUBJECT = re.compile(r"subject:\s*(.*)", re.IGNORECASE)
_HINT = ("a transcript line looks like '2026-01-31T12:00:00.000Z plain C: EHLO me.example'; "
         "a hand-written one like 'C: EHLO me.example' or 'S: 250 OK'")


@dataclass(frozen=True)
class Entry:
    """One thing in the session, read from one line or from several in a row.

    `texts` is the text after the tag: one for a command, a typed line, an event or a
    comment; every line of a reply; every line of message text (DATA's final '.'
    included when it was sent) or of a BDAT chunk. `raw` holds the lines as they
    stand in the file (typed lines inside message text too), `number` the line
    number of the first. `layer` is plain or tls as written; a line without one
    (RFC-style) is plain until a 220 answers STARTTLS, tls after.
    """

    kind: Kind
    texts: tuple[str, ...]
    raw: tuple[str, ...]
    number: int
    layer: str

    @property
    def text(self) -> str:
        return self.texts[0] if self.texts else ""

    def reply(self) -> Reply | None:
        """A reply entry as the protocol's Reply (code None: not an SMTP reply)."""
        if self.kind != "reply":
            return None
        coded = _CODE.match(self.text)
        return Reply(int(coded.group(1)) if coded else None, self.texts)


# -- reading -------------------------------------------------------------------------


@dataclass
class _Draft:
    kind: Kind
    number: int
    layer: str
    texts: list[str] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)

    def add(self, raw: str, text: str | None) -> None:
        self.raw.append(raw)
        if text is not None:
            self.texts.append(text)

    def entry(self) -> Entry:
        return Entry(self.kind, tuple(self.texts), tuple(self.raw), self.number, self.layer)


class _Reader:
    """What is open while a transcript is read: a reply that goes on, message text."""

    def __init__(self) -> None:
        self.drafts: list[_Draft] = []
        self.layer = "plain"
        self.reply: _Draft | None = None  # its last line was a continuation (250-…)
        self.text: _Draft | None = None  # the message text or BDAT chunk being read
        self.text_mode: Kind | None = None  # "message" after 354 to DATA, "chunk" after BDAT
        self.last_verb = ""

    def take(self, number: int, raw: str, layer: str | None, tag: str, text: str) -> None:
        self.layer = layer or self.layer
        if tag == "#":  # a comment interrupts nothing
            self._new("comment", number, raw, text)
            return
        if tag == "S":
            self._server(number, raw, text)
            return
        self.reply = None
        if tag == "*":
            self._event(number, raw, text)
        elif self.text_mode is not None:
            self._text(tag, number, raw, text)
        elif tag == "C":
            self._command(number, raw, text)
        else:
            self._new("typed", number, raw, text)

    def _new(self, kind: Kind, number: int, raw: str, text: str | None) -> _Draft:
        draft = _Draft(kind, number, self.layer)
        draft.add(raw, text)
        self.drafts.append(draft)
        return draft

    def _server(self, number: int, raw: str, text: str) -> None:
        self.text_mode = self.text = None  # message text ends at any reply
        if self.reply is None:
            self.reply = self._new("reply", number, raw, text)
        else:
            self.reply.add(raw, text)
        first, this = _CODE.match(self.reply.texts[0]), _CODE.match(text)
        # as ReplyParser: a line without a code goes on a coded reply, else stands alone
        if this.group(2) == "-" if this else first is not None:
            return
        self.reply = None
        code = int(first.group(1)) if first else None
        if code == 220 and self.last_verb == "STARTTLS":
            self.layer = "tls"  # what a line without a layer is from here on
        elif code == 354 and self.last_verb == "DATA":
            self.text_mode = "message"

    def _event(self, number: int, raw: str, text: str) -> None:
        self.text_mode = self.text = None
        if _CONNECTED.match(text):
            self.last_verb = ""
        self._new("event", number, raw, text)

    def _command(self, number: int, raw: str, text: str) -> None:
        self._new("command", number, raw, text)
        self.last_verb = Command(text).verb
        if _BDAT.match(text):
            self.text_mode = "chunk"

    def _text(self, tag: str, number: int, raw: str, text: str) -> None:
        """Message text: the C: lines; what was typed in DATA mode (I:) is kept as raw."""
        if self.text is None:
            assert self.text_mode is not None
            self.text = self._new(self.text_mode, number, raw, None)
        else:
            self.text.raw.append(raw)
        if tag == "C":
            self.text.texts.append(text)
            if self.text_mode == "message" and text == ".":
                self.text_mode = self.text = None
                self.last_verb = ""


def parse(text: str) -> list[Entry]:
    """The transcript's entries, in order. A line that is neither blank, a # comment,
    a C:/S:/I: line nor an event (with or without timestamp and layer) is a
    UsageError naming its number."""
    reader = _Reader()
    for number, line in enumerate(text.removeprefix("\ufeff").split("\n"), start=1):
        line = line.removesuffix("\r")
        read = _classify(number, line)
        if read is not None:
            reader.take(number, line, *read)
    return [draft.entry() for draft in reader.drafts]


def _classify(number: int, line: str) -> tuple[str | None, str, str] | None:
    """(layer or None, tag, text): tag '#' for a comment; None for a blank line."""
    rest = line.lstrip()
    if not rest:
        return None
    if rest.startswith("#"):
        return None, "#", rest
    stamped = _STAMPED.match(rest)
    layer = None
    if stamped:
        layer, rest = stamped.group(2), stamped.group(3)
        if layer not in ("plain", "tls"):
            raise _not_a_line(number, f"the layer after the timestamp is {_quote(layer)}, "
                                      "not plain or tls")
    tagged, event = _TAGGED.match(rest), _EVENT.match(rest)
    if tagged:
        return layer, tagged.group(1), tagged.group(2)
    if event:
        return layer, "*", event.group(1) or ""
    if stamped:
        raise _not_a_line(number, f"after the timestamp and layer comes {_quote(rest)}, "
                                  "not C:, S:, I: or *")
    raise _not_a_line(number, f"{_quote(rest)} starts with none of C:, S:, I:, * or a "
                              "timestamp")


def _not_a_line(number: int, why: str) -> UsageError:
    return UsageError(f"line {number} is not a transcript line: {why}", _HINT)


def _quote(text: str, limit: int = 40) -> str:
    text = inert(text)
    return "'" + (text if len(text) <= limit else text[:limit] + "…") + "'"


# -- Mermaid ---------------------------------------------------------------------------

_IN = "    "
TLS_BOX = "rect rgb(225, 245, 230)"
SHOWN = 120  # characters of one line in the diagram; the transcript keeps them all
REPLY_LINES = 12  # lines of one reply in its arrow (an EHLO reply fits)
# Mermaid ends a message at # and ; and would take < > & as markup: entity codes instead
_MERMAID = str.maketrans({ch: f"#{ord(ch)};" for ch in "#;<>&"})
_DIRECTIVE = re.compile(r":?(?:no)?wrap:")  # Mermaid eats this at the start of a message


def to_mermaid(entries: Sequence[Entry]) -> str:
    """A Mermaid sequenceDiagram: an arrow per command and per reply (a multi-line
    reply in one arrow, its lines joined by <br/>), message text as one arrow, events
    and helpers typed as notes, the TLS part of the session in a rect box."""
    out = ["sequenceDiagram", f"{_IN}participant Client", _IN + _server(entries)]
    echoed = _echoed(entries)
    tls = False
    for index, entry in enumerate(entries):
        if entry.kind == "comment" or index in echoed:
            continue
        if (entry.layer == "tls") != tls:
            tls = not tls
            out += _tls_box(entry) if tls else [f"{_IN}end"]
        out += [_IN * (1 + tls) + line for line in _diagram_lines(entry)]
    if tls:
        out.append(f"{_IN}end")
    if len(out) == 3:
        out.append(f"{_IN}Note over Client,Server: no session in this transcript")
    return "\n".join(out) + "\n"


def _server(entries: Sequence[Entry]) -> str:
    """The server participant, named after the first peer connected to."""
    for entry in entries:
        peer = _CONNECTED.match(entry.text) if entry.kind == "event" else None
        if peer:
            host = f"[{peer.group(1)}]" if ":" in peer.group(1) else peer.group(1)
            return f"participant Server as {_mermaid_text(f'{host}:{peer.group(2)}')}"
    return "participant Server"


def _echoed(entries: Sequence[Entry]) -> set[int]:
    """Typed lines sent as typed: the command's arrow says it all. Helpers stay."""
    echoed = set()
    typed: int | None = None  # the typed line just before, comments aside
    for index, entry in enumerate(entries):
        if entry.kind == "comment":
            continue
        if typed is not None and entry.kind == "command" and entry.text == entries[typed].text:
            echoed.add(typed)
        typed = index if entry.kind == "typed" else None
    return echoed


def _tls_box(entry: Entry) -> list[str]:
    """The box opens, with a note saying so unless its first entry is the TLS event
    (TLS is up: version, cipher; or connected, with the version, for implicit TLS)."""
    told = entry.kind == "event" and "TLS" in entry.text
    return [_IN + TLS_BOX] + ([] if told else [f"{_IN * 2}Note over Client,Server: TLS from here"])


def _diagram_lines(entry: Entry) -> list[str]:
    if entry.kind == "typed":
        return [f"Note left of Client: typed {_mermaid_text(entry.text)}"]
    if entry.kind == "command":
        return [f"Client->>Server: {_mermaid_text(entry.text)}"]
    if entry.kind == "reply":
        shown = [_mermaid_text(text) for text in entry.texts[:REPLY_LINES]]
        more = len(entry.texts) - REPLY_LINES
        return ["Server-->>Client: " + "<br/>".join(shown + [f"… {more} more lines"] * (more > 0))]
    if entry.kind in ("message", "chunk"):
        return [f"Client->>Server: {_message_summary(entry, _mermaid_text)}"]
    return [f"Note over Client,Server: {_mermaid_text(entry.text)}"]


def _message_summary(entry: Entry, clean: Callable[[str, int], str]) -> str:
    """'message text (3 lines, Subject: hi), then "."': one arrow, not one a line;
    `clean` makes the subject fit where it goes."""
    texts = list(entry.texts)
    ended = entry.kind == "message" and texts[-1:] == ["."]
    body = texts[:-1] if ended else texts
    details = [f"{len(body)} line" + ("" if len(body) == 1 else "s")]
    subject = _subject(body)
    if subject is not None:
        details.append(f"Subject: {clean(subject, 60)}")
    what = "message text" if entry.kind == "message" else "BDAT chunk"
    end = ', then "."' if ended else ', not ended with "."' if entry.kind == "message" else ""
    return f"{what} ({', '.join(details)}){end}"


def _subject(lines: list[str]) -> str | None:
    for line in lines:
        if not line:
            return None  # the header ends at the first empty line
        found = _SUBJECT.match(line)
        if found:
            return found.group(1)
    return None


def _shorten(text: str, limit: int = SHOWN) -> str:
    """One line as a view shows it: controls made visible, cut at `limit` characters."""
    text = inert(text).strip()
    return f"{text[:limit]}… ({len(text) - limit} more characters)" if len(text) > limit \
        else text


def _mermaid_text(text: str, limit: int = SHOWN) -> str:
    """Text Mermaid shows as it is: on one line, cut at `limit`, never empty."""
    text = (_shorten(text, limit) or "(empty line)").translate(_MERMAID)
    if _DIRECTIVE.match(text):
        text = _DIRECTIVE.sub(lambda found: found.group().replace(":", "#58;"), text, count=1)
    return text


# -- HTML ------------------------------------------------------------------------------

# The shell's colours are terminal colour names; these read well on a white page.
_WEB_COLOURS = {"ansigreen": "#116329", "ansicyan": "#0a6c74", "ansiyellow": "#8a5a00",
                "ansired": "#b3261e", "ansimagenta": "#8250df", "ansiblue": "#0550ae",
                "ansibrightblack": "#6e7781"}
_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #1f2328; background: #fff; }
h1 { font-size: 1.3em; }
table { border-collapse: collapse; width: 100%; }
th { text-align: left; border-bottom: 2px solid #d0d7de; padding: 0.3em 0.6em; }
td { vertical-align: top; padding: 0.15em 0.6em; border-bottom: 1px solid #eaeef2; }
td.line { width: 60%; }
td.explain { color: #57606a; font-size: 0.9em; }
td.explain .next { display: block; }
tr.failed td.line { border-left: 3px solid #b3261e; }
pre { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; }
summary { cursor: pointer; color: #57606a; }
"""


def to_html(entries: Sequence[Entry], title: str) -> str:
    """One self-contained HTML5 page: each entry a table row, coloured by the
    transcript lexer with the shell's colours, each reply's meaning beside it."""
    from pygments import highlight  # here only: importing Pygments costs start-up time
    from pygments.formatters import HtmlFormatter
    from pygments.style import Style
    from pygments.token import string_to_tokentype

    from .lexer import TranscriptLexer

    styles = {string_to_tokentype(name.removeprefix("pygments.").title()): _web(value)
              for name, value in STYLE.items() if name.startswith("pygments.") and value}
    shell = type("ShellStyle", (Style,), {"styles": styles, "background_color": "#ffffff"})
    formatter: HtmlFormatter[str] = HtmlFormatter(nowrap=True, style=shell)
    lexer = TranscriptLexer(stripnl=False)

    def coloured(lines: Sequence[str]) -> str:
        return highlight("".join(inert(line) + "\n" for line in lines), lexer, formatter)

    style_defs = cast(Callable[[str], str], formatter.get_style_defs)  # untyped in the stubs
    css = _CSS + style_defs(".hl")
    return _page(title, css, _summary(entries), [_row(entry, coloured) for entry in entries])


def _web(style: str) -> str:
    return " ".join(_WEB_COLOURS.get(word, word) for word in style.split())


def _page(title: str, css: str, summary: str, rows: list[str]) -> str:
    body = ("<table>\n<thead><tr><th>transcript</th><th>what the reply means</th></tr>"
            "</thead>\n<tbody>\n" + "".join(rows) + "</tbody>\n</table>\n") if rows else ""
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{css}</style>\n</head>\n<body>\n"
            f"<h1>{html.escape(title)}</h1>\n<p class=\"summary\">{html.escape(summary)}</p>\n"
            f"{body}</body>\n</html>\n")


def _summary(entries: Sequence[Entry]) -> str:
    if not any(entry.kind != "comment" for entry in entries):
        return "No session in this transcript."
    replies = [r for e in entries if (r := e.reply()) is not None]
    failed = sum(reply.failed for reply in replies)
    commands = sum(entry.kind == "command" for entry in entries)
    return (f"{commands} command{'s' * (commands != 1)}, {len(replies)} "
            f"repl{'ies' if len(replies) != 1 else 'y'}, {failed} of them failed.")


def _row(entry: Entry, coloured: Callable[[Sequence[str]], str]) -> str:
    reply = entry.reply()
    css = entry.kind + (" failed" if reply is not None and reply.failed else "")
    line = f"<pre class=\"hl\">{coloured(entry.raw)}</pre>"
    if entry.kind in ("message", "chunk"):  # folded, as in the diagram
        summary = html.escape(_message_summary(entry, _shorten))
        line = f"<details><summary>{summary}</summary>{line}</details>"
    explained = _explanation(reply) if reply is not None else ""
    return (f"<tr class=\"{css}\" id=\"line-{entry.number}\"><td class=\"line\">{line}</td>"
            f"<td class=\"explain\">{explained}</td></tr>\n")


def _explanation(reply: Reply) -> str:
    """What the code means and what to do next (render.explain_line), as HTML."""
    text = plain(explain_line(reply)).strip().removeprefix("↳").strip()
    if not text:
        kind = banner_kind(reply)
        return html.escape(f"not an SMTP reply (no 3-digit code){f': {kind}' if kind else ''}")
    means, arrow, step = text.partition(" → ")
    step_html = f" <span class=\"next\">→ {html.escape(step)}</span>" if arrow else ""
    return f"<span class=\"means\">{html.escape(means)}</span>{step_html}"


# -- files -----------------------------------------------------------------------------


def render_file(path: str, fmt: str) -> str:
    """The transcript at `path` (- for standard input) as `fmt`: mermaid or html."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {_quote(fmt)}: the formats are "
                         + " and ".join(FORMATS),
                         "mermaid draws a sequence diagram, html a page explaining each reply")
    text = _read(path)
    try:
        entries = parse(text)
    except UsageError as err:
        raise UsageError(f"{path}: {err}", err.hint) from None
    if all(entry.kind == "comment" for entry in entries):
        raise UsageError(f"{path} holds no transcript lines (C:, S:, I: or events)",
                         "save one with --transcript FILE or :transcript FILE")
    if fmt == "mermaid":
        return to_mermaid(entries)
    name = "standard input" if path == "-" else os.path.basename(path)
    return to_html(entries, f"SMTP session: {name}")


def _read(path: str) -> str:
    try:
        if path == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as handle:
                data = handle.read()
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror or err}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UsageError(f"{path} is not UTF-8 (byte {err.start} is not)",
                         "a transcript smtpshell wrote is UTF-8; convert the file "
                         "(iconv -t UTF-8)") from None
