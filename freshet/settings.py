"""All configuration, read from the environment in one place, with typed coercion.

Only the composition roots (api/app.py, workers/celery_app.py, the CLI) call `load_settings`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from typing import Any

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/freshet"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


class SettingsError(ValueError):
    """A setting has a value Freshet cannot use; raised at start, never later."""


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str = DEFAULT_REDIS_URL
    celery_broker_url: str = ""  # empty: REDIS_URL
    # Every Redis key Freshet writes starts with this; the broker's keys with `<prefix>celery:`.
    redis_prefix: str = "freshet:"
    env: str = "production"
    log_level: str = "INFO"
    log_json: bool = True
    # API
    max_body_bytes: int = 1_000_000
    sync_wait_seconds: float = 25.0
    read_limit_per_minute: int = 1200
    auth_cache_seconds: float = 5.0
    # Jobs
    lease_seconds: int = 120
    # How long a concurrency slot lives without the sweeper renewing it from Postgres.
    slot_ttl_seconds: int = 3600
    max_attempts: int = 5
    redispatch_after_seconds: int = 60
    sweep_interval_seconds: float = 15.0
    retry_backoff_base: float = 2.0
    retry_backoff_max: float = 300.0
    task_time_limit: int = 300
    # Upstreams
    upstream_timeout: float = 10.0
    upstream_max_bytes: int = 5_000_000
    allow_private_upstreams: bool = False
    allowed_private_hosts: tuple[str, ...] = ()
    amazon_base_url: str = "https://www.{marketplace}"
    walmart_base_url: str = "https://www.walmart.com"
    review_max_pages: int = 10
    politeness_per_second: float = 5.0
    # Cache TTLs, seconds, per field class
    ttl_price: int = 900
    ttl_reviews: int = 86_400
    ttl_static: int = 604_800
    hot_reads_threshold: int = 20
    hot_refresh_interval_seconds: float = 60.0
    # Webhooks
    webhook_secret: str = ""
    webhook_max_attempts: int = 8
    # Simulator / demo
    simulator_url: str = "http://127.0.0.1:8900"
    api_url: str = "http://127.0.0.1:8000"
    # Metrics
    metrics_enabled: bool = True

    @property
    def broker_url(self) -> str:
        return self.celery_broker_url or self.redis_url

    def with_overrides(self, **overrides: Any) -> Settings:
        return replace(self, **overrides)


# Environment variable for each field: DATABASE_URL, REDIS_URL and CELERY_BROKER_URL as the
# ecosystem names them, every other one FRESHET_<FIELD>.
_PLAIN_NAMES = {"database_url": "DATABASE_URL", "redis_url": "REDIS_URL",
                "celery_broker_url": "CELERY_BROKER_URL"}


def env_name(field_name: str) -> str:
    return _PLAIN_NAMES.get(field_name, "FRESHET_" + field_name.upper())


def _coerce(name: str, raw: str, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            low = raw.strip().lower()
            if low in {"1", "true", "yes", "on"}:
                return True
            if low in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, tuple):
            return tuple(p.strip() for p in raw.split(",") if p.strip())
    except ValueError as exc:
        raise SettingsError(f"{name}={raw!r} is not a valid {type(default).__name__}") from exc
    return raw


def load_settings(environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in fields(Settings):
        name = env_name(f.name)
        if name in env:
            values[f.name] = _coerce(name, env[name], f.default)
    values.update(overrides)
    settings = Settings(**values)
    _validate(settings)
    return settings


def _validate(s: Settings) -> None:
    for name in ("lease_seconds", "max_attempts", "max_body_bytes", "task_time_limit"):
        if getattr(s, name) <= 0:
            raise SettingsError(f"{env_name(name)} must be positive")
    if not s.database_url.startswith("postgres"):
        raise SettingsError("DATABASE_URL must be a postgresql:// URL")
    if not s.redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError("REDIS_URL must be a redis:// URL")


def describe() -> list[tuple[str, str]]:
    """(environment variable, default) for every setting: the README's table comes from this."""
    out = []
    for f in fields(Settings):
        d = f.default
        out.append((env_name(f.name), ",".join(d) if isinstance(d, tuple) else str(d)))
    return out


__all__ = ["Settings", "SettingsError", "describe", "env_name", "field", "load_settings"]
