use std::sync::Arc;

use super::*;
use crate::test_utils::{temp_library, write_wav};

#[tokio::test]
async fn an_offline_node_runs_the_library_flows_and_refuses_the_network() {
    let (dir, library) = temp_library();
    let node = Node::offline(Arc::new(library)).expect("an offline node");
    assert!(!node.is_online());

    // Publish, list, rate and read back: the library's flows, through the node.
    let file = write_wav(dir.path(), "offline.wav", 300_000, 7);
    let published = node
        .publish(vec![file.clone()], PublishOptions::default())
        .await
        .expect("publish offline");
    let id = match published.as_slice() {
        [Ok(m)] => m.id(),
        other => panic!("one published track expected, got {other:?}"),
    };
    let listed = node.list().await.expect("list offline");
    assert!(listed.iter().any(|t| t.id == id && t.local));
    node.library().rate(&id, 4).expect("rate offline");
    assert_eq!(node.library().store().rating(&id).expect("read"), Some(4));
    let bytes = node
        .read_track(id)
        .await
        .expect("a local track reads offline");
    assert_eq!(bytes, std::fs::read(&file).expect("the file"));

    // What needs a peer says the network is not running, and sends nothing anywhere.
    let addr: Multiaddr = "/ip4/127.0.0.1/tcp/9".parse().expect("an address");
    assert!(matches!(node.connect(addr).await, Err(Error::Offline)));
    assert!(matches!(node.peers().await, Err(Error::Offline)));
    node.shutdown().await;
}

mod live_sim;
