"""Completion that follows the session: what the server advertised, what you typed.

Owns: `suggest(text_before_cursor, state, helpers, addresses, files)`, a pure
function from the text and the session to `Suggestion`s (each with its
meaning), and `make_completer`, the thin prompt_toolkit Completer around it
(prompt_toolkit is imported only there). Completion is case-insensitive and
answers in the case the user is typing in.
Must not: do I/O except through the `files` callable it is given.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .knowledge import HEADERS, MECHANISMS, VERBS, Param, Verb, params_for
from .protocol import ADDRESS
from .session import Phase, SessionState

if TYPE_CHECKING:
    from prompt_toolkit.completion import Completer
    from prompt_toolkit.history import History

    from .commands import HelperInfo

__all__ = ["Suggestion", "addresses_in", "make_completer", "suggest"]

_ENVELOPE = re.compile(r"^(MAIL\s+FROM|RCPT\s+TO):<([^>]*)>\s+", re.IGNORECASE)
_OPEN_ADDRESS = re.compile(r"^(MAIL\s+FROM|RCPT\s+TO):<([^>\s]*)$", re.IGNORECASE)
_SWITCHES = {"safe": ("on", "off"), "explain": ("on", "off"), "cert": ("pem", "save")}


@dataclass(frozen=True)
class Suggestion:
    text: str  # replaces the `start` characters before the cursor
    start: int  # zero or negative, as prompt_toolkit wants it
    meta: str  # what it means: the shell teaches
    display: str | None = None


Files = Callable[[str], Iterable[str]]


def suggest(text: str, state: SessionState, helpers: Mapping[str, HelperInfo],
            addresses: Sequence[str] = (), files: Files | None = None) -> list[Suggestion]:
    """Everything that may come next at the end of `text`, best first."""
    if state.phase is Phase.DATA and state.connected:
        return _headers(text)
    if text.startswith(":") and not text.startswith("::"):
        return _helper(text, state, helpers, addresses, files)
    word = _last_word(text)
    if " " not in text and ":" not in text:
        return _verbs(word, state) + _helper_names(word, helpers)
    return _arguments(text, word, state, addresses)


# -- raw SMTP ------------------------------------------------------------------


def _verbs(word: str, state: SessionState) -> list[Suggestion]:
    caps = state.capabilities
    offered, other = [], []
    for verb in VERBS.values():
        if not verb.name.startswith(word.upper()):
            continue
        if verb.name == "STARTTLS" and state.tls is not None:
            continue  # never a second STARTTLS
        if verb.name == "AUTH" and (caps is None or "AUTH" not in caps or state.auth_user):
            continue  # AUTH only once EHLO has offered it, and only once
        advertised = verb.extension is None or (caps is not None and verb.extension in caps)
        if advertised:
            offered.append(_verb_suggestion(verb, word, ""))
        else:
            other.append(_verb_suggestion(verb, word, "not advertised — "))
    return offered + other


def _verb_suggestion(verb: Verb, word: str, prefix: str) -> Suggestion:
    return Suggestion(_cased(verb.completion, word), -len(word), prefix + verb.meaning,
                      display=verb.name)


def _arguments(text: str, word: str, state: SessionState, addresses: Sequence[str]
               ) -> list[Suggestion]:
    typed_verb = text.split(" ", 1)[0].split(":", 1)[0]
    verb = typed_verb.upper()
    case = word or typed_verb  # after a space, answer in the case of the verb
    caps = state.capabilities
    if verb == "AUTH" and text.count(" ") == 1 and caps is not None:
        return [Suggestion(_cased(m, case), -len(word), MECHANISMS.get(m, "a SASL mechanism"))
                for m in caps.auth_mechanisms if m.startswith(word.upper())]
    if verb in ("MAIL", "RCPT") and text.count(" ") == 1 and ":" not in text:
        insert = "FROM:<" if verb == "MAIL" else "TO:<"
        if insert.startswith(word.upper()):
            return [Suggestion(_cased(insert, case), -len(word), VERBS[verb].syntax)]
    opened = _OPEN_ADDRESS.match(text)
    if opened:
        return _addresses(opened.group(2), addresses)
    envelope = _ENVELOPE.match(text)
    if envelope and caps is not None:
        command = "MAIL" if envelope.group(1).upper().startswith("MAIL") else "RCPT"
        return _params(command, text[envelope.end():], word, caps, case)
    if verb == "HELP" and text.count(" ") == 1:
        return [Suggestion(_cased(v, case), -len(word), VERBS[v].meaning)
                for v in VERBS if v.startswith(word.upper())]
    return []


def _params(command: str, typed: str, word: str, caps: Any, case: str = "") -> list[Suggestion]:
    before = typed[:len(typed) - len(word)]  # the parameters already written
    present = {w.split("=", 1)[0].upper() for w in before.split()}
    key, eq, value = word.partition("=")
    found: list[Suggestion] = []
    seen: set[str] = set()
    for param, ext in params_for(command, caps):
        if param.name in present or param.name in seen:
            continue
        if eq and param.name == key.upper():
            seen.add(param.name)  # the values of every extension that defines it, once
            found += _values(param, key, value, caps)
        elif not eq and param.name.startswith(key.upper()):
            seen.add(param.name)
            insert = param.name + ("" if param.shape == "none" else "=")
            found.append(Suggestion(_cased(insert, word or case), -len(word),
                                    f"{param.meaning} ({ext.keyword}, {ext.rfc})"))
    return found


def _values(param: Param, key: str, value: str, caps: Any) -> list[Suggestion]:
    allowed = [v for p, _ in params_for(param.command, caps) if p.name == param.name
               for v in p.values]
    if param.shape == "list":  # NOTIFY=SUCCESS,FAILURE: complete the last item
        done, _, value = value.rpartition(",")
        head = f"{key}={done}," if done else f"{key}="
    else:
        head = f"{key}="
    return [Suggestion(head + _cased(v, value or key), -len(head) - len(value),
                       param.meaning, display=v)
            for v in allowed if v.startswith(value.upper())]


def _addresses(typed: str, addresses: Sequence[str]) -> list[Suggestion]:
    return [Suggestion(a + ">", -len(typed), "used before")
            for a in dict.fromkeys(addresses) if a.lower().startswith(typed.lower())]


# -- helpers -------------------------------------------------------------------


def _helper_names(word: str, helpers: Mapping[str, HelperInfo]) -> list[Suggestion]:
    name = word.lstrip(":").lower()
    if word and not word.startswith(":"):
        return []
    return [Suggestion(f":{info.name}" + (" " if " " in info.syntax else ""), -len(word),
                       info.summary, display=info.syntax.split(" ")[0])
            for info in sorted(helpers.values(), key=lambda i: i.name)
            if info.name.startswith(name)]


def _helper(text: str, state: SessionState, helpers: Mapping[str, HelperInfo],
            addresses: Sequence[str], files: Files | None) -> list[Suggestion]:
    name, sep, rest = text[1:].partition(" ")
    if not sep:
        return _helper_names(text, helpers)
    info = helpers.get(name.lower())
    if info is None:
        return []
    word = _last_word(rest)
    if word.startswith("-"):
        return [Suggestion(o.split("=")[0], -len(word), f"option of :{info.name}")
                for o in info.options if o.startswith(word)]
    if name == "help" and " " not in rest:
        verbs = [Suggestion(_cased(v.name, word), -len(word), v.meaning)
                 for v in VERBS.values() if v.name.startswith(word.upper())]
        names = [Suggestion(i.name, -len(word), i.summary)
                 for i in sorted(helpers.values(), key=lambda i: i.name)
                 if i.name.startswith(word.lstrip(":").lower())]
        return verbs + names
    if name in _SWITCHES and " " not in rest:
        return [Suggestion(v, -len(word), f":{name} {v}") for v in _SWITCHES[name]
                if v.startswith(word.lower())]
    if name in ("mail", "rcpt"):
        if "=" in word or (name == "mail" and " " in rest):
            caps = state.capabilities
            return _params(name.upper(), rest, word, caps) if caps is not None else []
        return _addresses(word.lstrip("<"), addresses)
    if info.takes_files and files is not None:
        return [Suggestion(path, -len(word), "directory" if path.endswith("/") else "file")
                for path in files(word)]
    return []


# -- DATA mode -----------------------------------------------------------------


def _headers(text: str) -> list[Suggestion]:
    if ":" in text or " " in text:
        return []
    return [Suggestion(name + ": ", -len(text), meaning)
            for name, meaning in HEADERS.items() if name.lower().startswith(text.lower())]


# -- small pieces ------------------------------------------------------------------


def _last_word(text: str) -> str:
    return text.rsplit(" ", 1)[-1] if text else ""


def _cased(text: str, typed: str) -> str:
    """Answer in the user's case: 'ma' -> 'mail from:<', 'MA' or '' -> 'MAIL FROM:<'."""
    letters = [c for c in typed if c.isalpha()]
    return text.lower() if letters and all(c.islower() for c in letters) else text


def addresses_in(lines: Iterable[str]) -> list[str]:
    """Addresses seen in <brackets> in these lines, newest first, each once."""
    found: dict[str, None] = {}
    for line in lines:
        for address in ADDRESS.findall(line):
            found.setdefault(address)
    return list(found)


def list_files(word: str) -> list[str]:
    """Paths that begin with `word` (~ expanded), directories with a slash."""
    folder, _, stem = os.path.expanduser(word).rpartition("/")
    base = folder + "/" if folder or word.startswith("/") else ""
    try:
        names = sorted(os.listdir(folder or "."))
    except OSError:
        return []
    shown = word.rpartition("/")[0] + "/" if "/" in word else ""
    return [shown + name + ("/" if os.path.isdir(base + name) else "")
            for name in names if name.startswith(stem) and not name.startswith(".")][:200]


def make_completer(state: SessionState, helpers: Mapping[str, HelperInfo],
                   history: History) -> Completer:
    """The prompt_toolkit Completer: suggestions become Completions with display_meta."""
    from prompt_toolkit.completion import CompleteEvent, Completer, Completion
    from prompt_toolkit.document import Document

    class SmtpCompleter(Completer):
        def __init__(self) -> None:
            self._seen: tuple[int, list[str]] = (-1, [])

        def _addresses(self) -> list[str]:
            strings = history.get_strings()
            if self._seen[0] != len(strings):
                self._seen = (len(strings), addresses_in(reversed(strings)))
            return list(reversed(state.addresses)) + self._seen[1]

        def get_completions(self, document: Document, complete_event: CompleteEvent
                            ) -> Iterable[Completion]:
            for s in suggest(document.text_before_cursor, state, helpers, self._addresses(),
                             list_files):
                yield Completion(s.text, start_position=s.start, display=s.display,
                                 display_meta=s.meta)

    return SmtpCompleter()

