//! Reaching a PostgreSQL server: the URL (and the standard PG* environment variables), the
//! connection, and the mapping of the client's errors onto the core [`Error`].
//!
//! Nothing here ever puts a password into an error message: the URL is only shown redacted
//! (`postgresql://user:***@host/db`), and every message built from a client error is scrubbed of
//! the password (raw and percent-decoded) before it leaves this module.

use std::str::FromStr;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::{Client, Config, NoTls};

use crate::error::Error;
use crate::store::rules::PROMOTION_TABLES_REQUIRED_MSG;

/// Seconds to wait for the server when connecting (env `PGCONNECT_TIMEOUT` or `connect_timeout`
/// in the URL override it).
pub const CONNECT_TIMEOUT_S: u64 = 10;

/// True when `target` names a PostgreSQL database (`postgresql://` or `postgres://`).
pub fn is_postgres_url(target: &str) -> bool {
    let lower = target.trim_start().to_ascii_lowercase();
    lower.starts_with("postgresql://") || lower.starts_with("postgres://")
}

/// Where to connect, with the secret kept apart so that messages never contain it.
pub struct PgTarget {
    config: Config,
    /// The URL with any password replaced by `***` (safe to print).
    redacted: String,
    /// Strings that must never appear in a message (the password as given and decoded).
    secrets: Vec<String>,
}

impl std::fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTarget").field("url", &self.redacted).finish()
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The URL with the password part of `user:password@` replaced by `***`; the password as
/// written (None when there is none).
fn split_password(url: &str) -> (String, Option<String>) {
    let Some(scheme_end) = url.find("://") else {
        return (url.to_string(), None);
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return (url.to_string(), None);
    };
    let userinfo = &authority[..at];
    let Some(colon) = userinfo.find(':') else {
        return (url.to_string(), None);
    };
    let password = &userinfo[colon + 1..];
    let redacted = format!("{}://{}:***{}", &url[..scheme_end], &userinfo[..colon], &rest[at..]);
    (redacted, Some(password.to_string()))
}

/// Remove query parameters that carry a password (`password=...`) from a printable URL.
fn redact_query(url: &str) -> (String, Vec<String>) {
    let Some(q) = url.find('?') else {
        return (url.to_string(), Vec::new());
    };
    let mut secrets = Vec::new();
    let params: Vec<String> = url[q + 1..]
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if k.eq_ignore_ascii_case("password") => {
                secrets.push(v.to_string());
                format!("{k}=***")
            }
            _ => kv.to_string(),
        })
        .collect();
    (format!("{}?{}", &url[..q], params.join("&")), secrets)
}

impl PgTarget {
    /// Parse a `postgresql://` URL; missing parts come from PGHOST, PGPORT, PGUSER, PGPASSWORD,
    /// PGDATABASE, PGCONNECT_TIMEOUT and PGAPPNAME (as libpq does), the user finally from the OS
    /// login name. A malformed URL is [`Error::InvalidInput`] (password never shown).
    pub fn parse(url: &str) -> Result<PgTarget, Error> {
        let url = url.trim();
        let (redacted, userinfo_pw) = split_password(url);
        let (redacted, query_pws) = redact_query(&redacted);
        let mut secrets: Vec<String> = Vec::new();
        for pw in userinfo_pw.into_iter().chain(query_pws) {
            if !pw.is_empty() {
                secrets.push(percent_decode(&pw));
                secrets.push(pw);
            }
        }
        if !is_postgres_url(url) {
            return Err(Error::invalid(format!(
                "not a PostgreSQL URL (expected postgresql://user@host:port/dbname): {redacted}"
            )));
        }
        let mut config = Config::from_str(url).map_err(|e| {
            let msg = scrub(&format!("{e}"), &secrets);
            Error::invalid(format!("invalid PostgreSQL URL {redacted}: {msg}"))
        })?;
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if config.get_hosts().is_empty() {
            match env("PGHOST") {
                Some(h) => {
                    for host in h.split(',') {
                        config.host(host);
                    }
                }
                None => {
                    // libpq's default: the Unix socket folder of Debian's packages, else TCP.
                    if std::path::Path::new("/var/run/postgresql").is_dir() {
                        config.host_path("/var/run/postgresql");
                    } else {
                        config.host("localhost");
                    }
                }
            }
        }
        if config.get_ports().is_empty() {
            if let Some(p) = env("PGPORT") {
                let port = p
                    .trim()
                    .parse::<u16>()
                    .map_err(|_| Error::invalid(format!("PGPORT is not a port number: {p:?}")))?;
                config.port(port);
            }
        }
        if config.get_user().is_none() {
            let user = env("PGUSER").or_else(|| env("USER")).or_else(|| env("LOGNAME"));
            match user {
                Some(u) => {
                    config.user(&u);
                }
                None => {
                    return Err(Error::invalid(format!(
                        "no PostgreSQL user: give one in the URL (postgresql://user@host/db) or in PGUSER: {redacted}"
                    )))
                }
            }
        }
        if config.get_password().is_none() {
            if let Some(pw) = env("PGPASSWORD") {
                secrets.push(pw.clone());
                config.password(pw);
            }
        }
        if config.get_dbname().is_none() {
            if let Some(db) = env("PGDATABASE") {
                config.dbname(&db);
            }
        }
        if config.get_application_name().is_none() {
            config.application_name(&env("PGAPPNAME").unwrap_or_else(|| "crypto_analyzer_promotion".into()));
        }
        if config.get_connect_timeout().is_none() {
            let secs = env("PGCONNECT_TIMEOUT")
                .and_then(|s| s.trim().parse::<u64>().ok())
                .filter(|s| *s > 0)
                .unwrap_or(CONNECT_TIMEOUT_S);
            config.connect_timeout(Duration::from_secs(secs));
        }
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Ok(PgTarget { config, redacted, secrets })
    }

    /// The URL with the password replaced by `***`.
    pub fn redacted(&self) -> &str {
        &self.redacted
    }

    /// Open a connection (plain TCP or Unix socket; TLS is not supported yet).
    pub fn connect(&self) -> Result<Client, Error> {
        self.config.connect(NoTls).map_err(|e| self.connect_err(&e))
    }

    /// A connection failure as one clear [`Error::Connect`].
    pub fn connect_err(&self, e: &postgres::Error) -> Error {
        let why = match e.as_db_error() {
            Some(db) => db.message().to_string(),
            None => {
                let mut text = e.to_string();
                let mut src = std::error::Error::source(e);
                while let Some(s) = src {
                    let t = s.to_string();
                    if !text.contains(&t) {
                        text.push_str(": ");
                        text.push_str(&t);
                    }
                    src = s.source();
                }
                text
            }
        };
        let hint = match e.code() {
            Some(c) if *c == SqlState::INVALID_PASSWORD || *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION => {
                " (check the user and the password: URL or PGUSER/PGPASSWORD)"
            }
            Some(c) if *c == SqlState::INVALID_CATALOG_NAME => " (create the database first)",
            _ => "",
        };
        Error::Connect(self.scrub(&format!("could not connect to PostgreSQL at {}: {why}{hint}", self.redacted)))
    }

    /// `text` with every secret replaced by `***`.
    pub fn scrub(&self, text: &str) -> String {
        scrub(text, &self.secrets)
    }
}

fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        if !s.is_empty() {
            out = out.replace(s.as_str(), "***");
        }
    }
    out
}

/// Retry-worthy failures of a transaction: serialization failure (40001) and deadlock (40P01).
pub fn is_retryable(e: &postgres::Error) -> bool {
    matches!(e.code(), Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED)
}

/// Map a client error (after connecting) onto the core error. Missing promotion tables → the
/// analyzer's RuntimeError; a closed connection → [`Error::Connect`]; other server errors →
/// [`Error::Postgres`] with the server's message (a trigger's text verbatim).
pub fn pg_err(target: &PgTarget, e: &postgres::Error) -> Error {
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        if *code == SqlState::UNDEFINED_TABLE
            && (db.message().contains("promotion_candidates") || db.message().contains("promotion_events"))
        {
            return Error::Runtime(PROMOTION_TABLES_REQUIRED_MSG.to_string());
        }
        if *code == SqlState::ADMIN_SHUTDOWN
            || *code == SqlState::CRASH_SHUTDOWN
            || *code == SqlState::CANNOT_CONNECT_NOW
        {
            return Error::Connect(target.scrub(&format!(
                "PostgreSQL at {} closed the connection: {}",
                target.redacted,
                db.message()
            )));
        }
        if is_retryable(e) {
            return Error::Busy {
                waited_ms: 0,
                detail: target.scrub(&format!("PostgreSQL: {} (retries exhausted)", db.message())),
            };
        }
        return Error::Postgres(target.scrub(db.message()));
    }
    if e.is_closed() || e.to_string().starts_with("error communicating") {
        return Error::Connect(target.scrub(&format!("lost the connection to PostgreSQL at {}: {e}", target.redacted)));
    }
    Error::Postgres(target.scrub(&e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_userinfo_and_query_passwords() {
        let (r, pw) = split_password("postgresql://alice:s3cr%40t@db.example:5432/reg?sslmode=disable");
        assert_eq!(r, "postgresql://alice:***@db.example:5432/reg?sslmode=disable");
        assert_eq!(pw.as_deref(), Some("s3cr%40t"));
        assert_eq!(percent_decode("s3cr%40t"), "s3cr@t");
        let (r, s) = redact_query("postgresql://h/db?user=a&password=xyz&port=1");
        assert_eq!(r, "postgresql://h/db?user=a&password=***&port=1");
        assert_eq!(s, vec!["xyz".to_string()]);
        assert!(is_postgres_url("postgres://x"));
        assert!(is_postgres_url("PostgreSQL://x"));
        assert!(!is_postgres_url("/tmp/postgresql://x"));
    }
}
