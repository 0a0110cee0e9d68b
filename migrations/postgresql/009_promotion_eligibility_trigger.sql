-- Version 9 (PostgreSQL): the candidate's eligibility report, and the trigger that refuses the
-- status candidate/accepted without a PASSED report of THAT level computed for THAT candidate.
-- It fires on INSERT and on any UPDATE of status or eligibility_report_id (re-pointing an
-- accepted candidate at another report is checked too). The report row is read FOR SHARE, so a
-- concurrent UPDATE/DELETE of the report waits for this transaction (and then sees the link).
ALTER TABLE promotion_candidates ADD COLUMN IF NOT EXISTS eligibility_report_id TEXT;

CREATE OR REPLACE FUNCTION promotion_candidates_require_eligibility() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    rep_passed INTEGER;
    rep_level TEXT;
    rep_candidate TEXT;
BEGIN
    IF NEW.status IN ('candidate', 'accepted') THEN
        IF NEW.eligibility_report_id IS NOT NULL THEN
            SELECT passed, level, candidate_id INTO rep_passed, rep_level, rep_candidate
            FROM eligibility_reports WHERE eligibility_report_id = NEW.eligibility_report_id
            FOR SHARE;
        END IF;
        IF NEW.eligibility_report_id IS NULL OR rep_passed IS DISTINCT FROM 1
           OR rep_level IS DISTINCT FROM NEW.status
           OR rep_candidate IS DISTINCT FROM NEW.candidate_id THEN
            RAISE EXCEPTION USING ERRCODE = 'integrity_constraint_violation',
                MESSAGE = 'eligibility_report_id required for candidate/accepted; use promote_to_candidate/promote_to_accepted';
        END IF;
    END IF;
    RETURN NEW;
END;
$$;

DROP TRIGGER IF EXISTS promotion_candidates_require_eligibility ON promotion_candidates;
CREATE TRIGGER promotion_candidates_require_eligibility
BEFORE UPDATE OF status, eligibility_report_id ON promotion_candidates
FOR EACH ROW EXECUTE FUNCTION promotion_candidates_require_eligibility();

DROP TRIGGER IF EXISTS promotion_candidates_require_eligibility_insert ON promotion_candidates;
CREATE TRIGGER promotion_candidates_require_eligibility_insert
BEFORE INSERT ON promotion_candidates
FOR EACH ROW EXECUTE FUNCTION promotion_candidates_require_eligibility();
