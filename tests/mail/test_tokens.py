"""Signed-link ids parsed at the edge (issue 8, finding 8): whatever a link carries, the parser
answers an id that fits the store's INTEGER column or nothing, and never raises."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.mail.tokens import MAX_ID, sign, subscriber_id, verify, verify_confirm

SOME = settings(max_examples=200, deadline=None)


@SOME
@given(st.text())
def test_any_link_gives_an_id_that_fits_the_store_or_none(value: str) -> None:
    found = subscriber_id(value)
    assert found is None or 0 <= found <= MAX_ID
    secrets = {} if found is None else {found: "secret"}
    assert verify(value, "unsubscribe", secrets) in (None, found)
    assert verify_confirm(value, secrets, 0.0) in (None, found)


@SOME
@given(st.text(), st.text())
def test_any_signature_or_expiry_is_checked_without_raising(signature: str, expires: str) -> None:
    assert verify(f"1.{signature}", "unsubscribe", {1: "secret"}) is None
    assert verify_confirm(f"1.{expires}.{signature}", {1: "secret"}, 0.0) is None


@SOME
@given(st.integers(0, MAX_ID))
def test_every_id_the_store_can_hold_is_read_back(number: int) -> None:
    assert subscriber_id(f"{number}.{sign('secret', 'manage')}") == number
    assert verify(f"{number}.{sign('secret', 'manage')}", "manage", {number: "secret"}) == number


def test_digits_of_other_scripts_and_huge_numbers_are_no_id() -> None:
    for value in ("\u00b2.x", "\u0661.x", "\uff11.x", "9" * 20 + ".x", f"{MAX_ID + 1}.x", " 1.x"):
        assert subscriber_id(value) is None, value
