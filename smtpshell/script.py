"""The script front end: `--script FILE` (`-`, a pipe, a FIFO) and stdin that is not a TTY.

Owns: reading script lines (LF ends a line, a CRLF file reads as plain lines,
a UTF-8 BOM is skipped, `#` comments outside DATA), replaying a saved
transcript (its typed lines again, each expecting the codes it earned then),
feeding lines to the Engine one by one, each after the previous reply, and
the exit status: 0 done, 1 an unexpected reply or a line not sent, 2 usage,
3 the connection failed or was lost (no line runs after that), 141 nobody
reads the output any more (a pipe closed early: the script ends quietly).
Must not: import prompt_toolkit (scripts start fast), or ask anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import io
import os
import re
import stat
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager
from typing import BinaryIO, TextIO

from .commands import Engine
from .errors import ConnectionFailed, SmtpShellError, UsageError
from .machine import Closed
from .redact import MASK
from .render import Fragments, ansi, format_error, format_note, plain
from .transcript import HEADER, ON_ITS_OWN, STOPPED

__all__ = ["ScriptUI", "read_lines", "replay", "run_script"]

EXIT_OK, EXIT_UNEXPECTED, EXIT_LOST, EXIT_PIPE = 0, 1, 3, 141
READ = 64 * 1024
_LINE = re.compile(r"^(?:\S+ (?:plain|tls) +)?([ICS]):(?: (.*))?$")
_EVENT = re.compile(r"^\S+ (?:plain|tls) +\*  (.*)$")
_FINAL = re.compile(r"^([2-5]\d\d)(?: |$)")


class ScriptUI:
    """Prints plain text; nobody is there to confirm. Secrets come from
    --secret-env, in order, else from the terminal if there is one."""

    def __init__(self, out: TextIO = sys.stdout, secrets: list[str] | None = None,
                 color: bool = False) -> None:
        self._out = out
        self._text = ansi if color else plain
        self._secrets = list(secrets or [])
        self.gone = False  # the reader of the output went away (a closed pipe)
        self._flushing = False

    def show(self, fragments: Fragments) -> None:
        self.write(self._text(fragments))

    def write(self, text: str) -> None:
        """Write now, flush once the loop has run what it can (a line's echo and its
        reply go out in one write, not one each: a CI log still sees every line)."""
        if self.gone:
            return
        try:
            self._out.write(text)
        except OSError as err:  # a listener calls this from the event loop: never raise
            self._broken(err)
            return
        if not self._flushing:
            self._flushing = True
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no loop running: now
                self.flush()

    def flush(self) -> None:
        self._flushing = False
        if self.gone:
            return
        try:
            self._out.flush()
        except OSError as err:
            self._broken(err)

    def _broken(self, err: OSError) -> None:
        if err.errno not in (errno.EPIPE, errno.EINVAL) and not isinstance(err, BrokenPipeError):
            raise err
        self._output_gone()

    def _output_gone(self) -> None:
        self.gone = True
        if self._out is sys.stdout:  # Python would complain again when it flushes at exit
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)

    def finish(self, status: int, error: str | None = None) -> None:
        """The run is over: the text has said so as it went (the JSON stream says it
        once more, in its summary)."""

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
        import getpass

        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, getpass.getpass, prompt)

    def progress(self, label: str, total: int
                 ) -> AbstractContextManager[Callable[[int], None]]:
        return contextlib.nullcontext(lambda n: None)

    def width(self) -> int | None:
        return None  # scripts write logs: lines stay whole


async def read_lines(source: BinaryIO) -> AsyncIterator[tuple[int, str]]:
    """Yield (number, line) as lines arrive. A pipe may be slow, so it is read in a
    worker thread, a chunk at a time; a regular file is read as it is."""
    loop, regular = asyncio.get_running_loop(), _regular(source)
    # read1: what is there, up to READ, without waiting for all of it (a pipe)
    read: Callable[[int], bytes] = getattr(source, "read1", source.read)
    number, rest = 0, b""
    while True:
        chunk = read(READ) if regular else await loop.run_in_executor(None, read, READ)
        if not chunk:  # the end: a last line with no line break is a line too
            if rest:
                yield number + 1, _script_line(number + 1, rest)
            return
        *whole, rest = (rest + chunk).split(b"\n")
        for raw in whole:
            number += 1
            yield number, _script_line(number, raw)


def _regular(source: BinaryIO) -> bool:
    try:
        return stat.S_ISREG(os.fstat(source.fileno()).st_mode)
    except (OSError, ValueError, io.UnsupportedOperation):
        return True  # in memory: nothing to wait for


def _script_line(number: int, raw: bytes) -> str:
    if number == 1:
        raw = raw.removeprefix(b"\xef\xbb\xbf")
    try:
        return raw.removesuffix(b"\r").decode("utf-8")
    except UnicodeDecodeError:
        raise SmtpShellError(f"line {number} of the script is not UTF-8",
                             "save the script as UTF-8") from None


async def replay(lines: AsyncIterator[tuple[int, str]]
                 ) -> AsyncIterator[tuple[int, str, tuple[str, ...] | None]]:
    """Script lines as (number, text, expected codes): a transcript turned into its
    inputs and the codes each earned then.

    A file that starts with the transcript header replays its `I:` lines (what was
    typed, helpers included); a hand-written RFC-style one its `C:` lines. What
    smtpshell sent on its own (the QUIT at the end) belongs to no typed line; a
    line where the script stopped is judged as it was then (its failure again).
    Any other script passes through with no expectations.
    """
    step: tuple[int, str] | None = None
    codes: list[str] = []
    stopped = False
    inputs = None  # "I" or "C", once the file has shown what it is
    async for number, line in lines:
        if inputs is None:
            inputs = "I" if line.startswith(HEADER) else "C" if _LINE.match(line) else ""
        if not inputs:
            yield number, line, None
            continue
        event, match = _EVENT.match(line), _LINE.match(line)
        if event is not None and step is not None and event.group(1) in (ON_ITS_OWN, STOPPED):
            stopped = stopped or event.group(1) == STOPPED
            if event.group(1) == ON_ITS_OWN:
                yield (*step, _expectation(codes, stopped))
                step = None
        elif match is not None and match.group(1) == inputs:
            if step is not None:
                yield (*step, _expectation(codes, stopped))
            step, codes, stopped = (number, match.group(2) or ""), [], False
        elif match is not None and match.group(1) == "S" and step is not None and \
                (final := _FINAL.match(match.group(2) or "")):
            codes.append(final.group(1))
    if step is not None:
        yield (*step, _expectation(codes, stopped))


def _expectation(codes: list[str], stopped: bool) -> tuple[str, ...] | None:
    return None if stopped or not codes else tuple(dict.fromkeys(codes))


async def _fill_secrets(engine: Engine, number: int, line: str) -> str:
    """A replayed transcript masks secrets: ask for each one again."""
    while MASK in line:
        secret = await engine.ask_secret(f"secret for script line {number}: ")
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
    if _output_gone(engine):
        status = EXIT_PIPE
    if not leave:
        return status
    if engine.state.in_data:
        engine.ui.show(format_note("the script ended inside DATA: the message was not "
                                   "finished, so the connection was closed without '.'",
                                   "warning"))
        await engine.dialer.hang_up(quit_first=False)
        return status or EXIT_UNEXPECTED
    with contextlib.suppress(SmtpShellError):
        await engine.dialer.hang_up(quit_first=True)
    return status


def _output_gone(engine: Engine) -> bool:
    return bool(getattr(engine.ui, "gone", False))


async def _run_lines(engine: Engine,
                     lines: AsyncIterator[tuple[int, str, tuple[str, ...] | None]]) -> int:
    warned = False
    answered: int | None = None  # the last script line that earned a reply
    async for number, line, expected in lines:
        if engine.finished or _output_gone(engine):
            break
        if engine.lost is not None:
            return _stop_lost(engine, engine.lost, number, answered)
        if line.startswith("#") and not engine.state.in_data:
            continue
        # the practice server's password is on its welcome line: no secret to keep
        if not warned and MASK not in line and engine.is_secret_line(line) and \
                engine.settings.practice is None:
            warned = True
            engine.ui.show(format_note(
                f"script line {number} holds a secret in clear text: anyone who can read the "
                "script (or the shell history, if it was piped in) can read it; "
                "--secret-env NAME keeps it out", "warning"))
        line = await _fill_secrets(engine, number, line)
        if expected:
            engine.expect_next(expected)
        try:
            result = await engine.handle_line(line)
        except ConnectionFailed as err:
            engine.ui.show(format_error(err))
            engine.ui.show(format_note(_last(number, answered, "was not answered"), "error"))
            return err.exit_code
        if result.replies:
            answered = number
        if result.refused or not result.expected:
            what = "was not sent" if result.refused else "got an unexpected reply"
            if engine.transcript is not None:
                engine.transcript.event(STOPPED)
            engine.ui.show(format_note(f"script line {number} {what}; stopping", "error"))
            return EXIT_UNEXPECTED
    return EXIT_OK


def _stop_lost(engine: Engine, lost: Closed, number: int, answered: int | None) -> int:
    engine.ui.show(format_note(f"the connection is gone ({lost.reason}), so no further "
                               "line runs. " + _last(number, answered, "was not run"), "error"))
    return EXIT_LOST


def _last(number: int, answered: int | None, what: str) -> str:
    last = f"line {answered}" if answered is not None else "no line"
    return f"Script line {number} {what}; {last} was the last answered."
