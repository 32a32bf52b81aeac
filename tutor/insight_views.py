"""Instructor insights: a course's figures per step, charts, the most common questions, and a
CSV of the figures. For the course's instructors (and staff) only."""

from __future__ import annotations

import csv

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from eureka import access
from eureka.http import AuthenticatedHttpRequest
from tutor import charts, insights
from tutor.models import Escalation

TEMPLATE = "tutor/insights/{}.html"
TOP_QUESTIONS = 10


def _percent(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.0f}%"


def _charts(data: insights.CourseInsights) -> dict[str, object]:
    steps = data.steps
    reasons = data.reasons.most_common()
    return {
        "stuck": charts.bar_chart_svg(
            "Stuck rate per step",
            [(s.title, s.stuck_rate, _percent(s.stuck_rate)) for s in steps],
            maximum=1.0,
        ),
        "reached": charts.bar_chart_svg(
            "Students reaching each step, and those who left there",
            [(s.title, float(s.reached), f"{s.reached} ({s.left_here} left)") for s in steps],
            overlay=[float(s.left_here) for s in steps],
            overlay_label=f"left the course here ({insights.DROP_OFF_AFTER.days}+ days away)",
        ),
        "time": charts.bar_chart_svg(
            "Median minutes on each step",
            [
                (
                    s.title,
                    None if s.median_seconds is None else s.median_seconds / 60,
                    "" if s.median_seconds is None else f"{s.median_seconds / 60:.1f} min",
                )
                for s in steps
            ],
        ),
        "gain": charts.bar_chart_svg(
            "Mastery gained per minute of study",
            [
                (
                    s.title,
                    s.mastery_per_minute,
                    "" if s.mastery_per_minute is None else f"{s.mastery_per_minute:.3f}/min",
                )
                for s in steps
            ],
        ),
        "hints": charts.bar_chart_svg(
            "Share of started exercises with a hint",
            [(s.title, s.hint_rate, _percent(s.hint_rate)) for s in steps],
            maximum=1.0,
        ),
        "reasons": charts.bar_chart_svg(
            "Escalations by reason",
            [(reason, float(n), str(n)) for reason, n in reasons],
        )
        if reasons
        else None,
    }


@require_GET
@login_required
def course_insights(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    course = access.access_course_for_edit(request.user, slug)
    data = insights.course_insights(course)
    questions = insights.common_questions(course)
    return render(
        request,
        TEMPLATE.format("course"),
        {
            "course": course,
            "data": data,
            "charts": _charts(data),
            "questions": questions,
            "top_questions": questions.clusters[:TOP_QUESTIONS],
            "drop_off_days": insights.DROP_OFF_AFTER.days,
        },
    )


@require_GET
@login_required
def step_insights(request: AuthenticatedHttpRequest, slug: str, step: str) -> HttpResponse:
    course = access.access_course_for_edit(request.user, slug)
    data = insights.course_insights(course)
    figures = data.step(step)
    if figures is None:
        raise Http404("No such step in the course's latest version.")
    questions = insights.common_questions(course, step_slug=step)
    cases = (
        Escalation.objects.filter(course=course, step_slug=step)
        .select_related("student")
        .order_by("-created_at")[:20]
    )
    return render(
        request,
        TEMPLATE.format("step"),
        {
            "course": course,
            "step": figures,
            "questions": questions,
            "cases": cases,
            "drop_off_days": insights.DROP_OFF_AFTER.days,
        },
    )


@require_GET
@login_required
def course_insights_csv(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    course = access.access_course_for_edit(request.user, slug)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{course.slug}-insights.csv"'
    writer = csv.writer(response)
    for row in insights.csv_rows(insights.course_insights(course)):
        writer.writerow([_as_text(c) for c in row])
    return response


def _as_text(cell: str) -> str:
    """A text cell that a spreadsheet would run as a formula (a title starting with "=", say)
    gets a leading quote; numbers, negative ones included, are left as they are."""
    if cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
        try:
            float(cell)
        except ValueError:
            return "'" + cell
    return cell
