//! Helpers for tests and benches in other crates (feature `test-utils`). They panic on setup
//! failures, as test code does.
#![allow(clippy::expect_used)]

use std::path::{Path, PathBuf};

use crate::{Library, LibraryOptions};

/// The repository's `assets/audio/` folder of free test recordings.
pub fn audio_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/audio")
}

/// One file of `assets/audio/`.
pub fn audio_fixture(name: &str) -> PathBuf {
    audio_dir().join(name)
}

/// A library on a fresh temporary data dir, without the demo tracks. Keep the `TempDir` alive
/// as long as the library.
pub fn temp_library() -> (tempfile::TempDir, Library) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let library = Library::open(LibraryOptions::new(dir.path()).seed_demo(false))
        .expect("open a library on a fresh data dir");
    (dir, library)
}
