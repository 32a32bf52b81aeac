from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector
from django.db import models
from pgvector.django import HnswIndex, VectorField

# all-MiniLM-L6-v2, the model worker's embedding model.
EMBEDDING_DIMENSIONS = 384


class Role(models.TextChoices):
    STUDENT = "student", "Student"
    TA = "ta", "Teaching assistant"
    INSTRUCTOR = "instructor", "Instructor"


class EnrollmentQuerySet(models.QuerySet["Enrollment"]):
    def for_user(self, user: object) -> EnrollmentQuerySet:
        return self.filter(user=user).select_related("course")


class Enrollment(models.Model):
    """A user's role in one course."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="enrollments"
    )
    course = models.ForeignKey(
        "courses.Course", on_delete=models.CASCADE, related_name="enrollments"
    )
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.STUDENT)
    current_step_slug = models.SlugField(
        max_length=80, blank=True, help_text="The step the student was last on: their place."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = EnrollmentQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "course"], name="one_enrollment_per_course")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.course} as {self.get_role_display()}"


class Attempt(models.Model):
    """One answer a student submitted, kept for good: it points at the published version it
    answered, so later edits of the course never change what it meant."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="attempts"
    )
    course_version = models.ForeignKey(
        "courses.CourseVersion", on_delete=models.PROTECT, related_name="attempts"
    )
    step_slug = models.SlugField(max_length=80)
    exercise_slug = models.SlugField(max_length=80)
    is_probe = models.BooleanField(default=False)
    answer = models.TextField(help_text="What the student entered, exactly.")

    class Grading(models.TextChoices):
        EXACT = "exact", "Checked against the answer key"
        PENDING = "pending", "Being graded against the rubric"
        MODEL = "model", "Graded by the model against the rubric"
        NEEDS_TA = "needs_ta", "Waiting for a TA"

    correct = models.BooleanField()
    feedback = models.TextField(blank=True)
    grading = models.CharField(max_length=10, choices=Grading.choices, default=Grading.EXACT)
    hints_used = models.PositiveSmallIntegerField(default=0)
    time_on_task_ms = models.PositiveIntegerField(default=0)
    mastery_gain = models.FloatField(
        null=True,
        blank=True,
        help_text="How much knowledge tracing moved on the exercise's concepts (sum of the "
        "changes in P(known)) when this answer was graded; empty until graded.",
    )
    on_mastered_ground = models.BooleanField(
        default=False,
        help_text="Every concept of the exercise was already mastered when this answer was "
        "graded: it was a review, and the next suggestion is not another due review.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "step_slug", "exercise_slug"])]

    def __str__(self) -> str:
        return f"{self.user} on {self.step_slug}/{self.exercise_slug}: {self.correct}"


class ExerciseProgress(models.Model):
    """Where a student stands on one exercise across versions (keyed by stable slugs): hints
    revealed, whether they tried, whether they solved it, whether the solution is open."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="exercise_progress"
    )
    course = models.ForeignKey("courses.Course", on_delete=models.CASCADE, related_name="+")
    step_slug = models.SlugField(max_length=80)
    exercise_slug = models.SlugField(max_length=80)
    hints_revealed = models.PositiveSmallIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    solved = models.BooleanField(default=False)
    solution_viewed = models.BooleanField(default=False)
    started_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "course", "step_slug", "exercise_slug"],
                name="one_progress_per_exercise",
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} on {self.step_slug}/{self.exercise_slug}"

    @property
    def solution_unlocked(self) -> bool:
        # Principle 3: the worked solution only after a try (or once every hint is out; the view
        # knows the ladder's length and checks that part).
        return self.attempts > 0


class ConceptMastery(models.Model):
    """P(the student knows the concept), by knowledge tracing; and their Elo-style ability."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mastery"
    )
    course = models.ForeignKey("courses.Course", on_delete=models.CASCADE, related_name="+")
    concept_slug = models.SlugField(max_length=80)
    p_known = models.FloatField()
    ability = models.FloatField(default=0.0)
    observations = models.PositiveIntegerField(default=0)
    review_card = models.JSONField(
        null=True,
        blank=True,
        help_text="The FSRS card of a mastered concept (its review schedule).",
    )
    review_due = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "course", "concept_slug"], name="one_mastery_per_concept"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} knows {self.concept_slug}: {self.p_known:.2f}"


class ConceptParams(models.Model):
    """Knowledge-tracing parameters of one concept, refitted from the attempt log."""

    course = models.ForeignKey("courses.Course", on_delete=models.CASCADE, related_name="+")
    concept_slug = models.SlugField(max_length=80)
    p_init = models.FloatField()
    p_learn = models.FloatField()
    p_slip = models.FloatField()
    p_guess = models.FloatField()
    sequences = models.PositiveIntegerField(default=0)
    fitted_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["course", "concept_slug"], name="one_params_per_concept"
            )
        ]

    def __str__(self) -> str:
        return f"BKT of {self.concept_slug}"


class ItemDifficulty(models.Model):
    """The Elo-style difficulty of one exercise, learnt from every student's answers."""

    course = models.ForeignKey("courses.Course", on_delete=models.CASCADE, related_name="+")
    step_slug = models.SlugField(max_length=80)
    exercise_slug = models.SlugField(max_length=80)
    beta = models.FloatField()
    answers = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["course", "step_slug", "exercise_slug"], name="one_difficulty_per_item"
            )
        ]

    def __str__(self) -> str:
        return f"{self.step_slug}/{self.exercise_slug}: {self.beta:+.2f}"


class PlacementProbe(models.Model):
    """One run of the placement probe: the questions asked, the beliefs, where it placed."""

    class State(models.TextChoices):
        ACTIVE = "active", "In progress"
        FINISHED = "finished", "Finished"
        SKIPPED = "skipped", "Skipped"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="placements"
    )
    course = models.ForeignKey("courses.Course", on_delete=models.CASCADE, related_name="+")
    course_version = models.ForeignKey(
        "courses.CourseVersion", on_delete=models.PROTECT, related_name="+"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.ACTIVE)
    chapter_slug = models.SlugField(
        max_length=80, blank=True, help_text="Blank: the whole course; else one chapter's concepts."
    )
    beliefs = models.JSONField(default=dict)
    asked = models.JSONField(default=list, help_text="[[step, probe, answer, correct], ...]")
    question_number = models.PositiveSmallIntegerField(default=1)
    current_step_slug = models.SlugField(max_length=80, blank=True)
    current_probe_slug = models.SlugField(max_length=80, blank=True)
    placed_step_slug = models.SlugField(max_length=80, blank=True)
    explanation = models.TextField(blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "course"],
                condition=models.Q(state="active"),
                name="one_active_placement",
            )
        ]

    def __str__(self) -> str:
        return f"placement of {self.user} in {self.course}: {self.state}"


class CourseChunk(models.Model):
    """A passage of a published course version (one section of one step), for retrieval:
    embedded through the model worker (pgvector, HNSW) and indexed for full-text search.
    Worked solutions and answer keys are never chunked."""

    course = models.ForeignKey("courses.Course", on_delete=models.CASCADE, related_name="+")
    course_version = models.ForeignKey(
        "courses.CourseVersion", on_delete=models.CASCADE, related_name="chunks"
    )
    step_slug = models.SlugField(max_length=80)
    step_title = models.CharField(max_length=200)
    section = models.CharField(max_length=200, blank=True)
    position = models.PositiveIntegerField(default=0)
    text = models.TextField()
    embedding = VectorField(dimensions=EMBEDDING_DIMENSIONS, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["course_version", "position"]
        indexes = [
            HnswIndex(
                name="chunk_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
            GinIndex(SearchVector("text", config="simple"), name="chunk_text_fts"),
        ]

    def __str__(self) -> str:
        return f"{self.step_slug} § {self.section or 'intro'}"


class Conversation(models.Model):
    """A student's conversation with the TA, on one step or about the whole course."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    course = models.ForeignKey("courses.Course", on_delete=models.CASCADE, related_name="+")
    step_slug = models.SlugField(max_length=80, blank=True, help_text="Blank: the whole course.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "course", "step_slug"], name="one_conversation_per_place"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} on {self.course.slug}/{self.step_slug or '*'}"


class Message(models.Model):
    class Role(models.TextChoices):
        STUDENT = "student", "Student"
        ASSISTANT = "assistant", "AI TA"
        HUMAN = "human", "Human TA"

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    role = models.CharField(max_length=10, choices=Role.choices)
    content = models.TextField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    client_id = models.CharField(
        max_length=64,
        blank=True,
        help_text="The browser's id for a student message: a resend is not a new message.",
    )
    complete = models.BooleanField(default=True)
    model = models.CharField(max_length=100, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    first_token_ms = models.PositiveIntegerField(default=0)
    flags = models.JSONField(
        default=dict,
        blank=True,
        help_text="guard_tripped, generation_off, language, citations, ...",
    )
    # A student's question as a vector, filled when the course's insights group similar
    # questions (once per message: the text never changes).
    embedding = VectorField(dimensions=EMBEDDING_DIMENSIONS, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "client_id"],
                condition=~models.Q(client_id=""),
                name="one_message_per_client_id",
            )
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:40]}"


class EscalationQuerySet(models.QuerySet["Escalation"]):
    def unresolved(self) -> EscalationQuerySet:
        return self.exclude(state=Escalation.State.RESOLVED)

    def by_urgency(self) -> EscalationQuerySet:
        """Most urgent first; among equals, the case that has waited longest."""
        return self.order_by("-priority", "created_at", "id")


class Escalation(models.Model):
    """A case for a human TA: a student's conversation, why it needs a person, and what the
    student's situation was when it opened (the snapshot does not change afterwards)."""

    class Reason(models.TextChoices):
        ASKED = "asked", "Asked for a human"
        FAILED_REPEATEDLY = "failed", "Failed an exercise repeatedly"
        HINTS_EXHAUSTED = "hints", "Used every hint without success"
        GUARD = "guard", "The guard tripped repeatedly"
        GRADING = "grading", "Grading could not decide"
        UNANSWERED = "unanswered", "The AI TA could not answer"
        FRUSTRATION = "frustration", "Frustration"
        SAFETY = "safety", "Safety concern"

    class Priority(models.IntegerChoices):
        NORMAL = 20, "Normal"
        HIGH = 30, "High"
        URGENT = 40, "Urgent"

    class State(models.TextChoices):
        OPEN = "open", "Open"
        CLAIMED = "claimed", "Claimed"
        RESOLVED = "resolved", "Resolved"

    class Resolution(models.TextChoices):
        ANSWERED = "answered", "Answered"
        NO_ACTION = "no_action", "No action needed"
        CONTENT_ISSUE = "content", "Course content needs a fix"
        REFERRED = "referred", "Referred (safety or conduct)"
        DUPLICATE = "duplicate", "Duplicate"

    course = models.ForeignKey("courses.Course", on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="escalations"
    )
    student = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="escalations"
    )
    step_slug = models.SlugField(max_length=80, blank=True)
    exercise_slug = models.SlugField(max_length=80, blank=True)
    attempt = models.ForeignKey(
        Attempt, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=20, choices=Reason.choices)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    trigger = models.TextField(blank=True, help_text="What opened it: the student's words, ...")
    snapshot = models.JSONField(
        default=dict, help_text="messages, step, exercise, attempts, mastery at opening"
    )
    summary = models.TextField(blank=True)
    summary_by_model = models.BooleanField(
        default=False, help_text="The summary was written by the model (else extracted)."
    )
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.CharField(max_length=20, choices=Resolution.choices, blank=True)
    resolution_note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = EscalationQuerySet.as_manager()

    class Meta:
        ordering = ["-priority", "created_at"]
        indexes = [models.Index(fields=["course", "state", "priority"])]
        constraints = [
            # Dedupe: while a case is unresolved, the same trigger on the same conversation
            # does not open a second one.
            models.UniqueConstraint(
                fields=["conversation", "reason"],
                condition=~models.Q(state="resolved"),
                name="one_unresolved_escalation_per_reason",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_reason_display()}: {self.conversation}"


class EndorsedAnswer(models.Model):
    """A reply (a human TA's or the AI TA's) that a TA endorsed for a step: the AI TA retrieves
    it first when a student asks something similar. Instructors may withdraw it."""

    course = models.ForeignKey("courses.Course", on_delete=models.CASCADE, related_name="+")
    step_slug = models.SlugField(max_length=80, blank=True)
    question = models.TextField()
    answer = models.TextField()
    message = models.ForeignKey(Message, null=True, on_delete=models.SET_NULL, related_name="+")
    endorsed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["message"],
                condition=models.Q(withdrawn_at__isnull=True),
                name="one_live_endorsement_per_message",
            )
        ]

    def __str__(self) -> str:
        return f"endorsed: {self.question[:40]}"


class StudyTime(models.Model):
    """A student's time on one step of a course, from their activity on it (opening the step,
    answers, hints, messages to the TA). Activity within IDLE_GAP of the previous activity counts
    as study time; a longer gap starts a new session and the time between is not counted."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    course = models.ForeignKey("courses.Course", on_delete=models.CASCADE, related_name="+")
    step_slug = models.SlugField(max_length=80)
    active_seconds = models.PositiveIntegerField(default=0)
    sessions = models.PositiveIntegerField(default=1)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "course", "step_slug"], name="one_study_time_per_step"
            )
        ]
        indexes = [models.Index(fields=["course", "step_slug"])]

    def __str__(self) -> str:
        return f"{self.user_id} on {self.step_slug}: {self.active_seconds} s"
