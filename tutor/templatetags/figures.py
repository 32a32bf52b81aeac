"""Filters for figures on the insights pages: a share as a percentage, seconds as minutes.
A missing figure shows as a dash."""

from __future__ import annotations

from django import template

MISSING = "\N{EN DASH}"

register = template.Library()


@register.filter
def percent(value: float | None) -> str:
    return MISSING if value is None else f"{100 * value:.0f}%"


@register.filter
def minutes(seconds: float | None) -> str:
    return MISSING if seconds is None else f"{seconds / 60:.1f} min"


@register.filter
def number(value: float | None, digits: int = 2) -> str:
    return MISSING if value is None else f"{value:.{int(digits)}f}"
