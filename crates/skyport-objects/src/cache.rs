//! A bounded cache of fixed-size blocks of objects, least recently used out first.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;

/// A block: the object's name, its version (ETag) and the block's number.
pub type BlockKey = (String, String, u64);

struct Entry {
    bytes: Bytes,
    used: u64,
}

struct Inner {
    blocks: HashMap<BlockKey, Entry>,
    held: u64,
    clock: u64,
}

/// Blocks held in memory, at most `capacity` bytes of them.
pub struct BlockCache {
    capacity: u64,
    inner: Mutex<Inner>,
}

impl BlockCache {
    /// An empty cache of at most `capacity` bytes.
    pub fn new(capacity: u64) -> BlockCache {
        BlockCache {
            capacity,
            inner: Mutex::new(Inner {
                blocks: HashMap::new(),
                held: 0,
                clock: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The block `key`, if held.
    pub fn get(&self, key: &BlockKey) -> Option<Bytes> {
        let mut inner = self.lock();
        inner.clock += 1;
        let now = inner.clock;
        inner.blocks.get_mut(key).map(|e| {
            e.used = now;
            e.bytes.clone()
        })
    }

    /// Keeps `bytes` as block `key`, letting the least recently used blocks go to make room.
    pub fn put(&self, key: BlockKey, bytes: Bytes) {
        let size = bytes.len() as u64;
        if size > self.capacity {
            return;
        }
        let mut inner = self.lock();
        inner.clock += 1;
        let now = inner.clock;
        if let Some(old) = inner.blocks.insert(key, Entry { bytes, used: now }) {
            inner.held -= old.bytes.len() as u64;
        }
        inner.held += size;
        while inner.held > self.capacity {
            // A scan: the cache holds a few thousand blocks at most (capacity / block size).
            let Some(oldest) = inner
                .blocks
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(e) = inner.blocks.remove(&oldest) {
                inner.held -= e.bytes.len() as u64;
            }
        }
    }

    /// The bytes held.
    pub fn held(&self) -> u64 {
        self.lock().held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u64) -> BlockKey {
        ("a".into(), "v1".into(), n)
    }

    #[test]
    fn the_least_recently_used_block_goes_first_and_the_bound_holds() {
        let cache = BlockCache::new(30);
        for n in 0..3 {
            cache.put(key(n), Bytes::from(vec![n as u8; 10]));
        }
        assert!(cache.get(&key(0)).is_some()); // 1 is now the oldest
        cache.put(key(3), Bytes::from(vec![3; 10]));
        assert!(cache.get(&key(1)).is_none());
        assert!(cache.get(&key(0)).is_some() && cache.get(&key(3)).is_some());
        assert_eq!(cache.held(), 30);
        // A block larger than the cache is not kept.
        cache.put(key(9), Bytes::from(vec![9; 31]));
        assert!(cache.get(&key(9)).is_none());
        assert_eq!(cache.held(), 30);
    }
}

/// Blocks kept on local disk under the memory cache (`[object_store] disk_cache_mb`): a block
/// the memory cache let go comes from here instead of the store. Bounded in bytes, least
/// recently used out first; emptied when the server starts (what it holds is known only to the
/// process that wrote it). Plain blocking file I/O: it is called on cfitsio's (blocking)
/// threads, never awaited on the runtime, whose blocking pool those threads may be filling.
pub struct DiskCache {
    dir: std::path::PathBuf,
    capacity: u64,
    inner: Mutex<DiskInner>,
    writes: std::sync::atomic::AtomicU64,
}

struct DiskInner {
    files: HashMap<String, (u64, u64)>,
    held: u64,
    clock: u64,
}

impl DiskCache {
    /// An empty cache of at most `capacity` bytes in `dir` (emptied first).
    pub fn new(dir: std::path::PathBuf, capacity: u64) -> std::io::Result<DiskCache> {
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        Ok(DiskCache {
            dir,
            capacity,
            inner: Mutex::new(DiskInner {
                files: HashMap::new(),
                held: 0,
                clock: 0,
            }),
            writes: Default::default(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DiskInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The file name of `key`: a hash of the object's name and version, and the block.
    fn file_of(key: &BlockKey) -> String {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (&key.0, &key.1).hash(&mut h);
        format!("{:016x}-{}", h.finish(), key.2)
    }

    /// The block `key`, if kept and `len` bytes long (anything else is dropped).
    pub fn get(&self, key: &BlockKey, len: u64) -> Option<Bytes> {
        let file = Self::file_of(key);
        {
            let mut inner = self.lock();
            inner.clock += 1;
            let now = inner.clock;
            inner.files.get_mut(&file)?.1 = now;
        }
        match std::fs::read(self.dir.join(&file)) {
            Ok(bytes) if bytes.len() as u64 == len => Some(Bytes::from(bytes)),
            _ => {
                let mut inner = self.lock();
                if let Some((s, _)) = inner.files.remove(&file) {
                    inner.held -= s;
                    let _ = std::fs::remove_file(self.dir.join(&file));
                }
                None
            }
        }
    }

    /// Keeps `bytes` as block `key`, letting the least recently used go to make room.
    pub fn put(&self, key: &BlockKey, bytes: &Bytes) {
        let size = bytes.len() as u64;
        let file = Self::file_of(key);
        if size > self.capacity || self.lock().files.contains_key(&file) {
            return;
        }
        // A name of its own for each write: two writes of one block do not share a file.
        let n = self
            .writes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = self.dir.join(format!("{file}.{n}.tmp"));
        let target = self.dir.join(&file);
        if std::fs::write(&tmp, bytes).is_err() {
            let _ = std::fs::remove_file(&tmp);
            return;
        }
        let mut inner = self.lock();
        if inner.files.contains_key(&file) || std::fs::rename(&tmp, &target).is_err() {
            let _ = std::fs::remove_file(&tmp);
            return;
        }
        inner.clock += 1;
        let now = inner.clock;
        inner.files.insert(file, (size, now));
        inner.held += size;
        // Files are removed while the lock is held, so a block put again is not lost.
        while inner.held > self.capacity {
            let Some(oldest) = inner
                .files
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some((s, _)) = inner.files.remove(&oldest) {
                inner.held -= s;
                let _ = std::fs::remove_file(self.dir.join(&oldest));
            }
        }
    }

    /// The bytes kept.
    pub fn held(&self) -> u64 {
        self.lock().held
    }
}

#[cfg(test)]
mod disk_tests {
    use super::*;

    #[test]
    fn blocks_are_kept_on_disk_within_the_bound() {
        let dir = tempfile::tempdir().expect("dir");
        let cache = DiskCache::new(dir.path().join("blocks"), 25).expect("cache");
        let key = |n: u64| ("root/a.fits".to_string(), "\"etag\"".to_string(), n);
        cache.put(&key(0), &Bytes::from(vec![0u8; 10]));
        cache.put(&key(1), &Bytes::from(vec![1u8; 10]));
        assert_eq!(cache.get(&key(0), 10).as_deref(), Some(&[0u8; 10][..]));
        cache.put(&key(2), &Bytes::from(vec![2u8; 10])); // 1 goes
        assert!(cache.get(&key(1), 10).is_none());
        assert_eq!(cache.get(&key(2), 10).as_deref(), Some(&[2u8; 10][..]));
        assert_eq!(cache.held(), 20);
        assert_eq!(
            std::fs::read_dir(dir.path().join("blocks"))
                .expect("dir")
                .count(),
            2
        );
        // A block of another length than expected is dropped, not served.
        assert!(cache.get(&key(2), 11).is_none());
        assert_eq!(cache.held(), 10);
        // Another version of the object is another block.
        let other = ("root/a.fits".to_string(), "\"etag2\"".to_string(), 0);
        assert!(cache.get(&other, 10).is_none());
        // A new cache starts empty.
        let again = DiskCache::new(dir.path().join("blocks"), 25).expect("cache");
        assert!(again.get(&key(0), 10).is_none());
        assert_eq!(
            std::fs::read_dir(dir.path().join("blocks"))
                .expect("dir")
                .count(),
            0
        );
    }
}
