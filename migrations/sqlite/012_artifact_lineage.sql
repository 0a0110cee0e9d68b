-- Version 12: which run, dataset, engine and config produced each artifact (append-only).
CREATE TABLE IF NOT EXISTS artifact_lineage (
    artifact_id TEXT PRIMARY KEY,
    run_instance_id TEXT,
    run_key TEXT,
    dataset_id_v2 TEXT,
    artifact_type TEXT NOT NULL,
    relative_path TEXT,
    sha256 TEXT NOT NULL,
    created_utc TEXT NOT NULL,
    engine_version TEXT,
    config_version TEXT,
    schema_versions_json TEXT,
    plugin_manifest_json TEXT
);
CREATE INDEX IF NOT EXISTS idx_artifact_lineage_run_key ON artifact_lineage (run_key);
CREATE INDEX IF NOT EXISTS idx_artifact_lineage_dataset ON artifact_lineage (dataset_id_v2);
CREATE INDEX IF NOT EXISTS idx_artifact_lineage_created ON artifact_lineage (created_utc);
