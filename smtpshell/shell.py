"""The interactive front end on prompt_toolkit.

Owns: the PromptSession (prompt naming peer and layer, bottom toolbar,
history that never stores a secret, mode 0600), printing above the prompt,
yes/no and hidden-password prompts, Ctrl-C (stop waiting) and Ctrl-D (end
DATA, else QUIT and leave).
Must not: decide what a line means — the Engine does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
from collections.abc import Callable, Coroutine, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from prompt_toolkit import PromptSession
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.formatted_text import AnyFormattedText, FormattedText
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.keys import Keys
from prompt_toolkit.layout.dimension import AnyDimension, D
from prompt_toolkit.lexers import DynamicLexer, Lexer, PygmentsLexer
from prompt_toolkit.output import ColorDepth
from prompt_toolkit.shortcuts import ProgressBar, print_formatted_text
from prompt_toolkit.shortcuts.progress_bar import formatters
from prompt_toolkit.shortcuts.progress_bar.base import ProgressBarCounter
from prompt_toolkit.styles import Style

from .commands import Engine
from .completer import make_completer
from .config import open_private
from .errors import SmtpShellError
from .lexer import CommandLexer, HeaderLexer
from .render import (
    STYLE,
    Fragments,
    format_error,
    format_note,
    human_bytes,
    prompt_text,
    toolbar,
)
from .session import Phase, SessionState

__all__ = ["CommandHistory", "ShellUI", "make_history", "paste_lines", "run_shell"]

T = TypeVar("T")


class ShellUI:
    """Prints above the prompt; asks questions on the same terminal."""

    def __init__(self, color: bool) -> None:
        self.style = Style.from_dict(STYLE if color else {})
        self.color = color

    def show(self, fragments: Fragments) -> None:
        print_formatted_text(FormattedText(fragments), style=self.style, end="",
                             include_default_pygments_style=False,
                             color_depth=None if self.color else ColorDepth.MONOCHROME)

    async def confirm(self, question: str) -> bool:
        self.show(format_note(question, "warning"))
        ask = "[y/N] " if question.endswith("?") else "Send anyway? [y/N] "
        answer = await self._ask(ask, password=False)
        return (answer or "").strip().lower() in ("y", "yes")

    async def secret(self, prompt: str) -> str | None:
        return await self._ask(prompt, password=True)

    def width(self) -> int:
        return shutil.get_terminal_size().columns

    @contextlib.contextmanager
    def progress(self, label: str, total: int) -> Iterator[Callable[[int], None]]:
        """prompt_toolkit's progress bar, in KB/MB with the rate and the time left."""
        if not total:
            yield lambda n: None
            return
        with ProgressBar(title=label, formatters=_TRANSFER) as bar:
            counter: ProgressBarCounter[object] = bar(total=total)

            def advance(count: int) -> None:
                counter.items_completed += count
                bar.invalidate()

            yield advance
            counter.done = True

    async def _ask(self, message: str, password: bool) -> str | None:
        session: PromptSession[str] = PromptSession(style=self.style)
        try:
            # handle_sigint off: on leaving, prompt_toolkit would remove the SIGINT handler
            # that lets Ctrl-C stop the step this question belongs to
            return await session.prompt_async(message, is_password=password,
                                              handle_sigint=False)
        except (EOFError, KeyboardInterrupt):
            return None


class _Bytes(formatters.Formatter):
    """'12.3 MB of 25.0 MB, 5.2 MB/s': the transfer in units a person reads."""

    def format(self, progress_bar: ProgressBar, progress: ProgressBarCounter[object],
               width: int) -> AnyFormattedText:
        seconds = progress.time_elapsed.total_seconds()
        rate = f", {human_bytes(progress.items_completed / seconds)}/s" if seconds else ""
        return (f"{human_bytes(progress.items_completed)} of "
                f"{human_bytes(progress.total or 0)}{rate}")

    def get_width(self, progress_bar: ProgressBar) -> AnyDimension:
        return D(min=28)


_TRANSFER = [formatters.Percentage(), formatters.Text(" "), formatters.Bar(),
             formatters.Text(" "), _Bytes(), formatters.Text("  left "), formatters.TimeLeft()]


class CommandHistory(History):
    """Wraps a history so that only commands that went out are kept: never a secret
    (AUTH, an answer to 334, a credential helper), never message text typed in DATA
    mode, never a line the safe mode refused. A line is judged when accepted (its
    secrecy and mode) and kept only after it ran (`settle`)."""

    def __init__(self, inner: History, keep: Callable[[str], bool]) -> None:
        super().__init__()
        self._inner = inner
        self._keep = keep
        self._pending: str | None = None

    def load_history_strings(self) -> Iterable[str]:
        return self._inner.load_history_strings()

    def append_string(self, string: str) -> None:
        self._pending = string if self._keep(string) else None

    def settle(self, sent: bool) -> None:
        """The accepted line has run; keep it if it was not refused."""
        pending, self._pending = self._pending, None
        if pending is not None and sent:
            super().append_string(pending)

    def store_string(self, string: str) -> None:
        self._inner.store_string(string)


def make_history(path: Path | None, engine: Engine) -> CommandHistory:
    """A file history kept private (0600, never through a symlink), or one in memory
    (--no-history)."""
    keep = _worth_keeping(engine)
    if path is None:
        return CommandHistory(InMemoryHistory(), keep)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    open_private(str(path)).close()
    return CommandHistory(FileHistory(str(path)), keep)


def _worth_keeping(engine: Engine) -> Callable[[str], bool]:
    """Commands, not secrets (AUTH, an answer to 334, a credential helper) and not
    message text (DATA mode), judged as the line is accepted."""

    def check(text: str) -> bool:
        if engine.state.in_data:
            return False
        return not any(engine.is_secret_line(line) for line in text.split("\n"))

    return check


def _key_bindings() -> KeyBindings:
    bindings = KeyBindings()

    @bindings.add(Keys.BracketedPaste)
    def _paste(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text(paste_lines(event.data))

    @bindings.add(Keys.Vt100MouseEvent)
    def _mouse(event: KeyPressEvent) -> None:
        """The shell asks for no mouse reports: what looks like one is a stray escape
        sequence (ESC [ 3 1 m typed), which prompt_toolkit's own handler would choke on."""

    return bindings


def paste_lines(data: str) -> str:
    """A bracketed paste as lines: terminals (xterm, VTE, tmux) send its line breaks as
    CR, others as CRLF or LF; each is a line break. A CR inside a line cannot come
    from a paste this way; typed or scripted, the safe mode refuses it."""
    return data.replace("\r\n", "\n").replace("\r", "\n")


def _lexer(state: SessionState) -> Lexer:
    """Headers in DATA mode, commands otherwise."""
    commands, headers = PygmentsLexer(CommandLexer), PygmentsLexer(HeaderLexer)
    return DynamicLexer(lambda: headers if state.phase is Phase.DATA else commands)


async def run_shell(engine: Engine, state: SessionState, ui: ShellUI,
                    history: CommandHistory) -> int:
    """The REPL: read a line, let the Engine run it, until :quit or Ctrl-D."""
    session: PromptSession[str] = PromptSession(
        history=history, style=ui.style,
        bottom_toolbar=lambda: FormattedText(toolbar(state, ui.width())),
        completer=make_completer(state, {n: h[0] for n, h in engine.helpers.items()},
                                 history),
        complete_while_typing=True, auto_suggest=AutoSuggestFromHistory(),
        lexer=_lexer(state) if ui.color else None, include_default_pygments_style=False,
        color_depth=None if ui.color else ColorDepth.MONOCHROME, enable_history_search=False,
        key_bindings=_key_bindings(), enable_suspend=True,  # Ctrl-Z, as in every shell
        vi_mode=engine.settings.edit_mode == "vi")
    while not engine.finished:
        try:
            text = await session.prompt_async(lambda: FormattedText(prompt_text(state)))
        except KeyboardInterrupt:
            continue  # Ctrl-C at the prompt clears the line, as in a shell
        except EOFError:
            await _interruptible(engine, _ctrl_d(engine))
            continue

        results = await _interruptible(engine, engine.handle_text(text))
        history.settle(sent=not any(r.refused for r in results or []))
    return 0


async def _ctrl_d(engine: Engine) -> None:
    if engine.state.in_data:
        engine.note("Ctrl-D ends the message, as '.' does (:abort would abandon it)")
        await engine.end_data(echo=True)
    else:
        await engine.dialer.hang_up(quit_first=True)
        engine.finished = True


@contextlib.contextmanager
def _quiet_terminal() -> Iterator[None]:
    """While a step runs there is no prompt: keys typed ahead wait for the next one
    instead of being echoed into the server's replies (and ^C is not drawn)."""
    try:
        import termios

        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd)
    except (ImportError, OSError, ValueError):  # not a terminal (pipe input, tests)
        yield
        return
    quiet = list(saved)
    quiet[3] &= ~(termios.ECHO | termios.ECHOCTL)
    termios.tcsetattr(fd, termios.TCSANOW, quiet)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, saved)


async def _interruptible(engine: Engine, work: Coroutine[Any, Any, T]) -> T | None:
    """Run one step; Ctrl-C (SIGINT, the terminal is cooked now) stops the wait.
    Returns what the step returned, None if it did not finish."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(work)
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, task.cancel)
    try:
        with _quiet_terminal():
            return await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
        engine.ui.show(format_note(
            "stopped waiting: the session is out of step until the late reply arrives, "
            ":resync or :reconnect" if engine.state.out_of_step else "interrupted", "warning"))
    except SmtpShellError as err:
        engine.ui.show(format_error(err))
    except Exception as err:  # a bug must not take the session down with it
        if os.environ.get("SMTPSHELL_DEBUG"):
            raise
        engine.ui.show(format_note(f"internal error ({type(err).__name__}: {err}); the "
                                   "session goes on; please report it", "error"))
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGINT)
    return None
