//! The data directory: one peer's database, index, keys and config, locked to one process.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::artist::{ArtistProfile, backup};
use crate::error::{Error, Result};
use crate::model::{ArtistKey, ArtistKeypair};

/// An open, exclusively locked data directory. The lock is released when this is dropped.
#[derive(Debug)]
pub struct DataDir {
    root: PathBuf,
    _lock: File,
}

impl DataDir {
    /// The platform's default data directory (for example `~/.local/share/busker` on Linux).
    pub fn default_root() -> Option<PathBuf> {
        directories::ProjectDirs::from("org", "Busker", "busker").map(|d| d.data_dir().to_owned())
    }

    /// Creates `root` if needed (owner-only) and takes its lock.
    ///
    /// Fails with [`Error::DataDirLocked`] while another process holds it.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        create_private_dir(&root)?;
        let lock_path = root.join("LOCK");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io(&lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(Error::DataDirLocked(root)),
            Err(TryLockError::Error(e)) => return Err(Error::io(&lock_path, e)),
        }
        Ok(Self { root, _lock: lock })
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the sled database lives.
    pub fn db_path(&self) -> PathBuf {
        self.root.join("db")
    }

    /// Where the tantivy index lives.
    pub fn index_path(&self) -> PathBuf {
        self.root.join("index")
    }

    /// The TOML config file.
    pub fn config_path(&self) -> PathBuf {
        self.root.join("config.toml")
    }

    /// The 32-byte secret of the key `name` (`peer` or `artist`), created on first use with
    /// owner-only permissions.
    pub fn key_seed(&self, name: &str) -> Result<[u8; 32]> {
        let dir = self.root.join("keys");
        create_private_dir(&dir)?;
        let path = dir.join(format!("{name}.key"));
        match fs::read(&path) {
            Ok(bytes) => key_seed_of(&path, &bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let seed = ArtistKeypair::generate().seed();
                write_private_atomic(&path, &seed)?;
                Ok(seed)
            }
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    /// This peer's artist key.
    pub fn artist_key(&self) -> Result<ArtistKeypair> {
        self.key_seed("artist").map(ArtistKeypair::from_seed)
    }

    /// Makes `key` this peer's artist key (imported from a [`backup`]). The key it replaces is
    /// kept in `keys/retired/`, never deleted; returns it when it was another key.
    pub fn import_artist_key(&self, key: &ArtistKeypair) -> Result<Option<ArtistKey>> {
        let old = self.artist_key()?;
        if old.public() == key.public() {
            return Ok(None);
        }
        let retired = self.root.join("keys").join("retired");
        create_private_dir(&retired)?;
        write_private_atomic(&retired.join(format!("{}.key", old.public())), &old.seed())?;
        write_private_atomic(&self.root.join("keys").join("artist.key"), &key.seed())?;
        Ok(Some(old.public()))
    }
}

impl DataDir {
    /// Keeps the last profile of a retired key (it names the successor) for the node to put
    /// into the DHT at every start.
    pub fn keep_retired_profile(&self, profile: &ArtistProfile) -> Result<()> {
        let retired = self.root.join("keys").join("retired");
        create_private_dir(&retired)?;
        let path = retired.join(format!("{}.profile", profile.key));
        write_private_atomic(&path, &profile.encode())
    }

    /// The kept last profiles of retired keys (those that no longer verify are skipped).
    pub fn retired_profiles(&self) -> Vec<ArtistProfile> {
        let dir = self.root.join("keys").join("retired");
        let Ok(entries) = fs::read_dir(&dir) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "profile"))
            .filter_map(|p| ArtistProfile::decode(&fs::read(p).ok()?).ok())
            .collect()
    }
}

/// Writes a backup of the artist key of the data dir `root` to `to`, a new file readable by the
/// owner only (an existing file is never overwritten). Needs no lock: a running node may hold
/// the data dir. Returns the key's public half.
pub fn export_artist_key(root: &Path, to: &Path) -> Result<ArtistKey> {
    let path = root.join("keys").join("artist.key");
    let bytes = fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let key = ArtistKeypair::from_seed(key_seed_of(&path, &bytes)?);
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts.open(to).map_err(|e| Error::io(to, e))?;
    file.write_all(backup::to_text(&key).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io(to, e))?;
    Ok(key.public())
}

/// The 32-byte seed a key file at `path` holds.
fn key_seed_of(path: &Path, bytes: &[u8]) -> Result<[u8; 32]> {
    bytes.try_into().map_err(|_| Error::Config {
        path: path.to_owned(),
        reason: format!("a key file holds 32 bytes, this one {}", bytes.len()),
    })
}

fn create_private_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io(dir, e))?;
    }
    Ok(())
}

/// Writes `bytes` to `path` readable by the owner only, through a temporary file and a rename so
/// that a crash never leaves half a file.
pub(crate) fn write_private_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut opts = OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts.open(&tmp).map_err(|e| Error::io(&tmp, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_open_is_refused_while_the_first_holds_the_lock() {
        let tmp = tempfile::tempdir().unwrap();
        let first = DataDir::open(tmp.path()).unwrap();
        assert!(matches!(
            DataDir::open(tmp.path()),
            Err(Error::DataDirLocked(_))
        ));
        drop(first);
        DataDir::open(tmp.path()).unwrap();
    }

    #[test]
    fn an_exported_key_imports_elsewhere_and_the_replaced_key_is_kept() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let key = DataDir::open(a.path()).unwrap().artist_key().unwrap();
        let file = a.path().join("backup.txt");
        assert_eq!(export_artist_key(a.path(), &file).unwrap(), key.public());
        assert!(
            export_artist_key(a.path(), &file).is_err(),
            "never overwrites"
        );
        let imported = backup::parse(&fs::read_to_string(&file).unwrap()).unwrap();

        let other = DataDir::open(b.path()).unwrap();
        let replaced = other.artist_key().unwrap();
        assert_eq!(
            other.import_artist_key(&imported).unwrap(),
            Some(replaced.public())
        );
        assert_eq!(other.artist_key().unwrap().public(), key.public());
        let kept = b
            .path()
            .join(format!("keys/retired/{}.key", replaced.public()));
        assert_eq!(fs::read(kept).unwrap(), replaced.seed());
        assert_eq!(
            other.import_artist_key(&imported).unwrap(),
            None,
            "already this key"
        );
    }

    #[test]
    fn keys_are_created_once_and_private() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::open(tmp.path()).unwrap();
        let a = dir.artist_key().unwrap();
        let b = dir.artist_key().unwrap();
        assert_eq!(a.public(), b.public());
        assert_ne!(dir.key_seed("peer").unwrap(), a.seed());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(tmp.path().join("keys/artist.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
