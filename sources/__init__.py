"""Upstream sources: each turns a target into a normalized record. No Flask, no Celery."""
