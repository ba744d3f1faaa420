"""Marshmallow schemas for every request and response. Pure: they never touch the database."""
