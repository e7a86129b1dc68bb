//! The host side of a Micro's file system (S7, S13, S16): the size check of its code and
//! component at load, and its private `/tmp` directory under the state dir (created fresh,
//! wiped on sleep, removed on shutdown).
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

/// A Micro's private `/tmp` on the host.
pub struct TmpDir {
    path: PathBuf,
}

impl TmpDir {
    /// Creates `<root>/<micro>`, empty (anything left by an earlier run is removed).
    pub fn create(root: &Path, micro: &str) -> Result<TmpDir> {
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
