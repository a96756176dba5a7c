//! The one embedded store beside the cache (SQLite, WAL mode): the stat cache
//! of external files, the key each pipeline instance last resolved to, and
//! the Slurm tasks computing keys right now (only the orchestrator writes it;
//! Slurm tasks never open it).
//!
//! Several lungflow processes may use it at once; each write is a short
//! transaction, and readers never block writers.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use rusqlite::{Connection, params};

/// What the stat cache remembers of one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatRow {
    /// Size in bytes.
    pub size: u64,
    /// Modification time in nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// Inode number.
    pub inode: u64,
    /// blake3 of the contents, hex.
    pub digest: String,
}

/// A Slurm task the state store remembers: what a rerun re-attaches to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlurmTaskRow {
    /// The job's name (`lf-RUN-N-...`).
    pub job_name: String,
    /// The task's index in the job's array (0 for a single job).
    pub task: usize,
    /// The job id (`123` or `123_4`), once `sbatch` has answered.
    pub job_id: Option<String>,
    /// The staging folder the task writes into.
    pub staging: std::path::PathBuf,
}

/// A connection to the state store.
pub struct StateDb {
    conn: Connection,
}

impl StateDb {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<StateDb> {
        let conn = Connection::open(path).with_context(|| format!("cannot open state store {}", path.display()))?;
        conn.busy_timeout(Duration::from_secs(60))?;
        // Switching to WAL and creating tables take a lock that SQLite's busy
        // handler does not always wait for when two processes start at once.
        let mut attempt = 0;
        loop {
            match init(&conn) {
                Ok(()) => break,
                Err(e) if attempt < 200 && is_busy(&e) => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(25));
                }
                Err(e) if is_damage(&e) => {
                    return Err(e).with_context(|| {
                        format!(
                            "state store {} is damaged; `lungflow verify --repair` sets it aside (it holds only the stat cache and last keys)",
                            path.display()
                        )
                    });
                }
                Err(e) => return Err(e).with_context(|| format!("cannot set up state store {}", path.display())),
            }
        }
        Ok(StateDb { conn })
    }

    /// A second connection to the store at `path`, which [`StateDb::open`]
    /// has set up, for reading the stat cache beside the one that writes.
    pub fn open_reader(path: &Path) -> Result<StateDb> {
        let conn = Connection::open(path).with_context(|| format!("cannot open state store {}", path.display()))?;
        conn.busy_timeout(Duration::from_secs(60))?;
        Ok(StateDb { conn })
    }

    /// Calls `found` with every stat-cache row of a file under the folder
    /// `prefix` (a path ending in `/`), the path given without the prefix:
    /// one range of the table's key, read in key order.
    pub fn stats_under(&self, prefix: &str, mut found: impl FnMut(&str, StatRow)) -> Result<()> {
        // Paths under the folder sort from `prefix` up to, not including,
        // the prefix with its last `/` bumped to `0`.
        let end = format!("{}0", prefix.strip_suffix('/').context("a folder's prefix ends with /")?);
        let mut stmt = self.conn.prepare_cached("SELECT path, size, mtime_ns, inode, digest FROM stat WHERE path >= ?1 AND path < ?2")?;
        let mut rows = stmt.query(params![prefix, end])?;
        while let Some(r) = rows.next().context("cannot read the stat cache")? {
            let path = r.get_ref(0)?.as_str()?;
            found(path.strip_prefix(prefix).unwrap_or(path), stat_row(r)?);
        }
        Ok(())
    }

    /// The stat-cache row of the file at `path`, if it has one.
    pub fn stat_of(&self, path: &str) -> Result<Option<StatRow>> {
        let mut stmt = self.conn.prepare_cached("SELECT path, size, mtime_ns, inode, digest FROM stat WHERE path = ?1")?;
        let mut rows = stmt.query(params![path])?;
        Ok(match rows.next().context("cannot read the stat cache")? {
            Some(r) => Some(stat_row(r)?),
            None => None,
        })
    }

    /// Records freshly hashed files.
    pub fn save_stats(&mut self, rows: &[(String, StatRow)]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        {
            let mut stmt =
                tx.prepare_cached("INSERT OR REPLACE INTO stat (path, size, mtime_ns, inode, digest) VALUES (?1, ?2, ?3, ?4, ?5)")?;
            for (path, s) in rows {
                stmt.execute(params![path, s.size as i64, s.mtime_ns, s.inode as i64, s.digest])?;
            }
        }
        tx.commit().context("cannot write the stat cache")
    }

    /// The key an instance last resolved to, if it ever did.
    pub fn last_key(&self, pipeline: &str, stage: &str, item: Option<&str>) -> Result<Option<String>> {
        let mut stmt = self.conn.prepare_cached("SELECT key FROM last_run WHERE pipeline = ?1 AND stage = ?2 AND item = ?3")?;
        let mut rows = stmt.query(params![pipeline, stage, item.unwrap_or("")])?;
        Ok(match rows.next()? {
            Some(r) => Some(r.get(0)?),
            None => None,
        })
    }

    /// Every instance's last key for one pipeline: (stage, item) -> key.
    pub fn last_keys(&self, pipeline: &str) -> Result<HashMap<(String, String), String>> {
        let mut stmt = self.conn.prepare("SELECT stage, item, key FROM last_run WHERE pipeline = ?1")?;
        let rows = stmt.query_map(params![pipeline], |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?)))?;
        rows.collect::<Result<HashMap<_, _>, _>>().context("cannot read last runs")
    }

    /// Remembers the keys instances resolved to in a run.
    pub fn set_last_keys(&mut self, pipeline: &str, rows: &[(String, Option<String>, String)]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached("INSERT OR REPLACE INTO last_run (pipeline, stage, item, key) VALUES (?1, ?2, ?3, ?4)")?;
            for (stage, item, key) in rows {
                stmt.execute(params![pipeline, stage, item.as_deref().unwrap_or(""), key])?;
            }
        }
        tx.commit().context("cannot record last runs")
    }
}

impl StateDb {
    /// Notes that `key` is being computed by task `task` of the Slurm job
    /// named `job_name`, in `staging`; its job id is not known yet (it is
    /// written before `sbatch`, so a run killed during the call can find
    /// the job by name).
    pub fn note_slurm_task(&mut self, key: &str, job_name: &str, task: usize, staging: &Path) -> Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO slurm_job (key, job_name, task, job_id, staging) VALUES (?1, ?2, ?3, NULL, ?4)",
            params![key, job_name, task as i64, staging.display().to_string()],
        )?;
        Ok(())
    }

    /// Records the job id `sbatch` gave the task computing `key`.
    pub fn set_slurm_job_id(&mut self, key: &str, job_id: &str) -> Result<()> {
        self.conn.execute("UPDATE slurm_job SET job_id = ?2 WHERE key = ?1", params![key, job_id])?;
        Ok(())
    }

    /// The Slurm task last noted for `key`, if any.
    pub fn slurm_task(&self, key: &str) -> Result<Option<SlurmTaskRow>> {
        let mut stmt = self.conn.prepare_cached("SELECT job_name, task, job_id, staging FROM slurm_job WHERE key = ?1")?;
        let mut rows = stmt.query(params![key])?;
        Ok(match rows.next()? {
            Some(r) => Some(task_row(r)?),
            None => None,
        })
    }

    /// Every Slurm task the store remembers: those a rerun may re-attach to.
    pub fn slurm_tasks(&self) -> Result<Vec<SlurmTaskRow>> {
        let mut stmt = self.conn.prepare("SELECT job_name, task, job_id, staging FROM slurm_job")?;
        let rows = stmt.query_map([], task_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Forgets the Slurm task of `key` (its result is published or failed).
    pub fn forget_slurm_task(&mut self, key: &str) -> Result<()> {
        self.conn.execute("DELETE FROM slurm_job WHERE key = ?1", params![key])?;
        Ok(())
    }

    /// What is wrong with the store at `path` (SQLite's quick check), or
    /// `None` when it is sound or does not exist yet.
    pub fn check(path: &Path) -> Option<String> {
        if !path.exists() {
            return None;
        }
        let conn = match Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY) {
            Ok(c) => c,
            Err(e) => return Some(format!("{}: cannot open: {e}", path.display())),
        };
        let _ = conn.busy_timeout(Duration::from_secs(10));
        match conn.query_row("PRAGMA quick_check", [], |r| r.get::<_, String>(0)) {
            Ok(ok) if ok == "ok" => None,
            Ok(problem) => Some(format!("{}: {problem}", path.display())),
            Err(e) => Some(format!("{}: {e}", path.display())),
        }
    }

    /// Moves a damaged store (and its WAL files) aside, beside it with a
    /// `.damaged` suffix; returns where it went.
    pub fn set_aside(path: &Path) -> Result<std::path::PathBuf> {
        let target = path.with_extension("sqlite.damaged");
        std::fs::rename(path, &target).with_context(|| format!("cannot move {} aside", path.display()))?;
        for suffix in ["-wal", "-shm"] {
            let side = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
            let _ = std::fs::remove_file(side);
        }
        Ok(target)
    }
}

/// A `stat` row selected as (path, size, mtime_ns, inode, digest).
fn stat_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StatRow> {
    Ok(StatRow { size: r.get::<_, i64>(1)? as u64, mtime_ns: r.get(2)?, inode: r.get::<_, i64>(3)? as u64, digest: r.get(4)? })
}

/// A `slurm_job` row selected as (job_name, task, job_id, staging).
fn task_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SlurmTaskRow> {
    Ok(SlurmTaskRow {
        job_name: r.get(0)?,
        task: r.get::<_, i64>(1)? as usize,
        job_id: r.get(2)?,
        staging: std::path::PathBuf::from(r.get::<_, String>(3)?),
    })
}

fn init(conn: &Connection) -> rusqlite::Result<()> {
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    debug_assert_eq!(mode.to_lowercase(), "wal");
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS stat (
            path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
            inode INTEGER NOT NULL, digest TEXT NOT NULL) WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS last_run (
            pipeline TEXT NOT NULL, stage TEXT NOT NULL, item TEXT NOT NULL, key TEXT NOT NULL,
            PRIMARY KEY (pipeline, stage, item)) WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS slurm_job (
            key TEXT PRIMARY KEY, job_name TEXT NOT NULL, task INTEGER NOT NULL,
            job_id TEXT, staging TEXT NOT NULL) WITHOUT ROWID;",
    )
}

fn is_damage(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt))
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked))
}
