"""Supervised fine-tuning data for the course's own model, from what the course team wrote.

Each conversation is a list of alternating user and assistant messages, starting with the user:
nanochat's custom-conversation format (one JSON array per line of a .jsonl file). Three kinds:
- a concept explained: the student asks what a concept is, the TA answers from its description;
- an exercise worked Socratically: the student asks, the TA gives the first hint (never the
  answer), the student is still stuck, the next hint, ..., the student answers, the TA confirms
  and walks through the worked solution. This is the TA's policy, shown by example;
- a request for the answer before trying: the TA declines and gives the first hint.
Answers human TAs wrote to students (replies in escalations) are added when they exist.
"""

from __future__ import annotations

from collections.abc import Iterator

from courses.spec import CourseSpec, ExerciseSpec
from tutor.models import Message

Conversation = list[dict[str, str]]


def _answer_text(exercise: ExerciseSpec) -> str:
    if exercise.kind == "multiple_choice":
        return next((o.text for o in exercise.options if o.correct), "")
    if exercise.kind == "numeric":
        unit = f" {exercise.unit}" if exercise.unit else ""
        return f"{exercise.answer:g}{unit}" if exercise.answer is not None else ""
    return exercise.accepted[0] if exercise.accepted else ""


def _exercise_dialogue(exercise: ExerciseSpec) -> Conversation:
    turns: Conversation = [{"role": "user", "content": exercise.prompt.strip()}]
    for i, hint in enumerate(exercise.hints):
        turns.append({"role": "assistant", "content": f"Here is a hint: {hint}"})
        if i + 1 < len(exercise.hints):
            turns.append({"role": "user", "content": "I'm still stuck."})
    answer = _answer_text(exercise)
    turns.append({"role": "user", "content": f"Is it {answer}?"})
    turns.append({"role": "assistant", "content": f"Yes, well done. {exercise.solution.strip()}"})
    return turns


def conversations(spec: CourseSpec, *, human_answers: bool = True) -> Iterator[Conversation]:
    for concept in spec.concepts:
        if concept.description and not concept.prior_knowledge:
            yield [
                {"role": "user", "content": f"What is {concept.name.lower()}?"},
                {"role": "assistant", "content": concept.description},
            ]
    for step in spec.steps():
        for exercise in step.exercises:
            if not exercise.hints or not exercise.solution.strip() or not _answer_text(exercise):
                continue
            yield _exercise_dialogue(exercise)
            yield [
                {
                    "role": "user",
                    "content": f"{exercise.prompt.strip()}\n\nJust tell me the answer.",
                },
                {
                    "role": "assistant",
                    "content": "Have a go first: you learn more from a try, even a wrong one. "
                    f"A hint to start: {exercise.hints[0]}",
                },
            ]
    if human_answers:
        yield from _human_answers(spec)


def _human_answers(spec: CourseSpec) -> Iterator[Conversation]:
    """Each human TA reply with the student message it answered."""
    replies = Message.objects.filter(
        conversation__course__slug=spec.slug, role=Message.Role.HUMAN
    ).select_related("conversation")
    for reply in replies:
        question = (
            Message.objects.filter(
                conversation=reply.conversation,
                role=Message.Role.STUDENT,
                created_at__lte=reply.created_at,
            )
            .order_by("-created_at")
            .first()
        )
        if question is not None and question.content.strip() and reply.content.strip():
            yield [
                {"role": "user", "content": question.content.strip()},
                {"role": "assistant", "content": reply.content.strip()},
            ]


def valid(conversation: Conversation) -> bool:
    """Alternating user/assistant messages, starting with the user, none empty."""
    if len(conversation) < 2:
        return False
    for i, message in enumerate(conversation):
        expected = "user" if i % 2 == 0 else "assistant"
        if message.get("role") != expected or not str(message.get("content", "")).strip():
            return False
    return True
