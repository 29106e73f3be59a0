"""--mx DOMAIN and :connect --mx: MX lookup against a small DNS server on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any, cast

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
from support import LOOPBACK, STEP, RawPeer, RawServer, engine_for, practice, run, run_cli

from smtpshell.connection import Connection
from smtpshell.errors import ConnectionFailed, UsageError

Records = dict[str, dict[str, list[str]]]  # name -> type -> rdata texts

EXAMPLE: Records = {  # mx1 is preferred but only on ::1, where nothing listens
    "example.test": {"MX": ["10 mx2.example.test.", "5 mx1.example.test."]},
    "mx1.example.test": {"AAAA": ["::1"]},
    "mx2.example.test": {"A": [LOOPBACK]},
}


class _Dns(asyncio.DatagramProtocol):
    """Answers from `records`; NXDOMAIN for unknown names, NOERROR/empty for other types."""

    def __init__(self, records: Records, silent: bool) -> None:
        self.records = records
        self.silent = silent
        self.queries: list[tuple[str, str]] = []
        self.errors: list[Exception] = []
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        try:
            self._answer(data, addr)
        except Exception as err:  # the loop would only log it: the test checks .errors
            self.errors.append(err)

    def _answer(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        query = dns.message.from_wire(data)
        question = query.question[0]
        name = question.name.to_text().rstrip(".").lower()
        kind = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((name, kind))
        if self.silent:
            return
        response = dns.message.make_response(query)
        if name not in self.records:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif kind in self.records[name]:
            response.answer.append(dns.rrset.from_text(question.name, 300, "IN", kind,
                                                       *self.records[name][kind]))
        assert self.transport is not None
        self.transport.sendto(response.to_wire(), addr)


@contextlib.asynccontextmanager
async def dns_server(records: Records, silent: bool = False) -> AsyncIterator[_Dns]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: _Dns(records, silent), local_addr=(LOOPBACK, 0))
    protocol.port = transport.get_extra_info("sockname")[1]
    try:
        yield protocol
        assert not protocol.errors, protocol.errors
    finally:
        transport.close()


def test_mx_hosts_are_tried_in_preference_order_and_a_refusal_gives_way() -> None:
    async def scenario() -> None:
        async with practice() as server, dns_server(EXAMPLE) as ns:
            engine, ui = await engine_for(server, nameserver=(LOOPBACK, ns.port),
                                          connect=False)
            await engine.dialer.open_mx("example.test", server.port, "plain")
            assert engine.conn is not None and engine.conn.is_open
            assert engine.target is not None
            assert engine.target.server_name == "mx2.example.test"
            assert (engine.target.host, engine.target.port) == (LOOPBACK, server.port)
            text = ui.text.lower()
            first = text.index("mx 5 mx1.example.test (::1)")
            refused = text.index(f"mx1.example.test [::1]:{server.port} refused the connection")
            second = text.index(f"mx 10 mx2.example.test ({LOOPBACK})")
            assert first < refused < second
            assert ns.queries[0] == ("example.test", "MX")
            await engine.handle_line("EHLO mx.example")
            assert bytes(server.inbox.wire[0]) == b"EHLO mx.example\r\n"

    run(scenario())


def test_without_an_mx_record_the_domain_itself_is_the_mail_host() -> None:
    async def scenario() -> None:  # RFC 5321 §5.1
        async with practice() as server, dns_server({"plain.test": {"A": [LOOPBACK]}}) as ns:
            engine, ui = await engine_for(server, nameserver=(LOOPBACK, ns.port),
                                          connect=False)
            await engine.dialer.open_mx("plain.test", server.port, "plain")
            assert engine.conn is not None and engine.conn.is_open
            assert engine.target is not None and engine.target.server_name == "plain.test"
            assert f"MX 0 plain.test ({LOOPBACK})" in ui.text
            assert len(server.inbox.wire) == 1

    run(scenario())


@pytest.mark.parametrize(("records", "words"), [
    ({"nomail.test": {"MX": ["0 ."]}}, ["nomail.test accepts no mail", "null MX", "RFC 7505"]),
    ({}, ["the domain nomail.test does not exist", "NXDOMAIN"]),
    ({"nomail.test": {"MX": ["10 ghost.nomail.test."]}},
     ["no mail server of nomail.test could be reached"]),
])
def test_no_mail_host_means_connection_failed_and_nothing_connected(
        records: Records, words: list[str]) -> None:
    async def scenario() -> None:
        async with practice() as server, dns_server(records) as ns:
            engine, _ = await engine_for(server, nameserver=(LOOPBACK, ns.port),
                                         connect=False)
            with pytest.raises(ConnectionFailed) as caught:
                await engine.dialer.open_mx("nomail.test", server.port, "plain")
            for word in words:
                assert word in str(caught.value)
            assert engine.conn is None and server.inbox.wire == []
            assert ("nomail.test", "MX") in ns.queries

    run(scenario())


def test_when_every_mx_host_is_unreachable_the_error_says_so() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens
        sock.bind((LOOPBACK, 0))
        port = sock.getsockname()[1]
    records: Records = {**EXAMPLE, "example.test": {"MX": ["5 mx1.example.test.",
                                                           "10 mx2.example.test.",
                                                           "20 mx3.example.test."]}}

    async def scenario() -> None:
        async with practice() as server, dns_server(records) as ns:
            engine, ui = await engine_for(server, nameserver=(LOOPBACK, ns.port),
                                          connect=False)
            with pytest.raises(ConnectionFailed) as caught:
                await engine.dialer.open_mx("example.test", port, "plain")
            assert str(caught.value) == "no mail server of example.test could be reached"
            assert caught.value.hint.startswith("3 MX host(s) tried")
            assert "MX 20 mx3.example.test has no address" in ui.text
            assert ui.text.count("refused the connection") == 2
            assert engine.conn is None or not engine.conn.is_open

    run(scenario())


def test_a_silent_nameserver_is_a_connection_failure() -> None:
    async def scenario() -> None:
        async with practice() as server, dns_server(EXAMPLE, silent=True) as ns:
            engine, _ = await engine_for(server, nameserver=(LOOPBACK, ns.port),
                                         connect=False, timeout=0.3)
            with pytest.raises(ConnectionFailed, match=r"cannot look up the MX of example\.test"):
                await engine.dialer.open_mx("example.test", server.port, "plain")
            assert ns.queries and server.inbox.wire == []

    run(scenario())


def test_cli_mx_with_nameserver_and_port() -> None:
    async def scenario() -> None:
        async with practice() as server, dns_server(EXAMPLE) as ns:
            code, out, err = await run_cli(
                "--mx", "example.test", "--nameserver", f"{LOOPBACK}:{ns.port}",
                "-p", str(server.port), stdin="EHLO mx.example\nQUIT\n")
            assert (code, err) == (0, ""), out
            assert "MX 10 mx2.example.test" in out and "-> EHLO mx.example" in out
            assert bytes(server.inbox.wire[0]) == b"EHLO mx.example\r\nQUIT\r\n"
            code, _, err = await run_cli(LOOPBACK, "--mx", "example.test", stdin="QUIT\n")
            assert code == 2 and "give HOST or --mx DOMAIN, not both" in err

    run(scenario())


def test_connect_mx_hangs_up_then_follows_the_mx_records(monkeypatch: Any) -> None:
    """The helper's port is redirected to the practice server (never to port 25)."""

    async def scenario() -> None:
        async with practice() as server, dns_server(EXAMPLE) as ns:
            engine, ui = await engine_for(server, nameserver=(LOOPBACK, ns.port))
            real, seen = engine.dialer.open_mx, []

            async def redirected(domain: str, port: int, mode: Any) -> None:
                seen.append((domain, mode))
                await real(domain, server.port, mode)

            monkeypatch.setattr(engine.dialer, "open_mx", redirected)
            await engine.handle_line(":connect --mx example.test")
            assert seen == [("example.test", "plain")]
            assert bytes(server.inbox.wire[0]).endswith(b"QUIT\r\n")
            assert len(server.inbox.wire) == 2 and engine.conn is not None
            assert engine.target is not None
            assert engine.target.server_name == "mx2.example.test"
            assert "MX 5 mx1.example.test (::1)" in ui.text
            with pytest.raises(UsageError, match="takes a HOST or --mx DOMAIN"):
                await engine.handle_line(f":connect {LOOPBACK} --mx example.test")
            with pytest.raises(UsageError, match="takes a HOST or --mx DOMAIN"):
                await engine.handle_line(":connect")
            assert len(server.inbox.wire) == 2 and engine.conn.is_open

    run(scenario())


def test_connect_mx_uses_the_session_port(monkeypatch: Any) -> None:
    async def scenario() -> None:
        async with practice() as server, dns_server(EXAMPLE) as ns:
            engine, _ = await engine_for(server, nameserver=(LOOPBACK, ns.port),
                                         connect=False)  # as `smtpshell -p PORT`
            real = engine.dialer.open_mx

            async def guarded(domain: str, port: int, mode: Any) -> None:
                if port != server.port:  # never to a fixed port such as 25
                    raise ConnectionFailed(f":connect --mx chose port {port}")
                await real(domain, port, mode)

            monkeypatch.setattr(engine.dialer, "open_mx", guarded)
            await engine.handle_line(":connect --mx example.test")
            assert engine.conn is not None and engine.conn.is_open

    run(scenario())


def test_a_host_that_does_not_greet_is_closed_before_the_next(monkeypatch: Any) -> None:
    async def tarpit(peer: RawPeer) -> None:
        await peer.until_closed()

    records: Records = {"slow.test": {"MX": ["5 a.slow.test.", "10 b.slow.test."]},
                        "a.slow.test": {"A": [LOOPBACK]}, "b.slow.test": {"A": [LOOPBACK]}}

    async def scenario() -> None:
        opened: list[Connection] = []
        real_open = Connection.open

        async def recording_open(*args: Any) -> Connection:
            opened.append(await real_open(*args))
            return opened[-1]

        monkeypatch.setattr(Connection, "open", recording_open)
        async with practice() as server, RawServer(tarpit) as raw, dns_server(records) as ns:
            engine, _ = await engine_for(server, nameserver=(LOOPBACK, ns.port),
                                         connect=False, timeout=0.5)
            try:
                with pytest.raises(ConnectionFailed, match=r"no mail server of slow\.test"):
                    await engine.dialer.open_mx("slow.test", raw.port, "plain")
                assert len(opened) == 2 and raw.port == opened[0].target.port
                assert not opened[0].is_open, "moved on to b with a's connection open"
                assert engine.conn is None or not engine.conn.is_open, "failed, yet connected"
            finally:
                for conn in opened:
                    conn.close()

    run(scenario(), timeout=STEP)
