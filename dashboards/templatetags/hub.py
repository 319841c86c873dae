"""Template filters that print every number with its unit (see dashboards.formatting)."""

from __future__ import annotations

import json
from typing import Any

from django import template

from dashboards import formatting

register = template.Library()
# The most of one stored value (a run's parameter, metric or hardware entry) a page shows;
# the API answers with the whole value.
MAX_SHOWN = 300

register.filter("kwh", formatting.energy)
register.filter("co2", formatting.mass)
register.filter("watts", formatting.power)
register.filter("num", formatting.number)
register.filter("pct", formatting.percent)
register.filter("dur", formatting.duration)


@register.filter
def gkwh(value: float | None) -> str:
    """Grid intensity in g CO2e/kWh."""
    return formatting.MISSING if value is None else f"{formatting.number(value)} g CO2e/kWh"


@register.filter
def get_item(mapping: Any, key: str) -> Any:
    """``mapping[key]`` or None, for JSON fields such as a run's metrics."""
    return mapping.get(key) if isinstance(mapping, dict) else None


@register.filter
def shown(value: Any) -> str:
    """A JSON value a client stored (params, metrics, hardware) as text: a string as it
    is, a number in full (with an exponent when huge), anything else as compact JSON, cut
    to :data:`MAX_SHOWN` characters. The template escapes the result."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        text = formatting.number(value) if abs(value) >= formatting.HUGE else str(value)
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except (RecursionError, ValueError):
            text = "(nested too deeply to show here)"
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "\N{HORIZONTAL ELLIPSIS}"
