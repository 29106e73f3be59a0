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

__all__ = ["EXAMPLES", "SERVE_PORT", "build_parser", "main"]

SERVE_PORT = 2525


EXAMPLES = """\
examples:
  smtpshell mail.example.com:587 --starttls   submission: EHLO, STARTTLS, EHLO again; then
                                              :authplain USER, MAIL FROM, RCPT TO, DATA
  smtpshell mail.example.com:465              implicit TLS (465 implies --tls)
  smtpshell mx.example.net --ehlo me.example  port 25, plaintext; :starttls when you like
  smtpshell mail.example.com --script check.smtp --json | jq -c 'select(.event=="reply")'
                                              CI: the lines of a file, one JSON event a line
  smtpshell --demo                            the practice server on loopback, and a shell on it
  smtpshell --demo --tutorial                 the lessons, where you left off

exit status: 0 done, 1 a scripted line got an unexpected reply or was not sent,
2 usage error, 3 connection or TLS failure, 130 interrupted (Ctrl-C),
141 the output was closed early.
man smtpshell says more (the helpers, the safe mode, files, the environment)."""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """The epilog's examples keep their lines; options are listed as argparse lays them."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="smtpshell", formatter_class=_Formatter, epilog=EXAMPLES,
        description="An interactive shell for speaking SMTP by hand: completion from the\n"
                    "server's EHLO, STARTTLS, AUTH helpers, a safe mode, scripts, and a\n"
                    "practice server.")
    _connection(p.add_argument_group("connection"))
    _tls(p.add_argument_group("TLS"))
    auth = p.add_argument_group("authentication")
    auth.add_argument("--user", metavar="NAME",
                      help="the user the AUTH helpers take when typed bare (:authplain)")
    auth.add_argument("--secret-env", metavar="NAME", action="append", default=[],
                      help="take a secret a script needs (a password, a masked ******** in a "
                           "replayed transcript) from this environment variable; repeatable")
    messages = p.add_argument_group("messages and safe mode")
    messages.add_argument("--unsafe", action="store_true",
                          help="start with safe mode off: bare CR/LF, smuggling-shaped text, "
                               "over-long lines go out as typed (default: safe mode on)")
    messages.add_argument("--explain", action="store_true",
                          help="a line under every reply: what it means, what to do next")
    _output(p.add_argument_group("output and transcripts"))
    scripts = p.add_argument_group("scripts")
    scripts.add_argument("--script", metavar="FILE",
                         help="run the lines of FILE (- for standard input), then exit; "
                              "standard input that is not a terminal is a script too")
    scripts.add_argument("--interactive", action="store_true",
                         help="after --script, stay in the shell")
    scripts.add_argument("--json", action="store_true",
                         help="one JSON object per event on standard output instead of text "
                              "(schema: man smtpshell)")
    practice = p.add_argument_group("practice server")
    practice.add_argument("--demo", action="store_true",
                          help="start the practice server on loopback and connect to it "
                               "(STARTTLS; with --tls its implicit-TLS port)")
    practice.add_argument("--tutorial", nargs="?", const="", metavar="LESSON",
                          help="with --demo: the guided lessons, from LESSON or where you "
                               "left off")
    practice.add_argument("--serve", action="store_true",
                          help=f"run only the practice server (default port {SERVE_PORT}; "
                               "-p 0 lets the system pick)")
    _settings(p.add_argument_group("settings and the shell"))
    return p


def _connection(group: argparse._ArgumentGroup) -> None:
    group.add_argument("server", nargs="?", metavar="HOST[:PORT]",
                       help="the server to connect to (an IPv6 address as [::1]:25)")
    group.add_argument("-p", "--port", type=_port,
                       help="port (default: 25; 465 implies --tls)")
    mode = group.add_mutually_exclusive_group()
    mode.add_argument("--tls", "--smtps", "--tls-on-connect", dest="tls", action="store_true",
                      help="implicit TLS from the first byte (RFC 8314)")
    mode.add_argument("--starttls", action="store_true",
                      help="EHLO, STARTTLS, handshake, EHLO again; never plaintext after")
    mode.add_argument("--plain", action="store_true",
                      help="no TLS, even on port 465 (default on other ports)")
    group.add_argument("--ehlo", metavar="NAME",
                       help="send EHLO NAME after the greeting (default: none is sent but by "
                            "--starttls and the helpers, which use this host's name)")
    family = group.add_mutually_exclusive_group()
    family.add_argument("-4", dest="family", action="store_const", const=4,
                        help="IPv4 only (default: either)")
    family.add_argument("-6", dest="family", action="store_const", const=6, help="IPv6 only")
    group.add_argument("--source", metavar="ADDR[:PORT]", help="local address to connect from")
    group.add_argument("--timeout", type=float, metavar="S",
                       help="deadline for connecting and for each reply (default: 30 s to "
                            "connect, RFC 5321's for each reply)")
    group.add_argument("--mx", metavar="DOMAIN",
                       help="connect to DOMAIN's mail servers, in MX preference order")
    group.add_argument("--nameserver", metavar="ADDR[:PORT]",
                       help="DNS server for --mx (default: the system's)")


def _tls(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--insecure", action="store_true",
                       help="do not verify the server certificate (still says why it would "
                            "fail)")
    group.add_argument("--cafile", metavar="F",
                       help="trust the CAs in this PEM file (default: the system's)")
    group.add_argument("--cert", metavar="F", help="client certificate (PEM)")
    group.add_argument("--key", metavar="F",
                       help="key of the client certificate (default: in --cert)")
    group.add_argument("--sni", metavar="NAME",
                       help="server name to send and verify (default: HOST)")
    group.add_argument("--tls-min", choices=("1.2", "1.3"),
                       help="the lowest TLS version to accept (default: 1.2)")
    group.add_argument("--tls-max", choices=("1.2", "1.3"),
                       help="the highest TLS version to offer (default: 1.3)")
    group.add_argument("--ciphers", metavar="S",
                       help="OpenSSL cipher list for TLS 1.2 (default: OpenSSL's)")
    group.add_argument("--keylog", metavar="FILE",
                       help="write TLS keys for Wireshark (default: $SSLKEYLOGFILE)")


def _output(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--transcript", metavar="FILE",
                       help="append the session to FILE, timestamped, secrets masked")
    group.add_argument("--no-color", action="store_true",
                       help="no colours (also NO_COLOR; FORCE_COLOR or CLICOLOR_FORCE colour "
                            "a script's output too)")
    group.add_argument("--render", metavar="FILE.log",
                       help="print a transcript as a sequence diagram or a web page")
    group.add_argument("--format", choices=("mermaid", "html"), default="mermaid",
                       help="for --render (default: %(default)s)")


def _settings(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--profile", metavar="NAME",
                       help="a [profile.NAME] of the config file")
    group.add_argument("--print-config", action="store_true",
                       help="print every setting and where it came from, then exit")
    group.add_argument("--print-completion", choices=("bash", "zsh"), metavar="SHELL",
                       help="print a completion script for bash or zsh, then exit")
    group.add_argument("--vi", action="store_true",
                       help="vi key bindings at the prompt (default: emacs; also edit_mode in "
                            "the config)")
    group.add_argument("--no-history", action="store_true",
                       help="keep no history file this time")
    group.add_argument("--version", action=_Version, help="versions, for a bug report")


class _Version(argparse.Action):
    """smtpshell's version and what a bug report needs, without importing any of them."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None
                 ) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        import _ssl  # the C module: the OpenSSL version, without ssl.py's imports

        python = ".".join(map(str, sys.version_info[:3]))
        lines = [f"smtpshell {__version__}",
                 f"Python {python} ({sys.implementation.name}), {_ssl.OPENSSL_VERSION}"]
        found = _installed()
        lines += [f"{name} {found.get(name, 'not installed')}"
                  for name in ("prompt_toolkit", "cryptography", "pygments", "aiosmtpd")]
        sys.stdout.write("\n".join(lines) + "\n")  # as argparse's own version action does
        parser.exit()


def _installed() -> dict[str, str]:
    """Each distribution's version from its `NAME-VERSION.dist-info` folder on sys.path (the
    wheel format names it so; the first on the path wins, as for imports);
    importlib.metadata would cost more than the rest of --version."""
    found: dict[str, str] = {}
    for folder in sys.path:
        try:
            entries = os.listdir(folder or ".")
        except OSError:
            continue
        for entry in entries:
            name, dash, version = entry.removesuffix(".dist-info").partition("-")
            if entry.endswith(".dist-info") and dash:
                found.setdefault(name.lower(), version)
    return found


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0 to 65535)")
    return int(text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 on a bad option, as argparse does
    if args.print_completion:
        from .shellcomplete import completion_script

        sys.stdout.write(completion_script(parser, args.print_completion))
        return 0
    try:
        from .launch import launch  # the engine, imported only now

        return launch(args, os.environ)
    except SmtpShellError as err:
        print(f"smtpshell: {err.line}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # a bug: one line, unless SMTPSHELL_DEBUG asks for the trace
        if os.environ.get("SMTPSHELL_DEBUG"):
            raise
        print(f"smtpshell: internal error ({type(err).__name__}: {err}); please report it, "
              "with SMTPSHELL_DEBUG=1 for the details", file=sys.stderr)
        return 1
