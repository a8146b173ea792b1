//! [`WorkspaceFs`]: the file system `dav-server` serves for one grant — a directory of a
//! user's tree, read-only or writable, with every write counted against the owner's quota.
//!
//! Written here rather than taken from `dav-server`'s `LocalFs` because the workspace needs
//! three things `LocalFs` does not do: uploads land whole or not at all (a PUT is written to
//! the staging directory and renamed into place only once complete), quotas are checked as
//! bytes arrive, and symbolic links are never followed (a link an administrator left in a
//! tree must not lead out of it). All disk work runs on tokio's blocking threads.

use std::fmt;
use std::fs::{File, Metadata};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::{Buf, Bytes};
use dav_server::davpath::DavPath;
use dav_server::fs::{
    DavDirEntry, DavFile, DavFileSystem, DavMetaData, FsError, FsFuture, FsResult, FsStream,
    OpenOptions, ReadDirMeta,
};
use futures_util::FutureExt;

use crate::ledger::UserLedger;

/// One grant's view of a user's tree.
#[derive(Clone)]
pub struct WorkspaceFs {
    inner: Arc<Inner>,
}

struct Inner {
    /// The top of what this grant reaches.
    top: PathBuf,
    /// The owner's whole tree (what the quota measures).
    tree: PathBuf,
    /// Where uploads are written until complete.
    staging: PathBuf,
    writable: bool,
    ledger: Arc<UserLedger>,
}

impl WorkspaceFs {
    pub(crate) fn new(
        top: PathBuf,
        tree: PathBuf,
        staging: PathBuf,
        writable: bool,
        ledger: Arc<UserLedger>,
    ) -> WorkspaceFs {
        WorkspaceFs {
            inner: Arc::new(Inner {
                top,
                tree,
                staging,
                writable,
                ledger,
            }),
        }
    }

    /// Where `path` is on disk: below the grant's top, or nowhere (a path with anything but
    /// plain names in it, which `join` would let climb out, or make absolute).
    fn real(&self, path: &DavPath) -> FsResult<PathBuf> {
        let rel = path.as_rel_ospath();
        if !rel
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
        {
            return Err(FsError::Forbidden);
        }
        Ok(self.inner.top.join(rel))
    }

    fn check_writable(&self) -> FsResult<()> {
        if self.inner.writable {
            Ok(())
        } else {
            Err(FsError::Forbidden)
        }
    }

    /// Runs `work` on a blocking thread with this file system.
    fn blocking<T, F>(&self, work: F) -> FsFuture<'_, T>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> FsResult<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        async move {
            tokio::task::spawn_blocking(move || work(&inner))
                .await
                .unwrap_or(Err(FsError::GeneralFailure))
        }
        .boxed()
    }
}

/// The metadata of `path` without following a final symbolic link; a link is absent.
fn entry_metadata(path: &Path) -> FsResult<Metadata> {
    let meta = path.symlink_metadata().map_err(io_error)?;
    if meta.file_type().is_symlink() {
        return Err(FsError::NotFound);
    }
    Ok(meta)
}

/// What an I/O error means to a WebDAV client.
fn io_error(e: std::io::Error) -> FsError {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::NotFound => FsError::NotFound,
        K::PermissionDenied | K::ReadOnlyFilesystem => FsError::Forbidden,
        K::AlreadyExists | K::DirectoryNotEmpty => FsError::Exists,
        K::StorageFull | K::QuotaExceeded => FsError::InsufficientStorage,
        K::FileTooLarge => FsError::TooLarge,
        K::InvalidFilename => FsError::PathTooLong,
        K::NotADirectory | K::IsADirectory => FsError::Forbidden,
        K::CrossesDevices => FsError::IsRemote,
        _ => {
            // A symbolic link met with O_NOFOLLOW.
            if e.raw_os_error() == Some(libc::ELOOP) {
                FsError::NotFound
            } else {
                tracing::warn!(error = %e, "workspace storage error");
                FsError::GeneralFailure
            }
        }
    }
}

/// `path` (below `top`) if no directory between `top` and it is a symbolic link: a link an
/// administrator left in a tree must not lead a request out of it.
fn beneath(top: &Path, path: PathBuf) -> FsResult<PathBuf> {
    let rel = path.strip_prefix(top).map_err(|_| FsError::Forbidden)?;
    let mut at = top.to_path_buf();
    let mut parts = rel.components().peekable();
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            break;
        }
        at.push(part);
        match at.symlink_metadata() {
            Ok(m) if m.file_type().is_symlink() => return Err(FsError::NotFound),
            _ => {}
        }
    }
    Ok(path)
}

/// The parent of `path` must be a directory for anything to be made in it.
fn parent_is_dir(path: &Path) -> FsResult<()> {
    match path.parent().map(entry_metadata) {
        Some(Ok(m)) if m.is_dir() => Ok(()),
        // RFC 4918: a missing parent is a conflict (dav-server answers NotFound with 409).
        _ => Err(FsError::NotFound),
    }
}

impl DavFileSystem for WorkspaceFs {
    fn open<'a>(
        &'a self,
        path: &'a DavPath,
        options: OpenOptions,
    ) -> FsFuture<'a, Box<dyn DavFile>> {
        let real = self.real(path);
        if !options.write {
            return self.blocking(move |inner| {
                let real = beneath(&inner.top, real?)?;
                let meta = entry_metadata(&real)?;
                if meta.is_dir() {
                    return Err(FsError::Forbidden);
                }
                let file = std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&real)
                    .map_err(io_error)?;
                Ok(Box::new(Reader {
                    file: Some(file),
                    meta: Meta::of(&meta),
                }) as Box<dyn DavFile>)
            });
        }
        if let Err(e) = self.check_writable() {
            return async move { Err(e) }.boxed();
        }
        // Only whole-file writes (PUT): partial updates would have to change a file in place,
        // and a failed one would leave it half changed.
        if options.append || !options.truncate {
            return async { Err(FsError::NotImplemented) }.boxed();
        }
        self.blocking(move |inner| {
            let real = beneath(&inner.top, real?)?;
            parent_is_dir(&real)?;
            let existing = match entry_metadata(&real) {
                Ok(m) if m.is_dir() => return Err(FsError::Forbidden),
                Ok(m) => Some(m.len()),
                Err(FsError::NotFound) => None,
                Err(e) => return Err(e),
            };
            match existing {
                Some(_) if options.create_new => return Err(FsError::Exists),
                None if !options.create => return Err(FsError::NotFound),
                None => inner.ledger.add_entry(&inner.tree)?,
                Some(_) => {}
            }
            let credit = existing.unwrap_or(0);
            if let Some(size) = options.size {
                inner
                    .ledger
                    .check(&inner.tree, size.saturating_sub(credit))?;
            }
            let staged = inner
                .staging
                .join(uuid::Uuid::new_v4().simple().to_string());
            let file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&staged)
                .map_err(io_error)?;
            Ok(Box::new(Upload {
                file: Some(file),
                staged,
                target: real,
                ledger: Arc::clone(&inner.ledger),
                tree: inner.tree.clone(),
                written: 0,
                reserved: 0,
                credit,
                done: false,
            }) as Box<dyn DavFile>)
        })
    }

    fn read_dir<'a>(
        &'a self,
        path: &'a DavPath,
        _meta: ReadDirMeta,
    ) -> FsFuture<'a, FsStream<Box<dyn DavDirEntry>>> {
        let real = self.real(path);
        self.blocking(move |inner| {
            let real = beneath(&inner.top, real?)?;
            if !entry_metadata(&real)?.is_dir() {
                return Err(FsError::Forbidden);
            }
            let mut entries: Vec<FsResult<Box<dyn DavDirEntry>>> = Vec::new();
            for entry in std::fs::read_dir(&real).map_err(io_error)? {
                let entry = entry.map_err(io_error)?;
                // Links and entries gone since the listing are left out.
                if let Ok(meta) = entry_metadata(&entry.path()) {
                    entries.push(Ok(Box::new(Entry {
                        name: entry.file_name().into_encoded_bytes(),
                        meta: Meta::of(&meta),
                    })));
                }
            }
            Ok(Box::pin(futures_util::stream::iter(entries)) as FsStream<_>)
        })
    }

    fn metadata<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, Box<dyn DavMetaData>> {
        let real = self.real(path);
        self.blocking(move |inner| {
            let real = beneath(&inner.top, real?)?;
            let meta = entry_metadata(&real)?;
            Ok(Box::new(Meta::of(&meta)) as Box<dyn DavMetaData>)
        })
    }

    fn create_dir<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, ()> {
        let real = self.real(path);
        let writable = self.check_writable();
        self.blocking(move |inner| {
            writable?;
            let real = beneath(&inner.top, real?)?;
            parent_is_dir(&real)?;
            if entry_metadata(&real).is_ok() {
                return Err(FsError::Exists);
            }
            inner.ledger.add_entry(&inner.tree)?;
            std::fs::create_dir(&real).map_err(io_error)?;
            inner.ledger.changed();
            Ok(())
        })
    }

    fn remove_dir<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, ()> {
        let real = self.real(path);
        let writable = self.check_writable();
        self.blocking(move |inner| {
            writable?;
            let real = beneath(&inner.top, real?)?;
            if real == inner.top {
                // The top of a grant is not the grantee's to remove.
                return Err(FsError::Forbidden);
            }
            std::fs::remove_dir(&real).map_err(io_error)?;
            inner.ledger.changed();
            Ok(())
        })
    }

    fn remove_file<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, ()> {
        let real = self.real(path);
        let writable = self.check_writable();
        self.blocking(move |inner| {
            writable?;
            let real = beneath(&inner.top, real?)?;
            if entry_metadata(&real)?.is_dir() {
                return Err(FsError::Forbidden);
            }
            std::fs::remove_file(&real).map_err(io_error)?;
            inner.ledger.changed();
            Ok(())
        })
    }

    fn rename<'a>(&'a self, from: &'a DavPath, to: &'a DavPath) -> FsFuture<'a, ()> {
        let (from, to) = (self.real(from), self.real(to));
        let writable = self.check_writable();
        self.blocking(move |inner| {
            writable?;
            let (from, to) = (beneath(&inner.top, from?)?, beneath(&inner.top, to?)?);
            if from == inner.top || to.starts_with(&from) {
                return Err(FsError::Forbidden);
            }
            entry_metadata(&from)?;
            parent_is_dir(&to)?;
            std::fs::rename(&from, &to).map_err(io_error)?;
            inner.ledger.changed();
            Ok(())
        })
    }

    fn copy<'a>(&'a self, from: &'a DavPath, to: &'a DavPath) -> FsFuture<'a, ()> {
        let (from, to) = (self.real(from), self.real(to));
        let writable = self.check_writable();
        self.blocking(move |inner| {
            writable?;
            let (from, to) = (beneath(&inner.top, from?)?, beneath(&inner.top, to?)?);
            let meta = entry_metadata(&from)?;
            if meta.is_dir() {
                return Err(FsError::Forbidden);
            }
            parent_is_dir(&to)?;
            let replaced = entry_metadata(&to).map(|m| m.len()).ok();
            if replaced.is_none() {
                inner.ledger.add_entry(&inner.tree)?;
            }
            let grows = meta.len().saturating_sub(replaced.unwrap_or(0));
            inner.ledger.reserve(&inner.tree, grows)?;
            // Copied beside and renamed, as an upload is: the copy appears whole or not at all.
            let staged = inner
                .staging
                .join(uuid::Uuid::new_v4().simple().to_string());
            let copied = std::fs::copy(&from, &staged).and_then(|_| std::fs::rename(&staged, &to));
            if copied.is_err() {
                let _ = std::fs::remove_file(&staged);
            }
            inner.ledger.release(grows);
            inner.ledger.changed();
            copied.map_err(io_error)
        })
    }

    fn get_quota(&self) -> FsFuture<'_, (u64, Option<u64>)> {
        self.blocking(|inner| {
            // What the owner keeps elsewhere in their tree is not a share member's business.
            if inner.top != inner.tree {
                return Err(FsError::NotImplemented);
            }
            let usage = inner
                .ledger
                .usage(&inner.tree)
                .map_err(|_| FsError::GeneralFailure)?;
            // dav-server takes (used, total) and works out what is available.
            let total = (usage.quota_bytes > 0).then_some(usage.quota_bytes);
            Ok((usage.bytes, total))
        })
    }
}

/// A file's metadata, as WebDAV needs it.
#[derive(Debug, Clone)]
struct Meta {
    len: u64,
    modified: Option<SystemTime>,
    is_dir: bool,
}

impl Meta {
    fn of(meta: &Metadata) -> Meta {
        Meta {
            len: meta.len(),
            modified: meta.modified().ok(),
            is_dir: meta.is_dir(),
        }
    }
}

impl DavMetaData for Meta {
    fn len(&self) -> u64 {
        self.len
    }

    fn modified(&self) -> FsResult<SystemTime> {
        self.modified.ok_or(FsError::NotImplemented)
    }

    fn is_dir(&self) -> bool {
        self.is_dir
    }
}

struct Entry {
    name: Vec<u8>,
    meta: Meta,
}

impl DavDirEntry for Entry {
    fn name(&self) -> Vec<u8> {
        self.name.clone()
    }

    fn metadata(&self) -> FsFuture<'_, Box<dyn DavMetaData>> {
        let meta = self.meta.clone();
        async move { Ok(Box::new(meta) as Box<dyn DavMetaData>) }.boxed()
    }
}

/// Runs `work` on `file` on a blocking thread, handing the file back.
async fn with_file<T: Send + 'static>(
    slot: &mut Option<File>,
    work: impl FnOnce(&mut File) -> std::io::Result<T> + Send + 'static,
) -> FsResult<T> {
    let mut file = slot.take().ok_or(FsError::GeneralFailure)?;
    let (file, result) = tokio::task::spawn_blocking(move || {
        let result = work(&mut file);
        (file, result)
    })
    .await
    .map_err(|_| FsError::GeneralFailure)?;
    *slot = Some(file);
    result.map_err(io_error)
}

/// A file opened for reading.
struct Reader {
    file: Option<File>,
    meta: Meta,
}

impl fmt::Debug for Reader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("workspace file")
    }
}

/// The most one read returns (dav-server asks for its read buffer's size).
const MAX_READ: usize = 1 << 20;

impl DavFile for Reader {
    fn metadata(&mut self) -> FsFuture<'_, Box<dyn DavMetaData>> {
        let meta = self.meta.clone();
        async move { Ok(Box::new(meta) as Box<dyn DavMetaData>) }.boxed()
    }

    fn write_buf(&mut self, _buf: Box<dyn Buf + Send>) -> FsFuture<'_, ()> {
        async { Err(FsError::Forbidden) }.boxed()
    }

    fn write_bytes(&mut self, _buf: Bytes) -> FsFuture<'_, ()> {
        async { Err(FsError::Forbidden) }.boxed()
    }

    fn read_bytes(&mut self, count: usize) -> FsFuture<'_, Bytes> {
        let count = count.min(MAX_READ);
        async move {
            with_file(&mut self.file, move |f| {
                let mut buf = vec![0u8; count];
                let mut filled = 0;
                while filled < count {
                    match f.read(&mut buf[filled..])? {
                        0 => break,
                        n => filled += n,
                    }
                }
                buf.truncate(filled);
                Ok(Bytes::from(buf))
            })
            .await
        }
        .boxed()
    }

    fn seek(&mut self, pos: SeekFrom) -> FsFuture<'_, u64> {
        async move { with_file(&mut self.file, move |f| f.seek(pos)).await }.boxed()
    }

    fn flush(&mut self) -> FsFuture<'_, ()> {
        async { Ok(()) }.boxed()
    }
}

/// An upload: written to the staging directory, counted against the quota as it arrives,
/// renamed over its target when dav-server flushes it at the end of a complete body. Dropped
/// before that (a broken body, a refused quota, a client gone), it is removed and its bytes
/// given back.
struct Upload {
    file: Option<File>,
    staged: PathBuf,
    target: PathBuf,
    ledger: Arc<UserLedger>,
    tree: PathBuf,
    written: u64,
    /// Bytes counted in the ledger for this upload.
    reserved: u64,
    /// The size of the file it replaces: the upload grows the tree only past it.
    credit: u64,
    done: bool,
}

impl fmt::Debug for Upload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("workspace upload")
    }
}

impl Upload {
    async fn write(&mut self, data: Bytes) -> FsResult<()> {
        let n = data.len() as u64;
        let total = self.written + n;
        let grows = total.saturating_sub(self.credit);
        if grows > self.reserved {
            let more = grows - self.reserved;
            let ledger = Arc::clone(&self.ledger);
            let tree = self.tree.clone();
            tokio::task::spawn_blocking(move || ledger.reserve(&tree, more))
                .await
                .map_err(|_| FsError::GeneralFailure)??;
            self.reserved += more;
        }
        with_file(&mut self.file, move |f| f.write_all(&data)).await?;
        self.written = total;
        Ok(())
    }
}

impl DavFile for Upload {
    fn metadata(&mut self) -> FsFuture<'_, Box<dyn DavMetaData>> {
        let path = if self.done {
            self.target.clone()
        } else {
            self.staged.clone()
        };
        async move {
            tokio::task::spawn_blocking(move || {
                entry_metadata(&path).map(|m| Box::new(Meta::of(&m)) as Box<dyn DavMetaData>)
            })
            .await
            .unwrap_or(Err(FsError::GeneralFailure))
        }
        .boxed()
    }

    fn write_buf(&mut self, mut buf: Box<dyn Buf + Send>) -> FsFuture<'_, ()> {
        let data = buf.copy_to_bytes(buf.remaining());
        self.write(data).boxed()
    }

    fn write_bytes(&mut self, buf: Bytes) -> FsFuture<'_, ()> {
        self.write(buf).boxed()
    }

    fn read_bytes(&mut self, _count: usize) -> FsFuture<'_, Bytes> {
        async { Err(FsError::Forbidden) }.boxed()
    }

    fn seek(&mut self, _pos: SeekFrom) -> FsFuture<'_, u64> {
        async { Err(FsError::NotImplemented) }.boxed()
    }

    fn flush(&mut self) -> FsFuture<'_, ()> {
        async move {
            if self.done {
                return Ok(());
            }
            // The file this upload replaces may have changed (moved away, another upload)
            // since the upload began: what it grows the tree by is counted again now.
            let target = self.target.clone();
            let now = tokio::task::spawn_blocking(move || entry_metadata(&target).map(|m| m.len()))
                .await
                .map_err(|_| FsError::GeneralFailure)?
                .unwrap_or(0);
            let grows = self.written.saturating_sub(now);
            if grows > self.reserved {
                let (ledger, tree, more) = (
                    Arc::clone(&self.ledger),
                    self.tree.clone(),
                    grows - self.reserved,
                );
                tokio::task::spawn_blocking(move || ledger.reserve(&tree, more))
                    .await
                    .map_err(|_| FsError::GeneralFailure)??;
                self.reserved = grows;
            }
            let (staged, target) = (self.staged.clone(), self.target.clone());
            with_file(&mut self.file, move |f| {
                f.sync_all()?;
                std::fs::rename(&staged, &target)
            })
            .await?;
            self.done = true;
            self.ledger.release(self.reserved);
            self.reserved = 0;
            self.ledger.changed();
            Ok(())
        }
        .boxed()
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.staged);
            self.ledger.release(self.reserved);
            // Dropped while being renamed into place, the file may be in the tree now.
            self.ledger.changed();
        }
    }
}
