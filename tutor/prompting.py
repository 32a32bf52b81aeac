"""The one place that builds what the TA model sees.

The TA policy, the step, what the student has shown they know, the exercise they are on with
their attempts and hint level, retrieved passages, and their language and background. The
worked solution and the answer of an exercise enter the context only once the student may see
them (after an attempt, or after the last hint): what the model never reads, it cannot leak.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from courses.spec import ExerciseSpec, StepSpec

POLICY = """You are the teaching assistant of the course "{course}". Teach; do not do the work.
- Never give the answer or the worked solution of an exercise the student has not attempted.
- If the student's words show a misconception, ask one short probing question about it first.
- Offer the next hint of the course before any hint of your own; keep hints small.
- Build on what the student knows; do not lecture what they have mastered.
- Be brief, warm and concrete. Use Markdown; math in $...$.
- Reply in {language}.{background}"""

LANGUAGE_NAMES = {
    "en": "English",
    "fr": "French",
    "de": "German",
    "es": "Spanish",
    "pt": "Portuguese",
    "it": "Italian",
    "nl": "Dutch",
}


@dataclass
class Attempt:
    answer: str
    correct: bool


@dataclass
class Passage:
    title: str
    text: str
    url: str = ""


@dataclass
class TAContext:
    course_title: str
    step: StepSpec | None = None
    mastery: dict[str, float] = field(default_factory=dict)  # concept name -> P(known)
    exercise: ExerciseSpec | None = None
    attempts: list[Attempt] = field(default_factory=list)
    hints_revealed: int = 0
    solution_unlocked: bool = False
    passages: list[Passage] = field(default_factory=list)
    language: str = "en"
    background: str = ""
    history: list[tuple[str, str]] = field(default_factory=list)  # (role, text), oldest first


def system_prompt(ctx: TAContext) -> str:
    background = f"\n- The student's background: {ctx.background}." if ctx.background else ""
    parts = [
        POLICY.format(
            course=ctx.course_title,
            language=LANGUAGE_NAMES.get(ctx.language, ctx.language),
            background=background,
        )
    ]
    if ctx.step is not None:
        parts.append(f"Step: {ctx.step.title}\n{_clip(ctx.step.body, 600)}")
    if ctx.mastery:
        known = ", ".join(f"{name} {p:.0%}" for name, p in ctx.mastery.items())
        parts.append(f"The student's mastery: {known}.")
    exercise = ctx.exercise
    if exercise is not None:
        lines = [f"Exercise: {_clip(exercise.prompt, 300)}"]
        if ctx.attempts:
            tries = "; ".join(
                f"{a.answer!r} ({'right' if a.correct else 'wrong'})" for a in ctx.attempts[-3:]
            )
            lines.append(f"Their attempts: {tries}.")
        else:
            lines.append("They have not attempted it yet.")
        shown = exercise.hints[: ctx.hints_revealed]
        if shown:
            lines.append("Hints already shown: " + " | ".join(shown))
        if ctx.solution_unlocked:
            lines.append(f"Worked solution (they may see it now): {_clip(exercise.solution, 400)}")
        parts.append("\n".join(lines))
    if ctx.passages:
        parts.append(
            "Course passages:\n"
            + "\n".join(f"[{p.title}] {_clip(p.text, 300)}" for p in ctx.passages)
        )
    return "\n\n".join(parts)


def build_messages(ctx: TAContext, student_message: str, *, budget: int) -> list[dict[str, str]]:
    """Chat messages for the model, within `budget` characters: the system prompt first (cut
    from its end), then as much recent history as fits, then the student's message."""
    system = _clip(system_prompt(ctx), max(budget // 2, 80))
    remaining = budget - len(system) - len(student_message)
    history: list[dict[str, str]] = []
    for role, text in reversed(ctx.history):
        if remaining - len(text) < 0:
            break
        remaining -= len(text)
        history.insert(0, {"role": "assistant" if role != "student" else "user", "content": text})
    # nanochat alternates strictly, starting with the user: drop a leading assistant turn.
    while history and history[0]["role"] == "assistant":
        history.pop(0)
    merged: list[dict[str, str]] = []
    for message in history:
        if merged and merged[-1]["role"] == message["role"]:
            merged[-1]["content"] += "\n\n" + message["content"]
        else:
            merged.append(dict(message))
    if merged and merged[-1]["role"] == "user":
        merged.pop()  # a student message left without a reply: the new one supersedes it
    return [
        {"role": "system", "content": system},
        *merged,
        {"role": "user", "content": student_message},
    ]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
