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
