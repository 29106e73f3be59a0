"""From parsed options to a running session: settings, the mode, the practice server.

Owns: `make_settings` (defaults < profile < flags, every mistake a usage error
found before connecting), `launch` (choosing --render, --serve, a script or the
shell, with --demo's practice server), and the two front ends' start. The
modules only some runs need are imported by the runs that need them:
prompt_toolkit for the shell, aiosmtpd for --demo, Pygments for --render.
Must not: print except through a UI or the final error line of cli.main.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import shutil
import socket
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, BinaryIO

from .cli import SERVE_PORT
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
from .errors import TlsFailed, UsageError
from .helpers import make_engine
from .render import Fragments
from .script import ScriptUI, read_lines, run_script
from .session import SessionState

if TYPE_CHECKING:  # prompt_toolkit is imported by the shell only, in a worker thread
    from pathlib import Path

    from .shell import CommandHistory, ShellUI

__all__ = ["launch", "make_settings"]

_FAMILIES = {4: socket.AF_INET, 6: socket.AF_INET6}


def launch(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Run what the options ask for; the exit status."""
    if args.render is not None:
        if args.server or args.demo or args.serve or args.script:
            raise UsageError("--render reads a transcript; it connects nowhere",
                             "smtpshell --render FILE.log --format mermaid|html")
        return _render(args.render, args.format)
    settings = make_settings(args, env)
    if args.serve:
        return _serve(SERVE_PORT if args.port is None else args.port,
                      str(state_path(env, "practice")))
    if not args.demo and settings.target is None and not settings.mx:
        raise UsageError("no server given", "smtpshell HOST[:PORT], or --demo to practise")
    return asyncio.run(_session(args, settings, str(state_path(env, "practice"))))


def make_settings(args: argparse.Namespace, env: Mapping[str, str]) -> Settings:
    """defaults < profile < flags; every mistake in them is a usage error, found now."""
    profile: dict[str, Any] = load_profile(args.profile, env) if args.profile else {}
    args = _with_profile(args, profile)
    _check(args, env, profile)
    tls = TlsOptions(insecure=args.insecure, cafile=args.cafile, cert=args.cert, key=args.key,
                     sni=args.sni, tls_min=args.tls_min, tls_max=args.tls_max,
                     ciphers=args.ciphers, keylog=args.keylog or env.get("SSLKEYLOGFILE"))
    target = _target(args, profile)
    configured = any((tls.cafile, tls.cert, tls.key, tls.tls_min, tls.tls_max, tls.ciphers))
    if configured or (target is not None and target.mode != "plain"):
        _tls_context(tls)  # a bad --cafile, --cert, --ciphers…: say so before connecting
    nameserver = parse_hostport(args.nameserver, 53) if args.nameserver else None
    return Settings(
        target=target, tls=tls, ehlo=args.ehlo or profile.get("ehlo"),
        user=profile.get("user"), timeout=args.timeout, safe=not args.unsafe,
        color=color_enabled(args.no_color, env), transcript=args.transcript,
        explain=args.explain,
        history=None if args.no_history else history_path(env),
        progress=state_path(env, "tutorial.json"),
        lessons_dir=config_path(env).parent / "lessons",
        secret_env=tuple(args.secret_env), mx=args.mx,
        nameserver=(nameserver[0], nameserver[1] or 53) if nameserver else None)


def _tls_context(tls: TlsOptions) -> None:
    """Build the TLS context now (it is kept for the session) when TLS will be used or
    was configured: a plaintext session pays nothing for a CA bundle it may not need."""
    from .tls import client_context

    try:
        client_context(tls)
    except TlsFailed as err:
        raise UsageError(str(err), err.hint) from None


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
        merged["family"] = profile["ip"]  # 4 or 6, as -4 and -6 give it
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
    import ipaddress

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
                  _FAMILIES.get(args.family, socket.AF_UNSPEC),
                  (source[0], source[1] or 0) if source else None)


async def _session(args: argparse.Namespace, settings: Settings, practice_cache: str) -> int:
    scripted = args.script is not None or not sys.stdin.isatty()
    if args.tutorial is not None and scripted:
        raise UsageError("--tutorial is for a person at a terminal; standard input is not one",
                         "run smtpshell --demo --tutorial in a terminal")
    state = SessionState(safe=settings.safe, explain=settings.explain)
    server = None
    if args.demo:
        from .server import PracticeServer
        from .tls import cached_practice_certs

        server = PracticeServer(smtps_too=True, certs=cached_practice_certs(practice_cache))
        await server.start()
        assert server.tls_port is not None
        practice = Practice(server.host, server.port, server.tls_port)
        mode: TlsMode = "tls" if args.tls else "starttls" if args.starttls else "plain"
        settings = settings._replace(target=practice.target(mode), practice=practice,
                                     tls=settings.tls._replace(cadata=server.ca_pem))
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
    try:
        await _connect(engine, settings)
        with _open_script(args.script or "-") as source:
            return await run_script(engine, read_lines(source))
    finally:
        ui.flush()  # what is written but not yet flushed, before the loop ends


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

    # prompt_toolkit loads (a worker thread) while the connection opens: on a real network
    # the round trips and the TLS handshake hide behind it; what comes meanwhile is held
    screen = asyncio.get_running_loop().run_in_executor(None, _load_screen)
    ui = LateUI()
    engine = _engine(settings, state, ui, server, script=False)
    if server is not None:
        assert settings.practice is not None
        ui.show(format_note(_welcome(settings.practice), width=ui.width()))
    try:
        await _connect(engine, settings)
    finally:
        shell_ui, make_history, run_shell = await screen
        ui.attach(shell_ui(settings.color))
    if args.script is not None:
        with _open_script(args.script) as source:
            await run_script(engine, read_lines(source), leave=False)
    if args.tutorial is not None:
        await engine.handle_line(f":tutorial {args.tutorial}".rstrip())
    history = make_history(settings.history, engine)
    return await run_shell(engine, state, ui.real, history)


def _load_screen() -> tuple[type[ShellUI], Callable[[Path | None, Engine], CommandHistory],
                            Callable[[Engine, SessionState, ShellUI, CommandHistory],
                                     Awaitable[int]]]:
    from .shell import ShellUI, make_history, run_shell

    return ShellUI, make_history, run_shell


class LateUI:
    """The shell's UI while prompt_toolkit still loads: what is shown is held, in order,
    and shown once it is there; a question waits for it."""

    def __init__(self) -> None:
        self._real: ShellUI | None = None
        self._held: list[Fragments] = []
        self._ready = asyncio.Event()

    @property
    def real(self) -> ShellUI:
        assert self._real is not None, "attached once prompt_toolkit has loaded"
        return self._real

    def attach(self, real: ShellUI) -> None:
        self._real = real
        for fragments in self._held:
            real.show(fragments)
        self._held.clear()
        self._ready.set()

    def show(self, fragments: Fragments) -> None:
        if self._real is None:
            self._held.append(fragments)
        else:
            self._real.show(fragments)

    async def confirm(self, question: str) -> bool:
        await self._ready.wait()
        return await self.real.confirm(question)

    async def secret(self, prompt: str) -> str | None:
        await self._ready.wait()
        return await self.real.secret(prompt)

    def progress(self, label: str, total: int
                 ) -> contextlib.AbstractContextManager[Callable[[int], None]]:
        if self._real is None:
            return contextlib.nullcontext(lambda n: None)
        return self._real.progress(label, total)

    def width(self) -> int | None:
        return self._real.width() if self._real is not None else \
            shutil.get_terminal_size().columns


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


def _serve(port: int, cache: str) -> int:
    from .server import serve_forever

    try:
        asyncio.run(serve_forever(port, cache))
    except KeyboardInterrupt:
        print("stopped")
    return 0
