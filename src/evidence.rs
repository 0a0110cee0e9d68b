//! Evidence the gate reads: the validation bundle, execution evidence, the regime summary CSV and
//! the Reality Check summary JSON; where an evidence path points and how each file is loaded and
//! checked. The values they hold are [`Val`]s (`crate::val`), printed with `crate::pyfmt`.

#![warn(missing_docs)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, Result};
use crate::pyfmt;
use crate::val::{map_get, parse_json_allow_nan, Val};

// ---------------------------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------------------------

/// True when a relative path climbs above its base (`../x`, `a/../../x`). Absolute paths are the
/// user's own choice and never "escape".
pub fn escapes_base(rel: &Path) -> bool {
    if rel.is_absolute() {
        return false;
    }
    let mut depth: i64 = 0;
    for c in rel.components() {
        match c {
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    false
}

/// Where an evidence path points: absolute paths as stored; relative ones under the first base
/// where the file exists (else under the first base). `Err` when a relative path climbs out.
pub fn resolve_evidence_path(name: &str, raw: &str, bases: &[PathBuf]) -> std::result::Result<PathBuf, String> {
    let p = Path::new(raw);
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    if escapes_base(p) {
        return Err(format!(
            "{name} {} climbs out of evidence_base_path; refused (not read)",
            Value::String(raw.to_string())
        ));
    }
    for base in bases {
        let cand = base.join(p);
        if cand.exists() {
            return Ok(cand);
        }
    }
    Ok(bases.first().map(|b| b.join(p)).unwrap_or_else(|| p.to_path_buf()))
}

fn read_text(name: &str, path: &Path) -> std::result::Result<String, String> {
    if !path.exists() {
        return Err(format!("{name} file not found: {}", path.display()));
    }
    fs::read_to_string(path).map_err(|e| format!("{name} could not be read from {}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// Validation bundle
// ---------------------------------------------------------------------------------------------

/// The analyzer's ValidationBundle: horizon keys are ints in memory and strings in JSON; keys we
/// do not know are kept in `extra` and written back.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ValidationBundle {
    /// The analyzer run that produced the bundle.
    pub run_id: Val,
    /// The dataset the signal was validated on.
    pub dataset_id: Val,
    /// The signal's name.
    pub signal_name: Val,
    /// The bar frequency (e.g. "1h").
    pub freq: Val,
    /// The forecast horizons validated, in the bundle's order (the first is the one gated).
    pub horizons: Vec<i64>,
    /// Per horizon: the IC summary map (mean_ic, t_stat, n_obs, ...).
    pub ic_summary_by_horizon: BTreeMap<i64, Val>,
    /// The IC decay rows.
    pub ic_decay_table: Vec<Val>,
    /// The bundle's metadata map (provenance, RC results, attestations).
    pub meta: Val,
    /// Per horizon: the path of the IC series artifact.
    pub ic_series_path_by_horizon: BTreeMap<i64, Val>,
    /// The path of the IC decay artifact.
    pub ic_decay_path: Val,
    /// The path of the turnover artifact.
    pub turnover_path: Val,
    /// The path of the gross returns artifact.
    pub gross_returns_path: Val,
    /// The path of the net returns artifact.
    pub net_returns_path: Val,
    /// Keys this struct does not know, kept in their order and written back.
    pub extra: Vec<(String, Val)>,
}

/// The fields of a validation bundle, in the analyzer's order (any other key is kept in `extra`).
pub const BUNDLE_KEYS: [&str; 13] = [
    "run_id",
    "dataset_id",
    "signal_name",
    "freq",
    "horizons",
    "ic_summary_by_horizon",
    "ic_decay_table",
    "meta",
    "ic_series_path_by_horizon",
    "ic_decay_path",
    "turnover_path",
    "gross_returns_path",
    "net_returns_path",
];

fn horizon_key(field: &str, v: &Val) -> Result<i64> {
    let bad = || Error::invalid(format!("ValidationBundle: {field} must hold integer horizons, got {}", v.describe()));
    match v {
        Val::Int(i) => Ok(*i),
        Val::Float(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(*f as i64),
        Val::Text(s) => s.trim().parse::<i64>().map_err(|_| bad()),
        _ => Err(bad()),
    }
}

fn horizon_map(field: &str, v: Option<&Val>) -> Result<BTreeMap<i64, Val>> {
    let mut out = BTreeMap::new();
    match v {
        None | Some(Val::Null) => {}
        Some(Val::Map(entries)) => {
            for (k, x) in entries {
                out.insert(horizon_key(field, &Val::Text(k.clone()))?, x.clone());
            }
        }
        Some(other) => {
            return Err(Error::invalid(format!(
                "ValidationBundle: {field} must be an object keyed by horizon, got {}",
                other.describe()
            )))
        }
    }
    Ok(out)
}

impl ValidationBundle {
    /// Build from a map (parsed JSON, or a Python object's attributes). Keys of horizon maps may be
    /// ints (Python) or strings (JSON); the bindings pass int keys as their decimal text.
    pub fn from_val(v: &Val) -> Result<ValidationBundle> {
        ValidationBundle::from_val_checked(v, true)
    }

    /// Like [`from_val`](Self::from_val) but, as the analyzer's `getattr(bundle, name, default)`,
    /// missing attributes take their defaults (for duck-typed Python objects).
    pub fn from_val_lenient(v: &Val) -> Result<ValidationBundle> {
        ValidationBundle::from_val_checked(v, false)
    }

    fn from_val_checked(v: &Val, strict: bool) -> Result<ValidationBundle> {
        let entries = v
            .as_map()
            .ok_or_else(|| Error::invalid(format!("ValidationBundle must be a JSON object, got {}", v.describe())))?;
        let get = |k: &str| map_get(entries, k);
        for required in ["run_id", "dataset_id", "signal_name", "horizons", "ic_summary_by_horizon"] {
            if strict && get(required).is_none() {
                return Err(Error::invalid(format!("ValidationBundle: missing required key {required}")));
            }
        }
        let horizons = match get("horizons") {
            Some(Val::List(items)) => items.iter().map(|h| horizon_key("horizons", h)).collect::<Result<Vec<_>>>()?,
            Some(Val::Null) | None => Vec::new(),
            Some(other) => {
                return Err(Error::invalid(format!(
                    "ValidationBundle: horizons must be a list of integers, got {}",
                    other.describe()
                )))
            }
        };
        let ic_decay_table = match get("ic_decay_table") {
            Some(Val::List(items)) => items.clone(),
            Some(Val::Null) | None => Vec::new(),
            Some(other) => {
                return Err(Error::invalid(format!(
                    "ValidationBundle: ic_decay_table must be a list, got {}",
                    other.describe()
                )))
            }
        };
        let meta = match get("meta") {
            Some(m @ Val::Map(_)) => m.clone(),
            Some(Val::Null) | None => Val::Map(Vec::new()),
            Some(other) => {
                return Err(Error::invalid(format!(
                    "ValidationBundle: meta must be an object, got {}",
                    other.describe()
                )))
            }
        };
        let scalar = |k: &str| get(k).cloned().unwrap_or(Val::Null);
        Ok(ValidationBundle {
            run_id: scalar("run_id"),
            dataset_id: scalar("dataset_id"),
            signal_name: scalar("signal_name"),
            freq: scalar("freq"),
            horizons,
            ic_summary_by_horizon: horizon_map("ic_summary_by_horizon", get("ic_summary_by_horizon"))?,
            ic_decay_table,
            meta,
            ic_series_path_by_horizon: horizon_map("ic_series_path_by_horizon", get("ic_series_path_by_horizon"))?,
            ic_decay_path: scalar("ic_decay_path"),
            turnover_path: scalar("turnover_path"),
            gross_returns_path: scalar("gross_returns_path"),
            net_returns_path: scalar("net_returns_path"),
            extra: entries.iter().filter(|(k, _)| !BUNDLE_KEYS.contains(&k.as_str())).cloned().collect(),
        })
    }

    /// Parse the bundle's JSON text (NaN and Infinity tokens allowed); malformed → InvalidInput.
    pub fn from_json_str(text: &str) -> Result<ValidationBundle> {
        let v = parse_json_allow_nan(text)
            .map_err(|e| Error::invalid(format!("ValidationBundle JSON is malformed: {e}")))?;
        ValidationBundle::from_val(&v)
    }

    /// Read and parse the bundle file at `path`.
    pub fn load(path: &Path) -> Result<ValidationBundle> {
        let text = fs::read_to_string(path).map_err(|e| Error::io("could not read ValidationBundle", path, e))?;
        ValidationBundle::from_json_str(&text)
    }

    /// Map form with int horizon keys written as strings (the JSON shape), unknown keys kept.
    pub fn to_val(&self) -> Val {
        let hmap = |m: &BTreeMap<i64, Val>| Val::Map(m.iter().map(|(k, v)| (k.to_string(), v.clone())).collect());
        let mut out = vec![
            ("run_id".to_string(), self.run_id.clone()),
            ("dataset_id".to_string(), self.dataset_id.clone()),
            ("signal_name".to_string(), self.signal_name.clone()),
            ("freq".to_string(), self.freq.clone()),
            ("horizons".to_string(), Val::List(self.horizons.iter().map(|h| Val::Int(*h)).collect())),
            ("ic_summary_by_horizon".to_string(), hmap(&self.ic_summary_by_horizon)),
            ("ic_decay_table".to_string(), Val::List(self.ic_decay_table.clone())),
            ("meta".to_string(), self.meta.clone()),
            ("ic_series_path_by_horizon".to_string(), hmap(&self.ic_series_path_by_horizon)),
            ("ic_decay_path".to_string(), self.ic_decay_path.clone()),
            ("turnover_path".to_string(), self.turnover_path.clone()),
            ("gross_returns_path".to_string(), self.gross_returns_path.clone()),
            ("net_returns_path".to_string(), self.net_returns_path.clone()),
        ];
        out.extend(self.extra.iter().cloned());
        Val::Map(out)
    }

    /// Deterministic JSON text: sorted keys, 2-space indent, NaN written as null.
    pub fn to_json_string(&self) -> String {
        let v = self.to_val().to_json();
        // serde_json's Map is a BTreeMap (no preserve_order feature), so keys come out sorted.
        serde_json::to_string_pretty(&v).unwrap_or_else(|_| "{}".to_string())
    }

    /// Write [`ValidationBundle::to_json_string`] and a newline to `path`.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut text = self.to_json_string();
        text.push('\n');
        fs::write(path, text).map_err(|e| Error::io("could not write ValidationBundle", path, e))
    }

    /// The first horizon's IC summary (`{}` when there is none).
    pub fn first_horizon_summary(&self) -> Val {
        self.horizons.first().and_then(|h| self.ic_summary_by_horizon.get(h)).cloned().unwrap_or(Val::Map(Vec::new()))
    }

    /// The value of `key` in `meta`, if `meta` is a map that has it.
    pub fn meta_get(&self, key: &str) -> Option<&Val> {
        self.meta.get(key)
    }
}

// ---------------------------------------------------------------------------------------------
// Execution evidence
// ---------------------------------------------------------------------------------------------

/// The fields of execution evidence, in the analyzer's order.
pub const EXECUTION_EVIDENCE_FIELDS: [&str; 7] = [
    "min_liquidity_usd",
    "max_participation_rate",
    "spread_model",
    "impact_model",
    "capacity_curve_path",
    "cost_config",
    "notes",
];

/// Evidence for the execution-realism gate. Every field is optional (`Val::Null` when unset).
#[derive(Clone, Debug, PartialEq)]
pub struct ExecutionEvidence {
    /// The smallest liquidity (USD) the strategy trades in.
    pub min_liquidity_usd: Val,
    /// The largest share of volume the strategy takes.
    pub max_participation_rate: Val,
    /// The spread model used.
    pub spread_model: Val,
    /// The market-impact model used.
    pub impact_model: Val,
    /// The path of the capacity curve artifact.
    pub capacity_curve_path: Val,
    /// The cost configuration (must carry `fee_bps` and `slippage_bps`).
    pub cost_config: Val,
    /// Free text.
    pub notes: Val,
}

impl Default for ExecutionEvidence {
    fn default() -> Self {
        ExecutionEvidence {
            min_liquidity_usd: Val::Null,
            max_participation_rate: Val::Null,
            spread_model: Val::Null,
            impact_model: Val::Null,
            capacity_curve_path: Val::Null,
            cost_config: Val::Null,
            notes: Val::Null,
        }
    }
}

/// Python's `float(x)` for the tolerant reader; non-finite and unparsable values become None.
fn float_or_null(v: Option<&Val>) -> Val {
    let x = match v {
        Some(Val::Int(i)) => Some(*i as f64),
        Some(Val::Float(f)) => Some(*f),
        Some(Val::Bool(b)) => Some(if *b { 1.0 } else { 0.0 }),
        Some(Val::Text(s)) => s.trim().replace('_', "").parse::<f64>().ok(),
        _ => None,
    };
    match x {
        Some(f) if f.is_finite() => Val::Float(f),
        _ => Val::Null,
    }
}

impl ExecutionEvidence {
    /// Exactly the given field values (the Python dataclass's attributes); unknown keys ignored.
    pub fn from_fields(v: &Val) -> ExecutionEvidence {
        let get = |k: &str| v.get(k).cloned().unwrap_or(Val::Null);
        ExecutionEvidence {
            min_liquidity_usd: get("min_liquidity_usd"),
            max_participation_rate: get("max_participation_rate"),
            spread_model: get("spread_model"),
            impact_model: get("impact_model"),
            capacity_curve_path: get("capacity_curve_path"),
            cost_config: get("cost_config"),
            notes: get("notes"),
        }
    }

    /// Tolerant reader: extra keys ignored, bad numbers → None, non-dict models → None.
    pub fn from_dict(v: &Val) -> ExecutionEvidence {
        let dict_or_null = |k: &str| match v.get(k) {
            Some(m @ Val::Map(_)) => m.clone(),
            _ => Val::Null,
        };
        let str_or_null = |k: &str| match v.get(k) {
            None | Some(Val::Null) => Val::Null,
            Some(x) => Val::Text(x.python_str()),
        };
        ExecutionEvidence {
            min_liquidity_usd: float_or_null(v.get("min_liquidity_usd")),
            max_participation_rate: float_or_null(v.get("max_participation_rate")),
            spread_model: dict_or_null("spread_model"),
            impact_model: dict_or_null("impact_model"),
            capacity_curve_path: str_or_null("capacity_curve_path"),
            cost_config: dict_or_null("cost_config"),
            notes: str_or_null("notes"),
        }
    }

    /// Parse execution evidence JSON text (must be an object); malformed → InvalidInput.
    pub fn from_json_str(text: &str) -> Result<ExecutionEvidence> {
        let val = parse_json_allow_nan(text)
            .map_err(|e| Error::invalid(format!("execution evidence JSON is malformed: {e}")))?;
        if val.as_map().is_none() {
            return Err(Error::invalid(format!("execution evidence JSON must be an object, got {}", val.describe())));
        }
        Ok(ExecutionEvidence::from_dict(&val))
    }

    fn fields(&self) -> [(&'static str, &Val); 7] {
        [
            ("min_liquidity_usd", &self.min_liquidity_usd),
            ("max_participation_rate", &self.max_participation_rate),
            ("spread_model", &self.spread_model),
            ("impact_model", &self.impact_model),
            ("capacity_curve_path", &self.capacity_curve_path),
            ("cost_config", &self.cost_config),
            ("notes", &self.notes),
        ]
    }

    /// Canonical dict: keys sorted, None omitted, each value in the store's canonical form
    /// ([`pyfmt::canonicalize`]: floats rounded to 10 decimals, non-finite ones None).
    pub fn to_dict(&self) -> Val {
        let canonical = |v: &Val| Val::from_json(&pyfmt::canonicalize(&v.to_json()));
        let mut out: Vec<(String, Val)> =
            self.fields().iter().map(|(k, v)| (k.to_string(), canonical(v))).filter(|(_, v)| !v.is_null()).collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Val::Map(out)
    }

    /// Names of missing required items (capacity_curve_path, max_participation_rate, cost_config)
    /// plus, for each, why when it is not plain absence (for warnings).
    pub fn check_required(&self, base_path: Option<&Path>) -> (Vec<String>, Vec<String>) {
        let mut missing = Vec::new();
        let mut notes = Vec::new();
        let cap = match &self.capacity_curve_path {
            Val::Null => None,
            other => Some(other.python_str()),
        };
        match cap.as_deref().map(str::trim) {
            None | Some("") => missing.push("capacity_curve_path".to_string()),
            Some(p) => {
                if let Some(base) = base_path {
                    let rel = Path::new(p);
                    if escapes_base(rel) {
                        missing.push("capacity_curve_path".to_string());
                        notes.push(format!(
                            "capacity_curve_path {} climbs out of the execution evidence base path; refused (not read)",
                            Value::String(p.to_string())
                        ));
                    } else {
                        // Under the base, then under its parent: reportv2 writes the path
                        // relative to its out_dir (reports/) while the base is often the bundle's
                        // folder (reports/csv), as the analyzer's fallback does.
                        let full = base.join(rel);
                        let parent = base.parent().map(|p| p.join(rel));
                        let readable = |p: &Path| p.is_file() && fs::File::open(p).is_ok();
                        if !readable(&full) && !parent.as_deref().is_some_and(readable) {
                            missing.push("capacity_curve_path".to_string());
                            notes.push(format!("capacity_curve_path is not a readable file: {}", full.display()));
                        }
                    }
                }
            }
        }
        if self.max_participation_rate.is_null() {
            missing.push("max_participation_rate".to_string());
        }
        let cost_ok = match &self.cost_config {
            Val::Map(m) if !m.is_empty() => map_get(m, "fee_bps").is_some() && map_get(m, "slippage_bps").is_some(),
            _ => false,
        };
        if !cost_ok {
            missing.push("cost_config".to_string());
        }
        (missing, notes)
    }

    /// The names of the required fields that are missing or unusable (empty: complete);
    /// relative paths are looked up under `base_path`.
    pub fn validate_required(&self, base_path: Option<&Path>) -> Vec<String> {
        self.check_required(base_path).0
    }
}

/// Load execution evidence JSON from a file; `Err` is a message for the decision.
pub fn load_execution_evidence(path: &Path) -> std::result::Result<ExecutionEvidence, String> {
    let text = read_text("execution_evidence_path", path)?;
    ExecutionEvidence::from_json_str(&text).map_err(|e| format!("execution_evidence_path {}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// Regime summary (CSV: regime, mean_ic, optional n_bars)
// ---------------------------------------------------------------------------------------------

/// A regime summary as read from its CSV: per-regime IC (`regime`, `mean_ic`, optional
/// `n_bars`).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct RegimeSummary {
    /// The header's column names (trimmed), in order.
    pub columns: Vec<String>,
    /// One map per row, column name → value.
    pub rows: Vec<Vec<(String, Val)>>,
}

fn parse_csv_cell(s: &str) -> Val {
    let t = s.trim();
    if t.is_empty() {
        return Val::Null;
    }
    if let Ok(i) = t.parse::<i64>() {
        return Val::Int(i);
    }
    if let Ok(f) = t.parse::<f64>() {
        return Val::Float(f);
    }
    Val::Text(s.to_string())
}

impl RegimeSummary {
    /// Whether the CSV has the column `name`.
    pub fn has_column(&self, name: &str) -> bool {
        self.columns.iter().any(|c| c == name)
    }

    /// Parse CSV text with a header: numbers become ints or floats, empty cells null, the
    /// `regime` column stays text; a malformed CSV → InvalidInput.
    pub fn from_csv_str(text: &str) -> Result<RegimeSummary> {
        let mut rdr = csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(text.as_bytes());
        let headers = rdr
            .headers()
            .map_err(|e| Error::invalid(format!("regime summary CSV: {e}")))?
            .iter()
            .map(|h| h.trim().to_string())
            .collect::<Vec<_>>();
        let mut rows = Vec::new();
        for rec in rdr.records() {
            let rec = rec.map_err(|e| Error::invalid(format!("regime summary CSV: {e}")))?;
            let row = headers
                .iter()
                .zip(rec.iter())
                .map(|(h, cell)| {
                    // Regime labels stay text ("1" and "1.0" are different labels).
                    let v = if h == "regime" { Val::Text(cell.to_string()) } else { parse_csv_cell(cell) };
                    (h.clone(), v)
                })
                .collect();
            rows.push(row);
        }
        Ok(RegimeSummary { columns: headers, rows })
    }
}

/// Load a regime summary CSV file; `Err` is a message for the decision (unreadable, empty,
/// malformed).
pub fn load_regime_summary(path: &Path) -> std::result::Result<RegimeSummary, String> {
    let text = read_text("ic_summary_by_regime_path", path)?;
    if text.trim().is_empty() {
        return Err(format!("ic_summary_by_regime_path file is empty: {}", path.display()));
    }
    RegimeSummary::from_csv_str(&text).map_err(|e| format!("ic_summary_by_regime_path {}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// Reality Check summary (JSON object with rc_p_value)
// ---------------------------------------------------------------------------------------------

/// Load a Reality Check summary JSON file (an object); `Err` is a message for the decision.
pub fn load_rc_summary(path: &Path) -> std::result::Result<Val, String> {
    let text = read_text("rc_summary_path", path)?;
    let val = parse_json_allow_nan(&text)
        .map_err(|e| format!("rc_summary_path {}: RC summary JSON is malformed: {e}", path.display()))?;
    if val.as_map().is_none() {
        return Err(format!(
            "rc_summary_path {}: RC summary JSON must be an object, got {}",
            path.display(),
            val.describe()
        ));
    }
    Ok(val)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_detection() {
        assert!(escapes_base(Path::new("../../etc/passwd")));
        assert!(escapes_base(Path::new("a/../../b")));
        assert!(!escapes_base(Path::new("a/../b")));
        assert!(!escapes_base(Path::new("./a/b.json")));
        assert!(!escapes_base(Path::new("/etc/passwd")));
    }

    #[test]
    fn bundle_round_trip_keeps_unknown_keys_and_int_horizons() {
        let text = r#"{"run_id":"r","dataset_id":"d","signal_name":"s","freq":"1h","horizons":[4,1],
            "ic_summary_by_horizon":{"4":{"mean_ic":0.05,"t_stat":3.1,"n_obs":200},"1":{"mean_ic":0.01}},
            "ic_decay_table":[],"meta":{"rc_p_value":0.01},"custom":{"a":1}}"#;
        let b = ValidationBundle::from_json_str(text).unwrap();
        assert_eq!(b.horizons, vec![4, 1]);
        assert!(b.ic_summary_by_horizon.contains_key(&4));
        assert_eq!(b.extra.len(), 1);
        let again = ValidationBundle::from_json_str(&b.to_json_string()).unwrap();
        assert_eq!(again, b);
        assert_eq!(b.first_horizon_summary().get("t_stat"), Some(&Val::Float(3.1)));
    }

    #[test]
    fn bundle_errors_name_the_problem() {
        let e = ValidationBundle::from_json_str("{").unwrap_err().to_string();
        assert!(e.contains("malformed"), "{e}");
        let e = ValidationBundle::from_json_str(
            r#"{"run_id":"r","dataset_id":"d","signal_name":"s","horizons":"x","ic_summary_by_horizon":{}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("horizons"), "{e}");
        let e = ValidationBundle::from_json_str(r#"{"run_id":"r"}"#).unwrap_err().to_string();
        assert!(e.contains("missing required key dataset_id"), "{e}");
    }

    #[test]
    fn execution_evidence_tolerant_reader_and_canonical_dict() {
        let v = Val::from_json(&serde_json::json!({
            "min_liquidity_usd": "abc", "max_participation_rate": "0.05", "extra": 1,
            "cost_config": {"slippage_bps": 2, "fee_bps": 1.123456789012345}, "capacity_curve_path": "cap.csv"
        }));
        let ev = ExecutionEvidence::from_dict(&v);
        assert_eq!(ev.min_liquidity_usd, Val::Null);
        assert_eq!(ev.max_participation_rate, Val::Float(0.05));
        let d = ev.to_dict().to_json();
        assert_eq!(
            d.to_string(),
            r#"{"capacity_curve_path":"cap.csv","cost_config":{"fee_bps":1.1234567890,"slippage_bps":2},"max_participation_rate":0.05}"#
                .replace("1.1234567890", "1.123456789")
        );
        assert!(ev.validate_required(None).is_empty());
        let missing = ExecutionEvidence::default().validate_required(None);
        assert_eq!(missing, vec!["capacity_curve_path", "max_participation_rate", "cost_config"]);
    }

    #[test]
    fn regime_csv_reads_rows() {
        let r = RegimeSummary::from_csv_str("regime,mean_ic,n_bars\nbull,0.05,10\nbear,,3\nunknown,nan,1\n").unwrap();
        assert!(r.has_column("mean_ic"));
        assert_eq!(r.rows.len(), 3);
        assert_eq!(map_get(&r.rows[1], "mean_ic"), Some(&Val::Null));
        assert!(matches!(map_get(&r.rows[2], "mean_ic"), Some(Val::Float(f)) if f.is_nan()));
    }
}
