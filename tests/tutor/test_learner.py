"""The learner model's algorithms, on hand-computed values and as properties."""

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from courses import fileformat
from tests.conftest import SAMPLE_COURSE
from tests.content import course as llm101n
from tutor import learner
from tutor.learner import BKTParams

_SPEC = fileformat.read_folder(SAMPLE_COURSE)[0]
assert _SPEC is not None
SPEC = _SPEC
GRAPH = learner.ConceptGraph.from_spec(SPEC)


def test_bkt_update_matches_hand_computed_values():
    params = BKTParams(init=0.2, learn=0.3, slip=0.1, guess=0.2)
    # Right: posterior = 0.2*0.9 / (0.2*0.9 + 0.8*0.2) = 0.18/0.34; then learning.
    posterior = 0.18 / 0.34
    assert learner.bkt_update(0.2, True, params, 0.2) == pytest.approx(
        posterior + (1 - posterior) * 0.3
    )
    # Wrong: posterior = 0.2*0.1 / (0.2*0.1 + 0.8*0.8) = 0.02/0.66.
    posterior = 0.02 / 0.66
    assert learner.bkt_update(0.2, False, params, 0.2) == pytest.approx(
        posterior + (1 - posterior) * 0.3
    )
    assert learner.bkt_predict(0.5, 0.1, 0.2) == pytest.approx(0.55)


probability = st.floats(0.01, 0.99)


@given(
    p=probability, slip=st.floats(0.01, 0.3), guess=st.floats(0.0, 0.5), learn=st.floats(0.0, 0.5)
)
def test_mastery_moves_the_right_way(p, slip, guess, learn):
    params = BKTParams(init=0.2, learn=learn, slip=slip, guess=guess)
    right = learner.bkt_update(p, True, params, guess)
    wrong = learner.bkt_update(p, False, params, guess)
    assert right >= p - 1e-9
    assert right >= wrong
    no_learning = BKTParams(init=0.2, learn=0.0, slip=slip, guess=guess)
    assert learner.bkt_update(p, False, no_learning, guess) <= p + 1e-9


def test_prediction_uses_item_difficulty_and_student_ability():
    base = learner.predicted_success(0.6, 0.1, 0.2)
    assert learner.predicted_success(0.6, 0.1, 0.2, beta=learner.prior_difficulty(5)) < base
    assert learner.predicted_success(0.6, 0.1, 0.2, theta=0.5) > base
    theta, beta = learner.elo_update(
        theta=0, beta=0, n_student=0, n_item=0, correct=True, predicted=0.4
    )
    assert theta > 0 and beta < 0  # a surprising success: the student is abler, the item easier


def test_a_right_probe_answer_raises_prerequisites_and_a_wrong_one_lowers_dependents():
    beliefs = learner.prior_beliefs(GRAPH)
    middle = "normalisation"
    up = learner.observe(beliefs, GRAPH, middle, True, slip=0.1, guess=0.02)
    assert up[middle] > beliefs[middle]
    assert up["character-counts"] > beliefs["character-counts"]
    down = learner.observe(beliefs, GRAPH, middle, False, slip=0.1, guess=0.02)
    assert down[middle] < beliefs[middle]
    assert down["bigram-model"] < beliefs["bigram-model"]
    for updated in (up, down):
        assert updated["character-counts"] >= updated[middle] >= updated["bigram-model"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.booleans(), min_size=20, max_size=20), st.integers(1, 12))
def test_the_probe_stops_within_its_cap(answers, cap):
    beliefs = learner.prior_beliefs(GRAPH)
    refs = learner.probe_refs(SPEC, GRAPH) * 5  # more questions than any cap
    refs = [
        learner.ProbeRef(r.step_slug, f"{r.slug}-{i}", r.concept, r.guess)
        for i, r in enumerate(refs)
    ]
    asked = set()
    while len(asked) < cap and not learner.settled(beliefs):
        probe = learner.choose_probe(beliefs, GRAPH, refs, asked)
        if probe is None:
            break
        asked.add((probe.step_slug, probe.slug))
        beliefs = learner.observe(
            beliefs, GRAPH, probe.concept, answers[len(asked) - 1], slip=0.1, guess=probe.guess
        )
    assert len(asked) <= cap


def test_the_first_question_is_the_most_informative_one():
    beliefs = learner.prior_beliefs(GRAPH)
    refs = learner.probe_refs(SPEC, GRAPH)
    chosen = learner.choose_probe(beliefs, GRAPH, refs, set())
    gains = {r.concept: learner.expected_information(beliefs, GRAPH, r, slip=0.1) for r in refs}
    assert gains[chosen.concept] == max(gains.values())


def test_placement_explanation_names_real_concepts_and_the_step():
    beliefs = {"character-counts": 0.97, "normalisation": 0.92, "bigram-model": 0.1}
    step = learner.placement_step(SPEC, beliefs)
    assert step.slug == "bigram-sampling"
    text = learner.placement_explanation(SPEC, GRAPH, beliefs, step)
    assert (
        text == "You already know Character counts and Normalising counts, "
        "so we start at “Sampling from a bigram model”."
    )
    nobody = learner.placement_explanation(
        SPEC, GRAPH, dict.fromkeys(beliefs, 0.1), SPEC.steps()[0]
    )
    assert nobody == "We start at the beginning, with “Counting characters”."


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(st.sampled_from(GRAPH.order), probability),
    st.sets(st.sampled_from([s.slug for s in SPEC.steps()])),
)
def test_the_policy_never_offers_a_locked_step(mastery, completed):
    state = learner.LearnerState(mastery=mastery, completed_steps=completed)
    suggestion = learner.next_activity(SPEC, state)
    unlocked = {s.slug for s in learner.unlocked_steps(SPEC, state)}
    if suggestion is not None:
        assert suggestion.step_slug in unlocked
        assert suggestion.reason


def test_the_policy_picks_the_exercise_closest_to_the_target_and_interleaves_reviews():
    state = learner.LearnerState(mastery={"character-counts": 0.6})
    suggestion = learner.next_activity(SPEC, state, target=0.75)
    step = SPEC.step(suggestion.step_slug)
    candidates = [learner.predict(state, step, e, {}) for e in step.exercises]
    assert abs(suggestion.predicted - 0.75) == min(abs(c - 0.75) for c in candidates)
    reviewing = learner.LearnerState(
        mastery={"character-counts": 0.99, "normalisation": 0.3}, due_reviews=["character-counts"]
    )
    review = learner.next_activity(SPEC, reviewing)
    assert review.is_review and "Character counts" in review.reason
    reviewing.last_was_review = True
    after = learner.next_activity(SPEC, reviewing)
    assert not after.is_review


def test_a_student_still_learning_gets_the_option_to_recognise_before_the_free_answer():
    # The multiple-choice item looks harder than the free one (its difficulty learnt high), yet
    # both are below the band: recognising the right option comes first.
    state = learner.LearnerState(
        mastery={"character-counts": 0.3}, beta={("counting-characters", "most-common"): 1.0}
    )
    step = SPEC.step("counting-characters")
    by_slug = {e.slug: learner.predict(state, step, e, {}) for e in step.exercises}
    assert by_slug["most-common"] < by_slug["count-l"] < 0.75 - learner.CHALLENGE_BAND
    suggestion = learner.next_activity(SPEC, state)
    assert suggestion is not None and suggestion.exercise_slug == "most-common"


def test_an_exercise_is_a_review_when_all_its_concepts_were_mastered_before_the_answer():
    mastery = {"character-counts": 0.97, "normalisation": 0.6}
    assert learner.on_mastered_ground(mastery, ["character-counts"])
    assert not learner.on_mastered_ground(mastery, ["character-counts", "normalisation"])
    assert not learner.on_mastered_ground(mastery, ["bigram-model"])
    assert not learner.on_mastered_ground(mastery, [])


def test_em_refit_recovers_parameters_from_simulated_answers():
    rng = random.Random(7)
    truth = BKTParams(init=0.3, learn=0.2, slip=0.1, guess=0.05)
    sequences = []
    for _ in range(400):
        known = rng.random() < truth.init
        seq = []
        for _ in range(8):
            correct = rng.random() > truth.slip if known else rng.random() < truth.guess
            seq.append((correct, 0.02))
            known = known or rng.random() < truth.learn
        sequences.append(seq)
    fitted = learner.fit_bkt(sequences, BKTParams(init=0.5, learn=0.1, slip=0.2, guess=0.02))
    assert fitted.init == pytest.approx(truth.init, abs=0.08)
    assert fitted.learn == pytest.approx(truth.learn, abs=0.08)
    assert fitted.slip == pytest.approx(truth.slip, abs=0.05)
    assert fitted.guess == pytest.approx(truth.guess, abs=0.05)


def test_after_a_run_of_misses_the_policy_offers_mastered_ground_then_moves_on():
    state = learner.LearnerState(
        mastery={"character-counts": 0.99, "normalisation": 0.2},
        recent=[False, False, False, True],
    )
    footing = learner.next_activity(SPEC, state)
    assert footing.is_review and footing.step_slug == "counting-characters"
    assert "keep your footing" in footing.reason
    # The student gets the consolidation right, and the frontier comes back once the recent
    # answers with the next new exercise are expected within the band again.
    for _ in range(learner.RECENT_WINDOW - 1):
        state.recent.append(True)
        suggestion = learner.next_activity(SPEC, state)
        if not suggestion.is_review:
            break
    assert suggestion.step_slug == "probabilities" and not suggestion.is_review
    rate = learner.expected_recent_success(state, suggestion.predicted)
    assert rate >= 0.75 - learner.CHALLENGE_BAND


def test_without_misses_the_policy_moves_forward():
    state = learner.LearnerState(
        mastery={"character-counts": 0.99, "normalisation": 0.2}, recent=[True, True, True, False]
    )
    forward = learner.next_activity(SPEC, state)
    assert forward.step_slug == "probabilities" and not forward.is_review


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(st.sampled_from(GRAPH.order), probability),
    st.lists(st.booleans(), max_size=12),
)
def test_consolidation_ends_while_the_student_succeeds(mastery, recent):
    """However the recent answers went, successes on mastered ground bring the frontier back
    within RECENT_WINDOW - 1 suggestions."""
    state = learner.LearnerState(mastery=mastery, recent=list(recent))
    for _ in range(learner.RECENT_WINDOW):
        suggestion = learner.next_activity(SPEC, state)
        if suggestion is None or not suggestion.is_review:
            break
        state.recent.append(True)
    assert suggestion is None or not suggestion.is_review


def _beta_for(predicted: float, bkt: float) -> float:
    """The item difficulty that makes an item predicted at `bkt` by BKT come out at
    `predicted`."""

    def logit(p: float) -> float:
        return math.log(p / (1 - p))

    return logit(bkt) - logit(predicted)


@pytest.mark.parametrize(
    ("free", "choice", "expected"),
    [
        # Both below the band: the gentler one, recognising before recalling (the closest).
        (0.55, 0.62, "most-common"),
        # Both within the band: the one that is hard to guess, whose success confirms mastery.
        (0.70, 0.78, "count-l"),
    ],
)
def test_guessable_items_count_as_further_only_within_the_band(free, choice, expected):
    p = 0.5
    bkt_free = learner.bkt_predict(p, 0.1, 0.02)
    bkt_choice = learner.bkt_predict(p, 0.1, 1 / 3)  # three options
    state = learner.LearnerState(
        mastery={"character-counts": p},
        beta={
            ("counting-characters", "count-l"): _beta_for(free, bkt_free),
            ("counting-characters", "most-common"): _beta_for(choice, bkt_choice),
        },
    )
    suggestion = learner.next_activity(SPEC, state)
    assert suggestion.step_slug == "counting-characters"
    assert suggestion.exercise_slug == expected


def test_prerequisite_checks_go_through_each_prerequisite_once_per_streak():
    spec = llm101n.course()
    before = spec.concept("logits").requires  # matmul, nll-loss, gradient-descent
    assert len(before) == 3
    mastery = dict.fromkeys(
        [c.slug for c in spec.concepts if c.slug != "logits" and not c.prior_knowledge], 0.0
    )
    for concept in learner.ConceptGraph.from_spec(spec).ancestors["logits"]:
        mastery[concept] = 0.99
    mastery.update({"matmul": 0.96, "nll-loss": 0.97, "gradient-descent": 0.98, "logits": 0.3})
    state = learner.LearnerState(mastery=mastery)
    for _ in range(learner.STUCK_AFTER):
        learner.record_streaks(state, spec, ["logits"], False)
    checked = []
    for _ in range(len(before) + 1):
        suggestion = learner.next_activity(spec, state)
        if "which it builds on" not in suggestion.reason:
            break
        step = spec.step(suggestion.step_slug)
        exercise = next(e for e in step.exercises if e.slug == suggestion.exercise_slug)
        assert exercise.kind != "multiple_choice"  # a check that a guess cannot pass
        checked += step.teaches
        learner.record_streaks(state, spec, step.teaches, True)  # it proves solid
    # The weakest first, each once; then the student goes on with logits itself.
    assert checked == ["matmul", "nll-loss", "gradient-descent"]
    assert suggestion.step_slug == "neural-bigram"
    # A right answer on logits ends the streak; a new streak checks them all again.
    learner.record_streaks(state, spec, ["logits"], True)
    assert not state.wrong_streak and not state.proven
