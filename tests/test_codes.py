"""The reply-code tables: their shape, their citations, and the three look-ups."""

from __future__ import annotations

import re

import pytest

from smtpshell.codes import (
    BASIC_CODES,
    CLASSES,
    ENHANCED_CODES,
    SUBJECTS,
    BasicCode,
    EnhancedCode,
    basic,
    describe_class,
    enhanced,
)

# Every code RFC 5321 §4.2.3 lists, in its order.
RFC5321_CODES = (211, 214, 220, 221, 250, 251, 252, 354, 421, 450, 451, 452, 455,
                 500, 501, 502, 503, 504, 550, 551, 552, 553, 554, 555)
ENTRIES: list[BasicCode | EnhancedCode] = [*BASIC_CODES.values(), *ENHANCED_CODES.values()]


def entry_id(entry: BasicCode | EnhancedCode) -> str:
    return str(entry.code) if isinstance(entry, BasicCode) else entry.detail


@pytest.mark.parametrize("key", sorted(BASIC_CODES))
def test_basic_key_is_its_code_with_a_first_digit_from_2_to_5(key: int) -> None:
    entry = BASIC_CODES[key]
    assert entry.code == key
    assert 200 <= key <= 599
    assert str(key)[0] in "2345"


@pytest.mark.parametrize("key", sorted(ENHANCED_CODES))
def test_enhanced_key_is_subject_dot_detail(key: str) -> None:
    assert re.fullmatch(r"[0-7]\.\d{1,3}", key)
    assert ENHANCED_CODES[key].detail == key


@pytest.mark.parametrize("entry", ENTRIES, ids=entry_id)
def test_every_entry_says_what_it_means_what_to_do_and_where_it_is_defined(
        entry: BasicCode | EnhancedCode) -> None:
    for text in (entry.meaning, entry.next_step, entry.rfc):
        assert text.strip() == text and text
        assert "\n" not in text
    assert entry.rfc.startswith("RFC ")
    assert entry.meaning != entry.next_step


@pytest.mark.parametrize("key", sorted(ENHANCED_CODES))
def test_enhanced_classes_are_sorted_distinct_and_from_2_4_5(key: str) -> None:
    classes = ENHANCED_CODES[key].classes
    assert classes
    assert set(classes) <= {2, 4, 5}
    assert list(classes) == sorted(set(classes))
    assert ENHANCED_CODES[key].name


def test_the_tables_hold_every_code_of_their_sources() -> None:
    for code in RFC5321_CODES:
        assert BASIC_CODES[code].rfc == "RFC 5321 §4.2.3"
    added = {235, 334, 432, 454, 530, 534, 535, 538, 521, 556}
    assert set(BASIC_CODES) == set(RFC5321_CODES) | added
    assert len(BASIC_CODES) == 34
    # The IANA registry: X.0.0, X.1.0-10, X.2.0-4, X.3.0-6, X.4.0-7, X.5.0-6, X.6.0-10, X.7.0-30
    ranges = {0: 0, 1: 10, 2: 4, 3: 6, 4: 7, 5: 6, 6: 10, 7: 30}
    expected = {f"{s}.{d}" for s, last in ranges.items() for d in range(last + 1)}
    assert set(ENHANCED_CODES) == expected
    assert len(ENHANCED_CODES) == 81


def test_class_and_subject_digits_are_all_described() -> None:
    assert set(CLASSES) == {2, 4, 5}
    assert set(SUBJECTS) == set(range(8))
    assert "ermanent" in CLASSES[5] and "transient" in CLASSES[4]
    assert "ecurity" in SUBJECTS[7]


def test_enhanced_5_7_8_is_the_rfc_4954_credentials_code() -> None:
    entry = enhanced("5.7.8")
    assert entry is not None
    assert entry.name == "Authentication credentials invalid"
    assert entry.rfc.startswith("RFC 4954")
    assert "password" in entry.next_step


def test_enhanced_refuses_a_class_the_registry_does_not_give() -> None:
    # X.7.8 is registered with 535 and 554 only: there is no 2.7.8 or 4.7.8.
    assert ENHANCED_CODES["7.8"].classes == (5,)
    assert enhanced("2.7.8") is None
    assert enhanced("4.7.8") is None
    assert enhanced("5.1.5") is None  # X.1.5 reports a valid address: success only
    assert enhanced("2.1.5") is ENHANCED_CODES["1.5"]


@pytest.mark.parametrize("code", ["2.0.0", "2.1.0", "2.1.5", "2.6.0", "2.7.0", "4.2.2",
                                  "5.2.2", "4.7.1", "5.7.1", "5.1.1", "4.4.7", "5.7.26",
                                  "5.1.10", "4.7.12", "5.7.30"])
def test_enhanced_finds_codes_servers_send(code: str) -> None:
    entry = enhanced(code)
    assert entry is not None
    assert entry.detail == code.split(".", 1)[1]


@pytest.mark.parametrize("code", ["", "5.7", ".".join("5781"), "3.7.8", "1.0.0", "X.7.8",
                                  "5.7.99", "5.8.1", "5.7.1000", "5 .7.8", "five"])
def test_enhanced_returns_none_for_malformed_or_unregistered(code: str) -> None:
    assert enhanced(code) is None


def test_enhanced_ignores_surrounding_blanks() -> None:
    assert enhanced(" 5.7.8\n") is ENHANCED_CODES["7.8"]


def test_later_registrations_cite_their_rfc() -> None:
    assert "7505" in ENHANCED_CODES["1.10"].rfc and "7505" in ENHANCED_CODES["7.27"].rfc
    assert "3886" in ENHANCED_CODES["1.9"].rfc
    assert "4468" in ENHANCED_CODES["6.6"].rfc
    assert all("6531" in ENHANCED_CODES[f"6.{d}"].rfc for d in (7, 8, 9, 10))
    assert all("7372" in ENHANCED_CODES[f"7.{d}"].rfc for d in range(20, 27))
    assert "8689" in ENHANCED_CODES["7.30"].rfc
    assert ENHANCED_CODES["1.1"].rfc == "RFC 3463 §3.2"


def test_basic_looks_up_exact_codes_only() -> None:
    entry = basic(535)
    assert entry is not None
    assert "RFC 4954" in entry.rfc
    assert "password" in entry.next_step
    assert basic(550) is BASIC_CODES[550]
    assert basic(556) is not None and "RFC 7504" in BASIC_CODES[556].rfc
    assert basic(599) is None
    assert basic(55) is None


@pytest.mark.parametrize(("code", "words"), [
    (599, ("permanent",)),
    (471, ("transient", "later")),
    (299, ("success",)),
    (399, ("more input",)),
    (520, ("permanent", "connection")),
    (507, ("syntax",)),
    (517, ("information",)),
    (538, ("unspecified",)),
    (559, ("mail system",)),
])
def test_describe_class_reads_the_first_two_digits(code: int, words: tuple[str, ...]) -> None:
    sentence = describe_class(code).lower()
    for word in words:
        assert word in sentence


@pytest.mark.parametrize("code", [199, 600, 42, 1000, -250])
def test_describe_class_says_when_a_number_is_no_reply_code(code: int) -> None:
    sentence = describe_class(code)
    assert "not an SMTP reply code" in sentence
    assert "permanent" not in sentence.lower()
