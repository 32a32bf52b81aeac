import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tutor import sft
from tutor.models import Conversation, Message


def test_export_writes_valid_alternating_conversations_from_the_course(
    sample_course, sample_student, ta, tmp_path
):
    conversation = Conversation.objects.create(
        user=sample_student, course=sample_course, step_slug="counting-characters"
    )
    Message.objects.create(
        conversation=conversation, role="student", content="Why a table of counts?"
    )
    Message.objects.create(
        conversation=conversation,
        role="human",
        content="Because it is the simplest model.",
        author=ta,
    )
    out = tmp_path / "sft.jsonl"
    stdout = StringIO()
    call_command("export_sft", "sample-ramp", "--out", str(out), stdout=stdout)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert f"Wrote {len(lines)} conversations of sample-ramp v1" in stdout.getvalue()
    assert all(sft.valid(c) for c in lines)
    texts = [" ".join(m["content"] for m in c) for c in lines]
    # A hint ladder became a Socratic dialogue: hints before the answer, the solution last.
    dialogue = next(c for c in lines if "hello world" in c[0]["content"] and len(c) > 2)
    assert dialogue[1]["content"].startswith("Here is a hint")
    assert "gives 3" in dialogue[-1]["content"]
    assert any("Just tell me the answer" in t and "Have a go first" in t for t in texts)
    assert any("What is character counts?" in t for t in texts)
    assert ["Why a table of counts?", "Because it is the simplest model."] in [
        [m["content"] for m in c] for c in lines
    ]


def test_export_refuses_unknown_or_unpublished_courses(db, draft_course, tmp_path):
    with pytest.raises(CommandError, match="No course"):
        call_command("export_sft", "nope", "--out", str(tmp_path / "x.jsonl"))
    with pytest.raises(CommandError, match="no published version"):
        call_command("export_sft", draft_course.slug, "--out", str(tmp_path / "x.jsonl"))


def test_malformed_conversations_are_recognised():
    assert not sft.valid([{"role": "assistant", "content": "hi"}, {"role": "user", "content": "x"}])
    assert not sft.valid([{"role": "user", "content": " "}, {"role": "assistant", "content": "x"}])
    assert sft.valid([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}])
