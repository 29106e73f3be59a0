"""The helper set every session gets, and `make_engine` to build an Engine with it.

Owns: the list of helper groups (each a class taking the Engine). The front
ends and the tests build engines here, so all of them see the same helpers.
Must not: define helpers itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .auth import AuthHelpers
from .commands import UI, Engine, HelperInfo, helper_infos
from .config import Settings
from .control import SessionHelpers
from .flow import FlowHelpers
from .inbox import Inbox, InboxHelpers
from .info import InfoHelpers
from .message import MessageHelpers
from .session import SessionState
from .traffic import Listener
from .tutorial import Tutorial

__all__ = ["BUILTIN", "builtin_helpers", "make_engine"]

BUILTIN: tuple[Callable[[Engine], object], ...] = (
    SessionHelpers, AuthHelpers, MessageHelpers, InfoHelpers, FlowHelpers)


def make_engine(settings: Settings, state: SessionState, ui: UI, *, script: bool = False,
                inbox: Inbox | None = None, listeners: Sequence[Listener] = (),
                screen: Listener | None = None) -> Engine:
    """An Engine with every helper of this mode; `inbox` (the practice server's) brings
    the --demo helpers (:inbox, :tutorial). Those of other modes are known too, to say
    where they are."""
    groups: list[Callable[[Engine], object]] = [*BUILTIN]
    if inbox is not None:
        groups += [lambda engine: InboxHelpers(engine, inbox), Tutorial.attach]
    elsewhere = {} if inbox is not None else {
        name: (info, InboxHelpers.MODE) for group in (InboxHelpers, Tutorial)
        for name, (info, _) in helper_infos(group).items()}
    return Engine(settings, state, ui, script=script, extra_listeners=listeners,
                  helper_groups=groups, elsewhere=elsewhere, screen=screen)


def builtin_helpers() -> dict[str, HelperInfo]:
    """Every built-in helper's contract, without an Engine (completion tests, benchmarks)."""
    return {name: info for group in BUILTIN if isinstance(group, type)
            for name, (info, _) in helper_infos(group).items()}
