//! Top-level end-to-end tests live in `main.rs`; this empty library only anchors the package.
