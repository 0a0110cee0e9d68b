-- The registry's group roles (`crypto-analyzer-promotion roles`; docs/postgresql.md). Idempotent.
-- The runner replaces @schema@ with the registry's schema. Run it as a role that may create
-- roles (CREATEROLE) and owns the registry's tables (or as a superuser), after the migrations.
--
--   reader      reads everything; writes nothing
--   researcher  reader + creates candidates, records events, records evaluations (the only way
--               an eligibility report is written) and promotes exploratory -> candidate
--   approver    researcher's functions + the steps into and out of accepted
--
-- Nobody but the owner writes the governed tables directly (version 14 revoked it); everyone
-- goes through the registry_* functions, which check the rules and stamp who and when.
DO $$
BEGIN
    IF pg_catalog.to_regrole('reader') IS NULL THEN
        CREATE ROLE reader NOLOGIN;
    END IF;
    IF pg_catalog.to_regrole('researcher') IS NULL THEN
        CREATE ROLE researcher NOLOGIN;
    END IF;
    IF pg_catalog.to_regrole('approver') IS NULL THEN
        CREATE ROLE approver NOLOGIN;
    END IF;
END;
$$;

REVOKE CREATE ON SCHEMA @schema@ FROM PUBLIC, reader, researcher, approver;
GRANT USAGE ON SCHEMA @schema@ TO reader, researcher, approver;
REVOKE ALL ON ALL TABLES IN SCHEMA @schema@ FROM reader, researcher, approver;
GRANT SELECT ON ALL TABLES IN SCHEMA @schema@ TO reader, researcher, approver;
-- The identity sequences of the governed tables are advanced by the registry functions, as their
-- owner: nobody else uses, reads or sets them (a stray grant would let a role burn or rewind ids).
REVOKE ALL ON ALL SEQUENCES IN SCHEMA @schema@ FROM PUBLIC, reader, researcher, approver;
-- Tables outside the promotion workflow's governance (the analyzer's regime, sweep and lineage
-- records; lineage stays append-only by its triggers).
GRANT INSERT ON @schema@.regime_runs, @schema@.regime_states, @schema@.sweep_families,
    @schema@.sweep_hypotheses, @schema@.artifact_lineage, @schema@.artifact_edges TO researcher, approver;

GRANT EXECUTE ON FUNCTION
    @schema@.registry_create_candidate(text, text, text, text, text, text, bigint, text, text, text, text, text),
    @schema@.registry_set_status(text, text, text),
    @schema@.registry_promote(text, text, text, text),
    @schema@.registry_record_evaluation(text, text, text, text, text, boolean, text),
    @schema@.registry_record_event(text, text, text),
    @schema@.registry_append_governance_event(text, text, text, text, text, text)
TO researcher, approver;

-- The acceptance flow (separation of duties): researchers ask, approvers answer.
GRANT EXECUTE ON FUNCTION @schema@.registry_request_acceptance(text, text, text) TO researcher, approver;
GRANT EXECUTE ON FUNCTION
    @schema@.registry_approve_acceptance(text, text),
    @schema@.registry_reject_acceptance(text, text)
TO approver;
