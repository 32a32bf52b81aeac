"""LLM101n as a ramp: it validates with zero problems, its outline is the one the course
promises, and every step of chapters 1 to 5 is complete in the way the teaching principles ask."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.management import call_command

from courses.validation import exercise_concepts, validate
from tests.content.course import COURSE_DIR, code_blocks, course

# The outline: each chapter's title (in order) and concepts it must teach.
OUTLINE = [
    ("Bigram language model", ["bigram-counts", "nll-loss"]),
    ("Micrograd", ["derivative", "chain-rule", "backpropagation"]),
    ("N-gram model", ["matmul", "gelu", "mlp-language-model"]),
    ("Attention", ["softmax", "self-attention", "positional-encoding"]),
    ("Transformer", ["residual-connection", "layer-norm", "gpt2-architecture"]),
    ("Tokenization", ["byte-pair-encoding"]),
    ("Optimization", ["weight-initialisation", "adamw"]),
    ("Need for speed I: device", ["compute-device"]),
    ("Need for speed II: precision", ["mixed-precision"]),
    ("Need for speed III: distributed", ["data-parallel"]),
    ("Datasets", ["held-out-data"]),
    ("Inference I: KV cache", ["kv-cache"]),
    ("Inference II: quantisation", ["quantisation"]),
    ("Finetuning I: supervised finetuning", ["supervised-finetuning"]),
    ("Finetuning II: reinforcement learning", ["reinforcement-learning"]),
    ("Deployment", ["model-serving"]),
    ("Multimodal", ["image-patches"]),
    ("Capstone: nanochat end to end", ["training-pipeline"]),
]
COMPLETE_CHAPTERS = 5
HEADINGS = ["## The problem", "## The idea", "## Worked example"]


def complete_steps():
    return [step for chapter in course().chapters[:COMPLETE_CHAPTERS] for step in chapter.steps]


STEPS = complete_steps()


def test_course_validates_with_zero_problems():
    assert [str(p) for p in validate(course())] == []


def test_validate_course_command_reports_a_valid_ramp(capsys):
    call_command("validate_course", str(COURSE_DIR))
    assert "is a valid ramp" in capsys.readouterr().out


def test_outline_has_every_chapter_in_order():
    titles = [chapter.title for chapter in course().chapters]
    assert len(titles) == len(OUTLINE)
    for number, (title, (expected, _)) in enumerate(zip(titles, OUTLINE, strict=True), start=1):
        assert expected.lower() in title.lower(), (number, title)
        prefix = "Capstone" if number == len(OUTLINE) else f"{number}."
        assert title.startswith(prefix), title


def test_each_chapter_teaches_its_named_topics():
    for chapter, (_, concepts) in zip(course().chapters, OUTLINE, strict=True):
        taught = {slug for step in chapter.steps for slug in step.teaches}
        assert set(concepts) <= taught, (chapter.title, set(concepts) - taught)


def test_prior_knowledge_is_declared():
    prior = {c.slug for c in course().concepts if c.prior_knowledge}
    assert {"python-basics", "high-school-algebra"} <= prior
    needed = {r for c in course().concepts for r in c.requires} | {
        r for s in course().steps() for r in s.requires
    }
    assert prior <= needed, "every declared prior knowledge is actually relied on"


def test_every_concept_has_a_description_and_prerequisites():
    for concept in course().concepts:
        assert concept.description.strip(), concept.slug
        if not concept.prior_knowledge:
            assert concept.requires, f"{concept.slug} declares no prerequisite"


def test_every_step_of_later_chapters_is_real():
    for chapter in course().chapters[COMPLETE_CHAPTERS:]:
        assert chapter.steps, chapter.title
        for step in chapter.steps:
            assert step.teaches and step.exercises
            assert all(len(e.hints) >= 2 and e.solution.strip() for e in step.exercises)
            for concept in step.teaches:
                probes = [p for p in step.probes if concept in exercise_concepts(step, p)]
                assert len(probes) >= 1, (step.slug, concept)
            for heading in HEADINGS:
                assert heading in step.body, (step.slug, heading)


# Chapters 1 to 5: every step complete.


@pytest.mark.parametrize("step", STEPS, ids=[s.slug for s in STEPS])
def test_step_has_problem_before_idea_then_worked_example(step):
    positions = [step.body.find(f"\n{h}\n") for h in HEADINGS]
    assert all(p >= 0 for p in positions), f"missing one of {HEADINGS}"
    assert positions == sorted(positions), "the problem comes before the idea and the example"
    first_section = re.search(r"^## .*$", step.body, re.MULTILINE)
    assert first_section is not None and first_section.group(0) == HEADINGS[0]


@pytest.mark.parametrize("step", STEPS, ids=[s.slug for s in STEPS])
def test_step_has_three_exercises_of_rising_difficulty(step):
    difficulties = [e.difficulty for e in step.exercises]
    assert len(difficulties) >= 3
    assert difficulties == sorted(difficulties) and difficulties[0] < difficulties[-1]


@pytest.mark.parametrize("step", STEPS, ids=[s.slug for s in STEPS])
def test_step_mixes_kinds_and_names_misconceptions(step):
    kinds = {e.kind for e in step.exercises}
    assert "multiple_choice" in kinds
    assert kinds & {"numeric", "short_answer"}
    for exercise in step.exercises + step.probes:
        if exercise.kind == "multiple_choice":
            wrong = [o for o in exercise.options if not o.correct]
            assert wrong and all(o.misconception.strip() for o in wrong), exercise.slug
            assert sum(o.correct for o in exercise.options) == 1, exercise.slug


@pytest.mark.parametrize("step", STEPS, ids=[s.slug for s in STEPS])
def test_step_exercises_have_hint_ladders_and_worked_solutions(step):
    for exercise in step.exercises:
        assert len(exercise.hints) >= 2, exercise.slug
        assert len(set(exercise.hints)) == len(exercise.hints), exercise.slug
        assert len(exercise.solution.split()) >= 10, f"{exercise.slug}: solution too thin"


@pytest.mark.parametrize("step", STEPS, ids=[s.slug for s in STEPS])
def test_step_has_two_probes_per_concept(step):
    assert step.teaches
    for concept in step.teaches:
        probes = [p for p in step.probes if concept in exercise_concepts(step, p)]
        assert len(probes) >= 2, concept


@pytest.mark.parametrize("step", STEPS, ids=[s.slug for s in STEPS])
def test_step_is_written_in_short_paragraphs(step):
    prose = re.sub(r"^```.*?^```", "", step.body, flags=re.DOTALL | re.MULTILINE)
    for paragraph in re.split(r"\n\s*\n", prose):
        if paragraph.lstrip().startswith(("|", "$$", "-", "1.", "#")):
            continue
        assert len(paragraph.split()) <= 110, paragraph[:80]


def test_pytorch_from_chapter_three_on():
    for chapter in course().chapters[2:COMPLETE_CHAPTERS]:
        for step in chapter.steps:
            code = "\n".join(c for lang, c in code_blocks(step.body) if lang == "python")
            assert "import torch" in code, step.slug


def test_no_outside_names_in_the_course():
    text = "\n".join(p.read_text() for p in Path(COURSE_DIR).rglob("*") if p.is_file()).lower()
    for word in ["todo", "tbd", "placeholder", "lorem"]:
        assert word not in text, word
