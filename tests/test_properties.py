"""Properties over any input (hypothesis): the reply parser, the DATA encoder, redaction."""

from __future__ import annotations

import base64
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from smtpshell.protocol import ReplyParser, ReplyTooLarge, encode_data
from smtpshell.redact import MASK, redact, secret_forms

LINE, REPLY = 64, 512
chunked = st.lists(st.binary(max_size=200), max_size=40)
# bytes SMTP servers actually send, mixed with anything at all
smtpish = st.lists(st.one_of(
    st.sampled_from([b"250-", b"250 ", b"354 ", b"\r\n", b"\n", b"\r", b"5.7.1 ", b"\x00",
                     b"\xff", b"220", b"-", b" "]),
    st.binary(max_size=80)), max_size=60).map(b"".join)


@settings(max_examples=400, deadline=None)
@given(chunks=chunked)
def test_parser_raises_only_its_own_error_and_stays_bounded(chunks: list[bytes]) -> None:
    parser = ReplyParser(max_line=LINE, max_reply=REPLY)
    for chunk in chunks:
        try:
            replies = parser.feed(chunk)
        except ReplyTooLarge:
            parser = ReplyParser(max_line=LINE, max_reply=REPLY)  # the connection is cut
            continue
        assert parser.held() <= LINE + REPLY + 2
        for reply in replies:
            assert reply.lines and all(len(line.encode()) <= 4 * LINE for line in reply.lines)
            assert reply.code is None or 100 <= reply.code <= 599
    tail = parser.close()
    assert tail is None or tail.problems


@settings(max_examples=300, deadline=None)
@given(data=smtpish, cut=st.integers(min_value=1, max_value=50))
def test_parser_does_not_depend_on_how_bytes_are_split(data: bytes, cut: int) -> None:
    def replies(chunks: list[bytes]) -> list[object]:
        parser, found = ReplyParser(), []
        for chunk in chunks:
            found += parser.feed(chunk)
        return [*found, parser.close()]

    pieces = [data[i:i + cut] for i in range(0, len(data), cut)]
    assert replies([data]) == replies(pieces)


def server_reads(wire: bytes) -> bytes:
    """What a server makes of DATA (RFC 5321 §4.5.2): lines to the lone '.', unstuffed."""
    body = []
    for line in wire.split(b"\r\n"):
        if line == b".":
            break
        body.append(line[1:] if line.startswith(b".") else line)
    return b"".join(part + b"\r\n" for part in body)


def normalised(data: bytes) -> bytes:
    text = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
    return text if not text or text.endswith(b"\r\n") else text + b"\r\n"


@settings(max_examples=500, deadline=None)
@given(data=st.binary(max_size=400) | smtpish, cuts=st.lists(st.integers(0, 400), max_size=8))
def test_data_encoder_round_trips_and_ends_once(data: bytes, cuts: list[int]) -> None:
    points = sorted({0, len(data), *(c for c in cuts if c <= len(data))})
    chunks = [data[a:b] for a, b in itertools.pairwise(points)]
    wire = b"".join(encode_data(chunks))
    assert wire == b"".join(encode_data([data]))  # chunking never changes the bytes
    assert server_reads(wire) == normalised(data)
    assert wire.endswith(b".\r\n")
    end = wire.find(b"\r\n.\r\n")
    assert end in (-1, len(wire) - 5)  # the only end of data is the last one
    assert wire.replace(b"\r\n", b"").count(b"\r") == 0  # no bare CR
    assert wire.replace(b"\r\n", b"").count(b"\n") == 0  # no bare LF


@settings(max_examples=300, deadline=None)
@given(secret=st.text(min_size=4, max_size=30), before=st.binary(max_size=10),
       after=st.binary(max_size=10))
def test_every_base64_form_of_a_secret_is_masked(secret: str, before: bytes,
                                                 after: bytes) -> None:
    blob = base64.b64encode(before + secret.encode() + after).decode()
    assert MASK in redact(blob, secret_forms(secret))
    assert MASK in redact(f"pass={secret};", secret_forms(secret))
