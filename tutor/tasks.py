from celery import shared_task

from courses.models import Course
from tutor import services


@shared_task(name="tutor.refit_concept_params", acks_late=True)
def refit_concept_params(course_id: int) -> int:
    """Refit one course's knowledge-tracing parameters; returns how many concepts were fitted."""
    course = Course.objects.filter(pk=course_id).first()
    if course is None:
        return 0
    return len(services.concept_params_refit(course=course))


@shared_task(name="tutor.refit_all_courses")
def refit_all_courses() -> int:
    """Nightly: one refit task per published course."""
    ids = list(Course.objects.published().values_list("pk", flat=True))
    for course_id in ids:
        refit_concept_params.delay(course_id)
    return len(ids)
