"""The step editor: title, Markdown body with a live (sanitised) preview, concept tags; every
change recorded as a revision whose diff shows it; nothing typed is lost."""

from html.parser import HTMLParser

import pytest
from django.urls import reverse

from courses import selectors, services
from courses.models import Step, StepRevision


def url(name, ramp, **kwargs):
    return reverse(name, kwargs={"slug": ramp.slug, **kwargs})


def editor_data(client, edit_url, **changes):
    """The editor's form as the page fills it, with some fields changed."""
    form = client.get(edit_url).context["form"]
    data = {
        "title": form.initial["title"],
        "body": form.initial["body"],
        "teaches": form.initial["teaches"],
        "requires": form.initial["requires"],
        "base": form.initial["base"],
        "note": "",
    }
    data.update(changes)
    return data


def parsed(html):
    """Every element of an HTML fragment, as (tag, attributes)."""
    found = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, attrs))

    Collect().feed(html)
    return found


@pytest.fixture
def edit_url(ramp):
    return url("author_step", ramp, step_slug="probabilities")


def test_saving_a_step_changes_the_course_and_records_a_revision(
    author_client, ramp, author, edit_url
):
    data = editor_data(
        author_client,
        edit_url,
        title="Counts become probabilities",
        body="# Probabilities\n\nDivide by the total.\n",
        requires=["character-counts", "python-lists"],
        note="shorter intro",
    )
    response = author_client.post(edit_url, data, follow=True)
    assert "Saved as revision 2." in response.content.decode()
    step = selectors.course_spec(ramp).step("probabilities")
    assert step.title == "Counts become probabilities"
    assert step.body == "# Probabilities\n\nDivide by the total.\n"
    assert step.requires == ["character-counts", "python-lists"]
    assert step.teaches == ["normalisation"]
    revision = StepRevision.objects.filter(step__slug="probabilities").first()
    assert (revision.number, revision.author, revision.note) == (2, author, "shorter intro")


def test_the_history_diff_shows_what_changed(author_client, ramp, edit_url):
    data = editor_data(author_client, edit_url)
    data["body"] = data["body"].replace("comparable", "comparable across texts")
    author_client.post(edit_url, data)
    page = author_client.get(url("author_step_history", ramp, step_slug="probabilities"))
    html = page.content.decode()
    assert "Revision 2" in html and "Revision 1" in html
    old = "Counts grow with the text. Dividing by the total makes them comparable"
    assert f'<del class="diff-del">-{old}:</del>' in html
    assert f'<ins class="diff-add">+{old} across texts:</ins>' in html


def test_any_revision_is_diffed_against_the_one_before(author_client, ramp, edit_url):
    for title in ("Second title", "Third title"):
        author_client.post(edit_url, editor_data(author_client, edit_url, title=title))
    response = author_client.get(
        url("author_step_revision", ramp, step_slug="probabilities", number=2)
    )
    html = response.content.decode()
    assert "Revision 2: changes from the one before" in html
    assert "-title: From counts to probabilities" in html
    assert "+title: Second title" in html
    assert "Third title" not in html.split('id="diff"')[1]
    htmx = author_client.get(
        url("author_step_revision", ramp, step_slug="probabilities", number=3),
        headers={"HX-Request": "true"},
    ).content.decode()
    assert htmx.lstrip().startswith('<div class="history-grid" id="history">')
    assert "+title: Third title" in htmx


def test_the_diff_escapes_what_the_author_wrote(author_client, ramp, edit_url):
    body = "<script>alert('x')</script>\n"
    author_client.post(edit_url, editor_data(author_client, edit_url, body=body))
    html = author_client.get(url("author_step_history", ramp, step_slug="probabilities")).content
    assert b"<script>alert" not in html
    assert b"+&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html


def test_saving_unchanged_text_records_no_revision(author_client, edit_url):
    response = author_client.post(edit_url, editor_data(author_client, edit_url), follow=True)
    assert "nothing changed" in response.content.decode()
    assert StepRevision.objects.filter(step__slug="probabilities").count() == 1


def test_a_refused_save_keeps_everything_typed(author_client, ramp, edit_url):
    typed = "A long paragraph I must not lose.\n\nWith **two** paragraphs."
    data = editor_data(author_client, edit_url, title="", body=typed, note="my note")
    response = author_client.post(edit_url, data)
    assert response.status_code == 422
    html = response.content.decode()
    assert "This field is required." in html
    assert "A long paragraph I must not lose." in html
    assert 'value="my note"' in html
    # The preview shows the typed text, not the saved one.
    assert "<strong>two</strong>" in html
    assert selectors.course_spec(ramp).step("probabilities").title == "From counts to probabilities"


def test_a_step_cannot_teach_and_require_the_same_concept(author_client, ramp, edit_url):
    data = editor_data(author_client, edit_url, requires=["character-counts", "normalisation"])
    response = author_client.post(edit_url, data)
    assert response.status_code == 422
    assert "cannot both teach and require normalisation" in response.content.decode()


def test_saving_over_a_colleagues_newer_edit_is_refused_then_allowed(author_client, ramp, edit_url):
    mine = editor_data(author_client, edit_url, body="My version.\n")
    step = Step.objects.get(slug="probabilities")
    services.step_update(
        step=step,
        title=step.title,
        body="Colleague's version.\n",
        teaches=["normalisation"],
        requires=["character-counts"],
        author=None,
    )
    response = author_client.post(edit_url, mine)
    assert response.status_code == 422
    html = response.content.decode()
    assert "was changed by an import (revision 2) after you opened it" in html
    assert "My version." in html
    assert selectors.course_spec(ramp).step("probabilities").body == "Colleague's version.\n"
    # The form now carries the current fingerprint: saving again keeps the author's text.
    again = dict(mine, base=response.context["form"].data["base"])
    assert author_client.post(edit_url, again).status_code == 302
    assert selectors.course_spec(ramp).step("probabilities").body == "My version.\n"


def test_an_exercise_edit_elsewhere_does_not_block_saving_the_step(author_client, ramp, edit_url):
    data = editor_data(author_client, edit_url, title="New title")
    step = Step.objects.get(slug="probabilities")
    services.exercise_move(exercise=step.exercises.get(slug="prob-of-a"), offset=1, author=None)
    assert author_client.post(edit_url, data).status_code == 302


def test_with_htmx_saving_answers_the_editor_partial(author_client, edit_url):
    data = editor_data(author_client, edit_url, title="Renamed by htmx")
    response = author_client.post(edit_url, data, headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="step-editor"')
    assert "Saved as revision 2." in html
    assert 'value="Renamed by htmx"' in html


def test_the_body_has_a_live_preview_wired_with_htmx(author_client, ramp, edit_url):
    html = author_client.get(edit_url).content.decode()
    assert f'hx-post="{url("author_preview", ramp)}"' in html
    assert 'hx-trigger="keyup changed delay:400ms"' in html
    assert 'hx-target="#preview"' in html


def test_preview_renders_markdown(author_client, ramp):
    response = author_client.post(url("author_preview", ramp), {"body": "Some **bold** $x^2$"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "<strong>bold</strong>" in html
    assert 'class="math inline"' in html


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        "[click](javascript:alert(1))",
        "![x](javascript:alert(1))",
        '<img src=x onerror="alert(1)">',
        "<a href='javascript:alert(1)' onclick='alert(1)'>x</a>",
        "<iframe src='https://evil.example'></iframe>",
    ],
)
def test_preview_sanitises_hostile_markdown(author_client, ramp, hostile):
    response = author_client.post(url("author_preview", ramp), {"body": hostile})
    elements = parsed(response.content.decode())
    assert elements, "the preview shows the text"
    for tag, attrs in elements:
        assert tag not in ("script", "iframe")
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name)
            assert not (value or "").strip().lower().startswith("javascript:"), (tag, name)


def test_the_no_javascript_preview_button_shows_the_typed_text_without_saving(
    author_client, ramp, edit_url
):
    data = editor_data(author_client, edit_url, body="## Unsaved heading", op="preview")
    response = author_client.post(edit_url, data)
    assert "<h2>Unsaved heading</h2>" in response.content.decode()
    assert "Unsaved" not in selectors.course_spec(ramp).step("probabilities").body


def test_the_editor_lists_the_steps_problems_and_refreshes_them_on_save(
    author_client, ramp, edit_url
):
    data = editor_data(author_client, edit_url, requires=["character-counts", "bigram-model"])
    response = author_client.post(edit_url, data, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert "Problems in this step" in html
    assert "requires concept &#x27;bigram-model&#x27;, which no earlier step teaches" in html
    fixed = editor_data(author_client, edit_url, requires=["character-counts"])
    html = author_client.post(edit_url, fixed, headers={"HX-Request": "true"}).content.decode()
    assert "Problems in this step" not in html
