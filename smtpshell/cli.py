"""Command line: argparse -> Settings, pick the mode, map errors to exit codes.

Owns: the options of SPEC §1, choosing shell / script / --demo / --serve,
and turning any SmtpShellError into one line on stderr with exit 2 or 3 —
never a traceback. prompt_toolkit, cryptography and aiosmtpd are imported
only by the modes that need them.
Must not: hold state of its own beyond one run of `main`.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import math
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, BinaryIO

from . import __version__
from .commands import UI, Engine
from .config import (
    Practice,
    Settings,
    Target,
    TlsMode,
    TlsOptions,
    color_enabled,
    config_path,
    history_path,
    implied_mode,
    load_profile,
    parse_hostport,
    state_path,
)
from .errors import SmtpShellError, TlsFailed, UsageError
from .helpers import make_engine
from .script import ScriptUI, read_lines, run_script
from .session import SessionState
from .tls import client_context

__all__ = ["build_parser", "main"]

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
    family.add_argument("-4", dest="family", action="store_const", const=socket.AF_INET,
                        help="IPv4 only")
    family.add_argument("-6", dest="family", action="store_const", const=socket.AF_INET6,
                        help="IPv6 only")
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


def make_settings(args: argparse.Namespace, env: Mapping[str, str]) -> Settings:
    """defaults < profile < flags; every mistake in them is a usage error, found now."""
    profile: dict[str, Any] = load_profile(args.profile, env) if args.profile else {}
    args = _with_profile(args, profile)
    _check(args, env, profile)
    tls = TlsOptions(insecure=args.insecure, cafile=args.cafile, cert=args.cert, key=args.key,
                     sni=args.sni, tls_min=args.tls_min, tls_max=args.tls_max,
                     ciphers=args.ciphers, keylog=args.keylog or env.get("SSLKEYLOGFILE"))
    try:
        client_context(tls)  # a bad --cafile, --cert, --ciphers…: say so before connecting
    except TlsFailed as err:
        raise UsageError(str(err), err.hint) from None
    nameserver = parse_hostport(args.nameserver, 53) if args.nameserver else None
    return Settings(
        target=_target(args, profile), tls=tls, ehlo=args.ehlo or profile.get("ehlo"),
        user=profile.get("user"), timeout=args.timeout, safe=not args.unsafe,
        color=color_enabled(args.no_color, env), transcript=args.transcript,
        explain=args.explain,
        history=None if args.no_history else history_path(env),
        progress=state_path(env, "tutorial.json"),
        lessons_dir=config_path(env).parent / "lessons",
        secret_env=tuple(args.secret_env), mx=args.mx,
        nameserver=(nameserver[0], nameserver[1] or 53) if nameserver else None)


_FROM_PROFILE = ("cafile", "cert", "key", "sni", "tls_min", "tls_max", "ciphers", "timeout",
                 "source")


def _with_profile(args: argparse.Namespace, profile: Mapping[str, Any]) -> argparse.Namespace:
    """The flags, with what the profile sets for those not given."""
    merged = vars(args).copy()
    for key in _FROM_PROFILE:
        if merged[key] is None and key in profile:
            merged[key] = profile[key]
    merged["insecure"] = args.insecure or profile.get("insecure", False)
    if args.family is None and "ip" in profile:
        merged["family"] = socket.AF_INET if profile["ip"] == 4 else socket.AF_INET6
    return argparse.Namespace(**merged)


def _check(args: argparse.Namespace, env: Mapping[str, str], profile: Mapping[str, Any]
           ) -> None:
    def fail(message: str, hint: str = "") -> None:
        raise UsageError(message, hint)

    if args.timeout is not None and not (math.isfinite(args.timeout) and args.timeout > 0):
        fail("--timeout must be a positive number of seconds")
    if args.key and not args.cert:
        fail("--key needs --cert")
    if args.mx and args.server:
        fail("give HOST or --mx DOMAIN, not both")
    if args.tutorial is not None and not args.demo:
        fail("--tutorial comes with --demo: the lessons run on the practice server",
             "smtpshell --demo --tutorial")
    if args.tutorial is not None and args.script is not None:
        fail("--tutorial is for a person at the keyboard, not a --script")
    if args.demo and args.serve:
        fail("give --demo or --serve, not both", "--demo runs the server and a shell on it")
    if args.tls_min and args.tls_max and float(args.tls_min) > float(args.tls_max):
        fail(f"--tls-min {args.tls_min} is above --tls-max {args.tls_max}")
    if args.server and args.port is not None and parse_hostport(args.server, None)[1]:
        fail(f"{args.server} already names a port; -p {args.port} would be ignored")
    for name in args.secret_env:
        if name not in env:
            fail(f"--secret-env {name}: no such environment variable")
    ehlo = args.ehlo or profile.get("ehlo")
    if ehlo is not None and (not ehlo or any(c.isspace() or ord(c) < 32 for c in ehlo)):
        fail(f"the EHLO name {ehlo!r} holds spaces or control characters",
             "give a host name or an address literal such as [192.0.2.1]")
    if ehlo is not None and not ehlo.isascii():  # what the safe mode says of a typed EHLO
        fail(f"the EHLO name {ehlo!r} is not ASCII: before EHLO nobody knows whether the "
             "server takes UTF-8 (SMTPUTF8), so it would not be sent", _idna_hint(ehlo))
    if args.sni:
        try:
            args.sni.encode("idna")
        except UnicodeError:
            fail(f"--sni {args.sni!r} is not a valid host name")
    if args.nameserver:
        _check_address(parse_hostport(args.nameserver, 53)[0], "--nameserver")
    for option, path in (("--cafile", args.cafile), ("--cert", args.cert), ("--key", args.key)):
        if path is not None and not os.path.isfile(path):
            fail(f"{option} {path}: no such file")
    if args.script == "-" and args.interactive:
        fail("--script - reads standard input, which --interactive needs for the shell",
             "give the script as a file")
    if args.script not in (None, "-") and not _readable(args.script):
        fail(f"--script {args.script}: no such file", "- reads the script from standard input")


def _idna_hint(name: str) -> str:
    try:
        return f"its ASCII form is {name.encode('idna').decode()}"
    except UnicodeError:
        return "give an ASCII host name"


def _readable(path: str) -> bool:
    """A file, a pipe, a FIFO, /dev/stdin, <(process substitution): anything but a folder."""
    return os.path.exists(path) and not os.path.isdir(path)


def _check_address(text: str, option: str) -> None:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise UsageError(f"{option} takes an IP address, not {text!r}") from None


def _target(args: argparse.Namespace, profile: Mapping[str, Any]) -> Target | None:
    server = args.server or profile.get("host") or args.mx
    if server is None:
        return None
    given = args.port if args.port is not None else profile.get("port")
    host, port = parse_hostport(server, given)
    if port == 0:
        raise UsageError("port 0 is only for --serve (it lets the system pick)")
    mode: TlsMode | None = ("tls" if args.tls else "starttls" if args.starttls else
            "plain" if args.plain else profile.get("tls"))
    port = port or (465 if mode == "tls" else 25)
    source = parse_hostport(args.source, 0) if args.source else None
    return Target(host, port, implied_mode(port, mode, args.plain),
                  args.family or socket.AF_UNSPEC,
                  (source[0], source[1] or 0) if source else None)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # exits 2 on a bad option, as argparse does
    try:
        if args.render is not None:
            if args.server or args.demo or args.serve or args.script:
                raise UsageError("--render reads a transcript; it connects nowhere",
                                 "smtpshell --render FILE.log --format mermaid|html")
            return _render(args.render, args.format)
        settings = make_settings(args, os.environ)
        if args.serve:
            return _serve(SERVE_PORT if args.port is None else args.port)
        if not args.demo and settings.target is None and not settings.mx:
            raise UsageError("no server given", "smtpshell HOST[:PORT], or --demo to practise")
        return asyncio.run(_session(args, settings))
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


async def _session(args: argparse.Namespace, settings: Settings) -> int:
    scripted = args.script is not None or not sys.stdin.isatty()
    if args.tutorial is not None and scripted:
        raise UsageError("--tutorial is for a person at a terminal; standard input is not one",
                         "run smtpshell --demo --tutorial in a terminal")
    state = SessionState(safe=settings.safe, explain=settings.explain)
    server = None
    if args.demo:
        from .server import PracticeServer

        server = PracticeServer(smtps_too=True)
        await server.start()
        assert server.tls_port is not None
        practice = Practice(server.host, server.port, server.tls_port)
        mode: TlsMode = "tls" if args.tls else "starttls" if args.starttls else "plain"
        settings = replace(settings, target=practice.target(mode), practice=practice,
                           tls=replace(settings.tls, cadata=server.ca_pem))
    try:
        if scripted and not args.interactive:
            return await _run_script(args, settings, state, server)
        return await _run_shell(args, settings, state, server)
    finally:
        if server is not None:
            await server.stop()


def _engine(settings: Settings, state: SessionState, ui: UI, server: Any, *,
            script: bool) -> Engine:
    return make_engine(settings, state, ui, script=script,
                       inbox=server.inbox if server is not None else None)


async def _connect(engine: Engine, settings: Settings) -> None:
    assert settings.target is not None
    if settings.mx:
        await engine.dialer.open_mx(settings.mx, settings.target.port, settings.target.mode)
    else:
        await engine.dialer.open_target(settings.target)


async def _run_script(args: argparse.Namespace, settings: Settings, state: SessionState,
                      server: Any) -> int:
    ui = ScriptUI(secrets=[os.environ[name] for name in settings.secret_env])
    engine = _engine(settings, state, ui, server, script=True)
    await _connect(engine, settings)
    with _open_script(args.script or "-") as source:
        return await run_script(engine, read_lines(source))


def _open_script(path: str) -> BinaryIO:
    """The script: a path (a pipe or FIFO too), or - for standard input."""
    if path == "-":
        return sys.stdin.buffer
    try:
        return open(path, "rb")
    except OSError as err:
        raise UsageError(f"cannot read the script {path}: {err.strerror}") from None


async def _run_shell(args: argparse.Namespace, settings: Settings, state: SessionState,
                     server: Any) -> int:
    from .render import format_note
    from .shell import ShellUI, make_history, run_shell

    ui = ShellUI(settings.color)
    engine = _engine(settings, state, ui, server, script=False)
    if server is not None:
        assert settings.practice is not None
        ui.show(format_note(_welcome(settings.practice), width=ui.width()))
    await _connect(engine, settings)
    if args.script is not None:
        with _open_script(args.script) as source:
            await run_script(engine, read_lines(source), leave=False)
    if args.tutorial is not None:
        await engine.handle_line(f":tutorial {args.tutorial}".rstrip())
    history = make_history(settings.history, engine)
    return await run_shell(engine, state, ui, history)


def _welcome(practice: Practice) -> str:
    return (f"Practice server on {practice.host}:{practice.port} (STARTTLS) and "
            f"{practice.host}:{practice.tls_port} (TLS from the first byte, as on 465): user "
            "demo, password demo, its own CA (trusted here); `demo` names it in :connect.\n"
            "  Try: EHLO me.example · :starttls · AUTH PLAIN AGRlbW8AZGVtbw== · "
            "MAIL FROM:<me@example.com> · RCPT TO:<you@example.com> · DATA · … · . · :inbox\n"
            "  :tutorial teaches SMTP step by step; :help lists the helpers; Ctrl-D sends "
            "QUIT and leaves.")


def _render(path: str, fmt: str) -> int:
    """--render: a transcript as Mermaid or HTML on standard output; no connection."""
    from .sessionview import render_file

    sys.stdout.write(render_file(path, fmt))
    return 0


def _serve(port: int) -> int:
    from .server import serve_forever

    try:
        asyncio.run(serve_forever(port))
    except KeyboardInterrupt:
        print("stopped")
    return 0
