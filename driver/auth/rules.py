"""The name and password rules as a client can read them.

The browser's login form checks a name before sending it, and says what a
name may be. If the page kept its own copy of the rule, the two would drift
apart (the form once allowed ``Bob_2``, which the server refuses). So the
server sends the rule it enforces to the page it is connected to (GMCP
``Char.Login.Rules``, see :mod:`driver.players.gateway`), made from the
same constants as :func:`~driver.auth.accounts.name_error` and
:func:`~driver.auth.accounts.password_error`.
"""

from __future__ import annotations

from typing import Any

from driver.auth.accounts import NAME_MAX, NAME_MIN, PASSWORD_MAX_BYTES, PASSWORD_MIN_CHARS

#: What :func:`~driver.auth.accounts.name_error` accepts, as a regular
#: expression in the syntax JavaScript and HTML ``pattern`` share.
NAME_PATTERN = f"[A-Za-z]{{{NAME_MIN},{NAME_MAX}}}"
NAME_HINT = f"{NAME_MIN} to {NAME_MAX} letters, a to z: no spaces, digits or accents."
PASSWORD_HINT = (
    f"At least {PASSWORD_MIN_CHARS} characters, not your name, and no space at either end."
)


def login_rules() -> dict[str, Any]:
    """The rules, for the client: a pattern and lengths to check, and the
    words to say them in."""
    return {
        "name": {
            "pattern": NAME_PATTERN,
            "minLength": NAME_MIN,
            "maxLength": NAME_MAX,
            "hint": NAME_HINT,
        },
        "password": {
            "minLength": PASSWORD_MIN_CHARS,
            "maxBytes": PASSWORD_MAX_BYTES,
            "hint": PASSWORD_HINT,
        },
    }
