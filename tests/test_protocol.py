"""The I/O-free wire layer: reply parsing, EHLO capabilities, the DATA encoder."""

from __future__ import annotations

import pytest

from smtpshell.protocol import (
    Capabilities,
    Command,
    Reply,
    ReplyParser,
    ReplyTooLarge,
    encode_data,
    stuff_line,
)


def parse(*chunks: bytes) -> list[Reply]:
    parser = ReplyParser()
    replies = []
    for chunk in chunks:
        replies += parser.feed(chunk)
    return replies


def test_single_line_reply() -> None:
    [reply] = parse(b"250 2.0.0 OK\r\n")
    assert (reply.code, reply.lines, reply.problems) == (250, ("250 2.0.0 OK",), ())
    assert reply.texts == ("2.0.0 OK",)
    assert reply.enhanced == "2.0.0"
    assert reply.klass == 2 and not reply.is_error


def test_multiline_reply_split_anywhere() -> None:
    data = b"250-mail.example\r\n250-SIZE 100\r\n250 HELP\r\n"
    for cut in range(len(data)):
        [reply] = parse(data[:cut], data[cut:])
        assert reply.lines == ("250-mail.example", "250-SIZE 100", "250 HELP")
        assert reply.problems == ()


def test_byte_by_byte() -> None:
    data = b"220 hi\r\n250 ok\r\n"
    replies = parse(*[data[i:i + 1] for i in range(len(data))])
    assert [r.code for r in replies] == [220, 250]


def test_several_replies_in_one_chunk() -> None:
    replies = parse(b"250 a\r\n251 b\r\n550 5.1.1 no\r\n")
    assert [r.code for r in replies] == [250, 251, 550]
    assert replies[2].is_error and replies[2].enhanced == "5.1.1"


@pytest.mark.parametrize(("data", "problem"), [
    (b"250 ok\n", "bare LF"),
    (b"250-a\r\n251 b\r\n", "different codes (250 then 251)"),
    (b"250 caf\xe9\r\n", "not UTF-8"),
    (b"250-a\r\nno code here\r\n250 b\r\n", "has no reply code"),
    (b"250 " + b"x" * 600 + b"\r\n", "longer than the 512 octets"),
])
def test_misbehaviour_is_kept_and_named(data: bytes, problem: str) -> None:
    [reply] = parse(data)
    assert reply.code == 250
    assert any(problem in p for p in reply.problems), reply.problems


def test_non_utf8_is_shown_escaped() -> None:
    [reply] = parse(b"250 caf\xe9\r\n")
    assert reply.lines == ("250 caf\\xe9",)


def test_text_that_is_not_smtp() -> None:
    [reply] = parse(b"SSH-2.0-OpenSSH_9.6\r\n")
    assert reply.code is None and reply.klass == 0
    assert "not an SMTP reply" in reply.problems[0]


def test_overlong_line_is_cut_and_the_rest_dropped() -> None:
    parser = ReplyParser(max_line=100)
    replies = parser.feed(b"250 " + b"y" * 500)
    replies += parser.feed(b"z" * 500 + b"\r\n251 next\r\n")
    assert [r.code for r in replies] == [250, 251]
    assert len(replies[0].lines[0]) == 100
    assert any("longer than 100 bytes" in p for p in replies[0].problems)
    assert not parser.pending()


def test_close_mid_reply() -> None:
    parser = ReplyParser()
    assert parser.feed(b"250-first\r\n250-sec") == []
    assert parser.pending()
    reply = parser.close()
    assert reply is not None and reply.lines == ("250-first", "250-sec")
    assert any("closed in the middle" in p for p in reply.problems)
    assert parser.close() is None


def test_reply_too_large() -> None:
    parser = ReplyParser(max_reply=1000)
    with pytest.raises(ReplyTooLarge):
        for _ in range(100):
            parser.feed(b"250-" + b"a" * 50 + b"\r\n")


def test_take_unparsed_returns_what_follows() -> None:
    parser = ReplyParser()
    parser.push(b"220 go\r\n250 injected\r\n250 par")
    first = next(parser.replies())
    assert first.code == 220
    assert parser.take_unparsed() == b"250 injected\r\n250 par"
    assert not parser.pending()


def test_capabilities_from_ehlo() -> None:
    [reply] = parse(b"250-mx.example Hello\r\n250-SIZE 35882577\r\n250-AUTH=LOGIN PLAIN\r\n"
                    b"250-AUTH PLAIN XOAUTH2\r\n250-8bitmime\r\n250 STARTTLS\r\n")
    caps = Capabilities.from_ehlo(reply)
    assert caps.domain == "mx.example"
    assert caps.size == 35882577
    assert caps.auth_mechanisms == ("LOGIN", "PLAIN", "XOAUTH2")
    assert "8BITMIME" in caps and "starttls" in caps and "PIPELINING" not in caps


def test_command_verbs() -> None:
    assert Command("MAIL FROM:<a@b>").verb == "MAIL"
    assert Command("rcpt to:<a@b>").verb == "RCPT"
    assert Command(".", kind="data-end").verb == "data-end"


@pytest.mark.parametrize(("line", "wire"), [
    ("hello", b"hello\r\n"), (".", b"..\r\n"), ("..", b"...\r\n"), (".x", b"..x\r\n"),
    ("", b"\r\n"), ("x.", b"x.\r\n"),
])
def test_stuff_line(line: str, wire: bytes) -> None:
    assert stuff_line(line) == wire


def server_view(wire: bytes) -> bytes:
    """Undo DATA the way RFC 5321 §4.5.2 tells a server to."""
    assert wire.endswith(b"\r\n.\r\n") or wire == b".\r\n"
    assert wire.count(b"\r\n.\r\n") == (0 if wire == b".\r\n" else 1)
    body = wire[:-3]
    lines = body.split(b"\r\n")[:-1]
    return b"".join((line[1:] if line.startswith(b".") else line) + b"\r\n" for line in lines)


@pytest.mark.parametrize(("chunks", "expected"), [
    ([b"a\r\n.\r\n..\r\n.x\r\n"], b"a\r\n.\r\n..\r\n.x\r\n"),
    ([b".\n"], b".\r\n"),
    ([b"no final newline"], b"no final newline\r\n"),
    ([b"bare\rcr\nlf\r\n"], b"bare\r\ncr\r\nlf\r\n"),
    ([b"a\r", b"\nb"], b"a\r\nb\r\n"),
    ([b"a\r", b"\r\n"], b"a\r\n\r\n"),
    ([b"a\n", b".b\n"], b"a\r\n.b\r\n"),
    ([b"x\r\n", b".", b"\r\n"], b"x\r\n.\r\n"),
    ([], b""),
])
def test_encode_data(chunks: list[bytes], expected: bytes) -> None:
    wire = b"".join(encode_data(chunks))
    assert server_view(wire) == expected
    assert wire.endswith(b".\r\n")
