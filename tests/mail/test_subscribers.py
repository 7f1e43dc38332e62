"""Addresses are validated and normalised; CSV imports report bad rows by line, keep the rest."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.addresses import AddressError, normalise_address
from publisher.mail.lists import read_csv


@pytest.mark.parametrize(
    ("given_address", "kept"),
    [
        ("Alice@Example.COM", "Alice@example.com"),
        ("  bob@bücher.de ", "bob@bücher.de"),
        ("o'hara@example.org", "o'hara@example.org"),
        ("a.b+tag@EXAMPLE.org", "a.b+tag@example.org"),
    ],
)
def test_addresses_are_normalised_once(given_address: str, kept: str) -> None:
    assert normalise_address(given_address) == kept


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "bad",
        "x@localhost",
        "a@b.c\r\nRCPT TO:<evil@x.com>",
        "a@b.com\nBcc: evil@x.com",
        "a" * 250 + "@x.org",
        "a@@b.org",
    ],
)
def test_bad_addresses_are_refused_with_a_reason(bad: str) -> None:
    with pytest.raises(AddressError):
        normalise_address(bad)


@given(st.text(max_size=80))
@settings(max_examples=200, deadline=None)
def test_nothing_with_a_line_break_or_nul_gets_through(text: str) -> None:
    try:
        address = normalise_address(text)
    except AddressError:
        return
    assert not any(c in address for c in "\r\n\0") and "@" in address


def test_csv_keeps_good_rows_and_names_bad_lines() -> None:
    text = (
        "\ufeffEmail,Digests\n"
        "alice@example.org,daily\n"
        "not-an-address,daily\n"
        "\n"
        "# a comment\n"
        "bob@example.org,daily|weekly\n"
        "carol@example.org,monthly\n"
        "ALICE@example.org,weekly\n"
        "dave@example.org\n"
    )
    result = read_csv(text, ["daily", "weekly"])
    assert [(row.line, row.address, row.digests) for row in result.rows] == [
        (2, "alice@example.org", ("daily",)),
        (6, "bob@example.org", ("daily", "weekly")),
        (9, "dave@example.org", ()),
    ]
    assert [problem.split(":")[0] for problem in result.problems] == ["line 3", "line 7", "line 8"]
    assert "unknown digest(s) monthly" in result.problems[1]


def test_csv_without_header_reads_the_first_column() -> None:
    result = read_csv("erin@example.org\nfrank@example.org,daily\n", ["daily"])
    assert [row.address for row in result.rows] == ["erin@example.org", "frank@example.org"]
    assert result.problems == []
