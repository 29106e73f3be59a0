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
    config_path,
    history_path,
    parse_hostport,
    state_path,
)
from .errors import SmtpShellError, TlsFailed, UsageError
from .helpers import make_engine
from .render import Fragments
from .script import ScriptUI, read_lines, run_script
from .session import SessionState

if TYPE_CHECKING:  # prompt_toolkit is imported by the shell only, in a worker thread
    from pathlib import Path

    from .layers import Setting
    from .shell import CommandHistory, ShellUI
    from .traffic import Listener

__all__ = ["launch", "make_settings", "print_config"]

_FAMILIES = {4: socket.AF_INET, 6: socket.AF_INET6}


def launch(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Run what the options ask for; the exit status."""
    if args.render is not None:
        if args.server or args.demo or args.serve or args.script:
            raise UsageError("--render reads a transcript; it connects nowhere",
                             "smtpshell --render FILE.log --format mermaid|html")
        return _render(args.render, args.format)
    if args.print_config:
        sys.stdout.write(print_config(args, env))
        return 0
    settings = make_settings(args, env)
    if args.serve:
        return _serve(SERVE_PORT if args.port is None else args.port,
                      str(state_path(env, "practice")))
    if not args.demo and settings.target is None and not settings.mx:
        raise UsageError("no server given", "smtpshell HOST[:PORT], or --demo to practise")
    return asyncio.run(_session(args, settings, str(state_path(env, "practice"))))


def make_settings(args: argparse.Namespace, env: Mapping[str, str]) -> Settings:
    """defaults < environment < config file < profile < flags; every mistake in them is a
    usage error, found now."""
    values = {name: setting.value for name, setting in _resolve(args, env).items()}
    _check(args, env, values)
    tls = TlsOptions(insecure=values["insecure"], cafile=values["cafile"], cert=values["cert"],
                     key=values["key"], sni=values["sni"], tls_min=values["tls_min"],
                     tls_max=values["tls_max"], ciphers=values["ciphers"],
                     keylog=args.keylog or env.get("SSLKEYLOGFILE"))
    target = _target(args, values)
    configured = any((tls.cafile, tls.cert, tls.key, tls.tls_min, tls.tls_max, tls.ciphers))
    if configured or (target is not None and target.mode != "plain"):
        _tls_context(tls)  # a bad --cafile, --cert, --ciphers…: say so before connecting
    nameserver = parse_hostport(args.nameserver, 53) if args.nameserver else None
    timeout = values["timeout"]
    return Settings(
        target=target, tls=tls, ehlo=values["ehlo"], user=values["user"],
        timeout=None if timeout is None else float(timeout), safe=not args.unsafe,
        color=values["color"], edit_mode=values["edit_mode"], transcript=args.transcript,
        explain=values["explain"], history=history_path(env) if values["history"] else None,
        progress=state_path(env, "tutorial.json"),
        lessons_dir=config_path(env).parent / "lessons",
        secret_env=tuple(args.secret_env), mx=args.mx,
        nameserver=(nameserver[0], nameserver[1] or 53) if nameserver else None)


def _resolve(args: argparse.Namespace, env: Mapping[str, str]) -> dict[str, Setting]:
    from .layers import resolve

    return resolve(_flags(args), env, args.profile)


def _flags(args: argparse.Namespace) -> dict[str, tuple[Any, str]]:
    """What the command line sets, by the config file's key, with the flag that set it."""
    found: dict[str, tuple[Any, str]] = {}
    if args.server:
        host, port = parse_hostport(args.server, None)
        found["host"] = (host, "HOST")
        if port is not None:
            found["port"] = (port, "HOST:PORT")
    if args.port is not None:
        found["port"] = (args.port, "--port")
    for mode in ("tls", "starttls", "plain"):
        if getattr(args, mode):
            found["tls"] = (mode, f"--{mode}")
    if args.family is not None:
        found["ip"] = (args.family, f"-{args.family}")
    for key in ("ehlo", "user", "cafile", "cert", "key", "sni", "tls_min", "tls_max",
                "ciphers", "timeout", "source"):
        if getattr(args, key) is not None:
            found[key] = (getattr(args, key), "--" + key.replace("_", "-"))
    switches = {"insecure": ("insecure", True), "explain": ("explain", True),
                "no_color": ("color", "never"), "no_history": ("history", False),
                "vi": ("edit_mode", "vi")}
    for dest, (key, value) in switches.items():
        if getattr(args, dest):
            found[key] = (value, "--" + dest.replace("_", "-"))
    return found


def print_config(args: argparse.Namespace, env: Mapping[str, str]) -> str:
    """--print-config: every setting, where it came from."""
    from .layers import Setting, describe

    settings = _resolve(args, env)
    keylog = (Setting(args.keylog, "command line:--keylog") if args.keylog else
              Setting(env["SSLKEYLOGFILE"], "env:SSLKEYLOGFILE") if env.get("SSLKEYLOGFILE")
              else Setting(None, "default"))
    extra = {"safe": Setting(False, "command line:--unsafe") if args.unsafe else
             Setting(True, "default"),
             "keylog": keylog,
             "transcript": Setting(args.transcript, "command line:--transcript"
                                   if args.transcript else "default")}
    return describe(settings, env, extra)


def _tls_context(tls: TlsOptions) -> None:
    """Build the TLS context now (it is kept for the session) when TLS will be used or
    was configured: a plaintext session pays nothing for a CA bundle it may not need."""
    from .tls import client_context

    try:
        client_context(tls)
    except TlsFailed as err:
        raise UsageError(str(err), err.hint) from None


def _check(args: argparse.Namespace, env: Mapping[str, str], values: Mapping[str, Any]
           ) -> None:
    def fail(message: str, hint: str = "") -> None:
        raise UsageError(message, hint)

    timeout = values["timeout"]
    if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
        fail("--timeout must be a positive number of seconds")
    if values["key"] and not values["cert"]:
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
    low, high = values["tls_min"], values["tls_max"]
    if low and high and float(low) > float(high):
        fail(f"--tls-min {low} is above --tls-max {high}")
    if args.server and args.port is not None and parse_hostport(args.server, None)[1]:
        fail(f"{args.server} already names a port; -p {args.port} would be ignored")
    if args.json and (args.interactive or args.tutorial is not None or
                      (not args.script and sys.stdin.isatty())):
        fail("--json is for scripts: its events replace the text a person reads",
             "smtpshell HOST --script FILE --json")
    for name in args.secret_env:
        if name not in env:
            fail(f"--secret-env {name}: no such environment variable")
    ehlo = values["ehlo"]
    if ehlo is not None and (not ehlo or any(c.isspace() or ord(c) < 32 for c in ehlo)):
        fail(f"the EHLO name {ehlo!r} holds spaces or control characters",
             "give a host name or an address literal such as [192.0.2.1]")
    if ehlo is not None and not ehlo.isascii():  # what the safe mode says of a typed EHLO
        fail(f"the EHLO name {ehlo!r} is not ASCII: before EHLO nobody knows whether the "
             "server takes UTF-8 (SMTPUTF8), so it would not be sent", _idna_hint(ehlo))
    if values["sni"]:
        try:
            values["sni"].encode("idna")
        except UnicodeError:
            fail(f"--sni {values['sni']!r} is not a valid host name")
    if args.nameserver:
        _check_address(parse_hostport(args.nameserver, 53)[0], "--nameserver")
    for option in ("cafile", "cert", "key"):
        path = values[option]
        if path is not None and not os.path.isfile(path):
            fail(f"--{option} {path}: no such file")
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


def _target(args: argparse.Namespace, values: Mapping[str, Any]) -> Target | None:
    server = values["host"] or args.mx
    if server is None:
        return None
    if values["port"] == 0:
        raise UsageError("port 0 is only for --serve (it lets the system pick)")
    source = parse_hostport(values["source"], 0) if values["source"] else None
    return Target(server, values["port"], values["tls"],
                  _FAMILIES.get(values["ip"], socket.AF_UNSPEC),
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
            script: bool, screen: Listener | None = None) -> Engine:
    return make_engine(settings, state, ui, script=script, screen=screen,
                       inbox=server.inbox if server is not None else None)


async def _connect(engine: Engine, settings: Settings) -> None:
    assert settings.target is not None
    if settings.mx:
        await engine.dialer.open_mx(settings.mx, settings.target.port, settings.target.mode)
    else:
        await engine.dialer.open_target(settings.target)


async def _run_script(args: argparse.Namespace, settings: Settings, state: SessionState,
                      server: Any) -> int:
    ui, screen = _script_ui(args.json, settings, state)
    engine = _engine(settings, state, ui, server, script=True, screen=screen)
    try:
        await _connect(engine, settings)
        with _open_script(args.script or "-") as source:
            status = await run_script(engine, read_lines(source))
    except SmtpShellError as err:  # cli.main still says it on standard error
        ui.finish(err.exit_code, err.line)
        raise
    except (KeyboardInterrupt, asyncio.CancelledError):
        ui.finish(130)
        raise
    finally:
        ui.flush()  # what is written but not yet flushed, before the loop ends
    ui.finish(status)
    return status


def _script_ui(json: bool, settings: Settings, state: SessionState
               ) -> tuple[ScriptUI, Listener | None]:
    """Text, or (--json) the event stream, which also stands where the screen would."""
    secrets = [os.environ[name] for name in settings.secret_env]
    if json:
        from .events import JsonEvents

        events = JsonEvents(secrets=secrets)
        events.watch(state)
        return events, events
    color = settings.color == "always" or (settings.color == "auto" and sys.stdout.isatty())
    return ScriptUI(secrets=secrets, color=color), None


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
        ui.attach(shell_ui(settings.color != "never"))
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
