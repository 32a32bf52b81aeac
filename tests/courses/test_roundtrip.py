"""Import and export are inverses, on generated courses (hypothesis)."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from courses import fileformat, selectors, services
from courses.models import Course
from courses.spec import ChapterSpec, ConceptSpec, CourseSpec, ExerciseSpec, OptionSpec, StepSpec
from courses.validation import validate

# Text authors really write: any printable character, YAML-looking words, quotes, colons, hashes,
# Markdown and TeX, and line breaks.
_char = st.characters(
    blacklist_categories=("Cs", "Cc"), blacklist_characters="\u2028\u2029\x85\ufeff"
)
_tricky = st.sampled_from(
    [
        "yes",
        "null",
        "~",
        "- item",
        "# heading",
        "a: b",
        "'q'",
        '"dq"',
        "$x^2$",
        "  lead",
        "@x",
        "*",
        "3.0",
    ]
)
text = st.one_of(_tricky, st.text(_char, min_size=1, max_size=30)).filter(lambda s: s.strip())
multiline = (
    st.lists(st.one_of(text, st.just("")), min_size=1, max_size=4)
    .map("\n".join)
    .filter(lambda s: s.strip())
)
slug = st.from_regex(r"[a-z][a-z0-9-]{0,12}", fullmatch=True)
number = st.one_of(
    st.integers(-(10**6), 10**6), st.floats(-1e6, 1e6, allow_nan=False).map(lambda f: round(f, 6))
)


@st.composite
def exercises(draw, slug_, probe=False):
    kind = draw(st.sampled_from(["multiple_choice", "numeric", "short_answer"]))
    exercise = ExerciseSpec(
        slug=slug_,
        kind=kind,
        prompt=draw(multiline),
        difficulty=draw(st.integers(1, 5)),
        hints=[] if probe else draw(st.lists(text, min_size=1, max_size=3)),
        solution="" if probe else draw(multiline),
    )
    if kind == "multiple_choice":
        exercise.options = [OptionSpec(draw(text), correct=True)] + [
            OptionSpec(draw(text), misconception=draw(text)) for _ in range(draw(st.integers(1, 3)))
        ]
    elif kind == "numeric":
        exercise.answer = draw(number)
        exercise.tolerance = draw(st.sampled_from([0.0, 0.5, 0.001]))
        exercise.unit = draw(st.sampled_from(["", "s", "tokens/s"]))
    else:
        exercise.accepted = draw(st.lists(text, min_size=1, max_size=3))
        exercise.rubric = draw(st.one_of(st.just(""), multiline))
    return exercise


@st.composite
def courses(draw):
    """A valid ramp: concept i requires concept i-1; step i teaches concept i."""
    count = draw(st.integers(1, 4))
    concept_slugs = draw(st.lists(slug, min_size=count + 1, max_size=count + 1, unique=True))
    prior = ConceptSpec(concept_slugs[0], draw(text), prior_knowledge=True)
    concepts = [prior] + [
        ConceptSpec(
            s,
            draw(text),
            description=draw(st.one_of(st.just(""), multiline)),
            requires=[concept_slugs[i]],
        )
        for i, s in enumerate(concept_slugs[1:])
    ]
    step_slugs = draw(st.lists(slug, min_size=count, max_size=count, unique=True))
    steps = []
    for i, step_slug in enumerate(step_slugs):
        body = draw(st.one_of(st.just(""), multiline)).strip("\n")
        steps.append(
            StepSpec(
                slug=step_slug,
                title=draw(text),
                body=body + "\n" if body else "",
                teaches=[concept_slugs[i + 1]],
                requires=[concept_slugs[i]] if draw(st.booleans()) else [],
                exercises=[draw(exercises("ex"))],
                probes=[draw(exercises("probe", probe=True))],
            )
        )
    split = draw(st.integers(1, count))
    chapters = [ChapterSpec("part-one", draw(text), steps[:split])]
    if steps[split:]:
        chapters.append(ChapterSpec("part-two", draw(text), steps[split:]))
    return CourseSpec(
        slug=draw(slug),
        title=draw(text),
        summary=draw(st.one_of(st.just(""), multiline)),
        concepts=concepts,
        chapters=chapters,
    )


@given(courses())
@settings(max_examples=150, deadline=None)
def test_files_written_for_a_course_read_back_to_the_same_course(course):
    assert validate(course) == []
    files = fileformat.write_course(course)
    again, problems = fileformat.read_texts(files)
    assert problems == []
    assert again == course
    assert fileformat.write_course(again) == files


@pytest.mark.django_db
@given(courses())
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_import_then_export_gives_the_same_bytes_and_export_then_import_the_same_course(course):
    Course.objects.all().delete()
    files = fileformat.write_course(course)
    imported = services.course_import(files=files).course
    assert services.course_export(imported) == files
    assert selectors.course_spec(imported) == course
    # Export, import again: nothing changes, not even a revision.
    again = services.course_import(files=services.course_export(imported))
    assert again.changed_steps == []
    assert selectors.course_spec(again.course) == course


def test_export_keeps_the_authors_own_formatting_of_unchanged_files(db, sample_files):
    files = dict(sample_files)
    files["course.yaml"] = "# The sample course, hand-written.\n" + files["course.yaml"].replace(
        "title: 'Sample ramp: from counting to bigrams'",
        'title: "Sample ramp: from counting to bigrams"',
    )
    course = services.course_import(files=files).course
    assert services.course_export(course) == files


def test_export_writes_the_canonical_form_of_a_step_changed_since_import(db, sample_files):
    files = dict(sample_files)
    files["steps/probabilities.md"] = files["steps/probabilities.md"].replace(
        "---\ntitle:", "---\n# comment\ntitle:", 1
    )
    course = services.course_import(files=files).course
    step = course.steps.get(slug="probabilities")
    step.title = "Counts become probabilities"
    step.save()
    exported = services.course_export(course)
    assert exported["steps/probabilities.md"].startswith(
        "---\ntitle: Counts become probabilities\n"
    )
    assert exported["steps/counting-characters.md"] == files["steps/counting-characters.md"]
