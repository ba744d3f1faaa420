"""The Celery app and how jobs are published to it."""
