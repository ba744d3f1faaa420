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
from freshet.runtime import QueueDepths, Runtime
from guards import ORPHAN_GRACE_SECONDS

log = logging.getLogger("freshet.sweeper")


def sweep(rt: Runtime, *, batch: int = 500) -> dict[str, int]:
    out = {
        "expired": recover_expired_leases(rt, batch),
        "dispatched": redispatch(rt, batch),
        "settled": settle_ended(rt, batch),
        "slots_synced": sync_slots(rt),
        "cooldowns_restored": restore_cooldowns(rt),
        "cooldowns_cleared": clear_orphan_cooldowns(rt),
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


def broker_keeps_messages(rt: Runtime) -> bool:
    """RabbitMQ (durable quorum queues, publisher confirms) keeps what it confirmed; a Redis
    broker without persistence loses its queues when it restarts."""
    return rt.settings.broker_url.split("://", 1)[0].lower() in ("amqp", "amqps", "pyamqp")


def busy_queues(rt: Runtime) -> list[str]:
    """Queues whose broker still holds messages ready for a worker (durable broker only)."""
    if not isinstance(rt.publisher, QueueDepths):
        return []
    queues = sorted({k.queue for k in rt.kinds})
    return [q for q in queues if (rt.publisher.ready(q) or 0) > 0]


def redispatch(rt: Runtime, batch: int) -> int:
    """Send queued jobs never sent, sent long ago and not yet taken, or sent into a Redis
    that has since been wiped (sent before the epoch marker was set).

    On a broker that keeps messages (RabbitMQ) a wiped Redis loses no message, so the epoch
    marker is not consulted; and a job "sent long ago" is sent again only when its queue has
    no ready message left, since otherwise its message is most likely still waiting behind a
    backlog. A re-send that still finds the first message there makes a duplicate, which is
    harmless: the claim is conditional (queued → running), so the second delivery finds no
    queued row, is acknowledged and dropped, and nothing runs or is charged twice.
    """
    durable = broker_keeps_messages(rt)
    epoch = 0.0 if durable else redis_epoch(rt)
    busy = busy_queues(rt) if durable else []
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
                "  OR (dispatched_at < now() - make_interval(secs => :after)"
                "      AND NOT (queue = ANY(:busy)))"
                "  OR dispatched_at < to_timestamp(:epoch)) "
                "ORDER BY id LIMIT :n FOR UPDATE SKIP LOCKED"
            ),
            {
                "n": batch,
                "after": rt.settings.redispatch_after_seconds,
                "epoch": epoch,
                "busy": busy,
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
    """Charge or refund the reservations of jobs that ended without it (a crash between the
    two, say). Reads only reservations not marked settled, never the settled history."""
    with rt.engine.begin() as conn:
        ids = accounts.unsettled_job_ids(conn, batch)
        for job_id in ids:
            status = jobs.status_of(conn, job_id)
            accounts.settle(conn, job_id, charge=status == "completed")
    return len(ids)


def sync_slots(rt: Runtime) -> int:
    """Open jobs of the kinds their plan counts hold their slots again (after a Redis loss);
    then the slots of jobs known to have ended are removed (a release that failed, a dead
    worker). Never "snapshot, then remove what is not in it": a job admitted after the
    snapshot keeps its slot, and a slot whose job never committed runs out with its lease.

    A job that ends between the two reads and was re-added by the first is ended (committed
    before its release) by the time of the second, so it is removed there."""
    g = rt.guards
    with rt.engine.connect() as conn:
        open_by_org = jobs.open_counted_job_ids_by_org(conn)
    for org_id, ids in open_by_org.items():
        g.hold_slots(org_id, ids, rt.settings.slot_ttl_seconds)
    members = {org_id: g.slot_members(org_id) for org_id in g.slot_orgs()}
    every = sorted({i for ids in members.values() for i in ids})
    if not every:
        return 0
    with rt.engine.connect() as conn:
        ended = jobs.ended_among(conn, every)
    return sum(g.drop_slots(o, [i for i in ids if i in ended]) for o, ids in members.items())


def clear_orphan_cooldowns(rt: Runtime, grace: float = ORPHAN_GRACE_SECONDS) -> int:
    """Delete cooldowns that outlived their job: held by a job that failed or was cancelled
    (its release in after() failed) or by a job that never committed (a crash between the
    admission and the commit), once older than `grace`. Compare-and-delete, by holder."""
    held = rt.guards.cooldowns()
    if not held:
        return 0
    with rt.engine.connect() as conn:
        statuses = jobs.statuses(conn, sorted({job for _, job, _ in held}))
    cleared = 0
    for key, job, age in held:
        status = statuses.get(job)
        if status in ("failed", "cancelled") or (status is None and age >= grace):
            cleared += rt.guards.clear_cooldown(key, job)
    return cleared


def restore_cooldowns(rt: Runtime) -> int:
    """Cooldowns lost with Redis come back from the jobs that started them.

    Reads ix_jobs_reviews_created back to the longest cooldown of any plan only: the review
    jobs of that window, not every job kept."""
    with rt.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT DISTINCT ON (j.org_id, j.asin, j.marketplace) j.id, j.org_id, j.asin, "
                "j.marketplace, extract(epoch FROM (j.created_at + make_interval(secs => "
                "p.asin_cooldown_seconds) - now())) AS left_s "
                "FROM jobs j JOIN organizations o ON o.id = j.org_id JOIN plans p ON p.name = o.plan "
                "WHERE j.kind = 'reviews' AND j.status IN ('queued', 'running', 'completed') "
                "AND j.created_at > now() - make_interval(secs => "
                "(SELECT max(asin_cooldown_seconds) FROM plans)) "
                "AND j.created_at > now() - make_interval(secs => p.asin_cooldown_seconds) "
                "ORDER BY j.org_id, j.asin, j.marketplace, j.created_at DESC"
            )
        ).all()
    restored = 0
    for r in rows:
        key = rt.guards.cooldown_key(r.org_id, r.asin, r.marketplace)
        restored += rt.guards.restore_cooldown(key, r.id, float(r.left_s))
    return restored
