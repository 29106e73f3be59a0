"""Start-up and a one-line session, side by side: connect, EHLO, QUIT.

    python bench/startup.py [--runs 20]

Each peer starts as a fresh process against a sink on loopback (implicit TLS,
bench/sink.py) and sends EHLO and QUIT; the median and best wall time of
`--runs` runs are printed. smtpshell runs in script mode, which imports
neither prompt_toolkit nor cryptography; with --insecure it checks the
certificate anyway, which imports cryptography, so it is timed both ways.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SMTPLIB = """
import smtplib, ssl, sys
ctx = ssl._create_unverified_context()
with smtplib.SMTP_SSL("127.0.0.1", int(sys.argv[1]), context=ctx) as smtp:
    smtp.ehlo("bench.example")
"""


def timed(command: list[str], stdin: bytes, runs: int) -> tuple[float, float] | str:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = subprocess.run(command, input=stdin, capture_output=True, timeout=60)
        times.append(time.perf_counter() - start)
        if result.returncode != 0:
            return f"failed ({result.returncode})"
    return statistics.median(times), min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as folder:
        ca = Path(folder) / "ca.pem"
        sink = subprocess.Popen([sys.executable, str(HERE / "sink.py"), str(ca)],
                                stdout=subprocess.PIPE)
        try:
            assert sink.stdout is not None
            port = str(int(sink.stdout.readline()))
            script = b"EHLO bench.example\nQUIT\n"
            shell = [sys.executable, "-m", "smtpshell", f"127.0.0.1:{port}", "--tls"]
            peers = {
                "smtpshell (script)": ([*shell, "--cafile", str(ca)], script),
                "smtpshell --insecure": ([*shell, "--insecure"], script),
                "python -c smtplib": ([sys.executable, "-c", SMTPLIB, port], b""),
                "python -c pass": ([sys.executable, "-c", "pass"], b""),
            }
            if shutil.which("openssl"):
                peers["openssl s_client"] = (["openssl", "s_client", "-quiet", "-connect",
                                              f"127.0.0.1:{port}"],
                                             b"EHLO bench.example\r\nQUIT\r\n")
            if shutil.which("swaks"):
                peers["swaks --quit-after EHLO"] = (
                    ["swaks", "--server", "127.0.0.1", "--port", port, "--tls-on-connect",
                     "--quit-after", "EHLO"], b"")
            print(f"{'peer':<26} {'median s':>9} {'best s':>8}")
            for name, (command, stdin) in peers.items():
                result = timed(command, stdin, runs)
                line = result if isinstance(result, str) else \
                    f"{result[0]:>9.3f} {result[1]:>8.3f}"
                print(f"{name:<26} {line}")
        finally:
            sink.kill()


if __name__ == "__main__":
    main()
