"""`freshet hosts`: each upstream host's politeness as the guards hold it right now."""

from __future__ import annotations

import click

from freshet import hosts
from freshet.cli.base import json_option, out, runtime


@click.command("hosts", help="Upstream hosts: rate now, ceiling, paused or probed, error ratio.")
@json_option
def hosts_cmd(as_json: bool) -> None:

    rows = hosts.host_states(runtime())
    lines = [f"{'HOST':<40} {'STATE':<8} {'RATE/S':>8} {'CEILING':>8} {'PAUSED':>7} {'ERRORS':>7}"]
    for r in rows:
        lines.append(
            f"{r['host']:<40} {r['state']:<8} {r['rate']:>8g} {r['ceiling']:>8g} "
            f"{r['paused_for']:>6g}s {r['error_ratio']:>7.0%}"
        )
    if not rows:
        lines.append("(no upstream host asked yet, or the state expired)")
    out({"hosts": rows}, as_json, "\n".join(lines))
