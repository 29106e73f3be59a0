"""A fast SMTP sink for the harness: STARTTLS and implicit TLS, AUTH, swallows messages.

    python sink.py CA_FILE     # run with an interpreter that has smtpshell installed

Prints one JSON line, {"port": P, "tls_port": T}, writes the CA that signed its
certificate to CA_FILE, then serves until killed; each message accepted prints
`received BYTES`. Unlike the practice server it keeps nothing, has no size limit
and reads message text in large blocks, so a 200 MB message measures the client,
not the server. Any AUTH succeeds (235); every other command gets a 250.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from smtpshell.tls import make_practice_certs

BLOCK = 1 << 18
END = b"\r\n.\r\n"


class Connection:
    """One client: a buffered line reader that leaves pipelined bytes where they are."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 tls: bool) -> None:
        self.reader, self.writer, self.tls = reader, writer, tls
        self.buffer = bytearray()

    async def fill(self) -> bool:
        chunk = await self.reader.read(BLOCK)
        self.buffer += chunk
        return bool(chunk)

    async def line(self) -> bytes | None:
        while (end := self.buffer.find(b"\n")) < 0:
            if not await self.fill():
                return None
        line = bytes(self.buffer[:end + 1])
        del self.buffer[:end + 1]
        return line

    async def message(self) -> int | None:
        """Consume message text up to the final CRLF.CRLF; its size, or None if cut."""
        self.buffer[:0] = b"\r\n"  # the CRLF that ended the DATA line: a first '.' ends too
        size, scanned = 0, 0
        while (end := self.buffer.find(END, scanned)) < 0:
            keep = len(self.buffer) - len(END) + 1
            if keep > 0:
                size += keep
                del self.buffer[:keep]
            if not await self.fill():
                return None
            scanned = 0
        del self.buffer[:end + len(END)]
        return size + end

    async def send(self, text: str) -> None:
        self.writer.write(text.encode())
        await self.writer.drain()


def ehlo_reply(tls: bool) -> str:
    lines = ["sink.bench", "PIPELINING", "SIZE 4000000000", "8BITMIME",
             "ENHANCEDSTATUSCODES", "AUTH PLAIN LOGIN" if tls else "STARTTLS", "HELP"]
    return "".join(f"250{'-' if n < len(lines) - 1 else ' '}{line}\r\n"
                   for n, line in enumerate(lines))


async def serve(conn: Connection, context: ssl.SSLContext) -> None:
    await conn.send("220 sink.bench ESMTP\r\n")
    while (line := await conn.line()) is not None:
        verb = line.split(None, 1)[0].upper() if line.strip() else b""
        if verb == b"EHLO":
            await conn.send(ehlo_reply(conn.tls))
        elif verb == b"STARTTLS" and not conn.tls:
            await conn.send("220 2.0.0 Ready to start TLS\r\n")
            await conn.writer.start_tls(context)
            conn.tls = True
        elif verb == b"AUTH":
            if len(line.split()) < 3:  # no initial response: ask for it
                await conn.send("334 \r\n")
                await conn.line()
            await conn.send("235 2.7.0 Authentication successful\r\n")
        elif verb == b"DATA":
            await conn.send("354 End data with <CR><LF>.<CR><LF>\r\n")
            size = await conn.message()
            if size is None:
                break
            print(f"received {size}", flush=True)
            await conn.send("250 2.0.0 swallowed\r\n")
        elif verb == b"QUIT":
            await conn.send("221 2.0.0 Bye\r\n")
            break
        else:
            await conn.send("250 2.0.0 OK\r\n")


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def handler(context: ssl.SSLContext, tls: bool) -> Handler:
    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await serve(Connection(reader, writer, tls), context)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
    return session


async def main(ca_file: Path) -> None:
    certs = make_practice_certs()
    ca_file.write_text(certs.ca_pem)
    context = certs.server_context()
    plain = await asyncio.start_server(handler(context, False), "127.0.0.1", 0)
    implicit = await asyncio.start_server(handler(context, True), "127.0.0.1", 0, ssl=context)
    ports = {"port": plain.sockets[0].getsockname()[1],
             "tls_port": implicit.sockets[0].getsockname()[1]}
    print(json.dumps(ports), flush=True)
    await asyncio.gather(plain.serve_forever(), implicit.serve_forever())


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
