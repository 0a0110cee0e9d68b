-- Version 6: a family of hypotheses tested together (one parameter sweep).
CREATE TABLE IF NOT EXISTS sweep_families (
    family_id TEXT PRIMARY KEY,
    created_at_utc TEXT,
    dataset_id TEXT NOT NULL,
    run_id TEXT,
    sweep_name TEXT,
    sweep_payload_json TEXT NOT NULL,
    git_commit TEXT,
    config_hash TEXT
);
CREATE INDEX IF NOT EXISTS idx_sweep_families_dataset_id ON sweep_families (dataset_id);
CREATE INDEX IF NOT EXISTS idx_sweep_families_created_at_utc ON sweep_families (created_at_utc);
