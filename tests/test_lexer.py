"""Lexers: token streams, no stalls on any input, every token styled, the Pygments plugin."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prompt_toolkit.styles.pygments import pygments_token_to_classname
from pygments.lexer import RegexLexer
from pygments.token import (
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

from smtpshell.lexer import CommandLexer, HeaderLexer, ReplyLexer, TranscriptLexer
from smtpshell.render import STYLE

LEXERS = [CommandLexer, HeaderLexer, ReplyLexer, TranscriptLexer]
ROOT = Path(__file__).resolve().parent.parent
SAMPLES = {
    CommandLexer: ["MAIL FROM:<a@b.example> SIZE=10 BODY=8BITMIME", ":authplain demo --authzid x",
                   "::literal", "rcpt to:<c@d> NOTIFY=SUCCESS,FAILURE", "", "  ", "DATA"],
    HeaderLexer: ["Subject: hello", "plain text", "", ".", "X-Thing:value"],
    ReplyLexer: ["250-mx.example", "550 5.7.1 denied", "334 VXNlcm5hbWU6", "421", "SSH-2.0",
                 "451 4.3.0 later"],
    TranscriptLexer: ["# smtpshell transcript",
                      "2026-11-29T04:20:13.713Z plain S: 220 mx ready",
                      "2026-11-29T04:20:13.713Z tls   C: MAIL FROM:<a@b> SIZE=1",
                      "2026-11-29T04:20:13.713Z tls   I: :authplain demo ********",
                      "2026-11-29T04:20:13.713Z tls   *  TLS is up", "C: EHLO x", "S: 250 ok"],
}


def tokens(lexer: type[RegexLexer], text: str) -> list[tuple[object, str]]:
    return [(t, v) for t, v in lexer().get_tokens(text) if v.strip()]


def test_command_token_stream() -> None:
    assert tokens(CommandLexer, "MAIL FROM:<a@b.example> SIZE=10") == [
        (Keyword, "MAIL"), (Keyword.Type, "FROM"), (Punctuation, ":"),
        (Name.Variable, "<a@b.example>"), (Name.Attribute, "SIZE"), (Operator, "="),
        (String, "10")]
    assert tokens(CommandLexer, ":authplain demo") == [
        (Operator, ":"), (Name.Function, "authplain"), (Text, "demo")]


def test_reply_token_stream() -> None:
    assert tokens(ReplyLexer, "550 5.7.1 relay denied") == [
        (Generic.Error, "550"), (Number, "5.7.1"), (Text, " relay denied")]
    assert tokens(ReplyLexer, "250-PIPELINING")[0] == (Generic.Inserted, "250")
    assert tokens(ReplyLexer, "451 4.3.0 try later")[0] == (Generic.Emph, "451")
    assert tokens(ReplyLexer, "334 VXNlcm5hbWU6") == [(Generic.Subheading, "334"),
                                                      (String.Other, "VXNlcm5hbWU6")]
    assert tokens(ReplyLexer, "SSH-2.0-OpenSSH") == [(Generic.Traceback, "SSH-2.0-OpenSSH")]


def test_transcript_lexes_each_line_as_what_it_is() -> None:
    found = tokens(TranscriptLexer, "2026-11-29T04:20:13.713Z tls   C: MAIL FROM:<a@b>\n"
                                    "2026-11-29T04:20:13.714Z tls   S: 550 5.7.1 no\n")
    kinds = [t for t, _ in found]
    assert Keyword in kinds and Name.Variable in kinds  # the C: line is a command
    assert Generic.Error in kinds and Number in kinds  # the S: line is a reply


@pytest.mark.parametrize("lexer", LEXERS)
@settings(max_examples=150, deadline=None)
@given(text=st.text(alphabet=st.characters(codec="utf-8"), max_size=80))
def test_no_lexer_stalls_or_loses_text(lexer: type[RegexLexer], text: str) -> None:
    """An empty match loops forever (prompt_toolkit lexes an empty buffer, too)."""
    produced = []
    for count, (_, _, value) in enumerate(lexer().get_tokens_unprocessed(text)):
        assert count <= len(text) + 1, "the lexer is producing tokens without advancing"
        produced.append(value)
    assert "".join(produced) == text


def test_every_token_the_lexers_produce_is_styled() -> None:
    used = {t for lexer, texts in SAMPLES.items() for text in texts
            for t, _ in lexer().get_tokens(text)}
    for token in used:
        classname = pygments_token_to_classname(token)
        parents = [".".join(classname.split(".")[:n]) for n in range(2, classname.count(".") + 2)]
        plain = token in (Text, Whitespace, Text.Whitespace)  # the terminal's own colour
        assert plain or any(p in STYLE for p in parents), f"{classname} has no style"


def test_every_style_class_used_in_the_code_is_defined() -> None:
    source = "\n".join(p.read_text() for p in (ROOT / "smtpshell").glob("*.py"))
    used = set(re.findall(r'styled\("([a-z0-9.]+)"', source))
    used |= {f"reply.{k}" for k in "02345"}  # built as f"reply.{reply.klass}"
    assert used and not used - set(STYLE), used - set(STYLE)


def test_pygmentize_knows_the_transcript_lexer(tmp_path: Path) -> None:
    log = tmp_path / "session.log"
    log.write_text("\n".join(SAMPLES[TranscriptLexer]) + "\n")
    pygmentize = Path(sys.executable).parent / "pygmentize"
    result = subprocess.run([str(pygmentize), "-l", "smtp-transcript", "-f", "raw", str(log)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Token.Generic.Prompt\t'C'" in result.stdout
    assert "Token.Generic.Inserted\t'220'" in result.stdout
