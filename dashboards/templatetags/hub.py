"""Template filters that print every number with its unit (see dashboards.formatting)."""

from __future__ import annotations

from typing import Any

from django import template

from dashboards import formatting

register = template.Library()

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
