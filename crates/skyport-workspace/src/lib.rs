//! Each user's own files (LDM-542 §2.2.6): a directory tree per user under the workspace
//! directory, reached over WebDAV at `/webdav/<user>/…`, shared by its owner with groups
//! (read-only or read-write), and held to a quota of bytes and entries.
//!
//! The WebDAV protocol is `dav-server`'s; this crate gives it the file system it works on
//! ([`WorkspaceFs`]) and decides, in one place ([`Workspace::grant`]), which tree a caller
//! reaches and whether they may write it. A tree the caller may not see is answered exactly
//! as an absent one.
//!
//! Layout of the workspace directory:
//! - `users/<user>/…` — the users' files;
//! - `shares/<user>.json` — what each user shares, and with whom;
//! - `staging/` — uploads in progress: a PUT is written here and renamed into place when it
//!   is complete, so a failed or abandoned upload never replaces a file with part of another.

mod davfs;
mod delivery;
mod ledger;
pub mod shares;

use std::path::PathBuf;
use std::sync::Arc;

pub use davfs::WorkspaceFs;
pub use delivery::Destination;
pub use ledger::{Ledger, Usage};
pub use shares::{Share, ShareAccess};

/// `[workspace]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceSettings {
    /// The workspace directory.
    pub dir: PathBuf,
    /// Bytes each user may keep (0: no limit).
    pub quota_bytes: u64,
    /// Files and directories each user may keep (0: no limit).
    pub quota_entries: u64,
    /// Rows each user may keep in their tables (0: no limit).
    pub quota_table_rows: u64,
}

/// What went wrong with a workspace request.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    /// The caller may not see it, or it does not exist (the two are not told apart).
    #[error("no such file or directory")]
    NotFound,
    /// The caller sees it but may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The request is malformed.
    #[error("{0}")]
    Invalid(String),
    /// The owner's quota has no room for it.
    #[error("{0}")]
    Full(String),
    /// The disk failed us.
    #[error("workspace storage: {0}")]
    Io(#[from] std::io::Error),
}

/// How a caller reaches a user's tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Whose tree it is.
    pub owner: String,
    /// The top of what the caller reaches, relative to the owner's tree: `/` for the owner,
    /// a share's path for anyone else (decoded, `/`-separated, no trailing slash but for `/`).
    pub base: String,
    /// Whether the caller may change it.
    pub writable: bool,
}

/// The users' workspaces: where they are, who reaches what, and how much each holds.
pub struct Workspace {
    settings: WorkspaceSettings,
    ledger: Arc<Ledger>,
}

/// The longest user name a tree is kept for.
pub const MAX_USER_NAME: usize = 64;

/// Whether `name` can name a tree: 1 to 64 of ASCII letters, digits, `.`, `_`, `-` and `@`,
/// starting with a letter or digit (Rubin's user names, and e-mail-like ones, fit).
pub fn valid_user_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_USER_NAME
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'))
}

impl Workspace {
    /// The workspace at `settings.dir`, its directories made if missing.
    pub fn open(settings: WorkspaceSettings) -> Result<Workspace, WorkspaceError> {
        for sub in ["users", "shares", "staging"] {
            std::fs::create_dir_all(settings.dir.join(sub))?;
        }
        // Uploads a stopped server left behind are nobody's.
        if let Ok(entries) = std::fs::read_dir(settings.dir.join("staging")) {
            for entry in entries.flatten() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        let ledger = Arc::new(Ledger::new(settings.quota_bytes, settings.quota_entries));
        Ok(Workspace { settings, ledger })
    }

    /// The directory of `owner`'s tree (not made).
    fn tree(&self, owner: &str) -> PathBuf {
        self.settings.dir.join("users").join(owner)
    }

    fn shares_file(&self, owner: &str) -> PathBuf {
        self.settings
            .dir
            .join("shares")
            .join(format!("{owner}.json"))
    }

    /// How `user` (a member of `groups`) reaches `owner`'s tree at `path` (decoded, relative
    /// to the tree, `/`-separated): the whole tree for the owner, the deepest share holding
    /// `path` for a member of its group (read-write wins over read-only at the same depth),
    /// nothing otherwise.
    pub fn grant(
        &self,
        user: Option<&str>,
        groups: &[String],
        owner: &str,
        path: &str,
    ) -> Result<Grant, WorkspaceError> {
        if !valid_user_name(owner) {
            return Err(WorkspaceError::NotFound);
        }
        if user == Some(owner) {
            return Ok(Grant {
                owner: owner.to_string(),
                base: "/".into(),
                writable: true,
            });
        }
        if user.is_none() {
            return Err(WorkspaceError::NotFound);
        }
        let shares = self.shares(owner)?;
        shares
            .iter()
            .filter(|s| groups.contains(&s.group) && shares::holds(&s.path, path))
            .max_by_key(|s| (s.path.len(), s.access == ShareAccess::Write))
            .map(|s| Grant {
                owner: owner.to_string(),
                base: s.path.clone(),
                writable: s.access == ShareAccess::Write,
            })
            .ok_or(WorkspaceError::NotFound)
    }

    /// The file system a grant reaches, its top at the grant's base. The owner's tree is
    /// made on first use.
    pub fn file_system(&self, grant: &Grant) -> Result<WorkspaceFs, WorkspaceError> {
        let tree = self.tree(&grant.owner);
        if grant.base == "/" {
            std::fs::create_dir_all(&tree)?;
        }
        let top = shares::join(&tree, &grant.base);
        Ok(WorkspaceFs::new(
            top,
            tree,
            self.settings.dir.join("staging"),
            grant.writable,
            self.ledger.user(&grant.owner),
        ))
    }

    /// What `owner` shares (none when they never said).
    pub fn shares(&self, owner: &str) -> Result<Vec<Share>, WorkspaceError> {
        if !valid_user_name(owner) {
            return Err(WorkspaceError::NotFound);
        }
        shares::load(&self.shares_file(owner))
    }

    /// Replaces what `owner` shares, after checking every entry.
    pub fn set_shares(&self, owner: &str, list: Vec<Share>) -> Result<(), WorkspaceError> {
        if !valid_user_name(owner) {
            return Err(WorkspaceError::NotFound);
        }
        let list = shares::validate(list)?;
        shares::save(&self.shares_file(owner), &list)
    }

    /// How much `owner` keeps, against their quota.
    pub fn usage(&self, owner: &str) -> Result<Usage, WorkspaceError> {
        if !valid_user_name(owner) {
            return Err(WorkspaceError::NotFound);
        }
        let tree = self.tree(owner);
        Ok(self.ledger.user(owner).usage(&tree)?)
    }

    /// Every user with a tree, with what they keep (for administrators).
    pub fn list_users(&self) -> Result<Vec<(String, Usage)>, WorkspaceError> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(self.settings.dir.join("users"))? {
            let entry = entry?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if valid_user_name(&name) && entry.file_type()?.is_dir() {
                let usage = self.usage(&name)?;
                out.push((name, usage));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn workspace(dir: &Path) -> Workspace {
        Workspace::open(WorkspaceSettings {
            dir: dir.to_path_buf(),
            quota_bytes: 1000,
            quota_entries: 10,
            quota_table_rows: 0,
        })
        .expect("open")
    }

    #[test]
    fn user_names_fit_for_a_directory() {
        for good in ["alice", "a", "bob.smith", "u_1-2", "x@example.org"] {
            assert!(valid_user_name(good), "{good}");
        }
        for bad in ["", ".", "..", "-x", "a/b", "a b", "ä", &"a".repeat(65)] {
            assert!(!valid_user_name(bad), "{bad}");
        }
    }

    #[test]
    fn owners_reach_all_members_reach_shares_others_nothing() {
        let dir = tempfile::tempdir().expect("dir");
        let ws = workspace(dir.path());
        ws.set_shares(
            "alice",
            vec![
                Share::new("/results", "team", ShareAccess::Read),
                Share::new("/results/drafts", "editors", ShareAccess::Write),
            ],
        )
        .expect("share");
        let team = vec!["team".to_string()];
        let both = vec!["team".to_string(), "editors".to_string()];
        let owner = ws.grant(Some("alice"), &[], "alice", "/").expect("owner");
        assert_eq!((owner.base.as_str(), owner.writable), ("/", true));
        let member = ws
            .grant(Some("bob"), &team, "alice", "/results/a.fits")
            .expect("member");
        assert_eq!((member.base.as_str(), member.writable), ("/results", false));
        let editor = ws
            .grant(Some("bob"), &both, "alice", "/results/drafts/x")
            .expect("editor");
        assert_eq!(
            (editor.base.as_str(), editor.writable),
            ("/results/drafts", true)
        );
        // Beside a share, above it, or a name that only begins like it: nothing.
        for path in ["/private", "/", "/resultsx/a", "/result"] {
            assert!(
                matches!(
                    ws.grant(Some("bob"), &both, "alice", path),
                    Err(WorkspaceError::NotFound)
                ),
                "{path}"
            );
        }
        assert!(ws.grant(None, &team, "alice", "/results").is_err());
        assert!(ws.grant(Some("carol"), &[], "alice", "/results").is_err());
        assert!(ws.grant(Some("x"), &[], "../alice", "/").is_err());
    }
}
