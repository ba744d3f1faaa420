"""The data lifecycle: maintenance passes the sweeper runs (see passes.py)."""

from freshet.retention.passes import (
    PASSES,
    expire_idempotency_keys,
    prune_jobs,
    prune_workflows,
    thin_observations,
)

__all__ = [
    "PASSES",
    "expire_idempotency_keys",
    "prune_jobs",
    "prune_workflows",
    "thin_observations",
]
