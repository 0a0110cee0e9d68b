//! Reaching a PostgreSQL server: the URL (and the standard PG* environment variables), the
//! connection, and the mapping of the client's errors onto the core [`Error`].
//!
//! Nothing here ever puts a password into an error message: the URL is only shown redacted
//! (`postgresql://user:***@host/db`), and every message built from a client error is scrubbed of
//! the password (raw and percent-decoded) before it leaves this module.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use postgres::config::{Host, SslMode as CrateSslMode, SslNegotiation};
use postgres::error::SqlState;
use postgres::{Client, Config};

use crate::error::Error;
use crate::store::postgres::pgfiles::{self, PassLookup};
use crate::store::postgres::tls::{self, SslMode};
use crate::store::postgres::transport::{Tls, Transport};
use crate::store::rules::PROMOTION_TABLES_REQUIRED_MSG;

/// Seconds to wait for the server when connecting, TCP connect and login together (env
/// `PGCONNECT_TIMEOUT` or `connect_timeout` in the URL override it).
pub const CONNECT_TIMEOUT_S: u64 = 10;

/// The session's `lock_timeout` unless the server already sets one for it (env
/// `CRYPTO_ANALYZER_PG_LOCK_TIMEOUT`, any value PostgreSQL accepts: `5s`, `500ms`, `0` = off).
pub const LOCK_TIMEOUT: &str = "10s";

/// The session's `statement_timeout` unless the server already sets one for it (env
/// `CRYPTO_ANALYZER_PG_STATEMENT_TIMEOUT`).
pub const STATEMENT_TIMEOUT: &str = "60s";

/// The client gives up on a server that sends nothing for the session's `statement_timeout`
/// plus this margin while it waits for an answer (a frozen server cannot cancel its own
/// statement).
pub const RESPONSE_MARGIN_MS: u64 = 5_000;

/// TCP keepalives (unless the URL sets them): first probe after this many idle seconds, then
/// every [`KEEPALIVE_INTERVAL_S`], [`KEEPALIVE_RETRIES`] unanswered probes end the connection;
/// unacknowledged data ends it after [`TCP_USER_TIMEOUT_S`] (Linux).
pub const KEEPALIVE_IDLE_S: u64 = 30;
/// See [`KEEPALIVE_IDLE_S`].
pub const KEEPALIVE_INTERVAL_S: u64 = 10;
/// See [`KEEPALIVE_IDLE_S`].
pub const KEEPALIVE_RETRIES: u32 = 3;
/// See [`KEEPALIVE_IDLE_S`].
pub const TCP_USER_TIMEOUT_S: u64 = 60;

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
    /// libpq's sslmode as resolved, and the TLS it asks for.
    ssl_mode: SslMode,
    tls: Tls,
    /// Why the password file was not used (named in connection errors; None: used or absent).
    passfile_note: Option<String>,
    /// The session's lock_timeout and statement_timeout as last read back (ms, 0: none).
    lock_ms: AtomicU64,
    statement_ms: AtomicU64,
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

/// Every piece of the URL's text that may be a password as written, raw and percent-decoded:
/// after the userinfo's first ':' up to the first '@' anywhere (how the `postgres` crate reads
/// it) and up to the authority's last '@' (how libpq reads it), and each `password=` value of
/// the query. Only for scrubbing messages: no message ever contains the URL's text itself.
fn raw_secrets(url: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    if let Some(scheme_end) = url.find("://") {
        let rest = &url[scheme_end + 3..];
        let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
        let userinfos = [rest.find('@').map(|at| &rest[..at]), authority.rfind('@').map(|at| &authority[..at])];
        for userinfo in userinfos.into_iter().flatten() {
            if let Some((_, pw)) = userinfo.split_once(':') {
                found.push(pw.to_string());
            }
        }
    }
    if let Some((_, query)) = url.split_once('?') {
        for kv in query.split('&') {
            if let Some((k, v)) = kv.split_once('=') {
                if percent_decode(k).trim().eq_ignore_ascii_case("password") {
                    found.push(v.to_string());
                }
            }
        }
    }
    let mut out = Vec::new();
    for pw in found.into_iter().filter(|p| !p.is_empty()) {
        out.push(percent_decode(&pw));
        out.push(pw);
    }
    out
}

/// `s` percent-encoded for a URL (everything but unreserved characters).
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The printable form of the parsed settings: `postgresql://user:***@host:port,.../dbname`
/// (`:***` when a password is set, from any source) and the `options`, rebuilt from the settings
/// and never from the URL's text, so nothing the parser took as the password can show.
fn display(config: &Config) -> String {
    let mut out = String::from("postgresql://");
    let user = config.get_user().map(url_encode).unwrap_or_default();
    let password = if config.get_password().is_some() { ":***" } else { "" };
    if !user.is_empty() || !password.is_empty() {
        out.push_str(&format!("{user}{password}@"));
    }
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let host = match h {
                Host::Tcp(name) if name.contains(':') => format!("[{name}]"),
                Host::Tcp(name) => url_encode(name),
                #[cfg(unix)]
                Host::Unix(path) => url_encode(&path.to_string_lossy()),
            };
            match ports.get(i).or(if ports.len() == 1 { ports.first() } else { None }) {
                Some(p) => format!("{host}:{p}"),
                None => host,
            }
        })
        .collect();
    out.push_str(&hosts.join(","));
    if let Some(db) = config.get_dbname() {
        out.push('/');
        out.push_str(&url_encode(db));
    }
    if let Some(options) = config.get_options() {
        out.push_str("?options=");
        out.push_str(&url_encode(options));
    }
    out
}

impl PgTarget {
    /// Parse a `postgresql://` URL; missing parts come from PGHOST, PGPORT, PGUSER, PGPASSWORD,
    /// PGDATABASE, PGCONNECT_TIMEOUT and PGAPPNAME (as libpq does), the user finally from the OS
    /// login name. A malformed URL is [`Error::InvalidInput`] (password never shown).
    pub fn parse(url: &str) -> Result<PgTarget, Error> {
        let url = url.trim();
        let mut secrets = raw_secrets(url);
        if !is_postgres_url(url) {
            return Err(Error::invalid("not a PostgreSQL URL (expected postgresql://user@host:port/dbname)"));
        }
        // libpq takes the scheme in any case; the crate only in lower case.
        let normalized = match url.find("://") {
            Some(i) => format!("{}{}", url[..i].to_ascii_lowercase(), &url[i..]),
            None => url.to_string(),
        };
        // libpq's `service` and `passfile`, which the crate does not know.
        let (normalized, libpq_only) =
            take_params(&normalized, &["service", "passfile", "sslmode", "sslrootcert", "sslcert", "sslkey"]);
        let url_param = |k: &str| libpq_only.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        let mut config = Config::from_str(&normalized).map_err(|e| {
            let msg = scrub(&format!("{e}"), &secrets);
            Error::invalid(format!(
                "invalid PostgreSQL URL (not shown: it does not parse, so its password cannot be told apart): {msg}"
            ))
        })?;
        if let Some(pw) = config.get_password() {
            secrets.push(String::from_utf8_lossy(pw).into_owned());
        }
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        // A service's settings come after the URL's and before the environment's (libpq).
        let mut passfile = url_param("passfile");
        let mut service_tls: (Option<String>, Option<String>) = (None, None);
        if let Some(name) = url_param("service").or_else(|| env("PGSERVICE")) {
            for (k, v) in pgfiles::service_settings(&name)? {
                match k.as_str() {
                    "sslmode" => service_tls.0 = Some(v),
                    "sslrootcert" => service_tls.1 = Some(v),
                    _ => apply_service_setting(&mut config, &name, &k, &v, &mut secrets, &mut passfile)?,
                }
            }
        }
        let redacted = display(&config);
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
        let mut passfile_note = None;
        if config.get_password().is_none() {
            if let Some(file) = pgfiles::passfile_path(passfile.as_deref()) {
                let host = match config.get_hosts().first() {
                    Some(Host::Tcp(h)) => h.clone(),
                    // libpq matches its default socket directory as "localhost".
                    #[cfg(unix)]
                    Some(Host::Unix(p)) if p == std::path::Path::new("/var/run/postgresql") => "localhost".into(),
                    #[cfg(unix)]
                    Some(Host::Unix(p)) => p.to_string_lossy().into_owned(),
                    None => "localhost".into(),
                };
                let user = config.get_user().unwrap_or_default().to_string();
                let dbname = config.get_dbname().map_or_else(|| user.clone(), str::to_string);
                let port = config.get_ports().first().copied().unwrap_or(5432);
                let want = PassLookup { host: &host, port, dbname: &dbname, user: &user };
                match pgfiles::pgpass_password(&file, &want) {
                    Ok(Some(pw)) => {
                        secrets.push(pw.clone());
                        config.password(pw);
                    }
                    Ok(None) => {}
                    Err(note) => passfile_note = Some(note),
                }
            }
        }
        if config.get_application_name().is_none() {
            config.application_name(&env("PGAPPNAME").unwrap_or_else(|| "crypto_analyzer_promotion".into()));
        }
        if config.get_options().is_none() {
            if let Some(o) = env("PGOPTIONS") {
                config.options(&o);
            }
        }
        if config.get_ssl_negotiation() == SslNegotiation::Direct {
            return Err(Error::invalid(format!("sslnegotiation=direct is not supported by this package: {redacted}")));
        }
        if let Some((key, _)) = libpq_only.iter().find(|(k, _)| k == "sslcert" || k == "sslkey") {
            return Err(Error::invalid(format!(
                "{key}: client certificates are not supported by this package (refused rather than ignored)"
            )));
        }
        // URL, then service, then environment, then libpq's default (prefer).
        let ssl_mode = match (url_param("sslmode"), service_tls.0, env("PGSSLMODE")) {
            (Some(m), _, _) => {
                SslMode::parse(&m).map_err(|why| Error::invalid(format!("invalid PostgreSQL URL {redacted}: {why}")))?
            }
            (None, Some(m), _) => SslMode::parse(&m).map_err(|why| Error::invalid(format!("service file: {why}")))?,
            (None, None, Some(m)) => SslMode::parse(&m).map_err(|why| Error::invalid(format!("PGSSLMODE: {why}")))?,
            (None, None, None) => SslMode::Prefer,
        };
        let rootcert = url_param("sslrootcert").or(service_tls.1).or_else(|| env("PGSSLROOTCERT"));
        let tls = tls::resolve(ssl_mode, rootcert.as_deref())?;
        if config.get_keepalives_idle() == Duration::from_secs(2 * 60 * 60) {
            config.keepalives_idle(Duration::from_secs(KEEPALIVE_IDLE_S));
        }
        if config.get_keepalives_interval().is_none() {
            config.keepalives_interval(Duration::from_secs(KEEPALIVE_INTERVAL_S));
        }
        if config.get_keepalives_retries().is_none() {
            config.keepalives_retries(KEEPALIVE_RETRIES);
        }
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(Duration::from_secs(TCP_USER_TIMEOUT_S));
        }
        if config.get_connect_timeout().is_none() {
            let secs = env("PGCONNECT_TIMEOUT")
                .and_then(|s| s.trim().parse::<u64>().ok())
                .filter(|s| *s > 0)
                .unwrap_or(CONNECT_TIMEOUT_S);
            config.connect_timeout(Duration::from_secs(secs));
        }
        let redacted = display(&config);
        secrets.retain(|s| !s.is_empty());
        let secrets = {
            let mut v = secrets;
            v.sort_by_key(|s| std::cmp::Reverse(s.len()));
            v.dedup();
            v
        };
        Ok(PgTarget {
            config,
            redacted,
            secrets,
            passfile_note,
            ssl_mode,
            tls,
            lock_ms: AtomicU64::new(0),
            statement_ms: AtomicU64::new(0),
        })
    }

    /// The URL with the password replaced by `***`.
    pub fn redacted(&self) -> &str {
        &self.redacted
    }

    /// Open a connection (plain TCP or Unix socket; TLS is not supported yet) and bound its
    /// waits: `lock_timeout` and `statement_timeout` for the session unless the server already
    /// sets them for it (configuration file, role, database, `options` in the URL or
    /// PGOPTIONS), and over TCP a client-side deadline for each answer (the session's
    /// statement_timeout plus [`RESPONSE_MARGIN_MS`]; the connect timeout while logging in).
    pub fn connect(&self) -> Result<Client, Error> {
        let connect_timeout =
            self.config.get_connect_timeout().copied().unwrap_or(Duration::from_secs(CONNECT_TIMEOUT_S));
        let response_ms = Arc::new(AtomicU64::new(0));
        let mut config = self.config.clone();
        // The crate hands the socket to its TLS hook only when TLS is "required"; the hook
        // (transport.rs) decides what the stream is. Unix sockets never get there (no TLS over
        // them): they keep the crate's plain stream and the server-side timeouts only.
        let all_tcp = config.get_hosts().iter().all(|h| matches!(h, Host::Tcp(_)));
        if all_tcp {
            config.ssl_mode(CrateSslMode::Require).ssl_negotiation(SslNegotiation::Direct);
        } else if self.ssl_mode.requires_tls() {
            return Err(Error::invalid(format!(
                "sslmode={:?} needs TCP: TLS is not used over a Unix socket ({})",
                self.ssl_mode, self.redacted
            )));
        } else {
            config.ssl_mode(CrateSslMode::Disable);
        }
        let mut client = config
            .connect(Transport::new(connect_timeout, Arc::clone(&response_ms), self.tls.clone()))
            .map_err(|e| self.connect_err(&e))?;
        let env =
            |k: &str, default: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty()).unwrap_or(default.into());
        let lock = env("CRYPTO_ANALYZER_PG_LOCK_TIMEOUT", LOCK_TIMEOUT);
        let statement = env("CRYPTO_ANALYZER_PG_STATEMENT_TIMEOUT", STATEMENT_TIMEOUT);
        client
            .execute(
                "SELECT set_config(name, CASE name WHEN 'lock_timeout' THEN $1 ELSE $2 END, false) \
                 FROM pg_catalog.pg_settings WHERE name IN ('lock_timeout', 'statement_timeout') AND source = 'default'",
                &[&lock, &statement],
            )
            .map_err(|e| {
                Error::invalid(self.scrub(&format!(
                    "CRYPTO_ANALYZER_PG_LOCK_TIMEOUT={lock:?} / CRYPTO_ANALYZER_PG_STATEMENT_TIMEOUT={statement:?} \
                     refused by PostgreSQL at {}: {}",
                    self.redacted,
                    e.as_db_error().map_or_else(|| e.to_string(), |d| d.message().to_string())
                )))
            })?;
        let row = client
            .query_one(
                "SELECT (SELECT setting::bigint FROM pg_catalog.pg_settings WHERE name = 'lock_timeout'), \
                        (SELECT setting::bigint FROM pg_catalog.pg_settings WHERE name = 'statement_timeout')",
                &[],
            )
            .map_err(|e| self.connect_err(&e))?;
        let lock_ms: i64 = row.try_get(0).map_err(|e| self.connect_err(&e))?;
        let statement_ms: i64 = row.try_get(1).map_err(|e| self.connect_err(&e))?;
        self.lock_ms.store(lock_ms.unsigned_abs(), Ordering::Relaxed);
        self.statement_ms.store(statement_ms.unsigned_abs(), Ordering::Relaxed);
        if statement_ms > 0 {
            response_ms.store(statement_ms.unsigned_abs().saturating_add(RESPONSE_MARGIN_MS), Ordering::Relaxed);
        }
        Ok(client)
    }

    /// A connection failure as one clear [`Error::Connect`].
    pub fn connect_err(&self, e: &postgres::Error) -> Error {
        let why = match e.as_db_error() {
            Some(db) => db.message().to_string(),
            None => with_sources(e),
        };
        let hint = match e.code() {
            Some(c) if *c == SqlState::INVALID_PASSWORD || *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION => {
                " (check the user and the password: URL, service file, PGUSER/PGPASSWORD or the password file)"
            }
            Some(c) if *c == SqlState::INVALID_CATALOG_NAME => " (create the database first)",
            _ => "",
        };
        let note = self.passfile_note.as_deref().map(|n| format!("; {n}")).unwrap_or_default();
        Error::Connect(self.scrub(&format!("could not connect to PostgreSQL at {}: {why}{hint}{note}", self.redacted)))
    }

    /// `text` with every secret replaced by `***`.
    pub fn scrub(&self, text: &str) -> String {
        scrub(text, &self.secrets)
    }
}

/// The URL without the query parameters named in `keys`; their (key, percent-decoded value).
fn take_params(url: &str, keys: &[&str]) -> (String, Vec<(String, String)>) {
    let Some((head, query)) = url.split_once('?') else {
        return (url.to_string(), Vec::new());
    };
    let mut taken = Vec::new();
    let mut kept = Vec::new();
    for kv in query.split('&') {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        let key = percent_decode(k);
        if keys.contains(&key.as_str()) {
            taken.push((key, percent_decode(v)));
        } else {
            kept.push(kv);
        }
    }
    let url = if kept.is_empty() { head.to_string() } else { format!("{head}?{}", kept.join("&")) };
    (url, taken)
}

/// One `key=value` of a service definition, where the URL left the setting out.
fn apply_service_setting(
    config: &mut Config,
    service: &str,
    key: &str,
    value: &str,
    secrets: &mut Vec<String>,
    passfile: &mut Option<String>,
) -> Result<(), Error> {
    let bad = |what: &str| Error::invalid(format!("service \"{service}\": invalid {what} in the service file"));
    match key {
        "host" if config.get_hosts().is_empty() => {
            for h in value.split(',') {
                config.host(h.trim());
            }
        }
        "port" if config.get_ports().is_empty() => {
            for p in value.split(',') {
                config.port(p.trim().parse::<u16>().map_err(|_| bad("port"))?);
            }
        }
        "dbname" if config.get_dbname().is_none() => {
            config.dbname(value);
        }
        "user" if config.get_user().is_none() => {
            config.user(value);
        }
        "password" if config.get_password().is_none() => {
            secrets.push(value.to_string());
            config.password(value);
        }
        "options" if config.get_options().is_none() => {
            config.options(value);
        }
        "application_name" if config.get_application_name().is_none() => {
            config.application_name(value);
        }
        "connect_timeout" if config.get_connect_timeout().is_none() => {
            let secs = value.trim().parse::<u64>().map_err(|_| bad("connect_timeout"))?;
            if secs > 0 {
                config.connect_timeout(Duration::from_secs(secs));
            }
        }
        "passfile" => {
            passfile.get_or_insert_with(|| value.to_string());
        }
        "host" | "port" | "dbname" | "user" | "password" | "options" | "application_name" | "connect_timeout" => {}
        other => {
            return Err(Error::invalid(format!(
                "service \"{service}\": the setting {other:?} is not supported by this package (refused rather than ignored)"
            )))
        }
    }
    Ok(())
}

/// The error's text followed by its sources' (the crate's Display leaves them out).
fn with_sources(e: &postgres::Error) -> String {
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

/// The connection failed while COMMIT was in flight: the server may have committed or not, and
/// the client cannot know. [`Error::Connect`] with a message that says so and what to do.
pub fn outcome_unknown(target: &PgTarget, e: &postgres::Error) -> Error {
    Error::Connect(target.scrub(&format!(
        "outcome unknown: the connection to PostgreSQL at {} was lost while committing ({}); the write \
         may or may not have been committed. Check before repeating it (list/show the candidate or \
         its events); a retry with the same caller-chosen ids is safe (a candidate_id or report id \
         that exists already is refused, nothing is written twice)",
        target.redacted,
        with_sources(e)
    )))
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
        if *code == SqlState::LOCK_NOT_AVAILABLE || *code == SqlState::QUERY_CANCELED {
            let lock_ms = target.lock_ms.load(Ordering::Relaxed);
            let statement_ms = target.statement_ms.load(Ordering::Relaxed);
            let waited_ms = if *code == SqlState::LOCK_NOT_AVAILABLE { lock_ms } else { statement_ms };
            return Error::Busy {
                waited_ms,
                detail: target.scrub(&format!(
                    "PostgreSQL: {} (session lock_timeout {lock_ms} ms, statement_timeout {statement_ms} ms; \
                     nothing was written, try again later)",
                    db.message()
                )),
            };
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
        return Error::Connect(target.scrub(&format!(
            "lost the connection to PostgreSQL at {}: {}",
            target.redacted,
            with_sources(e)
        )));
    }
    Error::Postgres(target.scrub(&with_sources(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_printable_url_is_rebuilt_from_the_settings() {
        let shown = |u: &str| PgTarget::parse(u).map(|t| t.redacted().to_string());
        assert_eq!(
            shown("postgresql://alice:s3cr%40t@db.example:5432/reg?sslmode=disable").ok().as_deref(),
            Some("postgresql://alice:***@db.example:5432/reg")
        );
        // The crate reads the password up to the first '@', '/' and '?' included.
        let t = shown("PostgreSQL://bob:pa/ss?x@h:1/db?options=-csearch_path%3Ds1").ok();
        assert_eq!(t.as_deref(), Some("postgresql://bob:***@h:1/db?options=-csearch_path%3Ds1"));
        let t = shown("postgresql://h1:1,h2/db?user=a&password=xyz").ok();
        assert_eq!(t.as_deref(), Some("postgresql://a:***@h1:1,h2:5432/db"));
        assert!(raw_secrets("postgresql://h/db?user=a&password=x%79z").contains(&"xyz".to_string()));
        assert!(raw_secrets("postgresql://u:a/b@h/db").contains(&"a/b".to_string()));
        assert_eq!(percent_decode("s3cr%40t"), "s3cr@t");
        assert!(is_postgres_url("postgres://x"));
        assert!(is_postgres_url("PostgreSQL://x"));
        assert!(!is_postgres_url("/tmp/postgresql://x"));
    }
}
