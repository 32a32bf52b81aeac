"""The learner model on simulated students: placement, practice and challenge.

Simulated students have true knowledge states that respect the concept graph (a concept is known
only with its prerequisites), answer with slip 0.1 and guess 0.25 on multiple choice, 0.02
otherwise, and learn a concept they practise (once its prerequisites are known) with a
per-concept probability. The model learns as the web app does: mastery and ability per student,
each exercise's difficulty from every student's answers. Prints, per course:

  a. placement: per-concept accuracy and questions asked, adaptive probe against a fixed pretest
     of one question per concept (targets: accuracy >= 90%, at most a third of the questions);
  b. practice: exercises until every concept is mastered, adaptive policy against walking the
     ramp in order (target: at most 0.7 of the linear count, all students together); also the
     per-student medians and the median of the per-student ratios, how many linear walks ran
     into the cap (a walk that moves past a concept the student only guessed right never goes
     back to it, and can stall for good) and the ratio over the other students; and the fewest
     exercises any policy can need while it holds the students at the realised challenge, and
     at 0.65 (least_exercises): the price of the challenge target, whatever the policy;
  c. challenge: the realised success rate of the exercises the policy chose (target 0.65-0.85),
     beside the linear walk's.

    .venv/bin/python bench/adaptive_sim.py [--students 200] [--seed 1] [COURSE_FOLDER ...]
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import fsrs

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eureka.settings.test")

from courses import fileformat  # noqa: E402
from courses.spec import CourseSpec, ExerciseSpec, StepSpec  # noqa: E402
from courses.validation import exercise_concepts  # noqa: E402
from tutor import learner  # noqa: E402

SLIP = 0.1
MAX_EXERCISES = 3000
MINUTES_PER_EXERCISE = timedelta(minutes=2)


@dataclass
class SimStudent:
    known: set[str]
    learn_rate: dict[str, float]
    rng: random.Random
    parents: dict[str, list[str]] = field(default_factory=dict)

    def answers(self, concepts: list[str], kind: str) -> bool:
        if all(c in self.known for c in concepts):
            return self.rng.random() > SLIP
        return self.rng.random() < (0.25 if kind == "multiple_choice" else 0.02)

    def practise(self, concepts: list[str]) -> None:
        for concept in concepts:
            ready = all(p in self.known for p in self.parents.get(concept, []))
            if concept not in self.known and ready and self.rng.random() < self.learn_rate[concept]:
                self.known.add(concept)


def make_student(
    graph: learner.ConceptGraph, rng: random.Random, learn_rate: dict[str, float]
) -> SimStudent:
    level = rng.choice([0.0, rng.uniform(0.3, 1.0), rng.uniform(0.6, 1.0)])
    known: set[str] = set()
    for concept in graph.order:
        if all(p in known for p in graph.parents[concept]) and rng.random() < level:
            known.add(concept)
    return SimStudent(known, learn_rate, rng, graph.parents)


def run_probe(
    spec: CourseSpec, graph: learner.ConceptGraph, student: SimStudent
) -> tuple[dict[str, float], int]:
    beliefs = learner.prior_beliefs(graph)
    refs = learner.probe_refs(spec, graph)
    kinds = {(s.slug, p.slug): p.kind for s in spec.steps() for p in s.probes}
    asked: set[tuple[str, str]] = set()
    while len(asked) < learner.PROBE_CAP and not learner.settled(beliefs):
        probe = learner.choose_probe(beliefs, graph, refs, asked)
        if probe is None:
            break
        asked.add((probe.step_slug, probe.slug))
        correct = student.answers([probe.concept], kinds[(probe.step_slug, probe.slug)])
        beliefs = learner.observe(
            beliefs, graph, probe.concept, correct, slip=SLIP, guess=probe.guess
        )
    return beliefs, len(asked)


def run_pretest(
    spec: CourseSpec, graph: learner.ConceptGraph, student: SimStudent
) -> dict[str, bool]:
    """One question per concept (its first probe), each answer taken at face value."""
    first_probe: dict[str, ExerciseSpec] = {}
    for step in spec.steps():
        for probe in step.probes:
            for concept in exercise_concepts(step, probe):
                first_probe.setdefault(concept, probe)
    return {c: student.answers([c], first_probe[c].kind) for c in graph.order if c in first_probe}


class Reviews:
    """Spaced reviews of mastered concepts, scheduled by FSRS on a simulated clock."""

    def __init__(self) -> None:
        self.scheduler = fsrs.Scheduler(
            learning_steps=(), relearning_steps=(), enable_fuzzing=False
        )
        self.cards: dict[str, fsrs.Card] = {}
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def tick(self) -> None:
        self.now += MINUTES_PER_EXERCISE

    def due(self) -> list[str]:
        return [c for c, card in self.cards.items() if card.due <= self.now]

    def record(self, concept: str, correct: bool, mastered: bool) -> None:
        if concept not in self.cards and not mastered:
            return
        card = self.cards.get(concept) or fsrs.Card()
        rating = fsrs.Rating.Good if correct else fsrs.Rating.Again
        self.cards[concept], _ = self.scheduler.review_card(card, rating, self.now)


@dataclass
class ItemBank:
    """What the course learns about its exercises from every student, as the web app keeps it
    (one difficulty per exercise, shared by all students, with its count of answers)."""

    beta: dict[tuple[str, str], float] = field(default_factory=dict)
    answers: dict[tuple[str, str], int] = field(default_factory=dict)


def answer(
    spec: CourseSpec,
    state: learner.LearnerState,
    student: SimStudent,
    reviews: Reviews,
    graph: learner.ConceptGraph,
    step: StepSpec,
    exercise: ExerciseSpec,
    observations: dict[str, int],
    items: ItemBank,
) -> bool:
    """The student answers one exercise; the model updates mastery, ability and difficulty as
    the web app does (tutor.services.mastery_record_answer): the student's ability moves by
    less as their answers on the concept accumulate, the item's difficulty by less as its
    answers from all students accumulate."""
    params = learner.DEFAULT_PARAMS
    concepts = [c for c in exercise_concepts(step, exercise) if c in graph.names]
    predicted = learner.predict(state, step, exercise, {})
    state.last_was_review = learner.on_mastered_ground(state.mastery, concepts)
    correct = student.answers(concepts, exercise.kind)
    guess = learner.guess_rate(exercise, params)
    key = (step.slug, exercise.slug)
    for concept in concepts:
        state.mastery[concept] = learner.bkt_update(
            state.mastery.get(concept, params.init), correct, params, guess
        )
        state.theta[concept], items.beta[key] = learner.elo_update(
            theta=state.theta.get(concept, 0.0),
            beta=items.beta.get(key, learner.prior_difficulty(exercise.difficulty)),
            n_student=observations.get(concept, 0),
            n_item=items.answers.get(key, 0),
            correct=correct,
            predicted=predicted,
        )
        observations[concept] = observations.get(concept, 0) + 1
        reviews.record(concept, correct, state.mastery[concept] >= learner.MASTERY_THRESHOLD)
    items.answers[key] = items.answers.get(key, 0) + 1
    learner.record_streaks(state, spec, concepts, correct)
    state.recent.append(correct)
    if correct:
        state.solved.add(key)
    if all((step.slug, e.slug) in state.solved for e in step.exercises):
        state.completed_steps.add(step.slug)
    student.practise(concepts)
    reviews.tick()
    return correct


def all_mastered(state: learner.LearnerState, graph: learner.ConceptGraph) -> bool:
    return all(state.mastery.get(c, 0) >= learner.MASTERY_THRESHOLD for c in graph.order)


def practise_adaptive(
    spec: CourseSpec,
    graph: learner.ConceptGraph,
    student: SimStudent,
    mastery: dict[str, float],
    items: ItemBank,
) -> list[bool]:
    state = learner.LearnerState(mastery=dict(mastery), beta=items.beta)
    observations: dict[str, int] = {}
    reviews = Reviews()
    outcomes: list[bool] = []
    while len(outcomes) < MAX_EXERCISES and not all_mastered(state, graph):
        state.due_reviews = reviews.due()
        suggestion = learner.next_activity(spec, state)
        if suggestion is None:
            break
        step = spec.step(suggestion.step_slug)
        assert step is not None
        exercise = next(e for e in step.exercises if e.slug == suggestion.exercise_slug)
        outcomes.append(
            answer(spec, state, student, reviews, graph, step, exercise, observations, items)
        )
    return outcomes


def practise_linear(
    spec: CourseSpec, graph: learner.ConceptGraph, student: SimStudent
) -> list[bool]:
    """Walking the ramp in order: every exercise of each step, the step's exercises again until
    its concepts are mastered, then the next step."""
    state = learner.LearnerState(mastery={c: learner.DEFAULT_PARAMS.init for c in graph.order})
    observations: dict[str, int] = {}
    items = ItemBank()  # the linear walk's choices do not depend on difficulties
    reviews = Reviews()
    outcomes: list[bool] = []
    for step in spec.steps():
        rounds = 0
        while len(outcomes) < MAX_EXERCISES:
            for exercise in step.exercises:
                outcomes.append(
                    answer(
                        spec, state, student, reviews, graph, step, exercise, observations, items
                    )
                )
            rounds += 1
            if all(state.mastery.get(c, 0) >= learner.MASTERY_THRESHOLD for c in step.teaches):
                break
    return outcomes


def least_exercises(
    unknown: list[str], learn_rate: dict[str, float], guess: dict[str, float], challenge: float
) -> float:
    """The fewest exercises any policy needs, in expectation, to teach these concepts while the
    student's realised success rate is `challenge`. Each concept takes 1 / learn rate attempts
    before it is known, answered right at best with the guess rate of its most guessable item;
    every other exercise is on known ground, right with 1 - slip at best. Successes S and
    exercises E then satisfy S = challenge * E and S <= guess * attempts + (1 - slip) * (E -
    attempts), so E >= attempts * (1 - slip - guess) / (1 - slip - challenge)."""
    known_success = 1 - SLIP
    total = 0.0
    for concept in unknown:
        attempts = 1 / learn_rate[concept]
        if challenge >= known_success:
            return math.inf
        total += attempts * max(1.0, (known_success - guess[concept]) / (known_success - challenge))
    return total


def best_guess(spec: CourseSpec) -> dict[str, float]:
    """Per concept, the simulated student's guess rate on its most guessable exercise."""
    guess: dict[str, float] = {}
    for step in spec.steps():
        for exercise in step.exercises:
            rate = 0.25 if exercise.kind == "multiple_choice" else 0.02
            for concept in exercise_concepts(step, exercise):
                guess[concept] = max(guess.get(concept, 0.0), rate)
    return guess


def simulate(spec: CourseSpec, students: int, seed: int) -> None:
    graph = learner.ConceptGraph.from_spec(spec)
    rng = random.Random(seed)
    learn_rate = {c: rng.uniform(0.2, 0.45) for c in graph.order}
    probe_accuracy, pretest_accuracy, asked = [], [], []
    adaptive_counts, linear_counts, outcomes_all = [], [], []
    truly_known_at_end = []
    unknown_at_start: list[list[str]] = []
    linear_successes = 0
    items = ItemBank()  # one course: its exercises' difficulties are learnt from every student
    for _ in range(students):
        student = make_student(graph, rng, learn_rate)
        truth = {c: c in student.known for c in graph.order}
        unknown_at_start.append([c for c in graph.order if not truth[c]])
        beliefs, questions = run_probe(spec, graph, student)
        asked.append(questions)
        probe_accuracy.append(statistics.mean((beliefs[c] >= 0.5) == truth[c] for c in graph.order))
        pretest = run_pretest(spec, graph, student)
        pretest_accuracy.append(statistics.mean(pretest[c] == truth[c] for c in pretest))

        adaptive_student = SimStudent(
            set(student.known), learn_rate, random.Random(rng.random()), graph.parents
        )
        outcomes = practise_adaptive(spec, graph, adaptive_student, dict(beliefs), items)
        truly_known_at_end.append(len(adaptive_student.known) / len(graph.order))
        linear_student = SimStudent(
            set(student.known), learn_rate, random.Random(rng.random()), graph.parents
        )
        adaptive_counts.append(len(outcomes))
        linear_outcomes = practise_linear(spec, graph, linear_student)
        linear_counts.append(len(linear_outcomes))
        linear_successes += sum(linear_outcomes)
        outcomes_all += outcomes

    n = len(graph.order)
    print(
        f"\n{spec.title}  ({n} concepts, {len(spec.steps())} steps, {students} simulated students)"
    )
    print("a. placement")
    print(
        f"   adaptive probe: accuracy {statistics.mean(probe_accuracy):.1%}, "
        f"questions {statistics.mean(asked):.1f} (max {max(asked)})"
    )
    print(f"   fixed pretest:  accuracy {statistics.mean(pretest_accuracy):.1%}, questions {n}")
    print(f"   questions ratio {statistics.mean(asked) / n:.2f} (target <= 0.33, accuracy >= 90%)")
    print("b. practice (exercises until every concept is mastered)")
    ratio = sum(adaptive_counts) / max(1, sum(linear_counts))
    print(
        f"   adaptive {statistics.mean(adaptive_counts):.1f}, "
        f"linear {statistics.mean(linear_counts):.1f}, ratio {ratio:.2f} (target <= 0.7)"
    )
    capped = [count >= MAX_EXERCISES for count in linear_counts]
    pairs = list(zip(adaptive_counts, linear_counts, strict=True))
    uncapped = [(a, lin) for (a, lin), cap in zip(pairs, capped, strict=True) if not cap]
    print(
        f"   per student (median): adaptive {statistics.median(adaptive_counts):.0f}, "
        f"linear {statistics.median(linear_counts):.0f}, median of the ratios "
        f"{_median_ratio(adaptive_counts, linear_counts):.2f}"
    )
    print(
        f"   linear walks stopped at the cap of {MAX_EXERCISES}: {sum(capped)}; ratio over the "
        f"other students {_pooled([a for a, _ in uncapped], [lin for _, lin in uncapped]):.2f}"
    )
    print(f"   truly known at the end (adaptive): {statistics.mean(truly_known_at_end):.1%}")
    rate = sum(outcomes_all) / max(1, len(outcomes_all))
    guess = best_guess(spec)
    for challenge, label in ((rate, "the realised challenge"), (0.65, "a challenge of 0.65")):
        least = [least_exercises(u, learn_rate, guess, challenge) for u in unknown_at_start]
        efficiency = f"; adaptive / fewest {_pooled(adaptive_counts, least):.2f}"
        print(
            f"   fewest any policy needs at {label} ({challenge:.2f}): "
            f"{_pooled(least, linear_counts):.2f} of linear, median of the ratios "
            f"{_median_ratio(least, linear_counts):.2f}" + (efficiency if challenge == rate else "")
        )
    print("c. challenge")
    print(
        f"   realised success rate of chosen exercises {rate:.2f} (target 0.65-0.85); "
        f"the linear walk's {linear_successes / max(1, sum(linear_counts)):.2f}"
    )


def _pooled(counts: Sequence[float], baseline: Sequence[float]) -> float:
    return sum(counts) / max(1.0, sum(baseline))


def _median_ratio(counts: Sequence[float], baseline: Sequence[float]) -> float:
    return statistics.median(x / max(1, b) for x, b in zip(counts, baseline, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("courses", nargs="*", type=Path)
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    folders = args.courses or [
        p
        for p in (ROOT / "tests/fixtures/courses/sample-ramp", ROOT / "content/llm101n")
        if (p / "course.yaml").exists()
    ]
    for folder in folders:
        spec, problems, _ = fileformat.read_folder(folder)
        if spec is None or problems:
            print(f"{folder}: cannot read ({len(problems)} problems)")
            continue
        simulate(spec, args.students, args.seed)


if __name__ == "__main__":
    main()
