"""Session views: real transcripts (practice server, STARTTLS, AUTH, a 550, DATA) drawn as
Mermaid and as one HTML page; malformed lines, RFC-style files, empty ones, file errors."""

from __future__ import annotations

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from support import engine_for, lines, practice, run

from smtpshell.errors import UsageError
from smtpshell.protocol import Reply
from smtpshell.redact import MASK, secret_forms
from smtpshell.render import explain_line, plain
from smtpshell.sessionview import Entry, parse, render_file, to_html, to_mermaid

WRONG = "Wr0ngPa55word"  # a password that fails: the one secret the outputs could leak
SUBJECT = "views; #1 & <more>"
SESSION = ["EHLO view.example", ":starttls", f":authplain demo {WRONG}", ":authplain demo demo",
           ":mail a@example.com", "RCPT TO:<reject@example.com>", ":rcpt b@example.com", "DATA",
           f"Subject: {SUBJECT}", "", "body line", ".", "QUIT"]
# what the diagram must show, in order: (who, how the arrow's text starts)
ARROWS = [("S", "220 practice.smtpshell.test"), ("C", "EHLO view.example"),
          ("S", "250-practice.smtpshell.test<br/>250-PIPELINING<br/>"), ("C", "STARTTLS"),
          ("S", "220 Ready to start TLS"), ("C", "EHLO view.example"),
          ("S", "250-practice.smtpshell.test<br/>"), ("C", f"AUTH PLAIN {MASK}"),
          ("S", "535 5.7.8 "), ("C", f"AUTH PLAIN {MASK}"), ("S", "235 2.7.0 "),
          ("C", "MAIL FROM:#60;a@example.com#62;"), ("S", "250 2.1.0 "),
          ("C", "RCPT TO:#60;reject@example.com#62;"), ("S", "550 5.1.1 "),
          ("C", "RCPT TO:#60;b@example.com#62;"), ("S", "250 2.1.5 "), ("C", "DATA"),
          ("S", "354 "),
          ("C", 'message text (3 lines, Subject: views#59; #35;1 #38; #60;more#62;), then "."'),
          ("S", "250 2.0.0 Queued"), ("C", "QUIT"), ("S", "221 2.0.0 ")]
ARROW = re.compile(r"^ *(Client->>Server|Server-->>Client): (.*)$")
AUTH_BLOB = "AGRlbW8AZGVtbw"  # base64 of \0demo\0demo, the AUTH PLAIN that worked


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    log = tmp_path_factory.mktemp("view") / "session.log"

    async def scenario() -> None:
        async with practice() as server:
            engine, _ = await engine_for(server, transcript=str(log))
            await lines(engine, *SESSION)
            engine.stop_transcript()

    run(scenario())
    text = log.read_text()
    assert WRONG not in text and f"I: :authplain demo {MASK}" in text  # masked at the source
    return log


def assert_no_secret(text: str) -> None:
    for form in {WRONG, AUTH_BLOB, *secret_forms(WRONG)}:
        assert form not in text
    assert MASK in text


# -- Mermaid ---------------------------------------------------------------------------


def test_mermaid_has_an_arrow_per_command_and_reply_in_order(session: Path) -> None:
    diagram = render_file(str(session), "mermaid").splitlines()
    assert diagram[0] == "sequenceDiagram"
    assert diagram[1] == "    participant Client"
    assert re.fullmatch(r"    participant Server as 127\.0\.0\.1:\d+", diagram[2])
    arrows = [(m.group(1)[0], m.group(2)) for line in diagram if (m := ARROW.match(line))]
    assert len(arrows) == len(ARROWS), arrows
    for (who, text), (want_who, start) in zip(arrows, ARROWS, strict=True):
        assert (who, text[:len(start)]) == (want_who, start)
    ehlo = arrows[6][1].split("<br/>")  # the multi-line reply is one arrow
    assert ehlo[-1] == "250 HELP" and any(part.startswith("250-AUTH ") for part in ehlo)


def test_mermaid_boxes_the_tls_part_and_keeps_message_text_compact(session: Path) -> None:
    diagram = render_file(str(session), "mermaid").splitlines()
    opened = [i for i, line in enumerate(diagram) if line.strip().startswith("rect ")]
    assert len(opened) == 1 and [line.strip() for line in diagram].count("end") == 1
    assert diagram[opened[0] - 1] == "    Server-->>Client: 220 Ready to start TLS"
    assert re.fullmatch(r" {8}Note over Client,Server: TLS is up: TLSv1\.[23] \S+, verified",
                        diagram[opened[0] + 1])
    assert diagram[-1] == "    end"
    assert all(line.startswith(" " * 8) for line in diagram[opened[0] + 1:-1])
    sent = [m.group(2) for line in diagram if (m := ARROW.match(line)) and m.group(1)[0] == "C"]
    assert "body line" not in sent and not any(s.startswith("Subject") for s in sent)
    assert "    Note left of Client: typed :starttls" in diagram
    assert f"        Note left of Client: typed :authplain demo {MASK}" in diagram
    assert not any("typed EHLO" in line for line in diagram)  # typed as sent: the arrow says it


def test_mermaid_text_cannot_break_the_diagram(session: Path) -> None:
    diagram = render_file(str(session), "mermaid").splitlines()
    for line in diagram[3:]:
        if line.strip().startswith(("rect ", "end")):
            continue
        head, sep, text = line.partition(": ")
        assert sep and head.strip().startswith(("Client->>", "Server-->>", "Note ")), line
        bare = re.sub(r"#\d+;", "", text).replace("<br/>", "")
        assert not set(bare) & set("#;<>&\n"), line
        assert not re.match(r":?(no)?wrap:", text), line
    assert_no_secret("\n".join(diagram))


def test_mermaid_escapes_and_makes_server_text_inert() -> None:
    entries = parse("C: NOOP a;b #c <d> & e\nC: wrap:me\nS: 250 \x1b[31mred\nS: 250 \u202eevil\n")
    diagram = to_mermaid(entries)
    assert "Client->>Server: NOOP a#59;b #35;c #60;d#62; #38; e\n" in diagram
    assert "Client->>Server: wrap#58;me\n" in diagram
    assert "Server-->>Client: 250 \\x1b[31mred\n" in diagram and "\x1b" not in diagram
    assert "\u202e" not in diagram


def test_a_long_reply_is_cut_in_its_arrow() -> None:
    text = "".join(f"S: 214-line {n}\n" for n in range(20)) + "S: 214 end\n"
    (entry,) = parse(text)
    assert entry.kind == "reply" and len(entry.texts) == 21
    arrow = to_mermaid([entry]).splitlines()[-1]
    assert arrow.count("<br/>") == 12 and arrow.endswith("<br/>… 9 more lines")


# -- HTML ------------------------------------------------------------------------------

VOID = {"meta", "br", "hr", "img", "input", "link", "wbr"}


class Page(HTMLParser):
    """Checks the nesting as it reads; keeps every element, the title, the table rows."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.doctype = ""
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.rows: list[tuple[str, list[str]]] = []  # (class, text of each cell)
        self.texts: dict[str, str] = {"title": "", "style": ""}

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag == "tr":
            self.rows.append((dict(attrs).get("class") or "", []))
        elif tag == "td":
            self.rows[-1][1].append("")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes <{self.stack[-1] if self.stack else ''}>")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1] in self.texts:
            self.texts[self.stack[-1]] += data
        if "td" in self.stack:
            self.rows[-1][1][-1] += data


def read_page(text: str) -> Page:
    page = Page()
    page.feed(text)
    page.close()
    assert page.problems == [] and page.stack == []
    assert page.doctype.lower() == "doctype html"
    return page


def replies_in(transcript: str) -> list[Reply]:
    """The transcript's replies, grouped here without the module: NNN- goes on."""
    replies: list[list[str]] = []
    going_on = False
    for line in transcript.splitlines():
        found = re.search(r" S: (.*)$", line)
        if found is None:
            continue
        text = found.group(1)
        if not going_on:
            replies.append([])
        replies[-1].append(text)
        going_on = text[3:4] == "-"
    return [Reply(int(group[0][:3]), tuple(group)) for group in replies]


def normal(text: str) -> str:
    return " ".join(text.split())


def test_html_is_one_self_contained_well_formed_page(session: Path) -> None:
    page = read_page(render_file(str(session), "html"))
    tags = [tag for tag, _ in page.elements]
    assert tags[:3] == ["html", "head", "meta"] and page.elements[2][1] == {"charset": "utf-8"}
    assert page.texts["title"] == "SMTP session: session.log"
    assert "style" in tags and ".hl " in page.texts["style"]
    assert not {"script", "link", "iframe", "img", "object", "embed"} & set(tags)
    assert all(not {"src", "href"} & set(attrs) for _, attrs in page.elements)
    assert "url(" not in page.texts["style"] and "@import" not in page.texts["style"]


def test_html_shows_every_reply_with_its_explanation_beside_it(session: Path) -> None:
    transcript = session.read_text()
    page = read_page(render_file(str(session), "html"))
    rows = [(css, cells) for css, cells in page.rows if cells]
    shown = [(css, cells) for css, cells in rows if "reply" in css.split()]
    expected = replies_in(transcript)
    assert len(shown) == len(expected) == len(ARROWS) // 2 + 1
    for (css, (line, explained)), reply in zip(shown, expected, strict=True):
        assert all(text in line for text in reply.lines)
        meaning = plain(explain_line(reply)).strip().removeprefix("↳").strip()
        assert normal(explained) == normal(meaning)
        assert ("failed" in css.split()) == reply.failed
    # the whole transcript is there, line by line, message text folded in <details>
    cells = "\n".join(cells[0] for _, cells in rows)
    assert all(line in cells for line in transcript.splitlines())
    assert ("summary", {}) in page.elements
    assert_no_secret(render_file(str(session), "html"))


def test_html_escapes_the_title_and_the_text() -> None:
    entries = parse("C: MAIL FROM:<a@example.com>\nS: 250 <b>ok</b> & \x07\n")
    text = to_html(entries, "<script>alert(1)</script>")
    page = read_page(text)
    assert "<script>" not in text and "<b>" not in text and "\x07" not in text
    assert page.texts["title"] == "<script>alert(1)</script>"
    assert [cells[0].strip() for _, cells in page.rows if cells] == [
        "C: MAIL FROM:<a@example.com>", "S: 250 <b>ok</b> & \\x07"]


def test_a_line_with_no_code_is_explained_as_no_smtp_reply() -> None:
    entries = parse("S: SSH-2.0-OpenSSH_9.6\n")
    assert entries[0].reply() == Reply(None, ("SSH-2.0-OpenSSH_9.6",))
    page = read_page(to_html(entries, "ssh"))
    assert "not an SMTP reply" in page.rows[-1][1][1] and "SSH" in page.rows[-1][1][1]


# -- reading ---------------------------------------------------------------------------

RFC = """# a hand-written dialogue, RFC 5321 style
S: 220 mx.example ESMTP
C: EHLO rfc.example
S: 250-mx.example
S: 250-STARTTLS
S: 250 CHUNKING
C: STARTTLS
S: 220 go ahead
C: EHLO rfc.example
S: 250 mx.example
C: MAIL FROM:<a@example.com>
S: 250 OK
C: DATA
S: 354 go on
C: Subject: rfc
C:
C: ..dotted
C: .
S: 250 queued
C: BDAT 12 LAST
C: Hello there
S: 250 queued
C: QUIT
S: 221 bye
"""


def test_an_rfc_style_dialogue_reads_and_renders() -> None:
    entries = parse(RFC)
    kinds = [e.kind for e in entries]
    assert kinds == ["comment", "reply", "command", "reply", "command", "reply", "command",
                     "reply", "command", "reply", "command", "reply", "message", "reply",
                     "command", "chunk", "reply", "command", "reply"]
    assert entries[3].texts == ("250-mx.example", "250-STARTTLS", "250 CHUNKING")
    assert entries[12].texts == ("Subject: rfc", "", "..dotted", ".")
    assert entries[15].texts == ("Hello there",)
    assert [e.layer for e in entries[1:7]] == ["plain"] * 5 + ["tls"]  # after the 220
    diagram = to_mermaid(entries).splitlines()
    assert diagram[2] == "    participant Server"
    at = diagram.index("    Server-->>Client: 220 go ahead")
    assert diagram[at + 1:at + 3] == ["    rect rgb(225, 245, 230)",
                                      "        Note over Client,Server: TLS from here"]
    assert '        Client->>Server: message text (3 lines, Subject: rfc), then "."' in diagram
    assert "        Client->>Server: BDAT chunk (1 line)" in diagram
    assert diagram[-1] == "    end"
    read_page(to_html(entries, "rfc"))


def test_timestamped_lines_keep_their_layer_and_typed_data_is_message_text() -> None:
    stamp = "2026-11-29T11:23:28.046Z"
    text = "\r\n".join(f"{stamp} {line}" for line in [
        "plain I: DATA", "plain C: DATA", "plain S: 354 go", "plain I: Subject: x",
        "plain C: Subject: x", "plain I: .", "plain C: .", "tls   S: 250 ok",
        "tls   *  closed: the server closed the connection"])
    entries = parse("\ufeff" + text)
    assert [e.kind for e in entries] == ["typed", "command", "reply", "message", "reply",
                                         "event"]
    assert entries[3].texts == ("Subject: x", ".") and len(entries[3].raw) == 4
    assert [e.layer for e in entries] == ["plain"] * 4 + ["tls"] * 2
    assert entries[5].text == "closed: the server closed the connection"


def test_the_tls_box_says_where_tls_began() -> None:
    stamp = "2026-11-29T11:23:28.046Z"
    implicit = parse(f"{stamp} tls   *  connected to ::1:465, TLSv1.3\n"
                     f"{stamp} tls   S: 220 mx.example\n")
    diagram = to_mermaid(implicit).splitlines()
    assert diagram[2:5] == ["    participant Server as [::1]:465", "    rect rgb(225, 245, 230)",
                            "        Note over Client,Server: connected to ::1:465, TLSv1.3"]
    midway = parse(f"{stamp} tls   *  smtpshell transcript started\n{stamp} tls   C: NOOP\n")
    diagram = to_mermaid(midway).splitlines()  # started with TLS already up: say so
    assert diagram[3:6] == ["    rect rgb(225, 245, 230)",
                            "        Note over Client,Server: TLS from here",
                            "        Note over Client,Server: smtpshell transcript started"]


def test_message_text_without_its_dot_says_so() -> None:
    entries = parse("C: DATA\nS: 354 go\nC: Subject: cut\nC: half\n*  closed: gone\n")
    assert entries[2].kind == "message" and entries[3].kind == "event"
    assert 'message text (2 lines, Subject: cut), not ended with "."' in to_mermaid(entries)


@pytest.mark.parametrize(("text", "number", "why"), [
    ("C: EHLO x\nS: 250 ok\nhello world\n", 3, "'hello world' starts with none of"),
    ("2026-11-29T11:23:28.046Z plain C: EHLO\n2026-11-29T11:23:28.046Z warm C: x\n", 2,
     "the layer after the timestamp is 'warm'"),
    ("# c\n\n2026-11-29T11:23:28.046Z tls   X: what\n", 3, "after the timestamp and layer"),
    ("S: 220 hi\nc: lower case\n", 2, "starts with none of"),
])
def test_a_line_that_is_no_transcript_line_is_a_usage_error(text: str, number: int,
                                                            why: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse(text)
    assert str(caught.value).startswith(f"line {number} is not a transcript line: ")
    assert why in str(caught.value) and caught.value.hint


def test_an_empty_transcript_is_an_empty_session_but_no_file_to_render(tmp_path: Path) -> None:
    assert parse("") == [] and parse("\n  \n") == []
    assert to_mermaid([]) == ("sequenceDiagram\n    participant Client\n    participant Server\n"
                              "    Note over Client,Server: no session in this transcript\n")
    assert "No session" in to_html([], "empty") and read_page(to_html([], "empty"))
    for content in ("", "# smtpshell transcript (replay it with --script)\n"):
        empty = tmp_path / "empty.log"
        empty.write_text(content)
        with pytest.raises(UsageError, match="holds no transcript lines"):
            render_file(str(empty), "mermaid")


def test_render_file_refuses_what_it_cannot_read(tmp_path: Path) -> None:
    latin = tmp_path / "latin.log"
    latin.write_bytes(b"C: EHLO caf\xe9\n")
    with pytest.raises(UsageError, match=re.escape(f"{latin} is not UTF-8")):
        render_file(str(latin), "html")
    with pytest.raises(UsageError, match="cannot read"):
        render_file(str(tmp_path / "missing.log"), "mermaid")
    with pytest.raises(UsageError, match="cannot read"):
        render_file(str(tmp_path), "mermaid")
    with pytest.raises(UsageError, match="the formats are mermaid and html"):
        render_file(str(latin), "svg")
    bad = tmp_path / "bad.log"
    bad.write_text("C: EHLO x\nnonsense\n")
    with pytest.raises(UsageError, match=re.escape(f"{bad}: line 2 is not a transcript line")):
        render_file(str(bad), "mermaid")


def test_entries_are_plain_values() -> None:
    (entry,) = parse("S: 250 ok\n")
    assert entry == Entry("reply", ("250 ok",), ("S: 250 ok",), 1, "plain")
    assert Entry("command", ("NOOP",), ("C: NOOP",), 1, "plain").reply() is None


def test_importing_the_module_leaves_pygments_alone() -> None:
    probe = "import sys, smtpshell.sessionview; print('pygments' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=60, check=True)
    assert result.stdout.strip() == "False"
