//! The left navigation column: one entry per view, and the peer's status.

use crate::model::{Model, NetState, State, Status, View};
use crate::ui::Command;

/// Draws the navigation.
pub fn show(ui: &mut egui::Ui, state: &mut State, model: &Model) -> Vec<Command> {
    let mut out = Vec::new();
    egui::Panel::left("nav")
        .resizable(false)
        .exact_size(150.0)
        .show(ui, |ui| {
            ui.add_space(8.0);
            ui.heading("Busker");
            ui.add_space(8.0);
            for view in View::ALL {
                let r = ui.add_sized(
                    [ui.available_width(), 28.0],
                    egui::Button::selectable(state.view == view, view.label()),
                );
                if r.clicked() {
                    out.push(Command::Show(view));
                }
            }
            ui.with_layout(egui::Layout::bottom_up(egui::Align::Min), |ui| {
                ui.add_space(6.0);
                match &model.status {
                    Status::Opening => {
                        ui.horizontal(|ui| {
                            ui.spinner();
                            ui.label("Opening library");
                        });
                    }
                    Status::Open { .. } => {
                        ui.label(format!("{} tracks known", model.tracks.len()));
                    }
                    Status::Failed(_) => {
                        ui.colored_label(ui.visuals().error_fg_color, "Library unavailable");
                    }
                }
                let net = match &model.net.state {
                    NetState::Starting => "Network starting".to_owned(),
                    NetState::Failed(_) => "Offline: the network did not start".to_owned(),
                    NetState::Up { .. } => match model.net.status.peers.len() {
                        1 => "Online: 1 peer".to_owned(),
                        n => format!("Online: {n} peers"),
                    },
                };
                ui.label(egui::RichText::new(net).weak());
            });
        });
    out
}
