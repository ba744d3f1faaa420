"""Batch workflow tasks."""
