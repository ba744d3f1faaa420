"""Jobs: the lifecycle (submit, claim, finish, cancel — each a conditional update), running
one job, retrying, the sweeper, and the completion signals waiting callers listen for."""

from freshet.jobs.fairshare import dispatch as dispatch_fair
from freshet.jobs.fairshare import sweep_fair_share
from freshet.jobs.lifecycle import (
    TERMINAL,
    allocate_ids,
    claim,
    finish,
    get,
    insert,
    mark_dispatched,
    new_request_id,
    publish_after_commit,
    status_of,
)
from freshet.jobs.retry import retry_jobs
from freshet.jobs.runner import RetryLater, backoff, cancel_job, run_job
from freshet.jobs.signals import notify, wait_for
from freshet.jobs.sweeper import sweep

__all__ = [
    "TERMINAL",
    "RetryLater",
    "allocate_ids",
    "backoff",
    "cancel_job",
    "claim",
    "dispatch_fair",
    "finish",
    "get",
    "insert",
    "mark_dispatched",
    "new_request_id",
    "notify",
    "publish_after_commit",
    "retry_jobs",
    "run_job",
    "status_of",
    "sweep",
    "sweep_fair_share",
    "wait_for",
]
