"""The name rule the server sends the browser is the rule it enforces."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from driver.auth.accounts import name_error, password_error
from driver.auth.rules import NAME_PATTERN, login_rules

# Names as people type them: letters, digits, the odd underscore, accents.
names = st.text(alphabet=st.sampled_from("abcxyzABCXYZ019_- éÅ"), max_size=20)


@given(names)
def test_the_served_name_pattern_accepts_exactly_what_the_server_accepts(name: str) -> None:
    assert (re.fullmatch(login_rules()["name"]["pattern"], name) is not None) == (name_error(name) is None)


def test_bob_2_is_refused_by_both() -> None:
    assert re.fullmatch(NAME_PATTERN, "Bob_2") is None and name_error("Bob_2") is not None


def test_the_served_password_length_is_the_servers() -> None:
    shortest = login_rules()["password"]["minLength"]
    assert password_error("x" * (shortest - 1), "ann") is not None
    assert password_error("x" * shortest, "ann") is None
