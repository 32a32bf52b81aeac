"""The solution guard (tutor/guards.py): labelled replies, hostile ones included, then each
signal on its own, the unlocked solution and the hint-level replacement. No database."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from courses import fileformat
from courses.spec import ExerciseSpec, OptionSpec
from tests.conftest import SAMPLE_COURSE
from tutor import guards
from tutor.guards import THRESHOLD, check_reply, safe_replacement

EXAMPLES_FILE = Path(__file__).with_name("guard_examples.yaml")
HOSTILE_TAGS = {"injection", "roleplay", "translation", "base64", "rot13", "reversed", "spaced"}


def _exercise(data: dict[str, Any]) -> ExerciseSpec:
    options = [OptionSpec(**option) for option in data.get("options", [])]
    return ExerciseSpec(**{**data, "options": options})


def _load() -> tuple[dict[str, ExerciseSpec], list[dict[str, Any]]]:
    spec, problems, _ = fileformat.read_folder(SAMPLE_COURSE)
    assert spec is not None and not problems
    exercises = {e.slug: e for step in spec.steps() for e in [*step.exercises, *step.probes]}
    data = yaml.safe_load(EXAMPLES_FILE.read_text(encoding="utf-8"))
    for extra in data["extra_exercises"]:
        exercises[extra["slug"]] = _exercise(extra)
    return exercises, data["examples"]


EXERCISES, EXAMPLES = _load()
LATEX = [
    r"\frac{3}{4} of them", r"$\dfrac {1}{2}$", r"a \approx b", r"2 \times 3 \cdot 4",
    r"x \to y \Rightarrow z", r"\alpha + \beta", "\\", r"\frac{a}{b", "no latex at all",
]  # fmt: skip


def locked(reply: str, exercise: ExerciseSpec) -> guards.GuardVerdict:
    return check_reply(reply, exercise, solution_unlocked=False)


@dataclass
class Tally:
    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


# ---------------------------------------------------------------------------------------------
# The labelled set


def test_labelled_set_is_large_and_covers_every_kind_and_hostile_technique():
    assert len(EXAMPLES) >= 60
    for example in EXAMPLES:
        assert example["exercise"] in EXERCISES, example
        assert isinstance(example["trip"], bool), example
    for kind in ("numeric", "multiple_choice", "short_answer"):
        labels = {e["trip"] for e in EXAMPLES if EXERCISES[e["exercise"]].kind == kind}
        assert labels == {True, False}, kind
    tags = {tag for example in EXAMPLES for tag in example["tags"]}
    assert HOSTILE_TAGS | {"language", "unicode", "hint", "restate", "prompt-numbers"} <= tags
    for tag in HOSTILE_TAGS - {"spaced", "reversed"}:
        # Hostile requests answered with a refusal or a hint must pass, not only trip.
        labels = {e["trip"] for e in EXAMPLES if tag in e["tags"]}
        assert labels == {True, False}, tag


def test_guard_decides_every_labelled_reply_as_labelled() -> None:
    tally = Tally()
    wrong: list[str] = []
    for example in EXAMPLES:
        verdict = locked(example["reply"], EXERCISES[example["exercise"]])
        expected = example["trip"]
        if verdict.tripped and expected:
            tally.tp += 1
        elif verdict.tripped:
            tally.fp += 1
        elif expected:
            tally.fn += 1
        else:
            tally.tn += 1
        if verdict.tripped != expected:
            wrong.append(
                f"  [{example['exercise']}] expected trip={expected}, score {verdict.score:.2f}:"
                f" {example['reply']!r} {verdict.reasons}"
            )
    summary = (
        f"precision {tally.precision:.3f}, recall {tally.recall:.3f} over {len(EXAMPLES)}"
        f" replies (tp {tally.tp}, fp {tally.fp}, tn {tally.tn}, fn {tally.fn})"
    )
    assert not wrong, summary + "\n" + "\n".join(wrong)


def test_a_guard_reused_for_one_exercise_gives_check_replys_verdicts() -> None:
    # The TA keeps one ReplyGuard per turn and checks the growing text of the reply with it.
    guards_by_exercise: dict[str, guards.ReplyGuard] = {}
    tripped = 0
    for example in EXAMPLES:
        exercise = EXERCISES[example["exercise"]]
        guard = guards_by_exercise.setdefault(exercise.slug, guards.ReplyGuard(exercise))
        reply = example["reply"]
        for text in (reply[: len(reply) // 2], reply):  # as if streamed: half, then all
            assert guard.check(text, solution_unlocked=False) == locked(text, exercise)
        tripped += guard.check(reply, solution_unlocked=False).tripped
        assert not guard.check(reply, solution_unlocked=True).tripped
    assert 0 < tripped < len(EXAMPLES)


def test_what_a_guard_remembers_between_flushes_never_changes_a_verdict() -> None:
    # Each flush checks the reply so far; the decoded readings of its sentences and the words
    # read as base64 are remembered from the flush before. Streamed in small steps, every
    # labelled reply gets at each step the verdict of a guard that remembers nothing.
    def forget() -> None:
        guards._segment_readings.cache_clear()
        guards._decode_base64.cache_clear()

    for example in EXAMPLES:
        exercise, reply = EXERCISES[example["exercise"]], example["reply"]
        guard = guards.ReplyGuard(exercise)
        forget()
        for end in [*range(5, len(reply), 5), len(reply)]:
            streamed = guard.check(reply[:end], solution_unlocked=False)
            forget()
            assert streamed == guard.check(reply[:end], solution_unlocked=False), reply[:end]
            guard.check(reply[:end], solution_unlocked=False)  # remembered again for the next
    assert guards._segment_readings.cache_info().hits > 0


@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=60) | st.sampled_from(LATEX))
def test_folding_ascii_text_skips_the_unicode_steps_and_gives_the_same_form(text: str) -> None:
    assert guards._fold(text) == guards._fold_unicode(text)


def test_tripped_verdicts_explain_themselves_and_agree_with_the_threshold():
    for example in EXAMPLES:
        verdict = locked(example["reply"], EXERCISES[example["exercise"]])
        assert 0.0 <= verdict.score <= 1.0
        assert verdict.tripped == (verdict.score >= THRESHOLD)
        if verdict.tripped:
            assert verdict.reasons and all(isinstance(r, str) and r for r in verdict.reasons)


# ---------------------------------------------------------------------------------------------
# Numeric answers

COUNT_L = EXERCISES["count-l"]
PROB_OF_A = EXERCISES["prob-of-a"]
CONTEXT_SIZE = EXERCISES["context-size"]
A_IN_ABAB = EXERCISES["a-in-abab"]


@pytest.mark.parametrize(
    "reply",
    [
        "The answer is 0.5.",
        "The answer is .5",
        "The answer is 1/2.",
        "The answer is 5e-1.",
        "The answer is 50%.",
        "The answer is 0,5.",
        "The answer is one half.",
        "The answer is \uff10.\uff15.",  # full-width digits
        "The answer is \U0001d7ce.\U0001d7d3.",  # mathematical bold digits
        "The answer is zero point five.",
        "P(a) = $\\frac{3}{6}$",
    ],
)
def test_numeric_answer_trips_in_every_written_form_the_parser_reads(reply):
    assert locked(reply, PROB_OF_A).tripped


def test_numeric_answer_within_tolerance_or_rounded_to_the_replys_precision_trips():
    exercise = replace(PROB_OF_A, answer=1.5729, tolerance=0.0005)
    assert locked("The answer is 1.5731.", exercise).tripped
    assert locked("It comes to about 1.57.", exercise).tripped
    assert not locked("It is not far from 1.6 or 2.", exercise).tripped


def test_unicode_minus_is_a_minus_sign():
    exercise = replace(PROB_OF_A, answer=-2.0, tolerance=0.0)
    assert locked("The gradient is \u22122.", exercise).tripped
    assert not locked("The gradient is 2.", exercise).tripped


@pytest.mark.parametrize(
    "reply",
    [
        "The answer is three.",
        "Die Antwort ist drei.",
        "La réponse est trois.",
        "La respuesta es tres.",
        "It appears twice... no, three times.",
    ],
)
def test_small_integers_spelled_as_words_count_in_english_french_german_and_spanish(reply):
    assert locked(reply, COUNT_L).tripped


def test_numbers_that_are_labels_or_list_markers_do_not_count():
    reply = "Hint 3 is coming later.\n1. Write the text.\n2. Circle each `l`.\n3. Count them."
    assert not locked(reply, COUNT_L).tripped


def test_answer_as_a_verb_is_no_frame_but_answer_with_a_colon_or_verb_is():
    assert not locked("Can you answer 3 quick questions for me first?", COUNT_L).tripped
    for reply in ("Answer: 3", "ANSWER=3", "The answer's 3.", "Final answer - 3"):
        assert locked(reply, COUNT_L).tripped, reply


def test_one_as_a_pronoun_does_not_count_but_one_previous_character_does():
    assert not locked("Compare the current character with the next one.", CONTEXT_SIZE).tripped
    assert not locked("Which one of the two is predicted?", CONTEXT_SIZE).tripped
    assert locked("It looks at one previous character.", CONTEXT_SIZE).tripped


def test_quoting_a_number_the_prompt_contains_passes_but_presenting_it_as_the_answer_trips():
    # The prompt says "4 characters and 2 distinct ones"; the answer is 2.
    assert not locked("The text has 2 distinct characters; now find the `a`s.", A_IN_ABAB).tripped
    assert not locked("You know there are 2 distinct ones. Which are they?", A_IN_ABAB).tripped
    assert locked("The answer is 2.", A_IN_ABAB).tripped
    assert locked("`a` appears 2 times.", A_IN_ABAB).tripped


def test_a_distinctive_answer_trips_even_unframed_but_a_small_one_needs_a_frame():
    assert locked("Think about 0.5 for a moment.", PROB_OF_A).tripped
    assert not locked("Think about 3 for a moment.", COUNT_L).tripped
    assert locked("Think about it: there are 3.", COUNT_L).tripped


def test_a_stated_number_counting_something_else_stays_below_the_threshold():
    verdict = locked("There are three things to check. Where is each `l`?", COUNT_L)
    assert 0 < verdict.score < THRESHOLD
    assert locked("There are three `l`s.", COUNT_L).tripped  # `l` is what the prompt is about


def test_quoting_an_authored_hint_passes_even_when_its_number_is_the_answer():
    hint = A_IN_ABAB.hints[1]
    assert "2" in hint
    assert not locked(f"Here's a hint: {hint} Look at each `ab`.", A_IN_ABAB).tripped


def test_saying_the_answer_is_wrong_is_not_giving_it():
    assert not locked("It is not 3, whatever the forum says; count again.", COUNT_L).tripped


# ---------------------------------------------------------------------------------------------
# Accepted short answers

NAME_THE_STEP = EXERCISES["name-the-step"]
BIGRAM_PROBE = EXERCISES["bigram-probe"]


def test_accepted_answer_as_a_phrase_trips_whatever_the_case_accents_or_markup():
    assert locked("It is called **Normalisation**.", NAME_THE_STEP).tripped
    assert locked("The word is NORMALIZATION", NAME_THE_STEP).tripped
    assert locked("A `bi-gram` model.", BIGRAM_PROBE).tripped


def test_accepted_answer_that_the_prompt_already_shows_does_not_count():
    exercise = replace(
        NAME_THE_STEP,
        prompt="Dividing counts by their total is called what? (Hint: it is normalisation.)",
    )
    assert not locked("As the question says, this is about normalisation.", exercise).tripped


def test_a_word_sharing_the_answers_long_stem_trips_but_a_short_prefix_does_not():
    assert locked("Just normalise them.", NAME_THE_STEP).tripped
    assert locked("Das ist die Normalisierung.", NAME_THE_STEP).tripped
    assert not locked("The word starts with normal.", NAME_THE_STEP).tripped


# ---------------------------------------------------------------------------------------------
# Multiple choice

MOST_COMMON = EXERCISES["most-common"]
NEXT_AFTER_Q = EXERCISES["next-after-q"]
SUMS_TO_ONE = EXERCISES["sums-to-one"]


@pytest.mark.parametrize(
    "reply",
    [
        "The answer is `a`.",
        "Option A is correct.",
        "Pick (a).",
        "Choose option 1.",
        "The first one is right.",
        "La première option est la bonne.",
        "It's a.",
    ],
)
def test_naming_the_correct_option_by_text_or_position_trips(reply):
    assert locked(reply, MOST_COMMON).tripped


def test_listing_the_options_or_an_article_a_does_not_identify_the_correct_one():
    assert not locked("Is it `a`, `n` or `b`? Count them.", MOST_COMMON).tripped
    assert not locked("Take a pencil and make a tally for each letter.", MOST_COMMON).tripped
    assert not locked("Compare option A, option B and option C.", MOST_COMMON).tripped


def test_numeric_options_are_read_like_numeric_answers():
    exercise = EXERCISES["n-in-banana"]
    assert not locked("Is it 1, 2 or 3? Count carefully.", exercise).tripped
    assert locked("Pick 2.", exercise).tripped
    assert locked("`n` appears twice.", exercise).tripped


def test_an_option_inside_a_longer_option_counts_as_the_longer_one():
    exercise = ExerciseSpec(
        slug="rounding",
        kind="multiple_choice",
        prompt="How far can a rounded weight be from the original, with step s?",
        options=[OptionSpec("at most s/2", correct=True), OptionSpec("at most s")],
    )
    assert locked("It is at most s/2.", exercise).tripped
    assert not locked("Is it at most s/2, or at most s? Try s = 1.", exercise).tripped


def test_an_option_named_inside_a_quote_of_the_prompt_does_not_count():
    exercise = ExerciseSpec(
        slug="lower-loss",
        kind="multiple_choice",
        prompt="Model A scores a loss of 0.9, model B scores 1.9. Which model is better?",
        options=[OptionSpec("model A", correct=True), OptionSpec("model B")],
    )
    quote = 'The question says: "Model A scores a loss of 0.9." What does a lower loss mean?'
    assert not locked(quote, exercise).tripped
    assert locked("The better one is model A.", exercise).tripped


def test_ruling_out_the_only_wrong_option_of_two_trips():
    assert locked("It's not e.", NEXT_AFTER_Q).tripped
    assert locked("`e` is wrong here.", NEXT_AFTER_Q).tripped
    assert locked("It is not the number of characters.", SUMS_TO_ONE).tripped


def test_ruling_out_one_wrong_option_of_several_does_not_trip():
    verdict = locked("It's not `b`: the first character isn't special.", MOST_COMMON)
    assert not verdict.tripped and verdict.score > 0


def test_singling_out_the_correct_option_trips_but_discussing_a_wrong_one_does_not():
    assert locked("q is nearly always followed by u.", NEXT_AFTER_Q).tripped
    assert not locked("`e` is common overall. Is it common after `q`?", NEXT_AFTER_Q).tripped


# ---------------------------------------------------------------------------------------------
# Worked-solution overlap and code similarity

COUNT_CHARS = EXERCISES["count-chars-code"]
NORMALISE = EXERCISES["normalise-code"]


def test_copying_the_solutions_prose_trips_on_word_ngram_overlap():
    verdict = locked("Nearly every q is followed by u, so P(u|q) is close to 1.", NEXT_AFTER_Q)
    assert verdict.tripped
    assert any(r.startswith("solution overlap") for r in verdict.reasons)


def test_sharing_a_single_phrase_with_a_short_solution_stays_below_the_threshold():
    verdict = locked("After dividing, the values sum to one. What is that called?", NAME_THE_STEP)
    assert not verdict.tripped


def test_a_long_solution_copied_in_part_trips_on_the_number_of_shared_ngrams():
    solution = " ".join(
        f"Sentence {word} explains gradient flow through node {word} carefully and precisely."
        for word in ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
    )
    exercise = replace(NAME_THE_STEP, accepted=["zzz"], solution=solution, hints=[])
    half = solution[: len(solution) // 2]
    assert locked(half, exercise).tripped
    assert not locked("Gradient flow matters. Which node comes first?", exercise).tripped


def test_solution_code_copied_or_reformatted_trips():
    code = COUNT_CHARS.solution.split("```")[1].removeprefix("python\n")
    assert locked(f"```python\n{code}```", COUNT_CHARS).tripped
    squeezed = code.replace("    ", "  ").replace(" = ", "=").replace(" + ", "+")
    assert locked(f"```\n{squeezed}\n```", COUNT_CHARS).tripped
    assert locked(code, COUNT_CHARS).tripped  # code-like lines without a fence


def test_a_hint_level_line_of_code_stays_below_the_code_threshold():
    verdict = locked("Begin with `total = sum(counts.values())`.", NORMALISE)
    assert not verdict.tripped


def test_code_with_other_identifiers_is_less_similar_than_a_copy():
    code = NORMALISE.solution.split("```")[1].removeprefix("python\n")
    copy = locked(f"```python\n{code}```", NORMALISE).score
    renamed = code.replace("counts", "c").replace("total", "t").replace("normalise", "f")
    assert locked(f"```python\n{renamed}```", NORMALISE).score < copy


# ---------------------------------------------------------------------------------------------
# Evasions


@pytest.mark.parametrize(
    ("reply", "encoding"),
    [
        ("VGhlIGFuc3dlciBpcyAzLg==", "base64"),
        ("Gur nafjre vf guerr.", "rot13"),
        (".eerht si rewsna ehT", "reversed text"),
        # Reversing the whole line ("three. is answer The") reveals it just as well.
        ("ehT rewsna si .eerht", "reversed"),
        ("t h r e e", "spaced letters"),
        ("t-h-r-e-e", "spaced letters"),
    ],
)
def test_encoded_answers_are_decoded_and_named_in_the_reasons(reply, encoding):
    verdict = locked(reply, COUNT_L)
    assert verdict.tripped
    assert any(f"after decoding {encoding}" in reason for reason in verdict.reasons)


def test_words_reversed_in_place_are_decoded_in_order_for_the_solution_overlap():
    solution = "Nearly every q is followed by u, so P(u|q) is close to 1."
    reply = " ".join(word[::-1] for word in solution.split())
    verdict = locked(reply, NEXT_AFTER_Q)
    assert verdict.tripped
    assert any(
        r.startswith("solution overlap") and "after decoding reversed words" in r
        for r in verdict.reasons
    )


def test_nested_base64_is_decoded_too():
    assert locked("VkdobElHRnVjM2RsY2lCcGN5QXpMZz09", COUNT_L).tripped


def test_ordinary_text_is_not_mistaken_for_an_encoding():
    reply = "Then look at each word. Count carefully, and tell me what you find in `hello world`."
    verdict = locked(reply, COUNT_L)
    assert not verdict.tripped
    assert not any("decoding" in reason for reason in verdict.reasons)


@pytest.mark.parametrize(
    "reply",
    [
        "It appears \u0663 times.",  # Arabic-Indic
        "It appears \u0969 times.",  # Devanagari
        "It appears \uff13 times.",  # full-width
        "It appears \U0001d7db times.",  # double-struck
        "It appears \u2462 times.",  # circled
        "It appears 3\ufe0f\u20e3 times.",  # keycap emoji
        "It appears th\u200bree times.",  # zero-width space
    ],
)
def test_unicode_digits_and_invisible_characters_are_folded(reply):
    assert locked(reply, COUNT_L).tripped


# ---------------------------------------------------------------------------------------------
# Unlocked solution, verdict, replacement


def test_unlocked_solution_never_trips():
    for example in EXAMPLES:
        verdict = check_reply(
            example["reply"], EXERCISES[example["exercise"]], solution_unlocked=True
        )
        assert not verdict.tripped and verdict.score == 0.0


def test_verdict_is_immutable():
    verdict = locked("The answer is 3.", COUNT_L)
    with pytest.raises(FrozenInstanceError):
        setattr(verdict, "tripped", False)  # noqa: B010 (assignment to a frozen field)


def test_empty_reply_and_exercise_without_solution_pass():
    assert not locked("", COUNT_L).tripped
    bare = ExerciseSpec(slug="x", kind="numeric", prompt="How many?", answer=None)
    assert not locked("The answer is 3.", bare).tripped


def test_safe_replacement_gives_the_next_unrevealed_hint():
    first = safe_replacement(COUNT_L, 0)
    second = safe_replacement(COUNT_L, 1)
    assert COUNT_L.hints[0] in first and COUNT_L.hints[1] not in first
    assert COUNT_L.hints[1] in second


def test_safe_replacement_after_the_last_hint_is_a_socratic_nudge_for_the_kind():
    for exercise in (COUNT_L, MOST_COMMON, NAME_THE_STEP):
        nudge = safe_replacement(exercise, len(exercise.hints))
        assert nudge.rstrip().endswith(("?", "."))
        assert "?" in nudge
        assert not any(hint in nudge for hint in exercise.hints)
    assert safe_replacement(COUNT_L, 99) != safe_replacement(MOST_COMMON, 99)
    assert safe_replacement(EXERCISES["count-probe"], 0) == safe_replacement(COUNT_L, 99)


def test_safe_replacement_never_trips_the_guard_itself():
    for exercise in EXERCISES.values():
        for revealed in range(-1, len(exercise.hints) + 2):
            reply = safe_replacement(exercise, revealed)
            assert reply.strip()
            assert not locked(reply, exercise).tripped, (exercise.slug, revealed, reply)
