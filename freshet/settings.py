"""All configuration, read from the environment in one place, with typed coercion.

Only the composition roots (api/app.py, workers/celery_app.py, the CLI) call `load_settings`.
"""

from __future__ import annotations

import base64
import binascii
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
    # Below the API's threads per process (the Procfile's gunicorn runs 8): the rest serve.
    sync_waiters_max: int = 4
    read_limit_per_minute: int = 1200
    auth_cache_seconds: float = 5.0
    # The cached product read's charge commits asynchronously (docs/guarantees.md: window).
    cached_charge_async_commit: bool = True
    # Jobs
    lease_seconds: int = 120
    # How long a concurrency slot lives without the sweeper renewing it from Postgres.
    slot_ttl_seconds: int = 3600
    max_attempts: int = 5
    redispatch_after_seconds: int = 600
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
    hot_read_window_seconds: int = 3600
    hot_refresh_batch: int = 50
    # Batch refresh: tokens each accepted target reserves (charged when it completes).
    batch_target_tokens: int = 1
    # Webhooks
    # Fernet keys that seal the organizations' webhook secrets at rest; the first seals, every
    # one opens (so keys can be rotated). Empty: secrets are stored plainly (see README).
    secrets_keys: tuple[str, ...] = ()
    webhook_max_attempts: int = 8
    # Monitors: how long events and observations are kept
    monitor_retention_days: int = 30
    monitor_schedule_interval_seconds: float = 10.0
    # Simulator / demo
    simulator_url: str = "http://127.0.0.1:8900"
    api_url: str = "http://127.0.0.1:8000"
    # Metrics
    metrics_enabled: bool = True
    worker_metrics_port: int = 0
    # Brokers and data lifecycle (issue #17)
    broker_delivery_limit: int = 10
    idempotency_key_hours: int = 24
    retention_days: int = 30
    stats_window_days: int = 30
    prune_batch: int = 1000
    # Console
    console_session_seconds: int = 28_800
    console_logins_per_minute: int = 10
    # Many tenants on one fleet: fair share of batch work, adaptive politeness per host
    fair_share_enabled: bool = True
    # About four times the fleet's batch threads: each worker holds up to twice its threads
    # (prefetch 2), and the places freed within one job-end tick wait for the next pass.
    fair_share_window: int = 128
    host_backoff_factor: float = 0.5
    host_recovery_seconds: float = 10.0
    host_error_threshold: float = 0.5
    host_error_window_seconds: float = 10.0
    host_error_min_requests: int = 10
    host_pause_seconds: float = 5.0
    host_pause_max_seconds: float = 60.0
    host_inline_wait_seconds: float = 1.0

    @property
    def broker_url(self) -> str:
        return self.celery_broker_url or self.redis_url

    def with_overrides(self, **overrides: Any) -> Settings:
        return replace(self, **overrides)


# Environment variable for each field: DATABASE_URL, REDIS_URL and CELERY_BROKER_URL as the
# ecosystem names them, every other one FRESHET_<FIELD>.
_PLAIN_NAMES = {
    "database_url": "DATABASE_URL",
    "redis_url": "REDIS_URL",
    "celery_broker_url": "CELERY_BROKER_URL",
}


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
    positive = (
        "lease_seconds",
        "max_attempts",
        "max_body_bytes",
        "task_time_limit",
        "broker_delivery_limit",
        "prune_batch",
        "console_session_seconds",
        "console_logins_per_minute",
    )
    for name in positive:
        if getattr(s, name) <= 0:
            raise SettingsError(f"{env_name(name)} must be positive")
    if not s.database_url.startswith("postgres"):
        raise SettingsError("DATABASE_URL must be a postgresql:// URL")
    if not s.redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError("REDIS_URL must be a redis:// URL")
    for key in s.secrets_keys:
        try:
            ok = len(base64.urlsafe_b64decode(key.encode())) == 32
        except (ValueError, binascii.Error):
            ok = False
        if not ok:
            raise SettingsError(
                "FRESHET_SECRETS_KEYS must be Fernet keys (32 url-safe base64 bytes each); "
                "make one with `python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`"
            )


DESCRIPTIONS = {
    "database_url": "Postgres: the source of truth",
    "redis_url": "Redis for guards and signals, and the broker unless CELERY_BROKER_URL is set",
    "celery_broker_url": "Celery broker, when not REDIS_URL",
    "redis_prefix": "prefix of every guard/signal key Freshet writes in Redis",
    "env": "deployment name shown in logs",
    "log_level": "root log level",
    "log_json": "JSON log lines (true) or plain text",
    "max_body_bytes": "request bodies above this are 413",
    "sync_wait_seconds": "how long a product request waits for its worker before answering 202",
    "sync_waiters_max": "product requests one API process lets wait at once; past it, 202 at once",
    "read_limit_per_minute": "per-key limit on free reads (abuse guard only)",
    "auth_cache_seconds": "how long an API process trusts a key it has seen (revocation delay)",
    "cached_charge_async_commit": "commit a cached read's charge asynchronously (a Postgres "
    "crash may forget the last ~0.6 s of them: an under-charge, never a double one)",
    "lease_seconds": "a running job's lease; past it the sweeper retries or fails the job",
    "slot_ttl_seconds": "life of a concurrency slot unless the sweeper renews it from Postgres",
    "max_attempts": "attempts per job before it fails with its last reason",
    "redispatch_after_seconds": "a queued job sent this long ago and not taken is sent again",
    "sweep_interval_seconds": "how often beat runs the sweeper",
    "retry_backoff_base": "exponential backoff base for transient upstream errors (seconds)",
    "retry_backoff_max": "cap on one retry delay (seconds)",
    "task_time_limit": "hard time limit of one task (seconds)",
    "upstream_timeout": "timeout of one upstream HTTP request (seconds)",
    "upstream_max_bytes": "largest upstream response read",
    "allow_private_upstreams": "allow fetching private/loopback addresses (never in production)",
    "allowed_private_hosts": "host[:port] list allowed despite being private (the simulator)",
    "amazon_base_url": "review pages base; {marketplace} is replaced, e.g. amazon.de",
    "walmart_base_url": "Walmart item pages base",
    "review_max_pages": "review pages fetched per review job",
    "politeness_per_second": "default max requests per second to one upstream host",
    "ttl_price": "cache TTL of prices and offers (seconds)",
    "ttl_reviews": "cache TTL of review data (seconds)",
    "ttl_static": "cache TTL of static attributes (seconds)",
    "hot_reads_threshold": "reads that make a product hot (refreshed before it goes stale)",
    "hot_refresh_interval_seconds": "how often beat refreshes hot products",
    "hot_read_window_seconds": "a product stays hot only while it was read within this (seconds)",
    "hot_refresh_batch": "hot products refreshed per beat pass at most",
    "batch_target_tokens": "tokens each accepted batch target reserves (charged on success)",
    "secrets_keys": "Fernet keys (comma separated; the first seals) for webhook secrets at rest",
    "webhook_max_attempts": "delivery attempts of one webhook",
    "monitor_retention_days": "monitor events and observations are dropped after this (days)",
    "monitor_schedule_interval_seconds": "how often beat claims due monitors",
    "simulator_url": "the simulator, for `freshet demo`",
    "api_url": "the API's public URL, for the curl lines `freshet demo` prints",
    "metrics_enabled": "serve /metrics",
    "worker_metrics_port": "a worker serves its own /metrics here (0: off)",
    "broker_delivery_limit": "RabbitMQ: deliveries of one message before it is dropped (poison)",
    "idempotency_key_hours": "an Idempotency-Key is remembered this long, then pruned",
    "retention_days": "finished jobs and workflows are pruned after this (the ledger is kept)",
    "stats_window_days": "price observations older than this are thinned to one per day",
    "prune_batch": "rows one maintenance pass deletes per transaction at most",
    "console_session_seconds": "life of a console session in Redis (seconds)",
    "console_logins_per_minute": "console sign-in attempts per client address per minute",
    "fair_share_enabled": "publish batch work in a fair order across organizations (off: all at once)",
    "fair_share_window": "batch jobs running or waiting in the broker at once, all organizations",
    "host_backoff_factor": "a host's rate is multiplied by this on each 429, 503 or timeout",
    "host_recovery_seconds": "seconds of good answers to climb from the floor to the ceiling",
    "host_error_threshold": "error ratio over the window that pauses a host",
    "host_error_window_seconds": "the window a host's error ratio is counted over (seconds)",
    "host_error_min_requests": "answers in the window below which a host is never paused",
    "host_pause_seconds": "first pause of a failing host; doubled by each failed probe (seconds)",
    "host_pause_max_seconds": "longest pause of a failing host (seconds)",
    "host_inline_wait_seconds": "a running job waits this long for its host, else it is requeued",
}


def describe() -> list[tuple[str, str, str]]:
    """(environment variable, default, meaning) per setting: the README's table comes from it."""
    out = []
    for f in fields(Settings):
        d = f.default
        out.append(
            (
                env_name(f.name),
                ",".join(d) if isinstance(d, tuple) else str(d),
                DESCRIPTIONS.get(f.name, ""),
            )
        )
    return out


__all__ = ["Settings", "SettingsError", "describe", "env_name", "field", "load_settings"]
