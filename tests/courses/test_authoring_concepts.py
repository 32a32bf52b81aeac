"""Concepts, their prerequisite edges (never a cycle), and the concept graph drawn as SVG."""

from django.urls import reverse

from courses import selectors
from courses.models import StepRevision
from courses.spec import ConceptSpec, CourseSpec
from courses.svg import concept_graph_svg, layout


def url(name, ramp, **kwargs):
    return reverse(name, kwargs={"slug": ramp.slug, **kwargs})


def concept_data(name, *, requires=(), prior=False, **fields):
    data = {"name": name, "description": "", "requires": list(requires), **fields}
    if prior:
        data["prior_knowledge"] = "on"
    return data


def test_adding_a_concept_shows_in_the_course(author_client, ramp):
    response = author_client.post(
        url("author_concepts", ramp),
        concept_data("Trigram model", requires=["bigram-model"], description="Two back."),
        follow=True,
    )
    assert "Concept “Trigram model” added." in response.content.decode()
    concept = selectors.course_spec(ramp).concept("trigram-model")
    assert concept == ConceptSpec(
        slug="trigram-model",
        name="Trigram model",
        description="Two back.",
        requires=["bigram-model"],
    )


def test_editing_a_concept_and_its_prerequisites(author_client, ramp):
    author_client.post(url("author_concepts", ramp), concept_data("Counting", prior=True))
    edit = url("author_concept", ramp, concept_slug="character-counts")
    author_client.post(
        edit, concept_data("Counting characters", requires=["python-lists", "counting"])
    )
    concept = selectors.course_spec(ramp).concept("character-counts")
    assert concept.name == "Counting characters"
    assert concept.requires == ["python-lists", "counting"]
    assert selectors.course_spec(ramp).concept("counting").prior_knowledge


def test_an_edge_that_would_make_a_cycle_is_refused_with_the_cycle_named(author_client, ramp):
    edit = url("author_concept", ramp, concept_slug="character-counts")
    response = author_client.post(
        edit, concept_data("Character counts", requires=["python-lists", "bigram-model"])
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert (
        "That would make a cycle: character-counts → bigram-model → normalisation → "
        "character-counts" in html
    )
    # The error sits by the prerequisites and is linked to them for screen readers.
    assert 'aria-describedby="id_requires_helptext id_requires_error"' in html
    assert '<ul class="errorlist" id="id_requires_error">' in html
    assert selectors.course_spec(ramp).concept("character-counts").requires == ["python-lists"]


def test_a_concept_cannot_require_itself(author_client, ramp):
    edit = url("author_concept", ramp, concept_slug="normalisation")
    response = author_client.post(edit, concept_data("Normalising", requires=["normalisation"]))
    assert response.status_code == 422
    assert "is not one of the available choices" in response.content.decode()


def test_prior_knowledge_cannot_have_prerequisites(author_client, ramp):
    response = author_client.post(
        url("author_concepts", ramp),
        concept_data("Arithmetic", prior=True, requires=["python-lists"]),
    )
    assert response.status_code == 422
    assert "prior-knowledge concept cannot require" in response.content.decode()
    assert selectors.course_spec(ramp).concept("arithmetic") is None


def test_deleting_a_concept_untags_its_steps_and_records_revisions(author_client, ramp):
    delete = url("author_concept_delete", ramp, concept_slug="bigram-model")
    page = author_client.get(delete).content.decode()
    assert "Sampling from a bigram model" in page
    author_client.post(delete)
    spec = selectors.course_spec(ramp)
    assert spec.concept("bigram-model") is None
    assert spec.step("bigram-sampling").teaches == []
    assert StepRevision.objects.filter(step__slug="bigram-sampling").first().note == (
        "concept 'bigram-model' deleted"
    )


def test_the_concepts_page_draws_the_graph_inline(author_client, ramp):
    html = author_client.get(url("author_concepts", ramp)).content.decode()
    assert '<svg xmlns="http://www.w3.org/2000/svg" id="concept-graph"' in html
    assert 'role="img"' in html
    assert "Normalising counts requires Character counts." in html


def test_the_graph_is_an_accessible_svg_with_names_and_styled_prior_knowledge(author_client, ramp):
    response = author_client.get(url("author_concept_graph", ramp))
    assert response["Content-Type"].startswith("image/svg+xml")
    svg = response.content.decode()
    assert 'role="img" aria-labelledby="concept-graph-title concept-graph-desc"' in svg
    assert '<title id="concept-graph-title">Concept graph of Sample ramp' in svg
    for name in ("Character counts", "Normalising counts", "Bigram model"):
        assert f">{name}</text>" in svg
    prior = svg.split('data-slug="python-lists"')[1].split("</g>")[0]
    assert 'stroke-dasharray="5 4"' in prior and "prior knowledge" in prior
    assert svg.count('class="edge"') == 3


def test_graph_layers_concepts_by_prerequisite_depth():
    spec = CourseSpec(
        slug="c",
        title="C",
        concepts=[
            ConceptSpec("d", "D", requires=["b", "c"]),
            ConceptSpec("a", "A", prior_knowledge=True),
            ConceptSpec("b", "B", requires=["a"]),
            ConceptSpec("c", "C", requires=["a"]),
        ],
    )
    columns = {node.slug: node.column for node in layout(spec)}
    assert columns == {"a": 0, "b": 1, "c": 1, "d": 2}
    xs = {node.slug: node.x for node in layout(spec)}
    assert xs["a"] < xs["b"] == xs["c"] < xs["d"]


def test_graph_survives_a_cycle_and_escapes_names():
    spec = CourseSpec(
        slug="c",
        title="<b>C</b>",
        concepts=[
            ConceptSpec("a", "<script>alert(1)</script>", requires=["b"]),
            ConceptSpec("b", "B", requires=["a"]),
        ],
    )
    svg = concept_graph_svg(spec)
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert "<b>C</b>" not in svg
