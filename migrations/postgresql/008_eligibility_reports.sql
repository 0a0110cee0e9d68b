-- Version 8 (PostgreSQL): the eligibility report computed for a candidate at a level.
CREATE TABLE IF NOT EXISTS eligibility_reports (
    eligibility_report_id TEXT PRIMARY KEY,
    candidate_id TEXT NOT NULL,
    level TEXT NOT NULL CHECK (level IN ('exploratory', 'candidate', 'accepted')),
    passed INTEGER NOT NULL CHECK (passed IN (0, 1)),
    blockers_json TEXT NOT NULL,
    warnings_json TEXT NOT NULL,
    computed_at_utc TEXT NOT NULL,
    run_key TEXT,
    run_instance_id TEXT,
    dataset_id_v2 TEXT,
    engine_version TEXT,
    config_version TEXT
);
CREATE INDEX IF NOT EXISTS idx_eligibility_reports_candidate ON eligibility_reports (candidate_id);
