"""The queues every worker and publisher agree on, most urgent first."""

QUEUES = ("interactive", "reviews", "batch", "default")
