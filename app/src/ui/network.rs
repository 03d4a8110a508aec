//! Network: peers, addresses, transfers with progress and speed, a field to paste a peer
//! address, the LAN discovery toggle. The peer-to-peer node is not in this build: the view says
//! so, keeps the addresses the user pastes (to be dialled once it is) and saves the toggle.

use crate::app::{Model, State};
use crate::ui::{Command, not_available};

/// The accessible label of the address field.
pub const ADDRESS_LABEL: &str = "Peer address";

/// Draws the Network view.
pub fn show(ui: &mut egui::Ui, state: &mut State, model: &Model) -> Vec<Command> {
    let mut out = Vec::new();
    ui.heading("Network");
    not_available(
        ui,
        "Peer-to-peer networking",
        "This build keeps its catalog locally; connecting to peers, fetching and serving \
         tracks arrive with the network node.",
    );
    ui.add_space(8.0);
    ui.strong("This peer");
    ui.label("Listening addresses: none (not listening)");
    ui.add_space(8.0);

    ui.strong("Add a peer");
    let mut add = false;
    ui.horizontal(|ui| {
        let l = ui.label(ADDRESS_LABEL);
        let r = ui
            .add(
                egui::TextEdit::singleline(&mut state.peer_input)
                    .hint_text("/ip4/127.0.0.1/tcp/4001/p2p/12D3Koo...")
                    .desired_width(420.0),
            )
            .labelled_by(l.id);
        let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        add = ui.button("Add peer").clicked() || enter;
    });
    let input = state.peer_input.trim().to_owned();
    if add && !input.is_empty() {
        if looks_like_multiaddr(&input) {
            if !state.peer_addresses.contains(&input) {
                state.peer_addresses.push(input);
            }
            state.peer_input.clear();
        } else {
            ui.colored_label(
                ui.visuals().error_fg_color,
                "A peer address looks like /ip4/1.2.3.4/tcp/4001/p2p/<peer id>",
            );
        }
    }
    if !state.peer_addresses.is_empty() {
        ui.label("Saved; dialled once the network node is in this build:");
        let mut remove = None;
        for (i, a) in state.peer_addresses.iter().enumerate() {
            ui.horizontal(|ui| {
                ui.monospace(a);
                if ui.small_button("Remove").clicked() {
                    remove = Some(i);
                }
            });
        }
        if let Some(i) = remove {
            state.peer_addresses.remove(i);
        }
    }
    ui.add_space(8.0);
    let mut lan = model.config.lan_discovery;
    if ui
        .checkbox(
            &mut lan,
            "LAN discovery (mDNS; sends traffic on your local network)",
        )
        .changed()
    {
        out.push(Command::SetLanDiscovery(lan));
    }
    ui.add_space(8.0);
    ui.strong("Connected peers");
    egui::Grid::new("peers")
        .striped(true)
        .num_columns(3)
        .show(ui, |ui| {
            ui.strong("Peer");
            ui.strong("Address");
            ui.strong("Since");
            ui.end_row();
            ui.label(egui::RichText::new("none").weak());
            ui.end_row();
        });
    ui.add_space(8.0);
    ui.strong("Transfers");
    egui::Grid::new("transfers")
        .striped(true)
        .num_columns(4)
        .show(ui, |ui| {
            ui.strong("Track");
            ui.strong("Progress");
            ui.strong("Speed");
            ui.strong("Peers");
            ui.end_row();
            ui.label(egui::RichText::new("none").weak());
            ui.end_row();
        });
    out
}

/// A cheap shape check: `/proto/value/...` with an even number of parts. The network layer
/// parses it for real.
pub fn looks_like_multiaddr(text: &str) -> bool {
    let parts: Vec<&str> = text.split('/').collect();
    parts.len() >= 3
        && parts[0].is_empty()
        && parts[1..]
            .iter()
            .all(|p| !p.is_empty() && !p.contains(char::is_whitespace))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiaddr_shape() {
        assert!(looks_like_multiaddr("/ip4/127.0.0.1/tcp/4001"));
        assert!(!looks_like_multiaddr("127.0.0.1:4001"));
        assert!(!looks_like_multiaddr("/ip4//tcp/1"));
    }
}
