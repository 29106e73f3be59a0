"""The script front end: `--script FILE` and stdin that is not a TTY.

Owns: reading script lines (LF ends a line, a CRLF file reads as plain lines,
a UTF-8 BOM is skipped, `#` comments outside DATA), feeding them to the
Engine one by one, each after the previous reply, and the exit status:
0 done, 1 an unexpected 4xx/5xx or a line not sent, 2 usage, 3 connection.
Must not: import prompt_toolkit (scripts start fast), or ask anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager
from typing import BinaryIO, TextIO

from .commands import Engine
from .errors import SmtpShellError, UsageError
from .redact import MASK
from .render import Fragments, format_error, format_note, plain
from .session import Phase
from .transcript import replay

__all__ = ["ScriptUI", "read_lines", "run_script"]

EXIT_OK, EXIT_UNEXPECTED = 0, 1


class ScriptUI:
    """Prints plain text; nobody is there to confirm. Secrets come from
    --secret-env, in order, else from the terminal if there is one."""

    def __init__(self, out: TextIO = sys.stdout, secrets: list[str] | None = None) -> None:
        self._out = out
        self._secrets = list(secrets or [])

    def show(self, fragments: Fragments) -> None:
        self._out.write(plain(fragments))
        self._out.flush()

    async def confirm(self, question: str) -> bool:
        return False

    async def secret(self, prompt: str) -> str | None:
        if self._secrets:
            return self._secrets.pop(0)
        try:  # the script may be on stdin: ask on the terminal itself, or not at all
            with open("/dev/tty", "r+", encoding="utf-8"):
                pass
        except OSError:
            return None
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, getpass.getpass, prompt)

    def progress(self, label: str, total: int
                 ) -> AbstractContextManager[Callable[[int], None]]:
        return contextlib.nullcontext(lambda n: None)


async def read_lines(source: BinaryIO) -> AsyncIterator[tuple[int, str]]:
    """Yield (number, line) as lines arrive (a pipe may be slow)."""
    loop = asyncio.get_running_loop()
    number = 0
    while True:
        raw = await loop.run_in_executor(None, source.readline)
        if not raw:
            return
        number += 1
        if number == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf")
        raw = raw.removesuffix(b"\n").removesuffix(b"\r")
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError:
            raise SmtpShellError(f"line {number} of the script is not UTF-8",
                                 "save the script as UTF-8") from None


async def _fill_secrets(engine: Engine, number: int, line: str) -> str:
    """A replayed transcript masks secrets: ask for each one again."""
    while MASK in line:
        secret = await engine.ui.secret(f"secret for script line {number}: ")
        if secret is None:
            raise UsageError(f"script line {number} holds a masked secret ({MASK}) and none "
                             "was given", "--secret-env NAME, or run it from a terminal")
        line = line.replace(MASK, secret, 1)
    return line


async def run_script(engine: Engine, lines: AsyncIterator[tuple[int, str]],
                     leave: bool = True) -> int:
    """Run every line; stop at the first line that fails. Returns the exit status.

    With `leave`, end the session: QUIT, or — if the script stopped inside
    DATA — close without '.', so a half message is never delivered.
    """
    try:
        status = await _run_lines(engine, replay(lines))
    except SmtpShellError as err:
        engine.ui.show(format_error(err))
        status = err.exit_code
    if not leave:
        return status
    if engine.state.phase is Phase.DATA and engine.state.connected:
        engine.ui.show(format_note("the script ended inside DATA: the message was not "
                                   "finished, so the connection was closed without '.'",
                                   "warning"))
        await engine.hang_up(quit_first=False)
        return status or EXIT_UNEXPECTED
    with contextlib.suppress(SmtpShellError):
        await engine.hang_up(quit_first=True)
    return status


async def _run_lines(engine: Engine, lines: AsyncIterator[tuple[int, str, str | None]]
                     ) -> int:
    warned = False
    async for number, line, expected in lines:
        if engine.finished:
            break
        if line.startswith("#") and engine.state.phase is not Phase.DATA:
            continue
        if not warned and MASK not in line and engine.is_secret_line(line):
            warned = True
            engine.ui.show(format_note(
                f"script line {number} holds a secret in clear text: anyone who can read the "
                "script (or the shell history, if it was piped in) can read it; "
                "--secret-env NAME keeps it out", "warning"))
        line = await _fill_secrets(engine, number, line)
        if expected:
            engine.expect_next((expected,))
        result = await engine.handle_line(line)
        if result.refused or not result.expected:
            what = "was not sent" if result.refused else "got an unexpected reply"
            engine.ui.show(format_note(f"script line {number} {what}; stopping", "error"))
            return EXIT_UNEXPECTED
    return EXIT_OK
