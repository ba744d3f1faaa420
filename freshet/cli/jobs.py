"""`freshet jobs list|show|retry|cancel|sweep`: watching and steering jobs from a terminal."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from sqlalchemy import select

from freshet import jobs as jobs_domain
from freshet.cli.base import engine, json_option, note, runtime
from freshet.jobs import cancel_job, retry_jobs, sweep
from freshet.wiring import job_kinds
from store.tables import jobs as jobs_table
from store.tables import organizations

STATUSES = ("queued", "running", "completed", "failed", "cancelled")
KINDS = job_kinds().names


def _line(j: dict[str, Any]) -> str:
    what = j.get("asin") or j.get("url") or j.get("product_id") or ""
    return (
        f"{j['id']:>8} {j['kind']:<13} {j['status']:<10} attempt={j['attempt']}"
        f" {j['org']:<16} {what} {j.get('error') or ''}"
    ).rstrip()


@click.group(help="Jobs: list, inspect, retry, cancel; run one sweeper pass.")
def jobs() -> None:
    pass


@jobs.command("list", help="The newest jobs first.")
@click.option("--status", type=click.Choice(STATUSES))
@click.option("--kind", type=click.Choice(KINDS))
@click.option("--org", "org_name")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1))
@json_option
def list_cmd(
    status: str | None, kind: str | None, org_name: str | None, limit: int, as_json: bool
) -> None:
    q = (
        select(jobs_table, organizations.c.name.label("org"))
        # outer: hot-product refreshes belong to no organization (org null)
        .join(organizations, organizations.c.id == jobs_table.c.org_id, isouter=True)
        .order_by(jobs_table.c.id.desc())
        .limit(limit)
    )
    if status:
        q = q.where(jobs_table.c.status == status)
    if kind:
        q = q.where(jobs_table.c.kind == kind)
    if org_name:
        q = q.where(organizations.c.name == org_name)
    with engine().connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q)]
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
    elif rows:
        for r in rows:
            click.echo(_line(r))
    else:
        note("no jobs match")


@jobs.command("show", help="Everything Postgres knows about one job.")
@click.argument("job_id", type=int)
@json_option
def show_cmd(job_id: int, as_json: bool) -> None:
    with engine().connect() as conn:
        job = jobs_domain.get(conn, job_id)
    if job is None:
        raise click.ClickException(f"no job {job_id}")
    if as_json:
        click.echo(json.dumps(job, indent=2, default=str))
        return
    for k, v in job.items():
        if v is None or v == {}:
            continue
        shown = json.dumps(v, default=str) if isinstance(v, (dict, list)) else str(v)
        click.echo(f"{k:>16}: {shown[:500]}")


@jobs.command("retry", help="Run failed or cancelled jobs again, as new jobs.")
@click.argument("job_ids", type=int, nargs=-1)
@click.option("--failed", "all_failed", is_flag=True, help="every failed job (with --limit)")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(min=1))
@json_option
def retry_cmd(job_ids: tuple[int, ...], all_failed: bool, limit: int, as_json: bool) -> None:
    rt = runtime()
    ids = list(job_ids)
    if all_failed:
        with rt.engine.connect() as conn:
            ids += [
                r[0]
                for r in conn.execute(
                    select(jobs_table.c.id)
                    .where(jobs_table.c.status == "failed")
                    .order_by(jobs_table.c.id.desc())
                    .limit(limit)
                )
            ]
    if not ids:
        raise click.UsageError("name job ids or pass --failed")
    results = []
    # Progress on stderr: stdout stays the result a script reads.
    with click.progressbar(length=len(ids), label="retrying", file=sys.stderr) as bar:
        for old, new, why in retry_jobs(rt, ids, progress=bar.update):
            results.append({"job_id": old, "new_job_id": new, "result": why})
    if as_json:
        click.echo(json.dumps(results, indent=2))
        return
    for r in results:
        click.echo(
            f"{r['job_id']} -> {r['new_job_id']}"
            if r["new_job_id"]
            else f"{r['job_id']}: {r['result']}"
        )
    if not any(r["new_job_id"] for r in results):
        raise click.exceptions.Exit(1)


@jobs.command("cancel", help="Cancel queued or running jobs.")
@click.argument("job_ids", type=int, nargs=-1, required=True)
@json_option
def cancel_cmd(job_ids: tuple[int, ...], as_json: bool) -> None:
    rt = runtime()
    results = [{"job_id": j, "cancelled": cancel_job(rt, j, None) is not None} for j in job_ids]
    if as_json:
        click.echo(json.dumps(results, indent=2))
        return
    for r in results:
        click.echo(f"{r['job_id']}: {'cancelled' if r['cancelled'] else 'not open'}")


@jobs.command("sweep", help="Run one sweeper pass now (beat runs it periodically).")
def sweep_cmd() -> None:
    click.echo(json.dumps(sweep(runtime()), default=str))
