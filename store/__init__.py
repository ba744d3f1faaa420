"""The Postgres layer: tables, engine construction, Alembic migrations."""
