"""The course outline: chapters and steps added, renamed, reordered and deleted, with and
without htmx."""

from django.urls import reverse

from courses import selectors
from courses.models import StepRevision


def url(name, ramp, **kwargs):
    return reverse(name, kwargs={"slug": ramp.slug, **kwargs})


def outline_of(ramp):
    return [(ch.slug, [s.slug for s in ch.steps]) for ch in selectors.course_spec(ramp).chapters]


def test_outline_lists_chapters_and_steps_in_order_with_the_validation_panel(author_client, ramp):
    page = author_client.get(url("author_course", ramp)).content.decode()
    order = [page.index(t) for t in ("Counting characters", "From counts to probabilities")]
    assert order == sorted(order)
    assert page.index('id="chapter-counting"') < page.index('id="chapter-bigrams"')
    assert "No problems" in page
    assert "css/authoring.css" in page
    assert url("author_step", ramp, step_slug="probabilities") in page


def test_adding_a_chapter_and_a_step_shows_in_the_course(author_client, ramp, author):
    response = author_client.post(url("author_chapter_add", ramp), {"title": "Beyond bigrams"})
    assert response.status_code == 302
    response = author_client.post(
        url("author_step_add", ramp, chapter_slug="beyond-bigrams"),
        {"title": "Trigrams", "slug": ""},
        follow=True,
    )
    assert "Step “Trigrams” added." in response.content.decode()
    assert outline_of(ramp)[-1] == ("beyond-bigrams", ["trigrams"])
    revision = StepRevision.objects.get(step__slug="trigrams")
    assert revision.author == author and "title: Trigrams" in revision.text


def test_a_step_with_a_blank_title_is_refused_and_keeps_what_was_typed(author_client, ramp):
    response = author_client.post(
        url("author_step_add", ramp, chapter_slug="counting"),
        {"title": "  ", "slug": "my-own-slug"},
    )
    assert response.status_code == 422
    page = response.content.decode()
    assert "This field is required." in page
    assert 'value="my-own-slug"' in page
    assert 'aria-invalid="true"' in page
    assert outline_of(ramp)[0] == ("counting", ["counting-characters", "probabilities"])


def test_a_taken_or_malformed_slug_is_refused_with_a_clear_message(author_client, ramp):
    taken = author_client.post(
        url("author_step_add", ramp, chapter_slug="counting"),
        {"title": "Again", "slug": "probabilities"},
    )
    assert taken.status_code == 422
    assert "already exists" in taken.content.decode()
    malformed = author_client.post(
        url("author_chapter_add", ramp), {"title": "Bad", "slug": "Not A Slug"}
    )
    assert malformed.status_code == 422
    assert "lower-case letters" in malformed.content.decode()


def test_renaming_a_chapter(author_client, ramp):
    author_client.post(
        url("author_chapter_rename", ramp, chapter_slug="bigrams"), {"title": "Pairs"}
    )
    assert selectors.course_spec(ramp).chapters[1].title == "Pairs"


def test_moving_a_step_down_within_its_chapter_then_into_the_next(author_client, ramp):
    move = url("author_step_move", ramp, step_slug="counting-characters")
    author_client.post(move, {"direction": "down"})
    assert outline_of(ramp)[0] == ("counting", ["probabilities", "counting-characters"])
    author_client.post(move, {"direction": "down"})
    assert outline_of(ramp) == [
        ("counting", ["probabilities"]),
        ("bigrams", ["counting-characters", "bigram-sampling"]),
    ]


def test_moving_a_step_up_out_of_its_chapter_goes_to_the_end_of_the_one_before(author_client, ramp):
    author_client.post(
        url("author_step_move", ramp, step_slug="bigram-sampling"), {"direction": "up"}
    )
    assert outline_of(ramp) == [
        ("counting", ["counting-characters", "probabilities", "bigram-sampling"]),
        ("bigrams", []),
    ]


def test_moving_the_first_step_up_changes_nothing_and_says_so(author_client, ramp):
    response = author_client.post(
        url("author_step_move", ramp, step_slug="counting-characters"),
        {"direction": "up"},
        follow=True,
    )
    assert "already at the start" in response.content.decode()
    assert outline_of(ramp)[0][1] == ["counting-characters", "probabilities"]


def test_moving_a_chapter_up(author_client, ramp):
    author_client.post(
        url("author_chapter_move", ramp, chapter_slug="bigrams"), {"direction": "up"}
    )
    assert [c for c, _ in outline_of(ramp)] == ["bigrams", "counting"]


def test_a_move_without_a_direction_is_a_400(author_client, ramp):
    response = author_client.post(url("author_chapter_move", ramp, chapter_slug="bigrams"), {})
    assert response.status_code == 400


def test_with_htmx_a_move_answers_the_outline_partial_and_refreshes_the_validation(
    author_client, ramp
):
    response = author_client.post(
        url("author_step_move", ramp, step_slug="probabilities"),
        {"direction": "up"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert page.lstrip().startswith('<section id="outline"')
    assert "<html" not in page
    assert "moved up" in page
    assert response["HX-Trigger"] == '{"course-changed": {}}'
    # The moved step's buttons keep their ids, so keyboard focus survives the swap.
    assert 'id="move-step-probabilities-up"' in page


def test_with_htmx_a_refused_form_answers_422_with_the_errors_in_the_partial(author_client, ramp):
    response = author_client.post(
        url("author_chapter_add", ramp), {"title": ""}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 422
    assert "This field is required." in response.content.decode()
    assert "<html" not in response.content.decode()


def test_an_empty_chapter_can_be_deleted_one_with_steps_cannot(author_client, ramp):
    author_client.post(url("author_chapter_add", ramp), {"title": "Spare"})
    author_client.post(url("author_chapter_delete", ramp, chapter_slug="spare"))
    assert [c for c, _ in outline_of(ramp)] == ["counting", "bigrams"]
    response = author_client.post(url("author_chapter_delete", ramp, chapter_slug="bigrams"))
    assert response.status_code == 422
    assert "still has steps: move or delete them first" in response.content.decode()
    assert [c for c, _ in outline_of(ramp)] == ["counting", "bigrams"]


def test_deleting_a_step_asks_for_confirmation_first(author_client, ramp):
    delete = url("author_step_delete", ramp, step_slug="bigram-sampling")
    page = author_client.get(delete).content.decode()
    assert "Delete step “Sampling from a bigram model”?" in page
    assert "version history" in page
    assert "bigram-sampling" in [s for _, steps in outline_of(ramp) for s in steps]
    author_client.post(delete)
    assert outline_of(ramp)[1] == ("bigrams", [])


def test_course_details_are_saved(author_client, ramp):
    author_client.post(
        url("author_course_update", ramp), {"title": "Counting to bigrams", "summary": "Short."}
    )
    ramp.refresh_from_db()
    spec = selectors.course_spec(ramp)
    assert (spec.title, spec.summary) == ("Counting to bigrams", "Short.")
