//! `--remote`: which shared cache a verb uses (the flag, `LUNGFLOW_REMOTE`,
//! else the pipeline's `cache: remote:`), opened and checked before
//! anything runs.

use crate::cli::args::{EXIT_USAGE, Exit};
use crate::pipeline::model::Pipeline;
use crate::store::remote::client::Remote;
use crate::store::remote::credentials::Access;
use crate::store::remote::url::RemoteUrl;

/// The shared cache's address on the command line.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct RemoteArgs {
    /// Shared cache on an S3 object store: s3://BUCKET[/PREFIX] (instead of
    /// the pipeline's `cache: remote:`). Endpoint, region and credentials
    /// come from the standard AWS variables or profile.
    #[arg(long, env = "LUNGFLOW_REMOTE", value_name = "s3://BUCKET/PREFIX")]
    pub remote: Option<String>,
}

impl RemoteArgs {
    /// The remote's address, if one is set, checked.
    pub fn url(&self, p: Option<&Pipeline>) -> Result<Option<RemoteUrl>, Exit> {
        let written = match (&self.remote, p.and_then(|p| p.cache.remote.as_ref())) {
            (Some(flag), _) => Some((flag.clone(), "--remote".to_owned())),
            (None, Some((url, loc))) => Some((
                url.clone(),
                format!("{}:{}:{}: cache.remote", p.map(|p| p.file.display().to_string()).unwrap_or_default(), loc.line, loc.column),
            )),
            (None, None) => None,
        };
        written.map(|(text, from)| RemoteUrl::parse(&text).map_err(|e| Exit::usage(format!("{from}: {e}")))).transpose()
    }

    /// Opens the remote and checks that it answers, accepts the credentials
    /// and has the bucket; exit 2 with the reason otherwise.
    pub fn open(&self, p: Option<&Pipeline>) -> Result<Option<Remote>, Exit> {
        let Some(url) = self.url(p)? else { return Ok(None) };
        let remote = Remote::open(url, &Access::from_env()).map_err(|e| Exit(EXIT_USAGE, e.to_string()))?;
        remote.check().map_err(|e| Exit(EXIT_USAGE, e.to_string()))?;
        Ok(Some(remote))
    }

    /// [`RemoteArgs::open`], failing when no remote is set.
    pub fn require(&self, p: Option<&Pipeline>) -> Result<Remote, Exit> {
        self.open(p)?.ok_or_else(|| {
            Exit::usage("no remote: give --remote s3://BUCKET/PREFIX, set LUNGFLOW_REMOTE, or write cache: {remote: ...} in the pipeline")
        })
    }
}
