"""The figures: one row per task, server and tool; the machine line; the Markdown table."""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import shutil
import statistics
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .install import Target


@dataclass
class Row:
    task: str
    server: str
    tool: str
    seconds: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)  # to the reference, run by run
    reference: bool = False  # the tool the others are divided by
    failed: str = ""  # why the tool stopped, if it did
    runs: str = ""  # shown instead of the count of samples (T4p: "1×10")
    unit: str = "s"  # "ms" for T5
    spread: str = ""  # shown instead of min–max (T5)
    totals: list[float] = field(default_factory=list)  # T4p: the batches' totals


def _duration(seconds: float, unit: str) -> str:
    if unit == "ms":
        return f"{seconds:.2f} ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.2f} s"


def cells(row: Row) -> list[str]:
    values = row.totals or row.seconds
    runs = row.runs or str(len(row.seconds))
    if not values:
        return [row.task, row.server, row.tool, runs, "failed" if row.failed else "—",
                "", "", ""]
    median = _duration(statistics.median(values), row.unit)
    spread = row.spread or (f"{_duration(min(values), row.unit)} – "
                            f"{_duration(max(values), row.unit)}" if len(values) > 1 else "")
    ratio = "1" if row.reference else (f"{statistics.median(row.ratios):.2f}×"
                                       if row.ratios else "—")
    rss = f"{statistics.median(row.rss_mb):.0f} MB" if row.rss_mb else "—"
    if row.failed:
        median += " (then failed)"
    return [row.task, row.server, row.tool, runs, median, spread, ratio, rss]


HEADER = ["task", "server", "tool", "runs", "median", "spread (min – max)",
          "× ref (paired median)", "peak RSS (median)"]


def table(rows: list[Row]) -> str:
    lines = [HEADER, ["---"] * 3 + ["---:"] * 5, *(cells(row) for row in rows)]
    return "\n".join("| " + " | ".join(cell.replace("|", "\\|") for cell in line) + " |"
                     for line in lines)


def _cpu() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown CPU"
    found = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    return found[1].strip() if found else "unknown CPU"


def _output(argv: list[str]) -> str:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return "?"
    return (result.stdout or result.stderr).strip().splitlines()[0] if \
        (result.stdout or result.stderr).strip() else "?"


def machine_line(target: Target) -> str:
    python = _output([str(target.python), "-c", "import platform, ssl; "
                      "print(platform.python_version(), 'with', ssl.OPENSSL_VERSION)"])
    parts = [f"{_cpu()}, {os.cpu_count()} cores", f"Linux {platform.release()}",
             f"Python {python}"]
    if shutil.which("openssl"):
        parts.append(f"openssl CLI {' '.join(_output(['openssl', 'version']).split()[1:2])}")
    if shutil.which("swaks"):
        parts.append(_output(["swaks", "--version"]))
    parts.append(f"load {' '.join(f'{n:.2f}' for n in os.getloadavg())}")
    parts.append(dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))
    parts.append(f"{_output([str(target.smtpshell), '--version'])}, {target.origin}")
    return "Machine: " + " · ".join(parts)


LEGEND = """\
Times are wall clock, spawn to exit, medians of the runs. × ref: the tool's time divided
by the reference's (smtplib; bare `python -c pass` for --version and --help) in the same
run, the tools taking turns in rotating order; the median of those ratios. Peak RSS:
`/usr/bin/time -v`'s maximum resident set size."""


def markdown(machine: str, rows: list[Row], notes: list[str]) -> str:
    body = [machine, "", table(rows), "", LEGEND]
    if notes:
        body += ["", "Notes:", "", *(f"- {note}" for note in notes)]
    return "\n".join(body) + "\n"
