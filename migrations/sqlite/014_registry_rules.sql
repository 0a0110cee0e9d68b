-- Version 14 (SQLite): the status of a candidate is one of the four. PostgreSQL's version 14
-- moves every status change into database functions with roles (migrations/postgresql/); a
-- SQLite file has one user, so here it adds only the CHECK on status, written as triggers:
-- adding a CHECK to an existing table would mean rebuilding it, which databases the analyzer
-- created must not need. (The analyzer's API keeps its behaviour on SQLite.)
CREATE TRIGGER IF NOT EXISTS promotion_candidates_status_check_insert
BEFORE INSERT ON promotion_candidates
WHEN NEW.status NOT IN ('exploratory', 'candidate', 'accepted', 'rejected')
BEGIN
    SELECT RAISE(ABORT, 'status must be one of exploratory, candidate, accepted, rejected');
END;
CREATE TRIGGER IF NOT EXISTS promotion_candidates_status_check_update
BEFORE UPDATE OF status ON promotion_candidates
WHEN NEW.status NOT IN ('exploratory', 'candidate', 'accepted', 'rejected')
BEGIN
    SELECT RAISE(ABORT, 'status must be one of exploratory, candidate, accepted, rejected');
END;
