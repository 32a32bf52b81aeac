"""A course as plain data: what the file format reads and writes, what validation checks, what
import stores, what export and publishing read back, and what a published version freezes.

Every spec object may carry a `source` (file and line) for error messages; it takes no part in
equality, so a course read from files equals the same course read back from the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ExerciseKind = Literal["multiple_choice", "numeric", "short_answer"]
KINDS: tuple[ExerciseKind, ...] = ("multiple_choice", "numeric", "short_answer")


@dataclass(frozen=True)
class Source:
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


def _no_source() -> Source | None:
    return None


@dataclass
class ConceptSpec:
    slug: str
    name: str
    description: str = ""
    requires: list[str] = field(default_factory=list)
    prior_knowledge: bool = False
    source: Source | None = field(default_factory=_no_source, compare=False, repr=False)


@dataclass
class OptionSpec:
    text: str
    correct: bool = False
    misconception: str = ""


@dataclass
class ExerciseSpec:
    """An exercise (in a step, with hints and a worked solution) or a probe (a short diagnostic
    item tied to concepts). Kind-specific fields are empty for the other kinds."""

    slug: str
    kind: str
    prompt: str
    difficulty: int = 3
    concepts: list[str] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)
    solution: str = ""
    # multiple_choice
    options: list[OptionSpec] = field(default_factory=list)
    # numeric
    answer: float | None = None
    tolerance: float = 0.0
    unit: str = ""
    # short_answer
    accepted: list[str] = field(default_factory=list)
    rubric: str = ""
    source: Source | None = field(default_factory=_no_source, compare=False, repr=False)


@dataclass
class StepSpec:
    slug: str
    title: str
    body: str = ""
    teaches: list[str] = field(default_factory=list)
    requires: list[str] = field(default_factory=list)
    exercises: list[ExerciseSpec] = field(default_factory=list)
    probes: list[ExerciseSpec] = field(default_factory=list)
    source: Source | None = field(default_factory=_no_source, compare=False, repr=False)

    def exercise(self, slug: str) -> ExerciseSpec | None:
        return next((e for e in self.exercises if e.slug == slug), None)


@dataclass
class ChapterSpec:
    slug: str
    title: str
    steps: list[StepSpec] = field(default_factory=list)
    source: Source | None = field(default_factory=_no_source, compare=False, repr=False)


@dataclass
class CourseSpec:
    slug: str
    title: str
    summary: str = ""
    concepts: list[ConceptSpec] = field(default_factory=list)
    chapters: list[ChapterSpec] = field(default_factory=list)
    source: Source | None = field(default_factory=_no_source, compare=False, repr=False)

    def steps(self) -> list[StepSpec]:
        return [step for chapter in self.chapters for step in chapter.steps]

    def step(self, slug: str) -> StepSpec | None:
        return next((s for s in self.steps() if s.slug == slug), None)

    def concept(self, slug: str) -> ConceptSpec | None:
        return next((c for c in self.concepts if c.slug == slug), None)

    def to_json(self) -> dict[str, Any]:
        """The plain-JSON form a published version stores."""
        from dataclasses import asdict

        def strip(value: Any) -> Any:
            if isinstance(value, dict):
                return {k: strip(v) for k, v in value.items() if k != "source"}
            if isinstance(value, list):
                return [strip(v) for v in value]
            return value

        result: dict[str, Any] = strip(asdict(self))
        return result

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CourseSpec:
        def exercise(d: dict[str, Any]) -> ExerciseSpec:
            return ExerciseSpec(**{**d, "options": [OptionSpec(**o) for o in d.get("options", [])]})

        def step(d: dict[str, Any]) -> StepSpec:
            return StepSpec(
                **{
                    **d,
                    "exercises": [exercise(e) for e in d.get("exercises", [])],
                    "probes": [exercise(p) for p in d.get("probes", [])],
                }
            )

        return cls(
            slug=data["slug"],
            title=data["title"],
            summary=data.get("summary", ""),
            concepts=[ConceptSpec(**c) for c in data.get("concepts", [])],
            chapters=[
                ChapterSpec(
                    slug=c["slug"], title=c["title"], steps=[step(s) for s in c.get("steps", [])]
                )
                for c in data.get("chapters", [])
            ],
        )


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a course, located as precisely as the source allows."""

    message: str
    source: Source | None = None

    def __str__(self) -> str:
        return f"{self.source}: {self.message}" if self.source else self.message
