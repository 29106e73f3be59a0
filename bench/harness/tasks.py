"""The tasks, and how tools are timed in pairs.

Each task times every tool that can do it against one server, in rounds: in each
round every tool runs once, in an order that rotates from round to round, and
each tool's time is divided by the reference's (smtplib) of the same round. One
untimed round comes first. A tool that fails is dropped from the task with the
reason; a server that counts what it accepted must have accepted every message.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

from .flows import Flow, Mode, make_message
from .install import BENCH
from .measure import Command, Failed, Sample, run, run_in_pty
from .report import Row
from .servers import Server
from .tools import SMTPLIB, Kit, Skip, Tool

Measure = Callable[[], Sample]
TIMEOUT = 600.0  # one process, however large its message
PROMPT_TIMEOUT = 30.0


@dataclass(frozen=True)
class Plan:
    runs: int  # rounds per task
    big_runs: int  # rounds for the large messages (T3)
    sizes: tuple[int, ...]  # T3's message sizes, MB
    batch: int  # T4p: processes per batch
    batches: int
    mta_keys: frozenset[str]  # the tasks that also run against the real MTA
    warm_up: bool  # an untimed round before each task
    messages: int = 100  # T4: messages on one connection

    def scaled(self, runs: int | None) -> Plan:
        return self if runs is None else replace(self, runs=runs,
                                                 big_runs=min(runs, self.big_runs))


QUICK = Plan(runs=3, big_runs=2, sizes=(20,), batch=10, batches=1,
             mta_keys=frozenset({"T2"}), warm_up=False)
FULL = Plan(runs=10, big_runs=3, sizes=(20, 200), batch=100, batches=2,
            mta_keys=frozenset({"T1", "T2", "T4"}), warm_up=True)


@dataclass
class Bench:
    kit: Kit
    env: dict[str, str]
    plan: Plan
    servers: dict[str, Server]  # by role: practice, sink, mta:exim…
    tools: tuple[Tool, ...]  # the installed ones
    say: Callable[[str], None]
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


class Pairs:
    """Tools timed in turns against one server; the rows they fill."""

    def __init__(self, bench: Bench, task: str, server: str, measures: dict[str, Measure],
                 reference: str) -> None:
        self.bench, self.reference = bench, reference
        self.rows = {name: Row(task, server, name, reference=name == reference)
                     for name in measures}
        self.live = dict(measures)

    def _attempt(self, name: str) -> Sample | None:
        try:
            return self.live[name]()
        except Failed as why:
            row = self.rows[name]
            row.failed = str(why)
            self.bench.note(f"{row.task} ({row.server}), {name}: failed: {why}")
            del self.live[name]
            return None

    def warm_up(self) -> None:
        for name in list(self.live):
            self._attempt(name)

    def round(self, index: int) -> dict[str, float]:
        names = list(self.live)
        turn = index % len(names) if names else 0
        times: dict[str, float] = {}
        for name in names[turn:] + names[:turn]:
            sample = self._attempt(name)
            if sample is None:
                continue
            row = self.rows[name]
            row.seconds.append(sample.seconds)
            if sample.rss_mb is not None:
                row.rss_mb.append(sample.rss_mb)
            times[name] = sample.seconds
        if self.reference in times:
            for name, seconds in times.items():
                self.rows[name].ratios.append(seconds / times[self.reference])
        return times

    def finish(self) -> None:
        rows = list(self.rows.values())
        self.bench.rows += rows
        self.bench.say("  " + ", ".join(f"{row.tool} {_summary(row)}" for row in rows))


def _summary(row: Row) -> str:
    if not row.seconds:
        return "failed"
    values = sorted(row.seconds)
    return f"{values[len(values) // 2]:.3f} s"


def timed(bench: Bench, task: str, server: str, measures: dict[str, Measure], runs: int,
          reference: str = SMTPLIB.name) -> None:
    bench.say(f"{task} ({server}): {', '.join(measures)} × {runs}")
    pairs = Pairs(bench, task, server, measures, reference)
    if bench.plan.warm_up:
        pairs.warm_up()
    for index in range(runs):
        pairs.round(index)
    pairs.finish()


# -- what is measured ------------------------------------------------------------------

def _process(bench: Bench, command: Command) -> Measure:
    return partial(run, command, bench.env, bench.kit.work, TIMEOUT)


def _checked(server: Server, messages: int, measure: Measure) -> Measure:
    """The measure, failing unless the server accepted exactly `messages` meanwhile."""
    def checked() -> Sample:
        before = server.accepted()
        sample = measure()
        after = server.accepted()
        if before is not None and after is not None and after - before != messages:
            raise Failed(f"the server accepted {after - before} messages, not {messages} "
                         "(counted from the 'received' lines it prints)")
        return sample
    return checked


def session_measures(bench: Bench, task: str, flow: Flow, server: Server
                     ) -> dict[str, Measure]:
    measures: dict[str, Measure] = {}
    for tool in bench.tools:
        try:
            command = tool.session(bench.kit, flow, server)
        except Skip as why:
            bench.note(f"{task}: {tool.name} skipped ({why})")
            continue
        measures[tool.name] = _checked(server, flow.messages, _process(bench, command))
    return measures


def prompt_measures(bench: Bench, task: str, mode: Mode, server: Server | None
                    ) -> dict[str, Measure]:
    env = {**bench.env, "TERM": "xterm-256color"}
    measures: dict[str, Measure] = {}
    for tool in bench.tools:
        try:
            prompt = tool.prompt(bench.kit, mode, server)
        except Skip as why:
            bench.note(f"{task}: {tool.name} skipped ({why})")
            continue
        measures[tool.name] = partial(run_in_pty, prompt.argv, env, prompt.ready,
                                      PROMPT_TIMEOUT)
    return measures


# -- the tasks ---------------------------------------------------------------------------

def startup(bench: Bench) -> None:
    """--version and --help, beside the interpreter starting and doing nothing."""
    target = bench.kit.target
    bare = "python -c pass"
    for flag in ("--version", "--help"):
        measures = {"smtpshell": _process(bench, Command((str(target.smtpshell), flag))),
                    bare: _process(bench, Command((str(target.python), "-c", "pass")))}
        timed(bench, flag, "—", measures, bench.plan.runs, reference=bare)


def prompts(bench: Bench) -> None:
    """T0: spawn to the prompt, the greeting shown, in a pty."""
    practice = bench.servers.get("practice")
    cases: list[tuple[str, Mode, Server | None]] = [("T0 prompt, --demo", "plain", None)]
    if practice:
        cases[:0] = [("T0 prompt, plain", "plain", practice),
                     ("T0 prompt, STARTTLS", "starttls", practice)]
    for task, mode, server in cases:
        measures = prompt_measures(bench, task, mode, server)
        timed(bench, task, server.name if server else "--demo's own", measures,
              bench.plan.runs)


@dataclass(frozen=True)
class SessionTask:
    key: str
    task: str
    role: str  # the server it runs against; also the real MTA if the plan says
    flow: Flow
    big: bool = False  # fewer runs


def session_tasks(plan: Plan, work: Path, keys: set[str]) -> Iterable[SessionTask]:
    if "T1" in keys:
        yield SessionTask("T1", "T1 EHLO, QUIT (plaintext)", "practice", Flow("plain"))
    if "T2" in keys:
        yield SessionTask("T2", "T2 STARTTLS, AUTH, 1 message", "practice",
                          Flow("starttls", auth=True, messages=1))
        yield SessionTask("T2", "T2 implicit TLS, AUTH, 1 message", "sink",
                          Flow("tls", auth=True, messages=1))
    if "T4" in keys:
        yield SessionTask("T4", f"T4 {plan.messages} messages, 1 connection", "practice",
                          Flow("starttls", auth=True, messages=plan.messages))
    if "T3" in keys:
        for size in plan.sizes:
            body = make_message(work / f"message-{size}mb.eml", size)
            yield SessionTask("T3", f"T3 {size} MB message (STARTTLS)", "sink",
                              Flow("starttls", auth=True, messages=1, body=body), big=True)


def sessions(bench: Bench, tasks: Iterable[SessionTask]) -> None:
    """T1–T4, T3: one session per process, against each server that runs."""
    for spec in tasks:
        mtas = [role for role in bench.servers if role.startswith("mta:")]
        roles = [spec.role, *mtas] if spec.key in bench.plan.mta_keys else [spec.role]
        for role in roles:
            server = bench.servers.get(role)
            if server is None:
                continue
            measures = session_measures(bench, spec.task, spec.flow, server)
            runs = bench.plan.big_runs if spec.big else bench.plan.runs
            timed(bench, spec.task, server.name, measures, runs)


def repeated(bench: Bench) -> None:
    """T4p: T2 as a loop of processes, one message each; the batches' total wall time."""
    server = bench.servers.get("practice")
    if server is None:
        return
    plan = bench.plan
    task = f"T4p T2 × {plan.batch} processes"
    measures = session_measures(bench, task, Flow("starttls", auth=True, messages=1), server)
    bench.say(f"{task} ({server.name}): {', '.join(measures)}, {plan.batches} batch(es)")
    pairs = Pairs(bench, task, server.name, measures, SMTPLIB.name)
    if plan.warm_up:
        pairs.warm_up()
    for _ in range(plan.batches):
        totals: dict[str, float] = dict.fromkeys(pairs.rows, 0.0)
        for index in range(plan.batch):
            for name, seconds in pairs.round(index).items():
                totals[name] += seconds
        for name in pairs.live:
            pairs.rows[name].totals.append(totals[name])
    for row in pairs.rows.values():
        row.runs = f"{plan.batches}×{plan.batch}"
    pairs.finish()


COMPLETION_LINE = re.compile(r"^('.*')\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s*$", re.M)


def completion(bench: Bench) -> None:
    """T5: bench/completion.py in the venv; its slowest context, and the worst keystroke."""
    task = "T5 completion latency"
    bench.say(f"{task}: bench/completion.py")
    row = Row(task, "—", "smtpshell", unit="ms")
    bench.rows.append(row)
    try:
        result = subprocess.run([str(bench.kit.target.python), str(BENCH / "completion.py")],
                                capture_output=True, text=True, env=bench.env, timeout=600)
    except subprocess.TimeoutExpired:
        row.failed = "bench/completion.py did not finish in 600 s"
        bench.note(f"{task}: failed: {row.failed}")
        return
    found = COMPLETION_LINE.findall(result.stdout)
    if result.returncode != 0 or not found:
        row.failed = (result.stderr.strip().splitlines() or ["no output"])[-1]
        bench.note(f"{task}: failed: {row.failed}")
        return
    slowest = max(found, key=lambda line: float(line[2]))
    row.seconds = [float(slowest[2])]
    row.runs = f"{len(found)}×50"
    row.spread = f"max {max(float(line[3]) for line in found):.1f} ms"
    bench.note(f"{task}: the median is the slowest of {len(found)} contexts, {slowest[0]} "
               f"({slowest[1]} completions); max is the worst single call in any context")
