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
CREATE INDEX IF NOT EXISTS idx_promotion_candidates_status ON promotion_candidates (status);
CREATE INDEX IF NOT EXISTS idx_promotion_candidates_dataset_id ON promotion_candidates (dataset_id);
CREATE INDEX IF NOT EXISTS idx_promotion_candidates_signal_name ON promotion_candidates (signal_name);
CREATE INDEX IF NOT EXISTS idx_promotion_candidates_created_at_utc ON promotion_candidates (created_at_utc);
