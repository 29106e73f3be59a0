"""A real pseudo-terminal: what a person at the keyboard gets."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pexpect
import pytest


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
