"""Eureka: an AI tutoring platform built on ramps to knowledge."""

from eureka.celery import app as celery_app

__all__ = ["celery_app"]
