"""Retrieval for the TA on real PostgreSQL with pgvector, embedded by a real model worker.

The sample ramp has three steps: counting-characters (open from the start), probabilities (needs
character counts) and bigram-sampling (needs normalisation).
"""

from __future__ import annotations

import contextlib
import logging
import math
import re

import pytest

from courses import selectors
from courses import services as course_services
from courses.models import CourseVersion
from courses.spec import ChapterSpec, CourseSpec, ExerciseSpec, OptionSpec, StepSpec
from tutor import progress, retrieval
from tutor.model_client import ModelUnavailable
from tutor.models import CourseChunk, ExerciseProgress
from tutor.tasks import index_course_version, index_pending_course_versions

ALL_STEPS = {"counting-characters", "probabilities", "bigram-sampling"}
# Shares no word with the probabilities step ("Dividing by the total makes them comparable"):
# only the embedding can find it.
PARAPHRASE = "How can I convert raw tallies into a distribution?"


@pytest.fixture
def version(sample_course) -> CourseVersion:
    latest = selectors.latest_version(sample_course)
    assert latest is not None
    return latest


@pytest.fixture
def indexed(version, with_model_worker) -> CourseVersion:
    result = retrieval.index_version(version.pk)
    assert result.chunks == result.embedded > 0
    return version


def _rows(version: CourseVersion) -> list[tuple[object, ...]]:
    return list(
        CourseChunk.objects.filter(course_version=version)
        .order_by("position")
        .values_list("pk", "step_slug", "section", "position", "text", "embedding")
    )


def _steps(passages: list[retrieval.Passage]) -> list[str]:
    return [p.step_slug for p in passages]


# ---------------------------------------------------------------------------------------------
# Chunking


def test_chunks_hold_step_text_and_exercise_prompts_but_never_solutions_hints_or_answers(version):
    spec = selectors.version_spec(version)
    chunks = retrieval.chunk_version(spec)
    everything = "\n".join(c.text for c in chunks)

    assert [c.position for c in chunks] == list(range(len(chunks)))
    assert {c.step_slug for c in chunks} == ALL_STEPS
    assert "Dividing by the total makes them comparable" in everything
    for step in spec.steps():
        for exercise in step.exercises:
            assert exercise.prompt.strip() in everything
            kept_back = [exercise.solution.strip(), exercise.rubric, *exercise.hints]
            kept_back += [option.misconception for option in exercise.options]
            for secret in filter(None, kept_back):
                assert secret not in everything, (exercise.slug, secret)
        for probe in step.probes:
            assert probe.prompt not in everything
    # The sample's solutions and answers, spelled out.
    for secret in ("$P(a) = 3 / 6 = 0.5$", "Nearly every `q` is followed by `u`", "gives 3."):
        assert secret not in everything
    assert "normalis" not in everything.lower()  # the accepted answer of name-the-step
    assert "mississippi" not in everything  # a probe


def test_long_sections_are_cut_between_paragraphs_and_code_comments_are_not_headings():
    sentence = "tokens become vectors and vectors become text. "
    paragraphs = [(f"Paragraph {i}: " + sentence * 8).strip() for i in range(6)]
    body = "\n\n".join(
        [
            "# Embeddings",
            "Before any heading of its own.",
            "## Long section",
            *paragraphs,
            "```python\n# a comment, not a heading\nx = 1\n```",
            "## Only a heading",
            "### Next",
            "Last words.",
        ]
    )
    exercise = ExerciseSpec(
        slug="dims",
        kind="numeric",
        prompt="How many numbers per token?",
        hints=["Count the columns."],
        solution="Sixty-four, the width of the table.",
        answer=64,
    )
    choice = ExerciseSpec(
        slug="pick",
        kind="multiple_choice",
        prompt="Which is a vector?",
        options=[OptionSpec("a list of numbers", correct=True), OptionSpec("a word")],
    )
    step = StepSpec(slug="embeddings", title="Embeddings", body=body, exercises=[exercise, choice])
    spec = CourseSpec(slug="c", title="C", chapters=[ChapterSpec("ch", "Ch", [step])])

    chunks = retrieval.chunk_version(spec)

    assert all(len(c.text) <= retrieval.MAX_CHUNK_CHARS for c in chunks)
    long_ones = [c for c in chunks if c.section == "Long section"]
    assert len(long_ones) >= 2
    assert long_ones[0].text.startswith("## Long section")
    for paragraph in paragraphs:  # each paragraph whole, in exactly one passage
        assert sum(paragraph in c.text for c in long_ones) == 1
    assert "# a comment, not a heading" in long_ones[-1].text
    assert [c.section for c in chunks] == [
        "Embeddings",
        *["Long section"] * len(long_ones),
        "Next",
        "Exercise: dims",
        "Exercise: pick",
    ]
    text = "\n".join(c.text for c in chunks)
    assert "Sixty-four" not in text and "Count the columns" not in text
    assert "a list of numbers" not in text


# ---------------------------------------------------------------------------------------------
# Indexing


def test_indexing_twice_leaves_the_same_rows_with_384_number_unit_embeddings(
    version, with_model_worker
):
    first = retrieval.index_version(version.pk)
    rows = _rows(version)
    second = retrieval.index_version(version.pk)

    assert first.replaced and not second.replaced
    assert first.chunks == second.chunks == first.embedded == len(rows) > 0
    assert _rows(version) == rows
    for *_, embedding in rows:
        assert len(embedding) == 384
        assert math.isclose(sum(x * x for x in embedding), 1.0, rel_tol=1e-3)


def test_indexing_a_vanished_version_does_nothing(db):
    assert retrieval.index_version(10**9).chunks == 0


# ---------------------------------------------------------------------------------------------
# Search


def test_a_paraphrase_finds_the_step_by_meaning(indexed):
    passages = retrieval.search(version=indexed, allowed_steps=ALL_STEPS, query=PARAPHRASE)

    assert len(passages) == 4
    top = passages[0]
    assert top.step_slug == "probabilities"
    assert top.step_title == "From counts to probabilities"
    assert "Dividing by the total" in top.text
    assert top.url == "/courses/sample-ramp/steps/probabilities/"
    assert [p.score for p in passages] == sorted((p.score for p in passages), reverse=True)


def test_an_exact_term_is_found_by_full_text_and_fused_with_its_embedding_rank(indexed):
    passages = retrieval.search(version=indexed, allowed_steps=ALL_STEPS, query="Counter")

    assert passages[0].step_slug == "counting-characters"
    assert "Counter(" in passages[0].text
    # First in both rankings: 1/(60+1) twice.
    assert passages[0].score == pytest.approx(2 / 61)


def test_exercise_prompts_are_cited_at_their_exercise(indexed):
    passages = retrieval.search(
        version=indexed, allowed_steps=ALL_STEPS, query='"most often follows"', k=1
    )
    assert passages[0].section == "Exercise: next-after-q"
    assert passages[0].url == "/courses/sample-ramp/steps/bigram-sampling/#ex-next-after-q"


def test_reciprocal_rank_fusion_rewards_agreement_between_rankings():
    by_meaning = ["a", "b", "c"]
    by_words = ["c", "b", "d"]

    fused = retrieval.reciprocal_rank_fusion([by_meaning, by_words])

    # c: 1/61 + 1/63 beats b: 1/62 + 1/62; a and d appear once, a at the better rank.
    assert [item for item, _ in fused] == ["c", "b", "a", "d"]
    scores = dict(fused)
    assert scores["c"] == pytest.approx(1 / 61 + 1 / 63)
    assert scores["b"] == pytest.approx(2 / 62)
    assert scores["a"] == pytest.approx(1 / 61)
    # A repeat inside one ranking counts once; k is the documented 60 unless given.
    assert dict(retrieval.reciprocal_rank_fusion([["x", "x"]])) == {"x": pytest.approx(1 / 61)}
    assert dict(retrieval.reciprocal_rank_fusion([["x"]], k=0)) == {"x": 1.0}


def test_locked_steps_never_come_back_whatever_the_query(indexed, sample_course, sample_student):
    spec = selectors.version_spec(indexed)
    allowed = progress.open_steps(
        spec,
        progress.solved_exercises(sample_student, sample_course),
        progress.mastered_concepts(sample_student, sample_course),
    )
    assert allowed == {"counting-characters"}

    for query in (PARAPHRASE, "Dividing by the total", "bigram", "probabilities", "Counter"):
        passages = retrieval.search(version=indexed, allowed_steps=allowed, query=query, k=10)
        assert passages, query
        assert set(_steps(passages)) == {"counting-characters"}, query
    assert retrieval.search(version=indexed, allowed_steps=set(), query="Counter") == []

    for exercise in ("count-l", "most-common"):
        ExerciseProgress.objects.create(
            user=sample_student,
            course=sample_course,
            step_slug="counting-characters",
            exercise_slug=exercise,
            attempts=1,
            solved=True,
        )
    allowed = progress.open_steps(
        spec,
        progress.solved_exercises(sample_student, sample_course),
        progress.mastered_concepts(sample_student, sample_course),
    )
    assert allowed == {"counting-characters", "probabilities"}
    passages = retrieval.search(version=indexed, allowed_steps=allowed, query=PARAPHRASE, k=10)
    assert passages[0].step_slug == "probabilities"
    assert "bigram-sampling" not in _steps(passages)


def test_blank_queries_find_nothing(indexed):
    for query in ("", "  \n "):
        assert retrieval.search(version=indexed, allowed_steps=ALL_STEPS, query=query) == []


# ---------------------------------------------------------------------------------------------
# Without the model worker


def test_with_the_model_down_chunks_are_stored_for_full_text_and_embedded_later(
    version, settings, without_model_worker, model_worker
):
    with pytest.raises(ModelUnavailable):
        retrieval.index_version(version.pk)
    rows = _rows(version)
    assert rows and all(embedding is None for *_, embedding in rows)

    exact = retrieval.search(version=version, allowed_steps=ALL_STEPS, query="Counter")
    assert exact[0].step_slug == "counting-characters"
    # A question in plain words, which no passage contains as written, by its content words.
    question = "What does dividing counts by the total give?"
    loose = retrieval.search(version=version, allowed_steps=ALL_STEPS, query=question)
    assert loose and set(_steps(loose)) == {"probabilities"}

    settings.EUREKA_MODEL_BASE_URL = model_worker
    again = retrieval.index_version(version.pk)
    assert again.embedded == again.chunks == len(rows) and not again.replaced
    assert [row[:5] for row in _rows(version)] == [row[:5] for row in rows]
    assert all(embedding is not None for *_, embedding in _rows(version))


def test_a_query_the_model_cannot_embed_falls_back_to_full_text(indexed, settings):
    settings.EUREKA_MODEL_BASE_URL = "http://127.0.0.1:9/v1"

    passages = retrieval.search(version=indexed, allowed_steps=ALL_STEPS, query="Counter")

    assert passages[0].step_slug == "counting-characters"
    # Only the full-text ranking: 1/(60+1) for its first passage.
    assert passages[0].score == pytest.approx(1 / 61)


# ---------------------------------------------------------------------------------------------
# The task and the publish hook


def test_the_index_task_is_idempotent_late_acked_and_retried_with_backoff(
    version, with_model_worker
):
    assert index_course_version.acks_late
    assert index_course_version.autoretry_for == (ModelUnavailable,)
    assert index_course_version.retry_backoff
    assert index_course_version.max_retries == 5

    assert index_course_version.delay(version.pk).get() == len(_rows(version)) > 0
    rows = _rows(version)
    assert index_course_version.delay(version.pk).get() == len(rows)
    assert _rows(version) == rows


def test_publishing_indexes_the_new_version_after_commit(
    sample_course, with_model_worker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        version = course_services.course_publish(course=sample_course, user=None)
        assert not CourseChunk.objects.filter(course_version=version).exists()

    assert len(callbacks) == 1
    rows = _rows(version)
    assert rows and all(embedding is not None for *_, embedding in rows)
    found = retrieval.search(version=version, allowed_steps=ALL_STEPS, query=PARAPHRASE)
    assert found[0].step_slug == "probabilities"


def test_publishing_with_the_model_down_still_publishes_and_the_sweep_catches_up(
    sample_course,
    settings,
    without_model_worker,
    model_worker,
    django_capture_on_commit_callbacks,
    caplog,
):
    with caplog.at_level(logging.ERROR), django_capture_on_commit_callbacks(execute=True):
        version = course_services.course_publish(course=sample_course, user=None)

    assert version.number == 2
    # Run eagerly (the embedded mode), the publish indexes for full text and logs no error.
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    rows = _rows(version)
    assert rows and all(embedding is None for *_, embedding in rows)
    # Membership, not equality: a test process sharing the database may have committed others.
    assert version.pk in retrieval.versions_needing_index()

    settings.EUREKA_MODEL_BASE_URL = model_worker
    assert index_pending_course_versions.delay().get() >= 1
    assert all(embedding is not None for *_, embedding in _rows(version))
    assert version.pk not in retrieval.versions_needing_index()


def test_a_prefetched_embedding_gives_the_same_passages_as_embedding_in_the_search(indexed):
    ahead = retrieval.prefetch_query_embedding(PARAPHRASE)
    assert ahead is not None

    prefetched = retrieval.search(
        version=indexed, allowed_steps=ALL_STEPS, query=PARAPHRASE, embedding=ahead
    )
    inline = retrieval.search(version=indexed, allowed_steps=ALL_STEPS, query=PARAPHRASE)

    assert [(p.chunk_id, p.score, p.relevant) for p in prefetched] == [
        (p.chunk_id, p.score, p.relevant) for p in inline
    ]
    assert prefetched[0].step_slug == "probabilities"


async def test_an_embedding_prefetched_on_an_event_loop_equals_the_threaded_one(indexed):
    """On the chat socket's loop the request goes out from the loop itself; cancelling the
    future cancels the request and frees its place under the bound."""
    import asyncio

    threaded = await asyncio.to_thread(retrieval._embed_query, PARAPHRASE)
    ahead = retrieval.prefetch_query_embedding(PARAPHRASE)
    assert ahead is not None
    on_loop = await asyncio.wrap_future(ahead)
    assert on_loop == pytest.approx(threaded, abs=1e-6)

    free_before = retrieval._pending._value
    started_before = set(retrieval._embedding_tasks)
    dropped = retrieval.prefetch_query_embedding("a question refused before it is stored")
    assert dropped is not None and retrieval._pending._value == free_before - 1
    (request,) = set(retrieval._embedding_tasks) - started_before
    assert dropped.cancel()
    assert retrieval._pending._value == free_before
    with contextlib.suppress(asyncio.CancelledError):
        await request
    assert request.cancelled()


def test_one_shared_word_is_not_a_match_two_are_and_strict_matches_come_first(indexed):
    """The full-text ranking: the query as written first, then passages sharing at least two
    of its content words (as prefixes: "dividing" meets "divide")."""
    one_word = retrieval._text_ranking(
        retrieval._Scope(indexed.pk, sorted(ALL_STEPS)), "zebras dividing", pool=20
    )
    two_words = retrieval._text_ranking(
        retrieval._Scope(indexed.pk, sorted(ALL_STEPS)), "zebras dividing totals", pool=20
    )
    strict = retrieval._text_ranking(
        retrieval._Scope(indexed.pk, sorted(ALL_STEPS)), "Counter", pool=20
    )

    assert one_word == []
    assert two_words
    chunks = CourseChunk.objects.in_bulk(two_words)
    assert all(
        sum(word in chunks[pk].text.lower() for word in ("zebra", "divid", "total")) >= 2
        for pk in two_words
    )
    # "Counter" as written, then the passages that only share its prefix "count".
    texts = CourseChunk.objects.in_bulk(strict)
    has_word = [bool(re.search(r"\bcounter\b", texts[pk].text, re.IGNORECASE)) for pk in strict]
    assert has_word[0] and False in has_word
    assert has_word == sorted(has_word, reverse=True)


def test_prefetching_stops_at_its_bound_and_resumes_as_embeddings_finish(monkeypatch):
    """A fake embedding call that waits until released (a slow model worker), as a flood of
    messages would meet it."""
    import threading

    release = threading.Event()
    monkeypatch.setattr(retrieval, "_embed_query", lambda query: release.wait(10) and [0.0])
    started = [retrieval.prefetch_query_embedding(f"q{i}") for i in range(40)]
    try:
        assert sum(f is not None for f in started) == retrieval.MAX_PENDING_EMBEDDINGS
        assert started[retrieval.MAX_PENDING_EMBEDDINGS :] == [None] * (
            40 - retrieval.MAX_PENDING_EMBEDDINGS
        )
    finally:
        release.set()
        for future in started:
            if future is not None:
                future.result(timeout=10)
    again = retrieval.prefetch_query_embedding("after the flood")
    assert again is not None and again.result(timeout=10) == [0.0]
