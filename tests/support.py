"""Test support: real servers on loopback (port 0) and a recording front end.

- `practice()`: the practice server, recording every byte each connection sent.
- `RawServer`: a scripted server for bad behaviour; the test writes the server
  side as an async function of a `RawPeer`.
- `RecordingUI`: the Engine's UI, keeping what the user would have seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import ssl
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

from smtpshell.commands import Engine
from smtpshell.config import Practice, Settings, Target, TlsOptions
from smtpshell.helpers import make_engine
from smtpshell.render import Fragments, plain
from smtpshell.server import PracticeServer
from smtpshell.session import SessionState

T = TypeVar("T")
LOOPBACK = "127.0.0.1"
STEP = 10.0  # seconds any single wait in a test may take before it is a failure


def run(coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
    """Run a scenario in a fresh loop; a hang is a failure, not a stuck suite, and so
    is an error asyncio would only have logged (a callback that raised)."""
    logged: list[dict[str, Any]] = []

    async def bounded() -> T:
        asyncio.get_running_loop().set_exception_handler(lambda _, context: logged.append(
            context))
        async with asyncio.timeout(timeout):
            return await coro

    result = asyncio.run(bounded())
    assert not logged, [(c.get("message"), c.get("exception"), c.get("task") or c.get("future"))
                        for c in logged]
    return result


@contextlib.asynccontextmanager
async def practice(**kwargs: Any) -> AsyncIterator[PracticeServer]:
    server = PracticeServer(record_wire=True, **kwargs)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


class RecordingUI:
    """Keeps the text the user would see; answers confirmations and secrets as told."""

    def __init__(self, confirm: bool = False, secrets: list[str] | None = None) -> None:
        self.chunks: list[str] = []
        self.answer = confirm
        self.questions: list[str] = []
        self.secrets = list(secrets or [])
        self.progressed: list[tuple[str, int, int]] = []
        self.columns: int | None = None  # wrap to this width, as a terminal would

    @property
    def text(self) -> str:
        return "".join(self.chunks)

    def show(self, fragments: Fragments) -> None:
        self.chunks.append(plain(fragments))

    async def confirm(self, question: str) -> bool:
        self.questions.append(question)
        self.chunks.append(f"! {question}\n")  # the shell shows the question too
        return self.answer

    async def secret(self, prompt: str) -> str | None:
        self.questions.append(prompt)
        return self.secrets.pop(0) if self.secrets else None

    def width(self) -> int | None:
        return self.columns

    @contextlib.contextmanager
    def progress(self, label: str, total: int) -> Iterator[Callable[[int], None]]:
        done = [0]
        yield lambda n: done.__setitem__(0, done[0] + n)
        self.progressed.append((label, total, done[0]))


def practice_settings(server: PracticeServer, **changes: Any) -> Settings:
    tls = TlsOptions(cadata=server.ca_pem)
    practice = None if server.tls_port is None else \
        Practice(server.host, server.port, server.tls_port)  # `demo` in :connect, as --demo
    settings = Settings(target=Target(LOOPBACK, server.port), tls=tls, timeout=STEP,
                        practice=practice)
    return settings._replace(**changes)


async def engine_for(server: PracticeServer, ui: RecordingUI | None = None, *,
                     script: bool = False, connect: bool = True, **changes: Any
                     ) -> tuple[Engine, RecordingUI]:
    """An Engine connected to the practice server (with :inbox)."""
    ui = ui or RecordingUI()
    settings = practice_settings(server, **changes)
    engine = make_engine(settings, SessionState(safe=settings.safe), ui, script=script,
                         inbox=server.inbox)
    if connect:
        assert settings.target is not None
        await engine.dialer.open_target(settings.target)
    return engine, ui


async def lines(engine: Engine, *texts: str) -> None:
    for text in texts:
        await engine.handle_line(text)


# -- the scripted raw server ------------------------------------------------------


class RawPeer:
    """The server side of one connection, driven by the test."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.received = bytearray()

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def line(self) -> bytes:
        """The next line the client sent (CRLF included); b'' at EOF."""
        async with asyncio.timeout(STEP):
            data = await self.reader.readline()
        self.received += data
        return data

    async def expect(self, prefix: bytes) -> bytes:
        data = await self.line()
        assert data.upper().startswith(prefix.upper()), (prefix, data)
        return data

    async def until_closed(self) -> bytes:
        """Everything the client sends until it closes (or resets: an abort)."""
        rest = b""
        with contextlib.suppress(ConnectionResetError):
            async with asyncio.timeout(STEP):
                rest = await self.reader.read()
        self.received += rest
        return rest

    async def greet_ehlo(self, *extensions: str) -> None:
        """220, then answer one EHLO with these extensions."""
        await self.send(b"220 raw.test ESMTP\r\n")
        await self.expect(b"EHLO")
        body = ["250-raw.test"] + [f"250-{e}" for e in extensions]
        body[-1] = "250 " + body[-1][4:]
        await self.send(("\r\n".join(body) + "\r\n").encode())

    def close(self) -> None:
        self.writer.close()


class RawServer:
    """`async with RawServer(script) as srv`: every connection runs `script(peer)`."""

    def __init__(self, script: Callable[[RawPeer], Awaitable[None]],
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.script = script
        self.ssl = ssl_context
        self.peers: list[RawPeer] = []
        self.errors: list[BaseException] = []
        self.handlers: set[asyncio.Task[Any]] = set()
        self.done = asyncio.Event()
        self.port = 0
        self._server: asyncio.AbstractServer | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = RawPeer(reader, writer)
        self.peers.append(peer)
        task = asyncio.current_task()
        if task is not None:
            self.handlers.add(task)
        try:
            await self.script(peer)
        except Exception as err:  # reported by the test through .errors
            self.errors.append(err)
        finally:
            writer.close()
            self.done.set()

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._handle, LOOPBACK, 0, ssl=self.ssl)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        # end the scripts still running (a cancelled one would upset asyncio 3.11's streams)
        for peer in self.peers:
            peer.writer.transport.abort()
        pending = [t for t in self.handlers if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=STEP)
        self._server.close()
        with contextlib.suppress(Exception):
            await self._server.wait_closed()

    @property
    def received(self) -> bytes:
        return b"".join(bytes(p.received) for p in self.peers)

    async def finished(self) -> None:
        """Wait until the scripted side is done; re-raise what went wrong there."""
        async with asyncio.timeout(STEP):
            await self.done.wait()
        if self.errors:
            raise self.errors[0]

    def target(self, mode: str = "plain") -> Target:
        return Target(LOOPBACK, self.port, mode)  # type: ignore[arg-type]


def raw_settings(server: RawServer, mode: str = "plain", **changes: Any) -> Settings:
    return Settings(target=server.target(mode), timeout=STEP)._replace(**changes)


async def raw_engine(server: RawServer, mode: str = "plain", ui: RecordingUI | None = None,
                     *, script: bool = False, connect: bool = True, **changes: Any
                     ) -> tuple[Engine, RecordingUI]:
    """An Engine aimed at the raw server, connected unless told otherwise."""
    ui = ui or RecordingUI()
    settings = raw_settings(server, mode, **changes)
    engine = make_engine(settings, SessionState(safe=settings.safe), ui, script=script)
    if connect:
        await engine.dialer.open_target(server.target(mode))
    return engine, ui


async def run_cli(*args: str, stdin: str | bytes = b"", env: dict[str, str] | None = None
                  ) -> tuple[int, str, str]:
    """`python -m smtpshell ARGS` with stdin a pipe (so: script mode); (status, out, err)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "smtpshell", *args, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "NO_COLOR": "1", **(env or {})})
    data = stdin.encode() if isinstance(stdin, str) else stdin
    async with asyncio.timeout(STEP * 2):
        out, err = await proc.communicate(data)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def wait_until(condition: Callable[[], bool], timeout: float = STEP) -> None:
    """Wait for a state to hold (checked as the loop turns), or fail after `timeout`."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


CTRL_D = "\x04"


async def drive(server: PracticeServer, keys: str, history: Path, color: bool = False,
                edit_mode: str = "emacs") -> tuple[Engine, str]:
    """Type `keys` into a real PromptSession on the practice server; return the engine
    and the screen text."""
    from prompt_toolkit.application import create_app_session
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output.plain_text import PlainTextOutput

    from smtpshell.shell import ShellUI, make_history, run_shell

    screen = io.StringIO()
    with create_pipe_input() as pipe, create_app_session(input=pipe,
                                                         output=PlainTextOutput(screen)):
        ui = ShellUI(color=color)
        settings = practice_settings(server)._replace(edit_mode=edit_mode)
        state = SessionState()
        engine = make_engine(settings, state, ui, inbox=server.inbox)
        assert settings.target is not None
        await engine.dialer.open_target(settings.target)
        pipe.send_text(keys)
        code = await run_shell(engine, state, ui, make_history(history, engine))
        assert code == 0
    return engine, screen.getvalue()
