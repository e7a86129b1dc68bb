//! API-key protection of an app (SPEC §4 `auth = "api-key"`): keys made by
//! `micro-wasm keys create`, stored hashed in `<state>/api_keys.json`, checked in constant time
//! against `X-Space-App-Key` (the front door decides which routes need one).
//!
//! Keys are 40 random alphanumeric characters (about 238 bits), so an unsalted SHA-256 is a
//! sound way to store them: there is nothing to brute-force. The file is re-read when it
//! changes (checked at most once a second), so `keys revoke` takes effect on a running app.
//! This module must not log or return a key after `create` has shown it once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use rand::distr::{Alphanumeric, SampleString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::file::write_private;

/// The request header carrying an app key.
pub const HEADER: http::HeaderName = http::HeaderName::from_static("x-space-app-key");
/// The file holding the hashed keys, in the state dir.
pub const FILE: &str = "api_keys.json";
const KEY_LEN: usize = 40;
const RELOAD_EVERY: Duration = Duration::from_secs(1);

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct KeyFile {
    keys: BTreeMap<String, StoredKey>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct StoredKey {
    /// Hex SHA-256 of the key.
    sha256: String,
    /// RFC 3339 creation time.
    created: String,
}

fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(FILE)
}

fn read(state_dir: &Path) -> Result<KeyFile> {
    let p = path(state_dir);
    match std::fs::read(&p) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a valid key file", p.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(KeyFile::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
    }
}

fn write(state_dir: &Path, file: &KeyFile) -> Result<()> {
    std::fs::create_dir_all(state_dir)
        .with_context(|| format!("creating {}", state_dir.display()))?;
    write_private(&path(state_dir), &serde_json::to_vec_pretty(file)?)
}

pub(super) fn hash(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Creates a key named `name` and returns it (the only time it is shown).
/// Refuses a key name that is empty or not made of letters, digits, `-` and `_`.
pub(super) fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        bail!("key name `{name}` must be non-empty and use only letters, digits, `-` and `_`");
    }
    Ok(())
}

/// A new key and its creation time (RFC 3339).
pub(super) fn new_key() -> (String, String) {
    let key = Alphanumeric.sample_string(&mut rand::rng(), KEY_LEN);
    let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    (key, created)
}

pub fn create(state_dir: &Path, name: &str) -> Result<String> {
    check_name(name)?;
    let mut file = read(state_dir)?;
    if file.keys.contains_key(name) {
        bail!(
            "a key named `{name}` already exists in {}; revoke it first",
            path(state_dir).display()
        );
    }
    let (key, created) = new_key();
    file.keys.insert(
        name.to_string(),
        StoredKey {
            sha256: hash(&key),
            created,
        },
    );
    write(state_dir, &file)?;
    Ok(key)
}

/// Names and creation times of the keys.
pub fn list(state_dir: &Path) -> Result<Vec<(String, String)>> {
    Ok(read(state_dir)?
        .keys
        .into_iter()
        .map(|(n, k)| (n, k.created))
        .collect())
}

/// Removes the key named `name`.
pub fn revoke(state_dir: &Path, name: &str) -> Result<()> {
    let mut file = read(state_dir)?;
    if file.keys.remove(name).is_none() {
        let known: Vec<_> = file.keys.keys().cloned().collect();
        bail!(
            "no key named `{name}` (known: {})",
            if known.is_empty() {
                "none".into()
            } else {
                known.join(", ")
            }
        );
    }
    write(state_dir, &file)
}

/// The running app's view of its keys, reloaded when the file changes.
pub struct ApiKeys {
    pub(super) state_dir: PathBuf,
    pub(super) cache: Arc<RwLock<Cache>>,
    /// The keys are in the PostgreSQL store and a task keeps the cache fresh
    /// (`super::api_pg`); the file is not read.
    pub(super) shared: bool,
}

pub(super) struct Cache {
    checked: Instant,
    modified: Option<SystemTime>,
    pub(super) hashes: Vec<[u8; 32]>,
}

impl Cache {
    pub(super) fn new(hashes: Vec<[u8; 32]>) -> Cache {
        Cache {
            checked: Instant::now(),
            modified: None,
            hashes,
        }
    }
}

/// The 32 bytes of a hex SHA-256; None when it is not one.
pub(super) fn digest_of(hex: &str) -> Option<[u8; 32]> {
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    bytes.try_into().ok()
}

impl ApiKeys {
    pub fn load(state_dir: &Path) -> Result<ApiKeys> {
        let keys = ApiKeys {
            state_dir: state_dir.to_path_buf(),
            cache: Arc::new(RwLock::new(Cache::new(Vec::new()))),
            shared: false,
        };
        keys.reload()?;
        Ok(keys)
    }

    fn reload(&self) -> Result<()> {
        let modified = std::fs::metadata(path(&self.state_dir))
            .and_then(|m| m.modified())
            .ok();
        let hashes = read(&self.state_dir)?
            .keys
            .values()
            .filter_map(|k| digest_of(&k.sha256))
            .collect();
        *self.cache.write().unwrap() = Cache {
            checked: Instant::now(),
            modified,
            hashes,
        };
        Ok(())
    }

    fn refresh(&self) {
        if self.shared {
            return;
        }
        let stale = self.cache.read().unwrap().checked.elapsed() >= RELOAD_EVERY;
        if !stale {
            return;
        }
        let modified = std::fs::metadata(path(&self.state_dir))
            .and_then(|m| m.modified())
            .ok();
        if modified != self.cache.read().unwrap().modified {
            if let Err(e) = self.reload() {
                tracing::warn!("keeping the previous api keys: {e:#}");
            }
        } else {
            self.cache.write().unwrap().checked = Instant::now();
        }
    }

    /// Whether `presented` is one of the app's keys; every stored hash is compared, each in
    /// constant time.
    pub fn check(&self, presented: Option<&[u8]>) -> bool {
        let Some(presented) = presented else {
            return false;
        };
        self.refresh();
        let digest: [u8; 32] = Sha256::digest(presented).into();
        let cache = self.cache.read().unwrap();
        cache
            .hashes
            .iter()
            .fold(0u8, |found, h| found | h.ct_eq(&digest).unwrap_u8())
            == 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stored_hashed_checked_and_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let key = create(dir.path(), "ci").unwrap();
        assert_eq!(key.len(), KEY_LEN);
        let text = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
        assert!(!text.contains(&key), "the plain key is never stored");
        let keys = ApiKeys::load(dir.path()).unwrap();
        assert!(keys.check(Some(key.as_bytes())));
        assert!(!keys.check(Some(b"wrong")));
        assert!(!keys.check(None));
        assert!(
            create(dir.path(), "ci").is_err(),
            "duplicate names are refused"
        );
        assert_eq!(list(dir.path()).unwrap()[0].0, "ci");
        revoke(dir.path(), "ci").unwrap();
        keys.reload().unwrap();
        assert!(!keys.check(Some(key.as_bytes())));
        assert!(
            revoke(dir.path(), "ci")
                .unwrap_err()
                .to_string()
                .contains("no key named `ci`")
        );
    }
}
