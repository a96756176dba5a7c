//! Names that become file names: stage names with their sweep labels, item
//! ids and pipeline names become result links. Sweep values are the user's
//! free text (`../x`, `a/b`, 300 characters), so each name is encoded into
//! one safe path component and can never point outside the results folder.

/// Longest component written; longer names are shortened and keep a digest
/// of the whole name, so two long names never share a link.
const MAX_COMPONENT: usize = 200;

/// `name` as one path component: letters, digits and `_-.,=@+` are kept,
/// every other byte is written `%XX`, a leading `.` too (so no `.`, `..` or
/// hidden names), and names over 200 bytes end in `~` and 16 hex digits of
/// their blake3 instead of their tail.
pub fn path_component(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for (i, b) in name.bytes().enumerate() {
        let keep = b.is_ascii_alphanumeric() || (b"_-.,=@+".contains(&b) && !(i == 0 && b == b'.'));
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() {
        out.push('%');
    }
    if out.len() > MAX_COMPONENT {
        let digest = blake3::hash(name.as_bytes()).to_hex();
        out.truncate(MAX_COMPONENT - 17);
        // Never end inside a %XX escape.
        while out.len() > 2 && out[out.len() - 2..].contains('%') {
            out.pop();
        }
        out.push('~');
        out.push_str(&digest[..16]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_are_kept_and_everything_else_is_one_harmless_component() {
        assert_eq!(path_component("gmcae@gmcae.lr=1e-3,gmcae.k=4"), "gmcae@gmcae.lr=1e-3,gmcae.k=4");
        assert_eq!(path_component("LIDC-0001_a"), "LIDC-0001_a");
        for hostile in ["..", ".", "", "../../../../tmp/x/victim.txt", "/etc/passwd", "a/b", "a\0b", "é", ".hidden"] {
            let c = path_component(hostile);
            assert!(!c.is_empty() && !c.contains('/') && !c.starts_with('.') && !c.contains('\0'), "{hostile:?} -> {c:?}");
            assert_eq!(std::path::Path::new(&c).components().count(), 1, "{c}");
        }
        assert_eq!(path_component("../x"), "%2E.%2Fx");
        assert_ne!(path_component("a/b"), path_component("a%2Fb"), "escapes are not ambiguous");
    }

    #[test]
    fn long_names_are_shortened_and_stay_distinct() {
        let a = format!("stage@tag={}", "x".repeat(300));
        let b = format!("stage@tag={}y", "x".repeat(299));
        let (ca, cb) = (path_component(&a), path_component(&b));
        assert!(ca.len() <= MAX_COMPONENT && cb.len() <= MAX_COMPONENT, "{} {}", ca.len(), cb.len());
        assert_ne!(ca, cb);
        assert!(path_component(&"/".repeat(300)).len() <= MAX_COMPONENT);
        assert!(!path_component(&"/".repeat(300)).contains('/'));
    }
}
