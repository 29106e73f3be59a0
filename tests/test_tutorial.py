"""The tutorial, driven by a learner who makes mistakes: every lesson can be completed,
a wrong line gets a hint and never a dead end, progress is kept, and a teacher's
malformed lesson is refused with the file, line and reason."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path

import pexpect
import pytest
from support import (
    CTRL_D,
    RecordingUI,
    drive,
    engine_for,
    practice,
    practice_settings,
    run,
    run_cli,
)

from smtpshell.commands import Engine
from smtpshell.errors import UsageError
from smtpshell.helpers import make_engine
from smtpshell.lessons import LessonError, load_lesson, load_lessons
from smtpshell.render import plain, toolbar
from smtpshell.session import SessionState
from smtpshell.tutorial import Progress

# For each lesson: the lines a learner types, wrong ones included (each wrong line must
# earn a hint). "!" marks a wrong line.
COURSE: dict[int, list[str]] = {
    1: ["!HELO me.example", "EHLO me.example", ":caps", "!RSET", "noop", ":help EHLO"],
    2: ["MAIL FROM:<me@example.com>", "!MAIL FROM:<again@example.com>",
        "rcpt to:<you@example.com>", "DATA", "Subject: lesson two", "", ".hidden?", ".",
        ":inbox"],
    3: ["MAIL FROM:<me@example.com>", "!RCPT TO:<you@example.com>",
        "RCPT TO:<reject@example.com>", ":explain", "RCPT TO:<tempfail@example.com>",
        "RCPT TO:<ok@example.com>", "RSET"],
    4: [":reconnect", "EHLO me.example", "!NOOP", "STARTTLS", ":cert", "EHLO me.example"],
    5: [":b64plain demo demo", "!AUTH PLAIN AGRlbW8AZGVtbw==x", "AUTH PLAIN AGRlbW8AZGVtbw==",
        ":connect demo --starttls", "AUTH LOGIN", "ZGVtbw==", "ZGVtbw==",
        "!:connect demo", ":connect demo --starttls", ":authplain demo"],
    6: ["R", "Q", ":raw NOOP\\n", ":help safe"],
    7: ["!NOOP", ":pipeline MAIL FROM:<me@example.com>; RCPT TO:<you@example.com>; "
        "RCPT TO:<them@example.com>", "RSET", ":mail me@example.com SIZE=2000", "RSET",
        ':send --from me@example.com --to you@example.com --subject Hello --body "Hi"'],
}


async def learn(engine: Engine, ui: RecordingUI, lesson: int, typed: list[str]) -> None:
    """Type the lines of one lesson; a wrong line must get a hint, a right one none."""
    await engine.handle_line(f":tutorial {lesson}")
    for line in typed:
        wrong = line.startswith("!")
        before = len(ui.text)
        with contextlib.suppress(UsageError):  # :raw with the safe mode on: one sentence
            await engine.handle_line(line.removeprefix("!"))
        said = ui.text[before:]
        assert ("not quite:" in said) is wrong, (lesson, line, said)
    assert f"Lesson {lesson} done" in ui.text, ui.text[-2000:]


def test_every_lesson_can_be_completed_with_mistakes_on_the_way() -> None:
    async def scenario() -> None:
        async with practice(smtps_too=True) as server:
            ui = RecordingUI(confirm=True, secrets=["demo"])
            engine, _ = await engine_for(server, ui)
            for lesson, typed in COURSE.items():
                await learn(engine, ui, lesson, typed)
            assert "That was the last lesson" in ui.text
            assert engine.state.lesson is None  # the toolbar no longer shows a lesson
            assert len(server.inbox.messages) == 2  # lesson 2's message and lesson 7's :send

    run(scenario(), timeout=60)


def test_every_lesson_in_the_package_loads_and_is_driven_here() -> None:
    lessons, refused = load_lessons()
    assert refused == [] and len(lessons) == len(COURSE) == 7
    assert [lesson.title for lesson in lessons][:3] == [
        "Greeting and EHLO", "One message", "When things go wrong"]


def test_the_commands_next_back_hint_list_quit_and_where_you_are(tmp_path: Path) -> None:
    progress = tmp_path / "tutorial.json"

    async def scenario() -> None:
        async with practice(smtps_too=True) as server:
            ui = RecordingUI()
            engine, _ = await engine_for(server, ui, progress=progress)
            await engine.handle_line(":tutorial 2")
            assert engine.state.lesson == "lesson 2 · step 1/9"
            await engine.handle_line(":tutorial next")
            assert engine.state.lesson == "lesson 2 · step 2/9"
            await engine.handle_line(":tutorial back")
            assert engine.state.lesson == "lesson 2 · step 1/9"
            mark = len(ui.text)
            await engine.handle_line(":tutorial hint")
            assert "type EHLO me.example" in ui.text[mark:]
            await engine.handle_line(":tutorial")
            assert "[lesson 2 · step 1/9]" in ui.text[mark:]
            await engine.handle_line(":tutorial list")
            assert "2. [here] One message" in ui.text
            await engine.handle_line(":tutorial quit")
            assert engine.state.lesson is None
            with pytest.raises(UsageError, match="no lesson under way"):
                await engine.handle_line(":tutorial next")
            with pytest.raises(UsageError, match="no lesson 'nine'"):
                await engine.handle_line(":tutorial nine")
            await engine.handle_line(":tutorial")  # resumes where it was
            assert engine.state.lesson == "lesson 2 · step 1/9"

    run(scenario())
    assert json.loads(progress.read_text())["lesson"] == "02-message"


def test_progress_is_kept_between_sessions(tmp_path: Path) -> None:
    progress = tmp_path / "state" / "tutorial.json"

    async def session(lines: list[str]) -> str:
        async with practice(smtps_too=True) as server:
            ui = RecordingUI()
            engine, _ = await engine_for(server, ui, progress=progress)
            for line in lines:
                await engine.handle_line(line)
            return ui.text

    run(session([":tutorial 1", "EHLO me.example", ":caps"]))
    assert Progress.load(progress) == Progress("01-greeting", 2, [])
    text = run(session([":tutorial"]))  # as --tutorial does
    assert "[lesson 1 · step 3/4]" in text
    run(session([":tutorial", "NOOP", ":help ehlo"]))
    saved = Progress.load(progress)
    assert saved.done == ["01-greeting"] and saved.lesson == "02-message"
    assert Progress.load(tmp_path / "missing.json") == Progress()


def test_the_tutorial_comes_with_demo_only() -> None:
    async def scenario() -> None:
        async with practice() as server:
            ui = RecordingUI()
            engine = make_engine(practice_settings(server), SessionState(), ui)
            with pytest.raises(UsageError, match=":tutorial comes with --demo"):
                await engine.handle_line(":tutorial")
            await engine.handle_line(":help tutorial")
            assert "only with --demo" in ui.text
            code, _, err = await run_cli("127.0.0.1:1", "--tutorial")
            assert code == 2 and "--tutorial comes with --demo" in err

    run(scenario())


# -- a teacher's lessons --------------------------------------------------------------

GOOD = '''title = "Extra"
[[step]]
say = "Type NOOP"
sent = '^NOOP$'
hint = "NOOP"
'''


@pytest.mark.parametrize(("text", "line", "reason"), [
    (GOOD.replace('say = "Type NOOP"', 'sey = "Type NOOP"'), 2, "unknown key 'sey'"),
    (GOOD.replace("'^NOOP$'", "'^(NOOP'"), 2, "not a regular expression"),
    (GOOD.replace('hint = "NOOP"', 'hint = "NOOP {secret}"'), 2, "{secret} is not something"),
    (GOOD + 'state = { tsl = true }\n', 2, "no session state 'tsl'"),
    (GOOD + 'reply = "25"\n', 2, "is not a code pattern"),
    (GOOD.replace("sent = '^NOOP$'\n", ""), 2, "says nothing that shows it was done"),
    (GOOD.replace('title = "Extra"', 'title = "Extra'), 1, "line 1"),
    ('[[step]]\nsay = "x"\nhint = "y"\nsent = "z"\n', 1, "has no title"),
    (GOOD + '\n[[step]]\nsay = "again"\nsent = "x"\n', 7, "(step 2): the step has no hint"),
    ('title = 3\n' + GOOD.split("\n", 1)[1], 1, "title must be a str"),
])
def test_a_malformed_lesson_is_refused_with_file_line_and_reason(
        text: str, line: int, reason: str) -> None:
    with pytest.raises(LessonError) as err:
        load_lesson("teacher/99-extra.toml", text)
    assert str(err.value).startswith("teacher/99-extra.toml")
    assert f"line {line}" in str(err.value) and reason in str(err.value)


def test_a_teachers_lessons_come_after_the_course_and_a_bad_one_is_refused(
        tmp_path: Path) -> None:
    (tmp_path / "50-extra.toml").write_text(GOOD)
    (tmp_path / "51-broken.toml").write_text(GOOD.replace("sent", "snet"))

    async def scenario() -> None:
        async with practice(smtps_too=True) as server:
            ui = RecordingUI()
            engine, _ = await engine_for(server, ui, lessons_dir=tmp_path)
            await engine.handle_line(":tutorial 8")
            assert "lesson refused:" in ui.text and "51-broken.toml line 2" in ui.text
            assert "Lesson 8: Extra" in ui.text
            await engine.handle_line("NOOP")
            assert "Lesson 8 done" in ui.text

    run(scenario())


# -- at the prompt ----------------------------------------------------------------------


def test_the_tutorial_at_a_real_prompt_with_its_toolbar(tmp_path: Path) -> None:
    """pipe input into a PromptSession: the toolbar names the lesson and step."""
    keys = "\r".join([":tutorial 1", "HELO me.example", "EHLO me.example", ""])

    async def scenario() -> None:
        async with practice(smtps_too=True) as server:
            engine, text = await drive(server, keys + CTRL_D, tmp_path / "h")
            assert "[lesson 1 · step 1/4]" in text and "[lesson 1 · step 2/4]" in text
            assert "not quite: type EHLO" in text
            assert "In the shell's own words" in text
            assert "learn lesson 1 · step 2/4" in plain(toolbar(engine.state))

    run(scenario())


def test_demo_tutorial_in_a_real_terminal_resumes(tmp_path: Path) -> None:
    env = {**os.environ, "PROMPT_TOOLKIT_NO_CPR": "1", "XDG_STATE_HOME": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path), "TERM": "xterm-256color", "NO_COLOR": "1"}

    def spawn() -> pexpect.spawn:
        return pexpect.spawn(sys.executable, ["-m", "smtpshell", "--demo", "--tutorial"],
                             env=env, dimensions=(40, 120), timeout=15, encoding="utf-8")

    child = spawn()
    child.expect(r"\[lesson 1 · step 1/4\] Introduce yourself")
    child.sendline("ehlo me.example")
    child.expect("250 HELP")
    child.expect(r"\[lesson 1 · step 2/4\]")
    child.expect("plain>")  # the line is done: the prompt takes the next keys
    child.sendcontrol("d")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    again = spawn()
    again.expect(r"\[lesson 1 · step 2/4\] :caps shows")
    again.expect("plain>")
    again.sendcontrol("d")
    again.expect(pexpect.EOF)
    again.close()
    assert again.exitstatus == 0



def test_the_whole_course_typed_at_a_real_prompt(tmp_path: Path) -> None:
    """Every lesson through prompt_toolkit's pipe input: the questions answered and the
    password given where the shell asks, each wrong line earning its hint."""
    answers = {"!MAIL FROM:<again@example.com>": ["y"], ":authplain demo": ["demo"]}
    typed = [":tutorial 1"]
    for lesson, course in COURSE.items():
        typed += [f":tutorial {lesson}"] if lesson > 1 else []
        for line in course:
            typed += [line.removeprefix("!"), *answers.get(line, [])]
    wrong = sum(line.startswith("!") for course in COURSE.values() for line in course)

    async def scenario() -> None:
        async with practice(smtps_too=True) as server:
            _, text = await drive(server, "\r".join(typed) + "\r" + CTRL_D, tmp_path / "h")
            for lesson in COURSE:
                assert f"Lesson {lesson} done" in text, text[-3000:]
            assert text.count("not quite:") == wrong
            assert "Traceback" not in text

    run(scenario(), timeout=60)
