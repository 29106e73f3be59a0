"""The guided lessons: `:tutorial` and `--tutorial`, on the practice server.

Owns: `Tutorial`, a listener of the session plus its own helper group. It
shows a step (what to type and why), watches the line the learner types —
what it sent, what came back, the session's state after it — and then
explains the reply and moves on, or gives the step's hint (never a dead
end: `:tutorial next` skips, `hint` repeats it). The toolbar shows where the
learner is; progress is kept in the XDG state directory so `--tutorial`
resumes. Lessons come from lessons.py.
Must not: add branches to the Engine, or send anything itself.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .commands import Args, Engine, helper, reply_matches
from .errors import UsageError
from .protocol import Command, Reply
from .render import explain_line, format_caps, format_note, plain
from .traffic import Listener

if TYPE_CHECKING:  # the course is read only when a tutorial runs
    from .lessons import Lesson, Step

__all__ = ["Progress", "Tutorial"]

# Lines that only look at things: they never earn a hint.
_LOOKING = re.compile(r"^:(help|caps|tls|cert|status|explain|inbox|b64|unb64|tutorial)\b",
                      re.IGNORECASE)


@dataclass
class Progress:
    """Where the learner is, kept between sessions."""

    lesson: str | None = None
    step: int = 0
    done: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path | None) -> Progress:
        import json

        try:
            data = json.loads(path.read_text(encoding="utf-8")) if path else {}
            return cls(data.get("lesson"), int(data.get("step", 0)), list(data.get("done", [])))
        except (OSError, ValueError, TypeError, AttributeError):
            return cls()  # no progress yet, or a file we cannot read: start afresh

    def save(self, path: Path | None) -> None:
        import json
        import tempfile

        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False,
                                             encoding="utf-8") as handle:
                json.dump({"lesson": self.lesson, "step": self.step, "done": self.done}, handle)
            os.replace(handle.name, path)
        except OSError:
            pass  # progress is a convenience: the lesson goes on without it


class Tutorial(Listener):
    """A lesson in progress, watching the session."""

    def __init__(self, engine: Engine) -> None:
        from .lessons import load_lessons

        self.engine = engine
        self.lessons, self.refused = load_lessons(engine.settings.lessons_dir)
        self.progress = Progress.load(engine.settings.progress)
        self.lesson: Lesson | None = None
        self.index = 0
        self._typed: str | None = None
        self._in_data = False
        self._sent: list[str] = []

    @classmethod
    def attach(cls, engine: Engine) -> Tutorial:
        """The tutorial as a helper group that also listens to the session."""
        tutorial = cls(engine)
        engine.listeners.append(tutorial)
        return tutorial

    # -- :tutorial -------------------------------------------------------------------

    @helper(":tutorial [LESSON|list|next|back|hint|quit]", "with --demo: guided lessons "
            "on the practice server; alone: where you are (or carry on)", max_args=1)
    async def tutorial(self, args: Args) -> None:
        word = args.positional[0].lower() if args.positional else ""
        for refusal in self.refused:
            self.engine.note(f"lesson refused: {refusal}", "warning")
        self.refused = []
        if word == "list":
            self._list()
        elif word in ("next", "back"):
            self._move(1 if word == "next" else -1)
        elif word == "hint":
            self._say(self._step().hint if self._active() else "")
        elif word == "quit":
            self._quit()
        elif word:
            self.start(self._find(word))
        elif self.lesson is None:
            self._resume()
        else:
            self._show()

    def start(self, lesson: Lesson, index: int = 0) -> None:
        self.lesson, self.index = lesson, index
        number = self.lessons.index(lesson) + 1
        self._say(f"Lesson {number}: {lesson.title}" + (f"\n{lesson.intro}" if lesson.intro
                                                         else ""))
        self._enter()

    def _find(self, word: str) -> Lesson:
        if word.isdigit() and 1 <= int(word) <= len(self.lessons):
            return self.lessons[int(word) - 1]
        found = [lesson for lesson in self.lessons if word in lesson.name.lower()]
        if len(found) != 1:
            raise UsageError(f"no lesson {word!r}", ":tutorial list shows them")
        return found[0]

    def _resume(self) -> None:
        saved = next((lesson for lesson in self.lessons if lesson.name == self.progress.lesson),
                     None)
        if saved is not None:
            self.start(saved, min(self.progress.step, len(saved.steps) - 1))
        elif self.lessons:
            todo = [lesson for lesson in self.lessons if lesson.name not in self.progress.done]
            self.start((todo or self.lessons)[0])
        else:
            raise UsageError("there are no lessons to give")

    def _list(self) -> None:
        lines = ["lessons (:tutorial N starts one):"]
        for number, lesson in enumerate(self.lessons, 1):
            mark = "done" if lesson.name in self.progress.done else \
                "here" if lesson is self.lesson else "    "
            lines.append(f"  {number}. [{mark}] {lesson.title}")
        self.engine.note("\n".join(lines))

    def _move(self, by: int) -> None:
        if not self._active():
            raise UsageError("no lesson under way", ":tutorial starts one")
        assert self.lesson is not None
        if by < 0:
            self.index = max(0, self.index - 1)
            self._enter(skip=False)
            return
        self.index += 1
        self._enter()

    def _quit(self) -> None:
        self.lesson, self.engine.state.lesson = None, None
        self._say("tutorial stopped; :tutorial carries on where you were")

    # -- the session, watched ---------------------------------------------------------

    def on_input(self, line: str) -> None:
        self._typed, self._sent = line, []
        self._in_data = self.engine.state.in_data

    def on_sent(self, command: Command | None, data: bytes, echo: bool) -> None:
        if command is not None:
            self._sent.append(command.line)

    def on_line_done(self, replies: tuple[Reply, ...], refused: bool) -> None:
        typed, self._typed = self._typed, None
        if not self._active() or typed is None or typed.lower().startswith(":tutorial"):
            return
        step = self._step()
        if self._done(step, typed, replies):
            if step.explain:
                self._say(self._fill(step.explain, replies))
            self.index += 1
            self._enter()
        elif (self._sent or refused) and not self._in_data and not _LOOKING.match(typed):
            self._say(f"not quite: {self._fill(step.hint, replies)}\n(:tutorial hint repeats "
                      "this, :tutorial next skips the step)")

    def _done(self, step: Step, typed: str, replies: tuple[Reply, ...]) -> bool:
        if step.sent and not any(step.sent.search(line) for line in self._sent):
            return False
        if step.typed and not step.typed.search(typed):
            return False
        if step.reply and not (replies and reply_matches(step.reply, replies[-1])):
            return False
        return self._holds(step.state)

    def _holds(self, conditions: Mapping[str, object]) -> bool:
        state = self.engine.state
        now: dict[str, object] = {
            "connected": state.connected, "tls": state.tls is not None,
            "greeted": state.greeted, "auth": state.auth_user is not None,
            "phase": state.phase.value, "recipients": state.recipients}
        return all(now[key] == value for key, value in conditions.items())

    # -- steps ------------------------------------------------------------------------

    def _active(self) -> bool:
        return self.lesson is not None

    def _step(self) -> Step:
        assert self.lesson is not None
        return self.lesson.steps[self.index]

    def _enter(self, skip: bool = True) -> None:
        """Show the step at `index` (those whose state is already so are skipped), or
        end the lesson."""
        lesson = self.lesson
        assert lesson is not None
        while skip and self.index < len(lesson.steps) and \
                lesson.steps[self.index].skip_when and \
                self._holds(lesson.steps[self.index].skip_when):
            self.index += 1
        if self.index >= len(lesson.steps):
            self._finish(lesson)
            return
        self.progress.lesson, self.progress.step = lesson.name, self.index
        self.progress.save(self.engine.settings.progress)
        self._show()

    def _show(self) -> None:
        lesson = self.lesson
        assert lesson is not None
        where = (f"lesson {self.lessons.index(lesson) + 1} · step {self.index + 1}/"
                 f"{len(lesson.steps)}")
        self.engine.state.lesson = where
        self._say(f"[{where}] {self._fill(self._step().say, ())}")

    def _finish(self, lesson: Lesson) -> None:
        if lesson.name not in self.progress.done:
            self.progress.done.append(lesson.name)
        number = self.lessons.index(lesson) + 1
        following = self.lessons[number:number + 1]
        self.progress.lesson, self.progress.step = (following[0].name, 0) if following \
            else (None, 0)
        self.progress.save(self.engine.settings.progress)
        self.lesson, self.engine.state.lesson = None, None
        ending = f"Lesson {number} done." + (f" {lesson.outro}" if lesson.outro else "")
        self._say(ending + (f"\nNext: lesson {number + 1}, {following[0].title} "
                            f"(:tutorial {number + 1})" if following else
                            "\nThat was the last lesson: the shell is yours."))

    def _say(self, text: str) -> None:
        if text:  # every line after the first sits under the text, after the "* "
            text = "\n".join(line if n == 0 or line.startswith(" ") else "  " + line
                             for n, line in enumerate(text.split("\n")))
            self.engine.ui.show(format_note(text, "lesson", self.engine.ui.width()))

    def _fill(self, text: str, replies: tuple[Reply, ...]) -> str:
        """The {places} of a lesson's text, from the session as it is now."""
        state = self.engine.state
        last = replies[-1] if replies else self.engine.last_reply
        values = {
            "caps": plain(format_caps(state.capabilities, self.engine.ui.width()))[2:].rstrip()
            if state.capabilities else "(no EHLO yet)",
            "reply": "\n".join(last.lines) if last else "(no reply yet)",
            "meaning": plain(explain_line(last)).strip().removeprefix("↳ ") if last else "",
            "tls": f"{state.tls.version} with {state.tls.cipher}" if state.tls else "no TLS"}
        filled = re.sub(r"(?<!\{)\{(\w+)\}(?!\})", lambda m: values.get(m.group(1), m.group(0)),
                        text)
        return filled.replace("{{", "{").replace("}}", "}")

