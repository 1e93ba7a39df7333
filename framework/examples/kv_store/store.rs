//! Where the key-value pairs live: in memory when every connection shares the server's memory,
//! in a directory (one file per key) when they may not, as in forking mode.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// The longest key, in bytes.
pub const MAX_KEY_LEN: usize = 64;

/// Why a key was refused; the text goes to the client after `ERR `.
pub fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(format!("bad key: 1 to {MAX_KEY_LEN} bytes"));
    }
    // Keys double as file names: no `/`, and no leading `.` so they never meet temp files.
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if key.starts_with('.') || !key.chars().all(allowed) {
        return Err("bad key: use A-Z a-z 0-9 . _ - and do not start with .".to_string());
    }
    Ok(())
}

/// The store behind every connection of one server.
#[derive(Clone, Debug)]
pub enum Store {
    /// A map in this process's memory: seen by every connection only if they share memory
    /// (async, threading, sequential modes).
    Memory(Arc<Mutex<BTreeMap<String, String>>>),
    /// One file per key in a directory: seen by every connection in every mode, forked
    /// children included.
    Files(Arc<Path>),
}

/// Makes temp-file names unique among this process's threads; the pid separates processes.
static NEXT_TEMP: AtomicU64 = AtomicU64::new(0);

impl Store {
    /// An empty in-memory store.
    pub fn memory() -> Self {
        Store::Memory(Arc::default())
    }

    /// A store in `dir`, created if missing; keys already there are kept.
    pub fn files(dir: PathBuf) -> io::Result<Self> {
        fs::create_dir_all(&dir)?;
        Ok(Store::Files(Arc::from(dir)))
    }

    /// Whether this store lives in the process's memory.
    pub fn is_memory(&self) -> bool {
        matches!(self, Store::Memory(_))
    }

    /// Whether operations touch the disk (and so block their thread).
    pub fn blocks(&self) -> bool {
        matches!(self, Store::Files(_))
    }

    /// Sets `key` to `value`, replacing any earlier value.
    pub fn set(&self, key: &str, value: &str) -> io::Result<()> {
        match self {
            Store::Memory(map) => {
                lock(map).insert(key.to_string(), value.to_string());
                Ok(())
            }
            Store::Files(dir) => {
                // Write a temp file, then rename it over the key: a reader (in any process)
                // sees the old value or the new one, never half of one, and two writers of
                // one key leave one whole value. Every operation touches one file, so no
                // lock is needed beyond what rename already gives.
                let temp = dir.join(format!(
                    ".tmp.{}.{}",
                    std::process::id(),
                    NEXT_TEMP.fetch_add(1, Ordering::Relaxed)
                ));
                let written = fs::File::create_new(&temp).and_then(|mut file| {
                    file.write_all(value.as_bytes())?;
                    file.sync_data()
                });
                let renamed = written.and_then(|()| fs::rename(&temp, dir.join(key)));
                if renamed.is_err() {
                    let _ = fs::remove_file(&temp);
                }
                renamed
            }
        }
    }

    /// The value of `key`, if it has one.
    pub fn get(&self, key: &str) -> io::Result<Option<String>> {
        match self {
            Store::Memory(map) => Ok(lock(map).get(key).cloned()),
            Store::Files(dir) => match fs::read(dir.join(key)) {
                Ok(bytes) => String::from_utf8(bytes)
                    .map(Some)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            },
        }
    }

    /// Removes `key`; whether it had a value.
    pub fn delete(&self, key: &str) -> io::Result<bool> {
        match self {
            Store::Memory(map) => Ok(lock(map).remove(key).is_some()),
            Store::Files(dir) => match fs::remove_file(dir.join(key)) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err(e),
            },
        }
    }

    /// Every key, sorted.
    pub fn keys(&self) -> io::Result<Vec<String>> {
        match self {
            Store::Memory(map) => Ok(lock(map).keys().cloned().collect()),
            Store::Files(dir) => {
                let mut keys = Vec::new();
                for entry in fs::read_dir(dir)? {
                    // Temp files and anything else that is not a key are skipped.
                    if let Ok(name) = entry?.file_name().into_string()
                        && check_key(&name).is_ok()
                    {
                        keys.push(name);
                    }
                }
                keys.sort();
                Ok(keys)
            }
        }
    }
}

/// Locks the map; a panic in another connection cannot leave a half-made change in a
/// `BTreeMap` insert or remove, so a poisoned lock is still usable.
fn lock(map: &Mutex<BTreeMap<String, String>>) -> MutexGuard<'_, BTreeMap<String, String>> {
    map.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
