-- Version 8: the eligibility report computed before a promotion to candidate/accepted.
-- A report is evidence: the governance guards (governance_guards.sql) make every row immutable
-- once written and refuse a report for a candidate that does not exist.
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
