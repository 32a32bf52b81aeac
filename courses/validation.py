"""Ramp validation, shared by `validate_course`, import and publish.

A ramp is valid when every step depends only on what came before it: each prerequisite of a step
(its own `requires`, and what the concepts it teaches require) is taught by an earlier step or
declared as prior knowledge; the concept graph has no cycle; every exercise can be answered,
solved and hinted; every concept taught is practised by an exercise and diagnosed by a probe.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from courses.spec import ConceptSpec, CourseSpec, ExerciseSpec, Problem, Source, StepSpec

Report = Callable[[str, Source | None], None]


def exercise_concepts(step: StepSpec, exercise: ExerciseSpec) -> list[str]:
    """The concepts an exercise or probe is about: its own list, else what its step teaches."""
    return exercise.concepts or step.teaches


def validate(course: CourseSpec) -> list[Problem]:
    problems: list[Problem] = []

    def add(message: str, source: Source | None) -> None:
        problems.append(Problem(message, source or course.source))

    concepts = {c.slug: c for c in course.concepts}
    for slug, count in Counter(c.slug for c in course.concepts).items():
        if count > 1:
            add(f"concept '{slug}' is defined {count} times", concepts[slug].source)
    for slug, count in Counter(ch.slug for ch in course.chapters).items():
        if count > 1:
            add(f"chapter '{slug}' appears {count} times", course.source)
    steps = course.steps()
    for slug, count in Counter(s.slug for s in steps).items():
        if count > 1:
            add(f"step '{slug}' is listed {count} times", course.source)
    if not steps:
        add("the course has no step: add a chapter with at least one step", course.source)

    # Concepts and their prerequisite edges.
    for concept in course.concepts:
        for required in concept.requires:
            if required not in concepts:
                add(
                    f"concept '{concept.slug}' requires unknown concept '{required}'",
                    concept.source,
                )
    for cycle in _cycles(
        {c.slug: [r for r in c.requires if r in concepts] for c in course.concepts}
    ):
        first = concepts[cycle[0]]
        add(f"concepts form a cycle: {' -> '.join([*cycle, cycle[0]])}", first.source)

    # The ramp: walk the steps in order, tracking what has been taught.
    taught: set[str] = {c.slug for c in course.concepts if c.prior_knowledge}
    taught_by: dict[str, str] = {}
    for step in steps:
        where = step.source
        for name, slugs in (("teaches", step.teaches), ("requires", step.requires)):
            for slug in slugs:
                if slug not in concepts:
                    add(f"step '{step.slug}' {name} unknown concept '{slug}'", where)
        for slug in step.requires:
            if slug in concepts and slug not in taught:
                later = _first_teacher(steps, slug)
                hint = f" (it is taught later, in step '{later}')" if later else ""
                add(
                    f"step '{step.slug}' requires concept '{slug}', which no earlier step teaches "
                    f"and which is not prior knowledge{hint}",
                    where,
                )
        for slug in step.teaches:
            taught_concept = concepts.get(slug)
            if taught_concept is None:
                continue
            if taught_concept.prior_knowledge:
                add(
                    f"step '{step.slug}' teaches concept '{slug}', "
                    "which is declared prior knowledge",
                    where,
                )
            for required in taught_concept.requires:
                if required in concepts and required not in taught and required not in step.teaches:
                    add(
                        f"step '{step.slug}' teaches concept '{slug}', which requires concept "
                        f"'{required}' that no earlier step teaches",
                        where,
                    )
        for slug in step.teaches:
            taught.add(slug)
            taught_by.setdefault(slug, step.slug)
        _check_items(step, concepts, add)

    for concept in course.concepts:
        if not concept.prior_knowledge and concept.slug not in taught_by:
            add(f"concept '{concept.slug}' is never taught by any step", concept.source)

    # Practice and diagnosis of every concept taught.
    practised = {c for s in steps for e in s.exercises for c in exercise_concepts(s, e)}
    probed = {c for s in steps for p in s.probes for c in exercise_concepts(s, p)}
    for slug, step_slug in taught_by.items():
        teacher = course.step(step_slug)
        source = teacher.source if teacher else None
        if slug not in practised:
            add(
                f"step '{step_slug}' teaches concept '{slug}', but no exercise practises it", source
            )
        if slug not in probed:
            add(f"step '{step_slug}' teaches concept '{slug}', but no probe diagnoses it", source)
    return problems


def _check_items(step: StepSpec, concepts: dict[str, ConceptSpec], add: Report) -> None:
    def problem(message: str, source: Source | None) -> None:
        add(message, source or step.source)

    seen = Counter(e.slug for e in [*step.exercises, *step.probes])
    for slug, count in seen.items():
        if count > 1:
            problem(
                f"step '{step.slug}' has {count} exercises or probes with slug '{slug}'",
                step.source,
            )
    for item, is_probe in [
        *((e, False) for e in step.exercises),
        *((p, True) for p in step.probes),
    ]:
        label = f"{'probe' if is_probe else 'exercise'} '{item.slug}' of step '{step.slug}'"
        for slug in item.concepts:
            if slug not in concepts:
                problem(f"{label} is about unknown concept '{slug}'", item.source)
        if not exercise_concepts(step, item):
            problem(f"{label} names no concept and its step teaches none", item.source)
        for message in answer_problems(item):
            problem(f"{label}: {message}", item.source)
        if not is_probe:
            if not item.hints:
                problem(f"{label} has no hint ladder: add at least one hint", item.source)
            if not item.solution.strip():
                problem(f"{label} has no worked solution", item.source)


def answer_problems(item: ExerciseSpec) -> list[str]:
    """What keeps an exercise from having a checkable correct answer."""
    if item.kind == "multiple_choice":
        problems = []
        if len(item.options) < 2:
            problems.append("a multiple-choice item needs at least two options")
        if not any(o.correct for o in item.options):
            problems.append("no option is marked correct")
        for option in item.options:
            if not option.correct and not option.misconception.strip():
                problems.append(f"wrong option {option.text!r} does not name its misconception")
        return problems
    if item.kind == "numeric":
        if item.answer is None:
            return ["a numeric item needs an answer"]
        if item.tolerance < 0:
            return ["tolerance cannot be negative"]
        return []
    if item.kind == "short_answer":
        if not [a for a in item.accepted if a.strip()]:
            return ["a short-answer item needs at least one accepted answer"]
        return []
    return []  # an unknown kind was already reported by the reader


def _first_teacher(steps: list[StepSpec], concept: str) -> str | None:
    return next((s.slug for s in steps if concept in s.teaches), None)


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Each cycle of the graph once, as the list of its nodes."""
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []
    seen_cycles: set[frozenset[str]] = set()

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt) :]
                key = frozenset(cycle)
                if key not in seen_cycles:
                    seen_cycles.add(key)
                    cycles.append(cycle)
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node)
    return cycles
