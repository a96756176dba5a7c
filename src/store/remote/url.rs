//! A remote's address: `s3://BUCKET[/PREFIX]`.

use std::fmt;

/// An S3 bucket and the prefix under which lungflow keeps its blobs and
/// records (see [`super::layout`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteUrl {
    /// The bucket's name.
    pub bucket: String,
    /// The prefix inside the bucket, without leading or trailing `/`; empty
    /// for the bucket's root.
    pub prefix: String,
}

impl RemoteUrl {
    /// Parses `s3://bucket` or `s3://bucket/some/prefix`.
    pub fn parse(text: &str) -> Result<RemoteUrl, String> {
        let Some(rest) = text.strip_prefix("s3://") else {
            return Err(format!("remote {text:?} is not an S3 address: write s3://BUCKET or s3://BUCKET/PREFIX"));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if !valid_bucket(bucket) {
            return Err(format!(
                "remote {text:?}: {bucket:?} is not a bucket name (3 to 63 characters: lower-case letters, digits, '.' and '-', starting and ending with a letter or digit)"
            ));
        }
        let prefix = prefix.trim_matches('/');
        if prefix.split('/').any(|part| part == "." || part == "..") || prefix.contains("//") {
            return Err(format!("remote {text:?}: the prefix {prefix:?} has an empty, '.' or '..' part"));
        }
        if prefix.chars().any(|c| c.is_control()) {
            return Err(format!("remote {text:?}: the prefix holds a control character"));
        }
        Ok(RemoteUrl { bucket: bucket.to_owned(), prefix: prefix.to_owned() })
    }
}

impl fmt::Display for RemoteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix.is_empty() { write!(f, "s3://{}", self.bucket) } else { write!(f, "s3://{}/{}", self.bucket, self.prefix) }
    }
}

/// S3's rules for a bucket name (the common subset every server accepts).
fn valid_bucket(name: &str) -> bool {
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    (3..=63).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && edge_ok(name.chars().next())
        && edge_ok(name.chars().last())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_and_prefix_are_split_and_shown_back() {
        let u = RemoteUrl::parse("s3://team-cache/lung/ct/").unwrap();
        assert_eq!((u.bucket.as_str(), u.prefix.as_str()), ("team-cache", "lung/ct"));
        assert_eq!(u.to_string(), "s3://team-cache/lung/ct");
        let root = RemoteUrl::parse("s3://bkt").unwrap();
        assert_eq!((root.prefix.as_str(), root.to_string().as_str()), ("", "s3://bkt"));
    }

    #[test]
    fn bad_addresses_say_what_is_wrong() {
        for (text, says) in [
            ("http://bkt/x", "not an S3 address"),
            ("s3://Upper/x", "not a bucket name"),
            ("s3://ab", "not a bucket name"),
            ("s3://bkt/a/../b", "'..'"),
            ("s3://bkt/a//b", "empty"),
        ] {
            let e = RemoteUrl::parse(text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }
}
