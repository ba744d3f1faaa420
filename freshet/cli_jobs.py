"""`freshet jobs list|show|retry|cancel|sweep`: watching and steering jobs from a terminal."""

from __future__ import annotations

import json
from typing import Any

import click
from sqlalchemy import select

from store.tables import jobs as jobs_table
from store.tables import organizations


def _rt():
    from freshet.runtime import build_runtime
    from freshet.settings import load_settings
    from workers.celery_app import create_celery
    from workers.publish import CeleryPublisher

    settings = load_settings()
    return build_runtime(settings, CeleryPublisher(create_celery(settings)), pool_size=1)


def _line(j: dict[str, Any]) -> str:
    what = j.get("asin") or j.get("url") or j.get("product_id") or ""
    return (f"{j['id']:>8} {j['kind']:<13} {j['status']:<10} attempt={j['attempt']}"
            f" {j['org']:<16} {what} {j.get('error') or ''}")


@click.group(help="Jobs: list, inspect, retry, cancel; run one sweeper pass.")
def jobs() -> None:
    pass


@jobs.command("list")
@click.option("--status", type=click.Choice(["queued", "running", "completed", "failed",
                                             "cancelled"]))
@click.option("--kind", type=click.Choice(["reviews", "product", "batch_target"]))
@click.option("--org", "org_name")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def list_cmd(status: str | None, kind: str | None, org_name: str | None, limit: int,
             as_json: bool) -> None:
    rt = _rt()
    q = (select(jobs_table, organizations.c.name.label("org"))
         .join(organizations, organizations.c.id == jobs_table.c.org_id)
         .order_by(jobs_table.c.id.desc()).limit(limit))
    if status:
        q = q.where(jobs_table.c.status == status)
    if kind:
        q = q.where(jobs_table.c.kind == kind)
    if org_name:
        q = q.where(organizations.c.name == org_name)
    with rt.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q)]
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
    else:
        for r in rows:
            click.echo(_line(r))


@jobs.command("show")
@click.argument("job_id", type=int)
def show_cmd(job_id: int) -> None:
    from freshet import jobs as jobs_domain

    rt = _rt()
    with rt.engine.connect() as conn:
        job = jobs_domain.get(conn, job_id)
    if job is None:
        raise click.ClickException(f"no job {job_id}")
    click.echo(json.dumps(job, indent=2, default=str))


@jobs.command("retry", help="Run failed or cancelled jobs again, as new jobs.")
@click.argument("job_ids", type=int, nargs=-1)
@click.option("--failed", "all_failed", is_flag=True, help="every failed job (with --limit)")
@click.option("--limit", default=100, show_default=True)
def retry_cmd(job_ids: tuple[int, ...], all_failed: bool, limit: int) -> None:
    from freshet.operations import retry_jobs

    rt = _rt()
    ids = list(job_ids)
    if all_failed:
        with rt.engine.connect() as conn:
            ids += [r[0] for r in conn.execute(
                select(jobs_table.c.id).where(jobs_table.c.status == "failed")
                .order_by(jobs_table.c.id.desc()).limit(limit))]
    if not ids:
        raise click.UsageError("name job ids or pass --failed")
    with click.progressbar(length=len(ids), label="retrying") as bar:
        for old, new, why in retry_jobs(rt, ids, progress=bar.update):
            click.echo(f"\n{old} -> {new}" if new else f"\n{old}: {why}")


@jobs.command("cancel")
@click.argument("job_ids", type=int, nargs=-1, required=True)
def cancel_cmd(job_ids: tuple[int, ...]) -> None:
    from freshet.execution import cancel_job

    rt = _rt()
    for job_id in job_ids:
        done = cancel_job(rt, job_id, None)
        click.echo(f"{job_id}: {'cancelled' if done else 'not open'}")


@jobs.command("sweep", help="Run one sweeper pass now (beat runs it periodically).")
def sweep_cmd() -> None:
    from freshet.sweeper import sweep

    click.echo(json.dumps(sweep(_rt())))
