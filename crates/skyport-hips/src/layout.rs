//! Where HiPS live on disk, and how a new version replaces the old one at once.
//!
//! `<root>/<id>` is a symbolic link to `<root>/.versions/<id>.<n>`, a complete HiPS. An update
//! builds version `n + 1` beside it — unchanged files hard-linked from version `n`, changed ones
//! written new (always to a new file, renamed into place, so no file another version shares is
//! ever rewritten) — and then swaps the link by renaming a new link over it. A reader resolving
//! `<root>/<id>` sees either version whole, never a mixture; files a reader has open stay
//! readable when an old version is removed.

use std::fs;
use std::path::{Path, PathBuf};

use crate::HipsError;

/// Versions kept besides the current one (a reader may still be inside the previous).
const KEEP_PREVIOUS: usize = 1;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> HipsError + '_ {
    move |source| HipsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The HiPS directory tree below `root`.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// HiPS kept below `root`.
    pub fn new(root: impl Into<PathBuf>) -> Layout {
        Layout { root: root.into() }
    }

    /// The root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn versions(&self) -> PathBuf {
        self.root.join(".versions")
    }

    /// The current version's directory of HiPS `id`, if it has one.
    pub fn current(&self, id: &str) -> Option<PathBuf> {
        let link = self.root.join(id);
        let target = fs::read_link(&link).ok()?;
        let dir = if target.is_absolute() {
            target
        } else {
            self.root.join(target)
        };
        dir.is_dir().then_some(dir)
    }

    /// The ids of every HiPS with a current version.
    pub fn ids(&self) -> Vec<String> {
        let Ok(entries) = fs::read_dir(&self.root) else {
            return Vec::new();
        };
        let mut ids: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|name| !name.starts_with('.'))
            .filter(|name| self.current(name).is_some())
            .collect();
        ids.sort();
        ids
    }

    /// Waits until no other builder (thread or process) holds HiPS `id`, and holds it until
    /// the returned guard is dropped: two builds of one HiPS at once (an ingest's update and
    /// the server's at a release date) would otherwise number their versions alike.
    pub fn lock(&self, id: &str) -> Result<BuildLock, HipsError> {
        fs::create_dir_all(&self.root).map_err(io(&self.root))?;
        let path = self.root.join(format!(".{id}.lock"));
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        // An advisory lock the kernel drops when the holder's process ends, however it ends.
        file.lock().map_err(io(&path))?;
        Ok(BuildLock { _file: file })
    }

    /// A new, empty version directory of `id` (numbered after the current one), with the
    /// current version's files hard-linked into it when `inherit`.
    pub fn begin(&self, id: &str, inherit: bool) -> Result<PathBuf, HipsError> {
        let versions = self.versions();
        fs::create_dir_all(&versions).map_err(io(&versions))?;
        let next = self.version_numbers(id).last().map_or(1, |n| n + 1);
        let dir = versions.join(format!("{id}.{next}"));
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(io(&dir))?;
        }
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        if inherit {
            if let Some(current) = self.current(id) {
                link_tree(&current, &dir)?;
            }
        }
        Ok(dir)
    }

    /// Makes `dir` (from [`begin`](Self::begin)) the current version of `id`, then removes
    /// versions older than the previous one.
    pub fn publish(&self, id: &str, dir: &Path) -> Result<(), HipsError> {
        let name = dir
            .file_name()
            .ok_or_else(|| io(dir)(std::io::Error::other("not a version directory")))?;
        let target = PathBuf::from(".versions").join(name);
        let temp = self.root.join(format!(".{id}.link"));
        let _ = fs::remove_file(&temp);
        std::os::unix::fs::symlink(&target, &temp).map_err(io(&temp))?;
        let link = self.root.join(id);
        fs::rename(&temp, &link).map_err(io(&link))?;
        let numbers = self.version_numbers(id);
        let current: Option<u64> = name
            .to_str()
            .and_then(|n| n.rsplit('.').next())
            .and_then(|n| n.parse().ok());
        let keep_from = numbers.len().saturating_sub(1 + KEEP_PREVIOUS);
        for n in &numbers[..keep_from] {
            if Some(*n) != current {
                let old = self.versions().join(format!("{id}.{n}"));
                let _ = fs::remove_dir_all(&old);
            }
        }
        Ok(())
    }

    /// Removes an unpublished version directory (a failed build).
    pub fn abandon(&self, dir: &Path) {
        let _ = fs::remove_dir_all(dir);
    }

    fn version_numbers(&self, id: &str) -> Vec<u64> {
        let prefix = format!("{id}.");
        let mut numbers: Vec<u64> = fs::read_dir(self.versions())
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.strip_prefix(&prefix)?.parse().ok())
            .collect();
        numbers.sort_unstable();
        numbers
    }
}

/// Held while one builder makes a new version of a HiPS (see [`Layout::lock`]).
#[derive(Debug)]
pub struct BuildLock {
    _file: fs::File,
}

/// Hard-links every file below `from` into the same place below `to`.
fn link_tree(from: &Path, to: &Path) -> Result<(), HipsError> {
    for entry in fs::read_dir(from).map_err(io(from))? {
        let entry = entry.map_err(io(from))?;
        let (src, dest) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().map_err(io(&src))?;
        if kind.is_dir() {
            fs::create_dir_all(&dest).map_err(io(&dest))?;
            link_tree(&src, &dest)?;
        } else if kind.is_file() {
            fs::hard_link(&src, &dest).map_err(io(&dest))?;
        }
    }
    Ok(())
}

/// Writes `bytes` to `path` through a new file renamed into place: a file shared with another
/// version (a hard link) is replaced, never rewritten.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), HipsError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let temp = path.with_extension("part");
    fs::write(&temp, bytes).map_err(io(&temp))?;
    fs::rename(&temp, path).map_err(io(path))
}

/// Removes `path` if it is there.
pub fn remove_file(path: &Path) -> Result<(), HipsError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(path)(e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_version_replaces_the_old_whole_and_shares_unchanged_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = Layout::new(dir.path());
        assert!(layout.current("x").is_none());
        let v1 = layout.begin("x", true).expect("v1");
        write_file(&v1.join("Norder3/Dir0/Npix1.fits"), b"one").expect("write");
        write_file(&v1.join("properties"), b"p1").expect("write");
        layout.publish("x", &v1).expect("publish");
        assert_eq!(layout.ids(), vec!["x".to_string()]);
        let v2 = layout.begin("x", true).expect("v2");
        write_file(&v2.join("properties"), b"p2").expect("write");
        // Before publishing, readers still see version 1 whole.
        let current = layout.current("x").expect("current");
        assert_eq!(fs::read(current.join("properties")).expect("read"), b"p1");
        layout.publish("x", &v2).expect("publish");
        let current = layout.current("x").expect("current");
        assert_eq!(fs::read(current.join("properties")).expect("read"), b"p2");
        assert_eq!(
            fs::read(current.join("Norder3/Dir0/Npix1.fits")).expect("read"),
            b"one"
        );
        // The old version's copy was not touched by the new write.
        assert_eq!(fs::read(v1.join("properties")).expect("read"), b"p1");
        // Versions older than the previous one go.
        let v3 = layout.begin("x", true).expect("v3");
        layout.publish("x", &v3).expect("publish");
        assert!(!v1.exists() && v2.exists());
    }

    #[test]
    fn one_builder_at_a_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = Layout::new(dir.path());
        let held = layout.lock("x").expect("lock");
        let (tx, rx) = std::sync::mpsc::channel();
        let other = layout.clone();
        let waiter = std::thread::spawn(move || {
            let _second = other.lock("x").expect("lock");
            tx.send(()).expect("send");
        });
        // Another HiPS is not held up.
        drop(layout.lock("y").expect("lock y"));
        assert!(rx
            .recv_timeout(std::time::Duration::from_millis(300))
            .is_err());
        drop(held);
        rx.recv_timeout(std::time::Duration::from_secs(10))
            .expect("the second builder goes on once the first is done");
        waiter.join().expect("join");
        // Lock files are hidden like versions: not HiPS ids.
        assert!(layout.ids().is_empty());
    }
}
