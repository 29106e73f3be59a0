"""The smtplib peer: the lines smtpshell sends, written with the standard library only.

    python smtplib_peer.py host=H port=P mode=plain|starttls|tls [cafile=CA] [ehlo=NAME]
                           [auth=B64] [sender=A] [recipient=B] [messages=N] [body=FILE]
                           [prompt=1]

Run with the interpreter that runs smtpshell (the bench venv's). It parses its
arguments by hand, as a short script of one's own would not import argparse. With
prompt=1 it shows the greeting and a prompt like smtpshell's, reads one line (EOF
ends it) and quits: what T0 times. A reply other than the one expected exits 1.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
import sys


def expect(reply: tuple[int, bytes], code: int) -> None:
    if reply[0] != code:
        sys.exit(f"smtplib_peer: expected {code}, got {reply[0]} {reply[1]!r}")


def connect(opts: dict[str, str], ehlo: bool) -> tuple[smtplib.SMTP, str]:
    """Connected, under TLS if asked, with EHLO if `ehlo` (STARTTLS needs it); the
    greeting's text."""
    mode, name = opts["mode"], opts.get("ehlo", "bench.example")
    context = ssl.create_default_context(cafile=opts.get("cafile")) if mode != "plain" else None
    smtp = (smtplib.SMTP_SSL(local_hostname=name, context=context) if mode == "tls"
            else smtplib.SMTP(local_hostname=name))
    smtp._host = opts["host"]  # type: ignore[attr-defined]  # SMTP(host) sets it: TLS checks it
    code, greeting = smtp.connect(opts["host"], int(opts["port"]))
    expect((code, greeting), 220)
    if ehlo or mode == "starttls":
        expect(smtp.ehlo(), 250)
    if mode == "starttls":
        expect(smtp.starttls(context=context), 220)
        expect(smtp.ehlo(), 250)
    return smtp, f"{code} {greeting.decode(errors='replace')}"


def prompt(smtp: smtplib.SMTP, greeting: str, opts: dict[str, str]) -> None:
    sock = smtp.sock
    version = sock.version() if isinstance(sock, ssl.SSLSocket) else None
    label = (version or "plain").lower().replace("tlsv", "tls")
    print(greeting)
    with contextlib.suppress(EOFError):
        input(f"{opts['host']}:{opts['port']} {label}> ")


def send(smtp: smtplib.SMTP, opts: dict[str, str]) -> None:
    if "auth" in opts:
        expect(smtp.docmd("AUTH", f"PLAIN {opts['auth']}"), 235)
    messages = int(opts.get("messages", "0"))
    if messages:
        with open(opts["body"], "rb") as source:
            body = source.read()
        for _ in range(messages):
            expect(smtp.mail(opts["sender"]), 250)
            expect(smtp.rcpt(opts["recipient"]), 250)
            expect(smtp.data(body), 250)


def main() -> None:
    opts = dict(arg.split("=", 1) for arg in sys.argv[1:])
    smtp, greeting = connect(opts, ehlo="prompt" not in opts)
    if "prompt" in opts:
        prompt(smtp, greeting, opts)
    else:
        send(smtp, opts)
    smtp.quit()


if __name__ == "__main__":
    main()
