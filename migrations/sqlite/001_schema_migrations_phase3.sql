-- Version 1: the table that records which Phase 3 migrations were applied.
CREATE TABLE IF NOT EXISTS schema_migrations_phase3 (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at_utc TEXT NOT NULL,
    git_commit TEXT
);
