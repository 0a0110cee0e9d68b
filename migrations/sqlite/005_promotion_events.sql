-- Version 5: the append-only audit trail of every candidate.
-- The append-only triggers live in promotion_events_guards.sql: the runner applies them after
-- this file AND on every run, so databases created by the analyzer's older code get them too.
CREATE TABLE IF NOT EXISTS promotion_events (
    event_id INTEGER PRIMARY KEY AUTOINCREMENT,
    candidate_id TEXT NOT NULL REFERENCES promotion_candidates (candidate_id),
    ts_utc TEXT NOT NULL,
    event_type TEXT NOT NULL,
    payload_json TEXT
);
CREATE INDEX IF NOT EXISTS idx_promotion_events_candidate_id ON promotion_events (candidate_id);
