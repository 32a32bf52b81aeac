"""The exercise editor, for every kind, with its hint ladder and worked solution; probes are
edited the same way. Rearranging rows never saves and never loses what was typed."""

from django.urls import reverse

from courses import selectors
from courses.models import Exercise, StepRevision
from courses.spec import OptionSpec


def url(name, ramp, **kwargs):
    return reverse(name, kwargs={"slug": ramp.slug, **kwargs})


def formset(prefix, rows):
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for i, row in enumerate(rows):
        for key, value in row.items():
            if key == "correct":
                if value:
                    data[f"{prefix}-{i}-correct"] = "on"
            else:
                data[f"{prefix}-{i}-{key}"] = value
    return data


def exercise_data(kind, prompt, *, hints=(), options=(), op="save", **fields):
    data = {
        "kind": kind,
        "shown_kind": fields.pop("shown_kind", kind),
        "prompt": prompt,
        "difficulty": "3",
        "solution": "",
        "answer": "",
        "tolerance": "",
        "unit": "",
        "accepted": "",
        "rubric": "",
        "op": op,
        **fields,
    }
    data.update(formset("hints", [{"text": h} for h in hints]))
    if kind == "multiple_choice":
        data.update(formset("options", list(options)))
    return data


def spec_item(ramp, step, slug):
    step_spec = selectors.course_spec(ramp).step(step)
    return next(e for e in [*step_spec.exercises, *step_spec.probes] if e.slug == slug)


def test_editing_a_multiple_choice_exercise_saves_options_hints_and_solution(
    author_client, ramp, author
):
    edit = url("author_exercise", ramp, step_slug="bigram-sampling", exercise_slug="next-after-q")
    data = exercise_data(
        "multiple_choice",
        "Which character most often follows `q`?",
        difficulty="4",
        solution="Almost always `u`.",
        hints=["queen, quick, quiet...", "Think of words with a `q`."],
        options=[
            {"text": "u", "correct": True, "misconception": ""},
            {"text": "e", "correct": False, "misconception": "Most common letter overall."},
            {"text": "a", "correct": False, "misconception": "Guessing a vowel."},
        ],
    )
    response = author_client.post(edit, data)
    assert response.status_code == 302
    item = spec_item(ramp, "bigram-sampling", "next-after-q")
    assert item.prompt == "Which character most often follows `q`?"
    assert item.difficulty == 4
    assert item.hints == ["queen, quick, quiet...", "Think of words with a `q`."]
    assert item.solution == "Almost always `u`."
    assert item.options == [
        OptionSpec("u", True, ""),
        OptionSpec("e", False, "Most common letter overall."),
        OptionSpec("a", False, "Guessing a vowel."),
    ]
    revision = StepRevision.objects.filter(step__slug="bigram-sampling").first()
    assert (revision.number, revision.author) == (2, author)
    assert revision.note == "edited exercise 'next-after-q'"
    assert "misconception: Guessing a vowel." in revision.text


def test_a_new_numeric_exercise_takes_scientific_notation_tolerance_and_unit(author_client, ramp):
    new = url("author_exercise_new", ramp, step_slug="probabilities")
    form = author_client.get(new + "?kind=numeric").content.decode()
    assert "Numeric answer" in form and "Options" not in form
    data = exercise_data(
        "numeric",
        "How long does one step take?",
        answer="1e-3",
        tolerance="0.0001",
        unit="s",
        hints=["Read the log.", ""],
        solution="One millisecond.",
        concepts=["normalisation"],
    )
    response = author_client.post(new, data, follow=True)
    assert "Exercise “how-long-does-one-step-take” saved." in response.content.decode()
    item = spec_item(ramp, "probabilities", "how-long-does-one-step-take")
    assert (item.kind, item.answer, item.tolerance, item.unit) == ("numeric", 0.001, 0.0001, "s")
    assert item.hints == ["Read the log."]
    assert item.concepts == ["normalisation"]
    assert selectors.course_spec(ramp).step("probabilities").exercises[-1].slug == item.slug


def test_a_new_short_answer_exercise_keeps_accepted_answers_and_rubric(author_client, ramp):
    new = url("author_exercise_new", ramp, step_slug="probabilities")
    data = exercise_data(
        "short_answer",
        "Name the operation.",
        slug="name-it",
        accepted="normalisation\n  normalization  \n\n",
        rubric="Any word for scaling to sum one.",
        hints=["It starts with 'normal'."],
        solution="Normalisation.",
    )
    author_client.post(new, data)
    item = spec_item(ramp, "probabilities", "name-it")
    assert item.accepted == ["normalisation", "normalization"]
    assert item.rubric == "Any word for scaling to sum one."


def test_a_probe_is_edited_the_same_way_with_its_concepts(author_client, ramp):
    new = url("author_probe_new", ramp, step_slug="bigram-sampling")
    page = author_client.get(new + "?kind=multiple_choice").content.decode()
    assert "New probe" in page
    data = exercise_data(
        "multiple_choice",
        "A bigram model looks back how far?",
        slug="how-far",
        concepts=["bigram-model", "normalisation"],
        options=[
            {"text": "one character", "correct": True},
            {"text": "the whole text", "misconception": "Confusing it with a full model."},
        ],
    )
    author_client.post(new, data)
    probes = selectors.course_spec(ramp).step("bigram-sampling").probes
    assert [p.slug for p in probes] == ["bigram-probe", "how-far"]
    assert probes[-1].concepts == ["bigram-model", "normalisation"]
    assert Exercise.objects.get(slug="how-far").is_probe


def test_the_editor_shows_the_saved_values_of_each_kind(author_client, ramp):
    numeric = author_client.get(
        url("author_exercise", ramp, step_slug="probabilities", exercise_slug="prob-of-a")
    ).content.decode()
    assert 'value="0.5"' in numeric and 'value="0.001"' in numeric
    short = author_client.get(
        url("author_exercise", ramp, step_slug="probabilities", exercise_slug="name-the-step")
    ).content.decode()
    assert "normalisation\nnormalization\nnormalising" in short
    assert "Accept any answer that says the counts are scaled" in short


def test_a_number_that_is_not_a_number_is_refused_and_the_text_kept(author_client, ramp):
    new = url("author_exercise_new", ramp, step_slug="probabilities")
    data = exercise_data("numeric", "A prompt worth keeping.", answer="three-ish")
    response = author_client.post(new, data)
    assert response.status_code == 422
    html = response.content.decode()
    assert "Enter a number." in html
    assert "A prompt worth keeping." in html
    assert 'value="three-ish"' in html
    assert Exercise.objects.filter(step__slug="probabilities").count() == 3


def test_a_negative_tolerance_is_refused(author_client, ramp):
    edit = url("author_exercise", ramp, step_slug="probabilities", exercise_slug="prob-of-a")
    response = author_client.post(
        edit, exercise_data("numeric", "P?", answer="0.5", tolerance="-1")
    )
    assert response.status_code == 422
    assert "greater than or equal to 0" in response.content.decode()


def test_an_option_without_text_is_refused_with_the_row_kept(author_client, ramp):
    edit = url("author_exercise", ramp, step_slug="bigram-sampling", exercise_slug="next-after-q")
    data = exercise_data(
        "multiple_choice",
        "Which?",
        options=[{"text": "u", "correct": True}, {"text": "", "misconception": "Kept words."}],
    )
    response = author_client.post(edit, data)
    assert response.status_code == 422
    assert "Give the option&#x27;s text" in response.content.decode()
    assert "Kept words." in response.content.decode()


def test_moving_a_hint_up_rearranges_the_unsaved_ladder(author_client, ramp):
    edit = url("author_exercise", ramp, step_slug="bigram-sampling", exercise_slug="next-after-q")
    data = exercise_data(
        "multiple_choice",
        "Unsaved prompt",
        hints=["first", "second", "third"],
        options=[{"text": "u", "correct": True}, {"text": "e", "misconception": "m"}],
        op="up-hint-2",
    )
    response = author_client.post(edit, data)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.index(">\nthird<") < html.index(">\nsecond<")
    assert "Unsaved prompt" in html
    assert "not saved yet" in html
    assert "This field is required" not in html
    # Nothing was saved.
    assert spec_item(ramp, "bigram-sampling", "next-after-q").prompt.startswith("In English")


def test_adding_and_removing_rows_keeps_what_was_typed(author_client, ramp):
    edit = url("author_exercise", ramp, step_slug="bigram-sampling", exercise_slug="next-after-q")
    base = {
        "hints": ["keep me", "drop me"],
        "options": [{"text": "u", "correct": True}, {"text": "e", "misconception": "why e"}],
    }
    added = author_client.post(edit, exercise_data("multiple_choice", "P", op="add-hint", **base))
    assert added.context["hints"].total_form_count() == 3
    removed = author_client.post(
        edit, exercise_data("multiple_choice", "P", op="remove-hint-1", **base)
    )
    html = removed.content.decode()
    assert "keep me" in html and "drop me" not in html
    option = author_client.post(
        edit, exercise_data("multiple_choice", "P", op="add-option", **base)
    )
    assert option.context["options"].total_form_count() == 3
    assert "why e" in option.content.decode()


def test_switching_kind_keeps_the_prompt_and_shows_the_new_kinds_fields(author_client, ramp):
    edit = url("author_exercise", ramp, step_slug="probabilities", exercise_slug="prob-of-a")
    data = exercise_data("multiple_choice", "Prompt I typed", shown_kind="numeric", op="kind")
    html = author_client.post(edit, data).content.decode()
    assert "Prompt I typed" in html
    assert "Options" in html and "Numeric answer" not in html
    assert "Kind changed" in html


def test_with_htmx_a_row_change_answers_the_form_and_a_save_redirects(author_client, ramp):
    edit = url("author_exercise", ramp, step_slug="probabilities", exercise_slug="prob-of-a")
    htmx = {"HX-Request": "true"}
    data = exercise_data("numeric", "P?", answer="0.5", hints=["a"], op="add-hint")
    partial = author_client.post(edit, data, headers=htmx)
    assert partial.content.decode().lstrip().startswith('<form id="exercise-form"')
    saved = author_client.post(edit, dict(data, op="save"), headers=htmx)
    assert saved["HX-Redirect"] == url("author_step", ramp, step_slug="probabilities") + (
        "#item-prob-of-a"
    )


def test_deleting_an_exercise_removes_it_and_the_history_keeps_its_text(author_client, ramp):
    delete = url(
        "author_exercise_delete", ramp, step_slug="probabilities", exercise_slug="name-the-step"
    )
    author_client.post(delete)
    slugs = [e.slug for e in selectors.course_spec(ramp).step("probabilities").exercises]
    assert slugs == ["prob-of-a"]
    first, latest = StepRevision.objects.filter(step__slug="probabilities").order_by("number")
    assert "name-the-step" in first.text and "name-the-step" not in latest.text
    assert latest.note == "deleted exercise 'name-the-step'"


def test_moving_an_exercise_down(author_client, ramp):
    move = url("author_exercise_move", ramp, step_slug="probabilities", exercise_slug="prob-of-a")
    author_client.post(move, {"direction": "down"})
    slugs = [e.slug for e in selectors.course_spec(ramp).step("probabilities").exercises]
    assert slugs == ["name-the-step", "prob-of-a"]
    htmx = author_client.post(move, {"direction": "up"}, headers={"HX-Request": "true"})
    assert htmx.content.decode().lstrip().startswith('<section id="items"')


def test_a_slug_already_used_in_the_step_is_refused(author_client, ramp):
    new = url("author_exercise_new", ramp, step_slug="probabilities")
    data = exercise_data("numeric", "Again?", slug="prob-of-a", answer="1")
    response = author_client.post(new, data)
    assert response.status_code == 422
    assert "already has an exercise or probe with it" in response.content.decode()
