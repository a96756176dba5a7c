//! Where a remote's endpoint, region and credentials come from: the
//! standard AWS environment variables, else the shared credentials file's
//! profile. Never the pipeline file; nothing here is ever written or logged.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// What is needed to talk to an S3 server, read from the environment.
#[derive(Clone)]
pub struct Access {
    /// `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL` (None: AWS itself).
    pub endpoint: Option<String>,
    /// `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's region, else `us-east-1`.
    pub region: String,
    /// The access key id, secret and session token, if any were found.
    pub keys: Option<Keys>,
    /// Where the keys came from, for messages (`environment`, or the profile
    /// and file): never the keys themselves.
    pub source: String,
}

/// An access key pair and optional session token.
#[derive(Clone)]
pub struct Keys {
    /// `AWS_ACCESS_KEY_ID`.
    pub id: String,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret: String,
    /// `AWS_SESSION_TOKEN`.
    pub token: Option<String>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The keys stay out of every debug print.
        f.debug_struct("Access").field("endpoint", &self.endpoint).field("region", &self.region).field("source", &self.source).finish()
    }
}

impl Access {
    /// Reads the environment (and the shared credentials file when the
    /// environment holds no keys).
    pub fn from_env() -> Access {
        Access::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// [`Access::from_env`] over any variable lookup (for tests).
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Access {
        let endpoint = var("AWS_ENDPOINT_URL_S3").or_else(|| var("AWS_ENDPOINT_URL"));
        let profile_name = var("AWS_PROFILE").unwrap_or_else(|| "default".to_owned());
        let env_keys = match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) => Some(Keys { id, secret, token: var("AWS_SESSION_TOKEN") }),
            _ => None,
        };
        let (keys, source, profile_region) = match env_keys {
            Some(k) => (Some(k), "the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)".to_owned(), None),
            None => {
                let file = var("AWS_SHARED_CREDENTIALS_FILE")
                    .map(PathBuf::from)
                    .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".aws/credentials")));
                let profile = file.as_ref().and_then(|f| std::fs::read_to_string(f).ok()).and_then(|text| section(&text, &profile_name));
                let keys = profile.as_ref().and_then(|p| {
                    Some(Keys {
                        id: p.get("aws_access_key_id")?.clone(),
                        secret: p.get("aws_secret_access_key")?.clone(),
                        token: p.get("aws_session_token").cloned(),
                    })
                });
                let shown = file.map(|f| f.display().to_string()).unwrap_or_else(|| "~/.aws/credentials".to_owned());
                let source = match &keys {
                    Some(_) => format!("profile {profile_name:?} of {shown}"),
                    None => format!(
                        "nowhere: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are unset and {shown} has no profile {profile_name:?} with keys"
                    ),
                };
                (keys, source, profile.and_then(|p| p.get("region").cloned()))
            }
        };
        let region = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")).or(profile_region).unwrap_or_else(|| "us-east-1".to_owned());
        Access { endpoint, region, keys, source }
    }
}

/// The `key = value` lines of `[name]` in an INI file.
fn section(text: &str, name: &str) -> Option<BTreeMap<String, String>> {
    let mut found: Option<BTreeMap<String, String>> = None;
    let mut inside = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') && line.ends_with(']') {
            let header = line[1..line.len() - 1].trim();
            inside = header == name || header.strip_prefix("profile ").map(str::trim) == Some(name);
            if inside {
                found.get_or_insert_with(BTreeMap::new);
            }
        } else if inside && let Some((k, v)) = line.split_once('=') {
            found.get_or_insert_with(BTreeMap::new).insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn environment_keys_come_first_and_never_show_in_debug() {
        let a = Access::from_lookup(lookup(&[
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "s3cr3t-value"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:8333"),
            ("AWS_REGION", "eu-west-1"),
        ]));
        assert_eq!(a.endpoint.as_deref(), Some("http://127.0.0.1:8333"));
        assert_eq!(a.region, "eu-west-1");
        assert_eq!(a.keys.as_ref().map(|k| k.id.as_str()), Some("AKIDEXAMPLE"));
        let shown = format!("{a:?} {}", a.source);
        assert!(!shown.contains("s3cr3t") && !shown.contains("AKIDEXAMPLE"), "{shown}");
    }

    #[test]
    fn a_profile_of_the_shared_file_is_read_when_the_environment_has_no_keys() {
        let dir = lungflow_testkit::tempdir().unwrap();
        let file = dir.path().join("credentials");
        std::fs::write(&file, "[default]\naws_access_key_id = A\naws_secret_access_key = B\n\n[team]\naws_access_key_id=TEAMID\naws_secret_access_key = TEAMSECRET\nregion = ap-south-1\n").unwrap();
        let path = file.display().to_string();
        let a = Access::from_lookup(lookup(&[("AWS_SHARED_CREDENTIALS_FILE", &path), ("AWS_PROFILE", "team")]));
        let keys = a.keys.unwrap();
        assert_eq!((keys.id.as_str(), keys.secret.as_str(), a.region.as_str()), ("TEAMID", "TEAMSECRET", "ap-south-1"));
        assert!(a.source.contains("\"team\""), "{}", a.source);
        let none = Access::from_lookup(lookup(&[("AWS_SHARED_CREDENTIALS_FILE", &path), ("AWS_PROFILE", "absent")]));
        assert!(none.keys.is_none() && none.source.contains("no profile \"absent\""), "{}", none.source);
    }
}
