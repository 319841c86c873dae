"""The API's JSON parser: strict JSON, bounded depth, and only text the hub can store.

Three things in a JSON body are refused with 400, on every JSON endpoint (this parser for
the DRF views; :func:`check_json` and :data:`DEPTH_MESSAGE` for the places that decode a
body themselves with msgspec, in ``api/schema.py``):

- objects and lists nested more than :data:`MAX_JSON_DEPTH` levels deep. Python's parsers
  recurse once per level and raise ``RecursionError`` (a 500) a few hundred levels down,
  and no body the hub reads needs more than a handful of levels;
- NUL characters (U+0000): PostgreSQL text and JSON columns cannot hold them, while SQLite
  can, so refusing them at the door gives one clear 400 on both, instead of a 500 on one
  and stored data on the other;
- lone UTF-16 surrogates (``"\\ud800"`` not followed by a low surrogate): they are not
  characters, cannot be encoded as UTF-8, and PostgreSQL refuses them. A valid pair
  (``"\\ud83d\\ude00"``) decodes to one character and is accepted.
"""

from __future__ import annotations

import re
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from api.schema import NUL_MESSAGE, Invalid

# Objects and lists inside one another; the deepest body the hub reads (a run's params or
# hardware) needs 3. The documented limit (docs/api-contract.md, "Request limits").
MAX_JSON_DEPTH = 64
DEPTH_MESSAGE = (
    f"The JSON body nests objects and lists more than {MAX_JSON_DEPTH} levels deep; "
    f"the hub reads at most {MAX_JSON_DEPTH} levels."
)
SURROGATE_MESSAGE = (
    "Text in the body contains a lone UTF-16 surrogate ({escape}), which is not a "
    "character; send text as valid Unicode (a surrogate only as half of a pair)."
)
# A str decoded from JSON holds a surrogate code point only when it came unpaired.
_SURROGATE = re.compile("[\ud800-\udfff]")


def json_problem(value: Any) -> str | None:
    """Why the hub refuses a decoded JSON value (too deep, a NUL, a lone surrogate), or None.

    Iterative, so a value of any depth is walked without recursion.
    """
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return NUL_MESSAGE
            surrogate = _SURROGATE.search(item)
            if surrogate:
                return SURROGATE_MESSAGE.format(escape=f"\\u{ord(surrogate.group()):04x}")
        elif isinstance(item, dict | list):
            if depth == MAX_JSON_DEPTH:
                return DEPTH_MESSAGE
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
    return None


def check_json(value: Any) -> None:
    """Raise :class:`api.schema.Invalid` (a 400) when :func:`json_problem` finds one.

    For code that decodes a body itself: call it on the decoded value, and answer
    ``Invalid(DEPTH_MESSAGE)`` when the decoder raises ``RecursionError``.
    """
    problem = json_problem(value)
    if problem:
        raise Invalid(problem)


class StrictJSONParser(JSONParser):
    """JSONParser that refuses NaN/Infinity (DRF's strict mode), bodies nested deeper than
    MAX_JSON_DEPTH, NUL characters and lone surrogates."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(DEPTH_MESSAGE) from None
        problem = json_problem(data)
        if problem:
            raise ParseError(problem)
        return data
