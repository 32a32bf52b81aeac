"""Forms of the authoring pages: they turn what an instructor typed into clean values or into
errors shown next to the field, and never lose the text that was typed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import RegexValidator

from courses import archive, fileformat, services
from courses.models import Chapter, Concept, Course, Exercise, Step
from courses.spec import ConceptSpec, ExerciseSpec, OptionSpec

MAX_TEXT = fileformat.MAX_FILE_BYTES

slug_validator = RegexValidator(
    fileformat.SLUG,
    "Use lower-case letters, digits and '-' (starting with a letter or digit), at most 80.",
)


def _slug_field(what: str) -> forms.CharField:
    return forms.CharField(
        label="Slug",
        required=False,
        max_length=80,
        validators=[slug_validator],
        help_text=(
            f"The {what}'s permanent name in files and links; leave empty to make one from "
            "the title. It cannot be changed later."
        ),
    )


def _concept_choices(course: Course, *, exclude: str | None = None) -> list[tuple[str, str]]:
    concepts = Concept.objects.filter(course=course)
    if exclude:
        concepts = concepts.exclude(slug=exclude)
    return [
        (c.slug, f"{c.name} ({c.slug}{', prior knowledge' if c.prior_knowledge else ''})")
        for c in concepts
    ]


def _concepts_field(label: str, help_text: str = "") -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        label=label,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=help_text,
    )


class MoveForm(forms.Form):
    direction = forms.ChoiceField(choices=[("up", "Up"), ("down", "Down")])

    @property
    def offset(self) -> int:
        return -1 if self.cleaned_data["direction"] == "up" else 1


class CourseForm(forms.Form):
    title = forms.CharField(max_length=200)
    summary = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))


class ChapterForm(forms.Form):
    title = forms.CharField(label="Chapter title", max_length=200)


class NewChapterForm(ChapterForm):
    slug = _slug_field("chapter")

    def __init__(self, *args: Any, course: Course, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.course = course

    def clean_slug(self) -> str:
        slug: str = self.cleaned_data["slug"]
        if slug and Chapter.objects.filter(course=self.course, slug=slug).exists():
            raise forms.ValidationError("A chapter with this slug already exists.")
        return slug


class NewStepForm(forms.Form):
    title = forms.CharField(label="Step title", max_length=200)
    slug = _slug_field("step")

    def __init__(self, *args: Any, course: Course, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.course = course

    def clean_slug(self) -> str:
        slug: str = self.cleaned_data["slug"]
        if slug and Step.objects.filter(course=self.course, slug=slug).exists():
            raise forms.ValidationError("A step with this slug already exists in this course.")
        return slug


class StepForm(forms.Form):
    title = forms.CharField(max_length=200)
    body = forms.CharField(
        label="Body (Markdown)",
        required=False,
        max_length=MAX_TEXT,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 18, "spellcheck": "true"}),
        help_text="Markdown, with $math$ and fenced code blocks. The preview updates as you type.",
    )
    teaches = _concepts_field("Teaches", "The concepts this step introduces.")
    requires = _concepts_field(
        "Requires", "What a student must already know: taught earlier, or prior knowledge."
    )
    note = forms.CharField(
        label="What changed (optional)",
        required=False,
        max_length=200,
        help_text="Shown in the step's history.",
    )
    base = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)

    def __init__(self, *args: Any, course: Course, preview_url: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = _concept_choices(course)
        for name in ("teaches", "requires"):
            cast(forms.MultipleChoiceField, self.fields[name]).choices = choices
        if preview_url:
            # The live preview: the typed body goes to the preview endpoint a moment after
            # the last key, and its sanitised HTML replaces the preview pane.
            self.fields["body"].widget.attrs.update(
                {
                    "hx-post": preview_url,
                    "hx-trigger": "keyup changed delay:400ms",
                    "hx-target": "#preview",
                    "hx-swap": "innerHTML",
                    "hx-sync": "this:replace",
                }
            )

    def clean(self) -> dict[str, Any] | None:
        data = super().clean() or {}
        both = set(data.get("teaches", [])) & set(data.get("requires", []))
        if both:
            self.add_error(
                "requires",
                f"A step cannot both teach and require {', '.join(sorted(both))}.",
            )
        return data


class PreviewForm(forms.Form):
    body = forms.CharField(required=False, max_length=MAX_TEXT, strip=False)


class HintForm(forms.Form):
    text = forms.CharField(
        label="Hint",
        required=False,
        max_length=MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class OptionForm(forms.Form):
    text = forms.CharField(label="Option", required=False, max_length=2000)
    correct = forms.BooleanField(label="Correct", required=False)
    misconception = forms.CharField(
        label="Misconception shown when chosen",
        required=False,
        max_length=2000,
    )

    def clean(self) -> dict[str, Any] | None:
        data = super().clean() or {}
        if not data.get("text", "").strip() and (
            data.get("correct") or data.get("misconception", "").strip()
        ):
            self.add_error("text", "Give the option's text, or clear the whole row.")
        return data


HintFormSet = forms.formset_factory(HintForm, extra=0, max_num=50, validate_max=True)
OptionFormSet = forms.formset_factory(OptionForm, extra=0, max_num=20, validate_max=True)

DIFFICULTIES = [
    (1, "1 · warm-up"),
    (2, "2 · easy"),
    (3, "3 · medium"),
    (4, "4 · hard"),
    (5, "5 · hardest"),
]


class ExerciseForm(forms.Form):
    """An exercise or probe, all kinds; the hint ladder and the options are formsets beside it."""

    slug = forms.CharField(
        label="Slug",
        required=False,
        max_length=80,
        validators=[slug_validator],
        help_text="Permanent; leave empty to make one from the prompt.",
    )
    kind = forms.ChoiceField(choices=Exercise.Kind.choices)
    prompt = forms.CharField(
        label="Prompt (Markdown)",
        max_length=MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    difficulty = forms.TypedChoiceField(choices=DIFFICULTIES, coerce=int, initial=3)
    concepts = _concepts_field(
        "Concepts", "What this item practises or diagnoses; none means what the step teaches."
    )
    solution = forms.CharField(
        label="Worked solution (Markdown)",
        required=False,
        max_length=MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="Shown only after an attempt or after the last hint.",
    )
    answer = forms.FloatField(
        label="Answer",
        required=False,
        help_text="A number; 1e-3 and -2.5 are fine.",
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
    )
    tolerance = forms.FloatField(
        label="Tolerance",
        required=False,
        min_value=0,
        help_text="How far from the answer still counts as right (absolute).",
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
    )
    unit = forms.CharField(label="Unit (optional)", required=False, max_length=40)
    accepted = forms.CharField(
        label="Accepted answers, one per line",
        required=False,
        max_length=MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    rubric = forms.CharField(
        label="Rubric for grading free answers (optional)",
        required=False,
        max_length=MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(
        self, *args: Any, step: Step, exercise: Exercise | None, is_probe: bool, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.step, self.exercise, self.is_probe = step, exercise, is_probe
        concepts = cast(forms.MultipleChoiceField, self.fields["concepts"])
        concepts.choices = _concept_choices(step.course)
        if exercise is not None:
            del self.fields["slug"]

    def clean_slug(self) -> str:
        slug: str = self.cleaned_data["slug"]
        if slug and self.step.exercises.filter(slug=slug).exists():
            raise forms.ValidationError("This step already has an exercise or probe with it.")
        return slug

    def to_spec(self, hints: Iterable[forms.Form], options: Iterable[forms.Form]) -> ExerciseSpec:
        data = self.cleaned_data
        if self.exercise is not None:
            slug = self.exercise.slug
        else:
            taken = set(self.step.exercises.values_list("slug", flat=True))
            words = " ".join(data["prompt"].split()[:6])
            fallback = "probe" if self.is_probe else "exercise"
            slug = data["slug"] or services.unique_slug(words, taken, fallback=fallback)
        return ExerciseSpec(
            slug=slug,
            kind=data["kind"],
            prompt=data["prompt"],
            difficulty=data["difficulty"],
            concepts=list(data["concepts"]),
            hints=[f.cleaned_data["text"] for f in hints if f.cleaned_data.get("text", "").strip()],
            solution=data["solution"],
            options=[
                OptionSpec(
                    text=f.cleaned_data["text"],
                    correct=f.cleaned_data["correct"],
                    misconception=f.cleaned_data["misconception"],
                )
                for f in options
                if f.cleaned_data.get("text", "").strip()
            ],
            answer=data["answer"],
            tolerance=data["tolerance"] or 0.0,
            unit=data["unit"],
            accepted=[line.strip() for line in data["accepted"].splitlines() if line.strip()],
            rubric=data["rubric"],
        )


class ConceptForm(forms.Form):
    slug = _slug_field("concept")
    name = forms.CharField(max_length=200)
    description = forms.CharField(
        required=False, max_length=MAX_TEXT, widget=forms.Textarea(attrs={"rows": 2})
    )
    prior_knowledge = forms.BooleanField(
        label="Prior knowledge: students bring it on arrival, no step teaches it",
        required=False,
    )
    requires = _concepts_field("Requires", "Concepts a student must know before learning this one.")

    def __init__(self, *args: Any, course: Course, concept: Concept | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.course, self.concept = course, concept
        requires = cast(forms.MultipleChoiceField, self.fields["requires"])
        requires.choices = _concept_choices(course, exclude=concept.slug if concept else None)
        if concept is not None:
            del self.fields["slug"]

    def clean_slug(self) -> str:
        slug: str = self.cleaned_data["slug"]
        if slug and Concept.objects.filter(course=self.course, slug=slug).exists():
            raise forms.ValidationError("A concept with this slug already exists.")
        return slug

    def clean(self) -> dict[str, Any] | None:
        data = super().clean() or {}
        requires = list(data.get("requires", []))
        if data.get("prior_knowledge") and requires:
            self.add_error(
                "requires",
                "A prior-knowledge concept cannot require other concepts: clear these, "
                "or untick prior knowledge.",
            )
            return data
        # Only an existing concept can close a cycle: nothing requires a new one yet.
        if self.concept is not None and requires:
            cycle = services.concept_cycle(
                course=self.course, slug=self.concept.slug, requires=requires
            )
            if cycle is not None:
                self.add_error(
                    "requires",
                    f"That would make a cycle: {' → '.join(cycle)}. A concept cannot "
                    "(even indirectly) require itself.",
                )
        return data

    def to_spec(self) -> ConceptSpec:
        data = self.cleaned_data
        if self.concept is not None:
            slug = self.concept.slug
        else:
            taken = set(Concept.objects.filter(course=self.course).values_list("slug", flat=True))
            slug = data["slug"] or services.unique_slug(data["name"], taken, fallback="concept")
        return ConceptSpec(
            slug=slug,
            name=data["name"],
            description=data["description"],
            requires=list(data["requires"]),
            prior_knowledge=data["prior_knowledge"],
        )


class ArchiveForm(forms.Form):
    archive = forms.FileField(
        label="Course archive (.zip)",
        help_text=(
            "A .zip of the course folder: course.yaml and steps/*.md. At most "
            f"{archive.MAX_FILE_BYTES // 1_000_000} MB a file and "
            f"{archive.MAX_TOTAL_BYTES // 1_000_000} MB in all."
        ),
        widget=forms.FileInput(attrs={"accept": ".zip,application/zip"}),
    )

    def clean_archive(self) -> dict[str, str]:
        upload: UploadedFile = self.cleaned_data["archive"]
        try:
            return archive.read_course_archive(upload, size=upload.size)
        except archive.ArchiveRefused as refused:
            raise forms.ValidationError(str(refused)) from refused
