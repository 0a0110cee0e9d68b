//! libpq's credential files, read as libpq reads them: the password file (`.pgpass`,
//! `PGPASSFILE`, `passfile=`) and the connection service file (`pg_service.conf`: `PGSERVICE` or
//! `service=`; `PGSERVICEFILE` or `~/.pg_service.conf` first, then
//! `PGSYSCONFDIR/pg_service.conf`).
//!
//! Nothing read here is ever put into a message except file names and line numbers.

use std::path::{Path, PathBuf};

use crate::error::Error;

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

fn home() -> Option<PathBuf> {
    env("HOME").map(PathBuf::from)
}

/// The password file to use: `passfile` (URL or service), else PGPASSFILE, else `~/.pgpass`.
pub(crate) fn passfile_path(explicit: Option<&str>) -> Option<PathBuf> {
    explicit
        .map(PathBuf::from)
        .or_else(|| env("PGPASSFILE").map(PathBuf::from))
        .or_else(|| home().map(|h| h.join(".pgpass")))
}

/// One field of a `.pgpass` line: `\` escapes the next character; `:` ends the field.
fn split_pgpass_line(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let (Some(n), Some(f)) = (chars.next(), fields.last_mut()) {
                    f.push(n);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            _ => {
                if let Some(f) = fields.last_mut() {
                    f.push(c);
                }
            }
        }
    }
    fields
}

/// What a `.pgpass` lookup matches on.
pub(crate) struct PassLookup<'a> {
    /// The host as libpq matches it: a TCP host name, or `localhost` for the default socket
    /// directory, or the socket directory itself.
    pub(crate) host: &'a str,
    pub(crate) port: u16,
    pub(crate) dbname: &'a str,
    pub(crate) user: &'a str,
}

/// The password of the first matching line of the password file at `path`, as libpq finds it.
/// Ok(None): no file, not a regular file, no match. A file that the group or others can access
/// is ignored, as libpq ignores it; Err says why (libpq prints it as a warning; the caller adds
/// it to a connection error, where it explains a refused login).
pub(crate) fn pgpass_password(path: &Path, want: &PassLookup<'_>) -> Result<Option<String>, String> {
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(None);
    };
    if !meta.is_file() {
        return Ok(None);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(format!(
                "the password file {} was ignored: it has group or world access; permissions should be \
                 u=rw (0600) or less (fix: chmod 600 {})",
                path.display(),
                path.display()
            ));
        }
    }
    let text = std::fs::read(path).map_err(|e| format!("the password file {} was ignored: {e}", path.display()))?;
    let text = String::from_utf8_lossy(&text);
    let port = want.port.to_string();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f = split_pgpass_line(line);
        if f.len() < 5 {
            continue;
        }
        let matches = |field: &str, value: &str| field == "*" || field == value;
        if matches(&f[0], want.host)
            && matches(&f[1], &port)
            && matches(&f[2], want.dbname)
            && matches(&f[3], want.user)
        {
            return Ok(Some(f[4].clone()));
        }
    }
    Ok(None)
}

/// The `key=value` settings of service `name`: from the user's file (PGSERVICEFILE, else
/// `~/.pg_service.conf`) if it defines the service, else from `PGSYSCONFDIR/pg_service.conf`.
/// A service defined nowhere is an error, as in libpq.
pub(crate) fn service_settings(name: &str) -> Result<Vec<(String, String)>, Error> {
    let user_file = env("PGSERVICEFILE").map(PathBuf::from).or_else(|| home().map(|h| h.join(".pg_service.conf")));
    let sys_dir = env("PGSYSCONFDIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/etc/postgresql-common"));
    let mut looked = Vec::new();
    for file in user_file.into_iter().chain(std::iter::once(sys_dir.join("pg_service.conf"))) {
        looked.push(file.display().to_string());
        if let Some(found) = read_service(&file, name)? {
            return Ok(found);
        }
    }
    Err(Error::invalid(format!("definition of service \"{name}\" not found (looked in {})", looked.join(", "))))
}

fn read_service(path: &Path, name: &str) -> Result<Option<Vec<(String, String)>>, Error> {
    let Ok(bytes) = std::fs::read(path) else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&bytes);
    let mut in_section = false;
    let mut found: Option<Vec<(String, String)>> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[') {
            if found.is_some() && in_section {
                break;
            }
            in_section = section.strip_suffix(']').map(str::trim) == Some(name);
            if in_section {
                found = Some(Vec::new());
            }
            continue;
        }
        if !in_section {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(Error::invalid(format!("syntax error in service file {}, line {}", path.display(), i + 1)));
        };
        if let Some(f) = found.as_mut() {
            f.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::split_pgpass_line;

    #[test]
    fn pgpass_fields_unescape_colons_and_backslashes() {
        assert_eq!(split_pgpass_line(r"h:5432:db:u:p\:w\\x:y"), vec!["h", "5432", "db", "u", r"p:w\x:y"]);
        assert_eq!(split_pgpass_line("*:*:*:*:pw"), vec!["*", "*", "*", "*", "pw"]);
    }
}
