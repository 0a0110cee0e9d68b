-- Version 9: promotion_candidates.eligibility_report_id (the runner adds the column first when it
-- is missing) and the triggers refusing status candidate/accepted without a passed report of
-- that level computed for that candidate. The triggers themselves are in governance_guards.sql,
-- which the runner applies after this file and on every run (so databases migrated by the
-- analyzer's own code get the stricter triggers too).
SELECT 1;
