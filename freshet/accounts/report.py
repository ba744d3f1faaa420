"""What an organization has used and has left: the /v1/usage report."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from freshet.accounts import ledger as usage
from freshet.accounts.limits import force_window, submit_window
from freshet.accounts.tenants import Principal
from freshet.runtime import Runtime
from store.tables import jobs


def report(rt: Runtime, principal: Principal) -> dict[str, Any]:
    plan = principal.plan
    with rt.engine.connect() as conn:
        used = usage.used(conn, principal.org_id)
        in_flight: dict[str, int] = dict(
            conn.execute(
                select(jobs.c.kind, func.count())
                .where(jobs.c.org_id == principal.org_id, jobs.c.status.in_(("queued", "running")))
                .group_by(jobs.c.kind)
            ).all()
        )
    g = rt.guards
    windows = {
        "requestsPerMinute": submit_window(principal),
        "forceRefreshesPerMinute": force_window(principal),
    }
    limits: dict[str, Any] = {}
    for name, window in windows.items():
        remaining, reset = g.peek_rate(window)
        limits[name] = {
            "limit": window.limit,
            "remaining": remaining,
            "resetSeconds": round(reset, 3),
        }
    counted = sum(int(in_flight.get(kind, 0)) for kind in plan.concurrency_kinds)
    limits["concurrentJobs"] = {
        "limit": plan.concurrent_jobs,
        "remaining": max(plan.concurrent_jobs - counted, 0),
        "kinds": list(plan.concurrency_kinds),  # the job kinds the limit counts
    }
    limits["asinCooldownSeconds"] = plan.asin_cooldown_seconds
    period = usage.current_period()
    return {
        "organization": principal.org_name,
        "plan": {"name": plan.name, "marketplaces": list(plan.marketplaces)},
        "period": {"start": period.isoformat(), "resetsAt": usage.next_period_start().isoformat()},
        "tokens": {
            "limit": plan.monthly_tokens,
            "used": used["tokens"],
            "remaining": max(plan.monthly_tokens - used["tokens"], 0),
        },
        "reviewJobs": {
            "limit": plan.review_jobs_per_month,
            "used": used["review_jobs"],
            "remaining": max(plan.review_jobs_per_month - used["review_jobs"], 0),
        },
        "jobsInFlight": sum(int(v) for v in in_flight.values()),
        "jobsInFlightByKind": {k: int(v) for k, v in in_flight.items()},
        "limits": limits,
    }
