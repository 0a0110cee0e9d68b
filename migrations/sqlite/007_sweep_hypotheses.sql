-- Version 7: the hypotheses (signal, horizon, estimator, params) of a sweep family.
CREATE TABLE IF NOT EXISTS sweep_hypotheses (
    family_id TEXT NOT NULL,
    hypothesis_id TEXT NOT NULL,
    signal_name TEXT NOT NULL,
    horizon INTEGER NOT NULL,
    estimator TEXT,
    params_json TEXT,
    regime_run_id TEXT,
    PRIMARY KEY (family_id, hypothesis_id)
);
CREATE INDEX IF NOT EXISTS idx_sweep_hypotheses_signal_name ON sweep_hypotheses (signal_name);
CREATE INDEX IF NOT EXISTS idx_sweep_hypotheses_horizon ON sweep_hypotheses (horizon);
