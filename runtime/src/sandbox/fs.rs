//! The host side of a Micro's file system (S7, S13, S16): the size check of its code and
//! component at load, and its private `/tmp` directory under the state dir (created fresh,
//! wiped on sleep, removed on shutdown), and the check that the state dir and a code dir do
//! not overlap (the state dir holds every Micro's Data Key, logs, `/tmp` and the app's data).
//!
//! It must not give a guest any host path other than the Micro's own code dir and tmp dir.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// S16: code and assets of one Micro, and its component ("dependencies"), at most 250 MB each.
pub const MAX_CODE_BYTES: u64 = 250_000_000;

/// Checks S16 for one Micro: the code dir's total file size and the component's size.
pub fn check_sizes(micro: &str, code_dir: &Path, component: &Path) -> Result<()> {
    let code = dir_size(code_dir)
        .with_context(|| format!("micro `{micro}`: reading code dir {}", code_dir.display()))?;
    if code > MAX_CODE_BYTES {
        bail!(
            "micro `{micro}`: code dir {} holds {code} bytes; at most {MAX_CODE_BYTES} are allowed (S16)",
            code_dir.display()
        );
    }
    let comp = std::fs::metadata(component)
        .with_context(|| {
            format!(
                "micro `{micro}`: component {} not found",
                component.display()
            )
        })?
        .len();
    if comp > MAX_CODE_BYTES {
        bail!(
            "micro `{micro}`: component {} is {comp} bytes; at most {MAX_CODE_BYTES} are allowed (S16)",
            component.display()
        );
    }
    Ok(())
}

/// Total size of the regular files under `dir`, not following symlinks.
pub fn dir_size(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let meta = entry.file_type()?;
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() {
                total += entry.metadata()?.len();
            }
        }
    }
    Ok(total)
}

/// Creates `dir` (and its parents) and makes it owner-only (0700 on unix): the state dir and
/// the dirs in it hold keys, logs, data and compiled code that no other local user may read
/// or replace.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("making {} owner-only", dir.display()))?;
    }
    Ok(())
}

/// A Micro's private `/tmp` on the host.
pub struct TmpDir {
    path: PathBuf,
}

impl TmpDir {
    /// Creates `<root>/<micro>`, empty (anything left by an earlier run is removed).
    pub fn create(root: &Path, micro: &str) -> Result<TmpDir> {
        create_private_dir(root)?;
        let path = root.join(micro);
        let dir = TmpDir { path };
        dir.wipe()?;
        Ok(dir)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Empties the directory (S11: /tmp is wiped when a Micro sleeps).
    pub fn wipe(&self) -> Result<()> {
        if self.path.exists() {
            std::fs::remove_dir_all(&self.path)
                .with_context(|| format!("wiping {}", self.path.display()))?;
        }
        std::fs::create_dir_all(&self.path)
            .with_context(|| format!("creating {}", self.path.display()))
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// `path` made absolute with symlinks resolved as far as it exists (the rest is appended as
/// written, without `.` or `..`), so two paths can be compared even before one is created.
pub fn resolved(path: &Path) -> PathBuf {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut rest = Vec::new();
    let mut base = abs.as_path();
    loop {
        if let Ok(canon) = base.canonicalize() {
            return rest.iter().rev().fold(canon, |p, c| p.join(c));
        }
        match (base.parent(), base.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                base = parent;
            }
            _ => return abs,
        }
    }
}

/// Whether one of `a` and `b` lies inside the other (or they are the same dir), after
/// [`resolved`].
pub fn overlaps(a: &Path, b: &Path) -> bool {
    let (a, b) = (resolved(a), resolved(b));
    a.starts_with(&b) || b.starts_with(&a)
}

/// The first Micro (name, code dir) whose code dir overlaps `state_dir`.
pub fn code_dir_holding<'a>(
    state_dir: &Path,
    code_dirs: impl IntoIterator<Item = (&'a str, &'a Path)>,
) -> Option<(&'a str, &'a Path)> {
    code_dirs
        .into_iter()
        .find(|(_, code)| overlaps(state_dir, code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_dir_inside_or_around_a_code_dir_overlaps() {
        let t = tempfile::tempdir().unwrap();
        let app = t.path().join("app");
        std::fs::create_dir_all(app.join("web")).unwrap();
        assert!(overlaps(&app.join(".micro-wasm"), &app));
        assert!(overlaps(&app, &app.join("web")));
        assert!(overlaps(&app.join("web/../.micro-wasm"), &app));
        assert!(!overlaps(&app.join(".micro-wasm"), &app.join("web")));
        assert!(!overlaps(&t.path().join("state"), &app));
        let dirs = [("web", app.join("web")), ("root", app.clone())];
        let found = code_dir_holding(
            &app.join(".micro-wasm"),
            dirs.iter().map(|(n, d)| (*n, d.as_path())),
        );
        assert_eq!(found.map(|f| f.0), Some("root"));
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_into_a_code_dir_still_overlaps() {
        let t = tempfile::tempdir().unwrap();
        let app = t.path().join("app");
        std::fs::create_dir_all(&app).unwrap();
        std::os::unix::fs::symlink(&app, t.path().join("link")).unwrap();
        assert!(overlaps(&t.path().join("link/state"), &app));
    }
}
