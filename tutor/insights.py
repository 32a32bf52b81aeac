"""What a course's instructors learn from their students, per course and per step.

Per step, over the course's students (TAs and instructors left out):

- reached: students with any activity on the step (opening it, answering, hints, the TA);
- stuck rate: of those, the share who got stuck on one of its exercises: FAILS_IN_A_ROW wrong
  answers in a row, or a wrong answer after every hint (the escalation rules' own definition);
- hint use: the share of started exercises where the student took at least one hint, and hints
  per started exercise;
- escalations by reason;
- median time on step: study time (`tutor.models.StudyTime`: activity closer than the idle gap)
  of the students who spent any time on it;
- mastery gained per minute: the knowledge-tracing gain of the step's graded answers (stored on
  each attempt) over the study minutes on the step;
- drop-off: students whose last activity anywhere in the course was on this step, DROP_OFF_AFTER
  ago or more, and who had not finished the ramp there.

The most common questions are the students' messages to the TA grouped by meaning: embeddings
from the model worker (stored on each message once) and greedy clustering by cosine similarity;
when the model is unreachable, by shared content words instead, and the page says which.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from django.db.models import QuerySet
from django.utils import timezone

from courses import selectors
from courses.models import Course
from courses.spec import CourseSpec
from tutor import model_client, retrieval
from tutor.escalations import FAILS_IN_A_ROW
from tutor.model_client import ModelUnavailable
from tutor.models import (
    Attempt,
    Enrollment,
    Escalation,
    ExerciseProgress,
    Message,
    Role,
    StudyTime,
)

DROP_OFF_AFTER = timedelta(days=7)
# Two questions are the same question when their embeddings are this close (cosine similarity,
# all-MiniLM-L6-v2: paraphrases score about 0.7 and above; questions on one topic, 0.5-0.7).
SAME_QUESTION_SIMILARITY = 0.7
# Without embeddings: the share of content words two questions must have in common (Jaccard).
SAME_QUESTION_OVERLAP = 0.3
# The most recent student messages the clustering reads, and how many it embeds per request.
QUESTIONS_READ = 400
EMBED_BATCH = 32
MIN_QUESTION_WORDS = 3


@dataclass
class StepInsight:
    slug: str
    title: str
    chapter: str
    reached: int = 0
    stuck: int = 0
    exercises_started: int = 0
    exercises_with_hints: int = 0
    hints: int = 0
    solutions_viewed: int = 0
    escalations: Counter[str] = field(default_factory=Counter)
    median_seconds: float | None = None
    study_seconds: int = 0
    mastery_gain: float = 0.0
    left_here: int = 0

    @property
    def stuck_rate(self) -> float | None:
        return self.stuck / self.reached if self.reached else None

    @property
    def hint_rate(self) -> float | None:
        if not self.exercises_started:
            return None
        return self.exercises_with_hints / self.exercises_started

    @property
    def hints_per_exercise(self) -> float | None:
        return self.hints / self.exercises_started if self.exercises_started else None

    @property
    def mastery_per_minute(self) -> float | None:
        return self.mastery_gain / (self.study_seconds / 60) if self.study_seconds >= 60 else None

    @property
    def drop_off_rate(self) -> float | None:
        return self.left_here / self.reached if self.reached else None

    @property
    def escalation_count(self) -> int:
        return sum(self.escalations.values())

    @property
    def escalation_reasons(self) -> list[tuple[str, int]]:
        """(reason, cases), most frequent first (templates cannot call Counter methods)."""
        return self.escalations.most_common()


@dataclass
class CourseInsights:
    course: Course
    steps: list[StepInsight]
    students: int
    reasons: Counter[str]

    def step(self, slug: str) -> StepInsight | None:
        return next((s for s in self.steps if s.slug == slug), None)


def _student_ids(course: Course) -> set[int]:
    return set(
        Enrollment.objects.filter(course=course, role=Role.STUDENT).values_list(
            "user_id", flat=True
        )
    )


def course_insights(course: Course, *, now: datetime | None = None) -> CourseInsights:
    """Every step's figures, in ramp order (steps of the latest version; activity on steps that
    were removed since is left out)."""
    now = now or timezone.now()
    version = selectors.latest_version(course)
    spec = selectors.version_spec(version) if version else CourseSpec(course.slug, course.title)
    students = _student_ids(course)
    steps: dict[str, StepInsight] = {}
    hints_total: dict[tuple[str, str], int] = {}
    for chapter in spec.chapters:
        for step in chapter.steps:
            steps[step.slug] = StepInsight(step.slug, step.title, chapter.title)
            for exercise in step.exercises:
                hints_total[(step.slug, exercise.slug)] = len(exercise.hints)
    reached: dict[str, set[int]] = defaultdict(set)

    times = StudyTime.objects.filter(course=course, user_id__in=students)
    seconds: dict[str, list[int]] = defaultdict(list)
    last_seen: dict[int, tuple[datetime, str]] = {}
    for user_id, step_slug, active, seen in times.values_list(
        "user_id", "step_slug", "active_seconds", "last_seen_at"
    ):
        reached[step_slug].add(user_id)
        if active > 0:
            seconds[step_slug].append(active)
        if user_id not in last_seen or seen > last_seen[user_id][0]:
            last_seen[user_id] = (seen, step_slug)

    attempts = (
        Attempt.objects.filter(course_version__course=course, user_id__in=students, is_probe=False)
        .exclude(grading__in=(Attempt.Grading.PENDING, Attempt.Grading.NEEDS_TA))
        .order_by("user_id", "step_slug", "exercise_slug", "created_at", "id")
        .values_list(
            "user_id", "step_slug", "exercise_slug", "correct", "hints_used", "mastery_gain"
        )
    )
    stuck: dict[str, set[int]] = defaultdict(set)
    streak: dict[tuple[int, str, str], int] = defaultdict(int)
    for user_id, step_slug, exercise_slug, correct, hints_used, gain in attempts:
        reached[step_slug].add(user_id)
        insight = steps.get(step_slug)
        if insight is not None and gain:
            insight.mastery_gain += gain
        key = (user_id, step_slug, exercise_slug)
        streak[key] = 0 if correct else streak[key] + 1
        total_hints = hints_total.get((step_slug, exercise_slug), 0)
        if streak[key] >= FAILS_IN_A_ROW or (
            not correct and total_hints and hints_used >= total_hints
        ):
            stuck[step_slug].add(user_id)

    for step_slug, started_with_hints, hints, viewed in ExerciseProgress.objects.filter(
        course=course, user_id__in=students
    ).values_list("step_slug", "hints_revealed", "hints_revealed", "solution_viewed"):
        insight = steps.get(step_slug)
        if insight is None:
            continue
        insight.exercises_started += 1
        insight.exercises_with_hints += started_with_hints > 0
        insight.hints += hints
        insight.solutions_viewed += viewed

    reasons: Counter[str] = Counter()
    for step_slug, reason in Escalation.objects.filter(
        course=course, student_id__in=students
    ).values_list("step_slug", "reason"):
        label = str(Escalation.Reason(reason).label)
        reasons[label] += 1
        if step_slug in steps:
            steps[step_slug].escalations[label] += 1

    final_step = next(reversed(steps), None)
    final_done = _finished_students(course, spec, final_step, students)
    for user_id, (seen, step_slug) in last_seen.items():
        if step_slug not in steps or now - seen < DROP_OFF_AFTER:
            continue
        if step_slug == final_step and user_id in final_done:
            continue
        steps[step_slug].left_here += 1

    for slug, insight in steps.items():
        insight.reached = len(reached[slug])
        insight.stuck = len(stuck[slug] & reached[slug])
        insight.study_seconds = sum(seconds[slug])
        insight.median_seconds = statistics.median(seconds[slug]) if seconds[slug] else None
    return CourseInsights(course, list(steps.values()), len(students), reasons)


def _finished_students(
    course: Course, spec: CourseSpec, final_step: str | None, students: set[int]
) -> set[int]:
    """Students who solved every exercise of the ramp's last step."""
    step = spec.step(final_step) if final_step else None
    if step is None or not step.exercises:
        return set()
    solved: dict[int, int] = Counter(
        ExerciseProgress.objects.filter(
            course=course, user_id__in=students, step_slug=step.slug, solved=True
        ).values_list("user_id", flat=True)
    )
    return {user_id for user_id, n in solved.items() if n >= len(step.exercises)}


# ---------------------------------------------------------------------------------------------
# The most common questions


@dataclass
class QuestionCluster:
    text: str  # the question closest to the group's centre
    count: int
    students: int
    steps: Counter[str]
    examples: list[str]  # other wordings, most recent first
    latest: datetime

    @property
    def step_counts(self) -> list[tuple[str, int]]:
        return self.steps.most_common()


@dataclass
class QuestionClusters:
    method: str  # "embeddings" or "words"
    clusters: list[QuestionCluster]
    questions: int


def _questions(course: Course, step_slug: str | None) -> QuerySet[Message]:
    messages = Message.objects.filter(
        conversation__course=course,
        role=Message.Role.STUDENT,
        conversation__user_id__in=_student_ids(course),
    )
    if step_slug is not None:
        messages = messages.filter(conversation__step_slug=step_slug)
    return messages.select_related("conversation").order_by("-created_at", "-id")


def common_questions(course: Course, *, step_slug: str | None = None) -> QuestionClusters:
    """The students' messages to the TA grouped by meaning, largest group first."""
    messages = [
        m
        for m in _questions(course, step_slug)[:QUESTIONS_READ]
        if len(m.content.split()) >= MIN_QUESTION_WORDS
    ]
    messages.reverse()  # oldest first: a group's first member is its earliest wording
    try:
        vectors = _embeddings(messages)
    except ModelUnavailable:
        groups = _cluster_by_words([m.content for m in messages])
        method = "words"
    else:
        groups = _cluster_by_vectors(vectors)
        method = "embeddings"
    clusters = []
    for members, centre in groups:
        chosen = [messages[i] for i in members]
        newest_first = sorted(chosen, key=lambda m: m.created_at, reverse=True)
        representative = messages[centre].content
        clusters.append(
            QuestionCluster(
                text=representative,
                count=len(chosen),
                students=len({m.conversation.user_id for m in chosen}),
                steps=Counter(m.conversation.step_slug for m in chosen if m.conversation.step_slug),
                examples=[m.content for m in newest_first if m.content != representative][:3],
                latest=newest_first[0].created_at,
            )
        )
    clusters.sort(key=lambda c: (-c.count, -c.students, -c.latest.timestamp()))
    return QuestionClusters(method, clusters, len(messages))


def _embeddings(messages: list[Message]) -> np.ndarray:
    """Unit vectors of the messages, embedding (and storing) those that have none yet; raises
    ModelUnavailable when any is missing and the model cannot be reached."""
    missing = [m for m in messages if m.embedding is None]
    for start in range(0, len(missing), EMBED_BATCH):
        batch = missing[start : start + EMBED_BATCH]
        vectors = retrieval.checked_vectors(
            model_client.embed([m.content[: retrieval.MAX_QUERY_CHARS] for m in batch], timeout=10)
        )
        for message, vector in zip(batch, vectors, strict=True):
            Message.objects.filter(pk=message.pk).update(embedding=vector)
            message.embedding = vector
    if not messages:
        return np.zeros((0, 0))
    matrix = np.array([np.asarray(m.embedding, dtype=np.float64) for m in messages])
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1, norms)


def _cluster_by_vectors(
    vectors: np.ndarray, threshold: float = SAME_QUESTION_SIMILARITY
) -> list[tuple[list[int], int]]:
    """Greedy clustering in order: each vector joins the group whose centre is most similar if
    that similarity reaches the threshold, else starts a group. Returns (members, the member
    nearest the centre) per group."""
    members: list[list[int]] = []
    sums: list[np.ndarray] = []
    for i, vector in enumerate(vectors):
        if sums:
            centres = np.array([s / np.linalg.norm(s) for s in sums])
            similarity = centres @ vector
            best = int(np.argmax(similarity))
            if similarity[best] >= threshold:
                members[best].append(i)
                sums[best] = sums[best] + vector
                continue
        members.append([i])
        sums.append(vector.copy())
    result = []
    for group, total in zip(members, sums, strict=True):
        centre = total / np.linalg.norm(total)
        nearest = group[int(np.argmax(vectors[group] @ centre))]
        result.append((group, nearest))
    return result


def _cluster_by_words(
    texts: list[str], threshold: float = SAME_QUESTION_OVERLAP
) -> list[tuple[list[int], int]]:
    """Greedy clustering by shared content words (Jaccard against each group's first member)."""
    words = [set(retrieval.content_words(t)) for t in texts]
    members: list[list[int]] = []
    for i, these in enumerate(words):
        for group in members:
            leader = words[group[0]]
            union = these | leader
            if union and len(these & leader) / len(union) >= threshold:
                group.append(i)
                break
        else:
            members.append([i])
    return [(group, group[0]) for group in members]


# ---------------------------------------------------------------------------------------------
# CSV

CSV_COLUMNS = [
    "chapter",
    "step",
    "title",
    "students_reached",
    "stuck",
    "stuck_rate",
    "exercises_started",
    "hint_rate",
    "hints_per_exercise",
    "solutions_viewed",
    "escalations",
    "escalation_reasons",
    "median_minutes_on_step",
    "study_minutes",
    "mastery_gained",
    "mastery_per_minute",
    "left_here",
    "drop_off_rate",
]


def csv_rows(insights: CourseInsights) -> list[list[str]]:
    def number(value: float | None, digits: int = 3) -> str:
        return "" if value is None else f"{value:.{digits}f}"

    rows = [list(CSV_COLUMNS)]
    for s in insights.steps:
        rows.append(
            [
                s.chapter,
                s.slug,
                s.title,
                str(s.reached),
                str(s.stuck),
                number(s.stuck_rate),
                str(s.exercises_started),
                number(s.hint_rate),
                number(s.hints_per_exercise),
                str(s.solutions_viewed),
                str(s.escalation_count),
                "; ".join(f"{k}: {v}" for k, v in s.escalations.most_common()),
                number(s.median_seconds / 60 if s.median_seconds is not None else None, 1),
                number(s.study_seconds / 60, 1),
                number(s.mastery_gain),
                number(s.mastery_per_minute, 4),
                str(s.left_here),
                number(s.drop_off_rate),
            ]
        )
    return rows
