"""The client protocol machine as a table: state × event → new state, bytes out, events out.

Every cancellation is a row: after it the machine is either in a state it can
prove (the late reply comes marked late) or closed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from smtpshell.machine import (
    FLOOD_BYTES,
    FLOOD_REPLIES,
    Answer,
    ClientMachine,
    Closed,
    Event,
    NotNow,
    Phase,
    Stage,
    StartTls,
)
from smtpshell.protocol import Command

EHLO = b"250-mx.test\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 STARTTLS\r\n"


@dataclass
class Run:
    """A machine driven step by step, keeping the tickets, bytes and events."""

    machine: ClientMachine = field(default_factory=ClientMachine)
    wire: bytearray = field(default_factory=bytearray)
    events: list[Event] = field(default_factory=list)
    tickets: list[int] = field(default_factory=list)

    def send(self, line: str, kind: str = "command") -> Run:
        ticket, data = self.machine.send(Command(line, kind))
        self.tickets.append(ticket)
        self.wire += data
        return self

    def recv(self, data: bytes) -> Run:
        self.events += self.machine.receive(data)
        return self

    def cancel(self, ticket: int | None = -1) -> Run:
        self.events += self.machine.cancel(self.tickets[ticket] if ticket == -1 else ticket)
        return self

    @property
    def answers(self) -> list[Answer]:
        return [e for e in self.events if isinstance(e, Answer)]

    @property
    def closed(self) -> Closed | None:
        return next((e for e in self.events if isinstance(e, Closed)), None)


def greeted(*more: tuple[str, bytes]) -> Run:
    run = Run().recv(b"220 mx.test ESMTP\r\n").send("EHLO me.test").recv(EHLO)
    for line, reply in more:
        run.send(line).recv(reply)
    return run


ENVELOPE = (("MAIL FROM:<a@b>", b"250 ok\r\n"), ("RCPT TO:<c@d>", b"250 ok\r\n"))


# -- the table -----------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    name: str
    steps: Callable[[], Run]
    expect: dict[str, Any]


ROWS = [
    Row("greeting 220", lambda: Run().recv(b"220 hi\r\n"), {"stage": Stage.READY}),
    Row("greeting 554: only QUIT", lambda: Run().recv(b"554 go away\r\n"),
        {"stage": Stage.READY, "no_service": True}),
    Row("EHLO", lambda: greeted(), {"greeted_with": "EHLO", "phase": Phase.IDLE}),
    Row("HELO gives no capabilities", lambda: Run().recv(b"220 hi\r\n").send("HELO me")
        .recv(b"250 mx.test\r\n"), {"greeted_with": "HELO", "capabilities.extensions": {}}),
    Row("MAIL 250", lambda: greeted(ENVELOPE[0]), {"phase": Phase.MAIL, "recipients": 0}),
    Row("MAIL 550", lambda: greeted(("MAIL FROM:<a@b>", b"550 no\r\n")), {"phase": Phase.IDLE}),
    Row("RCPT x2", lambda: greeted(*ENVELOPE, ("RCPT TO:<e@f>", b"251 ok\r\n")),
        {"phase": Phase.RCPT, "recipients": 2}),
    Row("RCPT 550 keeps MAIL", lambda: greeted(ENVELOPE[0], ("RCPT TO:<c@d>", b"550 no\r\n")),
        {"phase": Phase.MAIL}),
    Row("RCPT with no MAIL invents nothing", lambda: greeted(("RCPT TO:<c@d>", b"250 ok\r\n")),
        {"phase": Phase.IDLE}),
    Row("DATA 354", lambda: greeted(*ENVELOPE, ("DATA", b"354 go\r\n")), {"phase": Phase.DATA}),
    Row("DATA 554", lambda: greeted(*ENVELOPE, ("DATA", b"554 no\r\n")), {"phase": Phase.RCPT}),
    Row("the final dot ends the transaction as it leaves",
        lambda: greeted(*ENVELOPE, ("DATA", b"354 go\r\n")).send(".", "data-end"),
        {"phase": Phase.IDLE, "recipients": 0}),
    Row("a 354 to NOOP is no DATA mode", lambda: greeted(("NOOP", b"354 go\r\n")),
        {"phase": Phase.IDLE}),
    Row("RSET", lambda: greeted(*ENVELOPE, ("RSET", b"250 ok\r\n")), {"phase": Phase.IDLE}),
    Row("MAIL BODY=BINARYMIME", lambda: greeted(("MAIL FROM:<a@b> BODY=BINARYMIME",
                                                 b"250 ok\r\n")), {"body": "BINARYMIME"}),
    Row("BDAT chunk", lambda: greeted(*ENVELOPE).send("BDAT 10"),
        {"phase": Phase.BDAT, "_chunk_left": 10}),
    Row("BDAT LAST", lambda: greeted(*ENVELOPE).send("BDAT 0 LAST"), {"phase": Phase.IDLE}),
    Row("AUTH PLAIN 235", lambda: greeted(("AUTH PLAIN AGRlbW8AZGVtbw==", b"235 ok\r\n")),
        {"auth_user": "demo", "auth_dialog": False}),
    Row("AUTH LOGIN 334", lambda: greeted(("AUTH LOGIN", b"334 VXNlcm5hbWU6\r\n")),
        {"auth_dialog": True, "challenge": "Username:"}),
    Row("AUTH 535", lambda: greeted(("AUTH PLAIN AGRlbW8AZGVtbw==", b"535 no\r\n")),
        {"auth_user": None}),
    Row("STARTTLS sent", lambda: greeted().send("STARTTLS"), {"stage": Stage.STARTTLS}),
    Row("STARTTLS 220", lambda: greeted(("STARTTLS", b"220 go\r\n")),
        {"stage": Stage.HANDSHAKE}),
    Row("STARTTLS 454 stays plain", lambda: greeted(("STARTTLS", b"454 no\r\n")),
        {"stage": Stage.READY, "tls": False}),
    Row("STARTTLS 250 is no go-ahead", lambda: greeted(("STARTTLS", b"250 ok\r\n")),
        {"stage": Stage.READY}),
    Row("unsolicited 421", lambda: greeted().recv(b"421 bye\r\n"), {"closing": True}),
    Row("QUIT 221", lambda: greeted(("QUIT", b"221 bye\r\n")),
        {"closing": True, "quit_done": True}),
]


def attribute(machine: ClientMachine, path: str) -> Any:
    value: Any = machine
    for name in path.split("."):
        value = getattr(value, name)
    return value


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_transitions(row: Row) -> None:
    run = row.steps()
    for path, value in row.expect.items():
        assert attribute(run.machine, path) == value, path


# -- bytes out and refusals -------------------------------------------------------------


def test_bytes_out_and_pipelined_replies_pair_in_order() -> None:
    run = greeted().send("MAIL FROM:<a@b>").send("RCPT TO:<c@d>").send("RCPT TO:<e@f>")
    assert bytes(run.wire).endswith(b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nRCPT TO:<e@f>\r\n")
    run.events.clear()
    run.recv(b"250 a\r\n250 b\r\n550 c\r\n")
    assert [(a.command.line if a.command else None, a.reply.code) for a in run.answers] == [
        ("MAIL FROM:<a@b>", 250), ("RCPT TO:<c@d>", 250), ("RCPT TO:<e@f>", 550)]
    assert (run.machine.phase, run.machine.recipients) == (Phase.RCPT, 1)


@pytest.mark.parametrize(("run", "command", "why"), [
    (lambda: Run(), "NOOP", "has not greeted"),
    (lambda: greeted().send("STARTTLS"), "NOOP", "STARTTLS is waiting"),
    (lambda: greeted(("STARTTLS", b"220 go\r\n")), "NOOP", "handshake"),
    (lambda: greeted(*ENVELOPE, ("DATA", b"354 go\r\n")), "RSET", "message text"),
    (lambda: greeted(("AUTH LOGIN", b"334 VXNlcm5hbWU6\r\n")), "NOOP", "334"),
    (lambda: Run().recv(b"554 no\r\n"), "EHLO x", "only QUIT"),
    (lambda: greeted(*ENVELOPE).send("BDAT 5"), "NOOP", "BDAT chunk"),
    (lambda: Run(ClientMachine.unconnected()), "NOOP", "not connected"),
])
def test_what_may_not_be_sent(run: Callable[[], Run], command: str, why: str) -> None:
    with pytest.raises(NotNow, match=why):
        run().send(command)


def test_message_text_only_after_354_or_within_a_bdat_chunk() -> None:
    with pytest.raises(NotNow, match="354"):
        greeted(*ENVELOPE).machine.send_text(b"x\r\n")
    run = greeted(*ENVELOPE).send("BDAT 4")
    assert run.machine.send_text(b"abcd") == b"abcd"
    with pytest.raises(NotNow, match="more octets"):
        greeted(*ENVELOPE).send("BDAT 2").machine.send_text(b"abc")
    run.send("BDAT 0 LAST")  # the chunk is complete: commands may go again
    assert run.machine.phase is Phase.IDLE


# -- replies that are not what they seem ------------------------------------------------


@pytest.mark.parametrize(("line", "reply", "fault"), [
    ("NOOP", b"150 ok\r\n", "no 1yz"),
    ("NOOP", b"250-a\r\n251 b\r\n", "different codes"),
    ("NOOP", b"334 go\r\n", "no next step"),
    ("RCPT TO:<a@b>", b"354 go\r\n", "no next step"),
    ("DATA", b"250 ok\r\n", "354"),
    ("AUTH LOGIN", b"354 go\r\n", "no next step"),
    ("STARTTLS", b"251 ok\r\n", "only on 220"),
])
def test_invalid_replies_carry_their_fault(line: str, reply: bytes, fault: str) -> None:
    [answer] = greeted().send(line).recv(reply).answers[-1:]
    assert answer.reply.fault is not None and fault in answer.reply.fault
    assert answer.reply.failed


def test_a_greeting_that_is_not_one() -> None:
    [answer] = Run().recv(b"250 hello\r\n").answers
    assert answer.reply.fault is not None and "not a greeting" in answer.reply.fault
    assert not Run().recv(b"554 no service\r\n").answers[0].reply.fault


# -- STARTTLS and injection ------------------------------------------------------------


def test_starttls_220_hands_over_to_tls_and_forgets_what_plaintext_taught() -> None:
    run = greeted(*ENVELOPE).send("STARTTLS")
    run.events.clear()
    run.recv(b"220 go\r\n")
    assert [type(e) for e in run.events] == [Answer, StartTls]
    run.machine.tls_started()
    m = run.machine
    assert (m.stage, m.tls, m.capabilities, m.phase) == (Stage.READY, True, None, Phase.IDLE)


@pytest.mark.parametrize("tail", [b"250 AUTH PLAIN\r\n", b"250 par"])
def test_bytes_after_the_220_are_injection(tail: bytes) -> None:
    run = greeted().send("STARTTLS").recv(b"220 go\r\n" + tail)
    assert run.closed is not None and run.closed.drop and "injection" in run.closed.reason
    assert run.machine.injected == tail and run.machine.stage is Stage.CLOSED


def test_bytes_in_a_later_packet_or_the_socket_are_injection_too() -> None:
    run = greeted(("STARTTLS", b"220 go\r\n")).recv(b"250 late\r\n")
    assert run.closed is not None and "injection" in run.closed.reason
    peeked = greeted(("STARTTLS", b"220 go\r\n"))
    assert peeked.machine.inject(b"") == []  # nothing in the socket: nothing happens
    assert isinstance(peeked.machine.inject(b"250 x\r\n")[0], Closed)


# -- every cancellation ----------------------------------------------------------------


def test_cancel_an_ordinary_reply_marks_it_late() -> None:
    run = greeted().send("NOOP").cancel()
    assert run.machine.out_of_step and run.closed is None
    run.recv(b"250 late\r\n")
    assert run.answers[-1].late and not run.machine.out_of_step


def test_cancel_the_final_dot_leaves_data_mode_at_once() -> None:
    run = greeted(*ENVELOPE, ("DATA", b"354 go\r\n")).send(".", "data-end").cancel()
    assert run.machine.phase is Phase.IDLE and run.machine.out_of_step
    run.recv(b"250 queued\r\n")
    assert run.answers[-1].late and run.answers[-1].command == Command(".", "data-end")


def test_cancel_auth_then_a_late_334_is_a_known_dialog() -> None:
    run = greeted().send("AUTH LOGIN").cancel().recv(b"334 VXNlcm5hbWU6\r\n")
    assert run.answers[-1].late and run.machine.auth_dialog


def sent_chunk() -> Run:
    run = greeted(*ENVELOPE).send("BDAT 3")
    run.machine.send_text(b"abc")
    return run


def test_the_reply_to_bdat_last_given_up_is_late_like_the_final_dot() -> None:
    run = greeted(*ENVELOPE).send("BDAT 0 LAST").cancel()
    assert run.closed is None and run.machine.phase is Phase.IDLE and run.machine.out_of_step


@pytest.mark.parametrize(("steps", "reason"), [
    (lambda: Run().cancel(0), "greeting"),
    (lambda: greeted().send("STARTTLS").cancel(), "STARTTLS"),
    (lambda: greeted(("STARTTLS", b"220 go\r\n")).cancel(None), "handshake"),
    (lambda: greeted(*ENVELOPE, ("DATA", b"354 go\r\n")).cancel(None), "interrupted"),
    (lambda: greeted(*ENVELOPE).send("BDAT 100").cancel(None), "interrupted"),
    (lambda: sent_chunk().cancel(), "interrupted"),  # the chunk went; its reply given up
])
def test_cancellations_that_close(steps: Callable[[], Run], reason: str) -> None:
    run = steps()
    assert run.closed is not None and run.closed.drop and reason in run.closed.reason
    assert not run.closed.expected and run.machine.stage is Stage.CLOSED
    assert run.recv(b"220 late\r\n").answers[-1:] == run.answers[-1:]  # nothing more is read


def test_cancel_while_nothing_is_waiting_changes_nothing() -> None:
    run = greeted().cancel(None)
    assert run.closed is None and run.machine.stage is Stage.READY


def test_resync_forgets_replies_given_up_on() -> None:
    run = greeted().send("NOOP").cancel()
    assert not run.machine.forget_abandoned()
    assert not run.machine.out_of_step and run.machine.owed == ()
    run.recv(b"250 very late\r\n")
    assert run.answers[-1].command is None  # unsolicited now, never paired with a new line


# -- the end ---------------------------------------------------------------------------


def test_a_close_after_quit_without_221_is_what_quit_asked() -> None:
    run = greeted().send("QUIT")
    run.events += run.machine.connection_lost()
    assert run.closed is not None and run.closed.expected and run.closed.after_quit


def test_a_close_after_221_needs_no_word() -> None:
    run = greeted(("QUIT", b"221 bye\r\n"))
    run.events += run.machine.connection_lost()
    assert run.closed is not None and run.closed.expected and run.closed.quiet


def test_a_close_at_any_other_moment_is_a_failure_and_lists_what_was_owed() -> None:
    run = greeted().send("NOOP").send("RSET")
    run.events += run.machine.connection_lost("the connection broke (reset)")
    assert run.closed is not None and not run.closed.expected
    assert [o.command.line for o in run.closed.owed] == ["NOOP", "RSET"]
    assert "reset" in run.closed.reason


def test_a_reply_cut_off_by_the_close_is_kept() -> None:
    run = greeted().send("NOOP").recv(b"250-one\r\n250 tw")
    run.events += run.machine.connection_lost()
    assert run.answers[-1].reply.lines == ("250-one", "250 tw")


def test_floods_are_cut_off() -> None:
    many = greeted().recv(b"250 unasked\r\n" * (FLOOD_REPLIES + 1))
    assert many.closed is not None and "replies nobody asked" in many.closed.reason
    big = greeted().recv(b"2" * (FLOOD_BYTES + 1))
    assert big.closed is not None and "without being asked" in big.closed.reason


def test_we_hang_up() -> None:
    run = greeted()
    [closed] = run.machine.close("closed", quiet=True)
    assert isinstance(closed, Closed) and closed.expected and closed.quiet
    assert run.machine.close("again") == []
