"""Celery tasks: each claims its job by id and calls one domain function."""
