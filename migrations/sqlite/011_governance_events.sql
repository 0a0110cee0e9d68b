-- Version 11: the append-only governance event log (evaluate, promote, reject).
-- Its append-only triggers are in governance_guards.sql (applied after this file and on every run).
CREATE TABLE IF NOT EXISTS governance_events (
    event_id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    candidate_id TEXT,
    eligibility_report_id TEXT,
    run_key TEXT,
    dataset_id_v2 TEXT,
    artifact_refs_json TEXT
);
CREATE INDEX IF NOT EXISTS idx_governance_events_candidate ON governance_events (candidate_id);
CREATE INDEX IF NOT EXISTS idx_governance_events_timestamp ON governance_events (timestamp);
