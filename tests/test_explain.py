"""Teaching: every code in the tables explained, --explain under replies, :explain, :help."""

from __future__ import annotations

import pytest
from support import engine_for, lines, practice, run

from smtpshell import codes
from smtpshell.errors import UsageError
from smtpshell.knowledge import VERBS
from smtpshell.protocol import Reply
from smtpshell.render import explain_line, format_explain, plain


@pytest.mark.parametrize("code", sorted(codes.BASIC_CODES))
def test_every_basic_code_is_explained(code: int) -> None:
    entry = codes.BASIC_CODES[code]
    text = plain(format_explain(code, None))
    assert entry.meaning in text and entry.next_step in text and entry.rfc in text
    line = plain(explain_line(Reply(code, (f"{code} x",))))
    assert line.startswith(f"  ↳ {code}: {entry.meaning}") and entry.next_step in line


@pytest.mark.parametrize(("detail", "klass"), sorted(
    (d, k) for d, e in codes.ENHANCED_CODES.items() for k in e.classes))
def test_every_enhanced_code_is_explained(detail: str, klass: int) -> None:
    entry = codes.ENHANCED_CODES[detail]
    code = f"{klass}.{detail}"
    text = plain(format_explain(550 if klass == 5 else 451 if klass == 4 else 250, code))
    assert entry.name in text and entry.meaning in text and entry.next_step in text
    assert codes.CLASSES[klass] in text and codes.SUBJECTS[int(detail.split(".")[0])] in text
    basic = {2: 250, 4: 451, 5: 550}[klass]
    line = plain(explain_line(Reply(basic, (f"{basic} {code} text",))))
    assert code in line
    assert (entry.name.lower() if klass == 2 else entry.meaning) in line


def test_unknown_codes_still_get_a_sentence() -> None:
    text = plain(format_explain(599, "5.9.99"))
    assert "not a code the RFCs list" in text and "Permanent failure" in text
    assert "not in the IANA registry" in text
    assert "registry lists it for class" in plain(format_explain(250, "2.7.8"))


def test_explain_under_every_reply_and_the_helper() -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await engine_for(server)
            await lines(engine, "EHLO teach.example", ":explain on", "RCPT TO:<a@b.example>")
            assert "↳ 503" not in ui.text  # not sent: the safe mode asked first
            engine.state.safe = False
            await lines(engine, "RCPT TO:<a@b.example>", ":explain off", "NOOP")
            assert ui.text.count("  ↳ ") == 1 and "↳ 503: " in ui.text
            await lines(engine, ":explain")  # the last reply: 250 2.0.0
            assert "250: the command worked" in ui.text.split("NOOP")[-1]
            await lines(engine, ":explain 535 5.7.8")
            assert "Authentication credentials invalid  [RFC 4954 §6]" in ui.text
            with pytest.raises(UsageError, match="not a reply code"):
                await lines(engine, ":explain 5xx")

    run(scenario())


def test_help_lists_and_explains() -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await engine_for(server)
            await lines(engine, ":help")
            assert ":authplain USER [PASS]" in ui.text and "RCPT" in ui.text
            for verb in VERBS.values():
                await lines(engine, f":help {verb.name.lower()}")
                assert verb.syntax in ui.text and verb.rfc in ui.text and verb.example in ui.text
            await lines(engine, ":help :data")
            assert "CRLF-normalised" in ui.text
            with pytest.raises(UsageError, match="no helper or verb"):
                await lines(engine, ":help FROB")

    run(scenario())
