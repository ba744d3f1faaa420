"""How the domain is put together: every job kind with its handler, task, queue and sweeper
passes, and the runtime a process builds from its settings. Only composition roots (the API
app factory, the Celery worker, the CLI) call this."""

from __future__ import annotations

import redis as redis_lib

from freshet import batch, jobs, monitors, products, retention, reviews
from freshet.runtime import JobKind, JobKinds, Publisher, Runtime
from freshet.settings import Settings
from store.db import make_engine, make_statement_engine


def job_kinds() -> JobKinds:
    return JobKinds(
        [
            JobKind("reviews", reviews.HANDLER, "freshet.reviews.refresh", "reviews"),
            JobKind(
                "product",
                products.HANDLER,
                "freshet.products.refresh",
                "interactive",
                sweeper_passes=(products.sweep_followers,),
                waited_on=True,
            ),
            JobKind(
                "batch_target",
                batch.HANDLER,
                "freshet.batch.refresh_target",
                "batch",
                sweeper_passes=(batch.sweep_workflows, jobs.sweep_fair_share),
                fair_share=True,
            ),
            # A monitored target is a batch target (same queue, politeness, tokens) whose
            # completion also records the observation and the events it makes.
            JobKind(
                monitors.KIND,
                monitors.HANDLER,
                "freshet.monitors.refresh_target",
                "batch",
                sweeper_passes=(monitors.sweep_monitors,),
            ),
        ],
        # issue #17: the data lifecycle (idempotency keys, old jobs and workflows, thinning).
        maintenance=retention.PASSES,
    )


def build_runtime(
    settings: Settings,
    publisher: Publisher,
    *,
    pool_size: int = 5,
    statements_async: bool | None = None,
) -> Runtime:
    """`statements_async`: whether the statement engine commits asynchronously; by default
    as the cached-read charge is configured. A worker, which serves no cached read, passes
    False: its jobs' claims and completions then go through that engine, durably."""
    if statements_async is None:
        statements_async = settings.cached_charge_async_commit
    return Runtime(
        settings=settings,
        engine=make_engine(settings.database_url, pool_size=pool_size),
        statements=make_statement_engine(
            settings.database_url,
            pool_size=pool_size,
            asynchronous_commit=statements_async,
        ),
        redis=redis_lib.Redis.from_url(
            settings.redis_url, socket_timeout=5, socket_connect_timeout=3, health_check_interval=30
        ),
        publisher=publisher,
        kinds=job_kinds(),
        statements_async=statements_async,
    )
