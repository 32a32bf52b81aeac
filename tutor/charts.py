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
