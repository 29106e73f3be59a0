"""Command line: the options, and one sentence for anything that goes wrong.

Owns: the argparse parser of SPEC §1 and `main`, which hands the parsed options
to launch.py and turns any SmtpShellError into one line on stderr with its exit
status — never a traceback. It imports nothing else of the shell at start, so
`--version` and `--help` cost no more than argparse.
Must not: hold state of its own beyond one run of `main`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from . import __version__
from .errors import SmtpShellError

__all__ = ["SERVE_PORT", "build_parser", "main"]

SERVE_PORT = 2525


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="smtpshell", description="An interactive shell for speaking SMTP by hand.",
        epilog="Exit status: 0 done, 1 a scripted line got an unexpected 4xx/5xx, "
               "2 usage error, 3 connection or TLS failure.")
    p.add_argument("server", nargs="?", metavar="HOST[:PORT]", help="the server to connect to")
    p.add_argument("-p", "--port", type=_port, help="port (default 25; 465 implies --tls)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--tls", "--smtps", "--tls-on-connect", dest="tls", action="store_true",
                      help="implicit TLS from the first byte (RFC 8314)")
    mode.add_argument("--starttls", action="store_true",
                      help="EHLO, STARTTLS, handshake, EHLO again; never plaintext after")
    mode.add_argument("--plain", action="store_true", help="no TLS, even on port 465")
    p.add_argument("--ehlo", metavar="NAME", help="send EHLO NAME after the greeting")
    p.add_argument("--insecure", action="store_true",
                   help="do not verify the server certificate")
    p.add_argument("--cafile", metavar="F", help="trust the CAs in this PEM file")
    p.add_argument("--cert", metavar="F", help="client certificate (PEM)")
    p.add_argument("--key", metavar="F", help="key of the client certificate")
    p.add_argument("--sni", metavar="NAME", help="server name to send and verify")
    p.add_argument("--tls-min", choices=("1.2", "1.3"), help="the lowest TLS version to accept")
    p.add_argument("--tls-max", choices=("1.2", "1.3"), help="the highest TLS version to offer")
    p.add_argument("--ciphers", metavar="S", help="OpenSSL cipher list (TLS 1.2)")
    family = p.add_mutually_exclusive_group()
    family.add_argument("-4", dest="family", action="store_const", const=4, help="IPv4 only")
    family.add_argument("-6", dest="family", action="store_const", const=6, help="IPv6 only")
    p.add_argument("--source", metavar="ADDR[:PORT]", help="local address to connect from")
    p.add_argument("--timeout", type=float, metavar="S",
                   help="deadline for connecting and for each reply (default: RFC 5321's)")
    p.add_argument("--mx", metavar="DOMAIN",
                   help="connect to DOMAIN's mail servers, in MX preference order")
    p.add_argument("--nameserver", metavar="ADDR[:PORT]", help="DNS server for --mx")
    p.add_argument("--keylog", metavar="FILE", help="write TLS keys for Wireshark")
    p.add_argument("--transcript", metavar="FILE",
                   help="append the session to FILE, timestamped, secrets masked")
    p.add_argument("--secret-env", metavar="NAME", action="append", default=[],
                   help="take a secret a script needs (a masked ******** in a replayed "
                        "transcript, a password) from this environment variable; repeatable")
    p.add_argument("--explain", action="store_true",
                   help="a line under every reply: what it means, what to do next")
    p.add_argument("--unsafe", action="store_true", help="start with safe mode off")
    p.add_argument("--no-color", action="store_true", help="no colours (also NO_COLOR)")
    p.add_argument("--no-history", action="store_true", help="keep no history file")
    p.add_argument("--profile", metavar="NAME", help="a [profile.NAME] of the config file")
    p.add_argument("--script", metavar="FILE",
                   help="run the lines of FILE (- for standard input), then exit")
    p.add_argument("--interactive", action="store_true",
                   help="after --script, stay in the shell")
    p.add_argument("--demo", action="store_true",
                   help="start the practice server on loopback and connect to it")
    p.add_argument("--render", metavar="FILE.log",
                   help="print a transcript as a sequence diagram or a web page (--format)")
    p.add_argument("--format", choices=("mermaid", "html"), default="mermaid",
                   help="for --render: mermaid (a sequenceDiagram) or html (default mermaid)")
    p.add_argument("--tutorial", nargs="?", const="", metavar="LESSON",
                   help="with --demo: the guided lessons, from LESSON or where you left off")
    p.add_argument("--serve", action="store_true",
                   help=f"run only the practice server (port {SERVE_PORT} unless --port)")
    p.add_argument("--version", action="version", version=f"smtpshell {__version__}")
    return p


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0 to 65535)")
    return int(text)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # exits 2 on a bad option, as argparse does
    try:
        from .launch import launch  # the engine, imported only now

        return launch(args, os.environ)
    except SmtpShellError as err:
        hint = f" ({err.hint})" if err.hint else ""
        print(f"smtpshell: {err}{hint}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # a bug: one line, unless SMTPSHELL_DEBUG asks for the trace
        if os.environ.get("SMTPSHELL_DEBUG"):
            raise
        print(f"smtpshell: internal error ({type(err).__name__}: {err}); please report it, "
              "with SMTPSHELL_DEBUG=1 for the details", file=sys.stderr)
        return 1
