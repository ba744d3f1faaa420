"""What every `freshet` command shares: settings, an engine or a runtime per command, output,
and expected failures turned into one line.

Expected failures (Postgres or Redis unreachable, an unknown organization, a bad setting)
are one line on stderr and exit status 1, never a traceback. `--json` prints only JSON on
stdout; progress and notes go to stderr.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

import click
import redis
from kombu.exceptions import OperationalError as BrokerError
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

from freshet import accounts
from freshet.runtime import Runtime
from freshet.settings import Settings, SettingsError, load_settings
from freshet.wiring import build_runtime
from store.db import make_engine
from workers.celery_app import create_celery
from workers.publish import publisher_for


def safe_url(url: str) -> str:
    """A URL with its password masked, for messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def explain(exc: BaseException, settings: Settings | None) -> str | None:
    """The one line an operator needs for an expected failure; None for a real bug."""
    db = safe_url(settings.database_url) if settings else "DATABASE_URL"
    if isinstance(exc, SettingsError):
        return f"bad setting: {exc}"
    if isinstance(exc, OperationalError):
        return (
            f"cannot reach Postgres at {db}: {_first_line(exc)} "
            "(is it running? is DATABASE_URL right?)"
        )
    if isinstance(exc, ProgrammingError) and "does not exist" in str(exc.orig):
        return f"the database at {db} has no Freshet schema yet: run `freshet db upgrade`"
    if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
        where = safe_url(settings.redis_url) if settings else "REDIS_URL"
        return f"cannot reach Redis at {where}: {_first_line(exc)} (is REDIS_URL right?)"
    if isinstance(exc, (accounts.NotFound, accounts.Conflict)):
        return str(exc)
    if isinstance(exc, BrokerError):
        return f"cannot reach the Celery broker: {_first_line(exc)}"
    return None


class FreshetGroup(click.Group):
    """Turns expected failures of any subcommand into one line and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            message = explain(exc, ctx.find_root().meta.get("freshet.settings"))
            if message is None:
                raise
            raise click.ClickException(message) from None


def settings() -> Settings:
    ctx = click.get_current_context().find_root()
    if "freshet.settings" not in ctx.meta:
        ctx.meta["freshet.settings"] = load_settings()
    loaded: Settings = ctx.meta["freshet.settings"]
    return loaded


def engine() -> Engine:
    """One engine per command, disposed when the command ends."""
    ctx = click.get_current_context().find_root()
    eng: Engine | None = ctx.meta.get("freshet.engine")
    if eng is None:
        eng = make_engine(settings().database_url, pool_size=1)
        ctx.meta["freshet.engine"] = eng
        ctx.call_on_close(eng.dispose)
    return eng


def runtime() -> Runtime:
    """Settings, Postgres, Redis and a publisher, closed when the command ends."""
    ctx = click.get_current_context().find_root()
    rt: Runtime | None = ctx.meta.get("freshet.runtime")
    if rt is None:
        s = settings()
        celery = create_celery(s)
        rt = build_runtime(s, publisher_for(celery), pool_size=1)
        ctx.meta["freshet.runtime"] = rt
        ctx.call_on_close(rt.close)
        ctx.call_on_close(celery.close)
    return rt


def out(data: Any, as_json: bool, text: str | None = None) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        click.echo(text if text is not None else json.dumps(data, indent=2, default=str))


def note(message: str) -> None:
    """Progress and hints: stderr, so stdout stays what a script reads."""
    click.echo(message, err=True)


def fail(message: str) -> NoReturn:
    raise click.ClickException(message)


json_option = click.option("--json", "as_json", is_flag=True, help="JSON on stdout (for scripts)")
