-- Version 3: the regime label (and probability) of each timestamp of a regime run.
CREATE TABLE IF NOT EXISTS regime_states (
    regime_run_id TEXT NOT NULL,
    ts_utc TEXT NOT NULL,
    regime_label TEXT NOT NULL,
    regime_prob REAL,
    PRIMARY KEY (regime_run_id, ts_utc)
);
