"""The API's JSON parser: strict JSON, and no NUL characters anywhere.

PostgreSQL text and JSON columns cannot hold U+0000, while SQLite can: refusing it at the
door gives one clear 400 on both, instead of a 500 on one and stored data on the other.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


class StrictJSONParser(JSONParser):
    """JSONParser that refuses NaN/Infinity (DRF's strict mode) and NUL characters."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        if _has_nul(data):
            raise ParseError(
                "Text in the body contains a NUL character (\\u0000), which the hub does not store."
            )
        return data
