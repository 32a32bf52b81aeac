from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A person on Eureka. Per-course roles come from enrollments (tutor.Enrollment); site staff
    is `is_staff`."""

    preferred_language = models.CharField(
        max_length=35,
        blank=True,
        help_text="Language the AI TA answers in, as a BCP 47 tag (for example 'de' or 'pt-BR'). "
        "Blank: the language the student writes in.",
    )

    def __str__(self) -> str:
        return self.get_full_name() or self.username
