-- Governance triggers (migrations 009-013). The runner applies each one whose tables exist with
-- the migration that needs it AND on every run, replacing a trigger of the same name whose text
-- differs: databases migrated by the analyzer's own code (whose triggers only check that a
-- passed report of the level exists, and only guard passed/level of a referenced report) get
-- these stricter ones. Each block starts with "-- @trigger <name> <needs>", <needs> being the comma-separated
-- tables (or table.column) that must exist for it.

-- @trigger promotion_candidates_require_eligibility promotion_candidates.eligibility_report_id,eligibility_reports
CREATE TRIGGER promotion_candidates_require_eligibility
BEFORE UPDATE OF status, eligibility_report_id, candidate_id ON promotion_candidates
FOR EACH ROW
WHEN NEW.status IN ('candidate', 'accepted')
BEGIN
    SELECT RAISE(ABORT, 'eligibility_report_id required for candidate/accepted; use promote_to_candidate/promote_to_accepted')
    WHERE NEW.eligibility_report_id IS NULL
       OR (SELECT passed FROM eligibility_reports WHERE eligibility_report_id = NEW.eligibility_report_id) IS NOT 1
       OR (SELECT level FROM eligibility_reports WHERE eligibility_report_id = NEW.eligibility_report_id) IS NOT NEW.status;
    SELECT RAISE(ABORT, 'eligibility report was computed for another candidate; a report promotes only the candidate it was computed for')
    WHERE (SELECT candidate_id FROM eligibility_reports WHERE eligibility_report_id = NEW.eligibility_report_id) IS NOT NEW.candidate_id;
END;

-- @trigger promotion_candidates_require_eligibility_insert promotion_candidates.eligibility_report_id,eligibility_reports
CREATE TRIGGER promotion_candidates_require_eligibility_insert
BEFORE INSERT ON promotion_candidates
FOR EACH ROW
WHEN NEW.status IN ('candidate', 'accepted')
BEGIN
    SELECT RAISE(ABORT, 'eligibility_report_id required for candidate/accepted; use promote_to_candidate/promote_to_accepted')
    WHERE NEW.eligibility_report_id IS NULL
       OR (SELECT passed FROM eligibility_reports WHERE eligibility_report_id = NEW.eligibility_report_id) IS NOT 1
       OR (SELECT level FROM eligibility_reports WHERE eligibility_report_id = NEW.eligibility_report_id) IS NOT NEW.status;
    SELECT RAISE(ABORT, 'eligibility report was computed for another candidate; a report promotes only the candidate it was computed for')
    WHERE (SELECT candidate_id FROM eligibility_reports WHERE eligibility_report_id = NEW.eligibility_report_id) IS NOT NEW.candidate_id;
END;

-- @trigger eligibility_reports_candidate_exists eligibility_reports,promotion_candidates
CREATE TRIGGER eligibility_reports_candidate_exists
BEFORE INSERT ON eligibility_reports
FOR EACH ROW
WHEN NOT EXISTS (SELECT 1 FROM promotion_candidates WHERE candidate_id = NEW.candidate_id)
BEGIN
    SELECT RAISE(ABORT, 'eligibility_reports: candidate_id not found in promotion_candidates');
END;

-- @trigger eligibility_reports_prevent_delete_when_referenced eligibility_reports,promotion_candidates.eligibility_report_id
CREATE TRIGGER eligibility_reports_prevent_delete_when_referenced
BEFORE DELETE ON eligibility_reports
FOR EACH ROW
WHEN EXISTS (SELECT 1 FROM promotion_candidates WHERE eligibility_report_id = OLD.eligibility_report_id)
BEGIN
    SELECT RAISE(ABORT, 'cannot delete eligibility report referenced by a promotion candidate; evidence is immutable');
END;

-- @trigger eligibility_reports_prevent_update_when_referenced eligibility_reports
CREATE TRIGGER eligibility_reports_prevent_update_when_referenced
BEFORE UPDATE ON eligibility_reports
FOR EACH ROW
BEGIN
    SELECT RAISE(ABORT, 'cannot update an eligibility report (any column); evidence is immutable');
END;

-- @trigger governance_events_prevent_update governance_events
CREATE TRIGGER governance_events_prevent_update
BEFORE UPDATE ON governance_events
FOR EACH ROW
BEGIN
    SELECT RAISE(ABORT, 'governance_events is append-only; updates not allowed');
END;

-- @trigger governance_events_prevent_delete governance_events
CREATE TRIGGER governance_events_prevent_delete
BEFORE DELETE ON governance_events
FOR EACH ROW
BEGIN
    SELECT RAISE(ABORT, 'governance_events is append-only; deletes not allowed');
END;

-- @trigger artifact_lineage_prevent_update artifact_lineage
CREATE TRIGGER artifact_lineage_prevent_update
BEFORE UPDATE ON artifact_lineage
FOR EACH ROW
BEGIN
    SELECT RAISE(ABORT, 'artifact_lineage is append-only; updates not allowed');
END;

-- @trigger artifact_lineage_prevent_delete artifact_lineage
CREATE TRIGGER artifact_lineage_prevent_delete
BEFORE DELETE ON artifact_lineage
FOR EACH ROW
BEGIN
    SELECT RAISE(ABORT, 'artifact_lineage is append-only; deletes not allowed');
END;

-- @trigger artifact_edges_prevent_update artifact_edges
CREATE TRIGGER artifact_edges_prevent_update
BEFORE UPDATE ON artifact_edges
FOR EACH ROW
BEGIN
    SELECT RAISE(ABORT, 'artifact_edges is append-only; updates not allowed');
END;

-- @trigger artifact_edges_prevent_delete artifact_edges
CREATE TRIGGER artifact_edges_prevent_delete
BEFORE DELETE ON artifact_edges
FOR EACH ROW
BEGIN
    SELECT RAISE(ABORT, 'artifact_edges is append-only; deletes not allowed');
END;
