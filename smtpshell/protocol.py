"""SMTP wire formats, with no I/O.

Owns: `Reply` and the incremental `ReplyParser` (bytes in, replies out, every
misbehaviour flagged, memory bounded), `Capabilities` parsed from an EHLO
reply, and the DATA encoder (CRLF normalisation, then dot-stuffing, streamed).
Must not: touch sockets, the screen or session state.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NamedTuple

from .errors import ProtocolViolation
from .knowledge import ENHANCED_CODE

__all__ = [
    "ADDRESS",
    "MAX_REPLY_BYTES",
    "MAX_REPLY_LINE",
    "Capabilities",
    "Command",
    "Reply",
    "ReplyParser",
    "ReplyTooLarge",
    "TextEncoder",
    "TextProblem",
    "auth_plain",
    "b64",
    "b64_text",
    "cram_md5",
    "encode_data",
    "stuff_line",
    "unb64",
    "xoauth2",
]

MAX_REPLY_LINE = 8192  # what we keep of one line; RFC 5321 §4.5.3.1.5 allows 512
MAX_REPLY_BYTES = 256 * 1024  # one reply, all lines; a larger one is a flood
RFC_REPLY_LINE = 512

_CODE_LINE = re.compile(r"([1-5][0-9][0-9])([ -]|$)")
ADDRESS = re.compile(r"<([^<>\s]+@[^<>\s]+)>")  # an address in <brackets>, as MAIL/RCPT write it


class Command(NamedTuple):
    """Something that earns a reply: a command line, or the greeting, an AUTH
    answer, the end of DATA. `line` is exactly what was sent, without CRLF;
    `secret` marks lines that must never be stored or shown in a transcript."""

    line: str
    kind: str = "command"  # command | greeting | auth-answer | data-end
    secret: bool = False

    @property
    def verb(self) -> str:
        """The command word in upper case, or the kind for pseudo-commands."""
        if self.kind != "command":
            return self.kind
        return self.line.split(" ", 1)[0].split(":", 1)[0].upper()


class ReplyTooLarge(ProtocolViolation):
    """The server sent more than a reply may hold; the connection must be cut."""


class Reply(NamedTuple):
    """One complete server reply.

    `lines` are the lines as received (decoded, line ending removed); `code`
    is None for text that is not an SMTP reply at all (an SSH banner, say).
    `problems` names every way the reply broke the rules; `fault`, set by the
    client machine, why it cannot count as a success for the command it answers.
    """

    code: int | None
    lines: tuple[str, ...]
    problems: tuple[str, ...] = ()
    fault: str | None = None

    @property
    def texts(self) -> tuple[str, ...]:
        """The text of each line, without the code and separator."""
        return tuple(line[4:] if _CODE_LINE.match(line) else line for line in self.lines)

    @property
    def enhanced(self) -> str | None:
        """The RFC 3463 enhanced status code of the first line, if it has one."""
        if self.code is None or not self.texts:
            return None
        match = ENHANCED_CODE.match(self.texts[0])
        return match.group(0) if match and self.texts[0][match.end():match.end() + 1] in (
            "", " ", "\t") else None

    @property
    def klass(self) -> int:
        """2, 3, 4 or 5 (the first digit); 0 when there is no code."""
        return self.code // 100 if self.code is not None else 0

    @property
    def is_error(self) -> bool:
        return self.klass in (4, 5)

    @property
    def failed(self) -> bool:
        """Not a success: 4yz, 5yz, or a reply that is no valid answer (`fault`)."""
        return self.is_error or self.fault is not None or self.code is None

    def __str__(self) -> str:
        return "\n".join(self.lines)


@dataclass
class _Partial:
    code: int | None = None
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    size: int = 0

    def flag(self, problem: str) -> None:
        if problem not in self.problems:
            self.problems.append(problem)

    def reply(self) -> Reply:
        return Reply(self.code, tuple(self.lines), tuple(self.problems))


class ReplyParser:
    """Incremental reply parser: `feed(bytes)` returns the replies completed.

    Tolerant but truthful: a bare LF, an overlong line, bytes that are not
    UTF-8, continuation lines with another code, a line with no code — each
    is kept, shown and named in `Reply.problems`. Memory stays bounded: one
    line is cut at MAX_REPLY_LINE bytes, one reply raises ReplyTooLarge past
    MAX_REPLY_BYTES. It raises nothing else.
    """

    def __init__(self, max_line: int = MAX_REPLY_LINE, max_reply: int = MAX_REPLY_BYTES) -> None:
        self._max_line = max_line
        self._max_reply = max_reply
        self._buf = bytearray()
        self._skipping = False  # inside the unkept tail of an overlong line
        self._current = _Partial()

    def pending(self) -> bool:
        """True when bytes of an unfinished line or reply are held."""
        return bool(self._buf) or bool(self._current.lines)

    def held(self) -> int:
        """Bytes held for an unfinished line and reply: bounded by the two caps."""
        return len(self._buf) + self._current.size

    def feed(self, data: bytes) -> list[Reply]:
        """Take bytes; return every reply they complete."""
        self.push(data)
        return list(self.replies())

    def push(self, data: bytes) -> None:
        self._buf += data

    def replies(self) -> Iterator[Reply]:
        """Yield replies one by one as buffered lines complete them.

        A caller that stops early leaves the unread bytes in the buffer, for
        `take_unparsed` (the STARTTLS injection guard needs exactly those).
        """
        while True:
            end = self._buf.find(b"\n")
            if end < 0:
                done = self._cut_overlong()
                if done is not None:
                    yield done
                return
            raw = bytes(self._buf[:end])
            del self._buf[: end + 1]
            if self._skipping:
                self._skipping = False
                continue
            bare_lf = not raw.endswith(b"\r")
            done = self._take_line(raw if bare_lf else raw[:-1], bare_lf=bare_lf, overlong=False)
            if done is not None:
                yield done

    def take_unparsed(self) -> bytes:
        """Remove and return the bytes not yet parsed into a complete reply."""
        held = "".join(line + "\r\n" for line in self._current.lines).encode() + self._buf
        self._buf = bytearray()
        self._current = _Partial()
        return held

    def close(self) -> Reply | None:
        """The connection ended: return what was left of a reply, flagged."""
        if self._buf and not self._skipping:
            self._current.flag("the connection closed before the last line ended")
            done = self._take_line(bytes(self._buf), bare_lf=False, overlong=False)
            self._buf.clear()
            if done is not None:
                return done
        self._buf.clear()
        if not self._current.lines:
            return None
        self._current.flag("the connection closed in the middle of this reply")
        reply = self._current.reply()
        self._current = _Partial()
        return reply

    def _cut_overlong(self) -> Reply | None:
        if len(self._buf) <= self._max_line:
            return None
        if self._skipping:
            self._buf.clear()
            return None
        head = bytes(self._buf[: self._max_line])
        self._buf.clear()
        self._skipping = True
        return self._take_line(head, bare_lf=False, overlong=True)

    def _take_line(self, raw: bytes, *, bare_lf: bool, overlong: bool) -> Reply | None:
        cur = self._current
        cur.size += len(raw) + 2
        if cur.size > self._max_reply:
            self._current = _Partial()
            raise ReplyTooLarge(
                f"the server sent a reply of more than {self._max_reply // 1024} KiB",
                "the connection was cut; the server is broken or hostile",
            )
        if len(raw) > self._max_line:
            raw, overlong = raw[:self._max_line], True
        text = _decode(raw, cur)
        if bare_lf:
            cur.flag("a line ended with a bare LF instead of CRLF (RFC 5321 §2.3.8)")
        if overlong:
            cur.flag(f"a line was longer than {self._max_line} bytes; the rest was dropped")
        elif len(raw) > RFC_REPLY_LINE:
            cur.flag(f"a line was longer than the {RFC_REPLY_LINE} octets RFC 5321 allows")
        match = _CODE_LINE.match(text)
        if match is None:
            return self._take_uncoded(text)
        code, more = int(match.group(1)), match.group(2) == "-"
        if cur.code is None and not cur.lines:
            cur.code = code
        elif code != cur.code:
            cur.flag(f"continuation lines carry different codes ({cur.code} then {code})")
        cur.lines.append(text)
        if more:
            return None
        return self._finish()

    def _take_uncoded(self, text: str) -> Reply | None:
        cur = self._current
        cur.lines.append(text)
        if cur.code is not None:
            cur.flag("a line inside the reply has no reply code")
            return None
        cur.flag("not an SMTP reply: the line does not start with a 3-digit code")
        return self._finish()

    def _finish(self) -> Reply:
        reply = self._current.reply()
        self._current = _Partial()
        return reply


def _decode(raw: bytes, cur: _Partial) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        cur.flag("the reply holds bytes that are not UTF-8 (shown as \\xNN)")
        return raw.decode("utf-8", "backslashreplace")


class Capabilities(NamedTuple):
    """The extensions an EHLO reply advertised: keyword (upper case) -> parameters."""

    domain: str = ""
    extensions: Mapping[str, tuple[str, ...]] = MappingProxyType({})

    @classmethod
    def from_ehlo(cls, reply: Reply) -> Capabilities:
        texts = reply.texts
        if not texts:
            return cls()
        domain = texts[0].split(" ", 1)[0]
        extensions: dict[str, tuple[str, ...]] = {}
        for text in texts[1:]:
            words = text.split()
            if not words:
                continue
            # "AUTH=LOGIN PLAIN" is the pre-RFC 4954 spelling some servers still send
            keyword, _, first = words[0].partition("=")
            params = ((first,) if first else ()) + tuple(words[1:])
            keyword = keyword.upper()
            extensions[keyword] = tuple(dict.fromkeys(extensions.get(keyword, ()) + params))
        return cls(domain, extensions)

    def __contains__(self, keyword: object) -> bool:
        return isinstance(keyword, str) and keyword.upper() in self.extensions

    def params(self, keyword: str) -> tuple[str, ...]:
        return self.extensions.get(keyword.upper(), ())

    @property
    def size(self) -> int | None:
        """The SIZE limit in bytes; None when SIZE is absent or gives no number."""
        params = self.params("SIZE")
        return int(params[0]) if params and params[0].isdigit() else None

    @property
    def auth_mechanisms(self) -> tuple[str, ...]:
        return tuple(m.upper() for m in self.params("AUTH"))


def b64(data: str | bytes) -> str:
    return base64.b64encode(data.encode("utf-8") if isinstance(data, str) else data).decode()


def b64_text(text: str) -> str | None:
    """What base64 decodes to as UTF-8 text, or None if it is not that."""
    try:
        return unb64(text).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None


def unb64(text: str) -> bytes:
    """Strict base64 decoding; raises ValueError with a sentence on bad input."""
    try:
        return base64.b64decode(text.strip(), validate=True)
    except binascii.Error:
        raise ValueError(f"{text.strip()[:40]!r} is not valid base64") from None


def auth_plain(user: str, password: str, authzid: str = "") -> str:
    """The RFC 4616 initial response: base64(authzid NUL user NUL password)."""
    return b64(f"{authzid}\0{user}\0{password}")


def cram_md5(user: str, password: str, challenge: bytes) -> str:
    """The RFC 2195 response to a decoded challenge: base64(user SP hex(HMAC-MD5))."""
    import hashlib
    import hmac

    digest = hmac.new(password.encode("utf-8"), challenge, hashlib.md5).hexdigest()
    return b64(f"{user} {digest}")


def xoauth2(user: str, token: str) -> str:
    """Google's and Microsoft's XOAUTH2 initial response."""
    return b64(f"user={user}\x01auth=Bearer {token}\x01\x01")


def stuff_line(line: str) -> bytes:
    """One line of message text as it goes on the wire: dot-stuffed, CRLF-ended."""
    data = line.encode("utf-8")
    return (b"." + data if data.startswith(b".") else data) + b"\r\n"


class TextProblem(ValueError):
    """Message text that breaks a rule; `str()` says which, and where."""


class TextEncoder:
    """Message text to its wire form, streaming, chunk by chunk, memory flat.

    Line ends are normalised first (CRLF, bare CR and bare LF all become CRLF,
    also when a CR and its LF arrive in different chunks), dots second (`stuff`:
    a line starting with '.' gets another, RFC 5321 §4.5.2), so no byte sequence
    in the input can end DATA early. With `check_line`, each line is checked as
    it passes: a NUL, or a line `check_line(octets)` objects to (its octets as
    written, without CRLF or a stuffed dot) raises TextProblem. `binary` passes
    the bytes untouched (BDAT with BODY=BINARYMIME).
    """

    def __init__(self, *, stuff: bool = True,
                 check_line: Callable[[int], str | None] | None = None,
                 binary: bool = False) -> None:
        self._stuff, self._check_line, self._binary = stuff, check_line, binary
        self.octets = 0  # of input taken
        self.lines = 0  # lines ended so far
        self.eight_bit = False
        self._line = 0  # octets of the line not yet ended
        self._cr = False  # the last chunk ended in CR: a leading LF belongs to it

    def feed(self, chunk: bytes) -> bytes:
        self.octets += len(chunk)
        if self._binary:
            return chunk
        if self._cr and chunk.startswith(b"\n"):
            chunk, self._cr = chunk[1:], False  # the LF of a CRLF cut in two: taken
        if not chunk:
            return b""
        self._cr = chunk.endswith(b"\r")
        # Text that is CRLF throughout (most files, all the email package writes) stays as
        # it is; counting proves it for less than three copies would cost.
        parts = chunk.split(b"\r\n") if self._check_line is not None else None
        crlf = len(parts) - 1 if parts is not None else chunk.count(b"\r\n")
        if crlf == chunk.count(b"\r") == chunk.count(b"\n"):
            text = chunk
        else:  # bare CR and bare LF become CRLF too
            text = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
            parts = text.split(b"\r\n") if parts is not None else None
        at_line_start = self._line == 0
        self._measure(text, parts)
        self.eight_bit = self.eight_bit or not text.isascii()
        if self._stuff:  # every LF is a CRLF's now: "\n." is a line that starts with a dot
            if b"\n." in text:
                text = text.replace(b"\n.", b"\n..")
            if at_line_start and text.startswith(b"."):
                text = b"." + text
        return text

    def _measure(self, text: bytes, parts: list[bytes] | None) -> None:
        """Count the lines, keep the length of the unfinished one, and with `check_line`
        check each line as written (`parts`: the text split at CRLF; the dot stuffed
        after does not count)."""
        if parts is None:
            ends = text.count(b"\n")
        else:
            assert self._check_line is not None
            if b"\0" in text:
                line = self.lines + text.count(b"\n", 0, text.index(b"\0")) + 1
                raise TextProblem(f"line {line} holds a NUL byte, which a server that drops "
                                  "it can turn into an end of data (SMTP smuggling)")
            lengths = [self._line + len(parts[0]), *map(len, parts[1:])]
            longest = max(lengths)
            problem = self._check_line(longest)
            if problem:
                raise TextProblem(f"line {self.lines + lengths.index(longest) + 1} is {problem}")
            ends = len(parts) - 1
        self.lines += ends
        self._line = self._line + len(text) if not ends else len(text) - text.rfind(b"\n") - 1

    def end(self) -> bytes:
        """What completes the text: a CRLF if it did not end with a line break."""
        if self._binary or self._line == 0:
            return b""
        self._line = 0
        self.lines += 1
        return b"\r\n"


def encode_data(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Message bytes as DATA wants them, ending with exactly one CRLF.CRLF (no checks)."""
    encoder = TextEncoder()
    for chunk in chunks:
        yield encoder.feed(chunk)
    yield encoder.end()
    yield b".\r\n"
