-- Version 3 (PostgreSQL): the regime label (and probability) of each timestamp of a regime run.
-- SQLite's REAL is an 8-byte float: DOUBLE PRECISION here.
CREATE TABLE IF NOT EXISTS regime_states (
    regime_run_id TEXT NOT NULL,
    ts_utc TEXT NOT NULL,
    regime_label TEXT NOT NULL,
    regime_prob DOUBLE PRECISION,
    PRIMARY KEY (regime_run_id, ts_utc)
);
