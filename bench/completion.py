"""Completion latency over a large EHLO reply and a long history.

    python bench/completion.py

Builds a session whose EHLO advertised every registered extension plus 300
vendor ones, 60 AUTH mechanisms, and a history of 20,000 lines holding
5,000 addresses, then times the prompt_toolkit completer (what runs on each
keystroke) in the contexts users meet. Goal: well under 50 ms. None of the
tools smtpshell replaces completes at all, so there is no peer to print.
"""

from __future__ import annotations

import statistics
import time

from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.history import InMemoryHistory

from smtpshell.completer import make_completer
from smtpshell.helpers import builtin_helpers
from smtpshell.knowledge import EXTENSIONS
from smtpshell.machine import ClientMachine, Stage
from smtpshell.protocol import Capabilities, Reply
from smtpshell.session import SessionState

CONTEXTS = ["", "M", "AUTH ", "MAIL FROM:<", "MAIL FROM:<a@b.example> ",
            "MAIL FROM:<a@b.example> BODY=", "RCPT TO:<user1", "RCPT TO:<c@d.example> NOTIFY=S",
            ":a", ":send --", "HELP "]


def large_state() -> SessionState:
    lines = ["250-big.example"]
    lines += [f"250-{keyword}" for keyword in EXTENSIONS if keyword != "AUTH"]
    lines += [f"250-X-VENDOR-{n} some parameters here" for n in range(300)]
    lines.append("250 AUTH " + " ".join(f"MECH-{n}" for n in range(60)) + " PLAIN LOGIN")
    caps = Capabilities.from_ehlo(Reply(250, tuple(lines)))
    state = SessionState(machine=ClientMachine(stage=Stage.READY, capabilities=caps))
    state.observe_connected("big.example", 25, None)
    state.addresses = [f"session{n}@example.com" for n in range(200)]
    return state


def main() -> None:
    history = InMemoryHistory()
    for n in range(20_000):
        history.append_string(f"RCPT TO:<user{n % 5000}@example.org>" if n % 4 == 0
                              else f"NOOP {n}")
    completer = make_completer(large_state(), builtin_helpers(), history)
    event = CompleteEvent(completion_requested=True)
    print(f"{'context':<34} {'results':>7} {'median ms':>10} {'max ms':>8}")
    for text in CONTEXTS:
        times, count = [], 0
        for _ in range(50):
            start = time.perf_counter()
            count = len(list(completer.get_completions(Document(text), event)))
            times.append((time.perf_counter() - start) * 1000)
        print(f"{text!r:<34} {count:>7} {statistics.median(times):>10.2f} {max(times):>8.2f}")


if __name__ == "__main__":
    main()
