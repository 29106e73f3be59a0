"""Ctrl-C at every point where the user can stop waiting: what the server received
afterwards, and what the screen says.

The shell runs for real (a PromptSession on prompt_toolkit pipe input, the screen a
PlainTextOutput into a StringIO). A Ctrl-C typed while a step runs reaches the shell as
SIGINT (the terminal is cooked then), which `_interruptible` turns into cancelling the
step; these tests send exactly that SIGINT, and only once the server has seen the step
under way. Ctrl-Z runs in a real pseudo-terminal.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pexpect
import pytest
from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import PipeInput, create_pipe_input
from prompt_toolkit.output.plain_text import PlainTextOutput
from support import LOOPBACK, STEP, RawPeer, RawServer, raw_settings, run, wait_until

from smtpshell.commands import Engine
from smtpshell.config import TlsOptions
from smtpshell.helpers import make_engine
from smtpshell.payload import BDAT_CHUNK
from smtpshell.session import SessionState
from smtpshell.shell import ShellUI, make_history, run_shell
from smtpshell.tls import make_practice_certs

CTRL_D = "\x04"
QUICK = 2.0  # seconds a Ctrl-C that works takes, at most, to show (it takes milliseconds)
PROMPT = re.compile(r"(?<!\S)(\d+\.\d+\.\d+\.\d+:\d+ (?:plain|tls[\d.]+|closed)|data|auth"
                    r"|\(not connected\))>")
ENVELOPE = [("EHLO client.example", "250 HELP"), ("MAIL FROM:<a@example.com>", "250 2.1.0"),
            ("RCPT TO:<b@example.com>", "250 2.1.5")]


# -- the shell, driven ------------------------------------------------------------------


class Shell:
    """A running `run_shell` and what its screen shows."""

    def __init__(self, engine: Engine, pipe: PipeInput, screen: io.StringIO,
                 task: asyncio.Task[int]) -> None:
        self.engine, self.pipe, self.screen, self.task = engine, pipe, screen, task

    @property
    def text(self) -> str:
        return self.screen.getvalue()

    def mark(self) -> int:
        return len(self.text)

    def type(self, keys: str) -> None:
        self.pipe.send_text(keys)

    async def sees(self, text: str, after: int = 0, timeout: float = STEP) -> int:
        """Wait until `text` is on the screen after `after`; where it starts."""
        await wait_until(lambda: text in self.text[after:], timeout)
        return self.text.index(text, after)

    async def prompt_after(self, text: str, after: int = 0) -> str:
        """The prompt drawn once `text` was shown (the step is over)."""
        start = await self.sees(text, after)
        await wait_until(lambda: PROMPT.search(self.text, start) is not None)
        return PROMPT.findall(self.text, start)[-1]

    def notes(self, after: int = 0) -> list[str]:
        """The shell's own words ('* ' notes, '! ' warnings) shown after `after`."""
        return [line for line in re.split(r"[\r\n]+", self.text[after:])
                if line.startswith(("* ", "! "))]

    def toolbar(self) -> str:
        """The toolbar as last drawn."""
        return self.text.rsplit(" peer ", 1)[1].split("\n", 1)[0]

    async def command(self, line: str, reply: str) -> None:
        """Type a line; wait for its reply and the prompt after it."""
        mark = self.mark()
        self.type(line + "\r")
        await self.prompt_after(reply, mark)

    def ctrl_c(self) -> None:
        """Ctrl-C while a step runs: SIGINT, which the step's loop handler takes."""
        handler = signal.getsignal(signal.SIGINT)
        # a loop handler is up; never let a SIGINT reach pytest as KeyboardInterrupt
        assert getattr(handler, "__module__", "") == "asyncio.unix_events", handler
        os.kill(os.getpid(), signal.SIGINT)

    async def leave(self) -> None:
        """Ctrl-D at the prompt: QUIT if connected, and the shell ends with 0."""
        self.type(CTRL_D)
        async with asyncio.timeout(STEP):
            assert await self.task == 0


@contextlib.asynccontextmanager
async def shell(srv: RawServer, mode: str = "plain", *, connect: bool = True,
                tls: TlsOptions | None = None) -> AsyncIterator[Shell]:
    screen = io.StringIO()
    saved = signal.getsignal(signal.SIGINT)
    with create_pipe_input() as pipe, create_app_session(input=pipe,
                                                         output=PlainTextOutput(screen)):
        ui = ShellUI(color=False)
        state = SessionState()
        settings = raw_settings(srv, mode, tls=tls or TlsOptions())
        engine = make_engine(settings, state, ui)
        if connect:
            await engine.dialer.open_target(srv.target(mode))
        task = asyncio.ensure_future(run_shell(engine, state, ui, make_history(None, engine)))
        sh = Shell(engine, pipe, screen, task)
        try:
            await wait_until(lambda: PROMPT.search(sh.text) is not None)
            yield sh
        finally:
            if not task.done():
                task.cancel()
                await asyncio.wait([task], timeout=STEP)
            if task.done() and not task.cancelled():
                task.exception()  # retrieved: the test has failed already if it is one
            signal.signal(signal.SIGINT, saved)


# -- the server side --------------------------------------------------------------------


async def greet_ehlo(peer: RawPeer, *extensions: str) -> None:
    await peer.send(b"220 raw.test ESMTP\r\n")
    await peer.expect(b"EHLO")
    lines = ["250-raw.test", *(f"250-{e}" for e in extensions), "250 HELP"]
    await peer.send(("\r\n".join(lines) + "\r\n").encode())


async def envelope(peer: RawPeer, *extensions: str) -> None:
    await greet_ehlo(peer, *extensions)
    await peer.expect(b"MAIL FROM")
    await peer.send(b"250 2.1.0 sender ok\r\n")
    await peer.expect(b"RCPT TO")
    await peer.send(b"250 2.1.5 recipient ok\r\n")


async def serve_rest(peer: RawPeer) -> None:
    """Answer what still comes: 221 to QUIT (then hang up), 250 to the rest."""
    with contextlib.suppress(ConnectionResetError):
        while line := await peer.line():
            if line.upper().startswith(b"QUIT"):
                await peer.send(b"221 2.0.0 bye\r\n")
                return
            await peer.send(b"250 2.0.0 ok\r\n")


async def late(peer: RawPeer, data: bytes) -> None:
    """A reply sent after the client may have dropped the connection."""
    with contextlib.suppress(ConnectionError):
        await peer.send(data)


def syn_sent(port: int) -> bool:
    """A connect to 127.0.0.1:port is under way (SYN sent, no answer yet)."""
    remote = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as table:
        return any(row.split()[2] == remote and row.split()[3] == "02"
                   for row in list(table)[1:])


@contextlib.contextmanager
def black_hole() -> Iterator[int]:
    """A port where a connect hangs: a listener whose accept queue is full drops SYNs."""
    listener = socket.create_server((LOOPBACK, 0), backlog=0)
    port = listener.getsockname()[1]
    filler = socket.create_connection((LOOPBACK, port), timeout=STEP)  # fills the queue
    try:
        yield port
    finally:
        filler.close()
        listener.close()


# -- connect ----------------------------------------------------------------------------


@pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="needs Linux's /proc/net/tcp")
def test_ctrl_c_during_connect_keeps_the_current_session() -> None:
    async def server(peer: RawPeer) -> None:
        await peer.send(b"220 raw.test ESMTP\r\n")
        await serve_rest(peer)

    async def scenario() -> None:
        with black_hole() as port:
            async with RawServer(server) as srv, shell(srv) as sh:
                mark = sh.mark()
                sh.type(f":connect {LOOPBACK}:{port} --plain\r")
                await wait_until(lambda: syn_sent(port))
                sh.ctrl_c()
                prompt = await sh.prompt_after("! interrupted", mark)
                assert prompt == f"{LOOPBACK}:{srv.port} plain"  # the session it had
                assert "connection closed" not in sh.text[mark:]
                assert srv.received == b""  # no QUIT: the new host never answered
                await sh.command("NOOP", "250 2.0.0 ok")
                await sh.leave()
            assert srv.received == b"NOOP\r\nQUIT\r\n"
            assert not syn_sent(port)  # the half-open attempt was given up

    run(scenario())


# -- the greeting -----------------------------------------------------------------------


def test_ctrl_c_at_the_greeting_closes() -> None:
    async def silent(peer: RawPeer) -> None:
        await peer.until_closed()

    async def scenario() -> None:
        async with RawServer(silent) as srv, shell(srv, connect=False) as sh:
            sh.type(":reconnect\r")
            mark = await sh.sees("waiting for the greeting")
            sh.ctrl_c()
            closed = await sh.sees("! connection closed", mark)
            prompt = await sh.prompt_after("! interrupted", closed)
            assert prompt == f"{LOOPBACK}:{srv.port} closed"
            assert not sh.engine.state.connected
            await srv.finished()
            assert srv.received == b""
            await sh.leave()

    run(scenario())


# -- an ordinary reply ------------------------------------------------------------------


def test_ctrl_c_on_noop_is_out_of_step_until_the_late_reply() -> None:
    release = asyncio.Event()

    async def server(peer: RawPeer) -> None:
        await peer.send(b"220 raw.test ESMTP\r\n")
        await peer.expect(b"NOOP")
        await release.wait()
        await peer.send(b"250 2.0.0 late noop\r\n")
        await serve_rest(peer)

    async def scenario() -> None:
        async with RawServer(server) as srv, shell(srv) as sh:
            mark = sh.mark()
            sh.type("NOOP\r")
            await wait_until(lambda: srv.received == b"NOOP\r\n")
            sh.ctrl_c()
            prompt = await sh.prompt_after("! stopped waiting: the session is out of step",
                                           mark)
            assert prompt == f"{LOOPBACK}:{srv.port} plain"
            assert "out of step" in sh.toolbar()
            mark = sh.mark()
            sh.type("RSET\r")  # the next reply may be NOOP's: the shell asks first
            await sh.sees("! The session is out of step", mark)
            await sh.sees("Send anyway? [y/N]", mark)
            sh.type("n\r")
            await sh.prompt_after("! Not sent.", mark)
            assert srv.received == b"NOOP\r\n"
            mark = sh.mark()
            release.set()
            await sh.sees("250 2.0.0 late noop", mark)
            assert "* late reply to NOOP:" in sh.text[mark:]
            assert not sh.engine.state.out_of_step
            mark = sh.mark()
            await sh.command("RSET", "250 2.0.0 ok")  # in step again: no question
            assert "[y/N]" not in sh.text[mark:]
            await sh.leave()
        assert srv.received == b"NOOP\r\nRSET\r\nQUIT\r\n"

    run(scenario())


def test_ctrl_c_still_stops_the_wait_after_a_confirmation_question() -> None:
    """A line the safe mode asked about ('Send anyway? y') and that then waits for its
    reply can be stopped with Ctrl-C like any other."""
    release = asyncio.Event()

    async def server(peer: RawPeer) -> None:
        await greet_ehlo(peer)
        await peer.expect(b"RCPT TO")
        await release.wait()
        await late(peer, b"503 5.5.1 need MAIL first\r\n")
        await serve_rest(peer)

    async def scenario() -> None:
        async with RawServer(server) as srv, shell(srv) as sh:
            await sh.command("EHLO client.example", "250 HELP")
            mark = sh.mark()
            sh.type("RCPT TO:<b@example.com>\r")  # before MAIL: the safe mode asks
            await sh.sees("Send anyway? [y/N]", mark)
            sh.type("y\r")
            await wait_until(lambda: srv.received.endswith(b"RCPT TO:<b@example.com>\r\n"))
            sh.ctrl_c()
            try:
                await sh.sees("! stopped waiting", mark, timeout=QUICK)
            except TimeoutError:
                pytest.fail("Ctrl-C while waiting for the reply to a confirmed line did "
                            "nothing: the question's prompt took the SIGINT handler away")
            finally:
                release.set()
            await sh.sees("late reply to RCPT TO:<b@example.com>", mark)
            await sh.leave()

    run(scenario())


# -- STARTTLS and the handshake ---------------------------------------------------------


def test_ctrl_c_on_the_reply_to_starttls_closes_and_a_late_220_changes_nothing() -> None:
    cancelled = asyncio.Event()

    async def server(peer: RawPeer) -> None:
        await greet_ehlo(peer, "STARTTLS")
        await peer.expect(b"STARTTLS")
        await cancelled.wait()
        await late(peer, b"220 2.0.0 ready to start TLS\r\n")
        await peer.until_closed()

    async def scenario() -> None:
        async with RawServer(server) as srv, shell(srv) as sh:
            await sh.command("EHLO client.example", "250 HELP")
            mark = sh.mark()
            sh.type("STARTTLS\r")
            await wait_until(lambda: srv.received.endswith(b"STARTTLS\r\n"))
            sh.ctrl_c()
            closed = await sh.sees("! connection closed: gave up waiting for the reply to "
                                   "STARTTLS: a late 220 cannot be taken up safely", mark)
            prompt = await sh.prompt_after("! interrupted", closed)
            assert prompt == f"{LOOPBACK}:{srv.port} closed"
            cancelled.set()
            await srv.finished()
            mark = sh.mark()
            await sh.command("NOOP", "not connected")
            assert "220 2.0.0 ready" not in sh.text
            assert "plain>" not in sh.text[mark:]
            await sh.leave()
        assert srv.received == b"EHLO client.example\r\nSTARTTLS\r\n"  # nothing after it

    run(scenario())


def test_ctrl_c_during_the_tls_handshake_closes() -> None:
    hello = asyncio.Event()

    async def server(peer: RawPeer) -> None:
        await greet_ehlo(peer, "STARTTLS")
        await peer.expect(b"STARTTLS")
        await peer.send(b"220 2.0.0 go ahead\r\n")
        async with asyncio.timeout(STEP):
            peer.received += await peer.reader.readexactly(5)  # a TLS record: the ClientHello
        hello.set()
        await peer.until_closed()  # and never a ServerHello

    async def scenario() -> None:
        async with RawServer(server) as srv, shell(srv) as sh:
            await sh.command("EHLO client.example", "250 HELP")
            mark = sh.mark()
            sh.type("STARTTLS\r")
            await hello.wait()
            sh.ctrl_c()
            closed = await sh.sees("! connection closed: the TLS handshake was interrupted",
                                   mark)
            prompt = await sh.prompt_after("! interrupted", closed)
            assert prompt == f"{LOOPBACK}:{srv.port} closed"
            assert sh.toolbar().startswith("not connected  tls none")
            assert sh.engine.state.tls is None
            await srv.finished()  # the server saw the connection end
            conn = sh.engine.conn
            assert conn is not None
            mark = sh.mark()
            await sh.leave()
            # the socket went with the handshake: there is no TLS close to wait for, or to
            # report as unanswered
            assert "TLS close" not in sh.text[mark:], sh.notes(mark)
            assert conn.gone.done(), "the connection never learnt that its socket closed"
        after = srv.received.split(b"STARTTLS\r\n", 1)[1]
        assert after.startswith(b"\x16\x03")  # TLS records only: not one byte of plaintext
        assert b"EHLO" not in after and b"QUIT" not in after

    run(scenario())


# -- message text -----------------------------------------------------------------------


def test_ctrl_c_while_the_data_body_streams_closes_without_the_final_dot(
        tmp_path: Path) -> None:
    big = tmp_path / "big.eml"
    big.write_bytes(b"Subject: big\r\n\r\n" + (b"f" * 98 + b"\r\n") * 320_000)  # 32 MB
    streaming = asyncio.Event()

    async def server(peer: RawPeer) -> None:
        await envelope(peer)
        await peer.expect(b"DATA")
        await peer.send(b"354 go ahead\r\n")
        async with asyncio.timeout(STEP):
            peer.received += await peer.reader.readexactly(65536)
        streaming.set()  # and not a byte more is read: the client's socket fills
        await peer.until_closed()

    async def scenario() -> None:
        async with RawServer(server) as srv, shell(srv) as sh:
            for line, reply in ENVELOPE:
                await sh.command(line, reply)
            mark = sh.mark()
            sh.type(f":data {big}\r")
            await streaming.wait()
            sh.ctrl_c()
            closed = await sh.sees("! connection closed: the message was interrupted", mark)
            prompt = await sh.prompt_after("! interrupted", closed)
            assert prompt == f"{LOOPBACK}:{srv.port} closed"
            await srv.finished()
            await sh.leave()
        assert b"DATA\r\nSubject: big\r\n" in srv.received
        assert not srv.received.endswith(b"\r\n.\r\n")
        assert b"\r\n.\r\n" not in srv.received
        assert len(srv.received) < big.stat().st_size  # it was stopped mid-way

    run(scenario())


def test_ctrl_c_during_a_bdat_chunk_closes_and_no_last_chunk_follows(tmp_path: Path) -> None:
    big = tmp_path / "big.eml"
    big.write_bytes(b"Subject: chunks\r\n\r\n" + (b"c" * 98 + b"\r\n") * (3 * BDAT_CHUNK // 100))
    chunking = asyncio.Event()
    drain = asyncio.Event()

    async def server(peer: RawPeer) -> None:
        await envelope(peer, "CHUNKING")
        await peer.expect(b"BDAT ")
        chunking.set()  # and no more is read, no reply sent, until the test has pressed ^C
        await drain.wait()
        await peer.until_closed()

    async def scenario() -> None:
        async with RawServer(server) as srv, shell(srv) as sh:
            for line, reply in ENVELOPE:
                await sh.command(line, reply)
            mark = sh.mark()
            sh.type(f":bdat {big}\r")
            await chunking.wait()
            sh.ctrl_c()
            try:
                prompt = await sh.prompt_after("! ", mark)
                assert not sh.engine.state.connected, (
                    "Ctrl-C during :bdat left the connection open in the middle of a BDAT "
                    f"transaction, phase {sh.engine.state.phase.value}; the screen said "
                    f"{sh.notes(mark)}")
                assert "connection closed: the message was interrupted" in sh.text[mark:]
                assert prompt == f"{LOOPBACK}:{srv.port} closed"
            finally:
                drain.set()
            await srv.finished()
            await sh.leave()
        assert srv.received.count(b"BDAT ") == 1
        assert b"LAST" not in srv.received

    run(scenario())


def test_ctrl_c_on_the_reply_to_the_final_dot_leaves_data_mode() -> None:
    release = asyncio.Event()

    async def server(peer: RawPeer) -> None:
        await envelope(peer)
        await peer.expect(b"DATA")
        await peer.send(b"354 go ahead\r\n")
        while await peer.line() != b".\r\n":
            pass
        await peer.expect(b"NOOP")  # the next line: a command, sent once confirmed
        await release.wait()
        await peer.send(b"250 2.0.0 queued as 42\r\n")
        await peer.send(b"250 2.0.0 noop ok\r\n")
        await serve_rest(peer)

    async def scenario() -> None:
        async with RawServer(server) as srv, shell(srv) as sh:
            for line, reply in ENVELOPE:
                await sh.command(line, reply)
            mark = sh.mark()
            sh.type("DATA\r")
            assert await sh.prompt_after("354 go ahead", mark) == "data"
            sh.type("Subject: held\r\rbody\r.\r")
            await wait_until(lambda: srv.received.endswith(b"\r\nbody\r\n.\r\n"))
            sh.ctrl_c()
            prompt = await sh.prompt_after("! stopped waiting: the session is out of step",
                                           mark)
            assert prompt == f"{LOOPBACK}:{srv.port} plain"  # not data>: DATA mode is over
            mark = sh.mark()
            sh.type("NOOP\r")
            await sh.sees("! The session is out of step", mark)
            await sh.sees("Send anyway? [y/N]", mark)
            assert not srv.received.endswith(b"NOOP\r\n")
            sh.type("y\r")
            await wait_until(lambda: srv.received.endswith(b".\r\nNOOP\r\n"))
            release.set()
            await sh.prompt_after("250 2.0.0 noop ok", mark)
            shown = sh.text[mark:]
            assert "* late reply to the end of the message" in shown
            assert shown.index("250 2.0.0 queued as 42") < shown.index("250 2.0.0 noop ok")
            assert "data-end" not in sh.text
            await sh.leave()
        assert srv.received.endswith(b"\r\nbody\r\n.\r\nNOOP\r\nQUIT\r\n")

    run(scenario())


# -- AUTH -------------------------------------------------------------------------------


def test_ctrl_c_on_auth_then_the_late_334_opens_the_dialog() -> None:
    certs = make_practice_certs()
    release = asyncio.Event()

    async def server(peer: RawPeer) -> None:
        await greet_ehlo(peer, "AUTH LOGIN PLAIN")
        await peer.expect(b"AUTH LOGIN")
        await release.wait()
        await peer.send(b"334 VXNlcm5hbWU6\r\n")
        await peer.expect(b"*")
        await peer.send(b"501 5.7.0 authentication cancelled\r\n")
        await serve_rest(peer)

    async def scenario() -> None:
        async with RawServer(server, certs.server_context()) as srv, shell(
                srv, "tls", tls=TlsOptions(cadata=certs.ca_pem)) as sh:
            await sh.command("EHLO client.example", "250 HELP")
            mark = sh.mark()
            sh.type("AUTH LOGIN\r")  # over verified TLS, offered: no question
            await wait_until(lambda: srv.received.endswith(b"AUTH LOGIN\r\n"))
            sh.ctrl_c()
            prompt = await sh.prompt_after("! stopped waiting: the session is out of step",
                                           mark)
            assert re.fullmatch(rf"{LOOPBACK}:{srv.port} tls[\d.]+", prompt)
            assert sh.engine.state.out_of_step
            mark = sh.mark()
            release.set()
            assert await sh.prompt_after('334 VXNlcm5hbWU6  ← "Username:"', mark) == "auth"
            assert "* late reply to AUTH LOGIN:" in sh.text[mark:]
            assert sh.engine.state.auth_dialog and not sh.engine.state.out_of_step
            await sh.command("*", "501 5.7.0 authentication cancelled")
            await sh.leave()
        assert srv.received == b"EHLO client.example\r\nAUTH LOGIN\r\n*\r\nQUIT\r\n"

    run(scenario())


# -- Ctrl-Z -----------------------------------------------------------------------------

# A job-control shell puts a command in its own process group and hands it the
# terminal; its own group keeps that one from being orphaned. (Straight under pexpect
# the shell would lead its own session: an orphaned group, whose SIGTSTP the kernel
# discards, so Ctrl-Z could never stop it there.)
JOB_SHELL = """
import os, signal, subprocess, sys

def foreground():
    os.setpgid(0, 0)
    signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    os.tcsetpgrp(0, os.getpid())
    signal.signal(signal.SIGTTOU, signal.SIG_DFL)

job = subprocess.Popen(sys.argv[1:], preexec_fn=foreground)
print(f"job pid {job.pid}", flush=True)
sys.exit(job.wait())
"""


def process_state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]


def wait_for_state(pid: int, stopped: bool) -> None:
    """Poll another process until it is stopped ('T'), or no longer."""
    deadline = time.monotonic() + STEP
    while (process_state(pid) == "T") != stopped:
        assert time.monotonic() < deadline, (pid, process_state(pid), stopped)
        time.sleep(0.01)


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs /proc")
def test_ctrl_z_suspends_the_shell_and_it_goes_on_after_sigcont(tmp_path: Path) -> None:
    env = {**os.environ, "PROMPT_TOOLKIT_NO_CPR": "1", "XDG_STATE_HOME": str(tmp_path),
           "TERM": "xterm-256color", "NO_COLOR": "1"}
    child = pexpect.spawn(sys.executable, ["-c", JOB_SHELL, sys.executable, "-m", "smtpshell",
                                           "--demo"], env=env, dimensions=(30, 120),
                          timeout=STEP, encoding="utf-8")
    pid = None
    try:
        child.expect(r"job pid (\d+)")
        pid = int(child.match.group(1))
        child.expect("plain>")
        child.sendcontrol("z")
        wait_for_state(pid, stopped=True)
        os.kill(pid, signal.SIGCONT)
        wait_for_state(pid, stopped=False)
        child.sendline("NOOP")
        child.expect("250 2.0.0 OK")
        child.expect("plain>")
        child.sendline(":quit")
        child.expect("221 2.0.0 Bye")
        child.expect(pexpect.EOF)
    finally:
        if pid is not None and not child.terminated:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)  # the test failed: leave no stopped process
        child.close(force=True)
    assert child.exitstatus == 0
