"""Pygments lexers for SMTP: what the user types, what the server replies, transcripts.

Owns: `CommandLexer` (verbs, `:helpers`, `<addresses>`, `KEY=VALUE`),
`HeaderLexer` (message header lines in DATA mode), `ReplyLexer` (codes by
class, enhanced codes, 334 base64) and `TranscriptLexer` (timestamps, layer,
I:/C:/S: lines, each lexed as what it is). They use the standard Pygments
tokens, so any Pygments style colours them; they are registered as plugins
(pyproject entry points): `pygmentize -l smtp-transcript session.log`.
Must not: import prompt_toolkit or anything of the shell.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, cast

from pygments.lexer import RegexLexer, bygroups
from pygments.token import (
    Comment,
    Generic,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Text,
    Whitespace,
)

__all__ = ["CommandLexer", "HeaderLexer", "ReplyLexer", "TranscriptLexer"]

Rule = tuple[Any, ...]
groups = cast(Callable[..., Any], bygroups)  # the stubs leave bygroups untyped

# Reply classes: green success, cyan "go on", yellow transient, red permanent.
REPLY_CLASS = {"2": Generic.Inserted, "3": Generic.Subheading, "4": Generic.Emph,
               "5": Generic.Error}

_COMMAND: list[Rule] = [
    (r"(::)", Punctuation, "line"),
    (r"(:)([a-zA-Z0-9]+)", groups(Operator, Name.Function), "line"),
    (r"[A-Za-z]+", Keyword, "line"),
    (r"\s+", Whitespace),
]
_LINE: list[Rule] = [
    (r"\n", Whitespace, "#pop"),
    (r"(FROM|TO)(:)", groups(Keyword.Type, Punctuation)),
    (r"<[^>\s]*>?", Name.Variable),
    (r"(--[a-z0-9-]+)(=)?", groups(Name.Attribute, Operator)),
    (r"([A-Za-z][A-Za-z0-9-]*)(=)([^\s]*)", groups(Name.Attribute, Operator, String)),
    (r"\s+", Whitespace),
    (r"[^\s<]+", Text),
]


class CommandLexer(RegexLexer):
    """A command line as typed: `MAIL FROM:<a@b> SIZE=10`, `:authplain demo`."""

    name = "SMTP command"
    aliases: ClassVar[list[str]] = ["smtp", "smtp-command"]
    filenames: ClassVar[list[str]] = ["*.smtp"]
    tokens: ClassVar[dict[str, list[Rule]]] = {"root": list(_COMMAND), "line": list(_LINE)}


class HeaderLexer(RegexLexer):
    """Message text in DATA mode: `Name: value` header lines stand out."""

    name = "SMTP message header"
    aliases: ClassVar[list[str]] = ["smtp-header"]
    tokens: ClassVar[dict[str, list[Rule]]] = {"root": [
        (r"^([A-Za-z0-9-]+)(:)(.*\n?)", groups(Name.Tag, Punctuation, String)),
        (r".+\n?|\n", Text),  # never an empty match: that would loop forever
    ]}


def _reply_rules() -> list[Rule]:
    rules: list[Rule] = [
        (r"(334)([ -])([A-Za-z0-9+/=]+)(\s*)$",
         groups(REPLY_CLASS["3"], Punctuation, String.Other, Whitespace)),
    ]
    for digit, token in REPLY_CLASS.items():
        rules.append((rf"({digit}\d\d)([ -]?)(?:([245]\.\d{{1,3}}\.\d{{1,3}})(?=\s|$))?(.*)",
                      groups(token, Punctuation, Number, Text)))
    rules += [(r".+", Generic.Traceback), (r"\n", Whitespace)]
    return rules


class ReplyLexer(RegexLexer):
    """Server replies: the code coloured by class, the enhanced code set apart."""

    name = "SMTP reply"
    aliases: ClassVar[list[str]] = ["smtp-reply"]
    tokens: ClassVar[dict[str, list[Rule]]] = {"root": _reply_rules()}


_STAMP = r"(\d{4}-\d\d-\d\dT[\d:.]+Z?)(\s+)(plain|tls)(\s+)"


class TranscriptLexer(RegexLexer):
    """smtpshell transcripts (and RFC-style C:/S: dialogues)."""

    name = "SMTP transcript"
    aliases: ClassVar[list[str]] = ["smtp-transcript"]
    filenames: ClassVar[list[str]] = ["*.smtplog"]
    tokens: ClassVar[dict[str, list[Rule]]] = {
        "root": [
            (r"#.*\n", Comment),
            (_STAMP, groups(Comment.Special, Whitespace, Keyword.Pseudo, Whitespace)),
            (r"([IC])(:)( ?)", groups(Generic.Prompt, Punctuation, Whitespace), "command"),
            (r"(S)(:)( ?)", groups(Generic.Output, Punctuation, Whitespace), "reply"),
            (r"(\*)(.*\n)", groups(Generic.Strong, Comment)),
            (r".*\n", Text),
        ],
        "command": [(r"\n", Whitespace, "#pop"), *_COMMAND],
        "line": [(r"\n", Whitespace, "#pop:2"), *_LINE[1:]],
        "reply": [(r"\n", Whitespace, "#pop"), *_reply_rules()[:-1]],
    }
