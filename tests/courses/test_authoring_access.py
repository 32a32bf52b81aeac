"""Only a course's instructors (and site staff) may author it, through every authoring URL."""

import re

import pytest
from django.urls import URLPattern, reverse

from courses import authoring_urls, selectors, services
from courses.models import Chapter

# Slugs for every URL parameter: the access check comes before any lookup inside the course.
PARAMS = {
    "step_slug": "counting-characters",
    "chapter_slug": "counting",
    "exercise_slug": "count-l",
    "concept_slug": "character-counts",
    "number": 1,
}


def authoring_urls_of(course_slug):
    urls = []
    for pattern in authoring_urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        names = re.findall(r"<(?:\w+:)?(\w+)>", str(pattern.pattern))
        kwargs = {n: PARAMS[n] for n in names if n != "slug"}
        urls.append((pattern.name, reverse(pattern.name, kwargs={"slug": course_slug, **kwargs})))
    return urls


def test_anonymous_visitor_is_sent_to_log_in(client, ramp):
    response = client.get(reverse("author_course", kwargs={"slug": ramp.slug}))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert "next=/author/sample-ramp/" in response["Location"]


def test_anonymous_post_is_sent_to_log_in_and_changes_nothing(client, ramp):
    url = reverse("author_chapter_add", kwargs={"slug": ramp.slug})
    response = client.post(url, {"title": "Sneaky"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert not Chapter.objects.filter(course=ramp, title="Sneaky").exists()


@pytest.mark.parametrize("who", ["student", "ta"])
def test_student_or_ta_of_the_course_gets_403_on_every_authoring_url(client, request, course, who):
    client.force_login(request.getfixturevalue(who))
    for name, url in authoring_urls_of(course.slug):
        assert client.get(url).status_code in (403, 405), name
        assert client.post(url, {"title": "x", "direction": "up"}).status_code in (403, 405), name


def test_student_cannot_add_a_chapter(client, course, student):
    client.force_login(student)
    response = client.post(
        reverse("author_chapter_add", kwargs={"slug": course.slug}), {"title": "Mine now"}
    )
    assert response.status_code == 403
    assert "Only the course" in response.content.decode()
    assert not Chapter.objects.filter(course=course).exists()


def test_instructor_of_one_course_cannot_see_another_draft(client, instructor, ramp):
    client.force_login(instructor)  # teaches llm101n, not the sample ramp (a draft)
    for name, url in authoring_urls_of(ramp.slug):
        assert client.get(url).status_code in (404, 405), name
    before = selectors.course_spec(ramp)
    url = reverse("author_step", kwargs={"slug": ramp.slug, "step_slug": "probabilities"})
    assert client.post(url, {"title": "Hijacked"}).status_code == 404
    assert selectors.course_spec(ramp) == before


def test_instructor_of_one_course_gets_403_on_another_published_course(author_client, course):
    # The sample ramp's author may see llm101n (published) but not change it.
    for name, url in authoring_urls_of(course.slug):
        assert author_client.get(url).status_code in (403, 405), name
    response = author_client.post(
        reverse("author_chapter_add", kwargs={"slug": course.slug}), {"title": "Mine now"}
    )
    assert response.status_code == 403
    assert not Chapter.objects.filter(course=course).exists()


def test_a_step_of_another_course_is_not_found_through_ones_own(author_client, ramp, course):
    chapter = services.chapter_create(course=course, title="Other")
    services.step_create(chapter=chapter, title="Foreign", slug="foreign", author=None)
    url = reverse("author_step", kwargs={"slug": ramp.slug, "step_slug": "foreign"})
    assert author_client.get(url).status_code == 404
    assert author_client.post(url, {"title": "Changed"}).status_code == 404


def test_instructor_and_site_staff_may_author(client, author, staff, ramp):
    url = reverse("author_course", kwargs={"slug": ramp.slug})
    for user in (author, staff):
        client.force_login(user)
        response = client.get(url)
        assert response.status_code == 200
        assert "Counting characters" in response.content.decode()
