"""The learner model, as plain functions over plain data (no database): knowledge tracing,
difficulty and ability, the placement probe, and the choice of the next activity.

- Mastery is Bayesian Knowledge Tracing (BKT): P(known) per student and concept, updated on each
  graded answer with the concept's learn, slip and guess rates, then the chance of learning.
- Difficulty and ability are Elo-style corrections on top of BKT: each exercise has a difficulty
  beta (its authored difficulty as the prior) and each student an ability theta per concept, so
  the predicted success is sigmoid(logit(BKT prediction) + theta - beta).
- The placement probe keeps a belief P(known) per concept. Knowledge states are assumed to be
  closed under prerequisites (knowing a concept implies knowing what it requires), which makes an
  answer about one concept exact evidence about its prerequisites and dependents: for an
  ancestor a of c, P(a) = P(c) + (1 - P(c)) P(a | not c); for a descendant d,
  P(d) = P(c) P(d | c). The next question is the one with the largest expected reduction of the
  total entropy of the beliefs.
- The next activity is the exercise of an unlocked step, on a concept not yet mastered, whose
  predicted success is closest to the course's target (0.75 by default). Within the band around
  the target (+-0.1) the item hardest to guess is preferred, since its success confirms mastery;
  below the band the item easiest to recognise is preferred (its guess rate counts as closeness),
  since a student still learning the concept can recognise the right option before recalling
  it. A student who is still learning a concept misses most attempts at it, so
  when the best exercise would bring the expected success of the recent answers below the band,
  an exercise on mastered ground comes first (consolidation): the realised challenge stays in the
  band instead of the predicted one only. Due reviews of mastered concepts are interleaved, and a
  run of misses on a concept leads to a check of its prerequisites, one after the other.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from courses.spec import CourseSpec, ExerciseSpec, StepSpec
from courses.validation import exercise_concepts

MASTERY_THRESHOLD = 0.95
TARGET_SUCCESS = 0.75
PROBE_CAP = 12
CONFIDENCE = 0.85  # a belief at or beyond 0.85 either way counts as settled


# ---------------------------------------------------------------------------------------------
# Knowledge tracing


@dataclass(frozen=True)
class BKTParams:
    init: float = 0.2
    learn: float = 0.3
    slip: float = 0.1
    guess: float = 0.02  # for free answers; multiple choice uses at least 1 / options


DEFAULT_PARAMS = BKTParams()


def guess_rate(exercise: ExerciseSpec, params: BKTParams = DEFAULT_PARAMS) -> float:
    if exercise.kind == "multiple_choice" and exercise.options:
        return max(params.guess, 1.0 / len(exercise.options))
    return params.guess


def bkt_predict(p_known: float, slip: float, guess: float) -> float:
    """P(correct answer) for a student who knows the concept with probability p_known."""
    return p_known * (1 - slip) + (1 - p_known) * guess


def bkt_update(p_known: float, correct: bool, params: BKTParams, guess: float) -> float:
    """Posterior P(known) after one graded answer, then the chance of learning from it."""
    if correct:
        evidence = p_known * (1 - params.slip)
        total = evidence + (1 - p_known) * guess
    else:
        evidence = p_known * params.slip
        total = evidence + (1 - p_known) * (1 - guess)
    posterior = evidence / total if total > 0 else p_known
    return _clip(posterior + (1 - posterior) * params.learn)


# ---------------------------------------------------------------------------------------------
# Difficulty and ability (Elo-style corrections)


def prior_difficulty(authored: int) -> float:
    """Authored difficulty 1-5 as a logit offset: 3 is neutral, each level about +-0.5."""
    return 0.5 * (authored - 3)


def predicted_success(
    p_known: float, slip: float, guess: float, theta: float = 0.0, beta: float = 0.0
) -> float:
    return _sigmoid(_logit(bkt_predict(p_known, slip, guess)) + theta - beta)


def elo_update(
    *, theta: float, beta: float, n_student: int, n_item: int, correct: bool, predicted: float
) -> tuple[float, float]:
    """New (theta, beta): both move against the surprise, by less as evidence accumulates."""
    surprise = (1.0 if correct else 0.0) - predicted
    k_student = 0.4 / (1 + 0.1 * n_student)
    k_item = 0.4 / (1 + 0.05 * n_item)
    return theta + k_student * surprise, beta - k_item * surprise


# ---------------------------------------------------------------------------------------------
# The concept graph


@dataclass
class ConceptGraph:
    """The course's concepts a student can be asked about (prior knowledge excluded), with their
    prerequisite edges, in ramp order."""

    order: list[str]
    names: dict[str, str]
    parents: dict[str, list[str]]
    ancestors: dict[str, set[str]] = field(default_factory=dict)
    descendants: dict[str, set[str]] = field(default_factory=dict)
    depth: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_spec(cls, spec: CourseSpec) -> ConceptGraph:
        prior = {c.slug for c in spec.concepts if c.prior_knowledge}
        taught_order = list(dict.fromkeys(c for s in spec.steps() for c in s.teaches))
        defined = {c.slug: c for c in spec.concepts}
        order = [c for c in taught_order if c in defined and c not in prior]
        parents = {c: [r for r in defined[c].requires if r in order] for c in order}
        graph = cls(order, {c: defined[c].name for c in order}, parents)
        for concept in order:  # ramp order is a topological order (validation guarantees it)
            ancestors: set[str] = set()
            for parent in parents[concept]:
                ancestors |= {parent} | graph.ancestors[parent]
            graph.ancestors[concept] = ancestors
            graph.depth[concept] = 1 + max((graph.depth[p] for p in parents[concept]), default=0)
        graph.descendants = {c: {d for d in order if c in graph.ancestors[d]} for c in order}
        return graph


# ---------------------------------------------------------------------------------------------
# Placement


@dataclass(frozen=True)
class ProbeRef:
    step_slug: str
    slug: str
    concept: str
    guess: float


def prior_beliefs(graph: ConceptGraph) -> dict[str, float]:
    """Before any answer: deeper concepts are less likely known (and never more likely than
    their prerequisites, which the update rules rely on)."""
    return {c: _clip(0.7 * 0.85 ** (graph.depth[c] - 1), 0.05, 0.95) for c in graph.order}


def observe(
    beliefs: Mapping[str, float],
    graph: ConceptGraph,
    concept: str,
    correct: bool,
    *,
    slip: float,
    guess: float,
) -> dict[str, float]:
    """Beliefs after one probe answer about `concept`, propagated through the graph."""
    prior = beliefs[concept]
    if correct:
        known, unknown = prior * (1 - slip), (1 - prior) * guess
    else:
        known, unknown = prior * slip, (1 - prior) * (1 - guess)
    posterior = _clip(known / (known + unknown), 1e-4, 1 - 1e-4)
    new = dict(beliefs)
    new[concept] = posterior
    for ancestor in graph.ancestors[concept] & beliefs.keys():
        # P(a | not c), from the marginals before the answer; unchanged by it.
        given_not = _clip((beliefs[ancestor] - prior) / (1 - prior), 0.0, 1.0) if prior < 1 else 1.0
        new[ancestor] = _clip(posterior + (1 - posterior) * given_not, 1e-4, 1 - 1e-4)
    for descendant in graph.descendants[concept] & beliefs.keys():
        given_known = _clip(beliefs[descendant] / prior, 0.0, 1.0) if prior > 0 else 0.0
        new[descendant] = _clip(posterior * given_known, 1e-4, 1 - 1e-4)
    return new


def expected_information(
    beliefs: Mapping[str, float], graph: ConceptGraph, probe: ProbeRef, *, slip: float
) -> float:
    linked = {probe.concept} | graph.ancestors[probe.concept] | graph.descendants[probe.concept]
    # In ramp order, not set order: the sums, and so the choice between probes of equal gain,
    # are then the same in every process.
    related = [c for c in graph.order if c in linked and c in beliefs]
    before = sum(_entropy(beliefs[c]) for c in related)
    p_correct = bkt_predict(beliefs[probe.concept], slip, probe.guess)
    after = 0.0
    for correct, weight in ((True, p_correct), (False, 1 - p_correct)):
        updated = observe(beliefs, graph, probe.concept, correct, slip=slip, guess=probe.guess)
        after += weight * sum(_entropy(updated[c]) for c in related)
    return before - after


def settled(beliefs: Mapping[str, float], confidence: float = CONFIDENCE) -> bool:
    return all(p >= confidence or p <= 1 - confidence for p in beliefs.values())


def choose_probe(
    beliefs: Mapping[str, float],
    graph: ConceptGraph,
    probes: Iterable[ProbeRef],
    asked: set[tuple[str, str]],
    *,
    slip: float = DEFAULT_PARAMS.slip,
) -> ProbeRef | None:
    """The unasked probe with the largest expected information (None when nothing helps)."""
    best, best_gain = None, 1e-3
    for probe in probes:
        if (probe.step_slug, probe.slug) in asked or probe.concept not in beliefs:
            continue
        gain = expected_information(beliefs, graph, probe, slip=slip)
        if gain > best_gain:
            best, best_gain = probe, gain
    return best


def probe_refs(spec: CourseSpec, graph: ConceptGraph) -> list[ProbeRef]:
    refs = []
    for step in spec.steps():
        for probe in step.probes:
            concepts = [c for c in exercise_concepts(step, probe) if c in graph.names]
            if concepts:
                refs.append(ProbeRef(step.slug, probe.slug, concepts[0], guess_rate(probe)))
    return refs


def chapter_concepts(spec: CourseSpec, chapter_slug: str) -> set[str]:
    chapter = next((c for c in spec.chapters if c.slug == chapter_slug), None)
    return {c for s in (chapter.steps if chapter else []) for c in s.teaches}


def placement_step(
    spec: CourseSpec, beliefs: Mapping[str, float], chapter_slug: str = ""
) -> StepSpec | None:
    """The first step (of the chapter, if given) that teaches a concept the student probably
    does not know."""
    chapter = next((c for c in spec.chapters if c.slug == chapter_slug), None)
    for step in chapter.steps if chapter else spec.steps():
        if any(beliefs.get(c, 1.0) < 0.5 for c in step.teaches):
            return step
    return None


def placement_explanation(
    spec: CourseSpec, graph: ConceptGraph, beliefs: Mapping[str, float], step: StepSpec | None
) -> str:
    known = [graph.names[c] for c in graph.order if beliefs.get(c, 0) >= 0.5]
    if step is None:
        return "You already know everything this course teaches. Pick any step to review it."
    if not known:
        return f"We start at the beginning, with “{step.title}”."
    listed = _join(known[-3:] if len(known) > 3 else known)
    more = f" (and {len(known) - 3} more)" if len(known) > 3 else ""
    return f"You already know {listed}{more}, so we start at “{step.title}”."


# ---------------------------------------------------------------------------------------------
# The next activity


@dataclass(frozen=True)
class Suggestion:
    step_slug: str
    exercise_slug: str
    predicted: float
    reason: str
    is_review: bool = False


@dataclass
class LearnerState:
    """What the policy needs to know about one student in one course."""

    mastery: dict[str, float]
    theta: dict[str, float] = field(default_factory=dict)
    beta: dict[tuple[str, str], float] = field(default_factory=dict)
    solved: set[tuple[str, str]] = field(default_factory=set)
    completed_steps: set[str] = field(default_factory=set)
    due_reviews: list[str] = field(default_factory=list)  # concepts whose review is due
    wrong_streak: dict[str, int] = field(default_factory=dict)  # wrong answers in a row
    # Per concept on a wrong streak: the prerequisites that proved solid since it began.
    proven: dict[str, set[str]] = field(default_factory=dict)
    recent: list[bool] = field(default_factory=list)  # the last answers, oldest first
    # The last graded answer was on mastered ground (a review, a consolidation or a prerequisite
    # check): a due review then waits one exercise, so that new material comes between reviews.
    last_was_review: bool = False


RECENT_WINDOW = 8


def on_mastered_ground(
    mastery: Mapping[str, float], concepts: Iterable[str], threshold: float = MASTERY_THRESHOLD
) -> bool:
    """Whether an exercise on these concepts is a review for the student (every concept already
    mastered before the answer). The web app stores it with each graded answer, the simulator
    computes it the same way; both feed it back as LearnerState.last_was_review."""
    concepts = list(concepts)
    return bool(concepts) and all(mastery.get(c, 0.0) >= threshold for c in concepts)


def recent_success(state: LearnerState) -> float | None:
    window = state.recent[-RECENT_WINDOW:]
    return sum(window) / len(window) if len(window) >= 3 else None


def expected_recent_success(state: LearnerState, predicted: float) -> float | None:
    """The success rate of the recent answers if the next one succeeds with the chance
    `predicted` (None before two answers)."""
    window = state.recent[-(RECENT_WINDOW - 1) :]
    return (sum(window) + predicted) / (len(window) + 1) if len(window) >= 2 else None


def _below_band(state: LearnerState, predicted: float, target: float) -> bool:
    rate = expected_recent_success(state, predicted)
    return rate is not None and rate < target - CHALLENGE_BAND


STUCK_AFTER = 3


def record_streaks(
    state: LearnerState, spec: CourseSpec, concepts: list[str], correct: bool
) -> None:
    """Count wrong answers in a row per concept. A right answer clears the concept's streak; for
    the concepts built on it that are on a streak, it marks this prerequisite as proven, so
    that the next check looks at another one (the weak prerequisite may be any of them)."""
    for concept in concepts:
        if correct:
            state.wrong_streak.pop(concept, None)
            state.proven.pop(concept, None)
            for other in spec.concepts:
                if concept in other.requires and other.slug in state.wrong_streak:
                    state.proven.setdefault(other.slug, set()).add(concept)
        else:
            state.wrong_streak[concept] = state.wrong_streak.get(concept, 0) + 1


def unlocked_steps(
    spec: CourseSpec, state: LearnerState, threshold: float = MASTERY_THRESHOLD
) -> list[StepSpec]:
    """Steps whose needed concepts are all prior knowledge, mastered, or taught by a completed
    step."""
    known = {c.slug for c in spec.concepts if c.prior_knowledge}
    known |= {c for c, p in state.mastery.items() if p >= threshold}
    for step in spec.steps():
        if step.slug in state.completed_steps:
            known.update(step.teaches)
    result = []
    for step in spec.steps():
        needed = list(step.requires)
        for slug in step.teaches:
            concept = spec.concept(slug)
            if concept is not None:
                needed += [r for r in concept.requires if r not in step.teaches]
        if all(c in known for c in needed):
            result.append(step)
    return result


def predict(
    state: LearnerState, step: StepSpec, exercise: ExerciseSpec, params: Mapping[str, BKTParams]
) -> float:
    concepts = exercise_concepts(step, exercise) or ["?"]
    chances = []
    for concept in concepts:
        p = params.get(concept, DEFAULT_PARAMS)
        chances.append(
            predicted_success(
                state.mastery.get(concept, p.init),
                p.slip,
                guess_rate(exercise, p),
                state.theta.get(concept, 0.0),
                state.beta.get((step.slug, exercise.slug), prior_difficulty(exercise.difficulty)),
            )
        )
    return math.prod(chances)


def next_activity(
    spec: CourseSpec,
    state: LearnerState,
    params: Mapping[str, BKTParams] | None = None,
    *,
    target: float = TARGET_SUCCESS,
    threshold: float = MASTERY_THRESHOLD,
) -> Suggestion | None:
    """The exercise the student will probably, but not surely, get right; a due review unless
    the last answer already was on mastered ground (state.last_was_review); after misses, a
    check of a prerequisite or a consolidation exercise that keeps the recent success rate in
    the band. None when every concept is mastered and nothing is due."""
    params = params or {}
    unlocked = unlocked_steps(spec, state, threshold)
    names = {c.slug: c.name for c in spec.concepts}
    reviews = [] if state.last_was_review else _review_candidates(spec, state, params, unlocked)
    if reviews:
        predicted, step, exercise, concept = reviews[0]
        return Suggestion(
            step.slug,
            exercise.slug,
            predicted,
            f"A quick review of {names.get(concept, concept)}, so it stays fresh.",
            is_review=True,
        )
    check = _prerequisite_check(spec, state, params, unlocked, threshold)
    if check is not None:
        return check
    best: tuple[float, int, StepSpec, ExerciseSpec, float] | None = None
    for position, step in enumerate(unlocked):
        for exercise in step.exercises:
            concepts = exercise_concepts(step, exercise)
            if all(state.mastery.get(c, 0.0) >= threshold for c in concepts):
                continue
            predicted = predict(state, step, exercise, params)
            key = (_challenge_distance(predicted, target, exercise), position)
            if best is None or key < best[0:2]:
                best = (key[0], position, step, exercise, predicted)
    if best is None:
        return None
    _, _, step, exercise, predicted = best
    if _below_band(state, predicted, target):
        footing = _consolidation(spec, state, params, unlocked, threshold, target)
        if footing is not None:
            return footing
    chance = round(predicted * 100 / 5) * 5
    if predicted >= target + 0.1:
        mood = "it should feel comfortable and it firms up what you just learnt"
    elif predicted <= target - 0.2:
        mood = "it is a stretch, and the hints are there when you need them"
    else:
        mood = "a good stretch: likely, but not certain"
    return Suggestion(
        step.slug,
        exercise.slug,
        predicted,
        f"In “{step.title}”: we expect about a {chance}% chance you get it right, {mood}.",
    )


GUESS_PENALTY = 0.3
RECOGNITION_BONUS = 1.0  # below the band: the guess rate counts as closeness to the target
CHALLENGE_BAND = 0.1  # the right challenge: predicted success within the target +- 0.1


def _consolidation(
    spec: CourseSpec,
    state: LearnerState,
    params: Mapping[str, BKTParams],
    unlocked: list[StepSpec],
    threshold: float,
    target: float,
) -> Suggestion | None:
    """When the recent answers together with the next new exercise would run below the band, one
    exercise on mastered ground, preferring what the frontier builds on: it keeps the challenge
    right on average (the student is not left failing) and is retrieval practice of the
    foundation. Its successes lift the recent rate, so the frontier comes back after at most
    RECENT_WINDOW - 1 of them in a row."""
    names = {c.slug: c.name for c in spec.concepts}
    frontier = [
        c
        for s in unlocked
        for c in s.teaches
        if state.mastery.get(c, 0.0) < threshold and spec.concept(c) is not None
    ]
    wanted = [r for c in frontier for r in spec.concept(c).requires]  # type: ignore[union-attr]
    best: tuple[tuple[int, float], StepSpec, ExerciseSpec, float, str] | None = None
    for step in unlocked:
        for exercise in step.exercises:
            concepts = exercise_concepts(step, exercise)
            if not concepts or not all(state.mastery.get(c, 0.0) >= threshold for c in concepts):
                continue
            predicted = predict(state, step, exercise, params)
            key = (0 if set(concepts) & set(wanted) else 1, abs(predicted - target))
            if best is None or key < best[0]:
                best = (key, step, exercise, predicted, concepts[0])
    if best is None:
        return None
    _, step, exercise, predicted, concept = best
    return Suggestion(
        step.slug,
        exercise.slug,
        predicted,
        f"A quick one on {names.get(concept, concept)} to keep your footing before the next "
        "new idea.",
        is_review=True,
    )


def _prerequisite_check(
    spec: CourseSpec,
    state: LearnerState,
    params: Mapping[str, BKTParams],
    unlocked: list[StepSpec],
    threshold: float,
) -> Suggestion | None:
    """A student who keeps missing a concept may be missing what it builds on, though the model
    believes it mastered: check its prerequisites, the weakest first, each once per streak (one
    that proves solid is not asked again; the next is), with the item hardest to guess."""
    names = {c.slug: c.name for c in spec.concepts}
    for stuck, streak in sorted(state.wrong_streak.items(), key=lambda item: -item[1]):
        concept = spec.concept(stuck)
        if streak < STUCK_AFTER or concept is None:
            continue
        proven = state.proven.get(stuck, set())
        suspects = [
            r
            for r in concept.requires
            if state.mastery.get(r, 0.0) >= threshold and r in names and r not in proven
        ]
        for suspect in sorted(suspects, key=lambda r: state.mastery.get(r, 0.0)):
            checks = [
                (guess_rate(exercise), position, step, exercise)
                for position, step in enumerate(unlocked)
                for exercise in step.exercises
                if suspect in exercise_concepts(step, exercise)
            ]
            if checks:
                _, _, step, exercise = min(checks, key=lambda item: item[0:2])
                return Suggestion(
                    step.slug,
                    exercise.slug,
                    predict(state, step, exercise, params),
                    f"You have missed {names[stuck]} a few times in a row; first a quick "
                    f"check of {names[suspect]}, which it builds on.",
                    is_review=True,
                )
    return None


def _challenge_distance(predicted: float, target: float, exercise: ExerciseSpec) -> float:
    """How far an exercise is from the right challenge. Within the band around the target,
    success that could be a lucky guess teaches us little about the student, so easily guessed
    items count as a little further: there the free answer confirms mastery in one go. Below
    the band (nothing on the frontier is likely yet, typically a concept the student is still
    learning), recognising the right option is the gentler step before recalling it: the item's
    chance of a right answer without the concept (its guess rate) counts as that much closer.
    The predicted success of a free answer there rests mostly on its authored difficulty,
    while the chance to recognise the option is sure; and an attempt the student may get right
    while learning keeps the realised challenge up for the same practice."""
    distance = abs(predicted - target)
    if distance <= CHALLENGE_BAND:
        distance += GUESS_PENALTY * guess_rate(exercise)
    elif predicted < target:
        distance -= RECOGNITION_BONUS * guess_rate(exercise)
    return distance


def _review_candidates(
    spec: CourseSpec,
    state: LearnerState,
    params: Mapping[str, BKTParams],
    unlocked: list[StepSpec],
) -> list[tuple[float, StepSpec, ExerciseSpec, str]]:
    candidates = []
    for concept in state.due_reviews:
        for step in unlocked:
            for exercise in step.exercises:
                if concept in exercise_concepts(step, exercise):
                    candidates.append(
                        (predict(state, step, exercise, params), step, exercise, concept)
                    )
    # The review closest to the target challenge first.
    candidates.sort(key=lambda item: abs(item[0] - TARGET_SUCCESS))
    return candidates


# ---------------------------------------------------------------------------------------------


def fit_bkt(
    sequences: list[list[tuple[bool, float]]],
    start: BKTParams = DEFAULT_PARAMS,
    iterations: int = 30,
) -> BKTParams:
    """Refit one concept's (init, learn, slip, guess-for-free-answers) from students' answer
    sequences by expectation-maximisation (Baum-Welch on the two-state hidden Markov model).
    Each answer is (correct, guess rate of its item); multiple-choice guessing stays fixed at
    1 / options, so only the free-answer guess is fitted."""
    init, learn, slip, guess = start.init, start.learn, start.slip, start.guess
    for _ in range(iterations):
        n_init = n_learn_num = n_learn_den = n_slip_num = n_slip_den = 0.0
        n_guess_num = n_guess_den = 0.0
        for seq in sequences:
            if not seq:
                continue
            emissions = []
            for correct, item_guess in seq:
                g = guess if item_guess <= guess + 1e-9 else item_guess
                emissions.append(((1 - slip) if correct else slip, g if correct else 1 - g))
            # forward
            alpha = []
            known, unknown = init * emissions[0][0], (1 - init) * emissions[0][1]
            total = known + unknown or 1e-12
            alpha.append((known / total, unknown / total))
            for e_known, e_unknown in emissions[1:]:
                pk, pu = alpha[-1]
                known = (pk + pu * learn) * e_known
                unknown = pu * (1 - learn) * e_unknown
                total = known + unknown or 1e-12
                alpha.append((known / total, unknown / total))
            # backward
            beta = [(1.0, 1.0)] * len(seq)
            for t in range(len(seq) - 2, -1, -1):
                e_known, e_unknown = emissions[t + 1]
                bk = e_known * beta[t + 1][0]
                bu = learn * e_known * beta[t + 1][0] + (1 - learn) * e_unknown * beta[t + 1][1]
                norm = bk + bu or 1e-12
                beta[t] = (bk / norm, bu / norm)
            gammas = []
            for (ak, au), (bk, bu) in zip(alpha, beta, strict=True):
                k, u = ak * bk, au * bu
                gammas.append(k / (k + u) if k + u else 0.5)
            n_init += gammas[0]
            for t in range(1, len(seq)):
                (ak, au), (e_known, e_unknown) = alpha[t - 1], emissions[t]
                stay_known = ak * e_known * beta[t][0]
                learned = au * learn * e_known * beta[t][0]
                stay_unknown = au * (1 - learn) * e_unknown * beta[t][1]
                norm = stay_known + learned + stay_unknown or 1e-12
                n_learn_num += learned / norm
                n_learn_den += (learned + stay_unknown) / norm
            for (correct, item_guess), g_known in zip(seq, gammas, strict=True):
                n_slip_num += g_known * (0 if correct else 1)
                n_slip_den += g_known
                if item_guess <= guess + 1e-9:
                    n_guess_num += (1 - g_known) * (1 if correct else 0)
                    n_guess_den += 1 - g_known
        count = sum(1 for s in sequences if s)
        if count == 0:
            return start
        init = _clip(n_init / count, 0.01, 0.99)
        learn = _clip(n_learn_num / n_learn_den if n_learn_den else learn, 0.01, 0.9)
        slip = _clip(n_slip_num / n_slip_den if n_slip_den else slip, 0.01, 0.3)
        guess = _clip(n_guess_num / n_guess_den if n_guess_den else guess, 0.001, 0.3)
    return BKTParams(init=init, learn=learn, slip=slip, guess=guess)


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-max(-30.0, min(30.0, x))))


def _logit(p: float) -> float:
    p = _clip(p, 1e-6, 1 - 1e-6)
    return math.log(p / (1 - p))


def _entropy(p: float) -> float:
    if p <= 0 or p >= 1:
        return 0.0
    return -(p * math.log2(p) + (1 - p) * math.log2(1 - p))


def _clip(x: float, low: float = 1e-4, high: float = 1 - 1e-4) -> float:
    return max(low, min(high, x))


def _join(names: list[str]) -> str:
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " and " + names[-1]
