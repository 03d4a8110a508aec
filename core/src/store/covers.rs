//! Cover images as content-addressed files: `covers/<hex of the BLAKE3 of the bytes>` beside
//! the database. Small data (at most [`crate::model::MAX_COVER_BYTES`] each, one per distinct
//! image), written once through a temporary name, synced and renamed, and checked against its
//! name whenever it is read, so a file changed on disk is never served or shown. No sled tree:
//! the file's name is its hash, and the manifests that name a cover are the references.

use std::fs;
use std::io::Write;
use std::path::PathBuf;

use super::Store;
use crate::error::{Error, Result};
use crate::model::{CoverRef, ImageHash};

const COVERS: &str = "covers";

impl Store {
    fn covers_dir(&self) -> PathBuf {
        self.path
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .join(COVERS)
    }

    /// Where the image with this hash is (or would be) kept.
    fn cover_file(&self, hash: &ImageHash) -> PathBuf {
        self.covers_dir().join(hash.to_hex())
    }

    /// Keeps a cover's bytes, which must be exactly the image `cover` names
    /// ([`crate::model::CoverError::Mismatch`] otherwise). Nothing is written when it is here.
    pub fn put_cover(&self, cover: &CoverRef, bytes: &[u8]) -> Result<()> {
        if !cover.matches(bytes) {
            return Err(crate::model::CoverError::Mismatch.into());
        }
        let to = self.cover_file(&cover.hash);
        if to.is_file() {
            return Ok(());
        }
        let dir = self.covers_dir();
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let tmp = dir.join(format!(
            ".{}.{}.tmp",
            cover.hash.to_hex(),
            rand::random::<u64>()
        ));
        let written = fs::File::create(&tmp)
            .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
            .and_then(|()| fs::rename(&tmp, &to))
            .and_then(|()| fs::File::open(&dir)?.sync_all());
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(Error::io(&to, e));
        }
        Ok(())
    }

    /// The image with this hash, checked against it; `None` when it is not here. A file that
    /// no longer matches its name is removed (it will be fetched again).
    pub fn cover(&self, hash: &ImageHash) -> Result<Option<Vec<u8>>> {
        let path = self.cover_file(hash);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&path, e)),
        };
        if ImageHash::of(&bytes) != *hash {
            tracing::warn!(path = %path.display(), "a cover changed on disk: removed");
            let _ = fs::remove_file(&path);
            return Ok(None);
        }
        Ok(Some(bytes))
    }

    /// The file of a cover held here (for a desktop that shows it by path, MPRIS's
    /// `mpris:artUrl`); `None` when it is not here. The file is checked when read, not here.
    pub fn cover_path(&self, hash: &ImageHash) -> Option<PathBuf> {
        Some(self.cover_file(hash)).filter(|p| p.is_file())
    }
}
