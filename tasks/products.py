"""Product refresh tasks."""
