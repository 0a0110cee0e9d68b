-- Version 10 (PostgreSQL): a report that a candidate links to is wholly immutable (every
-- column, not only passed/level) and cannot be deleted; TRUNCATE is refused while any report is
-- linked. Stricter than c79684b, whose trigger still lets blockers/warnings be rewritten.
CREATE OR REPLACE FUNCTION eligibility_reports_immutable_when_referenced() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM promotion_candidates
               WHERE eligibility_report_id = OLD.eligibility_report_id) THEN
        IF TG_OP = 'DELETE' THEN
            RAISE EXCEPTION USING ERRCODE = 'integrity_constraint_violation',
                MESSAGE = 'cannot delete eligibility report referenced by candidate/accepted; evidence is immutable';
        END IF;
        RAISE EXCEPTION USING ERRCODE = 'integrity_constraint_violation',
            MESSAGE = 'cannot update eligibility report referenced by candidate/accepted; evidence is immutable';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$;

CREATE OR REPLACE FUNCTION eligibility_reports_no_truncate_when_referenced() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM promotion_candidates WHERE eligibility_report_id IS NOT NULL) THEN
        RAISE EXCEPTION USING ERRCODE = 'integrity_constraint_violation',
            MESSAGE = 'cannot delete eligibility report referenced by candidate/accepted; evidence is immutable';
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS eligibility_reports_prevent_delete_when_referenced ON eligibility_reports;
CREATE TRIGGER eligibility_reports_prevent_delete_when_referenced
BEFORE DELETE ON eligibility_reports
FOR EACH ROW EXECUTE FUNCTION eligibility_reports_immutable_when_referenced();

DROP TRIGGER IF EXISTS eligibility_reports_prevent_update_when_referenced ON eligibility_reports;
CREATE TRIGGER eligibility_reports_prevent_update_when_referenced
BEFORE UPDATE ON eligibility_reports
FOR EACH ROW EXECUTE FUNCTION eligibility_reports_immutable_when_referenced();

DROP TRIGGER IF EXISTS eligibility_reports_prevent_truncate_when_referenced ON eligibility_reports;
CREATE TRIGGER eligibility_reports_prevent_truncate_when_referenced
BEFORE TRUNCATE ON eligibility_reports
FOR EACH STATEMENT EXECUTE FUNCTION eligibility_reports_no_truncate_when_referenced();
