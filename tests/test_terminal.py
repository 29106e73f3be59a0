"""A real pseudo-terminal: what a person at the keyboard gets."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

import pexpect
import pytest
from support import STEP, RawPeer, RawServer


def spawn(tmp_path: Path, *args: str, color: bool = False) -> pexpect.spawn:
    env = {**os.environ, "PROMPT_TOOLKIT_NO_CPR": "1", "XDG_STATE_HOME": str(tmp_path),
           "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    if not color:
        env["NO_COLOR"] = "1"
    return pexpect.spawn(sys.executable, ["-m", "smtpshell", *args], env=env,
                         dimensions=(30, 120), timeout=15, encoding="utf-8")


def test_demo_prompt_ehlo_and_ctrl_d(tmp_path: Path) -> None:
    child = spawn(tmp_path, "--demo")
    child.expect(r"Practice server on 127\.0\.0\.1:\d+")
    child.expect(r"127\.0\.0\.1:\d+ plain>")
    child.sendline("EHLO pexpect.example")
    child.expect("250-PIPELINING")
    child.expect("250 HELP")
    child.expect("plain>")
    child.sendcontrol("d")
    child.expect("221 2.0.0 Bye")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "EHLO pexpect.example" in (tmp_path / "smtpshell" / "history").read_text()


def test_ctrl_c_at_the_prompt_clears_the_line(tmp_path: Path) -> None:
    child = spawn(tmp_path, "--demo")
    child.expect("plain>")
    child.send("NOOP half typed")
    child.sendcontrol("c")
    child.expect("plain>")
    child.sendline("QUIT")  # had the half line stayed, this would be "NOOP half typedQUIT"
    child.expect("221 2.0.0 Bye")
    child.expect("closed>")
    child.sendline(":quit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


COLOR = re.compile(r"\x1b\[[0-9;]*(3[0-7]|9[0-7]|38;)[0-9;]*m")  # a foreground colour


@pytest.mark.parametrize(("extra", "env", "coloured"), [
    ([], {}, True), (["--no-color"], {}, False), ([], {"NO_COLOR": "1"}, False)])
def test_colour_and_no_colour(tmp_path: Path, extra: list[str], env: dict[str, str],
                              coloured: bool) -> None:
    child = spawn(tmp_path, "--demo", *extra, color=not env)
    prompt = r"plain(\x1b\[[0-9;]*m)*>"
    child.expect(prompt)
    child.sendline("EHLO colour.example")
    child.expect("250 HELP")
    child.expect(prompt)
    seen = child.before + child.after
    child.sendcontrol("d")
    child.expect(pexpect.EOF)
    assert bool(COLOR.search(seen)) is coloured


class ThreadedRawServer:
    """A RawServer on its own loop in a thread, for tests that block on pexpect."""

    def __init__(self, script: Callable[[RawPeer], Awaitable[None]]) -> None:
        self.script = script
        self.ready = threading.Event()
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._run(),),
                                       daemon=True)
        self.stop: asyncio.Event | None = None

    async def _run(self) -> None:
        self.stop = asyncio.Event()
        async with RawServer(self.script) as server:
            self.port = server.port
            self.ready.set()
            await self.stop.wait()

    def __enter__(self) -> ThreadedRawServer:
        self.thread.start()
        assert self.ready.wait(STEP)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.stop is not None
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(STEP)


def test_ctrl_c_stops_waiting_and_the_session_is_out_of_step(tmp_path: Path) -> None:
    got_noop = threading.Event()

    async def silent(peer: RawPeer) -> None:
        await peer.send(b"220 silent.test ESMTP\r\n")
        await peer.expect(b"NOOP")
        got_noop.set()
        await peer.until_closed()  # and never a reply

    with ThreadedRawServer(silent) as server:
        child = spawn(tmp_path, f"127.0.0.1:{server.port}", "--timeout", "60")
        child.expect("plain>")
        child.sendline("NOOP")
        assert got_noop.wait(STEP)
        child.sendintr()
        child.expect("stopped waiting: the session is out of step")
        child.expect("plain>")
        child.sendline("RSET")
        child.expect("out of step")
        child.expect(r"Send anyway\? \[y/N\]")
        child.sendline("n")
        child.expect("Not sent")
        child.sendline(":resync 0.2")
        child.expect("forgotten")
        child.sendline(":close")
        child.expect("closed>")
        child.sendcontrol("d")
        child.expect(pexpect.EOF)
        child.close()
    assert child.exitstatus == 0
    assert "NOOP" in (tmp_path / "smtpshell" / "history").read_text()
