//! The pipeline file's optional `executor: { slurm: {...} }` block, and the
//! one duration parser that it and a stage's `resources: {time}` share.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How lungflow talks to Slurm for one run: where jobs go, how many may be
/// in flight, how often the queue is polled and how often a job is retried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlurmSettings {
    /// `--partition` for every job (`partition:`); the cluster's default when `None`.
    pub partition: Option<String>,
    /// `--account` for every job (`account:`); the user's default when `None`.
    pub account: Option<String>,
    /// Jobs (array tasks count one each) submitted and not yet finished, at most (`max_jobs:`, default 100).
    pub max_jobs: usize,
    /// Seconds between queue polls at first (`poll:`, default 1 s).
    pub poll_seconds: f64,
    /// Seconds between queue polls at most, once backed off (`max_poll:`, default 30 s).
    pub max_poll_seconds: f64,
    /// Times a job lost to the cluster (node failure, preemption, cancelled
    /// from outside) is submitted again (`retries:`, default 2).
    pub retries: u32,
    /// Extra `sbatch` arguments, passed verbatim after lungflow's own (`sbatch_args:`).
    pub sbatch_args: Vec<String>,
    /// Seconds to wait for a finished job's exit file to appear on a shared
    /// filesystem that shows it late (`exit_file_grace:`, default 60 s).
    pub exit_file_grace_seconds: f64,
}

impl Default for SlurmSettings {
    fn default() -> Self {
        SlurmSettings {
            partition: None,
            account: None,
            max_jobs: 100,
            poll_seconds: 1.0,
            max_poll_seconds: 30.0,
            retries: 2,
            sbatch_args: Vec::new(),
            exit_file_grace_seconds: 60.0,
        }
    }
}

/// The keys an `executor: { slurm: {...} }` block may have.
pub const SETTINGS_KEYS: &[&str] = &["partition", "account", "max_jobs", "poll", "max_poll", "retries", "sbatch_args", "exit_file_grace"];

/// sbatch options lungflow sets itself (long name, short letter, why), refused in `sbatch_args`.
const RESERVED_SBATCH_OPTIONS: &[(&str, Option<char>, &str)] = &[
    ("array", Some('a'), "lungflow submits per-item instances as job arrays itself"),
    ("job-name", Some('J'), "lungflow names jobs after the run and the instance key to find them again"),
    ("output", Some('o'), "lungflow reads each job's log from where it told Slurm to write it"),
    ("error", Some('e'), "lungflow keeps stderr in the job's log, which it reads for error messages"),
    ("parsable", None, "lungflow passes it already to read the job id"),
    ("wrap", None, "lungflow submits a batch script of its own"),
    ("chdir", Some('D'), "lungflow runs each job in the project directory"),
    ("wait", Some('W'), "sbatch would block until the job ends; lungflow polls the queue instead"),
    ("hold", Some('H'), "held jobs would never start and the run would wait for ever"),
    ("test-only", None, "nothing would be submitted"),
];

/// Reads an `executor: { slurm: {...} }` block. The error is (key, message);
/// unknown keys are refused with the list of valid ones.
pub fn parse_slurm_settings(map: &BTreeMap<String, Value>) -> Result<SlurmSettings, (String, String)> {
    let mut s = SlurmSettings::default();
    for (key, value) in map {
        let err = |message: String| (key.clone(), message);
        match key.as_str() {
            "partition" | "account" => {
                let name = match value {
                    Value::String(text) => text.trim(),
                    other => return Err(err(format!("{} is not a name; write a {key} name like {key}: gpu", shown(other)))),
                };
                if name.is_empty() || name.chars().any(char::is_whitespace) {
                    return Err(err(format!("{} is not a {key} name; write one name without spaces, like {key}: gpu", shown(value))));
                }
                if key == "partition" {
                    s.partition = Some(name.to_owned());
                } else {
                    s.account = Some(name.to_owned());
                }
            }
            "max_jobs" => s.max_jobs = whole_number(value, 1, 100_000).map_err(err)? as usize,
            "retries" => s.retries = whole_number(value, 0, 20).map_err(err)? as u32,
            "poll" | "max_poll" | "exit_file_grace" => {
                let seconds = duration_value(value).map_err(err)?;
                if key != "exit_file_grace" && seconds <= 0.0 {
                    return Err(err(format!("{} is no time at all; write a positive duration like 2s or 500ms", shown(value))));
                }
                match key.as_str() {
                    "poll" => s.poll_seconds = seconds,
                    "max_poll" => s.max_poll_seconds = seconds,
                    _ => s.exit_file_grace_seconds = seconds,
                }
            }
            "sbatch_args" => s.sbatch_args = sbatch_args(value).map_err(err)?,
            _ => {
                return Err(err(format!("unknown setting `{key}` in executor.slurm; valid ones are {}", SETTINGS_KEYS.join(", "))));
            }
        }
    }
    if s.max_poll_seconds < s.poll_seconds {
        let key = if map.contains_key("max_poll") { "max_poll" } else { "poll" };
        return Err((
            key.to_owned(),
            format!(
                "max_poll ({}s) is shorter than poll ({}s); the poll interval grows from poll up to max_poll",
                s.max_poll_seconds, s.poll_seconds
            ),
        ));
    }
    Ok(s)
}

/// A YAML value as it reads in a message: strings quoted, others as YAML writes them.
pub(crate) fn shown(value: &Value) -> String {
    match value {
        Value::Null => "an empty value".to_owned(),
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "a mapping".to_owned(),
        other => other.to_string(),
    }
}

/// A whole number in `lo..=hi`, written as a YAML integer or a string of digits.
pub(crate) fn whole_number(value: &Value, lo: u64, hi: u64) -> Result<u64, String> {
    let n = match value {
        Value::Number(n) => n.as_u64(),
        Value::String(text) if !text.trim().is_empty() && text.trim().bytes().all(|b| b.is_ascii_digit()) => text.trim().parse().ok(),
        _ => None,
    };
    match n {
        Some(n) if (lo..=hi).contains(&n) => Ok(n),
        _ => Err(format!("{} is not a whole number from {lo} to {hi}; write one like {}", shown(value), lo.max(1).min(hi))),
    }
}

/// A duration setting: a string for [`parse_duration`]; a bare number is refused.
fn duration_value(value: &Value) -> Result<f64, String> {
    match value {
        Value::String(text) => parse_duration(text),
        Value::Number(n) => Err(format!("{n} has no unit; write {n}s, {n}m or {n}ms")),
        other => Err(format!("{} is not a duration; write one like 2s, 500ms or 1m", shown(other))),
    }
}

/// The accepted duration forms, for messages.
const DURATION_FORMS: &str =
    "write a number with a unit (ms, s, m, h, d), like 90s, 30m or 1h30m, or Slurm's HH:MM:SS, MM:SS or D-HH:MM:SS";

/// Seconds in a duration: numbers with units (`500ms`, `90s`, `30m`, `2h`,
/// `1d`, `1.5h`, combined as `1h30m` or `1h 30m`; units also spelled `sec`,
/// `min`, `hour(s)`, `day(s)`), or Slurm's `MM:SS`, `HH:MM:SS`, `D-HH`,
/// `D-HH:MM` and `D-HH:MM:SS`. A bare number is refused: Slurm reads one as
/// minutes and people mean seconds, so the unit must be written. Zero is
/// allowed; callers that need more say so.
pub fn parse_duration(text: &str) -> Result<f64, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err(format!("an empty duration; {DURATION_FORMS}"));
    }
    if is_decimal(t) {
        return Err(format!("\"{t}\" has no unit; write {t}s, {t}m or {t}h, or {}", colon_example(t)));
    }
    let seconds = if t.contains(':') || t.contains('-') { colon_duration(t) } else { unit_duration(t) };
    match seconds {
        Some(s) if s.is_finite() && s <= 1e10 => Ok(s),
        Some(_) => Err(format!("\"{t}\" is too long a duration; write at most a few years")),
        None => Err(format!("\"{t}\" is not a duration; {DURATION_FORMS}")),
    }
}

/// `00:30:00` for a bare `30` (read as minutes, as Slurm would).
fn colon_example(bare: &str) -> String {
    match bare.parse::<u64>() {
        Ok(m) if m < 24 * 60 => format!("{:02}:{:02}:00", m / 60, m % 60),
        _ => "HH:MM:SS".to_owned(),
    }
}

/// `[0-9]+(\.[0-9]+)?`
fn is_decimal(t: &str) -> bool {
    let (whole, frac) = t.split_once('.').unwrap_or((t, "0"));
    !whole.is_empty() && !frac.is_empty() && whole.bytes().all(|b| b.is_ascii_digit()) && frac.bytes().all(|b| b.is_ascii_digit())
}

/// Slurm's `MM:SS`, `HH:MM:SS`, `D-HH`, `D-HH:MM`, `D-HH:MM:SS`.
fn colon_duration(t: &str) -> Option<f64> {
    let digits = |s: &str| -> Option<u64> { if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) { s.parse().ok() } else { None } };
    let (days, rest) = match t.split_once('-') {
        Some((d, rest)) => (Some(digits(d)?), rest),
        None => (None, t),
    };
    let parts: Vec<u64> = rest.split(':').map(digits).collect::<Option<_>>()?;
    // Every field after the first is bounded; the first may overflow into
    // the next unit (Slurm accepts 90:00 as ninety minutes).
    if parts.iter().skip(1).any(|&p| p >= 60) {
        return None;
    }
    let seconds = match (days, parts.as_slice()) {
        (Some(d), [h]) if *h < 24 => d * 86_400 + h * 3600,
        (Some(d), [h, m]) if *h < 24 => d * 86_400 + h * 3600 + m * 60,
        (Some(d), [h, m, s]) if *h < 24 => d * 86_400 + h * 3600 + m * 60 + s,
        (None, [m, s]) => m * 60 + s,
        (None, [h, m, s]) => h * 3600 + m * 60 + s,
        _ => return None,
    };
    Some(seconds as f64)
}

/// `1h30m`, `1.5h`, `500ms`, `2 min`: numbers each followed by a unit.
fn unit_duration(t: &str) -> Option<f64> {
    let mut total = 0.0;
    let mut rest = t;
    let mut seen = Vec::new();
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let number = &rest[..number_len];
        if !is_decimal(number) {
            return None;
        }
        rest = rest[number_len..].trim_start();
        let unit_len = rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len());
        let unit = rest[..unit_len].to_ascii_lowercase();
        rest = rest[unit_len..].trim_start();
        let scale: f64 = match unit.as_str() {
            "ms" => 0.001,
            "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
            "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3600.0,
            "d" | "day" | "days" => 86_400.0,
            _ => return None,
        };
        // Each unit once: `1m1m` is more likely a typo than a sum.
        if seen.contains(&scale.to_bits()) {
            return None;
        }
        seen.push(scale.to_bits());
        total += number.parse::<f64>().ok()? * scale;
    }
    Some(total)
}

/// `sbatch_args:`: a list of strings, none of them an option lungflow sets itself.
fn sbatch_args(value: &Value) -> Result<Vec<String>, String> {
    let Value::Array(items) = value else {
        return Err(format!("{} is not a list; write a list of strings like [--qos=high, --constraint=skylake]", shown(value)));
    };
    let mut args = Vec::with_capacity(items.len());
    for item in items {
        let Value::String(arg) = item else {
            return Err(format!("{} in sbatch_args is not a string; quote each argument, like [\"--nice=10\"]", shown(item)));
        };
        if let Some(message) = sbatch_arg_problem(arg) {
            return Err(message);
        }
        args.push(arg.clone());
    }
    Ok(args)
}

/// Why `arg` may not be an extra sbatch argument, if it may not.
fn sbatch_arg_problem(arg: &str) -> Option<String> {
    if let Some(long) = arg.strip_prefix("--") {
        let name = long.split_once('=').map_or(long, |(name, _)| name);
        if name.chars().any(char::is_whitespace) {
            return Some(format!(
                "\"{arg}\" in sbatch_args is one argument with a space in it; write the option and its value as \
                 --option=value or as two list items"
            ));
        }
        if name.is_empty() {
            return None;
        }
        // getopt_long accepts any unambiguous abbreviation (`--out` is
        // `--output`), so a prefix of a reserved name is refused too.
        for (long_name, short, why) in RESERVED_SBATCH_OPTIONS {
            if long_name.starts_with(name) {
                let spelled = match short {
                    Some(c) => format!("--{long_name} (-{c})"),
                    None => format!("--{long_name}"),
                };
                return Some(format!("\"{arg}\" in sbatch_args would set {spelled}, which lungflow sets itself: {why}"));
            }
        }
    } else if let Some(short) = arg.strip_prefix('-').and_then(|s| s.chars().next()) {
        for (long_name, reserved, why) in RESERVED_SBATCH_OPTIONS {
            if *reserved == Some(short) {
                return Some(format!("\"{arg}\" in sbatch_args would set -{short} (--{long_name}), which lungflow sets itself: {why}"));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> BTreeMap<String, Value> {
        serde_json::from_value(v).unwrap()
    }

    fn err(v: Value) -> (String, String) {
        parse_slurm_settings(&map(v)).unwrap_err()
    }

    #[test]
    fn durations_in_units() {
        assert_eq!(parse_duration("90s"), Ok(90.0));
        assert_eq!(parse_duration("30m"), Ok(1800.0));
        assert_eq!(parse_duration("2h"), Ok(7200.0));
        assert_eq!(parse_duration("1d"), Ok(86_400.0));
        assert_eq!(parse_duration("1h30m"), Ok(5400.0));
        assert_eq!(parse_duration("1h 30m 15s"), Ok(5415.0));
        assert_eq!(parse_duration("1.5h"), Ok(5400.0));
        assert_eq!(parse_duration("500ms"), Ok(0.5));
        assert_eq!(parse_duration(" 2 min "), Ok(120.0));
        assert_eq!(parse_duration("2H"), Ok(7200.0));
        assert_eq!(parse_duration("0s"), Ok(0.0));
    }

    #[test]
    fn durations_in_slurm_form() {
        assert_eq!(parse_duration("00:30:00"), Ok(1800.0));
        assert_eq!(parse_duration("01:30:15"), Ok(5415.0));
        assert_eq!(parse_duration("05:30"), Ok(330.0));
        assert_eq!(parse_duration("90:00"), Ok(5400.0));
        assert_eq!(parse_duration("1-00:00:00"), Ok(86_400.0));
        assert_eq!(parse_duration("2-12"), Ok(2.0 * 86_400.0 + 12.0 * 3600.0));
        assert_eq!(parse_duration("1-01:30"), Ok(86_400.0 + 5400.0));
    }

    #[test]
    fn bad_durations_say_what_is_accepted() {
        let bare = parse_duration("30").unwrap_err();
        assert!(bare.contains("\"30\" has no unit") && bare.contains("30m") && bare.contains("00:30:00"), "{bare}");
        for bad in ["", "1x", "m", "1h1h", "1:2:3:4", "00:61:00", "1-25:00:00", "-5s", "1..5s", "1e3s", "inf", "1 - 2"] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.contains("90s") && e.contains("HH:MM:SS"), "{bad:?}: {e}");
        }
        assert!(parse_duration("99999999999d").unwrap_err().contains("too long"));
    }

    #[test]
    fn defaults_when_empty() {
        assert_eq!(parse_slurm_settings(&BTreeMap::new()), Ok(SlurmSettings::default()));
        let d = SlurmSettings::default();
        assert_eq!((d.max_jobs, d.poll_seconds, d.max_poll_seconds, d.retries, d.exit_file_grace_seconds), (100, 1.0, 30.0, 2, 60.0));
    }

    #[test]
    fn every_key() {
        let s = parse_slurm_settings(&map(json!({
            "partition": "gpu", "account": "lab42", "max_jobs": 500, "poll": "500ms", "max_poll": "1m",
            "retries": 0, "sbatch_args": ["--qos=high", "--constraint", "skylake", "-C", "x"], "exit_file_grace": "2m"
        })))
        .unwrap();
        assert_eq!(
            s,
            SlurmSettings {
                partition: Some("gpu".into()),
                account: Some("lab42".into()),
                max_jobs: 500,
                poll_seconds: 0.5,
                max_poll_seconds: 60.0,
                retries: 0,
                sbatch_args: vec!["--qos=high".into(), "--constraint".into(), "skylake".into(), "-C".into(), "x".into()],
                exit_file_grace_seconds: 120.0,
            }
        );
        // A grace of zero is allowed; a string of digits is a number.
        let s = parse_slurm_settings(&map(json!({"exit_file_grace": "0s", "max_jobs": "7"}))).unwrap();
        assert_eq!((s.exit_file_grace_seconds, s.max_jobs), (0.0, 7));
    }

    #[test]
    fn unknown_key_lists_valid_ones() {
        let (key, message) = err(json!({"partitions": "gpu"}));
        assert_eq!(key, "partitions");
        assert!(message.contains("unknown setting `partitions`"), "{message}");
        assert!(message.contains("partition, account, max_jobs, poll, max_poll, retries, sbatch_args, exit_file_grace"), "{message}");
    }

    #[test]
    fn bad_values_name_the_key_and_the_form() {
        let (key, m) = err(json!({"max_jobs": 0}));
        assert_eq!(key, "max_jobs");
        assert!(m.contains("0 is not a whole number from 1 to 100000"), "{m}");
        let (key, m) = err(json!({"retries": 21}));
        assert_eq!(key, "retries");
        assert!(m.contains("from 0 to 20"), "{m}");
        let (key, m) = err(json!({"retries": 1.5}));
        assert_eq!(key, "retries");
        assert!(m.contains("1.5 is not a whole number"), "{m}");
        let (key, m) = err(json!({"poll": 2}));
        assert_eq!(key, "poll");
        assert!(m.contains("2 has no unit; write 2s"), "{m}");
        let (key, m) = err(json!({"poll": "0s"}));
        assert_eq!(key, "poll");
        assert!(m.contains("positive duration"), "{m}");
        let (key, m) = err(json!({"max_poll": "fast"}));
        assert_eq!(key, "max_poll");
        assert!(m.contains("\"fast\" is not a duration"), "{m}");
        let (key, m) = err(json!({"poll": "10s", "max_poll": "5s"}));
        assert_eq!(key, "max_poll");
        assert!(m.contains("max_poll (5s) is shorter than poll (10s)"), "{m}");
        let (key, m) = err(json!({"poll": "1m"}));
        assert_eq!(key, "poll");
        assert!(m.contains("max_poll (30s) is shorter than poll (60s)"), "{m}");
        let (key, m) = err(json!({"partition": "gpu debug"}));
        assert_eq!(key, "partition");
        assert!(m.contains("without spaces"), "{m}");
        let (key, m) = err(json!({"account": 42}));
        assert_eq!(key, "account");
        assert!(m.contains("42 is not a name"), "{m}");
    }

    #[test]
    fn sbatch_args_must_be_strings() {
        let (key, m) = err(json!({"sbatch_args": "--qos=high"}));
        assert_eq!(key, "sbatch_args");
        assert!(m.contains("is not a list"), "{m}");
        let (_, m) = err(json!({"sbatch_args": [10]}));
        assert!(m.contains("10 in sbatch_args is not a string"), "{m}");
        let (_, m) = err(json!({"sbatch_args": ["--qos high"]}));
        assert!(m.contains("--option=value or as two list items"), "{m}");
        // A space after `=` is part of the value.
        let s = parse_slurm_settings(&map(json!({"sbatch_args": ["--comment=two words"]}))).unwrap();
        assert_eq!(s.sbatch_args, ["--comment=two words"]);
    }

    #[test]
    fn sbatch_args_lungflow_sets_are_refused() {
        for (arg, says) in [
            ("--array=0-3", "--array (-a)"),
            ("-a", "-a (--array)"),
            ("--job-name=x", "--job-name (-J)"),
            ("-Jx", "-J (--job-name)"),
            ("--output=log", "--output (-o)"),
            ("-o", "-o (--output)"),
            ("--out=log", "--output (-o)"),
            ("--error=err", "--error (-e)"),
            ("-e", "-e (--error)"),
            ("--parsable", "--parsable"),
            ("--wrap=hostname", "--wrap"),
            ("--chdir=/tmp", "--chdir (-D)"),
            ("-D", "-D (--chdir)"),
            ("--wait", "--wait (-W)"),
            ("-W", "-W (--wait)"),
            ("--hold", "--hold (-H)"),
            ("--test-only", "--test-only"),
        ] {
            let (key, m) = err(json!({ "sbatch_args": [arg] }));
            assert_eq!(key, "sbatch_args");
            assert!(m.contains(&format!("\"{arg}\" in sbatch_args would set {says}")), "{arg}: {m}");
            assert!(m.contains("which lungflow sets itself: "), "{m}");
        }
        // Options that merely start like reserved ones are fine.
        let ok = ["--wait-all-nodes=1", "--exclusive", "--export=NONE", "--qos=high", "-C", "gpu", "--mail-type=FAIL"];
        let s = parse_slurm_settings(&map(json!({ "sbatch_args": ok }))).unwrap();
        assert_eq!(s.sbatch_args, ok);
    }
}
