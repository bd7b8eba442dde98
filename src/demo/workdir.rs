//! The demo's working folder: its site file and store, in the system's temporary folder,
//! removed when the demo ends (also on an error or a panic, by `Drop`).

use std::path::{Path, PathBuf};

/// A folder of the demo's own, removed on drop.
#[derive(Debug)]
pub struct WorkDir {
    path: PathBuf,
}

impl WorkDir {
    /// Creates `chargegate-demo-<pid>-<ns>` under the temporary folder (`$TMPDIR` or
    /// `/tmp`); `create_dir` fails rather than reuse a folder that exists.
    pub fn create() -> std::io::Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path =
            std::env::temp_dir().join(format!("chargegate-demo-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&path)?;
        Ok(Self { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the folder now, saying whether that worked.
    pub fn remove(mut self) -> std::io::Result<()> {
        let path = std::mem::take(&mut self.path);
        std::fs::remove_dir_all(path)
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_folder_is_removed_with_what_is_in_it() {
        let dir = WorkDir::create().unwrap();
        let path = dir.path().to_path_buf();
        std::fs::write(path.join("site.toml"), "x").unwrap();
        dir.remove().unwrap();
        assert!(!path.exists());
        let dropped = WorkDir::create().unwrap();
        let path = dropped.path().to_path_buf();
        drop(dropped);
        assert!(!path.exists());
    }
}
