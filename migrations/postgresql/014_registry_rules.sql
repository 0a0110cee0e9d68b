-- Version 14 (PostgreSQL): the registry's rules live in the database, for every client.
--
-- The runner replaces @schema@ with the quoted name of the schema it migrates
-- (current_schema()), so every object below is schema-qualified and every function pins
-- search_path to pg_catalog, pg_temp: a temporary table or function named like a registry
-- object cannot shadow it. Status changes, events and evaluation reports are written only by
-- the registry_* functions (SECURITY DEFINER, owned by the schema owner who runs the
-- migrations); this version revokes direct INSERT/UPDATE/DELETE/TRUNCATE on the governed tables
-- from every other role. The roles that may call the functions are set up by
-- `crypto-analyzer-promotion roles` (migrations/postgresql/roles.sql; docs/postgresql.md).
--
-- Errors the store maps back to the analyzer's messages use SQLSTATE class CA:
-- CA001 unknown candidate, CA002 status changed since read (DETAIL: the status now),
-- CA003 report refused (DETAIL: the report found, as JSON, or null), CA004 not one rung
-- (DETAIL: the status now), CA005 candidate/accepted without a report, CA006 id already used,
-- CA007 bad argument, CA008 the step needs a member of the approver role.

-- Time and canonical JSON, as the store writes them (src/store/rules.rs, src/pyfmt.rs).
CREATE OR REPLACE FUNCTION @schema@.registry_now() RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_catalog.to_char(pg_catalog.statement_timestamp() AT TIME ZONE 'UTC',
                              'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')
$$;

-- A JSON string as Python's json.dumps writes it (ensure_ascii: \uXXXX, surrogate pairs).
CREATE OR REPLACE FUNCTION @schema@.registry_json_str(t text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    out text := '"';
    c text;
    cp integer;
    v integer;
BEGIN
    FOR i IN 1 .. pg_catalog.length(t) LOOP
        c := pg_catalog.substr(t, i, 1);
        cp := pg_catalog.ascii(c);
        IF cp = 34 THEN out := out || '\"';
        ELSIF cp = 92 THEN out := out || '\\';
        ELSIF cp = 10 THEN out := out || '\n';
        ELSIF cp = 13 THEN out := out || '\r';
        ELSIF cp = 9 THEN out := out || '\t';
        ELSIF cp = 8 THEN out := out || '\b';
        ELSIF cp = 12 THEN out := out || '\f';
        ELSIF cp BETWEEN 32 AND 126 THEN out := out || c;
        ELSIF cp < 65536 THEN out := out || '\u' || pg_catalog.lpad(pg_catalog.to_hex(cp), 4, '0');
        ELSE
            v := cp - 65536;
            out := out || '\u' || pg_catalog.to_hex(55296 + (v >> 10))
                       || '\u' || pg_catalog.to_hex(56320 + (v & 1023));
        END IF;
    END LOOP;
    RETURN out || '"';
END;
$$;

-- The payload of a status_change event (rules::status_change_payload, canonical JSON).
CREATE OR REPLACE FUNCTION @schema@.registry_status_change_payload(
    p_old text, p_new text, p_ts text, p_report text, p_reason text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT '{'
        || CASE WHEN p_report IS NULL THEN ''
                ELSE '"eligibility_report_id":' || @schema@.registry_json_str(p_report) || ',' END
        || '"new_status":' || @schema@.registry_json_str(p_new)
        || ',"old_status":' || @schema@.registry_json_str(p_old)
        || CASE WHEN p_reason IS NULL OR p_reason = '' THEN ''
                ELSE ',"reason":' || @schema@.registry_json_str(p_reason) END
        || ',"ts_utc":' || @schema@.registry_json_str(p_ts) || '}'
$$;

-- Status: one of the four.
ALTER TABLE @schema@.promotion_candidates DROP CONSTRAINT IF EXISTS promotion_candidates_status_check;
ALTER TABLE @schema@.promotion_candidates ADD CONSTRAINT promotion_candidates_status_check
    CHECK (status IN ('exploratory', 'candidate', 'accepted', 'rejected')) NOT VALID;

-- A report belongs to an existing candidate; a candidate links only a report computed for it
-- (the composite key makes "belongs to this candidate" a foreign key).
ALTER TABLE @schema@.eligibility_reports DROP CONSTRAINT IF EXISTS eligibility_reports_candidate_fk;
ALTER TABLE @schema@.promotion_candidates DROP CONSTRAINT IF EXISTS promotion_candidates_report_fk;
ALTER TABLE @schema@.eligibility_reports DROP CONSTRAINT IF EXISTS eligibility_reports_id_candidate_key;
ALTER TABLE @schema@.eligibility_reports ADD CONSTRAINT eligibility_reports_id_candidate_key
    UNIQUE (eligibility_report_id, candidate_id);
ALTER TABLE @schema@.eligibility_reports ADD CONSTRAINT eligibility_reports_candidate_fk
    FOREIGN KEY (candidate_id) REFERENCES @schema@.promotion_candidates (candidate_id) NOT VALID;
ALTER TABLE @schema@.promotion_candidates ADD CONSTRAINT promotion_candidates_report_fk
    FOREIGN KEY (eligibility_report_id, candidate_id)
    REFERENCES @schema@.eligibility_reports (eligibility_report_id, candidate_id) NOT VALID;

-- Validate what existing rows allow (a registry tampered with before this version keeps its
-- rows; the constraints then hold for every new or changed row, and a warning says so).
DO $$
DECLARE
    c record;
BEGIN
    FOR c IN SELECT * FROM (VALUES
        ('promotion_candidates', 'promotion_candidates_status_check'),
        ('eligibility_reports', 'eligibility_reports_candidate_fk'),
        ('promotion_candidates', 'promotion_candidates_report_fk')) AS t(tbl, con)
    LOOP
        BEGIN
            EXECUTE pg_catalog.format('ALTER TABLE @schema@.%I VALIDATE CONSTRAINT %I', c.tbl, c.con);
        EXCEPTION WHEN check_violation OR foreign_key_violation THEN
            RAISE WARNING 'registry: existing rows of % violate %; it holds for new and changed rows only',
                c.tbl, c.con;
        END;
    END LOOP;
END;
$$;

-- Who did it and when, from the server: every event row is stamped with the session's login
-- role and the server clock, whatever the client wrote.
ALTER TABLE @schema@.promotion_events ADD COLUMN IF NOT EXISTS actor TEXT;

CREATE OR REPLACE FUNCTION @schema@.promotion_events_stamp() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    NEW.ts_utc := @schema@.registry_now();
    NEW.actor := session_user;
    RETURN NEW;
END;
$$;
DROP TRIGGER IF EXISTS promotion_events_stamp ON @schema@.promotion_events;
CREATE TRIGGER promotion_events_stamp BEFORE INSERT ON @schema@.promotion_events
FOR EACH ROW EXECUTE FUNCTION @schema@.promotion_events_stamp();

CREATE OR REPLACE FUNCTION @schema@.governance_events_stamp() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    NEW.timestamp := @schema@.registry_now();
    NEW.actor := session_user;
    RETURN NEW;
END;
$$;
DROP TRIGGER IF EXISTS governance_events_stamp ON @schema@.governance_events;
CREATE TRIGGER governance_events_stamp BEFORE INSERT ON @schema@.governance_events
FOR EACH ROW EXECUTE FUNCTION @schema@.governance_events_stamp();

-- Who wrote an eligibility report: the session's login role, stamped by the server (whatever the
-- client sent), kept on update. The separation of duties refuses an approver who wrote the report
-- a request names (registry_approve_acceptance).
ALTER TABLE @schema@.eligibility_reports ADD COLUMN IF NOT EXISTS author TEXT;

CREATE OR REPLACE FUNCTION @schema@.eligibility_reports_stamp() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        NEW.author := OLD.author;
    ELSE
        NEW.author := session_user;
    END IF;
    RETURN NEW;
END;
$$;
DROP TRIGGER IF EXISTS eligibility_reports_stamp ON @schema@.eligibility_reports;
CREATE TRIGGER eligibility_reports_stamp BEFORE INSERT OR UPDATE ON @schema@.eligibility_reports
FOR EACH ROW EXECUTE FUNCTION @schema@.eligibility_reports_stamp();

-- The triggers of versions 9-11, schema-qualified with a pinned search_path. The eligibility
-- trigger also holds plain SQL to one rung per change and to the report behind a promotion.
CREATE OR REPLACE FUNCTION @schema@.promotion_candidates_require_eligibility() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    rep_passed INTEGER;
    rep_level TEXT;
    rep_candidate TEXT;
BEGIN
    IF NEW.status IN ('candidate', 'accepted') THEN
        IF NEW.eligibility_report_id IS NOT NULL THEN
            SELECT passed, level, candidate_id INTO rep_passed, rep_level, rep_candidate
            FROM @schema@.eligibility_reports WHERE eligibility_report_id = NEW.eligibility_report_id
            FOR SHARE;
        END IF;
        IF NEW.eligibility_report_id IS NULL OR rep_passed IS DISTINCT FROM 1
           OR rep_level IS DISTINCT FROM NEW.status
           OR rep_candidate IS DISTINCT FROM NEW.candidate_id THEN
            RAISE EXCEPTION USING ERRCODE = 'integrity_constraint_violation',
                MESSAGE = 'eligibility_report_id required for candidate/accepted; use promote_to_candidate/promote_to_accepted';
        END IF;
        IF TG_OP = 'UPDATE' AND NEW.status IS DISTINCT FROM OLD.status
           AND NOT ((NEW.status = 'candidate' AND OLD.status = 'exploratory')
                    OR (NEW.status = 'accepted' AND OLD.status = 'candidate')) THEN
            RAISE EXCEPTION USING ERRCODE = 'integrity_constraint_violation',
                MESSAGE = 'one rung per change: ' || NEW.status || ' only from '
                    || CASE NEW.status WHEN 'candidate' THEN 'exploratory' ELSE 'candidate' END
                    || ', not from ' || OLD.status;
        END IF;
        IF TG_OP = 'UPDATE' AND NEW.status = OLD.status
           AND NEW.eligibility_report_id IS DISTINCT FROM OLD.eligibility_report_id THEN
            RAISE EXCEPTION USING ERRCODE = 'integrity_constraint_violation',
                MESSAGE = 'the eligibility report behind a promotion cannot be replaced';
        END IF;
    END IF;
    RETURN NEW;
END;
$$;

CREATE OR REPLACE FUNCTION @schema@.eligibility_reports_immutable_when_referenced() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM @schema@.promotion_candidates
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

CREATE OR REPLACE FUNCTION @schema@.eligibility_reports_no_truncate_when_referenced() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM @schema@.promotion_candidates WHERE eligibility_report_id IS NOT NULL) THEN
        RAISE EXCEPTION USING ERRCODE = 'integrity_constraint_violation',
            MESSAGE = 'cannot delete eligibility report referenced by candidate/accepted; evidence is immutable';
    END IF;
    RETURN NULL;
END;
$$;

ALTER FUNCTION @schema@.phase3_append_only() SET search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------------------------
-- The write functions. Each locks the candidate row, checks, writes and returns.
-- registry_check_step, registry_record_evaluation and registry_record_event follow the
-- separation of duties below, whose settings and checks they use.
-- ---------------------------------------------------------------------------------------------

-- Whether the session may take a step reserved to approvers (into accepted, or out of it): a
-- member of the approver role (superusers are members of every role). Before
-- `crypto-analyzer-promotion roles` created the role, only the schema owner can call the
-- functions at all, and the check is off.
CREATE OR REPLACE FUNCTION @schema@.registry_require_approver(p_what text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF pg_catalog.to_regrole('approver') IS NOT NULL
       AND NOT pg_catalog.pg_has_role(session_user, 'approver', 'MEMBER') THEN
        RAISE EXCEPTION USING ERRCODE = 'CA008',
            MESSAGE = p_what || ' is taken by a member of the approver role; '
                || session_user || ' is not one';
    END IF;
END;
$$;

CREATE OR REPLACE FUNCTION @schema@.registry_lock_candidate(p_candidate_id text) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_old text;
BEGIN
    SELECT status INTO v_old FROM @schema@.promotion_candidates WHERE candidate_id = p_candidate_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'CA001', MESSAGE = 'candidate_id not found: ' || p_candidate_id;
    END IF;
    RETURN v_old;
END;
$$;

-- Whether the session may move a candidate from p_old to p_new: out of accepted is an approver's
-- step; so is out of rejected when the candidate's last acceptance event is a rejection (an
-- approver's rejection is final unless an approver reopens the candidate).
CREATE OR REPLACE FUNCTION @schema@.registry_check_leaving(p_candidate_id text, p_old text, p_new text)
RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_old = 'accepted' AND p_new IS DISTINCT FROM 'accepted' THEN
        PERFORM @schema@.registry_require_approver('a step out of accepted');
    ELSIF p_old = 'rejected' AND p_new IS DISTINCT FROM 'rejected' AND (
        SELECT event_type FROM @schema@.promotion_events
        WHERE candidate_id = p_candidate_id
          AND event_type IN ('acceptance_requested', 'acceptance_approved', 'acceptance_rejected')
        ORDER BY event_id DESC LIMIT 1) = 'acceptance_rejected' THEN
        PERFORM @schema@.registry_require_approver(
            'reopening candidate ' || p_candidate_id || ', whose acceptance an approver rejected,');
    END IF;
END;
$$;

-- Create a candidate (exploratory or rejected) and its `created` event; the creation time is
-- the server's, the id the caller's or rules::candidate_id_for of it. Returns the id.
CREATE OR REPLACE FUNCTION @schema@.registry_create_candidate(
    p_candidate_id text, p_status text, p_dataset_id text, p_run_id text, p_family_id text,
    p_signal_name text, p_horizon bigint, p_estimator text, p_config_hash text, p_git_commit text,
    p_notes text, p_evidence_json text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_ts text := @schema@.registry_now();
    v_id text;
BEGIN
    IF p_status IN ('candidate', 'accepted') THEN
        RAISE EXCEPTION USING ERRCODE = 'CA005',
            MESSAGE = 'a candidate is created exploratory and promoted one rung at a time (promote_to_candidate, then promote_to_accepted)';
    END IF;
    IF p_status IS NULL OR p_status NOT IN ('exploratory', 'rejected') THEN
        RAISE EXCEPTION USING ERRCODE = 'CA007', MESSAGE = 'unknown status: ' || coalesce(p_status, 'NULL');
    END IF;
    v_id := coalesce(nullif(p_candidate_id, ''), 'prom_' || pg_catalog.left(pg_catalog.encode(pg_catalog.sha256(
        pg_catalog.convert_to(p_run_id || '|' || p_signal_name || '|' || p_horizon::text || '|' || v_ts, 'UTF8')), 'hex'), 16));
    INSERT INTO @schema@.promotion_candidates (candidate_id, created_at_utc, status, dataset_id, run_id, family_id,
        signal_name, horizon, estimator, config_hash, git_commit, notes, evidence_json)
    VALUES (v_id, v_ts, p_status, p_dataset_id, p_run_id, p_family_id, p_signal_name, p_horizon, p_estimator,
        p_config_hash, p_git_commit, p_notes, p_evidence_json)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'CA006', MESSAGE = 'candidate_id already exists: ' || v_id;
    END IF;
    INSERT INTO @schema@.promotion_events (candidate_id, ts_utc, event_type, payload_json)
    VALUES (v_id, v_ts, 'created', '{"created_at_utc":' || @schema@.registry_json_str(v_ts) || '}');
    RETURN v_id;
END;
$$;

-- Set exploratory or rejected (leaving accepted, or rejected after a rejected acceptance request:
-- approvers only; registry_check_leaving) with its status_change event.
CREATE OR REPLACE FUNCTION @schema@.registry_set_status(p_candidate_id text, p_status text, p_reason text)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_old text;
    v_ts text := @schema@.registry_now();
    v_event bigint;
BEGIN
    IF p_status IN ('candidate', 'accepted') THEN
        RAISE EXCEPTION USING ERRCODE = 'CA005',
            MESSAGE = 'Use promote_to_candidate or promote_to_accepted with an eligibility_report_id';
    END IF;
    IF p_status IS NULL OR p_status NOT IN ('exploratory', 'rejected') THEN
        RAISE EXCEPTION USING ERRCODE = 'CA007', MESSAGE = 'unknown status: ' || coalesce(p_status, 'NULL');
    END IF;
    v_old := @schema@.registry_lock_candidate(p_candidate_id);
    PERFORM @schema@.registry_check_leaving(p_candidate_id, v_old, p_status);
    UPDATE @schema@.promotion_candidates SET status = p_status WHERE candidate_id = p_candidate_id;
    INSERT INTO @schema@.promotion_events (candidate_id, ts_utc, event_type, payload_json)
    VALUES (p_candidate_id, v_ts, 'status_change',
            @schema@.registry_status_change_payload(v_old, p_status, v_ts, NULL, p_reason))
    RETURNING event_id INTO v_event;
    RETURN v_event;
END;
$$;

-- Promote one rung on a passed report of that level for this candidate (registry_check_step,
-- below); status_change event.
CREATE OR REPLACE FUNCTION @schema@.registry_promote(
    p_candidate_id text, p_level text, p_report_id text, p_reason text) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_old text;
    v_ts text := @schema@.registry_now();
    v_event bigint;
BEGIN
    IF p_level IS NULL OR p_level NOT IN ('candidate', 'accepted') THEN
        RAISE EXCEPTION USING ERRCODE = 'CA007',
            MESSAGE = 'promotion level must be candidate or accepted, got ' || coalesce(p_level, 'NULL');
    END IF;
    v_old := @schema@.registry_lock_candidate(p_candidate_id);
    PERFORM @schema@.registry_check_step(p_candidate_id, v_old, p_level, p_report_id);
    UPDATE @schema@.promotion_candidates SET status = p_level, eligibility_report_id = p_report_id
    WHERE candidate_id = p_candidate_id;
    INSERT INTO @schema@.promotion_events (candidate_id, ts_utc, event_type, payload_json)
    VALUES (p_candidate_id, v_ts, 'status_change',
            @schema@.registry_status_change_payload(v_old, p_level, v_ts, p_report_id, p_reason))
    RETURNING event_id INTO v_event;
    RETURN v_event;
END;
$$;

-- A governance event; its actor and time are the server's (the trigger above stamps them).
CREATE OR REPLACE FUNCTION @schema@.registry_append_governance_event(
    p_action text, p_candidate_id text, p_eligibility_report_id text, p_run_key text,
    p_dataset_id_v2 text, p_artifact_refs_json text) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_event bigint;
BEGIN
    IF p_action IS NULL OR p_action = '' THEN
        RAISE EXCEPTION USING ERRCODE = 'CA007', MESSAGE = 'action must be a non-empty string';
    END IF;
    INSERT INTO @schema@.governance_events (timestamp, actor, action, candidate_id, eligibility_report_id, run_key,
        dataset_id_v2, artifact_refs_json)
    VALUES (@schema@.registry_now(), session_user, p_action, coalesce(p_candidate_id, ''),
        coalesce(p_eligibility_report_id, ''), coalesce(p_run_key, ''), coalesce(p_dataset_id_v2, ''),
        coalesce(p_artifact_refs_json, ''))
    RETURNING event_id INTO v_event;
    RETURN v_event;
END;
$$;

-- Nobody but the owner calls any of them until `roles` grants EXECUTE (the functions defined
-- after the separation of duties: at the end).
REVOKE ALL ON FUNCTION
    @schema@.registry_create_candidate(text, text, text, text, text, text, bigint, text, text, text, text, text),
    @schema@.registry_set_status(text, text, text),
    @schema@.registry_promote(text, text, text, text),
    @schema@.registry_append_governance_event(text, text, text, text, text, text),
    @schema@.registry_lock_candidate(text),
    @schema@.registry_require_approver(text),
    @schema@.registry_check_leaving(text, text, text)
FROM PUBLIC;

-- No direct writes to the governed tables by anyone but the owner: grants made before this
-- version (docs/postgresql.md once granted INSERT and UPDATE (status, ...) to writers) go, and
-- so do TRIGGER (a trigger of another role's would run inside every registry function's write)
-- and REFERENCES (a foreign key of another role's would block the owner's own changes).
DO $$
DECLARE
    g record;
BEGIN
    FOR g IN
        SELECT DISTINCT c.relname, a.grantee
        FROM pg_catalog.pg_class c
        CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) a
        WHERE c.relnamespace = '@schema@'::regnamespace
          AND c.relname IN ('promotion_candidates', 'promotion_events', 'eligibility_reports', 'governance_events')
          AND a.grantee <> c.relowner
          AND a.privilege_type IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'TRIGGER', 'REFERENCES')
    LOOP
        EXECUTE pg_catalog.format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES ON @schema@.%I FROM %s',
            g.relname,
            CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE g.grantee::regrole::text END);
    END LOOP;
    FOR g IN
        SELECT DISTINCT c.relname, a.grantee
        FROM pg_catalog.pg_attribute att
        JOIN pg_catalog.pg_class c ON c.oid = att.attrelid
        CROSS JOIN LATERAL pg_catalog.aclexplode(att.attacl) a
        WHERE c.relnamespace = '@schema@'::regnamespace
          AND c.relname IN ('promotion_candidates', 'promotion_events', 'eligibility_reports', 'governance_events')
          AND a.grantee <> c.relowner
          AND a.privilege_type IN ('INSERT', 'UPDATE', 'REFERENCES')
    LOOP
        EXECUTE pg_catalog.format('REVOKE INSERT, UPDATE, REFERENCES ON @schema@.%I FROM %s', g.relname,
            CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE g.grantee::regrole::text END);
    END LOOP;
END;
$$;

-- ---------------------------------------------------------------------------------------------
-- Separation of duties (issue 25 item 4): the step to accepted is an approver's answer to a
-- researcher's request, and the approver is not a session that created, evaluated or asked for
-- the acceptance of that candidate. On by default; a registry setting only the owner changes.
-- More refusals: CA009 separation of duties, CA010 no open acceptance request.
-- ---------------------------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS @schema@.registry_settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    set_at_utc TEXT NOT NULL,
    set_by TEXT NOT NULL,
    CONSTRAINT registry_settings_separation_of_duties_check
        CHECK (name <> 'separation_of_duties' OR value IN ('on', 'off'))
);
INSERT INTO @schema@.registry_settings (name, value, set_at_utc, set_by)
VALUES ('separation_of_duties', 'on', @schema@.registry_now(), session_user)
ON CONFLICT (name) DO NOTHING;
REVOKE ALL ON @schema@.registry_settings FROM PUBLIC;

-- A setting's value (NULL when unset), for every role: readers may see how the registry is run.
CREATE OR REPLACE FUNCTION @schema@.registry_setting(p_name text) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT value FROM @schema@.registry_settings WHERE name = p_name
$$;
GRANT EXECUTE ON FUNCTION @schema@.registry_setting(text) TO PUBLIC;

-- Whether duties are separated for this session: the setting is on (or missing) and the login is
-- not a superuser (a superuser can rewrite these functions, so no rule binds it).
CREATE OR REPLACE FUNCTION @schema@.registry_duties_separated() RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(@schema@.registry_setting('separation_of_duties'), 'on') = 'on'
       AND NOT coalesce((SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = session_user), false)
$$;

-- The report and rung checks of a step, without who: a PASSED report of that level computed for
-- this candidate (locked FOR SHARE), one rung (candidate from exploratory, accepted from
-- candidate).
CREATE OR REPLACE FUNCTION @schema@.registry_check_report_step(
    p_candidate_id text, p_old text, p_level text, p_report_id text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r record;
BEGIN
    SELECT candidate_id, level, passed INTO r FROM @schema@.eligibility_reports
    WHERE eligibility_report_id = p_report_id FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'CA003', DETAIL = 'null',
            MESSAGE = 'eligibility report not found: ' || p_report_id;
    END IF;
    IF r.candidate_id IS DISTINCT FROM p_candidate_id OR r.passed IS DISTINCT FROM 1 OR r.level IS DISTINCT FROM p_level THEN
        RAISE EXCEPTION USING ERRCODE = 'CA003',
            DETAIL = pg_catalog.json_build_object('candidate_id', r.candidate_id, 'level', r.level, 'passed', r.passed = 1)::text,
            MESSAGE = 'eligibility report ' || p_report_id || ' cannot promote candidate ' || p_candidate_id || ' to ' || p_level;
    END IF;
    IF NOT ((p_level = 'candidate' AND p_old = 'exploratory') OR (p_level = 'accepted' AND p_old = 'candidate')) THEN
        RAISE EXCEPTION USING ERRCODE = 'CA004', DETAIL = p_old,
            MESSAGE = 'one rung per change: ' || p_level || ' only from '
                || CASE p_level WHEN 'candidate' THEN 'exploratory' ELSE 'candidate' END
                || ', and candidate ' || p_candidate_id || ' is ' || p_old;
    END IF;
END;
$$;

-- A direct step (registry_promote, registry_record_evaluation): the checks above, an approver
-- for accepted, and with duties separated no direct step to accepted at all.
CREATE OR REPLACE FUNCTION @schema@.registry_check_step(
    p_candidate_id text, p_old text, p_level text, p_report_id text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM @schema@.registry_check_report_step(p_candidate_id, p_old, p_level, p_report_id);
    IF p_level = 'accepted' THEN
        PERFORM @schema@.registry_require_approver('the step to accepted');
        IF @schema@.registry_duties_separated() THEN
            RAISE EXCEPTION USING ERRCODE = 'CA009',
                MESSAGE = 'separation of duties is on: candidate ' || p_candidate_id
                    || ' is accepted by an approver answering a request (request_acceptance, then approve_acceptance)';
        END IF;
    END IF;
END;
$$;

-- The open acceptance request of a candidate: the last request, approval or rejection event, if
-- it is a request (its event_id and report), else no row.
CREATE OR REPLACE FUNCTION @schema@.registry_open_request(p_candidate_id text)
RETURNS TABLE (event_id bigint, eligibility_report_id text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT e.event_id, (e.payload_json::jsonb) ->> 'eligibility_report_id'
    FROM (SELECT event_id, event_type, payload_json FROM @schema@.promotion_events
          WHERE candidate_id = p_candidate_id
            AND event_type IN ('acceptance_requested', 'acceptance_approved', 'acceptance_rejected')
          ORDER BY event_id DESC LIMIT 1) e
    WHERE e.event_type = 'acceptance_requested'
$$;

-- The payload of the acceptance events (canonical JSON: sorted keys, NULL / '' left out).
CREATE OR REPLACE FUNCTION @schema@.registry_acceptance_payload(
    p_report text, p_reason text, p_request bigint) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT '{' || pg_catalog.array_to_string(ARRAY[
        CASE WHEN p_report IS NULL THEN NULL
             ELSE '"eligibility_report_id":' || @schema@.registry_json_str(p_report) END,
        CASE WHEN p_reason IS NULL OR p_reason = '' THEN NULL
             ELSE '"reason":' || @schema@.registry_json_str(p_reason) END,
        CASE WHEN p_request IS NULL THEN NULL ELSE '"request_event_id":' || p_request::text END], ',')
    || '}'
$$;

-- A researcher asks for the step to accepted on a PASSED accepted-level report of this
-- candidate; the candidate is at candidate and has no open request, and no earlier rejection
-- named that report.
CREATE OR REPLACE FUNCTION @schema@.registry_request_acceptance(
    p_candidate_id text, p_report_id text, p_reason text) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_old text;
    v_open bigint;
    v_event bigint;
BEGIN
    v_old := @schema@.registry_lock_candidate(p_candidate_id);
    PERFORM @schema@.registry_check_report_step(p_candidate_id, v_old, 'accepted', p_report_id);
    IF EXISTS (SELECT 1 FROM @schema@.promotion_events
               WHERE candidate_id = p_candidate_id AND event_type = 'acceptance_rejected'
                 AND (payload_json::jsonb) ->> 'eligibility_report_id' = p_report_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'CA007',
            MESSAGE = 'eligibility report ' || p_report_id || ' was turned down by a rejected acceptance request of '
                || 'candidate ' || p_candidate_id || '; a new request needs a new evaluation';
    END IF;
    SELECT o.event_id INTO v_open FROM @schema@.registry_open_request(p_candidate_id) o;
    IF v_open IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'CA007',
            MESSAGE = 'candidate ' || p_candidate_id || ' already has an open acceptance request (event ' || v_open || ')';
    END IF;
    INSERT INTO @schema@.promotion_events (candidate_id, ts_utc, event_type, payload_json)
    VALUES (p_candidate_id, @schema@.registry_now(), 'acceptance_requested',
            @schema@.registry_acceptance_payload(p_report_id, p_reason, NULL))
    RETURNING event_id INTO v_event;
    RETURN v_event;
END;
$$;

-- An approver takes the requested step: one rung on the requested report, with its
-- status_change event and an acceptance_approved event. With duties separated the approver is
-- not a login that created, evaluated, changed the status of or requested the acceptance of this
-- candidate, nor the author of the requested report.
CREATE OR REPLACE FUNCTION @schema@.registry_approve_acceptance(p_candidate_id text, p_reason text)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_old text;
    v_ts text := @schema@.registry_now();
    v_req record;
    v_event bigint;
BEGIN
    v_old := @schema@.registry_lock_candidate(p_candidate_id);
    PERFORM @schema@.registry_require_approver('approving an acceptance');
    SELECT o.event_id, o.eligibility_report_id INTO v_req FROM @schema@.registry_open_request(p_candidate_id) o;
    IF v_req.event_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'CA010',
            MESSAGE = 'candidate ' || p_candidate_id || ' has no open acceptance request (request_acceptance first)';
    END IF;
    IF @schema@.registry_duties_separated() AND (EXISTS (
        SELECT 1 FROM @schema@.promotion_events
        WHERE candidate_id = p_candidate_id AND actor = session_user
          AND event_type IN ('created', 'evaluated', 'status_change', 'acceptance_requested'))
       OR EXISTS (
        SELECT 1 FROM @schema@.eligibility_reports
        WHERE eligibility_report_id = v_req.eligibility_report_id AND author = session_user)) THEN
        RAISE EXCEPTION USING ERRCODE = 'CA009',
            MESSAGE = 'separation of duties is on: ' || session_user || ' created, evaluated, changed the status of '
                || 'or requested the acceptance of candidate ' || p_candidate_id || ', or wrote the requested report '
                || v_req.eligibility_report_id || ', so another approver approves it';
    END IF;
    -- Rows written before version 14 have no actor: who took those steps is unknown, so no
    -- approver can show he took none of them.
    IF @schema@.registry_duties_separated() AND EXISTS (
        SELECT 1 FROM @schema@.promotion_events
        WHERE candidate_id = p_candidate_id AND actor IS NULL
          AND event_type IN ('created', 'evaluated', 'status_change')) THEN
        RAISE EXCEPTION USING ERRCODE = 'CA009',
            MESSAGE = 'separation of duties is on: candidate ' || p_candidate_id || ' has created, evaluated or '
                || 'status_change events without an actor (its history predates the registry''s identities, '
                || 'version 14), so no approver can be told apart from who took those steps; the registry''s '
                || 'owner answers this request';
    END IF;
    PERFORM @schema@.registry_check_report_step(p_candidate_id, v_old, 'accepted', v_req.eligibility_report_id);
    UPDATE @schema@.promotion_candidates SET status = 'accepted', eligibility_report_id = v_req.eligibility_report_id
    WHERE candidate_id = p_candidate_id;
    INSERT INTO @schema@.promotion_events (candidate_id, ts_utc, event_type, payload_json)
    VALUES (p_candidate_id, v_ts, 'status_change',
            @schema@.registry_status_change_payload(v_old, 'accepted', v_ts, v_req.eligibility_report_id, p_reason));
    INSERT INTO @schema@.promotion_events (candidate_id, ts_utc, event_type, payload_json)
    VALUES (p_candidate_id, v_ts, 'acceptance_approved',
            @schema@.registry_acceptance_payload(v_req.eligibility_report_id, p_reason, v_req.event_id))
    RETURNING event_id INTO v_event;
    RETURN v_event;
END;
$$;

-- An approver turns the request down with a reason: the candidate becomes rejected (the
-- workflow's status for a candidate turned down), with its status_change event and an
-- acceptance_rejected event.
CREATE OR REPLACE FUNCTION @schema@.registry_reject_acceptance(p_candidate_id text, p_reason text)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_old text;
    v_ts text := @schema@.registry_now();
    v_req record;
    v_event bigint;
BEGIN
    IF p_reason IS NULL OR pg_catalog.btrim(p_reason) = '' THEN
        RAISE EXCEPTION USING ERRCODE = 'CA007', MESSAGE = 'rejecting an acceptance request needs a reason';
    END IF;
    v_old := @schema@.registry_lock_candidate(p_candidate_id);
    PERFORM @schema@.registry_require_approver('rejecting an acceptance');
    SELECT o.event_id, o.eligibility_report_id INTO v_req FROM @schema@.registry_open_request(p_candidate_id) o;
    IF v_req.event_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'CA010',
            MESSAGE = 'candidate ' || p_candidate_id || ' has no open acceptance request (request_acceptance first)';
    END IF;
    UPDATE @schema@.promotion_candidates SET status = 'rejected' WHERE candidate_id = p_candidate_id;
    INSERT INTO @schema@.promotion_events (candidate_id, ts_utc, event_type, payload_json)
    VALUES (p_candidate_id, v_ts, 'status_change',
            @schema@.registry_status_change_payload(v_old, 'rejected', v_ts, NULL, p_reason));
    INSERT INTO @schema@.promotion_events (candidate_id, ts_utc, event_type, payload_json)
    VALUES (p_candidate_id, v_ts, 'acceptance_rejected',
            @schema@.registry_acceptance_payload(v_req.eligibility_report_id, p_reason, v_req.event_id))
    RETURNING event_id INTO v_event;
    RETURN v_event;
END;
$$;

-- One evaluation, written at once: refuse unless the candidate is still at p_expected_status
-- (NULL: not checked); store the report (JSON object of an eligibility_reports row); move to
-- p_new_status (candidate/accepted: one rung on that report, with its status_change event;
-- NULL: no change); append the `evaluated` event (always). Returns that event's id. With duties
-- separated, an evaluation at target accepted by anyone (researcher or approver) stores its
-- report and asks for the step instead of taking it.
CREATE OR REPLACE FUNCTION @schema@.registry_record_evaluation(
    p_candidate_id text, p_expected_status text, p_new_status text, p_report text, p_reason text,
    p_evaluated boolean, p_payload text) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_old text;
    v_ts text := @schema@.registry_now();
    r jsonb;
    v_report text;
    v_event bigint;
    v_open bigint;
BEGIN
    v_old := @schema@.registry_lock_candidate(p_candidate_id);
    IF p_expected_status IS NOT NULL AND v_old IS DISTINCT FROM p_expected_status THEN
        RAISE EXCEPTION USING ERRCODE = 'CA002', DETAIL = v_old,
            MESSAGE = 'candidate ' || p_candidate_id || ' changed status from ' || p_expected_status
                || ' to ' || v_old || ' while it was evaluated; evaluate again';
    END IF;
    IF p_report IS NOT NULL THEN
        r := p_report::jsonb;
        v_report := r ->> 'eligibility_report_id';
        IF r ->> 'candidate_id' IS DISTINCT FROM p_candidate_id THEN
            RAISE EXCEPTION USING ERRCODE = 'CA007',
                MESSAGE = 'eligibility report ' || coalesce(v_report, 'NULL') || ' was computed for another candidate';
        END IF;
        INSERT INTO @schema@.eligibility_reports (eligibility_report_id, candidate_id, level, passed, blockers_json,
            warnings_json, computed_at_utc, run_key, run_instance_id, dataset_id_v2, engine_version, config_version)
        VALUES (v_report, p_candidate_id, r ->> 'level', (r ->> 'passed')::integer, r ->> 'blockers_json',
            r ->> 'warnings_json', r ->> 'computed_at_utc', r ->> 'run_key', r ->> 'run_instance_id',
            r ->> 'dataset_id_v2', r ->> 'engine_version', r ->> 'config_version')
        ON CONFLICT DO NOTHING;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'CA006', MESSAGE = 'eligibility_report_id already exists: ' || v_report;
        END IF;
    END IF;
    IF p_new_status = 'accepted' AND v_report IS NOT NULL AND @schema@.registry_duties_separated() THEN
        -- Duties separated: the evaluation's passed accepted-level report becomes a request for
        -- an approver (unless one is open already); the status stays.
        PERFORM @schema@.registry_check_report_step(p_candidate_id, v_old, 'accepted', v_report);
        SELECT o.event_id INTO v_open FROM @schema@.registry_open_request(p_candidate_id) o;
        IF v_open IS NULL THEN
            INSERT INTO @schema@.promotion_events (candidate_id, ts_utc, event_type, payload_json)
            VALUES (p_candidate_id, v_ts, 'acceptance_requested',
                    @schema@.registry_acceptance_payload(v_report, p_reason, NULL));
        END IF;
    ELSIF p_new_status IN ('candidate', 'accepted') THEN
        IF v_report IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'CA005',
                MESSAGE = 'eligibility_report_id required for candidate/accepted; use promote_to_candidate/promote_to_accepted';
        END IF;
        PERFORM @schema@.registry_check_step(p_candidate_id, v_old, p_new_status, v_report);
        UPDATE @schema@.promotion_candidates SET status = p_new_status, eligibility_report_id = v_report
        WHERE candidate_id = p_candidate_id;
        INSERT INTO @schema@.promotion_events (candidate_id, ts_utc, event_type, payload_json)
        VALUES (p_candidate_id, v_ts, 'status_change',
                @schema@.registry_status_change_payload(v_old, p_new_status, v_ts, v_report, p_reason));
    ELSIF p_new_status IS NOT NULL THEN
        IF p_new_status NOT IN ('exploratory', 'rejected') THEN
            RAISE EXCEPTION USING ERRCODE = 'CA007', MESSAGE = 'unknown status: ' || p_new_status;
        END IF;
        PERFORM @schema@.registry_check_leaving(p_candidate_id, v_old, p_new_status);
        UPDATE @schema@.promotion_candidates SET status = p_new_status WHERE candidate_id = p_candidate_id;
    END IF;
    -- Every evaluation leaves its `evaluated` event, whatever p_evaluated says (kept in the
    -- signature for the package's calls): an evaluation without one would hide its author from
    -- the separation of duties.
    INSERT INTO @schema@.promotion_events (candidate_id, ts_utc, event_type, payload_json)
    VALUES (p_candidate_id, v_ts, 'evaluated', p_payload)
    RETURNING event_id INTO v_event;
    RETURN v_event;
END;
$$;

-- Any other event of an existing candidate: the event types the functions above write
-- (created, status_change, evaluated and the acceptance events) are theirs alone.
CREATE OR REPLACE FUNCTION @schema@.registry_record_event(p_candidate_id text, p_event_type text, p_payload text)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_event bigint;
BEGIN
    IF p_event_type IS NULL OR p_event_type = '' THEN
        RAISE EXCEPTION USING ERRCODE = 'CA007', MESSAGE = 'event_type must be a non-empty string';
    END IF;
    IF p_event_type IN ('created', 'status_change', 'evaluated', 'acceptance_requested', 'acceptance_approved',
                        'acceptance_rejected') THEN
        RAISE EXCEPTION USING ERRCODE = 'CA007',
            MESSAGE = 'event_type ' || p_event_type || ' is written by the registry itself (create, status changes, '
                || 'evaluations, acceptance requests and answers)';
    END IF;
    PERFORM 1 FROM @schema@.promotion_candidates WHERE candidate_id = p_candidate_id FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'CA001', MESSAGE = 'candidate_id not found: ' || p_candidate_id;
    END IF;
    INSERT INTO @schema@.promotion_events (candidate_id, ts_utc, event_type, payload_json)
    VALUES (p_candidate_id, @schema@.registry_now(), p_event_type, p_payload)
    RETURNING event_id INTO v_event;
    RETURN v_event;
END;
$$;

-- As for the write functions above: nobody but the owner calls these until `roles` grants EXECUTE.
REVOKE ALL ON FUNCTION
    @schema@.registry_check_step(text, text, text, text),
    @schema@.registry_record_evaluation(text, text, text, text, text, boolean, text),
    @schema@.registry_record_event(text, text, text),
    @schema@.registry_request_acceptance(text, text, text),
    @schema@.registry_approve_acceptance(text, text),
    @schema@.registry_reject_acceptance(text, text),
    @schema@.registry_check_report_step(text, text, text, text),
    @schema@.registry_open_request(text)
FROM PUBLIC;
