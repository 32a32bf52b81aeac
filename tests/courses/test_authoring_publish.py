"""The validation panel and publishing: refused with the problems listed, or a new version."""

from django.urls import reverse

from courses import services
from courses.models import Concept, CourseVersion, Exercise
from courses.spec import ConceptSpec


def url(name, ramp, **kwargs):
    return reverse(name, kwargs={"slug": ramp.slug, **kwargs})


def break_the_ramp(ramp):
    """A concept no step teaches, and an exercise with no hint ladder."""
    services.concept_save(
        course=ramp,
        concept=None,
        spec=ConceptSpec(slug="attention", name="Attention"),
    )
    Exercise.objects.filter(slug="count-l").update(hints=[])


def test_the_panel_lists_each_problem_naming_step_and_concept_with_links(author_client, ramp):
    break_the_ramp(ramp)
    html = author_client.get(url("author_course", ramp)).content.decode()
    assert "2 problems to fix before publishing" in html
    assert "concept &#x27;attention&#x27; is never taught by any step" in html
    assert (
        "exercise &#x27;count-l&#x27; of step &#x27;counting-characters&#x27; has no hint ladder"
        in html
    )
    assert f'href="{url("author_step", ramp, step_slug="counting-characters")}"' in html
    assert f'href="{url("author_concept", ramp, concept_slug="attention")}"' in html


def test_publish_refused_lists_the_problems_and_creates_no_version(author_client, ramp):
    break_the_ramp(ramp)
    response = author_client.post(url("author_publish", ramp))
    assert response.status_code == 422
    html = response.content.decode()
    assert "Publishing refused." in html
    assert 'role="alert"' in html
    assert "never taught by any step" in html and "has no hint ladder" in html
    assert not CourseVersion.objects.filter(course=ramp).exists()
    ramp.refresh_from_db()
    assert not ramp.is_published


def test_with_htmx_a_refused_publish_answers_the_panel(author_client, ramp):
    break_the_ramp(ramp)
    response = author_client.post(url("author_publish", ramp), headers={"HX-Request": "true"})
    assert response.status_code == 422
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="validation"')
    assert "Publishing refused." in html


def test_publish_accepted_creates_a_version_students_see(author_client, ramp, author):
    response = author_client.post(url("author_publish", ramp), follow=True)
    assert "Published version 1" in response.content.decode()
    version = CourseVersion.objects.get(course=ramp)
    assert (version.number, version.published_by) == (1, author)
    assert [c["slug"] for c in version.spec["chapters"]] == ["counting", "bigrams"]
    ramp.refresh_from_db()
    assert ramp.is_published
    again = author_client.post(url("author_publish", ramp), headers={"HX-Request": "true"})
    assert "Published version 2" in again.content.decode()
    assert CourseVersion.objects.filter(course=ramp).count() == 2


def test_an_edit_after_publishing_leaves_the_published_version_unchanged(author_client, ramp):
    author_client.post(url("author_publish", ramp))
    author_client.post(url("author_chapter_rename", ramp, chapter_slug="bigrams"), {"title": "New"})
    version = CourseVersion.objects.get(course=ramp)
    assert version.spec["chapters"][1]["title"] == "Bigrams"


def test_the_panel_refreshes_itself_after_outline_changes(author_client, ramp):
    html = author_client.get(url("author_course", ramp)).content.decode()
    assert 'hx-trigger="course-changed from:body"' in html
    partial = author_client.get(url("author_validation", ramp), headers={"HX-Request": "true"})
    assert partial.content.decode().lstrip().startswith('<section id="validation"')
    plain = author_client.get(url("author_validation", ramp))
    assert plain["Location"] == url("author_course", ramp) + "#validation"


def test_a_taught_concept_turned_prior_knowledge_shows_up_in_the_panel(author_client, ramp):
    Concept.objects.filter(slug="normalisation").update(prior_knowledge=True)
    html = author_client.get(url("author_course", ramp)).content.decode()
    assert "which is declared prior knowledge" in html
