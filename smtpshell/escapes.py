"""Backslash escapes for helpers that take bytes (:b64, :raw).

Owns: `unescape` — `\\r \\n \\t \\0 \\\\ \\xNN` to bytes, everything else as UTF-8.
Must not: decide whether such bytes may be sent (the safe mode does).
"""

from __future__ import annotations

import re

from .errors import UsageError

__all__ = ["unescape"]

_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|.)", re.DOTALL)
_SIMPLE = {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\0", "\\": b"\\"}


def unescape(text: str) -> bytes:
    out = bytearray()
    pos = 0
    for match in _ESCAPE.finditer(text):
        out += text[pos:match.start()].encode("utf-8")
        code = match.group(1)
        if code.startswith("x") and len(code) == 3:
            out.append(int(code[1:], 16))
        elif code in _SIMPLE:
            out += _SIMPLE[code]
        else:
            raise UsageError(f"unknown escape \\{code}",
                             "use \\r \\n \\t \\0 \\\\ or \\xNN (two hex digits)")
        pos = match.end()
    rest = text[pos:]  # a backslash left here can only be the last character
    if rest.endswith("\\"):
        raise UsageError("a lone backslash ends the text", "write \\\\ for a backslash")
    return bytes(out + rest.encode("utf-8"))
