//! Data keys in the state dir (S4, SPEC §5 `DETA_PROJECT_KEY`): one app id shared by the
//! app's Micros and one secret per Micro, kept in `<state>/keys.json` so they stay the same
//! across restarts.
//!
//! The file is created on first use and written with `super::file::write_private`
//! (atomic, owner-only). Existing entries are never changed: a missing Micro gets a new
//! secret, and a corrupt file is an error, never silently regenerated. Keys come from the
//! thread-local CSPRNG seeded by the OS. Nothing here logs or displays a secret.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::Path;

use anyhow::{Context, bail};
use rand::Rng;
use rand::distr::{Alphanumeric, SampleString};
use serde::{Deserialize, Serialize};

use super::file::write_private;

/// The file's name inside the state dir.
pub const KEYS_FILE: &str = "keys.json";

const APP_ID_LEN: usize = 8;
const APP_ID_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const SECRET_LEN: usize = 32;

/// The app id and the per-Micro secrets loaded from `<state>/keys.json`.
#[derive(Clone)]
pub struct DataKeys {
    /// 8 characters of `[a-z0-9]`, shared by every Micro of the app.
    pub app_id: String,
    /// Micro name to its secret, 32 characters of `[A-Za-z0-9]`.
    secrets: BTreeMap<String, String>,
}

/// The file as stored.
#[derive(Serialize, Deserialize)]
struct KeysFile {
    app_id: String,
    micros: BTreeMap<String, String>,
    /// Fields written by other code or later versions, kept as they are when the file is
    /// rewritten.
    #[serde(flatten)]
    other: serde_json::Map<String, serde_json::Value>,
}

impl DataKeys {
    /// Loads `<state_dir>/keys.json`, creating the dir and the file if needed, and adds a
    /// secret for each of `micros` that has none yet (writing the file again only then).
    ///
    /// Assumes one writer per state dir at a time.
    ///
    /// # Errors
    ///
    /// The file cannot be read, parsed or written, or holds an app id or a secret of the
    /// wrong shape; every message names the file.
    pub fn load_or_create(state_dir: &Path, micros: &[&str]) -> anyhow::Result<DataKeys> {
        let path = state_dir.join(KEYS_FILE);
        let existing = read_keys_file(&path)?;
        let mut changed = existing.is_none();
        let mut file = existing.unwrap_or_else(|| KeysFile {
            app_id: new_app_id(),
            micros: BTreeMap::new(),
            other: serde_json::Map::new(),
        });
        for micro in micros {
            if !file.micros.contains_key(*micro) {
                file.micros.insert(micro.to_string(), new_secret());
                changed = true;
            }
        }
        if changed {
            fs::create_dir_all(state_dir)
                .with_context(|| format!("cannot create state dir {}", state_dir.display()))?;
            write_keys_file(&path, &file)?;
        }
        Ok(DataKeys {
            app_id: file.app_id,
            secrets: file.micros,
        })
    }

    /// Keys read from elsewhere (the PostgreSQL store), checked like the file's.
    pub(super) fn from_parts(
        app_id: String,
        secrets: BTreeMap<String, String>,
        origin: &str,
    ) -> anyhow::Result<DataKeys> {
        if !is_app_id(&app_id) {
            bail!("{origin}: app_id {app_id:?} is not {APP_ID_LEN} characters of [a-z0-9]");
        }
        if let Some(micro) = secrets.iter().find(|(_, s)| !is_secret(s)).map(|(m, _)| m) {
            bail!(
                "{origin}: the secret of micro {micro:?} is not {SECRET_LEN} characters of [A-Za-z0-9]"
            );
        }
        Ok(DataKeys { app_id, secrets })
    }

    /// Every Micro's `DETA_PROJECT_KEY`: the keys the app's data service accepts.
    pub fn project_keys(&self) -> Vec<String> {
        self.secrets
            .values()
            .map(|secret| format!("{}_{secret}", self.app_id))
            .collect()
    }

    /// `DETA_PROJECT_KEY` for `micro`: `<app_id>_<secret>`, or `None` for an unknown Micro.
    pub fn project_key(&self, micro: &str) -> Option<String> {
        let secret = self.secrets.get(micro)?;
        Some(format!("{}_{secret}", self.app_id))
    }
}

impl fmt::Debug for DataKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKeys")
            .field("app_id", &self.app_id)
            .field("micros", &self.secrets.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Reads and checks the file; `None` when it does not exist yet.
fn read_keys_file(path: &Path) -> anyhow::Result<Option<KeysFile>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(error).with_context(|| format!("cannot read {}", path.display()));
        }
    };
    let file: KeysFile = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is corrupt: it is not a data keys file (fix or restore it; deleting it changes every DETA_PROJECT_KEY)",
            path.display()
        )
    })?;
    if !is_app_id(&file.app_id) {
        bail!(
            "{} is corrupt: app_id {:?} is not {APP_ID_LEN} characters of [a-z0-9]",
            path.display(),
            file.app_id
        );
    }
    for (micro, secret) in &file.micros {
        if !is_secret(secret) {
            bail!(
                "{} is corrupt: the secret of micro {micro:?} is not {SECRET_LEN} characters of [A-Za-z0-9]",
                path.display()
            );
        }
    }
    warn_if_readable_by_others(path);
    Ok(Some(file))
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(metadata) = fs::metadata(path)
        && metadata.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            path = %path.display(),
            "data keys file is accessible to other users; chmod 600 it"
        );
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

/// Writes `file` to `path` with [`write_private`].
fn write_keys_file(path: &Path, file: &KeysFile) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(file).context("cannot serialize data keys")?;
    text.push('\n');
    write_private(path, text.as_bytes())
}

pub(super) fn new_app_id() -> String {
    let mut rng = rand::rng();
    (0..APP_ID_LEN)
        .map(|_| char::from(APP_ID_CHARS[rng.random_range(0..APP_ID_CHARS.len())]))
        .collect()
}

pub(super) fn new_secret() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), SECRET_LEN)
}

fn is_app_id(text: &str) -> bool {
    text.len() == APP_ID_LEN
        && text
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit())
}

fn is_secret(text: &str) -> bool {
    text.len() == SECRET_LEN && text.bytes().all(|byte| byte.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A fresh dir under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> TempDir {
            let nonce = Alphanumeric.sample_string(&mut rand::rng(), 12);
            let dir = std::env::temp_dir().join(format!(
                "micro-wasm-keys-test-{}-{nonce}",
                std::process::id()
            ));
            fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// `^[a-z0-9]{8}_[A-Za-z0-9]{32}$`
    fn is_project_key(key: &str) -> bool {
        key.split_once('_')
            .is_some_and(|(app_id, secret)| is_app_id(app_id) && is_secret(secret))
    }

    fn secret_of(keys: &DataKeys, micro: &str) -> String {
        keys.project_key(micro).unwrap()[APP_ID_LEN + 1..].to_string()
    }

    #[test]
    fn s4_project_key_format() {
        let dir = TempDir::new();
        let keys = DataKeys::load_or_create(&dir.0, &["api", "web"]).unwrap();
        assert!(is_app_id(&keys.app_id), "{}", keys.app_id);
        for micro in ["api", "web"] {
            let key = keys.project_key(micro).unwrap();
            assert!(is_project_key(&key), "{key}");
            assert!(key.starts_with(&format!("{}_", keys.app_id)));
            assert_eq!(key.len(), APP_ID_LEN + 1 + SECRET_LEN);
        }
    }

    #[test]
    fn s4_format_checks_reject_wrong_shapes() {
        assert!(is_project_key("abcd0123_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"));
        assert!(!is_project_key("ABCD0123_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"));
        assert!(!is_project_key("abcd012_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg"));
        assert!(!is_project_key("abcd0123_ABCDEFGHIJKLMNOPQRSTUVWXYZabcde-"));
        assert!(!is_project_key("abcd0123ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"));
    }

    #[test]
    fn s4_keys_differ_per_micro() {
        let dir = TempDir::new();
        let micros = ["a", "b", "c", "d", "e"];
        let keys = DataKeys::load_or_create(&dir.0, &micros).unwrap();
        let mut project_keys: Vec<String> = micros
            .iter()
            .map(|micro| keys.project_key(micro).unwrap())
            .collect();
        project_keys.sort();
        project_keys.dedup();
        assert_eq!(project_keys.len(), micros.len());
    }

    #[test]
    fn s4_keys_stable_across_loads() {
        let dir = TempDir::new();
        let first = DataKeys::load_or_create(&dir.0, &["api", "web"]).unwrap();
        let written = fs::read(dir.0.join(KEYS_FILE)).unwrap();
        let second = DataKeys::load_or_create(&dir.0, &["api", "web"]).unwrap();
        assert_eq!(first.app_id, second.app_id);
        for micro in ["api", "web"] {
            assert_eq!(first.project_key(micro), second.project_key(micro));
        }
        assert_eq!(fs::read(dir.0.join(KEYS_FILE)).unwrap(), written);
    }

    #[test]
    fn s4_app_id_differs_between_state_dirs() {
        let (one, two) = (TempDir::new(), TempDir::new());
        let first = DataKeys::load_or_create(&one.0, &["api"]).unwrap();
        let second = DataKeys::load_or_create(&two.0, &["api"]).unwrap();
        assert_ne!(first.project_key("api"), second.project_key("api"));
    }

    #[test]
    fn s4_new_micro_gets_key_old_keys_unchanged() {
        let dir = TempDir::new();
        let before = DataKeys::load_or_create(&dir.0, &["api"]).unwrap();
        let after = DataKeys::load_or_create(&dir.0, &["api", "web"]).unwrap();
        assert_eq!(before.app_id, after.app_id);
        assert_eq!(before.project_key("api"), after.project_key("api"));
        assert!(before.project_key("web").is_none());
        let web = after.project_key("web").unwrap();
        assert!(is_project_key(&web));
        assert_ne!(secret_of(&after, "web"), secret_of(&after, "api"));
        let again = DataKeys::load_or_create(&dir.0, &["web", "api"]).unwrap();
        assert_eq!(again.project_key("web").as_deref(), Some(web.as_str()));
    }

    #[test]
    fn s4_removed_micro_keeps_its_entry() {
        let dir = TempDir::new();
        let before = DataKeys::load_or_create(&dir.0, &["api", "old"]).unwrap();
        let only_api = DataKeys::load_or_create(&dir.0, &["api"]).unwrap();
        assert_eq!(only_api.project_key("old"), before.project_key("old"));
        let back = DataKeys::load_or_create(&dir.0, &["api", "old"]).unwrap();
        assert_eq!(back.project_key("old"), before.project_key("old"));
    }

    #[test]
    fn s4_unknown_micro_has_no_key() {
        let dir = TempDir::new();
        let keys = DataKeys::load_or_create(&dir.0, &["api"]).unwrap();
        assert_eq!(keys.project_key("web"), None);
    }

    #[test]
    fn s4_file_shape_on_disk() {
        let dir = TempDir::new();
        let keys = DataKeys::load_or_create(&dir.0, &["api"]).unwrap();
        let text = fs::read_to_string(dir.0.join(KEYS_FILE)).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["app_id"], keys.app_id.as_str());
        assert_eq!(
            format!(
                "{}_{}",
                keys.app_id,
                value["micros"]["api"].as_str().unwrap()
            ),
            keys.project_key("api").unwrap()
        );
        assert_eq!(value.as_object().unwrap().len(), 2);
    }

    #[test]
    fn s4_state_dir_created_on_first_use() {
        let dir = TempDir::new();
        let state = dir.0.join("nested").join(".micro-wasm");
        DataKeys::load_or_create(&state, &["api"]).unwrap();
        assert!(state.join(KEYS_FILE).is_file());
    }

    #[test]
    fn s4_no_temp_files_left_behind() {
        let dir = TempDir::new();
        DataKeys::load_or_create(&dir.0, &["api"]).unwrap();
        DataKeys::load_or_create(&dir.0, &["api", "web"]).unwrap();
        let names: Vec<String> = fs::read_dir(&dir.0)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, [KEYS_FILE]);
    }

    #[cfg(unix)]
    #[test]
    fn s4_keys_file_mode_is_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = TempDir::new();
        DataKeys::load_or_create(&dir.0, &["api"]).unwrap();
        let mode = fs::metadata(dir.0.join(KEYS_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        DataKeys::load_or_create(&dir.0, &["api", "web"]).unwrap();
        let mode = fs::metadata(dir.0.join(KEYS_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn s4_unknown_fields_survive_a_rewrite() {
        let dir = TempDir::new();
        let path = dir.0.join(KEYS_FILE);
        fs::write(
            &path,
            r#"{"app_id":"abcd0123","micros":{"api":"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"},"api_keys":{"ci":"hash"}}"#,
        )
        .unwrap();
        let keys = DataKeys::load_or_create(&dir.0, &["api", "web"]).unwrap();
        assert_eq!(
            keys.project_key("api").as_deref(),
            Some("abcd0123_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef")
        );
        let value: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(value["api_keys"]["ci"], "hash");
        assert!(value["micros"]["web"].is_string());
    }

    #[track_caller]
    fn assert_corrupt(contents: &str, expected: &str) {
        let dir = TempDir::new();
        let path = dir.0.join(KEYS_FILE);
        fs::write(&path, contents).unwrap();
        let error = DataKeys::load_or_create(&dir.0, &["api"]).unwrap_err();
        let message = format!("{error:#}");
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains(expected), "{message}");
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            contents,
            "file was changed"
        );
    }

    #[test]
    fn s4_corrupt_file_is_an_error_naming_the_path() {
        assert_corrupt("", "is corrupt");
        assert_corrupt("{not json", "is corrupt");
        assert_corrupt("[]", "is corrupt");
        assert_corrupt(r#"{"micros":{}}"#, "is corrupt");
        assert_corrupt(r#"{"app_id":"abcd0123"}"#, "is corrupt");
        assert_corrupt(r#"{"app_id":"abcd0123","micros":{"api":7}}"#, "is corrupt");
    }

    #[test]
    fn s4_wrong_shaped_keys_are_an_error() {
        assert_corrupt(
            r#"{"app_id":"ABCD0123","micros":{}}"#,
            "app_id \"ABCD0123\"",
        );
        assert_corrupt(r#"{"app_id":"abc","micros":{}}"#, "app_id \"abc\"");
        let secret_error = "the secret of micro \"api\"";
        assert_corrupt(
            r#"{"app_id":"abcd0123","micros":{"api":"short"}}"#,
            secret_error,
        );
        assert_corrupt(
            r#"{"app_id":"abcd0123","micros":{"api":"ABCDEFGHIJKLMNOPQRSTUVWXYZabcde!"}}"#,
            secret_error,
        );
    }

    #[test]
    fn s4_errors_never_show_a_secret() {
        let dir = TempDir::new();
        let secret = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcde!";
        fs::write(
            dir.0.join(KEYS_FILE),
            format!(r#"{{"app_id":"abcd0123","micros":{{"api":"{secret}"}}}}"#),
        )
        .unwrap();
        let error = DataKeys::load_or_create(&dir.0, &[]).unwrap_err();
        assert!(!format!("{error:#}").contains(secret));
    }

    #[test]
    fn s4_debug_output_hides_secrets() {
        let dir = TempDir::new();
        let keys = DataKeys::load_or_create(&dir.0, &["api"]).unwrap();
        let debug = format!("{keys:?}");
        assert!(debug.contains("api"));
        assert!(!debug.contains(&secret_of(&keys, "api")));
    }

    #[test]
    fn s4_unreadable_state_path_is_an_error_naming_it() {
        let dir = TempDir::new();
        let not_a_dir = dir.0.join("file");
        fs::write(&not_a_dir, "x").unwrap();
        let error = DataKeys::load_or_create(&not_a_dir, &["api"]).unwrap_err();
        let message = format!("{error:#}");
        assert!(
            message.contains(&not_a_dir.display().to_string()),
            "{message}"
        );
    }
}
