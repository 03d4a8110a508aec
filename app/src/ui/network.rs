//! Network: an invite link to this peer (copyable, and as a QR code), a field to open any
//! `busker://` link, this peer's id and listen addresses (copyable), a field to paste a peer
//! address and connect (errors shown), the peers connected, the transfers with progress and
//! speed, and the LAN discovery toggle.

use crate::backend::TransferState;
use crate::model::{Model, NetState, State};
use crate::ui::{Command, clock};

/// The accessible label of the address field.
pub const ADDRESS_LABEL: &str = "Peer address";
/// The accessible label of the button that dials the address.
pub const CONNECT_LABEL: &str = "Connect";
/// The accessible label of the link field.
pub const LINK_LABEL: &str = "Link";
/// The accessible label of the button that opens the link.
pub const OPEN_LINK_LABEL: &str = "Open link";
/// The accessible label of the button that makes an invite link.
pub const INVITE_LABEL: &str = "Make an invite link";
/// The label of the LAN discovery toggle (read when the peer starts).
pub const LAN_LABEL: &str =
    "LAN discovery (mDNS): find peers on this network (from the next start)";

fn copy_row(ui: &mut egui::Ui, text: &str, copy_label: &str) {
    ui.horizontal(|ui| {
        ui.add(egui::Label::new(egui::RichText::new(text).monospace()).selectable(true));
        let r = ui.small_button("Copy");
        r.widget_info(|| egui::WidgetInfo::labeled(egui::WidgetType::Button, true, copy_label));
        if r.clicked() {
            ui.ctx().copy_text(text.to_owned());
        }
    });
}

/// Bytes per second as people read it.
pub fn speed(bytes_per_sec: u64) -> String {
    let b = bytes_per_sec as f64;
    if b >= 1024.0 * 1024.0 {
        format!("{:.1} MiB/s", b / (1024.0 * 1024.0))
    } else if b >= 1024.0 {
        format!("{:.0} KiB/s", b / 1024.0)
    } else {
        format!("{bytes_per_sec} B/s")
    }
}

/// Bytes as megabytes with one decimal.
fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_000_000.0)
}

/// Draws the Network view.
pub fn show(ui: &mut egui::Ui, state: &mut State, model: &Model) -> Vec<Command> {
    let mut out = Vec::new();
    ui.heading("Network");
    ui.add_space(4.0);
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show(ui, |ui| {
            invite(ui, model, &mut out);
            ui.add_space(8.0);
            open_link(ui, state, model, &mut out);
            ui.add_space(8.0);
            this_peer(ui, model);
            ui.add_space(8.0);
            connect(ui, state, model, &mut out);
            ui.add_space(8.0);
            let mut lan = model.config.lan_discovery;
            if ui.checkbox(&mut lan, LAN_LABEL).changed() {
                out.push(Command::SetLanDiscovery(lan));
            }
            ui.add_space(8.0);
            peers(ui, model);
            ui.add_space(8.0);
            transfers(ui, model);
        });
    out
}

fn invite(ui: &mut egui::Ui, model: &Model, out: &mut Vec<Command>) {
    ui.strong("Invite a friend");
    ui.label(
        "A link that lets another peer join this one: send it, or show the QR code to a phone \
         or a second machine. It is signed by this peer and lasts a week.",
    );
    let up = matches!(model.net.state, NetState::Up { .. });
    if ui
        .add_enabled(up, egui::Button::new(INVITE_LABEL))
        .clicked()
    {
        out.push(Command::Invite);
    }
    match &model.invite {
        Some(Ok((link, qr))) => {
            copy_row(ui, link, "Copy invite link");
            if let Some(qr) = qr {
                crate::qr::show(ui, qr, 220.0, "Invite link as a QR code");
            }
        }
        Some(Err(e)) => {
            ui.colored_label(ui.visuals().error_fg_color, format!("No invite link: {e}"));
        }
        None => {}
    }
}

fn open_link(ui: &mut egui::Ui, state: &mut State, model: &Model, out: &mut Vec<Command>) {
    ui.strong("Open a link");
    let mut go = false;
    ui.horizontal(|ui| {
        let l = ui.label(LINK_LABEL);
        let r = ui
            .add(
                egui::TextEdit::singleline(&mut state.link_input)
                    .hint_text("busker://join/...  busker://track/...  busker://artist/...")
                    .desired_width(460.0),
            )
            .labelled_by(l.id);
        let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        go = ui.button(OPEN_LINK_LABEL).clicked() || enter;
    });
    let input = state.link_input.trim().to_owned();
    if go && !input.is_empty() {
        out.push(Command::OpenLink(input));
        state.link_input.clear();
    }
    if let Some(link) = &model.shared {
        ui.label("Last link made to share (copied):");
        copy_row(ui, link, "Copy shared link");
    }
}

fn this_peer(ui: &mut egui::Ui, model: &Model) {
    ui.strong("This peer");
    match &model.net.state {
        NetState::Starting => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Starting the network...");
            });
        }
        NetState::Failed(e) => {
            ui.colored_label(
                ui.visuals().error_fg_color,
                format!("The network did not start: {e}"),
            );
            ui.label("The app works offline; check the listen address in Settings.");
        }
        NetState::Up { peer_id, listen } => {
            ui.label("Peer id");
            copy_row(ui, peer_id, "Copy peer id");
            ui.label("Listening on (give one of these to a friend to connect)");
            for (i, a) in listen.iter().enumerate() {
                copy_row(ui, a, &format!("Copy address {}", i + 1));
            }
            if listen.is_empty() {
                ui.label(egui::RichText::new("no address yet").weak());
            }
            let t = &model.net.status.traffic;
            ui.label(format!(
                "Traffic: up {:.0} kbit/s, down {:.0} kbit/s ({} sent, {} received since start)",
                t.up_kbps,
                t.down_kbps,
                megabytes(t.sent),
                megabytes(t.received)
            ));
        }
    }
}

fn connect(ui: &mut egui::Ui, state: &mut State, model: &Model, out: &mut Vec<Command>) {
    ui.strong("Connect to a peer");
    let mut go = false;
    ui.horizontal(|ui| {
        let l = ui.label(ADDRESS_LABEL);
        let r = ui
            .add(
                egui::TextEdit::singleline(&mut state.peer_input)
                    .hint_text("/ip4/192.0.2.7/tcp/4001/p2p/12D3Koo...")
                    .desired_width(460.0),
            )
            .labelled_by(l.id);
        let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        let enabled = matches!(model.net.state, NetState::Up { .. });
        go = ui
            .add_enabled(enabled, egui::Button::new(CONNECT_LABEL))
            .clicked()
            || (enter && enabled);
    });
    let input = state.peer_input.trim().to_owned();
    if go && !input.is_empty() {
        // The worker parses it; a bad address comes back as an error below.
        out.push(Command::Connect(input));
        state.peer_input.clear();
    }
    for a in &model.net.dialling {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label(format!("Connecting to {a}"));
        });
    }
    match &model.net.last_dial {
        Some((_, Ok(peer))) => {
            ui.label(format!("Connected to {peer}"));
        }
        Some((addr, Err(e))) => {
            ui.colored_label(
                ui.visuals().error_fg_color,
                format!("Could not connect to {addr}: {e}"),
            );
        }
        None => {}
    }
    if !state.peer_addresses.is_empty() {
        ui.label("Saved peers (dialled at every start):");
        for a in &state.peer_addresses {
            ui.horizontal(|ui| {
                ui.monospace(a);
                if ui.small_button("Forget").clicked() {
                    out.push(Command::ForgetPeer(a.clone()));
                }
            });
        }
    }
}

fn peers(ui: &mut egui::Ui, model: &Model) {
    let peers = &model.net.status.peers;
    ui.strong(format!("Connected peers ({})", peers.len()));
    egui::Grid::new("peers")
        .striped(true)
        .num_columns(3)
        .show(ui, |ui| {
            ui.strong("Peer");
            ui.strong("Address");
            ui.strong("Connected for");
            ui.end_row();
            for p in peers {
                ui.add(egui::Label::new(
                    egui::RichText::new(&p.peer_id).monospace(),
                ));
                ui.monospace(&p.addr);
                ui.label(clock(p.since.elapsed()));
                ui.end_row();
            }
            if peers.is_empty() {
                ui.label(egui::RichText::new("none").weak());
                ui.end_row();
            }
        });
}

fn transfers(ui: &mut egui::Ui, model: &Model) {
    let list = &model.net.status.transfers;
    ui.strong("Transfers");
    egui::Grid::new("transfers")
        .striped(true)
        .num_columns(4)
        .show(ui, |ui| {
            ui.strong("Track");
            ui.strong("Progress");
            ui.strong("Speed");
            ui.strong("State");
            ui.end_row();
            for t in list {
                ui.label(&t.title);
                let text = format!("{} of {} chunks", t.have, t.total);
                ui.add(
                    egui::ProgressBar::new(t.fraction())
                        .desired_width(200.0)
                        .text(text),
                );
                match &t.state {
                    TransferState::Running => {
                        ui.label(speed(t.bytes_per_sec));
                        ui.label("downloading");
                    }
                    TransferState::Done {
                        peers_used,
                        bytes_per_sec,
                    } => {
                        ui.label(format!("{} average", speed(*bytes_per_sec)));
                        ui.label(format!("done, from {peers_used} peers"));
                    }
                    TransferState::Failed(e) => {
                        ui.label("");
                        ui.colored_label(ui.visuals().error_fg_color, format!("stopped: {e}"));
                    }
                }
                ui.end_row();
            }
            if list.is_empty() {
                ui.label(egui::RichText::new("none").weak());
                ui.end_row();
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speeds_read_like_people_write_them() {
        assert_eq!(speed(512), "512 B/s");
        assert_eq!(speed(20 * 1024), "20 KiB/s");
        assert_eq!(speed(3 * 1024 * 1024 + 512 * 1024), "3.5 MiB/s");
    }
}
