"""Lessons as data: TOML files read with the standard library, checked before use.

Owns: `Lesson` and `Step`, `load_lessons` (the package's course, then a
teacher's lessons from `$XDG_CONFIG_HOME/smtpshell/lessons/`, in file-name order) and
the rules a lesson file must follow; a file that breaks them is refused with
its path, the line and the reason (`LessonError`), and the others still load.
A step says what to type and why, names what shows it was done (a command
sent, a line typed, the reply's code, the session's state), a hint for a
wrong line, and what to explain after; `{caps}`, `{reply}`, `{meaning}` and
`{tls}` in a text are filled from the session when it is shown.
Must not: run lessons (tutorial.py does) or do I/O beyond reading the files.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["PLACES", "STATE_KEYS", "Lesson", "LessonError", "Step", "load_lesson",
           "load_lessons"]

PLACES = ("caps", "reply", "meaning", "tls")  # what {…} in a lesson's text may name
STATE_KEYS: dict[str, type] = {"connected": bool, "tls": bool, "greeted": bool, "auth": bool,
                               "phase": str, "recipients": int}
PHASES = ("idle", "mail", "rcpt", "data", "bdat")
_CODE = re.compile(r"[1-5](\d\d|\dx|xx)(,[1-5](\d\d|\dx|xx))*")
_TOP = {"title": str, "intro": str, "outro": str, "step": list}
_STEP = {"say": str, "sent": str, "typed": str, "reply": str, "state": dict, "skip_when": dict,
         "hint": str, "explain": str}


class LessonError(ValueError):
    """A lesson file that cannot be used: `str()` names the file, the line and why."""


@dataclass(frozen=True)
class Step:
    say: str
    hint: str
    explain: str = ""
    sent: re.Pattern[str] | None = None  # a command line sent while the line ran
    typed: re.Pattern[str] | None = None  # the line as typed (secrets masked)
    reply: tuple[str, ...] = ()  # code patterns the last reply must match: 250, 2xx
    state: Mapping[str, object] = field(default_factory=dict)  # the session after it
    skip_when: Mapping[str, object] = field(default_factory=dict)  # already so: no need


@dataclass(frozen=True)
class Lesson:
    name: str  # the file's stem, e.g. "02-message"
    title: str
    steps: tuple[Step, ...]
    intro: str = ""
    outro: str = ""


def load_lessons(teacher_dir: Path | None = None) -> tuple[list[Lesson], list[LessonError]]:
    """Every lesson that loads, and what was refused (the rest still load)."""
    course = resources.files("smtpshell") / "course"
    sources: list[tuple[str, Callable[[], str]]] = [
        (f"smtpshell/course/{entry.name}", partial(entry.read_text, encoding="utf-8"))
        for entry in sorted(course.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".toml")]
    if teacher_dir is not None and teacher_dir.is_dir():
        sources += [(str(path), partial(path.read_text, encoding="utf-8"))
                    for path in sorted(teacher_dir.glob("*.toml"))]
    lessons, refused = [], []
    for path, read in sources:
        try:
            lessons.append(load_lesson(path, read()))
        except (OSError, UnicodeDecodeError) as err:
            refused.append(LessonError(f"{path}: cannot read it ({err})"))
        except LessonError as err:
            refused.append(err)
    return lessons, refused


def load_lesson(path: str, text: str) -> Lesson:
    """One lesson from its TOML text; LessonError names the file, line and reason."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise LessonError(f"{path}: {err}") from None
    _check_keys(path, text, data, _TOP, "the lesson")
    for key in ("title", "step"):
        if key not in data:
            raise LessonError(f"{path} line 1: the lesson has no {key}")
    raw_steps = data["step"]
    if not raw_steps or not all(isinstance(s, dict) for s in raw_steps):
        raise LessonError(f"{path} line 1: `step` must be one or more [[step]] tables")
    steps = tuple(_step(path, text, number, raw)
                  for number, raw in enumerate(raw_steps, 1))
    name = path.rsplit("/", 1)[-1].removesuffix(".toml")
    return Lesson(name, data["title"], steps, _text(path, text, data.get("intro", "")),
                  _text(path, text, data.get("outro", "")))


def _step(path: str, text: str, number: int, raw: dict[str, Any]) -> Step:
    where = f"{path} line {_step_line(text, number)} (step {number})"
    _check_keys(path, text, raw, _STEP, f"step {number}", where)
    for key in ("say", "hint"):
        if key not in raw:
            raise LessonError(f"{where}: the step has no {key}")
    if not any(key in raw for key in ("sent", "typed", "state")):
        raise LessonError(f"{where}: the step says nothing that shows it was done "
                          "(give sent, typed or state)")
    reply = raw.get("reply", "")
    if reply and not _CODE.fullmatch(reply.lower()):
        raise LessonError(f"{where}: reply {reply!r} is not a code pattern such as 250 or 2xx")
    return Step(say=_text(where, "", raw["say"]), hint=_text(where, "", raw["hint"]),
                explain=_text(where, "", raw.get("explain", "")),
                sent=_pattern(where, raw.get("sent")), typed=_pattern(where, raw.get("typed")),
                reply=tuple(reply.lower().split(",")) if reply else (),
                state=_state(where, raw.get("state", {})),
                skip_when=_state(where, raw.get("skip_when", {})))


def _check_keys(path: str, text: str, data: Mapping[str, Any], known: Mapping[str, type],
                what: str, where: str | None = None) -> None:
    for key, value in data.items():
        at = where or f"{path} line {_key_line(text, key)}"
        if key not in known:
            raise LessonError(f"{at}: {what} has an unknown key {key!r} (known: "
                              f"{', '.join(known)})")
        if not isinstance(value, known[key]):
            raise LessonError(f"{at}: {key} must be a {known[key].__name__}")


def _pattern(where: str, source: str | None) -> re.Pattern[str] | None:
    if source is None:
        return None
    try:
        return re.compile(source, re.IGNORECASE)  # any case counts: rcpt to:<a@b> as RCPT
    except re.error as err:
        raise LessonError(f"{where}: {source!r} is not a regular expression ({err})") from None


def _state(where: str, table: Mapping[str, Any]) -> dict[str, object]:
    for key, value in table.items():
        kind = STATE_KEYS.get(key)
        if kind is None:
            raise LessonError(f"{where}: no session state {key!r} (known: "
                              f"{', '.join(STATE_KEYS)})")
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise LessonError(f"{where}: {key} must be a {kind.__name__}")
        if key == "phase" and value not in PHASES:
            raise LessonError(f"{where}: phase must be one of {', '.join(PHASES)}")
    return dict(table)


def _text(where: str, text: str, value: str) -> str:
    """A text with only known {places}; {{ and }} stand for braces."""
    for name in re.findall(r"(?<!\{)\{([^{}]*)\}(?!\})", value):
        if name not in PLACES:
            raise LessonError(f"{where}: {{{name}}} is not something a lesson can show "
                              f"(known: {', '.join('{' + p + '}' for p in PLACES)})")
    return value.strip()


def _step_line(text: str, number: int) -> int:
    return _nth_line(text.splitlines(), (i for i, line in enumerate(text.splitlines(), 1)
                                         if line.strip() == "[[step]]"), number)


def _key_line(text: str, key: str) -> int:
    lines = text.splitlines()
    found = (i for i, line in enumerate(lines, 1) if re.match(rf"\s*{re.escape(key)}\s*=", line))
    return _nth_line(lines, found, 1)


def _nth_line(lines: list[str], found: Iterable[int], number: int) -> int:
    for count, line in enumerate(found, 1):
        if count == number:
            return line
    return 1
