//! Results of async jobs kept in a user's files: a TAP or SODA job's `DEST` names a place
//! under `/webdav/`, and when the job ends its results are copied there, through the same
//! grant and quota as a WebDAV upload.

use std::path::Path;

use dav_server::davpath::DavPath;
use dav_server::fs::FsError;

use crate::{shares, valid_user_name, Workspace, WorkspaceError};

/// Where a job's results go: a file, or a directory (the value ends with `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// Whose tree.
    pub owner: String,
    /// The place in it (decoded, from `/`, without a trailing slash but for `/`).
    pub path: String,
    /// Whether results are put in it under their own names.
    pub directory: bool,
}

impl Destination {
    /// Reads `DEST`: a path `/webdav/<user>/…` or a URL whose path holds one; ending in `/`
    /// for a directory.
    pub fn parse(value: &str) -> Result<Destination, WorkspaceError> {
        let bad = |why: &str| {
            WorkspaceError::Invalid(format!(
                "DEST: {why}; give a place in your files, such as /webdav/<user>/results/ \
                 or /webdav/<user>/results/query.vot"
            ))
        };
        if value.len() > 4096 {
            return Err(bad("longer than 4096 bytes"));
        }
        let path = match value.find("://") {
            Some(i) => {
                let rest = &value[i + 3..];
                &rest[rest.find('/').ok_or_else(|| bad("the URL has no path"))?..]
            }
            None => value,
        };
        let at = path
            .find("/webdav/")
            .ok_or_else(|| bad("not under /webdav/"))?;
        let path = DavPath::new(&path[at..]).map_err(|_| bad("not a valid path"))?;
        let full = String::from_utf8(path.as_bytes().to_vec())
            .map_err(|_| bad("not UTF-8 once decoded"))?;
        let rest = full
            .strip_prefix("/webdav/")
            .ok_or_else(|| bad("not under /webdav/"))?;
        let (owner, within) = rest.split_once('/').unwrap_or((rest, ""));
        if !valid_user_name(owner) {
            return Err(bad("no user's files named"));
        }
        let directory = within.is_empty() || within.ends_with('/');
        Ok(Destination {
            owner: owner.to_string(),
            path: format!("/{}", within.trim_end_matches('/')),
            directory,
        })
    }
}

impl Workspace {
    /// Copies `source` to `dest` (as `name` in it, if it is a directory) for `user`, a member
    /// of `groups`: the same grant a WebDAV PUT needs, counted against the owner's quota,
    /// missing directories made, the file appearing whole. Returns its path below `/webdav`.
    pub fn deliver(
        &self,
        user: &str,
        groups: &[String],
        dest: &Destination,
        name: &str,
        source: &Path,
    ) -> Result<String, WorkspaceError> {
        let within = if dest.directory {
            if name.is_empty() || name.contains('/') || name == "." || name == ".." {
                return Err(WorkspaceError::Invalid(format!(
                    "a result named {name:?} cannot be kept"
                )));
            }
            format!("{}/{name}", dest.path.trim_end_matches('/'))
        } else {
            dest.path.clone()
        };
        if within == "/" {
            return Err(WorkspaceError::Invalid(
                "DEST names the top of a tree; end it with / to put results in it".into(),
            ));
        }
        let grant = self.grant(Some(user), groups, &dest.owner, &within)?;
        if !grant.writable {
            return Err(WorkspaceError::Forbidden(format!(
                "DEST: {} shares this with you read-only",
                dest.owner
            )));
        }
        let tree = self.tree(&dest.owner);
        let ledger = self.ledger.user(&dest.owner);
        let full = |e: FsError| match e {
            FsError::InsufficientStorage => WorkspaceError::Full(format!(
                "DEST: the result does not fit in the quota of {}'s files",
                dest.owner
            )),
            _ => WorkspaceError::Io(std::io::Error::other(format!("{e:?}"))),
        };
        // Directories the grant's top leads to are made, each counted as an entry.
        let top = shares::join(&tree, &grant.base);
        std::fs::create_dir_all(&top)?;
        let target = shares::join(&tree, &within);
        let mut dir = top.clone();
        let below: Vec<&str> = within[grant.base.trim_end_matches('/').len()..]
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        for segment in &below[..below.len().saturating_sub(1)] {
            dir = dir.join(segment);
            match dir.symlink_metadata() {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(WorkspaceError::Invalid(format!(
                        "DEST: {segment} is a file, not a directory"
                    )))
                }
                Err(_) => {
                    ledger.add_entry(&tree).map_err(full)?;
                    std::fs::create_dir(&dir)?;
                }
            }
        }
        let replaced = match target.symlink_metadata() {
            Ok(m) if m.is_dir() => {
                return Err(WorkspaceError::Invalid(
                    "DEST names a directory; end it with / to put results in it".into(),
                ))
            }
            Ok(m) => Some(m.len()),
            Err(_) => None,
        };
        if replaced.is_none() {
            ledger.add_entry(&tree).map_err(full)?;
        }
        let grows = std::fs::metadata(source)?
            .len()
            .saturating_sub(replaced.unwrap_or(0));
        ledger.reserve(&tree, grows).map_err(full)?;
        let staged = self
            .settings
            .dir
            .join("staging")
            .join(uuid::Uuid::new_v4().simple().to_string());
        let copied = std::fs::copy(source, &staged)
            .and_then(|_| std::fs::File::open(&staged)?.sync_all())
            .and_then(|_| std::fs::rename(&staged, &target));
        if copied.is_err() {
            let _ = std::fs::remove_file(&staged);
        }
        ledger.release(grows);
        ledger.changed();
        copied?;
        Ok(format!("/webdav/{}{within}", dest.owner))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Share, ShareAccess, WorkspaceSettings};

    #[test]
    fn destinations_are_read_from_paths_and_urls() {
        let d = Destination::parse("/webdav/alice/results/").expect("dir");
        assert_eq!(
            (d.owner.as_str(), d.path.as_str(), d.directory),
            ("alice", "/results", true)
        );
        let d = Destination::parse("https://data.example.org/api/webdav/alice/r/q%201.vot")
            .expect("url");
        assert_eq!(
            (d.owner.as_str(), d.path.as_str(), d.directory),
            ("alice", "/r/q 1.vot", false)
        );
        assert!(Destination::parse("/webdav/alice").expect("top").directory);
        for bad in [
            "/tmp/x",
            "webdav",
            "/webdav/",
            "/webdav/../etc/passwd",
            "http://h",
        ] {
            assert!(Destination::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn results_are_delivered_through_grants_and_quotas() {
        let dir = tempfile::tempdir().expect("dir");
        let ws = Workspace::open(WorkspaceSettings {
            dir: dir.path().join("ws"),
            quota_bytes: 100,
            quota_entries: 10,
            quota_table_rows: 0,
        })
        .expect("open");
        let source = dir.path().join("result.vot");
        std::fs::write(&source, [b'r'; 60]).expect("write");
        let dest = Destination::parse("/webdav/alice/jobs/today/").expect("dest");
        let at = ws
            .deliver("alice", &[], &dest, "q1.vot", &source)
            .expect("delivered");
        assert_eq!(at, "/webdav/alice/jobs/today/q1.vot");
        assert_eq!(
            std::fs::read(dir.path().join("ws/users/alice/jobs/today/q1.vot")).expect("read"),
            [b'r'; 60]
        );
        // A second one would pass the quota of 100 bytes: refused, nothing left behind.
        assert!(matches!(
            ws.deliver("alice", &[], &dest, "q2.vot", &source),
            Err(WorkspaceError::Full(_))
        ));
        assert!(!dir.path().join("ws/users/alice/jobs/today/q2.vot").exists());
        // Another user: only through a read-write share.
        let into_alice = Destination::parse("/webdav/alice/inbox/").expect("dest");
        assert!(matches!(
            ws.deliver("bob", &["team".into()], &into_alice, "b.vot", &source),
            Err(WorkspaceError::NotFound)
        ));
        ws.set_shares(
            "alice",
            vec![Share::new("/inbox", "team", ShareAccess::Read)],
        )
        .expect("share");
        assert!(matches!(
            ws.deliver("bob", &["team".into()], &into_alice, "b.vot", &source),
            Err(WorkspaceError::Forbidden(_))
        ));
    }
}
