//! Checking a Prometheus text exposition: with `promtool check metrics` when it is installed
//! (required when `ALEXANDRIA_REQUIRE_PROMTOOL=1`, as in CI), else a structural check of the
//! format and naming conventions.

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::process::{Command, Stdio};

/// Checks `text`; `Err` says what is wrong.
pub fn check(text: &str) -> Result<&'static str, String> {
    structural(text)?;
    match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(mut child) => {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
            let output = child.wait_with_output().unwrap();
            let said = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            if output.status.success() && said.trim().is_empty() {
                Ok("promtool")
            } else {
                Err(format!("promtool check metrics: {said}"))
            }
        }
        Err(_) if std::env::var("ALEXANDRIA_REQUIRE_PROMTOOL").as_deref() == Ok("1") => Err(
            "ALEXANDRIA_REQUIRE_PROMTOOL=1 but promtool is not installed (Debian: apt-get install prometheus)".into(),
        ),
        Err(_) => Ok("structural check (promtool not installed)"),
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// The format's rules that matter here: HELP and TYPE before samples, well-formed names,
/// labels and values, counters named `_total`, histograms with `+Inf`, `_sum` and `_count`.
pub fn structural(text: &str) -> Result<(), String> {
    let mut types: HashMap<String, String> = HashMap::new();
    let mut helped: HashSet<String> = HashSet::new();
    let mut histogram_parts: HashMap<String, HashSet<&str>> = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let at = |m: &str| format!("line {}: {m}: {line:?}", n + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or_default();
            if !valid_name(name) || !helped.insert(name.to_owned()) {
                return Err(at("bad or repeated HELP"));
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let (name, kind) = (
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default(),
            );
            if !valid_name(name)
                || !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind)
            {
                return Err(at("bad TYPE"));
            }
            if kind == "counter" && !name.ends_with("_total") {
                return Err(at("counter not named _total"));
            }
            if types.insert(name.to_owned(), kind.to_owned()).is_some() {
                return Err(at("repeated TYPE"));
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').ok_or_else(|| at("no value"))?;
        if value.parse::<f64>().is_err() && !["+Inf", "-Inf", "NaN"].contains(&value) {
            return Err(at("bad value"));
        }
        let (name, labels) = match series.split_once('{') {
            Some((name, labels)) => (
                name,
                Some(
                    labels
                        .strip_suffix('}')
                        .ok_or_else(|| at("unclosed labels"))?,
                ),
            ),
            None => (series, None),
        };
        if !valid_name(name) {
            return Err(at("bad metric name"));
        }
        if let Some(labels) = labels {
            for pair in split_labels(labels) {
                let (key, quoted) = pair.split_once('=').ok_or_else(|| at("bad label"))?;
                if !valid_name(key) || !quoted.starts_with('"') || !quoted.ends_with('"') {
                    return Err(at("bad label"));
                }
            }
        }
        let base = ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
            name.strip_suffix(suffix)
                .filter(|b| {
                    types
                        .get(*b)
                        .is_some_and(|t| t == "histogram" || t == "summary")
                })
                .map(|b| (b, *suffix))
        });
        match base {
            Some((base, suffix)) => {
                let seen = histogram_parts.entry(base.to_owned()).or_default();
                seen.insert(suffix);
                if suffix == "_bucket" && labels.is_some_and(|l| l.contains("le=\"+Inf\"")) {
                    seen.insert("+Inf");
                }
            }
            None if !types.contains_key(name) => return Err(at("sample without TYPE")),
            None => {}
        }
        if !helped.contains(base.map_or(name, |(b, _)| b)) {
            return Err(at("sample without HELP"));
        }
    }
    for (name, kind) in &types {
        if kind == "histogram"
            && let Some(seen) = histogram_parts.get(name)
        {
            for part in ["_bucket", "_sum", "_count", "+Inf"] {
                if !seen.contains(part) {
                    return Err(format!("histogram {name} lacks {part}"));
                }
            }
        }
    }
    Ok(())
}

/// Splits `a="x",b="y,z"` at the commas outside quotes.
fn split_labels(labels: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in labels.char_indices() {
        match c {
            '\\' if quoted && !escaped => {
                escaped = true;
                continue;
            }
            '"' if !escaped => quoted = !quoted,
            ',' if !quoted => {
                out.push(&labels[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        escaped = false;
    }
    if start < labels.len() {
        out.push(&labels[start..]);
    }
    out
}
