//! The four statuses of a candidate and the rules tied to them, written once: their names, which
//! of them an eligibility report may have (its level), which need one, and the rung an
//! evaluation aims for. The store, the gate, the service and (through the bindings) the CLI and
//! the page all read them from here.

#![warn(missing_docs)]

use std::fmt;

use crate::error::{Error, Result};

/// The status of a promotion candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// Registered, not (yet) promoted: where a candidate starts by default; its next rung is
    /// candidate.
    Exploratory,
    /// Promoted once: passed the gate with a passed eligibility report of level candidate.
    Candidate,
    /// Promoted to the top: a passed eligibility report of level accepted.
    Accepted,
    /// Turned down by an evaluation or by hand; an evaluation from here aims at accepted.
    Rejected,
}

/// Every status name, in the workflow's order.
pub const NAMES: [&str; 4] =
    [Status::Exploratory.as_str(), Status::Candidate.as_str(), Status::Accepted.as_str(), Status::Rejected.as_str()];

/// The levels an eligibility report may have: every status but rejected.
pub const LEVEL_NAMES: [&str; 3] =
    [Status::Exploratory.as_str(), Status::Candidate.as_str(), Status::Accepted.as_str()];

impl Status {
    /// Every status, in the workflow's order.
    pub const ALL: [Status; 4] = [Status::Exploratory, Status::Candidate, Status::Accepted, Status::Rejected];

    /// The name stored in the database and used on every interface.
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Exploratory => "exploratory",
            Status::Candidate => "candidate",
            Status::Accepted => "accepted",
            Status::Rejected => "rejected",
        }
    }

    /// The status with this exact name (case matters: "Accepted" is not one).
    pub fn from_name(name: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Parse the argument `what` (e.g. "status", "target_status"); an unknown name is
    /// [`Error::InvalidInput`] naming the four.
    pub fn parse(what: &str, name: &str) -> Result<Status> {
        Status::from_name(name)
            .ok_or_else(|| Error::invalid(format!("unknown {what} {name:?}: must be one of {}", NAMES.join(", "))))
    }

    /// Parse an eligibility level (any status but rejected); anything else is
    /// [`Error::InvalidInput`] naming the three.
    pub fn parse_level(name: &str) -> Result<Status> {
        Status::from_name(name).filter(|s| s.is_level()).ok_or_else(|| {
            Error::invalid(format!("unknown eligibility level {name:?}: must be one of {}", LEVEL_NAMES.join(", ")))
        })
    }

    /// Whether an eligibility report may have this level.
    pub const fn is_level(self) -> bool {
        !matches!(self, Status::Rejected)
    }

    /// Candidate and accepted: reaching them takes a passed eligibility report at that level, and
    /// the gate checks execution evidence for a move to them.
    pub const fn needs_eligibility(self) -> bool {
        matches!(self, Status::Candidate | Status::Accepted)
    }

    /// The status an evaluation aims for from this one (the analyzer's CLI and page): candidate
    /// from exploratory, accepted from anything else.
    pub const fn next_rung(self) -> Status {
        match self {
            Status::Exploratory => Status::Candidate,
            _ => Status::Accepted,
        }
    }

    /// The target of an evaluation of a candidate whose stored status is `current` (surrounding
    /// blanks ignored): none or empty counts as exploratory; anything that is not a status counts
    /// as past exploratory (accepted), as in the analyzer.
    pub fn evaluation_target(current: Option<&str>) -> Status {
        let current = match current {
            None | Some("") => Status::Exploratory.as_str(),
            Some(s) => s.trim(),
        };
        Status::from_name(current).map_or(Status::Accepted, Status::next_rung)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Status {
    type Err = Error;

    fn from_str(s: &str) -> Result<Status> {
        Status::parse("status", s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_case_matters() {
        for s in Status::ALL {
            assert_eq!(Status::from_name(s.as_str()), Some(s));
        }
        assert_eq!(Status::from_name("Accepted"), None);
        let e = Status::parse("target_status", "Accepted").unwrap_err().to_string();
        assert!(
            e.contains("unknown target_status \"Accepted\": must be one of exploratory, candidate, accepted, rejected")
        );
        let e = Status::parse_level("rejected").unwrap_err().to_string();
        assert!(e.contains("unknown eligibility level \"rejected\": must be one of exploratory, candidate, accepted"));
    }

    #[test]
    fn evaluation_target_is_the_next_rung() {
        assert_eq!(Status::evaluation_target(None), Status::Candidate);
        assert_eq!(Status::evaluation_target(Some(" exploratory ")), Status::Candidate);
        assert_eq!(Status::evaluation_target(Some("")), Status::Candidate);
        assert_eq!(Status::evaluation_target(Some("  ")), Status::Accepted);
        assert_eq!(Status::evaluation_target(Some("candidate")), Status::Accepted);
        assert_eq!(Status::evaluation_target(Some("rejected")), Status::Accepted);
        assert_eq!(Status::evaluation_target(Some("weird")), Status::Accepted);
    }
}
