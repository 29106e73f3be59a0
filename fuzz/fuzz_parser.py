"""Coverage-guided fuzzing of the reply parser and the DATA encoder with atheris.

    pip install atheris
    python fuzz/fuzz_parser.py -max_total_time=300     # libFuzzer options; Ctrl-C stops

Each input is cut into chunks by its first byte and fed to ReplyParser; the
parser may raise nothing but ReplyTooLarge and must stay within its caps.
The same bytes go through encode_data, whose output must hold exactly one
end of data and no bare CR or LF. A crash is saved as crash-<sha1> here.
Not part of the CI time budget: run it by hand (see the README).
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from smtpshell.protocol import ReplyParser, ReplyTooLarge, encode_data

LINE, REPLY = 256, 4096


def test_one(data: bytes) -> None:
    if not data:
        return
    step = data[0] % 32 + 1
    body = data[1:]
    parser = ReplyParser(max_line=LINE, max_reply=REPLY)
    try:
        for start in range(0, len(body), step):
            for reply in parser.feed(body[start:start + step]):
                assert reply.code is None or 100 <= reply.code <= 599
            assert parser.held() <= LINE + REPLY + 2
        parser.close()
    except ReplyTooLarge:
        pass
    wire = b"".join(encode_data([body[:step], body[step:]]))
    assert wire.endswith(b".\r\n")
    assert wire.find(b"\r\n.\r\n") in (-1, len(wire) - 5)
    flat = wire.replace(b"\r\n", b"")
    assert b"\r" not in flat and b"\n" not in flat


def main() -> None:
    atheris.Setup(sys.argv, test_one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
