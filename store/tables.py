"""SQLAlchemy Core tables. Alembic migrations under store/migrations are the schema's truth."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    Sequence,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _now() -> Column[dt.datetime]:
    return Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now())


JOB_STATUSES = ("queued", "running", "completed", "failed", "cancelled")
OPEN_STATUSES = ("queued", "running")

plans = Table(
    "plans",
    metadata,
    Column("name", Text, primary_key=True),
    Column("monthly_tokens", Integer, nullable=False),
    Column("review_jobs_per_month", Integer, nullable=False),
    Column("concurrent_jobs", Integer, nullable=False),
    Column("asin_cooldown_seconds", Integer, nullable=False),
    Column("requests_per_minute", Integer, nullable=False),
    Column("force_refresh_per_minute", Integer, nullable=False, server_default="100"),
    Column("marketplaces", ARRAY(Text), nullable=False, server_default="{}"),
    Column("catalogs", ARRAY(Text), nullable=False, server_default="{}"),
    _now(),
    # 0009: which job kinds concurrent_jobs counts
    Column("concurrency_kinds", ARRAY(Text), nullable=False, server_default="{reviews}"),
    # 0007: the organization's share of the batch window, relative to the others' (fair share)
    Column("fair_share_weight", Float, nullable=False, server_default="1"),
    CheckConstraint("fair_share_weight > 0", name="fair_share_weight"),
)

organizations = Table(
    "organizations",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("name", Text, nullable=False, unique=True),
    Column("plan", Text, ForeignKey("plans.name"), nullable=False),
    _now(),
    # 0005: the webhook signing secret, sealed (freshet.accounts.secrets), and the previous
    # one while it still overlaps after a rotation.
    Column("webhook_secret", Text),
    Column("webhook_secret_previous", Text),
    Column("webhook_secret_previous_until", DateTime(timezone=True)),
    Column("webhook_secret_rotated_at", DateTime(timezone=True)),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("org_id", BigInteger, ForeignKey("organizations.id"), nullable=False, index=True),
    Column("prefix", Text, nullable=False),
    Column("key_hash", Text, nullable=False, unique=True),
    Column("label", Text),
    _now(),
    Column("revoked_at", DateTime(timezone=True)),
    Column("last_used_at", DateTime(timezone=True)),
    # 0010: an operator key sees every organization (the console's operator pages).
    Column("operator", Boolean, nullable=False, server_default=text("false")),
)

usage_periods = Table(
    "usage_periods",
    metadata,
    Column("org_id", BigInteger, ForeignKey("organizations.id"), nullable=False),
    Column("period", Date, nullable=False),
    Column("tokens_used", Integer, nullable=False, server_default="0"),
    Column("review_jobs_used", Integer, nullable=False, server_default="0"),
    PrimaryKeyConstraint("org_id", "period"),
    CheckConstraint("tokens_used >= 0", name="tokens_nonneg"),
    CheckConstraint("review_jobs_used >= 0", name="review_jobs_nonneg"),
)

ledger = Table(
    "ledger",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("org_id", BigInteger, nullable=False),  # no foreign key: see migration 0012
    Column("period", Date, nullable=False),
    Column("job_id", BigInteger),
    Column("request_id", Text),
    Column("resource", Text, nullable=False),  # tokens | review_jobs
    Column("kind", Text, nullable=False),  # reserve | charge | refund
    Column("amount", Integer, nullable=False),
    _now(),
    # 0011: on a `reserve` row, when the statement that wrote its charge or refund ran.
    Column("settled_at", DateTime(timezone=True)),
    CheckConstraint("kind in ('reserve', 'charge', 'refund')", name="kind"),
    CheckConstraint("resource in ('tokens', 'review_jobs')", name="resource"),
    # One reservation and one settlement (charge or refund) per job and resource, ever.
    Index(
        "uq_ledger_reserve",
        "job_id",
        "resource",
        unique=True,
        postgresql_where=text("job_id IS NOT NULL AND kind = 'reserve'"),
    ),
    Index(
        "uq_ledger_settle",
        "job_id",
        "resource",
        unique=True,
        postgresql_where=text("job_id IS NOT NULL AND kind <> 'reserve'"),
    ),
    Index("ix_ledger_org_period", "org_id", "period"),
    # 0011: the reservations still open: what the sweeper's settle pass reads.
    Index(
        "ix_ledger_unsettled",
        "job_id",
        postgresql_where=text("kind = 'reserve' AND settled_at IS NULL"),
    ),
)

catalogs = Table(
    "catalogs",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("slug", Text, nullable=False, unique=True),
    Column("source", Text, nullable=False),
    Column("domains", ARRAY(Text), nullable=False),
    Column("politeness_per_second", Float),
    _now(),
)

grants = Table(
    "grants",
    metadata,
    Column("org_id", BigInteger, ForeignKey("organizations.id"), nullable=False),
    Column("catalog_id", BigInteger, ForeignKey("catalogs.id"), nullable=False),
    _now(),
    PrimaryKeyConstraint("org_id", "catalog_id"),
)

workflows = Table(
    "workflows",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("org_id", BigInteger, ForeignKey("organizations.id"), nullable=False, index=True),
    Column("request_id", Text, nullable=False),
    Column("status", Text, nullable=False, server_default="running"),
    Column("launch_status", Text, nullable=False, server_default="pending"),
    Column("launch_attempts", Integer, nullable=False, server_default="0"),
    Column("launch_error", Text),
    Column("submitted", Integer, nullable=False),
    Column("accepted", Integer, nullable=False),
    Column("callback_url", Text),
    Column("webhook_status", Text),  # null | pending | delivered | failed
    Column("webhook_attempts", Integer, nullable=False, server_default="0"),
    Column("webhook_delivered_at", DateTime(timezone=True)),
    _now(),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True)),
    # 0004: what a batch rejected (for support to trace), and the launch/webhook clocks.
    Column("rejected", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("launched_at", DateTime(timezone=True)),
    Column("cancelled_at", DateTime(timezone=True)),
    Column("webhook_next_at", DateTime(timezone=True)),
    Column("webhook_error", Text),
    CheckConstraint(
        "status in ('running', 'completed', 'failed', 'partially_failed', 'cancelled')",
        name="status",
    ),
    CheckConstraint(
        "launch_status in ('pending', 'launching', 'launched', 'retry_pending')",
        name="launch_status",
    ),
    CheckConstraint(
        "webhook_status is null or webhook_status in ('pending', 'sending', 'delivered', 'failed')",
        name="webhook_status",
    ),
    Index(
        "ix_workflows_unlaunched",
        "updated_at",
        postgresql_where=text("launch_status <> 'launched'"),
    ),
    Index("ix_workflows_running", "created_at", postgresql_where=text("status = 'running'")),
    Index(
        "ix_workflows_webhook_due",
        "webhook_next_at",
        postgresql_where=text("webhook_status in ('pending', 'sending')"),
    ),
)

jobs_id_seq = Sequence("jobs_id_seq", metadata=metadata)

jobs = Table(
    "jobs",
    metadata,
    Column(
        "id", BigInteger, jobs_id_seq, primary_key=True, server_default=jobs_id_seq.next_value()
    ),
    # 0007: NULL for hot-product refreshes, which are charged to nobody
    Column("org_id", BigInteger, nullable=True),  # no foreign key: see migration 0012
    Column("kind", Text, nullable=False),  # reviews | product | batch_target
    Column("status", Text, nullable=False, server_default="queued"),
    Column("queue", Text, nullable=False),
    Column("attempt", Integer, nullable=False, server_default="0"),
    Column("max_attempts", Integer, nullable=False),
    Column("lease_until", DateTime(timezone=True)),
    Column("dispatched_at", DateTime(timezone=True)),
    Column("not_before", DateTime(timezone=True)),
    _now(),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("error", Text),
    Column("error_code", Text),
    Column("request_id", Text),
    Column("workflow_id", UUID(as_uuid=True)),  # no foreign key: see migration 0012
    Column("target_index", Integer),
    Column("catalog_id", BigInteger),  # no foreign key: see migration 0012
    Column("product_id", UUID(as_uuid=True)),
    Column("leader_job_id", BigInteger),
    Column("url", Text),
    Column("asin", Text),
    Column("marketplace", Text),
    Column("params", JSONB, nullable=False, server_default="{}"),
    Column("result", JSONB),
    Column("tokens_reserved", Integer, nullable=False, server_default="0"),
    CheckConstraint(
        "status in ('queued', 'running', 'completed', 'failed', 'cancelled')", name="status"
    ),
    Index(
        "ix_jobs_open",
        "status",
        "dispatched_at",
        postgresql_where=text("status in ('queued', 'running')"),
    ),
    Index("ix_jobs_workflow", "workflow_id", "target_index"),
    # 0004: "is any job of this workflow still open?" — asked each time a batch target ends.
    Index(
        "ix_jobs_workflow_open",
        "workflow_id",
        postgresql_where=text("workflow_id IS NOT NULL AND status in ('queued', 'running')"),
    ),
    Index("ix_jobs_org_created", "org_id", "created_at"),
    Index("ix_jobs_leader", "leader_job_id", postgresql_where=text("leader_job_id IS NOT NULL")),
    # 0007: what the fair-share dispatcher reads each pass
    Index(
        "ix_jobs_fair_waiting",
        "org_id",
        "id",
        postgresql_where=text("status = 'queued' AND dispatched_at IS NULL"),
    ),
)

products = Table(
    "products",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("source", Text, nullable=False),
    Column("key", Text, nullable=False),  # the source's identity: item id, normalized URL
    Column("catalog_id", BigInteger, ForeignKey("catalogs.id")),
    Column("url", Text),
    Column("item_id", Text),
    Column("upc", Text),
    Column("ean", Text),
    Column("gtin", Text),
    Column("isbn", Text),
    Column("asin", Text),
    Column("mpn", Text),
    Column("model", Text),
    Column("data", JSONB),
    Column("fetched_at", DateTime(timezone=True)),
    Column("price_fetched_at", DateTime(timezone=True)),
    Column("offers_fetched_at", DateTime(timezone=True)),
    Column("reviews_fetched_at", DateTime(timezone=True)),
    Column("static_fetched_at", DateTime(timezone=True)),
    Column("reads", BigInteger, nullable=False, server_default="0"),
    Column("last_read_at", DateTime(timezone=True)),
    _now(),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # 0007: a hot product whose refresh failed waits until hot_retry_at (backed off)
    Column("hot_failures", Integer, nullable=False, server_default="0"),
    Column("hot_retry_at", DateTime(timezone=True)),
    UniqueConstraint("source", "key", name="uq_products_source_key"),
    Index("ix_products_upc", "upc"),
    Index("ix_products_gtin", "gtin"),
    Index("ix_products_ean", "ean"),
    Index("ix_products_isbn", "isbn"),
    Index("ix_products_asin", "asin"),
    Index("ix_products_item_id", "item_id"),
    Index("ix_products_catalog_url", "catalog_id", "url"),
    Index(
        "ix_products_last_read_at",
        "last_read_at",
        postgresql_where=text("last_read_at IS NOT NULL"),
    ),
)

price_observations = Table(
    "price_observations",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("product_id", UUID(as_uuid=True), ForeignKey("products.id"), nullable=False),
    Column("observed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("price", Numeric(14, 2), nullable=False),
    Column("in_stock", Boolean),
    Column("job_id", BigInteger, unique=True),
    CheckConstraint("price >= 0", name="price_nonneg"),
    Index("ix_price_observations_product_time", "product_id", "observed_at"),
)

review_products = Table(
    "review_products",
    metadata,
    Column("asin", Text, nullable=False),
    Column("marketplace", Text, nullable=False),
    Column("title", Text),
    Column("image_url", Text),
    Column("total_reviews", Integer),
    Column("average_rating", Float),
    Column("histogram", JSONB, nullable=False, server_default="{}"),
    Column("last_scraped", DateTime(timezone=True)),
    PrimaryKeyConstraint("asin", "marketplace"),
)

reviews = Table(
    "reviews",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("asin", Text, nullable=False),
    Column("marketplace", Text, nullable=False),
    Column("amazon_review_id", Text, nullable=False),
    Column("title", Text),
    Column("content", Text),
    Column("rating", Float),
    Column("author", Text),
    Column("review_date", Date),
    Column("country", Text),
    Column("verified_purchase", Boolean, nullable=False, server_default="false"),
    Column("helpful_votes", Integer, nullable=False, server_default="0"),
    Column("is_top_review", Boolean, nullable=False, server_default="false"),
    Column("scraped_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("asin", "marketplace", "amazon_review_id", name="uq_reviews_identity"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("org_id", BigInteger, ForeignKey("organizations.id"), nullable=False),
    Column("key", Text, nullable=False),
    Column("route", Text, nullable=False),
    Column("body_hash", Text, nullable=False),
    Column("status_code", Integer),
    Column("response", JSONB),
    _now(),
    PrimaryKeyConstraint("org_id", "key"),
)

# 0008 (issue #17): the data lifecycle's indexes and the thinning mark.
Index(
    "ix_jobs_finished",
    jobs.c.finished_at,
    postgresql_where=text("status in ('completed', 'failed', 'cancelled')"),
)
Index(
    "ix_workflows_finished", workflows.c.finished_at, postgresql_where=text("status <> 'running'")
)
Index("ix_idempotency_keys_created", idempotency_keys.c.created_at)
Index("ix_price_observations_time", price_observations.c.observed_at, price_observations.c.id)
# 0011: review jobs by age, for the sweeper's cooldown restore.
Index("ix_jobs_reviews_created", jobs.c.created_at, postgresql_where=text("kind = 'reviews'"))

maintenance_marks = Table(
    "maintenance_marks",
    metadata,
    Column("name", Text, primary_key=True),
    Column("upto", DateTime(timezone=True), nullable=False),
    Column("upto_id", BigInteger, nullable=False, server_default="0"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
