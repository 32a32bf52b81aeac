"""The LLM101n course as the tests see it: read once from `content/llm101n/` with the same
reader that `validate_course` and import use, plus small lookups by step and item slug."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from courses import fileformat
from courses.spec import CourseSpec, ExerciseSpec, StepSpec

COURSE_DIR = Path(__file__).resolve().parents[2] / "content" / "llm101n"
FENCE = re.compile(r"^```([\w+-]*)[ \t]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)


@cache
def course() -> CourseSpec:
    spec, problems, _ = fileformat.read_folder(COURSE_DIR)
    assert spec is not None, [str(p) for p in problems]
    assert not problems, [str(p) for p in problems]
    return spec


def step(slug: str) -> StepSpec:
    found = course().step(slug)
    assert found is not None, f"no step {slug!r} in LLM101n"
    return found


def item(step_slug: str, item_slug: str) -> ExerciseSpec:
    """An exercise or a probe of a step, by slug."""
    the_step = step(step_slug)
    for candidate in [*the_step.exercises, *the_step.probes]:
        if candidate.slug == item_slug:
            return candidate
    raise AssertionError(f"step {step_slug!r} has no exercise or probe {item_slug!r}")


def all_items() -> list[tuple[StepSpec, ExerciseSpec]]:
    return [(s, i) for s in course().steps() for i in [*s.exercises, *s.probes]]


def code_blocks(body: str) -> list[tuple[str, str]]:
    """The fenced code blocks of a Markdown body, in order, as (language, code)."""
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(body)]
