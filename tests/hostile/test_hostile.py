"""Hostile servers and careless input: every case asserts on the bytes the server
received and on what the user saw. Nothing a server sends breaks the shell;
nothing dangerous leaves it."""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import CERTS, Case, play

from smtpshell.config import TlsOptions

HELLO = ("send", b"220 hostile.test ESMTP\r\n")
EHLO = "EHLO x.example"
TRUST = {"tls": TlsOptions(cadata=CERTS.ca_pem), "ehlo": "x.example"}


def ehlo(*extensions: str) -> list[tuple[object, ...]]:
    lines = ["hostile.test", *extensions]
    reply = "".join(f"250{'-' if i < len(lines) - 1 else ' '}{line}\r\n"
                    for i, line in enumerate(lines))
    return [("expect", b"EHLO"), ("send", reply.encode())]


def starttls_offered() -> list[tuple[object, ...]]:
    return [HELLO, *ehlo("PIPELINING", "STARTTLS"), ("expect", b"STARTTLS")]


# -- STARTTLS --------------------------------------------------------------------

STARTTLS = [
    Case("injection-same-packet", [*starttls_offered(),
                                   ("send", b"220 go\r\n250-PIPELINING\r\n250 AUTH PLAIN\r\n")],
         [EHLO, ":starttls"], b"EHLO x.example\r\nSTARTTLS\r\n",
         ("response injection", "CVE-2011-0411"), ("\n250 AUTH PLAIN",), connected=False),
    Case("injection-fragment", [*starttls_offered(), ("send", b"220 go\r\n250 par")],
         [EHLO, ":starttls"], b"EHLO x.example\r\nSTARTTLS\r\n", ("response injection",),
         connected=False),
    Case("injection-next-packet", [*starttls_offered(), ("send", b"220 go\r\n"),
                                   ("after_client_read",), ("send", b"250 injected\r\n")],
         [EHLO, ":starttls"], b"EHLO x.example\r\nSTARTTLS\r\n", ("response injection",),
         ("\n250 injected",), connected=False),
    Case("injection-then-raw-starttls", [*starttls_offered(),
                                         ("send", b"220 go\r\n250 x\r\n")],
         [EHLO, "STARTTLS", "NOOP"], b"EHLO x.example\r\nSTARTTLS\r\n",
         ("response injection", "not connected"), connected=False),
    Case("354-to-starttls", [*starttls_offered(), ("send", b"354 go ahead\r\n")],
         [EHLO, ":starttls", "Subject: not a body"], b"EHLO x.example\r\nSTARTTLS\r\n",
         ("refused STARTTLS (354)", "not connected"), ("data>",), connected=False),
    Case("334-to-starttls", [*starttls_offered(), ("send", b"334 VXNlcm5hbWU6\r\n")],
         [EHLO, ":starttls", "ZGVtbw=="], b"EHLO x.example\r\nSTARTTLS\r\n",
         ("refused STARTTLS (334)", "not connected"), connected=False),
    Case("454-to-starttls", [*starttls_offered(), ("send", b"454 4.7.0 TLS not available\r\n")],
         [EHLO, ":starttls"], b"EHLO x.example\r\nSTARTTLS\r\n",
         ("refused STARTTLS (454)", "rather than continue in plaintext"), connected=False),
    Case("typed-starttls-refused-stays-plain", [*starttls_offered(),
                                                ("send", b"502 5.5.1 no\r\n"),
                                                ("expect", b"NOOP"), ("send", b"250 ok\r\n")],
         [EHLO, "STARTTLS", "NOOP"], b"EHLO x.example\r\nSTARTTLS\r\nNOOP\r\n",
         ("502 5.5.1 no", "250 ok"), connected=True),
    Case("starttls-not-offered", [HELLO, *ehlo("PIPELINING")], [EHLO, ":starttls"],
         b"EHLO x.example\r\n", ("does not offer STARTTLS",), connected=False),
    Case("starttls-helper-says-ehlo-first", [HELLO, *ehlo("8BITMIME")], [":starttls"],
         b"EHLO x.example\r\n", ("does not offer STARTTLS",), connected=False,
         settings={"ehlo": "x.example"}),
    Case("close-after-220", [*starttls_offered(), ("send", b"220 go\r\n"), ("close",)],
         [EHLO, ":starttls", "NOOP"], lambda r: r.startswith(b"EHLO x.example\r\nSTARTTLS"),
         ("TLS handshake with 127.0.0.1 failed", "not connected"), connected=False),
    Case("plaintext-answer-to-client-hello", [*starttls_offered(), ("send", b"220 go\r\n"),
                                               ("read_hello",), ("send", b"250 ok\r\n")],
         [EHLO, ":starttls"], None, ("answered with plaintext, not TLS",), connected=False),
    Case("never-a-second-starttls", [*starttls_offered(), ("send", b"220 go\r\n"), ("tls",),
                                     *ehlo("STARTTLS", "AUTH PLAIN"), ("expect", b"NOOP"),
                                     ("send", b"250 ok\r\n")],
         [":starttls", "STARTTLS", ":starttls", "starttls", "NOOP"],  # --ehlo x.example
         b"EHLO x.example\r\nSTARTTLS\r\nEHLO x.example\r\nNOOP\r\n",
         ("already TLS", "TLS is up: TLSv1.3"), connected=True, settings=TRUST),
]

# -- replies ---------------------------------------------------------------------------


def reply_case(name: str, reply: bytes, seen: tuple[str, ...], unseen: tuple[str, ...] = (),
               second: bool = True) -> Case:
    """NOOP gets the broken reply; a second NOOP proves the session goes on."""
    server = [HELLO, ("expect", b"NOOP"), ("send", reply)]
    if second:
        server += [("expect", b"NOOP"), ("send", b"250 still here\r\n")]
    return Case(name, server, ["NOOP", "NOOP"] if second else ["NOOP"],
                b"NOOP\r\nNOOP\r\n" if second else None,
                (*seen, "250 still here") if second else seen, unseen,
                connected=True if second else None)


BIG = 300 * 1024
REPLIES = [
    reply_case("bare-lf", b"250 ok\n", ("bare LF instead of CRLF",)),
    reply_case("mismatched-codes", b"250-first\r\n251 second\r\n",
               ("different codes (250 then 251)",)),
    reply_case("not-utf8", b"250 caf\xe9\r\n", ("not UTF-8", "250 caf\\xe9")),
    reply_case("overlong-line", b"250 " + b"x" * 10_000 + b"\r\n",
               ("longer than 8192 bytes; the rest was dropped",)),
    reply_case("longer-than-rfc", b"250 " + b"y" * 700 + b"\r\n", ("512 octets RFC 5321",)),
    reply_case("uncoded-line-inside", b"250-a\r\nno code\r\n250 b\r\n",
               ("a line inside the reply has no reply code",)),
    reply_case("code-out-of-range", b"650 nonsense\r\n250 ok\r\n",
               ("not an SMTP reply", "S: 650 nonsense")),
    reply_case("four-digit-code", b"2500 nonsense\r\n250 ok\r\n", ("S: 2500 nonsense",)),
    reply_case("blank-line", b"\r\n250 ok\r\n", ("not an SMTP reply",)),
    reply_case("code-only", b"250\r\n", ("250\n",), ("! server",)),
    reply_case("code-glued-to-text", b"250text\r\n250 ok\r\n", ("S: 250text",)),
    reply_case("terminal-escapes", b"250 \x1b[2J\x1b]0;pwned\x07 hi\r\n",
               ("\\x1b[2J", "\\x1b]0;pwned\\x07"), ("\x1b", "\x07")),
    reply_case("bidi-override", "250 abc\u202egnp.exe\r\n".encode(), ("\\u202e",), ("\u202e",)),
    reply_case("c1-control", "250 a\u009bb\r\n".encode(), ("\\x9b",), ("\u009b",)),
    reply_case("nul-inside", b"250 a\x00b\r\n", ("250 a\\x00b",), ("\x00",)),
    reply_case("fake-shell-message", b"250-* TLS is up: TLSv1.3\r\n250 ! safe mode is off\r\n",
               ("250-* TLS is up", "250 ! safe mode is off"), ("\n* TLS is up",)),
    reply_case("http-answer", b"HTTP/1.1 400 Bad Request\r\n",
               ("an HTTP server",), second=False),
    reply_case("flood-of-replies", b"250 unasked\r\n" * 200 + b"250 last\r\n",
               ("replies nobody asked for; cut off",), second=False),
    reply_case("endless-line", b"2" * (2 * 1024 * 1024),
               ("more than 1024 KiB without being asked",), second=False),
    reply_case("reply-too-large", b"250-" + b"z" * 100 + b"\r\n" * 1 + (b"250-" + b"z" * 100
               + b"\r\n") * (BIG // 104), ("more than 256 KiB",), second=False),
    Case("close-mid-reply", [HELLO, ("expect", b"NOOP"), ("send", b"250-part\r\n250-mo"),
                             ("close",)],
         ["NOOP", "NOOP"], b"NOOP\r\n", ("closed in the middle of this reply", "not connected"),
         connected=False),
    Case("trickled-reply", [HELLO, ("expect", b"EHLO"),
                            ("trickle", b"250-hostile.test\r\n250-SIZE 1000\r\n250 HELP\r\n"),
                            ("expect", b"MAIL"), ("send", b"250 ok\r\n")],
         [EHLO, "MAIL FROM:<a@b.example> SIZE=10"], lambda r: r.endswith(b"SIZE=10\r\n"),
         ("250 HELP",), ("! server",), connected=True),
]

# -- DATA and SMTP smuggling -------------------------------------------------------------

ENVELOPE = [HELLO, *ehlo("8BITMIME"), ("expect", b"MAIL"), ("send", b"250 ok\r\n"),
            ("expect", b"RCPT"), ("send", b"250 ok\r\n"), ("expect", b"DATA"),
            ("send", b"354 go\r\n")]
TYPED_ENVELOPE = [EHLO, ":mail a@x.example", ":rcpt b@x.example"]


def body_sent(expected: bytes) -> object:
    def check(received: bytes) -> bool:
        body = received.split(b"DATA\r\n", 1)[1]
        return body == expected and body.count(b"\r\n.\r\n") == (body != b".\r\n")
    return check


def smuggling(name: str, content: bytes, expected: bytes) -> Case:
    return Case(f"smuggling-{name}", [*ENVELOPE, ("data",)],
                [*TYPED_ENVELOPE, ":data {dir}/m.eml"], body_sent(expected),
                ("250 2.0.0 taken",), connected=True, files={"m.eml": content})


DATA = [
    smuggling("lf-dot-lf", b"a\n.\nb", b"a\r\n..\r\nb\r\n.\r\n"),
    smuggling("lf-dot-crlf", b"a\n.\r\nb", b"a\r\n..\r\nb\r\n.\r\n"),
    smuggling("cr-dot-cr", b"a\r.\rb", b"a\r\n..\r\nb\r\n.\r\n"),
    smuggling("cr-dot-lf", b"a\r.\nb", b"a\r\n..\r\nb\r\n.\r\n"),
    smuggling("crlf-dot-cr", b"a\r\n.\rb", b"a\r\n..\r\nb\r\n.\r\n"),
    smuggling("crlf-dot-crlf", b"a\r\n.\r\nb\r\n", b"a\r\n..\r\nb\r\n.\r\n"),
    smuggling("dot-at-start", b".\r\nrest", b"..\r\nrest\r\n.\r\n"),
    smuggling("empty-message", b"", b".\r\n"),
    Case("smuggling-nul-before-dot", ENVELOPE[:-2], [*TYPED_ENVELOPE, ":data {dir}/m.eml"],
         lambda r: b"DATA" not in r, ("holds a NUL byte", "SMTP smuggling"),
         files={"m.eml": b"a\r\n\x00.\r\nMAIL FROM:<evil@x>\r\n"}),
    Case("smuggling-dot-nul", ENVELOPE[:-2], [*TYPED_ENVELOPE, ":data {dir}/m.eml"],
         lambda r: b"DATA" not in r, ("holds a NUL byte",),
         files={"m.eml": b"a\r\n.\x00\r\nb"}),
    Case("typed-body-with-cr-or-nul", [*ENVELOPE, ("data",)],
         [*TYPED_ENVELOPE, "DATA", "a\r.\rMAIL FROM:<evil@x>", "c\x00d", "ok", "."],
         body_sent(b"ok\r\n.\r\n"), ("holds a bare CR", "holds a NUL byte"), connected=True),
    Case("refused-data-paste-not-sent", [HELLO, *ehlo(), ("expect", b"MAIL"),
                                         ("send", b"250 ok\r\n"), ("expect", b"RCPT"),
                                         ("send", b"250 ok\r\n"), ("expect", b"DATA"),
                                         ("send", b"554 5.5.1 no thanks\r\n")],
         [*TYPED_ENVELOPE, "PASTE:DATA\nSubject: x\n\nRCPT TO:<evil@x>\n."],
         lambda r: r.endswith(b"DATA\r\n"), ("were not sent",), connected=True),
    Case("250-instead-of-354", [HELLO, *ehlo(), ("expect", b"MAIL"), ("send", b"250 ok\r\n"),
                                ("expect", b"RCPT"), ("send", b"250 ok\r\n"),
                                ("expect", b"DATA"), ("send", b"250 sure\r\n")],
         [*TYPED_ENVELOPE, "PASTE:DATA\nSubject: x\n\nQUIT\n."],
         lambda r: r.endswith(b"DATA\r\n"), ("were not sent",), connected=True),
    Case("354-to-the-wrong-command", [HELLO, ("expect", b"NOOP"), ("send", b"354 go\r\n"),
                                      ("expect", b"RSET"), ("send", b"250 ok\r\n")],
         ["NOOP", "RSET"], b"NOOP\r\nRSET\r\n", ("250 ok",), ("data>",), connected=True),
    Case("extra-reply-to-data", [*ENVELOPE, ("send", b"250 and another\r\n"), ("data",)],
         [*TYPED_ENVELOPE, "DATA", "hi", "."], body_sent(b"hi\r\n.\r\n"),
         ("unsolicited reply", "250 and another"), connected=True),
    Case("close-after-354", [*ENVELOPE, ("close",)],
         [*TYPED_ENVELOPE, "DATA", "Subject: x", "."], None, ("not connected",),
         connected=False),
    Case("close-after-final-dot", [*ENVELOPE, ("expect", b"hi"), ("expect", b"."), ("close",)],
         [*TYPED_ENVELOPE, "DATA", "hi", "."], None,
         ("outcome is unknown", "may have been delivered"), connected=False),
    Case("server-stops-reading", [*ENVELOPE, ("hold",)],
         [*TYPED_ENVELOPE, ":data {dir}/big.eml"], None,
         ("took no message text for 0.5 s",), connected=False,
         settings={"timeout": 0.5}, files={"big.eml": b"0123456789abcdef\r\n" * 1_000_000}),
]

# -- AUTH ----------------------------------------------------------------------------

AUTH = [
    Case("bad-base64-challenge", [HELLO, *ehlo("AUTH CRAM-MD5"), ("expect", b"AUTH CRAM-MD5"),
                                  ("send", b"334 !!not base64!!\r\n"), ("expect", b"*"),
                                  ("send", b"501 cancelled\r\n")],
         [EHLO, ":authcram demo s3cret"], b"EHLO x.example\r\nAUTH CRAM-MD5\r\n*\r\n",
         ("not valid base64", "cancelling the exchange"), ("s3cret",), confirm=True),
    Case("endless-334", [HELLO, *ehlo("AUTH LOGIN"), ("expect", b"AUTH LOGIN"),
                         *[("send", b"334 UGFzc3dvcmQ6\r\n"), ("expect", b"")] * 3,
                         ("send", b"334 UGFzc3dvcmQ6\r\n"), ("send", b"501 cancelled\r\n")],
         [EHLO, ":authlogin demo s3cret"],
         lambda r: r.endswith(b"*\r\n") and r.count(b"\r\n") == 5,
         ("asked for more than this mechanism sends",), confirm=True),
    Case("password-echoed-in-script-output", [HELLO, *ehlo("AUTH PLAIN"),
                                              ("expect", b"AUTH PLAIN"),
                                              ("send", b"535 5.7.8 bad password s3cret-Pass\r\n")],
         [EHLO, ":authplain demo s3cret-Pass"], None, ("535 5.7.8 bad password ********",),
         ("s3cret-Pass", "czNjcmV0LVBhc3M"), confirm=True, script=True),
    Case("334-to-noop-is-no-auth-dialog", [HELLO, ("expect", b"NOOP"),
                                           ("send", b"334 VXNlcm5hbWU6\r\n"),
                                           ("expect", b"RSET"), ("send", b"250 ok\r\n")],
         ["NOOP", "RSET"], b"NOOP\r\nRSET\r\n", ('"Username:"', "250 ok"), connected=True),
    Case("raw-auth-without-tls-declined", [HELLO, *ehlo("AUTH PLAIN")],
         [EHLO, "AUTH PLAIN AGRlbW8AZGVtbw=="], b"EHLO x.example\r\n",
         ("without TLS", "Not sent."), connected=True),
    Case("xoauth2-error-not-json", [HELLO, *ehlo("AUTH XOAUTH2"), ("expect", b"AUTH XOAUTH2"),
                                    ("send", b"334 bm90IGpzb24=\r\n"), ("expect", b""),
                                    ("send", b"535 5.7.8 no\r\n")],
         [EHLO, ":xoauth2 demo tok3n"], lambda r: r.endswith(b"\r\n\r\n"),
         ("the server says: not json", "535 5.7.8"), confirm=True),
    Case("secret-with-control-character", [HELLO],
         [":authplain demo pa\rss"], b"", ("Not sent: the line for :authplain holds a bare CR",),
         ("pa\rss", "pa\\rss")),
]

# -- faults and timeouts --------------------------------------------------------------

FAULTS = [
    Case("reset-mid-session", [HELLO, ("expect", b"NOOP"), ("reset",)], ["NOOP", "NOOP"],
         b"NOOP\r\n", ("not connected",), connected=False),
    Case("close-after-greeting", [HELLO, ("close",)], ["NOOP", "NOOP"], None,
         ("closed",), connected=False),
    Case("no-greeting", [("hold",)], ["NOOP"], b"", ("sent no greeting within 0.3 s",
                                                     "not connected"),
         connected=False, settings={"timeout": 0.3}),
    Case("reply-timeout-then-out-of-step", [HELLO, ("expect", b"NOOP"), ("hold",)],
         ["NOOP", "RSET"], b"NOOP\r\n", ("no reply within 0.3 s", "out of step", "Not sent."),
         connected=True, settings={"timeout": 0.3}),
    Case("421-greeting", [("send", b"421 4.3.2 too busy\r\n"), ("hold",)], [EHLO], b"",
         ("421 4.3.2 too busy", "not taking connections now (421)", "not connected"),
         connected=False),
    Case("unsolicited-421-then-close", [HELLO, ("send", b"421 4.4.2 idle\r\n"), ("close",)],
         ["NOOP"], None, ("unsolicited reply", "421 4.4.2 idle"), connected=False),
    Case("ssh-banner", [("send", b"SSH-2.0-OpenSSH_9.6\r\n")], ["NOOP"], b"",
         ("an SSH server", "not connected"), connected=False),
    Case("imap-banner", [("send", b"* OK [CAPABILITY IMAP4rev1] ready\r\n")], [], b"",
         ("an IMAP server",), connected=False),
    Case("pop3-banner", [("send", b"+OK POP3 ready\r\n")], [], b"", ("a POP3 server",),
         connected=False),
    Case("tls-alert-to-ehlo", [HELLO, ("expect", b"EHLO"),
                               ("send", b"\x15\x03\x01\x00\x02\x02F"), ("close",)],
         [EHLO, "NOOP"], b"EHLO x.example\r\n", ("a TLS server", "not connected"),
         connected=False),
    Case("greeting-then-reset", [HELLO, ("reset",)], ["NOOP", "NOOP"], None,
         ("not connected",), connected=False),
    Case("reconnect-after-fault", [HELLO, ("expect", b"NOOP"), ("reset",)],
         ["NOOP", ":reconnect", "RSET"], lambda r: r.endswith(b"RSET\r\n"),
         ("reset by the server", "250 fresh"), connected=True,
         again=[HELLO, ("expect", b"RSET"), ("send", b"250 fresh\r\n")]),
]

# -- what the user types ------------------------------------------------------------------

INPUT = [
    *[Case(f"sclient-{letter}", [HELLO], [letter], b"",
           ("in openssl s_client a line holding only", "hint: type"), connected=True)
      for letter in "RQkKC"],
    Case("bare-cr-in-command", [HELLO], ["NOOP\rMAIL FROM:<evil@x>"], b"", ("bare CR",)),
    Case("nul-in-command", [HELLO], ["NOOP\x00"], b"", ("NUL byte",)),
    Case("overlong-command", [HELLO], ["NOOP " + "x" * 600], b"", ("the limit is 512",)),
    Case("non-ascii-without-smtputf8", [HELLO, *ehlo("8BITMIME")],
         [EHLO, "MAIL FROM:<jörg@x.example>"], b"EHLO x.example\r\n", ("SMTPUTF8",)),
    Case("helper-control-character-even-unsafe", [HELLO], [":mail a@x.example\rRCPT TO:<e@x>"],
         b"", ("bare CR", "nothing was written"), settings={"safe": False}),
    Case("raw-needs-safe-off", [HELLO], [":raw NOOP\\r\\n"], b"", ("safe mode exists to stop",)),
    Case("raw-with-safe-off", [HELLO, ("expect", b"NOOP"), ("send", b"250 ok\r\n")],
         [":safe off", ":raw NOOP\\r\\n"], b"NOOP\r\n", ("250 ok",), settings={}),
    Case("colon-colon", [HELLO, ("expect", b":x"), ("send", b"500 what\r\n")], ["::x"],
         b":x\r\n", ("500 what",)),
    Case("order-mistake-declined", [HELLO], ["RCPT TO:<a@x.example>", "DATA"], b"",
         ("RCPT before MAIL", "DATA before any accepted RCPT", "Not sent.")),
    Case("order-mistake-confirmed", [HELLO, ("expect", b"RCPT"), ("send", b"503 no\r\n")],
         ["RCPT TO:<a@x.example>"], b"RCPT TO:<a@x.example>\r\n", ("503 no",), confirm=True),
]

CASES = STARTTLS + REPLIES + DATA + AUTH + FAULTS + INPUT


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 60 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile(case: Case, tmp_path: Path) -> None:
    play(case, tmp_path)
