"""The sweeper: what makes an at-least-once broker effectively-once with Postgres as truth.

Each pass, in small transactions with FOR UPDATE SKIP LOCKED so several beats never collide:
expired leases are retried or failed; queued jobs never sent (or sent long ago) are sent again;
reservations of ended jobs are settled; Redis guard state is rebuilt from the job rows.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy import text

from freshet import accounts
from freshet.jobs import lifecycle as jobs
from freshet.runtime import Runtime

log = logging.getLogger("freshet.sweeper")


def sweep(rt: Runtime, *, batch: int = 500) -> dict[str, int]:
    out = {
        "expired": recover_expired_leases(rt, batch),
        "dispatched": redispatch(rt, batch),
        "settled": settle_ended(rt, batch),
        "slots_synced": sync_slots(rt),
        "cooldowns_restored": restore_cooldowns(rt),
    }
    for name, sweeper_pass in rt.kinds.sweeper_passes():
        out[name] = sweeper_pass(rt)
    if any(out.values()):
        log.info("sweep", extra={"counts": out})
    return out


def recover_expired_leases(rt: Runtime, batch: int) -> int:
    with rt.engine.begin() as conn:
        rows = conn.execute(
            text(
                "SELECT id, kind, attempt, max_attempts, org_id, asin, marketplace FROM jobs "
                "WHERE status = 'running' AND lease_until < now() "
                "ORDER BY lease_until LIMIT :n FOR UPDATE SKIP LOCKED"
            ),
            {"n": batch},
        ).all()
        failed = []
        for r in rows:
            if r.attempt >= r.max_attempts:
                jobs.fail_queued(
                    conn,
                    r.id,
                    f"worker lost: lease expired on attempt {r.attempt} of {r.max_attempts}",
                    "lease_expired",
                )
                failed.append(dict(r._mapping))
            else:
                conn.execute(
                    text(
                        "UPDATE jobs SET status = 'queued', lease_until = NULL, dispatched_at = NULL,"
                        " error = 'worker lost: lease expired, retrying', updated_at = now() "
                        "WHERE id = :id AND status = 'running'"
                    ),
                    {"id": r.id},
                )
    for job in failed:
        rt.kinds[job["kind"]].handler.after(rt, job, "failed")
    return len(rows)


def redis_epoch(rt: Runtime) -> float:
    """When this Redis started holding Freshet's state, as far as the sweeper can tell.

    The marker has no TTL: if it is missing, Redis was wiped or replaced, and every message
    sent before now may be gone with it.
    """
    key = rt.prefix + "sweeper:epoch"
    rt.redis.set(key, repr(time.time()), nx=True)
    return float(rt.redis.get(key) or 0)


def redispatch(rt: Runtime, batch: int) -> int:
    """Send queued jobs never sent, sent long ago and not yet taken, or sent into a Redis
    that has since been wiped (sent before the epoch marker was set)."""
    epoch = redis_epoch(rt)
    # Fair-share kinds wait undispatched for the dispatcher: a lost message hands the job
    # back to it (dispatched_at NULL), so a redispatch never jumps the fair order.
    fair = rt.kinds.fair_share_names() if rt.settings.fair_share_enabled else []
    with rt.engine.begin() as conn:
        rows = conn.execute(
            text(
                "SELECT id, kind, request_id FROM jobs WHERE status = 'queued' "
                "AND leader_job_id IS NULL AND ("
                "  (dispatched_at IS NULL AND created_at < now() - interval '2 seconds'"
                "   AND NOT kind = ANY(CAST(:fair AS text[])))"
                "  OR dispatched_at < now() - make_interval(secs => :after)"
                "  OR dispatched_at < to_timestamp(:epoch)) "
                "ORDER BY id LIMIT :n FOR UPDATE SKIP LOCKED"
            ),
            {
                "n": batch,
                "after": rt.settings.redispatch_after_seconds,
                "epoch": epoch,
                "fair": fair,
            },
        ).all()
        if not rows:
            return 0
        back = [r.id for r in rows if r.kind in fair]
        send = [r for r in rows if r.kind not in fair]
        if back:
            conn.execute(
                text("UPDATE jobs SET dispatched_at = NULL WHERE id = ANY(:ids)"), {"ids": back}
            )
        rt.publisher.publish([rt.kinds.dispatch(r.id, r.kind, r.request_id) for r in send])
        jobs.mark_dispatched(conn, [r.id for r in send])
    return len(rows)


def settle_ended(rt: Runtime, batch: int) -> int:
    with rt.engine.begin() as conn:
        ids = accounts.unsettled_job_ids(conn, batch)
        for job_id in ids:
            status = jobs.status_of(conn, job_id)
            accounts.settle(conn, job_id, charge=status == "completed")
    return len(ids)


def sync_slots(rt: Runtime) -> int:
    """Concurrency slots := the open review jobs Postgres knows (dead workers' slots free)."""
    with rt.engine.connect() as conn:
        open_by_org = jobs.open_job_ids_by_org(conn, "reviews")
    orgs = set(open_by_org) | set(rt.guards.slot_orgs())
    removed = 0
    for org_id in orgs:
        removed += rt.guards.sync_slots(
            org_id, open_by_org.get(org_id, []), rt.settings.slot_ttl_seconds
        )
    return removed


def restore_cooldowns(rt: Runtime) -> int:
    """Cooldowns lost with Redis come back from the jobs that started them."""
    with rt.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT DISTINCT ON (j.org_id, j.asin, j.marketplace) j.id, j.org_id, j.asin, "
                "j.marketplace, extract(epoch FROM (j.created_at + make_interval(secs => "
                "p.asin_cooldown_seconds) - now())) AS left_s "
                "FROM jobs j JOIN organizations o ON o.id = j.org_id JOIN plans p ON p.name = o.plan "
                "WHERE j.kind = 'reviews' AND j.status IN ('queued', 'running', 'completed') "
                "AND j.created_at > now() - make_interval(secs => p.asin_cooldown_seconds) "
                "ORDER BY j.org_id, j.asin, j.marketplace, j.created_at DESC"
            )
        ).all()
    restored = 0
    for r in rows:
        key = rt.guards.cooldown_key(r.org_id, r.asin, r.marketplace)
        restored += rt.guards.restore_cooldown(key, r.id, float(r.left_s))
    return restored
