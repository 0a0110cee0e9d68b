-- Version 4: signals on their way exploratory -> candidate -> accepted (or rejected).
CREATE TABLE IF NOT EXISTS promotion_candidates (
    candidate_id TEXT PRIMARY KEY,
    created_at_utc TEXT NOT NULL,
    status TEXT NOT NULL,
    dataset_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    family_id TEXT,
    signal_name TEXT NOT NULL,
    horizon INTEGER NOT NULL,
    estimator TEXT,
    config_hash TEXT NOT NULL,
    git_commit TEXT NOT NULL,
    notes TEXT,
    evidence_json TEXT
);
-- Each filter index also carries created_at_utc (and, implicitly, rowid), so a filtered list
-- "newest first, limit N" reads N index entries in order instead of sorting every match.
CREATE INDEX IF NOT EXISTS idx_promotion_candidates_status ON promotion_candidates (status, created_at_utc);
CREATE INDEX IF NOT EXISTS idx_promotion_candidates_dataset_id ON promotion_candidates (dataset_id, created_at_utc);
CREATE INDEX IF NOT EXISTS idx_promotion_candidates_signal_name ON promotion_candidates (signal_name, created_at_utc);
CREATE INDEX IF NOT EXISTS idx_promotion_candidates_created_at_utc ON promotion_candidates (created_at_utc);
