"""Small server-rendered SVG charts for the student's "what I know" page."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from courses.spec import CourseSpec
from courses.svg import concept_graph_svg


def mastery_graph_svg(spec: CourseSpec, mastery: Mapping[str, float | None]) -> SafeString:
    """The concept graph with each concept coloured by how well the student knows it."""
    return concept_graph_svg(spec, element_id="mastery-graph", mastery=mastery)


def progress_svg(
    answers: list[tuple[datetime, bool]], width: int = 640, height: int = 180
) -> SafeString:
    """Correct and wrong answers per day, as stacked bars, oldest on the left (last 30 days
    with activity)."""
    if not answers:
        return format_html('<p class="muted">{}</p>', "No answers yet: your progress shows here.")
    correct: Counter[str] = Counter()
    wrong: Counter[str] = Counter()
    for when, ok in answers:
        day = when.date().isoformat()
        (correct if ok else wrong)[day] += 1
    days = sorted(set(correct) | set(wrong))[-30:]
    top = max(correct[d] + wrong[d] for d in days)
    bar = max(8, (width - 40) // max(1, len(days)) - 4)
    usable = height - 40
    bars = []
    for i, day in enumerate(days):
        x = 30 + i * (bar + 4)
        good = correct[day] * usable // top
        bad = wrong[day] * usable // top
        base = height - 20
        bars.append(
            format_html(
                "<g><title>{}: {} right, {} not yet</title>"
                '<rect x="{}" y="{}" width="{}" height="{}" fill="#1b7f3b"/>'
                '<rect x="{}" y="{}" width="{}" height="{}" fill="#c4432b"/></g>',
                day,
                correct[day],
                wrong[day],
                x,
                base - good,
                bar,
                good,
                x,
                base - good - bad,
                bar,
                bad,
            )
        )
    total_right = sum(correct.values())
    total = total_right + sum(wrong.values())
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="progress-chart" role="img" '
        'aria-label="{}" viewBox="0 0 {} {}" width="100%" font-family="system-ui, sans-serif" '
        'font-size="11"><text x="30" y="14" fill="#57606a">{}</text>{}'
        '<text x="30" y="{}" fill="#57606a">{}</text></svg>',
        f"{total_right} of {total} answers right over {len(days)} day(s)",
        width,
        height,
        f"answers per day (max {top})",
        format_html_join("", "{}", ((b,) for b in bars)),
        height - 4,
        f"{days[0]} → {days[-1]}",
    )


def bar_chart_svg(
    label: str,
    bars: list[tuple[str, float | None, str]],
    *,
    maximum: float | None = None,
    overlay: list[float] | None = None,
    overlay_label: str = "",
    width: int = 640,
) -> SafeString:
    """Horizontal bars, one row per (name, value, value as text); None draws no bar and says
    "no data". With `overlay`, a second darker bar of that length is drawn over each row (the
    part of the value that `overlay_label` names)."""
    if not bars:
        return format_html('<p class="muted">{}</p>', "No steps yet.")
    row, left, right = 20, 230, 90
    top = maximum or max((v for _, v, _ in bars if v is not None), default=0) or 1
    usable = width - left - right
    rows = []
    for i, (name, value, text) in enumerate(bars):
        y = 6 + i * row
        length = 0 if value is None else max(0, min(1, value / top)) * usable
        extra = overlay[i] if overlay is not None else 0
        over = max(0, min(1, extra / top)) * usable if extra else 0
        short = name if len(name) <= 34 else name[:33] + "…"
        rows.append(
            format_html(
                '<g><title>{}: {}</title><text x="{}" y="{}" text-anchor="end">{}</text>'
                '<rect x="{}" y="{}" width="{}" height="{}" fill="#4a6fa5"/>'
                '<rect x="{}" y="{}" width="{}" height="{}" fill="#c4432b"/>'
                '<text x="{}" y="{}" fill="#57606a">{}</text></g>',
                name,
                text if value is not None else "no data",
                left - 6,
                y + 12,
                short,
                left,
                y + 2,
                f"{length:.1f}",
                row - 6,
                left,
                y + 2,
                f"{over:.1f}",
                row - 6,
                left + length + 4,
                y + 12,
                text if value is not None else "no data",
            )
        )
    height = 12 + len(bars) * row + (16 if overlay is not None else 0)
    legend = (
        format_html(
            '<rect x="{}" y="{}" width="10" height="10" fill="#c4432b"/>'
            '<text x="{}" y="{}" fill="#57606a">{}</text>',
            left,
            height - 14,
            left + 14,
            height - 5,
            overlay_label,
        )
        if overlay is not None
        else ""
    )
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="bar-chart" role="img" aria-label="{}" '
        'viewBox="0 0 {} {}" width="100%" font-family="system-ui, sans-serif" font-size="11">'
        "{}{}</svg>",
        label,
        width,
        height,
        format_html_join("", "{}", ((r,) for r in rows)),
        legend,
    )
