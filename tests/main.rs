//! End-to-end tests: the real `busker` binary on temporary data dirs, and several peers on
//! 127.0.0.1 (in-process nodes with real libp2p swarms, and `busker node` processes). One test
//! binary; each topic is a module.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

mod blobs;
mod catalog_budget;
mod cli;
mod covers;
mod crash;
mod gui;
mod identity;
mod links;
mod live;
mod network;
mod node_cli;
mod play;
mod playlists;
mod radio;
mod relay;
mod resilience;
mod stream;
mod subsonic;
mod taste;

// The network bench scenarios, also runnable as an ignored test (see `network::figures`).
#[allow(dead_code)]
#[path = "../benches/benches/network.rs"]
mod bench_network;

// The scale harness, also run small as a test (see `network::the_scale_harness_at_20_peers...`).
#[allow(dead_code)]
#[path = "../benches/benches/scale.rs"]
mod bench_scale;

// The radio bench scenario, also runnable as an ignored test (see `radio::radio_figures`).
#[allow(dead_code)]
#[path = "../benches/benches/radio.rs"]
mod bench_radio;
