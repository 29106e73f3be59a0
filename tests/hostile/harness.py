"""The hostile-server harness: a scripted raw server, a client typing lines, and checks.

A `Case` names what the server does (a list of steps), what the user types,
and what must hold afterwards: the bytes the server received, what the user
saw, what the user must not have seen, and whether the session is still up.
Errors are shown the way the shell shows them (one sentence) and the run goes
on: the shell stays up whatever the server does.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support import STEP, RawPeer, RawServer, RecordingUI, raw_settings, run

from smtpshell.errors import SmtpShellError
from smtpshell.helpers import make_engine
from smtpshell.machine import Closed
from smtpshell.protocol import Command, Reply
from smtpshell.render import format_error
from smtpshell.session import SessionState
from smtpshell.tls import make_practice_certs
from smtpshell.traffic import Listener

Step = tuple[Any, ...]
CERTS = make_practice_certs()


@dataclass
class Case:
    id: str
    server: list[Step]
    typed: list[str] = field(default_factory=list)
    sent: bytes | Callable[[bytes], bool] | None = None  # what the server received
    seen: tuple[str, ...] = ()  # fragments of what the user saw
    unseen: tuple[str, ...] = ()  # must not appear
    connected: bool | None = None  # the session at the end
    confirm: bool = False  # the user's answer to a confirmation
    settings: dict[str, Any] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)  # written to a temp dir: {dir}/name
    again: list[Step] | None = None  # the server's script for a second connection
    script: bool = False  # the script front end (output masks secrets)


class Run:
    """One play of a case: the raw server, the engine, and what came of it."""

    def __init__(self, case: Case) -> None:
        self.case = case
        self.ui = RecordingUI(confirm=case.confirm)
        self.seen_reply = asyncio.Event()  # set when the client has read a STARTTLS reply
        self.client_closed = asyncio.Event()
        self.connections = 0

    async def server(self, peer: RawPeer) -> None:
        self.connections += 1
        script = self.case.server if self.connections == 1 else self.case.again or []
        for step in script:
            await self.step(peer, step)
        await peer.until_closed()

    async def step(self, peer: RawPeer, step: Step) -> None:
        verb, *args = step
        if verb == "send":
            await peer.send(args[0])
        elif verb == "expect":
            await peer.expect(args[0])
        elif verb == "greet":
            await peer.greet_ehlo(*args)
        elif verb == "close":
            peer.close()
        elif verb == "reset":  # RST, not FIN: linger 0, then close
            sock = peer.writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            peer.writer.transport.abort()
        elif verb == "hold":  # say nothing until the client goes away
            await self.client_closed.wait()
        elif verb == "after_client_read":
            await self.seen_reply.wait()
        elif verb == "tls":
            await peer.writer.start_tls(CERTS.server_context())
        elif verb == "read_hello":  # the client's first TLS record, read as plain bytes
            await peer.reader.read(5)
        elif verb == "data":  # message text up to the end of data, then the reply
            while await peer.line() not in (b".\r\n", b""):
                pass
            await peer.send(args[0] if args else b"250 2.0.0 taken\r\n")
        elif verb == "trickle":  # one byte per write
            for byte in args[0]:
                await peer.send(bytes([byte]))
        else:
            raise ValueError(f"unknown step {verb}")

    async def play(self, folder: Path) -> tuple[bytes, str, bool]:
        for name, data in self.case.files.items():
            (folder / name).write_bytes(data)
        run = self

        class Watch(Listener):
            def on_reply(self, reply: Reply, command: Command | None, late: bool) -> None:
                if command is not None and command.verb == "STARTTLS":
                    run.seen_reply.set()

            def on_closed(self, closed: Closed) -> None:
                run.client_closed.set()

        async with RawServer(self.server) as srv:
            settings = raw_settings(srv, self.case.settings.get("mode", "plain"))._replace(
                **{k: v for k, v in self.case.settings.items() if k != "mode"})
            engine = make_engine(settings, SessionState(safe=settings.safe), self.ui,
                                 listeners=[Watch()], script=self.case.script)
            await self.shell(engine.dialer.open_target(srv.target(
                self.case.settings.get("mode", "plain"))))
            for line in self.case.typed:
                line = line.replace("{dir}", str(folder))
                if line.startswith("PASTE:"):
                    await self.shell(engine.handle_text(line[6:]))
                else:
                    await self.shell(engine.handle_line(line))
            if engine.conn is not None and not engine.conn.is_open:
                async with asyncio.timeout(STEP):  # the close the transport has scheduled
                    await engine.conn.closed
            connected = engine.state.connected
            if engine.conn is not None:
                engine.conn.drop("the test is over")
            self.client_closed.set()
            async with asyncio.timeout(STEP):
                await srv.finished()
            return srv.received, self.ui.text, connected

    async def shell(self, work: Any) -> None:
        """As the shell does: an error is one sentence, and the session goes on."""
        try:
            await work
        except SmtpShellError as err:
            self.ui.show(format_error(err))


def check(case: Case, received: bytes, text: str, connected: bool) -> None:
    shown = text if len(text) < 3000 else text[:1500] + "\n[…]\n" + text[-1500:]
    if callable(case.sent):
        assert case.sent(received), f"the server received {received[-300:]!r}"
    elif case.sent is not None:
        assert received == case.sent, f"the server received {received[-300:]!r}"
    for fragment in case.seen:
        assert fragment in text, f"{fragment!r} not seen in:\n{shown}"
    for fragment in case.unseen:
        assert fragment not in text, f"{fragment!r} seen in:\n{shown}"
    if case.connected is not None:
        assert connected is case.connected, f"connected: {connected}\n{shown}"
    assert "Traceback" not in text


def play(case: Case, folder: Path) -> None:
    async def go() -> None:
        received, text, connected = await Run(case).play(folder)
        check(case, received, text, connected)

    run(go(), STEP * 3)
