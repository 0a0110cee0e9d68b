-- Version 2: one row per regime model run.
CREATE TABLE IF NOT EXISTS regime_runs (
    regime_run_id TEXT PRIMARY KEY,
    created_at_utc TEXT NOT NULL,
    dataset_id TEXT NOT NULL,
    freq TEXT NOT NULL,
    model TEXT NOT NULL,
    params_json TEXT
);
CREATE INDEX IF NOT EXISTS idx_regime_runs_dataset_freq ON regime_runs (dataset_id, freq);
