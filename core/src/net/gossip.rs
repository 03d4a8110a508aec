//! Gossip topics: subscriptions with their validators, publishing, and the validation of every
//! message before gossipsub forwards it.

use std::collections::HashMap;

use libp2p::gossipsub::{self, MessageAcceptance, TopicHash};
use libp2p::{PeerId, Swarm};
use tokio::sync::oneshot;

use super::behaviour::{Behaviour, strict_topic_params};
use super::gate::Gate;
use super::{NetEvent, Topic, TopicValidator, Validation};
use crate::error::{Error, Result};

/// Gossip commands.
pub(crate) enum Command {
    Subscribe {
        topic: String,
        validator: TopicValidator,
        reply: oneshot::Sender<Result<()>>,
    },
    Unsubscribe {
        topic: String,
        reply: oneshot::Sender<()>,
    },
    Publish {
        topic: String,
        data: Vec<u8>,
        reply: oneshot::Sender<bool>,
    },
    TopicPeers {
        topic: String,
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    MeshPeers {
        topic: String,
        reply: oneshot::Sender<Vec<PeerId>>,
    },
}

/// The subscribed topics, by hash.
#[derive(Default)]
pub(super) struct Gossip {
    topics: HashMap<TopicHash, Topic>,
}

impl Gossip {
    /// Subscribes to `topic`; a strict one (every topic but a test's) gets the score parameters
    /// that make invalid messages cost their sender.
    pub(super) fn subscribe(&mut self, swarm: &mut Swarm<Behaviour>, topic: Topic) -> Result<()> {
        let ident = gossipsub::IdentTopic::new(topic.name.clone());
        let gossipsub = &mut swarm.behaviour_mut().gossipsub;
        gossipsub
            .subscribe(&ident)
            .map_err(|e| Error::Network(format!("subscribe {}: {e}", topic.name)))?;
        if topic.strict
            && let Err(e) = gossipsub.set_topic_params(ident.clone(), strict_topic_params())
        {
            tracing::warn!(topic = %topic.name, error = e, "topic scores not set");
        }
        self.topics.insert(ident.hash(), topic);
        Ok(())
    }

    pub(super) fn on_command(
        &mut self,
        swarm: &mut Swarm<Behaviour>,
        gate: &Gate,
        command: Command,
    ) {
        match command {
            Command::Subscribe {
                topic,
                validator,
                reply,
            } => {
                let topic = Topic {
                    name: topic,
                    validator,
                    strict: true,
                };
                let _ = reply.send(self.subscribe(swarm, topic));
            }
            Command::Unsubscribe { topic, reply } => {
                let ident = gossipsub::IdentTopic::new(topic);
                self.topics.remove(&ident.hash());
                swarm.behaviour_mut().gossipsub.unsubscribe(&ident);
                let _ = reply.send(());
            }
            Command::Publish { topic, data, reply } => {
                let ident = gossipsub::IdentTopic::new(topic);
                let sent = match swarm.behaviour_mut().gossipsub.publish(ident, data) {
                    Ok(_) => true,
                    Err(e) => {
                        tracing::debug!(error = %e, "message not published");
                        false
                    }
                };
                let _ = reply.send(sent);
            }
            Command::TopicPeers { topic, reply } => {
                let hash = gossipsub::IdentTopic::new(topic).hash();
                let peers = swarm
                    .behaviour()
                    .gossipsub
                    .all_peers()
                    .filter(|(_, topics)| topics.contains(&&hash))
                    .map(|(p, _)| *p)
                    .filter(|p| !gate.is_banned(p))
                    .collect();
                let _ = reply.send(peers);
            }
            Command::MeshPeers { topic, reply } => {
                let hash = gossipsub::IdentTopic::new(topic).hash();
                let mesh = swarm.behaviour().gossipsub.mesh_peers(&hash);
                let _ = reply.send(mesh.copied().collect());
            }
        }
    }

    /// Validates a message gossipsub holds back, reports the verdict (so that it is forwarded
    /// or dropped), and returns the event for an accepted one. An invalid message on a strict
    /// topic counts against the peer that forwarded it.
    pub(super) fn on_message(
        &self,
        swarm: &mut Swarm<Behaviour>,
        gate: &mut Gate,
        propagation_source: PeerId,
        message_id: gossipsub::MessageId,
        message: gossipsub::Message,
    ) -> Option<NetEvent> {
        let topic = self.topics.get(&message.topic);
        let validation = topic.map_or(Validation::Ignore, |t| {
            (t.validator)(&message.data, message.source.as_ref())
        });
        let strict = topic.is_some_and(|t| t.strict);
        if validation == Validation::Reject {
            if strict {
                tracing::info!(peer = %propagation_source, "rejected a message on a strict topic");
            } else {
                tracing::debug!(peer = %propagation_source, "rejected topic message");
            }
        }
        swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(
                &message_id,
                &propagation_source,
                acceptance(validation),
            );
        match (validation, topic) {
            (Validation::Accept, Some(topic)) => Some(NetEvent::TopicMessage {
                topic: topic.name.clone(),
                data: message.data,
                source: message.source,
            }),
            (Validation::Reject, _) if strict => {
                gate.on_invalid_gossip(swarm, propagation_source);
                None
            }
            _ => None,
        }
    }
}

fn acceptance(validation: Validation) -> MessageAcceptance {
    match validation {
        Validation::Accept => MessageAcceptance::Accept,
        Validation::Reject => MessageAcceptance::Reject,
        Validation::Ignore => MessageAcceptance::Ignore,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::net::PeerLimits;
    use crate::net::behaviour::test_swarm;

    fn message(topic: &str, data: &[u8]) -> gossipsub::Message {
        gossipsub::Message {
            source: None,
            data: data.to_vec(),
            sequence_number: None,
            topic: gossipsub::IdentTopic::new(topic).hash(),
        }
    }

    #[tokio::test]
    async fn accepted_messages_come_out_and_others_do_not() {
        let mut swarm = test_swarm();
        let mut gate = Gate::new(PeerLimits::default());
        let mut gossip = Gossip::default();
        let validator: TopicValidator = Arc::new(|data: &[u8], _: Option<&PeerId>| match data {
            [1, ..] => Validation::Accept,
            [2, ..] => Validation::Ignore,
            _ => Validation::Reject,
        });
        for (name, strict) in [("loose", false), ("strict", true)] {
            let topic = Topic {
                name: name.into(),
                validator: validator.clone(),
                strict,
            };
            gossip.subscribe(&mut swarm, topic).unwrap();
        }
        let from = PeerId::random();
        let mut judge = |gate: &mut Gate, topic: &str, data: &[u8]| {
            let id = gossipsub::MessageId::from(data.to_vec());
            gossip.on_message(&mut swarm, gate, from, id, message(topic, data))
        };
        assert!(matches!(
            judge(&mut gate, "loose", &[1, 9]),
            Some(NetEvent::TopicMessage { topic, data, .. }) if topic == "loose" && data == [1, 9]
        ));
        assert!(judge(&mut gate, "loose", &[2]).is_none());
        assert!(
            judge(&mut gate, "unknown", &[1]).is_none(),
            "not subscribed"
        );
        // Rejections: a loose topic drops the message; a strict one also strikes its sender,
        // 40 a time, so the third bans it.
        for _ in 0..3 {
            assert!(judge(&mut gate, "loose", &[0]).is_none());
        }
        assert!(!gate.is_banned(&from));
        for _ in 0..3 {
            assert!(judge(&mut gate, "strict", &[0]).is_none());
        }
        assert!(gate.is_banned(&from));
    }
}
