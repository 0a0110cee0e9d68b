-- Version 13: edges between artifacts (derived_from, uses_null, uses_folds, uses_transforms,
-- uses_config), append-only.
CREATE TABLE IF NOT EXISTS artifact_edges (
    child_artifact_id TEXT NOT NULL,
    parent_artifact_id TEXT NOT NULL,
    relation TEXT NOT NULL,
    PRIMARY KEY (child_artifact_id, parent_artifact_id, relation),
    FOREIGN KEY (child_artifact_id) REFERENCES artifact_lineage (artifact_id),
    FOREIGN KEY (parent_artifact_id) REFERENCES artifact_lineage (artifact_id)
);
CREATE INDEX IF NOT EXISTS idx_artifact_edges_child ON artifact_edges (child_artifact_id);
CREATE INDEX IF NOT EXISTS idx_artifact_edges_parent ON artifact_edges (parent_artifact_id);
