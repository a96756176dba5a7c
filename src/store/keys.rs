//! Content keys: blake3 over a canonical encoding of what an instance is
//! computed from. Dependents see their inputs' *output* digests, not the
//! producers' keys, so a rerun that reproduces its outputs stops there
//! (early cutoff).

use serde_json::Value;

use crate::store::manifest::{FileRecord, KeyMaterial};

/// Checks that `key` is a content key: 64 lowercase hex digits.
pub fn check_key(key: &str) -> anyhow::Result<()> {
    if key.len() == 64 && key.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        Ok(())
    } else {
        anyhow::bail!("{key:?} is not a cache key (64 hex digits); was a table or the state database edited?")
    }
}

/// Prefix that versions the key scheme itself.
const KEY_DOMAIN: &[u8] = b"lungflow key v1\n";

/// The cache key of an instance.
pub fn key_of(material: &KeyMaterial) -> String {
    let inputs: serde_json::Map<String, Value> =
        material.inputs.iter().map(|(n, r)| (n.clone(), Value::String(r.digest().to_owned()))).collect();
    let params: serde_json::Map<String, Value> = material.params.iter().map(|(k, v)| (k.clone(), canonical(v))).collect();
    let doc = serde_json::json!({
        "kind": material.kind,
        "kind_version": material.kind_version,
        "params": Value::Object(params),
        "item": material.item,
        "inputs": Value::Object(inputs),
    });
    let mut h = blake3::Hasher::new();
    h.update(KEY_DOMAIN);
    h.update(canonical(&doc).to_string().as_bytes());
    h.finalize().to_hex().to_string()
}

/// The same value with every object's keys sorted, whatever serde_json's
/// map ordering is built with.
pub fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = serde_json::Map::new();
            for k in keys {
                out.insert(k.clone(), canonical(&m[k]));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// Digest of a set of files (sorted by path): names and contents both count.
pub fn tree_digest(files: &[FileRecord]) -> String {
    let mut h = blake3::Hasher::new();
    h.update(b"tree\n");
    for f in files {
        h.update(f.path.as_bytes());
        h.update(b"\0");
        h.update(f.blake3.as_bytes());
        h.update(b"\n");
    }
    h.finalize().to_hex().to_string()
}

/// Digest of named parts (gathered items), in the order given.
pub fn parts_digest<'a>(parts: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut h = blake3::Hasher::new();
    h.update(b"parts\n");
    for (name, digest) in parts {
        h.update(name.as_bytes());
        h.update(b"\0");
        h.update(digest.as_bytes());
        h.update(b"\n");
    }
    h.finalize().to_hex().to_string()
}

/// The first 12 characters of a key or digest, for messages (the whole text
/// when shorter; never splits a character of a damaged key).
pub fn short(key: &str) -> &str {
    key.char_indices().nth(12).map_or(key, |(end, _)| &key[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn material(lr: f64) -> KeyMaterial {
        KeyMaterial {
            kind: "command".into(),
            kind_version: 1,
            params: BTreeMap::from([("lr".into(), serde_json::json!(lr)), ("cmd".into(), serde_json::json!("x"))]),
            item: Some("p1".into()),
            inputs: BTreeMap::new(),
        }
    }

    #[test]
    fn key_changes_with_params_and_not_otherwise() {
        assert_eq!(key_of(&material(1e-4)), key_of(&material(1e-4)));
        assert_ne!(key_of(&material(1e-4)), key_of(&material(3e-4)));
        let mut other_item = material(1e-4);
        other_item.item = Some("p2".into());
        assert_ne!(key_of(&material(1e-4)), key_of(&other_item));
    }

    #[test]
    fn tree_digest_sees_names_and_contents() {
        let f = |p: &str, d: &str| FileRecord { path: p.into(), size: 1, blake3: d.into() };
        let a = tree_digest(&[f("a", "1"), f("b", "2")]);
        assert_ne!(a, tree_digest(&[f("a", "1"), f("c", "2")]));
        assert_ne!(a, tree_digest(&[f("a", "1"), f("b", "3")]));
        assert_eq!(a, tree_digest(&[f("a", "1"), f("b", "2")]));
    }

    #[test]
    fn short_keys_stay_whole_and_damaged_ones_do_not_panic() {
        assert_eq!(short(&"ab".repeat(32)), "abababababab");
        assert_eq!(short("a"), "a");
        assert_eq!(short("ééééééééééééé"), "éééééééééééé");
    }
}
