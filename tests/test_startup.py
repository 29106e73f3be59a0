"""Start-up cost: script mode loads neither prompt_toolkit nor cryptography."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from support import LOOPBACK, STEP, practice, run

PROBE = """
import sys
from smtpshell.cli import main
code = main(sys.argv[1:])
heavy = sorted({m.split('.')[0] for m in sys.modules} & {'prompt_toolkit', 'cryptography',
                                                          'aiosmtpd', 'pygments'})
print('HEAVY', heavy)
sys.exit(code)
"""


def test_script_mode_stays_light(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with practice() as server:
            ca = tmp_path / "ca.pem"
            ca.write_text(server.ca_pem)
            for extra in ([], ["--starttls", "--cafile", str(ca)]):
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-c", PROBE, f"{LOOPBACK}:{server.port}", *extra,
                    stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
                async with asyncio.timeout(STEP):
                    out, _ = await proc.communicate(b"EHLO light.example\n")
                assert proc.returncode == 0
                assert "HEAVY []" in out.decode(), out.decode()

    run(scenario())
