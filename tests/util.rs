//! Helpers shared by the end-to-end tests: the real `busker` binary on temporary data dirs.

use std::path::PathBuf;
use std::process::{Command, Output};

/// The `busker` binary cargo built for this test run.
pub fn busker_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_busker"))
}

/// A temporary data dir and a way to run `busker` on it.
pub struct Peer {
    /// Keeps the directory alive.
    pub dir: tempfile::TempDir,
}

impl Peer {
    /// A fresh data dir.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temporary data dir"),
        }
    }

    /// `busker --data-dir DIR ARGS...`, waiting for it to finish.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(busker_bin())
            .arg("--data-dir")
            .arg(self.dir.path())
            .args(args)
            .env_remove("BUSKER_DATA_DIR")
            .output()
            .expect("run busker")
    }

    /// Runs with `--json` and parses every stdout line; also returns the exit success.
    pub fn json(&self, args: &[&str]) -> (bool, Vec<serde_json::Value>, String) {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        let stdout = String::from_utf8(out.stdout).expect("utf-8 stdout");
        let values = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
            .collect();
        (
            out.status.success(),
            values,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

/// A file of `assets/audio/`, as a string argument.
pub fn audio(name: &str) -> String {
    busker_core::test_utils::audio_fixture(name)
        .to_string_lossy()
        .into_owned()
}
