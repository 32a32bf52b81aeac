"""The code in LLM101n runs as a student would type it, and prints what the course says it prints.

Within one step, the Python blocks run in order in one fresh namespace (a student's session for
that step). A `text` block right after a Python block is that block's expected output, compared
exactly. Blocks in other languages (shell commands) are shown, not run.
"""

from __future__ import annotations

import contextlib
import io

import pytest

from tests.content.course import code_blocks, course

STEPS = [s for s in course().steps() if any(lang == "python" for lang, _ in code_blocks(s.body))]


def _normalised(output: str) -> str:
    return "\n".join(line.rstrip() for line in output.strip("\n").splitlines())


@pytest.mark.parametrize("step", STEPS, ids=[s.slug for s in STEPS])
def test_step_code_runs_and_prints_what_the_step_shows(step):
    namespace: dict[str, object] = {"__name__": "__main__"}
    blocks = code_blocks(step.body)
    previous_language, printed = None, ""
    for index, (language, code) in enumerate(blocks):
        where = f"{step.slug}.md, code block {index + 1}"
        if language == "text":
            assert previous_language == "python", f"{where}: output block without code before it"
            assert _normalised(printed) == _normalised(code), f"{where}: printed output differs"
        elif language == "python":
            stdout = io.StringIO()
            with contextlib.redirect_stdout(stdout):
                exec(compile(code, where, "exec"), namespace)  # noqa: S102 (our own course code)
            printed = stdout.getvalue()
        previous_language = language


def test_every_step_of_the_first_five_chapters_has_runnable_code():
    for chapter in course().chapters[:5]:
        for step in chapter.steps:
            assert any(lang == "python" for lang, _ in code_blocks(step.body)), step.slug


def test_code_blocks_name_their_language():
    for step in course().steps():
        for language, _ in code_blocks(step.body):
            assert language in {"python", "text", "bash"}, f"{step.slug}: ```{language}"
