-- Append-only protection of promotion_events (PostgreSQL). Idempotent; applied with version 5
-- and again on every migration run. UPDATE, DELETE and TRUNCATE are refused; an event whose
-- candidate does not exist is refused with the same message as the SQLite store (the foreign
-- key of version 5 would refuse it too, with PostgreSQL's own text). The runner replaces @schema@
-- with the migrated schema; search_path is pinned so no temporary object can shadow a table.
CREATE OR REPLACE FUNCTION @schema@.promotion_events_append_only() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION USING ERRCODE = 'integrity_constraint_violation',
            MESSAGE = 'promotion_events is append-only: UPDATE is not allowed';
    ELSIF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION USING ERRCODE = 'integrity_constraint_violation',
            MESSAGE = 'promotion_events is append-only: DELETE is not allowed';
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'integrity_constraint_violation',
        MESSAGE = 'promotion_events is append-only: TRUNCATE is not allowed';
END;
$$;

CREATE OR REPLACE FUNCTION @schema@.promotion_events_candidate_exists() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM @schema@.promotion_candidates WHERE candidate_id = NEW.candidate_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'integrity_constraint_violation',
            MESSAGE = 'promotion_events: candidate_id not found in promotion_candidates';
    END IF;
    RETURN NEW;
END;
$$;

DROP TRIGGER IF EXISTS promotion_events_no_update ON @schema@.promotion_events;
CREATE TRIGGER promotion_events_no_update BEFORE UPDATE ON @schema@.promotion_events
FOR EACH ROW EXECUTE FUNCTION @schema@.promotion_events_append_only();
DROP TRIGGER IF EXISTS promotion_events_no_delete ON @schema@.promotion_events;
CREATE TRIGGER promotion_events_no_delete BEFORE DELETE ON @schema@.promotion_events
FOR EACH ROW EXECUTE FUNCTION @schema@.promotion_events_append_only();
DROP TRIGGER IF EXISTS promotion_events_no_truncate ON @schema@.promotion_events;
CREATE TRIGGER promotion_events_no_truncate BEFORE TRUNCATE ON @schema@.promotion_events
FOR EACH STATEMENT EXECUTE FUNCTION @schema@.promotion_events_append_only();
DROP TRIGGER IF EXISTS promotion_events_candidate_exists ON @schema@.promotion_events;
CREATE TRIGGER promotion_events_candidate_exists BEFORE INSERT ON @schema@.promotion_events
FOR EACH ROW EXECUTE FUNCTION @schema@.promotion_events_candidate_exists();
