-- Version 1 (PostgreSQL): the table that records which Phase 3 migrations were applied.
CREATE TABLE IF NOT EXISTS schema_migrations_phase3 (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at_utc TEXT NOT NULL,
    git_commit TEXT
);
