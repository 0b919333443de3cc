//! The on-disk store: one RocksDB directory with a column family per concern. The only module
//! that imports `rocksdb`; everything else sees keys, values and atomic batches.
//!
//! Every key starts with [`SCHEMA`], so a future layout can live beside this one and be migrated
//! in place. Batches are written with `sync = true`: once [`Store::write`] returns, the data
//! survives a crash or power loss, and a batch is applied entirely or not at all.

pub mod keys;

use std::path::{Path, PathBuf};

use rocksdb::{
    ColumnFamilyDescriptor, DBCompressionType, IteratorMode, Options, ReadOptions, WriteBatch,
    WriteOptions,
};

/// Schema version byte that starts every key. 2: lists hold several hash kinds, entries carry
/// their provenance, and versions their change logs; keys of layout 1 are ignored.
pub const SCHEMA: u8 = 2;

/// Column families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cf {
    /// List metadata and store-wide settings.
    Meta,
    /// List entries by list and version.
    Entries,
    /// Persisted index nodes (BK-tree) by list, version and hash kind.
    Index,
    /// Match reports, by unit and cursor, and their id index.
    Reports,
}

impl Cf {
    /// Every column family.
    pub const ALL: [Cf; 4] = [Cf::Meta, Cf::Entries, Cf::Index, Cf::Reports];

    /// The column family's name in RocksDB.
    pub fn name(self) -> &'static str {
        match self {
            Cf::Meta => "meta",
            Cf::Entries => "entries",
            Cf::Index => "index",
            Cf::Reports => "reports",
        }
    }
}

/// Why the store could not be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Another process (usually a running `hashguard serve`) holds the write lock.
    #[error(
        "data directory {path} is in use by another hashguard process (a running server?): stop it, \
         or use a command that only reads"
    )]
    Locked {
        /// The data directory.
        path: PathBuf,
    },
    /// There is no store at the path (for commands that only read).
    #[error(
        "no hashguard data at {path}: import a list first (hashguard lists import), or pass --data"
    )]
    Missing {
        /// The data directory.
        path: PathBuf,
    },
    /// RocksDB refused to open the directory.
    #[error("cannot open data directory {path}: {message}")]
    Open {
        /// The data directory.
        path: PathBuf,
        /// RocksDB's message.
        message: String,
    },
    /// A read or write failed.
    #[error("data store I/O failed: {message}")]
    Io {
        /// RocksDB's message.
        message: String,
    },
    /// A stored record does not decode.
    #[error("corrupt record in {cf}: {what}")]
    Corrupt {
        /// Column family name.
        cf: &'static str,
        /// What was wrong.
        what: String,
    },
    /// A write was attempted on a read-only store.
    #[error("the data store was opened read-only")]
    ReadOnly,
}

/// Test-only: when this environment variable names a path and that file exists, every write
/// fails as a full or broken disk would (the server's tests flip its health with it). Nothing
/// else reads it.
pub const TEST_WRITE_FAULT_ENV: &str = "HASHGUARD_TEST_STORE_WRITE_FAULT";

fn injected_write_failure() -> bool {
    static PATH: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    PATH.get_or_init(|| std::env::var_os(TEST_WRITE_FAULT_ENV).map(PathBuf::from))
        .as_deref()
        .is_some_and(Path::exists)
}

fn io(e: rocksdb::Error) -> Error {
    Error::Io {
        message: e.into_string(),
    }
}

/// A stored key and its value.
pub type KeyValue = (Box<[u8]>, Box<[u8]>);

/// An open store.
pub struct Store {
    db: rocksdb::DB,
    path: PathBuf,
    read_only: bool,
}

fn cf_options(cf: Cf) -> Options {
    let mut o = Options::default();
    // Hash bytes are random and do not compress; metadata and entries (ids, JSON) do.
    o.set_compression_type(if cf == Cf::Index {
        DBCompressionType::None
    } else {
        DBCompressionType::Lz4
    });
    o
}

impl Store {
    /// Opens (creating if needed) the store at `path` for reading and writing.
    pub fn open(path: &Path) -> Result<Self, Error> {
        std::fs::create_dir_all(path).map_err(|e| Error::Open {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        let cfs = Cf::ALL.map(|cf| ColumnFamilyDescriptor::new(cf.name(), cf_options(cf)));
        let db =
            rocksdb::DB::open_cf_descriptors(&opts, path, cfs).map_err(|e| open_error(path, e))?;
        Ok(Store {
            db,
            path: path.to_path_buf(),
            read_only: false,
        })
    }

    /// Opens an existing store without taking the write lock, so it works beside a running
    /// server. It sees the data as of opening.
    pub fn open_read_only(path: &Path) -> Result<Self, Error> {
        if !path.join("CURRENT").exists() {
            return Err(Error::Missing {
                path: path.to_path_buf(),
            });
        }
        let opts = Options::default();
        // A store written by an older version may lack newer column families; a reader opens
        // those that exist (reading a missing one reports it).
        let existing = rocksdb::DB::list_cf(&opts, path).unwrap_or_default();
        let cfs = Cf::ALL
            .into_iter()
            .filter(|cf| existing.is_empty() || existing.iter().any(|n| n == cf.name()))
            .map(|cf| ColumnFamilyDescriptor::new(cf.name(), cf_options(cf)));
        let db = rocksdb::DB::open_cf_descriptors_read_only(&opts, path, cfs, false)
            .map_err(|e| open_error(path, e))?;
        Ok(Store {
            db,
            path: path.to_path_buf(),
            read_only: true,
        })
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn cf(&self, cf: Cf) -> Result<&rocksdb::ColumnFamily, Error> {
        self.db.cf_handle(cf.name()).ok_or(Error::Corrupt {
            cf: cf.name(),
            what: "column family missing".into(),
        })
    }

    /// The value at `key`, if any.
    pub fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        self.db.get_cf(self.cf(cf)?, key).map_err(io)
    }

    /// A new, empty batch of writes.
    pub fn batch(&self) -> Batch {
        Batch {
            wb: WriteBatch::default(),
        }
    }

    /// Applies `batch` atomically and durably (fsync before returning).
    pub fn write(&self, batch: Batch) -> Result<(), Error> {
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        if injected_write_failure() {
            return Err(Error::Io {
                message: format!("injected failure ({TEST_WRITE_FAULT_ENV})"),
            });
        }
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db.write_opt(batch.wb, &wo).map_err(io)
    }

    /// Puts one value durably.
    pub fn put(&self, cf: Cf, key: &[u8], value: &[u8]) -> Result<(), Error> {
        let mut b = self.batch();
        b.put(self, cf, key, value)?;
        self.write(b)
    }

    /// Every (key, value) whose key starts with `prefix`, in key order. Reads ahead and skips
    /// the block cache, as bulk loads want.
    pub fn scan_prefix<'a>(
        &'a self,
        cf: Cf,
        prefix: &[u8],
    ) -> Result<impl Iterator<Item = Result<KeyValue, Error>> + use<'a>, Error> {
        let mut ro = ReadOptions::default();
        ro.set_readahead_size(4 << 20);
        ro.fill_cache(false);
        if let Some(upper) = prefix_end(prefix) {
            ro.set_iterate_upper_bound(upper);
        }
        let it = self.db.iterator_cf_opt(
            self.cf(cf)?,
            ro,
            IteratorMode::From(prefix, rocksdb::Direction::Forward),
        );
        Ok(it.map(|r| r.map_err(io)))
    }

    /// Every (key, value) from `start` on whose key starts with `prefix`, in key order (a seek
    /// into a prefix).
    pub fn scan_from<'a>(
        &'a self,
        cf: Cf,
        start: &[u8],
        prefix: &[u8],
    ) -> Result<impl Iterator<Item = Result<KeyValue, Error>> + use<'a>, Error> {
        let mut ro = ReadOptions::default();
        if let Some(upper) = prefix_end(prefix) {
            ro.set_iterate_upper_bound(upper);
        }
        let it = self.db.iterator_cf_opt(
            self.cf(cf)?,
            ro,
            IteratorMode::From(start, rocksdb::Direction::Forward),
        );
        Ok(it.map(|r| r.map_err(io)))
    }

    /// The last (key, value) whose key starts with `prefix`: one reverse seek, however many
    /// keys the prefix holds.
    pub fn last_with_prefix(&self, cf: Cf, prefix: &[u8]) -> Result<Option<KeyValue>, Error> {
        let mut ro = ReadOptions::default();
        ro.set_iterate_lower_bound(prefix.to_vec());
        if let Some(upper) = prefix_end(prefix) {
            ro.set_iterate_upper_bound(upper);
        }
        let mut it = self.db.iterator_cf_opt(self.cf(cf)?, ro, IteratorMode::End);
        it.next().transpose().map_err(io)
    }

    /// Deletes every key in `[from, to)` in one batch.
    pub fn delete_prefix_range(&self, cf: Cf, from: &[u8], to: &[u8]) -> Result<(), Error> {
        let mut b = self.batch();
        b.wb.delete_range_cf(self.cf(cf)?, from, to);
        self.write(b)
    }

    /// Deletes every key starting with `prefix` in one batch (used to drop an old version).
    pub fn delete_prefix(&self, cf: Cf, prefix: &[u8]) -> Result<(), Error> {
        let end = prefix_end(prefix).unwrap_or_else(|| vec![0xff; prefix.len() + 1]);
        let mut b = self.batch();
        b.wb.delete_range_cf(self.cf(cf)?, prefix, &end[..]);
        self.write(b)
    }
}

/// The smallest key greater than every key starting with `prefix` (`None` if all bytes are
/// 0xff).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

fn open_error(path: &Path, e: rocksdb::Error) -> Error {
    let message = e.into_string();
    // RocksDB reports the held LOCK file as an I/O error naming it.
    if message.contains("LOCK")
        && (message.contains("lock") || message.contains("Resource temporarily unavailable"))
    {
        Error::Locked {
            path: path.to_path_buf(),
        }
    } else {
        Error::Open {
            path: path.to_path_buf(),
            message,
        }
    }
}

/// Writes collected for one atomic [`Store::write`].
pub struct Batch {
    wb: WriteBatch,
}

impl Batch {
    /// Adds a put.
    pub fn put(&mut self, store: &Store, cf: Cf, key: &[u8], value: &[u8]) -> Result<(), Error> {
        self.wb.put_cf(store.cf(cf)?, key, value);
        Ok(())
    }

    /// Adds a delete.
    pub fn delete(&mut self, store: &Store, cf: Cf, key: &[u8]) -> Result<(), Error> {
        self.wb.delete_cf(store.cf(cf)?, key);
        Ok(())
    }

    /// Number of operations collected.
    pub fn len(&self) -> usize {
        self.wb.len()
    }

    /// True when nothing was collected.
    pub fn is_empty(&self) -> bool {
        self.wb.is_empty()
    }

    /// Bytes collected (to cut large loads into batches of bounded size).
    pub fn size_in_bytes(&self) -> usize {
        self.wb.size_in_bytes()
    }
}

/// Builds keys: the schema byte, then parts. Strings are length-prefixed so that no key is a
/// prefix of a different name's keys.
#[derive(Debug, Clone)]
pub struct Key(Vec<u8>);

impl Key {
    /// A key in the keyspace tagged `tag` (one byte naming the record type).
    pub fn new(tag: u8) -> Self {
        Key(vec![SCHEMA, tag])
    }

    /// Appends a length-prefixed string.
    pub fn str(mut self, s: &str) -> Self {
        self.0.extend_from_slice(&(s.len() as u16).to_be_bytes());
        self.0.extend_from_slice(s.as_bytes());
        self
    }

    /// Appends a big-endian u32 (so numeric order is key order).
    pub fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Appends a big-endian u64 (so numeric order is key order).
    pub fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Appends a byte.
    pub fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_survive_reopen_and_read_only_sees_them() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Store::open(dir.path()).unwrap();
            let mut b = s.batch();
            for i in 0..10u32 {
                b.put(
                    &s,
                    Cf::Entries,
                    Key::new(b'E').str("list").u32(i).bytes(),
                    &i.to_le_bytes(),
                )
                .unwrap();
            }
            b.put(
                &s,
                Cf::Entries,
                Key::new(b'E').str("listx").u32(0).bytes(),
                b"other",
            )
            .unwrap();
            s.write(b).unwrap();
            // A second writer is refused with a message naming the cause.
            assert!(matches!(Store::open(dir.path()), Err(Error::Locked { .. })));
            // A reader works beside the writer.
            let r = Store::open_read_only(dir.path()).unwrap();
            assert_eq!(
                r.scan_prefix(Cf::Entries, Key::new(b'E').str("list").bytes())
                    .unwrap()
                    .count(),
                10
            );
            assert!(matches!(r.put(Cf::Meta, b"k", b"v"), Err(Error::ReadOnly)));
        }
        let s = Store::open(dir.path()).unwrap();
        let got: Vec<_> = s
            .scan_prefix(Cf::Entries, Key::new(b'E').str("list").bytes())
            .unwrap()
            .collect();
        assert_eq!(got.len(), 10, "length prefix keeps 'listx' out of 'list'");
        s.delete_prefix(Cf::Entries, Key::new(b'E').str("list").bytes())
            .unwrap();
        assert_eq!(
            s.scan_prefix(Cf::Entries, Key::new(b'E').str("list").bytes())
                .unwrap()
                .count(),
            0
        );
        assert_eq!(
            s.scan_prefix(Cf::Entries, Key::new(b'E').str("listx").bytes())
                .unwrap()
                .count(),
            1
        );
    }

    #[test]
    fn read_only_open_of_nothing_says_so() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            Store::open_read_only(&dir.path().join("none")),
            Err(Error::Missing { .. })
        ));
    }
}
