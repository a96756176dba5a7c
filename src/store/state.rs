//! The one embedded store beside the cache (SQLite, WAL mode): the stat cache
//! of external files and the key each pipeline instance last resolved to.
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

    /// Every stat-cache row.
    pub fn load_stats(&self) -> Result<HashMap<String, StatRow>> {
        let mut stmt = self.conn.prepare("SELECT path, size, mtime_ns, inode, digest FROM stat")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                StatRow { size: r.get::<_, i64>(1)? as u64, mtime_ns: r.get(2)?, inode: r.get::<_, i64>(3)? as u64, digest: r.get(4)? },
            ))
        })?;
        rows.collect::<Result<HashMap<_, _>, _>>().context("cannot read the stat cache")
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
            PRIMARY KEY (pipeline, stage, item)) WITHOUT ROWID;",
    )
}

fn is_damage(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt))
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked))
}
