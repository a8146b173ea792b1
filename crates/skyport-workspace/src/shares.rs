//! What a user shares: a list of (path in their tree, group, read or write), kept as JSON in
//! `shares/<user>.json` and replaced whole, atomically (written beside, synced, renamed).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::WorkspaceError;

/// Whether a share lets the group change what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShareAccess {
    /// Read only.
    Read,
    /// Read and write.
    Write,
}

/// One share: `path` (a directory of the owner's tree, or `/` for all of it) to `group`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Share {
    /// The shared directory, `/`-separated from the top of the owner's tree.
    pub path: String,
    /// The group whose members reach it.
    pub group: String,
    /// What they may do there.
    pub access: ShareAccess,
}

impl Share {
    /// A share of `path` to `group`.
    pub fn new(path: &str, group: &str, access: ShareAccess) -> Share {
        Share {
            path: path.to_string(),
            group: group.to_string(),
            access,
        }
    }
}

/// The most shares one user may keep.
pub const MAX_SHARES: usize = 100;
const MAX_PATH: usize = 1024;
const MAX_GROUP: usize = 256;

/// `list` checked and normalised (paths without a trailing slash, duplicates merged).
pub fn validate(list: Vec<Share>) -> Result<Vec<Share>, WorkspaceError> {
    if list.len() > MAX_SHARES {
        return Err(WorkspaceError::Invalid(format!(
            "at most {MAX_SHARES} shares; {} given",
            list.len()
        )));
    }
    let mut out: Vec<Share> = Vec::with_capacity(list.len());
    for mut share in list {
        share.path = normal_path(&share.path)?;
        let group = share.group.trim();
        if group.is_empty() || group.len() > MAX_GROUP || group.chars().any(char::is_control) {
            return Err(WorkspaceError::Invalid(format!(
                "share of {:?}: a group is 1 to {MAX_GROUP} printable characters",
                share.path
            )));
        }
        share.group = group.to_string();
        match out
            .iter_mut()
            .find(|s| s.path == share.path && s.group == share.group)
        {
            // The same directory to the same group twice: the wider access stands.
            Some(same) if share.access == ShareAccess::Write => same.access = ShareAccess::Write,
            Some(_) => {}
            None => out.push(share),
        }
    }
    Ok(out)
}

/// `path` as shares keep it: starting with `/`, no empty, `.` or `..` segment, no trailing
/// slash (but `/` itself).
fn normal_path(path: &str) -> Result<String, WorkspaceError> {
    let bad = |why: &str| WorkspaceError::Invalid(format!("share path {path:?}: {why}"));
    if path.len() > MAX_PATH {
        return Err(bad(&format!("longer than {MAX_PATH} bytes")));
    }
    if !path.starts_with('/') {
        return Err(bad("must start with /"));
    }
    if path.chars().any(char::is_control) {
        return Err(bad("holds a control character"));
    }
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segments.iter().any(|s| *s == "." || *s == "..") {
        return Err(bad("may not hold . or .. segments"));
    }
    Ok(format!("/{}", segments.join("/")))
}

/// Whether the share of `base` holds `path` (both normal, decoded).
pub(crate) fn holds(base: &str, path: &str) -> bool {
    if base == "/" {
        return true;
    }
    let path = path.trim_end_matches('/');
    path == base || path.strip_prefix(base).is_some_and(|r| r.starts_with('/'))
}

/// The directory of `base` (a normal share path) in `tree`.
pub(crate) fn join(tree: &Path, base: &str) -> PathBuf {
    base.split('/')
        .filter(|s| !s.is_empty())
        .fold(tree.to_path_buf(), |p, s| p.join(s))
}

/// The shares kept in `file` (none if it does not exist).
pub(crate) fn load(file: &Path) -> Result<Vec<Share>, WorkspaceError> {
    match std::fs::read(file) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            WorkspaceError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", file.display()),
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

/// Writes `list` to `file` whole or not at all.
pub(crate) fn save(file: &Path, list: &[Share]) -> Result<(), WorkspaceError> {
    use std::io::Write;
    let json = serde_json::to_vec_pretty(list).map_err(std::io::Error::other)?;
    let partial = file.with_extension(format!("{}.partial", uuid::Uuid::new_v4().simple()));
    let written = (|| {
        let mut f = std::fs::File::create(&partial)?;
        f.write_all(&json)?;
        f.sync_all()?;
        std::fs::rename(&partial, file)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    Ok(written?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_checked_and_normalised() {
        let ok = validate(vec![
            Share::new("/a/b/", "g", ShareAccess::Read),
            Share::new("//a//b", "g", ShareAccess::Write),
            Share::new("/", " h ", ShareAccess::Read),
        ])
        .expect("valid");
        assert_eq!(
            ok,
            vec![
                Share::new("/a/b", "g", ShareAccess::Write),
                Share::new("/", "h", ShareAccess::Read)
            ]
        );
        for bad in [
            "a",
            "/a/../b",
            "/./a",
            "/a\nb",
            &format!("/{}", "x".repeat(2000)),
        ] {
            assert!(
                validate(vec![Share::new(bad, "g", ShareAccess::Read)]).is_err(),
                "{bad}"
            );
        }
        assert!(validate(vec![Share::new("/a", "", ShareAccess::Read)]).is_err());
        let many = vec![Share::new("/a", "g", ShareAccess::Read); MAX_SHARES + 1];
        assert!(validate(many).is_err());
    }

    #[test]
    fn a_share_holds_its_directory_and_below() {
        assert!(holds("/r", "/r"));
        assert!(holds("/r", "/r/"));
        assert!(holds("/r", "/r/x/y"));
        assert!(!holds("/r", "/rx"));
        assert!(!holds("/r", "/"));
        assert!(holds("/", "/anything"));
    }
}
