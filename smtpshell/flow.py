"""Helpers that shape the flow of a session: :pipeline, :raw, :sleep, :transcript.

Owns: RFC 2920 grouping for :pipeline (only where PIPELINING is advertised),
bytes with escapes for :raw (only with the safe mode off), pauses for scripts,
and starting or stopping a transcript.
Must not: pipeline anything the user did not ask to pipeline.
"""

from __future__ import annotations

import asyncio
import re

from . import safety
from .commands import Args, Engine, helper
from .errors import UsageError
from .escapes import unescape
from .knowledge import NOT_PIPELINED, PIPELINE_LAST
from .protocol import Command
from .redact import is_secret
from .transcript import FORMATS

__all__ = ["FlowHelpers"]

_SEPARATOR = re.compile(r";(?:\s+|$)")  # "a; b" splits, ORCPT=rfc822;a@b does not
_REPLIES = re.compile(r"--replies[= ](\d+)\s+")
MAX_SLEEP = 3600.0


class FlowHelpers:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @helper(":pipeline LINE; LINE; …", "send several commands at once, then read the "
            "replies (PIPELINING, RFC 2920)", min_args=1, max_args=None, needs_connection=True)
    async def pipeline(self, args: Args) -> None:
        engine = self.engine
        if not await engine.allowed(safety.helper_needs(
                ":pipeline", "PIPELINING", engine.state, "would send commands it may drop",
                "send them one by one")):
            return
        lines = [line.strip() for line in _SEPARATOR.split(args.raw) if line.strip()]
        _check_group(lines)
        for line in lines:
            if not await engine.allowed(safety.check_command(line, engine.state, order=False)):
                return
        await engine.request_all([Command(line) for line in lines])

    @helper(":raw [--replies N] TEXT", "bytes exactly as written, \\r \\n \\t \\0 \\xNN "
            "escapes, no CRLF added (safe mode off only); it waits for one reply per line "
            "ending, or N (message text earns none: --replies 1 for a body and its end)",
            options=("--replies=",), min_args=1, max_args=None, needs_connection=True)
    async def raw(self, args: Args) -> None:
        engine = self.engine
        if not await engine.allowed(safety.raw_bytes(engine.state)):
            return
        given = _REPLIES.match(args.raw)
        data = unescape(args.raw[given.end():] if given else args.raw)
        replies = int(given.group(1)) if given else data.count(b"\n")
        state = engine.state
        secret = is_secret(data.decode("utf-8", "replace"), state.auth_dialog, state.secrets)
        pending = engine.connection().send_raw(data, replies, secret)
        await engine.await_replies(pending, ["raw"] * replies)

    @helper(":sleep SECONDS", "wait (for scripts: a server's greeting delay, a rate limit)",
            min_args=1, max_args=1)
    async def sleep(self, args: Args) -> None:
        try:
            seconds = float(args.positional[0])
        except ValueError:
            raise UsageError(f"{args.positional[0]!r} is not a number of seconds") from None
        if not 0 <= seconds <= MAX_SLEEP:
            raise UsageError(f":sleep takes 0 to {MAX_SLEEP:g} seconds")
        await asyncio.sleep(seconds)

    @helper(":transcript FILE|off|mermaid [OUT]|html [OUT]", "append the session to FILE "
            "(C:/S: lines, timestamps, secrets masked); off stops; mermaid or html: the "
            "transcript so far as a sequence diagram or a web page, on screen or into OUT",
            min_args=1, max_args=2, takes_files=True)
    async def transcript(self, args: Args) -> None:
        engine, (target, *out) = self.engine, args.positional
        if target.lower() in FORMATS:
            self._render(target.lower(), out[0] if out else None)
        elif out:
            raise UsageError(":transcript takes one FILE", "or mermaid|html [OUT]")
        elif target.lower() == "off":
            running = engine.transcript is not None
            engine.stop_transcript()
            engine.note("transcript stopped" if running else "no transcript was running")
        else:
            engine.start_transcript(target)
            engine.note(f"writing the transcript to {target} (mode 0600)")

    def _render(self, fmt: str, out: str | None) -> None:
        transcript = self.engine.transcript
        if transcript is None:
            raise UsageError("no transcript is being written", ":transcript FILE starts one")
        from .sessionview import render_file  # Pygments for html: only when asked

        text = render_file(transcript.path, fmt)
        if out is None:
            self.engine.note(text.rstrip("\n"))
            return
        try:
            with open(out, "w", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as err:
            raise UsageError(f"cannot write {out}: {err.strerror}") from None
        self.engine.note(f"wrote the session as {fmt} to {out}")


def _check_group(lines: list[str]) -> None:
    """RFC 2920 §3.1: only the last command of a group may be one whose reply
    decides what comes next; some commands are never pipelined at all."""
    for index, line in enumerate(lines):
        verb = line.split(" ", 1)[0].upper()
        if verb in NOT_PIPELINED:
            raise UsageError(f"{verb} is never pipelined here", f"send {verb} on its own")
        if verb in PIPELINE_LAST and index != len(lines) - 1:
            raise UsageError(f"{verb} may only be the last command of a pipelined group "
                             "(RFC 2920 §3.1)", "end the group there and send the rest after")
