//! A stage's `resources: {cpus, mem, gpus, time}`: what one of its jobs asks
//! Slurm for. Resources are not part of an instance's key.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::slurm_settings::{parse_duration, shown, whole_number};

/// What one job of a stage asks for; `None` leaves the cluster's default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    /// CPUs for the job's one task (`--cpus-per-task`).
    pub cpus: Option<u32>,
    /// Memory per node in whole MiB (`--mem`).
    pub mem_mb: Option<u64>,
    /// GPUs (`--gres=gpu:...`).
    pub gpus: Option<Gpus>,
    /// Time limit in whole seconds (`--time`).
    pub time_seconds: Option<u64>,
}

/// A GPU request: how many, and optionally of which type (`a100:2`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gpus {
    /// The GPU type as the cluster names it in its gres.conf (`a100`), if any.
    pub kind: Option<String>,
    /// How many GPUs.
    pub count: u32,
}

/// The keys a `resources:` block may have.
pub const RESOURCE_KEYS: &[&str] = &["cpus", "mem", "gpus", "time"];

/// Reads a stage's `resources:` block. The error is (field, message); an
/// unknown field is refused with the list of valid ones. A field given as
/// YAML null (`mem:` with nothing after it) is left unset.
pub fn parse_resources(map: &BTreeMap<String, Value>) -> Result<Resources, (String, String)> {
    let mut r = Resources::default();
    for (key, value) in map {
        let err = |message: String| (key.clone(), message);
        if value.is_null() && RESOURCE_KEYS.contains(&key.as_str()) {
            continue;
        }
        match key.as_str() {
            "cpus" => r.cpus = Some(whole_number(value, 1, 4096).map_err(err)? as u32),
            "mem" => r.mem_mb = Some(parse_mem(value).map_err(err)?),
            "gpus" => r.gpus = Some(parse_gpus(value).map_err(err)?),
            "time" => r.time_seconds = Some(parse_time(value).map_err(err)?),
            _ => return Err(err(format!("unknown resource `{key}`; valid ones are {}", RESOURCE_KEYS.join(", ")))),
        }
    }
    Ok(r)
}

/// The accepted memory forms, for messages.
const MEM_FORMS: &str = "write a number with K, M, G or T, like 512M or 8G";

/// Largest memory request accepted, in MiB (1 EiB): far past any node, well inside Slurm's 64 bits.
const MAX_MEM_MB: u128 = 1 << 40;

/// `mem:` in whole MiB, rounded up. Suffixes are binary, as Slurm reads them
/// (`4G` and `4GB` are both 4096 MiB); a bare number is refused because
/// Slurm would silently take it as MiB.
fn parse_mem(value: &Value) -> Result<u64, String> {
    let text = match value {
        Value::String(text) => text.trim(),
        Value::Number(n) => {
            return Err(format!(
                "{n} has no unit (Slurm would read a bare number as megabytes); write 512M or 4G, or {n}M if megabytes are meant"
            ));
        }
        other => return Err(format!("{} is not a size; {MEM_FORMS}", shown(other))),
    };
    let number_len = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = (&text[..number_len], text[number_len..].trim_start());
    let kib_per_unit: u128 = match unit.to_ascii_uppercase().as_str() {
        "K" | "KB" | "KIB" => 1,
        "M" | "MB" | "MIB" => 1 << 10,
        "G" | "GB" | "GIB" => 1 << 20,
        "T" | "TB" | "TIB" => 1 << 30,
        "" if !number.is_empty() => {
            return Err(format!(
                "\"{text}\" has no unit (Slurm would read a bare number as megabytes); write 512M or 4G, or {text}M if megabytes are meant"
            ));
        }
        _ => return Err(format!("\"{text}\" is not a size; {MEM_FORMS}")),
    };
    // Exact arithmetic on the decimal digits: 1.1G is 1126.4 MiB, so 1127.
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    let digits_ok = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits_ok(whole) || !digits_ok(frac) || number.ends_with('.') || frac.len() > 9 || whole.len() > 15 {
        return Err(format!("\"{text}\" is not a size; {MEM_FORMS}"));
    }
    let scale = 10u128.pow(frac.len() as u32);
    let scaled: u128 = format!("{whole}{frac}").parse().map_err(|_| format!("\"{text}\" is not a size; {MEM_FORMS}"))?;
    let mb = (scaled * kib_per_unit).div_ceil(scale * 1024);
    if mb == 0 {
        return Err(format!(
            "\"{text}\" is no memory at all; ask for more than zero, like 512M, or leave mem out for the cluster's default"
        ));
    }
    if mb > MAX_MEM_MB {
        return Err(format!("\"{text}\" is more memory than any node has; {MEM_FORMS}"));
    }
    Ok(mb as u64)
}

/// `gpus:`: a count (`2`) or a type and a count (`a100:2`).
fn parse_gpus(value: &Value) -> Result<Gpus, String> {
    const FORMS: &str = "write a count like 2, or a type and a count like a100:2";
    let count = |n: &str| -> Option<u32> {
        if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) { n.parse().ok().filter(|c| (1..=1024).contains(c)) } else { None }
    };
    match value {
        Value::Number(n) => match n.as_u64().and_then(|c| count(&c.to_string())) {
            Some(c) => Ok(Gpus { kind: None, count: c }),
            None => Err(format!("{n} is not a GPU count from 1 to 1024 (leave gpus out for none); {FORMS}")),
        },
        Value::String(text) => {
            let t = text.trim();
            let (kind, n) = match t.split_once(':') {
                Some((kind, n)) => (Some(kind), n),
                None => (None, t),
            };
            if let Some(kind) = kind
                && (kind.is_empty() || !kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
            {
                return Err(format!("\"{t}\" has GPU type \"{kind}\", which is not a name of letters, digits, _ and -; {FORMS}"));
            }
            match count(n) {
                Some(c) => Ok(Gpus { kind: kind.map(str::to_owned), count: c }),
                None => Err(format!("\"{t}\" is not a GPU request; {FORMS} (counts from 1 to 1024)")),
            }
        }
        other => Err(format!("{} is not a GPU request; {FORMS}", shown(other))),
    }
}

/// `time:` in whole seconds, rounded up, more than zero.
fn parse_time(value: &Value) -> Result<u64, String> {
    let text = match value {
        Value::String(text) => text.trim(),
        Value::Number(n) => {
            let example = n.as_u64().filter(|&m| m < 24 * 60).map_or("00:30:00".to_owned(), |m| format!("{:02}:{:02}:00", m / 60, m % 60));
            return Err(format!("{n} has no unit (Slurm would read a bare number as minutes); write {n}m or {example}"));
        }
        other => return Err(format!("{} is not a time limit; write one like 30m, 2h or 01:30:00", shown(other))),
    };
    let seconds = parse_duration(text)?.ceil();
    if seconds <= 0.0 {
        return Err(format!(
            "\"{text}\" is no time at all; ask for more than zero, like 30m, or leave time out for the partition's default limit"
        ));
    }
    Ok(seconds as u64)
}

/// A time limit as `--time` takes it: `HH:MM:SS`, or `D-HH:MM:SS` from one
/// day on. Slurm enforces time limits in whole minutes, rounding seconds up
/// (`00:00:30` is a one-minute limit), so a limit of 90 s is 2 minutes.
pub fn slurm_time(seconds: u64) -> String {
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let hms = format!("{:02}:{:02}:{:02}", rest / 3600, rest % 3600 / 60, rest % 60);
    if days > 0 { format!("{days}-{hms}") } else { hms }
}

impl Resources {
    /// The request in a few words, for messages: `cpus=2 mem=4096M gpus=a100:2
    /// time=01:30:00`, only the fields that are set ("" when none is).
    pub fn describe(&self) -> String {
        let mut out = String::new();
        let mut add = |part: std::fmt::Arguments| {
            if !out.is_empty() {
                out.push(' ');
            }
            let _ = out.write_fmt(part);
        };
        if let Some(cpus) = self.cpus {
            add(format_args!("cpus={cpus}"));
        }
        if let Some(mb) = self.mem_mb {
            add(format_args!("mem={mb}M"));
        }
        if let Some(gpus) = &self.gpus {
            add(format_args!("gpus={}", gpus.spec()));
        }
        if let Some(seconds) = self.time_seconds {
            add(format_args!("time={}", slurm_time(seconds)));
        }
        out
    }
}

impl Gpus {
    /// `2` or `a100:2`, as written in a pipeline file and after `gpu:` in `--gres`.
    pub fn spec(&self) -> String {
        match &self.kind {
            Some(kind) => format!("{kind}:{}", self.count),
            None => self.count.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Resources, (String, String)> {
        parse_resources(&serde_json::from_value(v).unwrap())
    }

    fn mem(text: &str) -> Result<u64, String> {
        parse_mem(&json!(text))
    }

    #[test]
    fn all_fields() {
        let r = parse(json!({"cpus": 4, "mem": "8G", "gpus": "a100:2", "time": "1h30m"})).unwrap();
        assert_eq!(
            r,
            Resources {
                cpus: Some(4),
                mem_mb: Some(8192),
                gpus: Some(Gpus { kind: Some("a100".into()), count: 2 }),
                time_seconds: Some(5400)
            }
        );
        assert_eq!(r.describe(), "cpus=4 mem=8192M gpus=a100:2 time=01:30:00");
        assert_eq!(parse(json!({})).unwrap(), Resources::default());
        assert_eq!(Resources::default().describe(), "");
        assert_eq!(parse(json!({"mem": null, "time": "2m"})).unwrap().describe(), "time=00:02:00");
    }

    #[test]
    fn resources_round_trip_through_serde() {
        let r = parse(json!({"cpus": 2, "gpus": 1})).unwrap();
        let back: Resources = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn unknown_field_lists_valid_ones() {
        let (key, m) = parse(json!({"memory": "4G"})).unwrap_err();
        assert_eq!(key, "memory");
        assert_eq!(m, "unknown resource `memory`; valid ones are cpus, mem, gpus, time");
    }

    #[test]
    fn cpus() {
        assert_eq!(parse(json!({"cpus": 1})).unwrap().cpus, Some(1));
        assert_eq!(parse(json!({"cpus": "16"})).unwrap().cpus, Some(16));
        for bad in [json!(0), json!(4097), json!(-1), json!(2.5), json!("two"), json!([2])] {
            let (key, m) = parse(json!({ "cpus": bad })).unwrap_err();
            assert_eq!(key, "cpus");
            assert!(m.contains("is not a whole number from 1 to 4096"), "{m}");
        }
    }

    #[test]
    fn mem_units() {
        assert_eq!(mem("4G"), Ok(4096));
        assert_eq!(mem("4GB"), Ok(4096));
        assert_eq!(mem("4GiB"), Ok(4096));
        assert_eq!(mem("4g"), Ok(4096));
        assert_eq!(mem("512M"), Ok(512));
        assert_eq!(mem("512 MB"), Ok(512));
        assert_eq!(mem("1.5G"), Ok(1536));
        assert_eq!(mem("1.1G"), Ok(1127));
        assert_eq!(mem("2T"), Ok(2 * 1024 * 1024));
        assert_eq!(mem("100K"), Ok(1));
        assert_eq!(mem("1025K"), Ok(2));
        assert_eq!(mem("0.5M"), Ok(1));
    }

    #[test]
    fn mem_refusals_say_how_to_write_it() {
        let (key, m) = parse(json!({"mem": "8 gigs"})).unwrap_err();
        assert_eq!(key, "mem");
        assert_eq!(m, "\"8 gigs\" is not a size; write a number with K, M, G or T, like 512M or 8G");
        let (_, m) = parse(json!({"mem": 512})).unwrap_err();
        assert!(m.contains("512 has no unit") && m.contains("write 512M or 4G"), "{m}");
        assert!(mem("512").unwrap_err().contains("\"512\" has no unit"));
        assert!(mem("0G").unwrap_err().contains("no memory at all"));
        assert!(mem("99999999T").unwrap_err().contains("more memory than any node"));
        for bad in ["", "G", "1.G", ".5G", "1..5G", "1e3M", "-4G", "4P", "4 G B", "4Gi"] {
            assert!(mem(bad).unwrap_err().contains("like 512M or 8G"), "{bad:?}");
        }
    }

    #[test]
    fn gpus() {
        let g = |v: Value| parse(json!({ "gpus": v })).map(|r| r.gpus.unwrap());
        assert_eq!(g(json!(2)), Ok(Gpus { kind: None, count: 2 }));
        assert_eq!(g(json!("2")), Ok(Gpus { kind: None, count: 2 }));
        assert_eq!(g(json!("a100:2")), Ok(Gpus { kind: Some("a100".into()), count: 2 }));
        assert_eq!(g(json!("tesla_v100-32g:1")), Ok(Gpus { kind: Some("tesla_v100-32g".into()), count: 1 }));
        let (key, m) = g(json!(0)).unwrap_err();
        assert_eq!(key, "gpus");
        assert!(m.contains("0 is not a GPU count") && m.contains("a100:2"), "{m}");
        let (_, m) = g(json!("a 100:2")).unwrap_err();
        assert!(m.contains("GPU type \"a 100\""), "{m}");
        for bad in [json!("a100"), json!("a100:"), json!(":2"), json!("a100:0"), json!("a100:two"), json!(1.5), json!(true)] {
            let (key, m) = g(bad.clone()).unwrap_err();
            assert_eq!(key, "gpus");
            assert!(m.contains("like a100:2"), "{bad}: {m}");
        }
    }

    #[test]
    fn time() {
        let t = |v: Value| parse(json!({ "time": v })).map(|r| r.time_seconds.unwrap());
        assert_eq!(t(json!("90s")), Ok(90));
        assert_eq!(t(json!("30m")), Ok(1800));
        assert_eq!(t(json!("2h")), Ok(7200));
        assert_eq!(t(json!("1d")), Ok(86_400));
        assert_eq!(t(json!("1h30m")), Ok(5400));
        assert_eq!(t(json!("00:30:00")), Ok(1800));
        assert_eq!(t(json!("05:00")), Ok(300));
        assert_eq!(t(json!("2-00:00:00")), Ok(172_800));
        assert_eq!(t(json!("1500ms")), Ok(2));
        let (key, m) = t(json!(30)).unwrap_err();
        assert_eq!(key, "time");
        assert_eq!(m, "30 has no unit (Slurm would read a bare number as minutes); write 30m or 00:30:00");
        let (key, m) = t(json!("30")).unwrap_err();
        assert_eq!(key, "time");
        assert!(m.contains("\"30\" has no unit") && m.contains("30m") && m.contains("00:30:00"), "{m}");
        let (_, m) = t(json!("0s")).unwrap_err();
        assert!(m.contains("no time at all"), "{m}");
        let (_, m) = t(json!("an hour")).unwrap_err();
        assert!(m.contains("\"an hour\" is not a duration") && m.contains("HH:MM:SS"), "{m}");
    }

    #[test]
    fn slurm_time_format() {
        assert_eq!(slurm_time(0), "00:00:00");
        assert_eq!(slurm_time(59), "00:00:59");
        assert_eq!(slurm_time(5400), "01:30:00");
        assert_eq!(slurm_time(86_399), "23:59:59");
        assert_eq!(slurm_time(86_400), "1-00:00:00");
        assert_eq!(slurm_time(3 * 86_400 + 3661), "3-01:01:01");
    }
}
