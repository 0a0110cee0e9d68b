-- Version 13 (PostgreSQL): edges between artifacts (derived_from, uses_null, uses_folds, ...).
CREATE TABLE IF NOT EXISTS artifact_edges (
    child_artifact_id TEXT NOT NULL REFERENCES artifact_lineage (artifact_id),
    parent_artifact_id TEXT NOT NULL REFERENCES artifact_lineage (artifact_id),
    relation TEXT NOT NULL,
    PRIMARY KEY (child_artifact_id, parent_artifact_id, relation)
);
CREATE INDEX IF NOT EXISTS idx_artifact_edges_child ON artifact_edges (child_artifact_id);
CREATE INDEX IF NOT EXISTS idx_artifact_edges_parent ON artifact_edges (parent_artifact_id);

DROP TRIGGER IF EXISTS artifact_edges_prevent_update ON artifact_edges;
CREATE TRIGGER artifact_edges_prevent_update BEFORE UPDATE ON artifact_edges
FOR EACH ROW EXECUTE FUNCTION phase3_append_only();
DROP TRIGGER IF EXISTS artifact_edges_prevent_delete ON artifact_edges;
CREATE TRIGGER artifact_edges_prevent_delete BEFORE DELETE ON artifact_edges
FOR EACH ROW EXECUTE FUNCTION phase3_append_only();
DROP TRIGGER IF EXISTS artifact_edges_prevent_truncate ON artifact_edges;
CREATE TRIGGER artifact_edges_prevent_truncate BEFORE TRUNCATE ON artifact_edges
FOR EACH STATEMENT EXECUTE FUNCTION phase3_append_only();
