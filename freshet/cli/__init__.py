"""The `freshet` command line: database, tenants, catalogs, jobs, simulator, parse, demo.

Expected failures (Postgres or Redis unreachable, an unknown organization, a bad setting)
are one line on stderr and exit status 1, never a traceback. `--json` prints only JSON on
stdout; progress and notes go to stderr.
"""

import click

from freshet.cli import accounts, jobs, monitors, system
from freshet.cli import hosts as hosts_cli
from freshet.cli.base import FreshetGroup


@click.group(cls=FreshetGroup, help="Freshet: on-demand product data refresh.")
def main() -> None:
    pass


for command in (
    system.db,
    accounts.plan,
    accounts.org,
    accounts.key,
    accounts.catalog,
    accounts.grant_cmd,
    jobs.jobs,
    monitors.monitors,
    system.simulator_cmd,
    system.parse_cmd,
    system.demo_cmd,
    system.settings_cmd,
    hosts_cli.hosts_cmd,
):
    main.add_command(command)

__all__ = ["main"]
