"""Jobs: the lifecycle (submit, claim, finish, cancel — each a conditional update), running
one job, retrying, the sweeper, and the completion signals waiting callers listen for."""

from freshet.jobs.fairshare import dispatch as dispatch_fair
from freshet.jobs.fairshare import sweep_fair_share
from freshet.jobs.lifecycle import (
    TERMINAL,
    allocate_ids,
    claim,
    complete,
    completion,
    finish,
    get,
    insert,
    mark_dispatched,
    new_request_id,
    publish_after_commit,
    status_of,
)
from freshet.jobs.listing import by_request_id as job_ids_by_request
from freshet.jobs.listing import page as list_jobs
from freshet.jobs.retry import retry_jobs
from freshet.jobs.runner import RetryLater, backoff, cancel_job, run_job
from freshet.jobs.signals import notify, wait_for, waiting_seat
from freshet.jobs.slots import concurrency_slot, release_slot
from freshet.jobs.sweeper import sweep

__all__ = [
    "TERMINAL",
    "RetryLater",
    "allocate_ids",
    "backoff",
    "cancel_job",
    "claim",
    "complete",
    "completion",
    "concurrency_slot",
    "dispatch_fair",
    "finish",
    "get",
    "insert",
    "job_ids_by_request",
    "list_jobs",
    "mark_dispatched",
    "new_request_id",
    "notify",
    "publish_after_commit",
    "release_slot",
    "retry_jobs",
    "run_job",
    "status_of",
    "sweep",
    "sweep_fair_share",
    "wait_for",
    "waiting_seat",
]
