"""The Celery app. Configuration comes from Django settings (CELERY_*); tasks live in each app's
tasks.py as thin adapters that take IDs and call a service."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eureka.settings.local")

app = Celery("eureka")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
