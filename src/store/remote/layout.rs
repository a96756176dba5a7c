//! Where things live on a remote, under its prefix. This is a public
//! format (the README's "Remote layout"):
//!
//! ```text
//! PREFIX/blobs/ab/abcdef…          one output file, named by the blake3 of its bytes
//! PREFIX/records/12/123456….json   one entry's record (see [`super::record`]), named by its key
//! ```
//!
//! A blob is stored once however many entries hold the same bytes. A record
//! is written only after every blob it names is there.

use object_store::path::Path;

use super::url::RemoteUrl;

/// The object paths of one remote.
#[derive(Clone, Debug)]
pub struct Layout {
    prefix: String,
}

impl Layout {
    /// The layout under `url`'s prefix.
    pub fn of(url: &RemoteUrl) -> Layout {
        Layout { prefix: url.prefix.clone() }
    }

    fn under(&self, rest: &str) -> Path {
        if self.prefix.is_empty() { Path::from(rest) } else { Path::from(format!("{}/{rest}", self.prefix)) }
    }

    /// The blob holding the bytes whose blake3 is `digest` (64 hex digits).
    pub fn blob(&self, digest: &str) -> Path {
        self.under(&format!("blobs/{}/{digest}", &digest[..2]))
    }

    /// The record of the entry `key` (64 hex digits).
    pub fn record(&self, key: &str) -> Path {
        self.under(&format!("records/{}/{key}.json", &key[..2]))
    }

    /// The folder of every blob.
    pub fn blobs(&self) -> Path {
        self.under("blobs")
    }

    /// The folder of every record.
    pub fn records(&self) -> Path {
        self.under("records")
    }

    /// The digest a blob path names, if it is one.
    pub fn digest_of(&self, path: &Path) -> Option<String> {
        let name = path.filename()?;
        is_hex64(name).then(|| name.to_owned())
    }

    /// The key a record path names, if it is one.
    pub fn key_of(&self, path: &Path) -> Option<String> {
        let name = path.filename()?.strip_suffix(".json")?;
        is_hex64(name).then(|| name.to_owned())
    }
}

/// Whether `s` is 64 lower-case hex digits (a blake3 digest or a key).
pub fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_sharded_by_their_first_two_digits_and_read_back() {
        let d = "ab".repeat(32);
        let l = Layout::of(&RemoteUrl::parse("s3://bkt/team/x").unwrap());
        assert_eq!(l.blob(&d).as_ref(), format!("team/x/blobs/ab/{d}"));
        assert_eq!(l.record(&d).as_ref(), format!("team/x/records/ab/{d}.json"));
        assert_eq!(l.digest_of(&l.blob(&d)), Some(d.clone()));
        assert_eq!(l.key_of(&l.record(&d)), Some(d.clone()));
        let root = Layout::of(&RemoteUrl::parse("s3://bkt").unwrap());
        assert_eq!(root.blob(&d).as_ref(), format!("blobs/ab/{d}"));
        assert_eq!(root.key_of(&Path::from("records/ab/notakey.json")), None);
    }
}
