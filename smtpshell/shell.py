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
import signal
import sys
from collections.abc import Callable, Coroutine, Iterable, Iterator
from pathlib import Path
from typing import Any

from prompt_toolkit import PromptSession
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.keys import Keys
from prompt_toolkit.lexers import DynamicLexer, Lexer, PygmentsLexer
from prompt_toolkit.output import ColorDepth
from prompt_toolkit.shortcuts import ProgressBar, print_formatted_text
from prompt_toolkit.shortcuts.progress_bar.base import ProgressBarCounter
from prompt_toolkit.styles import Style

from .commands import Engine
from .completer import make_completer
from .config import open_private
from .errors import SmtpShellError
from .lexer import CommandLexer, HeaderLexer
from .render import STYLE, Fragments, format_error, format_note, prompt_text, toolbar
from .session import Phase, SessionState

__all__ = ["ShellUI", "make_history", "run_shell"]


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
        answer = await self._ask("Send anyway? [y/N] ", password=False)
        return (answer or "").strip().lower() in ("y", "yes")

    async def secret(self, prompt: str) -> str | None:
        return await self._ask(prompt, password=True)

    @contextlib.contextmanager
    def progress(self, label: str, total: int) -> Iterator[Callable[[int], None]]:
        """prompt_toolkit's progress bar, for transfers worth watching."""
        if not total:
            yield lambda n: None
            return
        with ProgressBar(title=label) as bar:
            counter: ProgressBarCounter[object] = bar(total=total, label="bytes ")

            def advance(count: int) -> None:
                counter.items_completed += count
                bar.invalidate()

            yield advance
            counter.done = True

    async def _ask(self, message: str, password: bool) -> str | None:
        session: PromptSession[str] = PromptSession(style=self.style)
        try:
            return await session.prompt_async(message, is_password=password)
        except (EOFError, KeyboardInterrupt):
            return None


class _SecretFilter(History):
    """Wraps a history so that credentials and AUTH answers are never stored."""

    def __init__(self, inner: History, is_secret: Callable[[str], bool]) -> None:
        super().__init__()
        self._inner = inner
        self._is_secret = is_secret

    def load_history_strings(self) -> Iterable[str]:
        return self._inner.load_history_strings()

    def append_string(self, string: str) -> None:
        if not self._is_secret(string):
            super().append_string(string)

    def store_string(self, string: str) -> None:
        self._inner.store_string(string)


def make_history(path: Path | None, is_secret: Callable[[str], bool]) -> History:
    """A file history created private (0600), or one in memory (--no-history)."""
    if path is None:
        return _SecretFilter(InMemoryHistory(), is_secret)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    open_private(str(path)).close()
    os.chmod(path, 0o600)  # also when an older smtpshell made it readable
    return _SecretFilter(FileHistory(str(path)), is_secret)


def secret_text(engine: Engine) -> Callable[[str], bool]:
    """Is any line of this accepted text a secret (AUTH, an answer to 334, a credential helper)?"""

    def check(text: str) -> bool:
        return any(engine.is_secret_line(line) for line in text.split("\n"))

    return check


def _key_bindings() -> KeyBindings:
    bindings = KeyBindings()

    @bindings.add(Keys.BracketedPaste)
    def _paste(event: KeyPressEvent) -> None:
        # prompt_toolkit would turn a bare CR into a line break; kept, the safe mode refuses it
        event.current_buffer.insert_text(event.data.replace("\r\n", "\n"))

    return bindings


def _lexer(state: SessionState) -> Lexer:
    """Headers in DATA mode, commands otherwise."""
    commands, headers = PygmentsLexer(CommandLexer), PygmentsLexer(HeaderLexer)
    return DynamicLexer(lambda: headers if state.phase is Phase.DATA else commands)


async def run_shell(engine: Engine, state: SessionState, ui: ShellUI,
                    history: History) -> int:
    """The REPL: read a line, let the Engine run it, until :quit or Ctrl-D."""
    session: PromptSession[str] = PromptSession(
        history=history, style=ui.style, bottom_toolbar=lambda: FormattedText(toolbar(state)),
        completer=make_completer(state, {n: h[0] for n, h in engine.helpers.items()},
                                 history),
        complete_while_typing=True, auto_suggest=AutoSuggestFromHistory(),
        lexer=_lexer(state) if ui.color else None, include_default_pygments_style=False,
        color_depth=None if ui.color else ColorDepth.MONOCHROME, enable_history_search=False,
        key_bindings=_key_bindings())
    while not engine.finished:
        try:
            text = await session.prompt_async(lambda: FormattedText(prompt_text(state)))
        except KeyboardInterrupt:
            continue  # Ctrl-C at the prompt clears the line, as in a shell
        except EOFError:
            await _interruptible(engine, _ctrl_d(engine))
            continue
        await _interruptible(engine, engine.handle_text(text))
    return 0


async def _ctrl_d(engine: Engine) -> None:
    if engine.state.phase is Phase.DATA and engine.state.connected:
        await engine.end_data(echo=True)
    else:
        await engine.hang_up(quit_first=True)
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


async def _interruptible(engine: Engine, work: Coroutine[Any, Any, object]) -> None:
    """Run one step; Ctrl-C (SIGINT, the terminal is cooked now) stops the wait."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(work)
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, task.cancel)
    try:
        with _quiet_terminal():
            await task
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
