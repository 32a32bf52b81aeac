from celery import shared_task

from accounts import services


@shared_task(name="accounts.clear_expired_sessions")
def clear_expired_sessions() -> int:
    return services.sessions_clear_expired()
