//! End-to-end tests: the real `busker` binary on temporary data dirs (and, as the network grows,
//! several peers on 127.0.0.1). One test binary; each topic is a module.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

mod cli;
mod gui;
mod play;
