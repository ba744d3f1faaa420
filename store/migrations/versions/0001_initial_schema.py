"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 07:24:50.387211
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Job ids are allocated before the insert, so the API can name a job in Redis guards.
    op.execute(sa.schema.CreateSequence(sa.Sequence('jobs_id_seq')))
    op.create_table('catalogs',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('slug', sa.Text(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('domains', postgresql.ARRAY(sa.Text()), nullable=False),
    sa.Column('politeness_per_second', sa.Float(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_catalogs')),
    sa.UniqueConstraint('slug', name=op.f('uq_catalogs_slug'))
    )
    op.create_table('plans',
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('monthly_tokens', sa.Integer(), nullable=False),
    sa.Column('review_jobs_per_month', sa.Integer(), nullable=False),
    sa.Column('concurrent_jobs', sa.Integer(), nullable=False),
    sa.Column('asin_cooldown_seconds', sa.Integer(), nullable=False),
    sa.Column('requests_per_minute', sa.Integer(), nullable=False),
    sa.Column('force_refresh_per_minute', sa.Integer(), server_default='100', nullable=False),
    sa.Column('marketplaces', postgresql.ARRAY(sa.Text()), server_default='{}', nullable=False),
    sa.Column('catalogs', postgresql.ARRAY(sa.Text()), server_default='{}', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_plans'))
    )
    op.create_table('review_products',
    sa.Column('asin', sa.Text(), nullable=False),
    sa.Column('marketplace', sa.Text(), nullable=False),
    sa.Column('title', sa.Text(), nullable=True),
    sa.Column('image_url', sa.Text(), nullable=True),
    sa.Column('total_reviews', sa.Integer(), nullable=True),
    sa.Column('average_rating', sa.Float(), nullable=True),
    sa.Column('histogram', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('last_scraped', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('asin', 'marketplace', name=op.f('pk_review_products'))
    )
    op.create_table('reviews',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('asin', sa.Text(), nullable=False),
    sa.Column('marketplace', sa.Text(), nullable=False),
    sa.Column('amazon_review_id', sa.Text(), nullable=False),
    sa.Column('title', sa.Text(), nullable=True),
    sa.Column('content', sa.Text(), nullable=True),
    sa.Column('rating', sa.Float(), nullable=True),
    sa.Column('author', sa.Text(), nullable=True),
    sa.Column('review_date', sa.Date(), nullable=True),
    sa.Column('country', sa.Text(), nullable=True),
    sa.Column('verified_purchase', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('helpful_votes', sa.Integer(), server_default='0', nullable=False),
    sa.Column('is_top_review', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('scraped_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reviews')),
    sa.UniqueConstraint('asin', 'marketplace', 'amazon_review_id', name='uq_reviews_identity')
    )
    op.create_table('organizations',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('plan', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['plan'], ['plans.name'], name=op.f('fk_organizations_plan_plans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organizations')),
    sa.UniqueConstraint('name', name=op.f('uq_organizations_name'))
    )
    op.create_table('products',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('key', sa.Text(), nullable=False),
    sa.Column('catalog_id', sa.BigInteger(), nullable=True),
    sa.Column('url', sa.Text(), nullable=True),
    sa.Column('item_id', sa.Text(), nullable=True),
    sa.Column('upc', sa.Text(), nullable=True),
    sa.Column('ean', sa.Text(), nullable=True),
    sa.Column('gtin', sa.Text(), nullable=True),
    sa.Column('isbn', sa.Text(), nullable=True),
    sa.Column('asin', sa.Text(), nullable=True),
    sa.Column('mpn', sa.Text(), nullable=True),
    sa.Column('model', sa.Text(), nullable=True),
    sa.Column('data', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('fetched_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('price_fetched_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('offers_fetched_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reviews_fetched_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('static_fetched_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reads', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('last_read_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['catalog_id'], ['catalogs.id'], name=op.f('fk_products_catalog_id_catalogs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_products')),
    sa.UniqueConstraint('source', 'key', name='uq_products_source_key')
    )
    op.create_index('ix_products_asin', 'products', ['asin'], unique=False)
    op.create_index('ix_products_catalog_url', 'products', ['catalog_id', 'url'], unique=False)
    op.create_index('ix_products_ean', 'products', ['ean'], unique=False)
    op.create_index('ix_products_gtin', 'products', ['gtin'], unique=False)
    op.create_index('ix_products_isbn', 'products', ['isbn'], unique=False)
    op.create_index('ix_products_item_id', 'products', ['item_id'], unique=False)
    op.create_index('ix_products_upc', 'products', ['upc'], unique=False)
    op.create_table('api_keys',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('org_id', sa.BigInteger(), nullable=False),
    sa.Column('prefix', sa.Text(), nullable=False),
    sa.Column('key_hash', sa.Text(), nullable=False),
    sa.Column('label', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_api_keys_org_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_keys_key_hash'))
    )
    op.create_index(op.f('ix_api_keys_org_id'), 'api_keys', ['org_id'], unique=False)
    op.create_table('grants',
    sa.Column('org_id', sa.BigInteger(), nullable=False),
    sa.Column('catalog_id', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['catalog_id'], ['catalogs.id'], name=op.f('fk_grants_catalog_id_catalogs')),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_grants_org_id_organizations')),
    sa.PrimaryKeyConstraint('org_id', 'catalog_id', name=op.f('pk_grants'))
    )
    op.create_table('idempotency_keys',
    sa.Column('org_id', sa.BigInteger(), nullable=False),
    sa.Column('key', sa.Text(), nullable=False),
    sa.Column('route', sa.Text(), nullable=False),
    sa.Column('body_hash', sa.Text(), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('response', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_idempotency_keys_org_id_organizations')),
    sa.PrimaryKeyConstraint('org_id', 'key', name=op.f('pk_idempotency_keys'))
    )
    op.create_table('ledger',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('org_id', sa.BigInteger(), nullable=False),
    sa.Column('period', sa.Date(), nullable=False),
    sa.Column('job_id', sa.BigInteger(), nullable=True),
    sa.Column('request_id', sa.Text(), nullable=True),
    sa.Column('resource', sa.Text(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind in ('reserve', 'charge', 'refund')", name=op.f('ck_ledger_kind')),
    sa.CheckConstraint("resource in ('tokens', 'review_jobs')", name=op.f('ck_ledger_resource')),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_ledger_org_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger'))
    )
    op.create_index('ix_ledger_org_period', 'ledger', ['org_id', 'period'], unique=False)
    op.create_index('uq_ledger_reserve', 'ledger', ['job_id', 'resource'], unique=True, postgresql_where=sa.text("job_id IS NOT NULL AND kind = 'reserve'"))
    op.create_index('uq_ledger_settle', 'ledger', ['job_id', 'resource'], unique=True, postgresql_where=sa.text("job_id IS NOT NULL AND kind <> 'reserve'"))
    op.create_table('price_observations',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('product_id', sa.UUID(), nullable=False),
    sa.Column('observed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('price', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('in_stock', sa.Boolean(), nullable=True),
    sa.Column('job_id', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_price_observations_product_id_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_price_observations')),
    sa.UniqueConstraint('job_id', name=op.f('uq_price_observations_job_id'))
    )
    op.create_index('ix_price_observations_product_time', 'price_observations', ['product_id', 'observed_at'], unique=False)
    op.create_table('usage_periods',
    sa.Column('org_id', sa.BigInteger(), nullable=False),
    sa.Column('period', sa.Date(), nullable=False),
    sa.Column('tokens_used', sa.Integer(), server_default='0', nullable=False),
    sa.Column('review_jobs_used', sa.Integer(), server_default='0', nullable=False),
    sa.CheckConstraint('review_jobs_used >= 0', name=op.f('ck_usage_periods_review_jobs_nonneg')),
    sa.CheckConstraint('tokens_used >= 0', name=op.f('ck_usage_periods_tokens_nonneg')),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_usage_periods_org_id_organizations')),
    sa.PrimaryKeyConstraint('org_id', 'period', name=op.f('pk_usage_periods'))
    )
    op.create_table('workflows',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('org_id', sa.BigInteger(), nullable=False),
    sa.Column('request_id', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), server_default='running', nullable=False),
    sa.Column('launch_status', sa.Text(), server_default='pending', nullable=False),
    sa.Column('launch_attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('launch_error', sa.Text(), nullable=True),
    sa.Column('submitted', sa.Integer(), nullable=False),
    sa.Column('accepted', sa.Integer(), nullable=False),
    sa.Column('callback_url', sa.Text(), nullable=True),
    sa.Column('webhook_status', sa.Text(), nullable=True),
    sa.Column('webhook_attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('webhook_delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_workflows_org_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workflows'))
    )
    op.create_index(op.f('ix_workflows_org_id'), 'workflows', ['org_id'], unique=False)
    op.create_table('jobs',
    sa.Column('id', sa.BigInteger(), server_default=sa.text("nextval('jobs_id_seq')"), nullable=False),
    sa.Column('org_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), server_default='queued', nullable=False),
    sa.Column('queue', sa.Text(), nullable=False),
    sa.Column('attempt', sa.Integer(), server_default='0', nullable=False),
    sa.Column('max_attempts', sa.Integer(), nullable=False),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('not_before', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('error_code', sa.Text(), nullable=True),
    sa.Column('request_id', sa.Text(), nullable=True),
    sa.Column('workflow_id', sa.UUID(), nullable=True),
    sa.Column('target_index', sa.Integer(), nullable=True),
    sa.Column('catalog_id', sa.BigInteger(), nullable=True),
    sa.Column('product_id', sa.UUID(), nullable=True),
    sa.Column('leader_job_id', sa.BigInteger(), nullable=True),
    sa.Column('url', sa.Text(), nullable=True),
    sa.Column('asin', sa.Text(), nullable=True),
    sa.Column('marketplace', sa.Text(), nullable=True),
    sa.Column('params', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('result', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('tokens_reserved', sa.Integer(), server_default='0', nullable=False),
    sa.CheckConstraint("status in ('queued', 'running', 'completed', 'failed', 'cancelled')", name=op.f('ck_jobs_status')),
    sa.ForeignKeyConstraint(['catalog_id'], ['catalogs.id'], name=op.f('fk_jobs_catalog_id_catalogs')),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_jobs_org_id_organizations')),
    sa.ForeignKeyConstraint(['workflow_id'], ['workflows.id'], name=op.f('fk_jobs_workflow_id_workflows')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs'))
    )
    op.create_index('ix_jobs_leader', 'jobs', ['leader_job_id'], unique=False, postgresql_where=sa.text('leader_job_id IS NOT NULL'))
    op.create_index('ix_jobs_open', 'jobs', ['status', 'dispatched_at'], unique=False, postgresql_where=sa.text("status in ('queued', 'running')"))
    op.create_index('ix_jobs_org_created', 'jobs', ['org_id', 'created_at'], unique=False)
    op.create_index('ix_jobs_workflow', 'jobs', ['workflow_id', 'target_index'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_jobs_workflow', table_name='jobs')
    op.drop_index('ix_jobs_org_created', table_name='jobs')
    op.drop_index('ix_jobs_open', table_name='jobs', postgresql_where=sa.text("status in ('queued', 'running')"))
    op.drop_index('ix_jobs_leader', table_name='jobs', postgresql_where=sa.text('leader_job_id IS NOT NULL'))
    op.drop_table('jobs')
    op.drop_index(op.f('ix_workflows_org_id'), table_name='workflows')
    op.drop_table('workflows')
    op.drop_table('usage_periods')
    op.drop_index('ix_price_observations_product_time', table_name='price_observations')
    op.drop_table('price_observations')
    op.drop_index('uq_ledger_settle', table_name='ledger', postgresql_where=sa.text("job_id IS NOT NULL AND kind <> 'reserve'"))
    op.drop_index('uq_ledger_reserve', table_name='ledger', postgresql_where=sa.text("job_id IS NOT NULL AND kind = 'reserve'"))
    op.drop_index('ix_ledger_org_period', table_name='ledger')
    op.drop_table('ledger')
    op.drop_table('idempotency_keys')
    op.drop_table('grants')
    op.drop_index(op.f('ix_api_keys_org_id'), table_name='api_keys')
    op.drop_table('api_keys')
    op.drop_index('ix_products_upc', table_name='products')
    op.drop_index('ix_products_item_id', table_name='products')
    op.drop_index('ix_products_isbn', table_name='products')
    op.drop_index('ix_products_gtin', table_name='products')
    op.drop_index('ix_products_ean', table_name='products')
    op.drop_index('ix_products_catalog_url', table_name='products')
    op.drop_index('ix_products_asin', table_name='products')
    op.drop_table('products')
    op.drop_table('organizations')
    op.drop_table('reviews')
    op.drop_table('review_products')
    op.drop_table('plans')
    op.drop_table('catalogs')
    op.execute(sa.schema.DropSequence(sa.Sequence('jobs_id_seq')))
