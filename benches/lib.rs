//! Benches live in the bench targets; this empty library only anchors the package.
