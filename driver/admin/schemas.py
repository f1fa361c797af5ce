"""The JSON Schemas of the API's request bodies, read from ``schemas/*.json``
once: the same files validate requests and are served to clients (and
embedded in the OpenAPI document), so what is published is what is enforced.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match


@dataclass(frozen=True, slots=True)
class Invalid:
    """Why a body does not match its schema: a message and where."""

    message: str
    at: str  # a JSON pointer into the body ("" for the whole body)


@functools.cache
def schemas() -> dict[str, dict[str, Any]]:
    """Every schema by its name (the file name without ``.json``)."""
    found: dict[str, dict[str, Any]] = {}
    for entry in resources.files(__package__).joinpath("schemas").iterdir():
        if entry.name.endswith(".json"):
            schema = json.loads(entry.read_text(encoding="utf-8"))
            Draft202012Validator.check_schema(schema)
            found[entry.name.removesuffix(".json")] = schema
    return dict(sorted(found.items()))


@functools.cache
def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(schemas()[name])


def check(name: str, value: Any) -> Invalid | None:
    """None if ``value`` matches the schema ``name``, else the best reason."""
    error = best_match(_validator(name).iter_errors(value))
    if error is None:
        return None
    pointer = "".join(f"/{part}" for part in error.absolute_path)
    return Invalid(error.message, pointer)
