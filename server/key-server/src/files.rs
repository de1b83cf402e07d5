//! Where published files live. Behind a trait so object storage can replace
//! the filesystem at scale; every implementation must make `put` atomic
//! (a reader sees the old bytes or the new, never a part).

use std::io;
use std::path::{Path, PathBuf};

/// Storage for published files, addressed by name.
pub trait FileStore: Send + Sync + 'static {
    /// Writes `bytes` under `name`, atomically, replacing what was there.
    fn put(&self, name: &str, bytes: &[u8]) -> io::Result<()>;
    /// The bytes under `name`, if any.
    fn get(&self, name: &str) -> io::Result<Option<Vec<u8>>>;
    /// Removes `name`; removing a missing name is not an error.
    fn delete(&self, name: &str) -> io::Result<()>;
}

/// Files in one directory of the local filesystem.
#[derive(Debug, Clone)]
pub struct FsStore {
    dir: PathBuf,
}

impl FsStore {
    /// Uses (and creates) `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(FsStore { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, name: &str) -> io::Result<PathBuf> {
        // Names are content addresses or fixed words: nothing that could
        // leave the directory.
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("invalid file name {name:?}")));
        }
        Ok(self.dir.join(name))
    }
}

impl FileStore for FsStore {
    fn put(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        use std::io::Write as _;
        let path = self.path(name)?;
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, &path)?;
        // Make the rename itself durable.
        std::fs::File::open(&self.dir)?.sync_all()
    }

    fn get(&self, name: &str) -> io::Result<Option<Vec<u8>>> {
        match std::fs::read(self.path(name)?) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn delete(&self, name: &str) -> io::Result<()> {
        match std::fs::remove_file(self.path(name)?) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_replace_delete() {
        let dir = std::env::temp_dir().join(format!("gl-files-{}", std::process::id()));
        let store = FsStore::new(&dir).expect("dir");
        assert_eq!(store.get("abc").expect("read"), None);
        store.put("abc", b"one").expect("write");
        store.put("abc", b"two").expect("replace");
        assert_eq!(store.get("abc").expect("read"), Some(b"two".to_vec()));
        store.delete("abc").expect("delete");
        store.delete("abc").expect("deleting twice is fine");
        assert!(store.put("../escape", b"x").is_err());
        assert!(store.get("a/b").is_err());
        std::fs::remove_dir_all(dir).expect("cleanup");
    }
}
