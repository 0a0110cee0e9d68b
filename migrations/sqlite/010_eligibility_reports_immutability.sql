-- Version 10: eligibility reports are immutable evidence. The triggers are in
-- governance_guards.sql (applied after this file and on every run).
SELECT 1;
