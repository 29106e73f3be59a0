"""A minimal SMTP sink for benchmarks: implicit TLS, accepts anything, keeps nothing.

Run as `python bench/sink.py [CA_FILE]` — it prints its port (and writes the CA
that signed its certificate to CA_FILE) and serves until killed.
Its own memory is not what a benchmark measures, so it runs in its own process.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from smtpshell.tls import make_practice_certs


async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"220 sink.bench ESMTP\r\n")
    while line := await reader.readline():
        verb = line[:4].upper()
        if verb == b"EHLO":
            writer.write(b"250-sink.bench\r\n250-PIPELINING\r\n250-SIZE 0\r\n250 8BITMIME\r\n")
        elif verb == b"DATA":
            writer.write(b"354 go ahead\r\n")
            await writer.drain()
            while (line := await reader.readline()) not in (b".\r\n", b""):
                pass
            writer.write(b"250 2.0.0 swallowed\r\n")
        elif verb == b"QUIT":
            writer.write(b"221 2.0.0 bye\r\n")
            await writer.drain()
            break
        else:
            writer.write(b"250 2.0.0 ok\r\n")
        await writer.drain()
    writer.close()


async def main() -> None:
    certs = make_practice_certs()
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(certs.ca_pem)
    ctx = certs.server_context()
    server = await asyncio.start_server(session, "127.0.0.1", 0, ssl=ctx, limit=1 << 20)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
