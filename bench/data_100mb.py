"""Send a large message and compare wall time and peak memory, side by side.

    python bench/data_100mb.py [--sizes 25,50,100]

For each size, a message file of that many MB is sent over implicit TLS to a
sink (bench/sink.py, its own process) by: smtpshell (`:data FILE`), smtplib,
openssl s_client and swaks, each in a fresh process measured by
`/usr/bin/time` (wall seconds, peak RSS). A peer that is not installed is
skipped. smtpshell streams, so its peak memory should not grow with the size.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
LINE = b"The quick brown fox jumps over the lazy dog, 0123456789 times over.\r\n"
HEAD = b"EHLO bench.example\r\nMAIL FROM:<a@bench.example>\r\nRCPT TO:<b@bench.example>\r\nDATA\r\n"

SMTPLIB = """
import smtplib, ssl, sys
ctx = ssl._create_unverified_context()
with open(sys.argv[2], "rb") as f:
    body = f.read()
with smtplib.SMTP_SSL("127.0.0.1", int(sys.argv[1]), context=ctx) as smtp:
    smtp.sendmail("a@bench.example", ["b@bench.example"], body)
"""


def make_message(path: Path, megabytes: int) -> None:
    with path.open("wb") as handle:
        handle.write(b"Subject: benchmark\r\n\r\n")
        block = LINE * 1000
        for _ in range(megabytes * 1_000_000 // len(block)):
            handle.write(block)


def measure(command: list[str], stdin: Path | None = None) -> tuple[float, float] | str:
    """(seconds, peak MB) of one run, or why it failed."""
    with open(stdin or os.devnull, "rb") as source:
        result = subprocess.run(["/usr/bin/time", "-f", "TIME %e %M", *command], stdin=source,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=600)
    tail = result.stderr.decode(errors="replace").strip().splitlines()
    if result.returncode != 0 or not tail or not tail[-1].startswith("TIME "):
        return f"failed ({result.returncode}): {tail[-1] if tail else ''}"
    _, seconds, kilobytes = tail[-1].split()
    return float(seconds), int(kilobytes) / 1024


def peers(port: int, message: Path, work: Path) -> dict[str, tuple[list[str], Path | None]]:
    script = work / "send.smtp"
    script.write_text(f"EHLO bench.example\nMAIL FROM:<a@bench.example>\n"
                      f"RCPT TO:<b@bench.example>\n:data {message}\nQUIT\n")
    s_client_input = work / "s_client.txt"
    if not s_client_input.exists() or s_client_input.stat().st_mtime < message.stat().st_mtime:
        with s_client_input.open("wb") as out, message.open("rb") as body:
            out.write(HEAD)
            shutil.copyfileobj(body, out)  # no line starts with '.': nothing to stuff
            out.write(b".\r\nQUIT\r\n")
    found: dict[str, tuple[list[str], Path | None]] = {
        "smtpshell": ([sys.executable, "-m", "smtpshell", f"127.0.0.1:{port}", "--tls",
                       "--insecure", "--script", str(script)], None),
        "smtplib": ([sys.executable, "-c", SMTPLIB, str(port), str(message)], None),
    }
    if shutil.which("openssl"):
        found["openssl s_client"] = (["openssl", "s_client", "-quiet", "-connect",
                                      f"127.0.0.1:{port}"], s_client_input)
    if shutil.which("swaks"):
        found["swaks"] = (["swaks", "--server", "127.0.0.1", "--port", str(port),
                           "--tls-on-connect", "--from", "a@bench.example",
                           "--to", "b@bench.example", "--data", f"@{message}",
                           "--suppress-data"], None)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="25,50,100", help="message sizes in MB")
    sizes = [int(s) for s in parser.parse_args().sizes.split(",")]
    sink = subprocess.Popen([sys.executable, str(HERE / "sink.py")], stdout=subprocess.PIPE)
    try:
        assert sink.stdout is not None
        port = int(sink.stdout.readline())
        with tempfile.TemporaryDirectory() as folder:
            work = Path(folder)
            print(f"{'peer':<18} {'size':>6} {'wall s':>8} {'peak MB':>8}")
            for size in sizes:
                message = work / f"message-{size}.eml"
                make_message(message, size)
                for name, (command, stdin) in peers(port, message, work).items():
                    result = measure(command, stdin)
                    if isinstance(result, str):
                        print(f"{name:<18} {size:>5}M {result}")
                    else:
                        print(f"{name:<18} {size:>5}M {result[0]:>8.2f} {result[1]:>8.1f}")
                message.unlink()
    finally:
        sink.kill()


if __name__ == "__main__":
    main()
