//! The Phase 3 migrations: ONE version list ([`VERSIONS`]: each version's name and its SQL in
//! each dialect, `migrations/sqlite/` and `migrations/postgresql/`); `store::run_migrations` and
//! its siblings run them on whichever backend a target names. Each dialect's runner (`sqlite::migrate`,
//! `postgres::migrate`) applies the list its own way: SQLite copies the file aside and restores
//! it on failure, PostgreSQL runs each version as one transaction under an advisory lock.

/// One migration: its version, its name (`2026_02_<table>`) and its SQL.
#[derive(Debug, Clone, PartialEq)]
pub struct Migration {
    /// The version recorded in `schema_migrations_phase3`.
    pub version: i64,
    /// The name recorded with it (the analyzer's).
    pub name: String,
    /// The SQL that creates it.
    pub sql: String,
}

/// One version of the list: the same version and name on every dialect, one SQL text each.
#[derive(Debug, Clone, Copy)]
pub struct Version {
    /// The version recorded in `schema_migrations_phase3`.
    pub version: i64,
    /// The name recorded with it (the analyzer's, c79684b).
    pub name: &'static str,
    /// The SQLite text (`migrations/sqlite/`).
    pub sqlite: &'static str,
    /// The PostgreSQL text (`migrations/postgresql/`).
    pub postgresql: &'static str,
}

/// The Phase 3 migrations, in order.
pub const VERSIONS: [Version; 14] = [
    Version {
        version: 1,
        name: "2026_02_schema_migrations_phase3",
        sqlite: include_str!("../../migrations/sqlite/001_schema_migrations_phase3.sql"),
        postgresql: include_str!("../../migrations/postgresql/001_schema_migrations_phase3.sql"),
    },
    Version {
        version: 2,
        name: "2026_02_regime_runs",
        sqlite: include_str!("../../migrations/sqlite/002_regime_runs.sql"),
        postgresql: include_str!("../../migrations/postgresql/002_regime_runs.sql"),
    },
    Version {
        version: 3,
        name: "2026_02_regime_states",
        sqlite: include_str!("../../migrations/sqlite/003_regime_states.sql"),
        postgresql: include_str!("../../migrations/postgresql/003_regime_states.sql"),
    },
    Version {
        version: 4,
        name: "2026_02_promotion_candidates",
        sqlite: include_str!("../../migrations/sqlite/004_promotion_candidates.sql"),
        postgresql: include_str!("../../migrations/postgresql/004_promotion_candidates.sql"),
    },
    Version {
        version: 5,
        name: "2026_02_promotion_events",
        sqlite: include_str!("../../migrations/sqlite/005_promotion_events.sql"),
        postgresql: include_str!("../../migrations/postgresql/005_promotion_events.sql"),
    },
    Version {
        version: 6,
        name: "2026_02_sweep_families",
        sqlite: include_str!("../../migrations/sqlite/006_sweep_families.sql"),
        postgresql: include_str!("../../migrations/postgresql/006_sweep_families.sql"),
    },
    Version {
        version: 7,
        name: "2026_02_sweep_hypotheses",
        sqlite: include_str!("../../migrations/sqlite/007_sweep_hypotheses.sql"),
        postgresql: include_str!("../../migrations/postgresql/007_sweep_hypotheses.sql"),
    },
    Version {
        version: 8,
        name: "2026_02_eligibility_reports",
        sqlite: include_str!("../../migrations/sqlite/008_eligibility_reports.sql"),
        postgresql: include_str!("../../migrations/postgresql/008_eligibility_reports.sql"),
    },
    Version {
        version: 9,
        name: "2026_02_promotion_eligibility_trigger",
        sqlite: include_str!("../../migrations/sqlite/009_promotion_eligibility_trigger.sql"),
        postgresql: include_str!("../../migrations/postgresql/009_promotion_eligibility_trigger.sql"),
    },
    Version {
        version: 10,
        name: "2026_02_eligibility_reports_immutability",
        sqlite: include_str!("../../migrations/sqlite/010_eligibility_reports_immutability.sql"),
        postgresql: include_str!("../../migrations/postgresql/010_eligibility_reports_immutability.sql"),
    },
    Version {
        version: 11,
        name: "2026_02_governance_events",
        sqlite: include_str!("../../migrations/sqlite/011_governance_events.sql"),
        postgresql: include_str!("../../migrations/postgresql/011_governance_events.sql"),
    },
    Version {
        version: 12,
        name: "2026_02_artifact_lineage",
        sqlite: include_str!("../../migrations/sqlite/012_artifact_lineage.sql"),
        postgresql: include_str!("../../migrations/postgresql/012_artifact_lineage.sql"),
    },
    Version {
        version: 13,
        name: "2026_02_artifact_edges",
        sqlite: include_str!("../../migrations/sqlite/013_artifact_edges.sql"),
        postgresql: include_str!("../../migrations/postgresql/013_artifact_edges.sql"),
    },
    Version {
        version: 14,
        name: "2026_03_registry_rules",
        sqlite: include_str!("../../migrations/sqlite/014_registry_rules.sql"),
        postgresql: include_str!("../../migrations/postgresql/014_registry_rules.sql"),
    },
];

/// Which dialect's text of the list a runner applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `migrations/sqlite/`.
    Sqlite,
    /// `migrations/postgresql/`.
    Postgresql,
}

impl Version {
    /// This version's SQL in `dialect`.
    pub fn sql(&self, dialect: Dialect) -> &'static str {
        match dialect {
            Dialect::Sqlite => self.sqlite,
            Dialect::Postgresql => self.postgresql,
        }
    }
}

/// The list in `dialect`, as owned values (a runner appends the caller's extra versions).
pub fn migrations(dialect: Dialect) -> Vec<Migration> {
    VERSIONS
        .iter()
        .map(|v| Migration { version: v.version, name: v.name.to_string(), sql: v.sql(dialect).to_string() })
        .collect()
}

/// The name of version 5, which creates `promotion_events`: its append-only guards (each
/// dialect's own trigger text) run with it.
const EVENTS_VERSION_NAME: &str = "2026_02_promotion_events";

/// The name of version 14, which rewrites every trigger function with a pinned search_path: the
/// guards run again after it.
const RULES_VERSION_NAME: &str = "2026_03_registry_rules";

/// What a runner executes for `m`: its SQL, followed by `events_guards` (the dialect's
/// append-only triggers of `promotion_events`) when `m` is version 5 or 14 of the list.
pub fn sql_to_run(m: &Migration, events_guards: &str) -> String {
    if (m.version == 5 && m.name == EVENTS_VERSION_NAME) || (m.version == 14 && m.name == RULES_VERSION_NAME) {
        format!("{}\n{}", m.sql, events_guards)
    } else {
        m.sql.clone()
    }
}

/// The SQL of one version of the list in `dialect`, with `events_guards` for version 5 (what
/// `apply_migration_sql` executes); None for a version the list does not have.
pub fn version_sql(dialect: Dialect, version: i64, events_guards: &str) -> Option<String> {
    let mut sql = VERSIONS.iter().find(|v| v.version == version)?.sql(dialect).to_string();
    if version == 5 || version == 14 {
        sql.push('\n');
        sql.push_str(events_guards);
    }
    Some(sql)
}

/// The commit of the code running the migration: env `CRYPTO_ANALYZER_GIT_COMMIT`, else
/// `git rev-parse HEAD` in the current folder, else "unknown".
pub fn current_git_commit() -> String {
    if let Ok(c) = std::env::var("CRYPTO_ANALYZER_GIT_COMMIT") {
        if !c.trim().is_empty() {
            return c.trim().to_string();
        }
    }
    std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}
