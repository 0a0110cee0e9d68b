-- Append-only protection of promotion_events. Idempotent; applied with version 5 and again on
-- every migration run (older databases have the table without these triggers).
CREATE TRIGGER IF NOT EXISTS promotion_events_no_update
BEFORE UPDATE ON promotion_events
BEGIN
    SELECT RAISE(ABORT, 'promotion_events is append-only: UPDATE is not allowed');
END;

CREATE TRIGGER IF NOT EXISTS promotion_events_no_delete
BEFORE DELETE ON promotion_events
BEGIN
    SELECT RAISE(ABORT, 'promotion_events is append-only: DELETE is not allowed');
END;

CREATE TRIGGER IF NOT EXISTS promotion_events_candidate_exists
BEFORE INSERT ON promotion_events
WHEN NOT EXISTS (SELECT 1 FROM promotion_candidates WHERE candidate_id = NEW.candidate_id)
BEGIN
    SELECT RAISE(ABORT, 'promotion_events: candidate_id not found in promotion_candidates');
END;
