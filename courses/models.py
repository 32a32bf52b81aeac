"""Courses as authored (the working copy instructors edit) and as published (immutable versions
that students see)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.urls import reverse


class CourseQuerySet(models.QuerySet["Course"]):
    def published(self) -> CourseQuerySet:
        return self.filter(is_published=True)


class Course(models.Model):
    """A course: a ramp to knowledge made of chapters of small steps."""

    slug = models.SlugField(max_length=80, unique=True)
    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True)
    is_published = models.BooleanField(default=False)
    target_success = models.FloatField(
        default=0.75,
        help_text="The chance of success the next exercise should have: probably, not surely.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CourseQuerySet.as_manager()

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("course_detail", kwargs={"slug": self.slug})


class Concept(models.Model):
    """Something a student can know. Prerequisite edges form a DAG (checked by validation)."""

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="concepts")
    slug = models.SlugField(max_length=80)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    prior_knowledge = models.BooleanField(
        default=False, help_text="Assumed known on arrival; no step teaches it."
    )
    position = models.PositiveIntegerField(default=0)
    requires = models.ManyToManyField(
        "self", symmetrical=False, through="ConceptPrerequisite", related_name="required_by"
    )

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["course", "slug"], name="concept_slug_unique_in_course")
        ]

    def __str__(self) -> str:
        return self.name


class ConceptPrerequisite(models.Model):
    """An edge of the concept graph: `concept` can only be learnt once `requires` is known."""

    concept = models.ForeignKey(
        Concept, on_delete=models.CASCADE, related_name="prerequisite_edges"
    )
    requires = models.ForeignKey(Concept, on_delete=models.CASCADE, related_name="dependent_edges")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["concept", "requires"], name="one_edge_per_pair")
        ]

    def __str__(self) -> str:
        return f"{self.concept} requires {self.requires}"


class Chapter(models.Model):
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="chapters")
    slug = models.SlugField(max_length=80)
    title = models.CharField(max_length=200)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["course", "slug"], name="chapter_slug_unique_in_course")
        ]

    def __str__(self) -> str:
        return self.title


class Step(models.Model):
    """One small step of the ramp: a Markdown body that teaches a few concepts."""

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="steps")
    chapter = models.ForeignKey(Chapter, on_delete=models.CASCADE, related_name="steps")
    slug = models.SlugField(max_length=80)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["chapter__position", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["course", "slug"], name="step_slug_unique_in_course")
        ]

    def __str__(self) -> str:
        return self.title


class StepConcept(models.Model):
    """A concept a step teaches or requires, in the author's order."""

    class Relation(models.TextChoices):
        TEACHES = "teaches", "Teaches"
        REQUIRES = "requires", "Requires"

    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="concept_links")
    concept = models.ForeignKey(Concept, on_delete=models.CASCADE, related_name="step_links")
    relation = models.CharField(max_length=10, choices=Relation.choices)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["step", "concept", "relation"], name="one_link_per_step_concept_relation"
            )
        ]

    def __str__(self) -> str:
        return f"{self.step} {self.relation} {self.concept}"


class Exercise(models.Model):
    """An exercise of a step (hint ladder, worked solution) or a probe (diagnostic item)."""

    class Kind(models.TextChoices):
        MULTIPLE_CHOICE = "multiple_choice", "Multiple choice"
        NUMERIC = "numeric", "Numeric"
        SHORT_ANSWER = "short_answer", "Short answer"

    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="exercises")
    slug = models.SlugField(max_length=80)
    is_probe = models.BooleanField(default=False)
    position = models.PositiveIntegerField(default=0)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    prompt = models.TextField()
    difficulty = models.PositiveSmallIntegerField(default=3)
    concepts = models.ManyToManyField(Concept, through="ExerciseConcept", related_name="exercises")
    hints = models.JSONField(default=list, blank=True, help_text="The hint ladder, in order.")
    solution = models.TextField(blank=True)
    # Kind-specific answer data: options [{text, correct, misconception}] for multiple choice;
    # answer, tolerance, unit for numeric; accepted and rubric for short answers.
    options = models.JSONField(default=list, blank=True)
    answer = models.FloatField(null=True, blank=True)
    tolerance = models.FloatField(default=0.0)
    unit = models.CharField(max_length=40, blank=True)
    accepted = models.JSONField(default=list, blank=True)
    rubric = models.TextField(blank=True)

    class Meta:
        ordering = ["is_probe", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["step", "slug"], name="exercise_slug_unique_in_step"),
            models.CheckConstraint(
                condition=models.Q(difficulty__gte=1, difficulty__lte=5), name="difficulty_1_to_5"
            ),
        ]

    def __str__(self) -> str:
        return self.slug


class ExerciseConcept(models.Model):
    exercise = models.ForeignKey(Exercise, on_delete=models.CASCADE, related_name="concept_links")
    concept = models.ForeignKey(Concept, on_delete=models.CASCADE, related_name="exercise_links")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["exercise", "concept"], name="one_link_per_exercise_concept"
            )
        ]

    def __str__(self) -> str:
        return f"{self.exercise} is about {self.concept}"


class StepRevision(models.Model):
    """A step's text (its file, canonical form) each time it changed: the version history."""

    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    text = models.TextField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["step", "number"], name="one_revision_number_per_step")
        ]

    def __str__(self) -> str:
        return f"{self.step} revision {self.number}"


class SourceFile(models.Model):
    """A file as last imported, kept so that export gives back the author's own bytes (comments,
    key order, quoting) for every part that was not changed in the browser since."""

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="source_files")
    path = models.CharField(max_length=200)
    text = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["course", "path"], name="one_source_per_path")
        ]

    def __str__(self) -> str:
        return f"{self.course.slug}/{self.path}"


class ImmutableError(Exception):
    pass


class CourseVersion(models.Model):
    """A published version of a course, frozen: students see the latest one, and every attempt
    points at the version it answered."""

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    spec = models.JSONField(help_text="The whole course as published (CourseSpec.to_json()).")
    published_at = models.DateTimeField(auto_now_add=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        ordering = ["-number"]
        get_latest_by = "number"
        constraints = [
            models.UniqueConstraint(
                fields=["course", "number"], name="one_version_number_per_course"
            )
        ]

    def __str__(self) -> str:
        return f"{self.course} v{self.number}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ImmutableError("A published course version cannot be changed.")
        super().save(*args, **kwargs)
