//! The player bar, always at the bottom: previous / play-pause / next, the seek bar with time,
//! volume, rating, the current track and where its bytes come from.

use std::time::Duration;

use crate::model::Model;
use crate::player::Player;
use crate::ui::{Command, clock, stars};

fn icon_button(ui: &mut egui::Ui, icon: &str, label: &str, enabled: bool) -> bool {
    let r = ui.add_enabled(
        enabled,
        egui::Button::new(egui::RichText::new(icon).size(18.0)).min_size(egui::vec2(34.0, 28.0)),
    );
    r.widget_info(|| egui::WidgetInfo::labeled(egui::WidgetType::Button, enabled, label));
    r.on_hover_text(label).clicked()
}

/// The colour of an empty cover square.
fn ui_weak(painter: &egui::Painter) -> egui::Color32 {
    painter.ctx().global_style().visuals.faint_bg_color
}

/// Draws the player bar (with the current track's cover, when it has one).
pub fn show(ui: &mut egui::Ui, player: &Player, model: &Model) -> Vec<Command> {
    let mut out = Vec::new();
    egui::Panel::bottom("player_bar")
        .resizable(false)
        .show(ui, |ui| {
            ui.add_space(4.0);
            let current = player.current();
            let has_queue = !player.queue().is_empty() || !model.tracks.is_empty();
            ui.horizontal(|ui| {
                if icon_button(ui, "⏮", "Previous track", current.is_some()) {
                    out.push(Command::Previous);
                }
                let (icon, label) = if player.is_playing() {
                    ("⏸", "Pause")
                } else {
                    ("▶", "Play")
                };
                if icon_button(ui, icon, label, has_queue) {
                    out.push(Command::TogglePlay);
                }
                if icon_button(ui, "⏭", "Next track", current.is_some()) {
                    out.push(Command::Next);
                }
                ui.separator();
                match current {
                    Some(t) => {
                        let cover = t.info.cover.map(|c| c.hash);
                        if cover.is_some() {
                            let label = format!("Cover of {}", t.info.title);
                            crate::covers::show(
                                ui,
                                &model.covers,
                                cover.as_ref(),
                                40.0,
                                &label,
                                |painter, rect| {
                                    painter.rect_filled(rect, 4.0, ui_weak(painter));
                                },
                            );
                        }
                        ui.vertical(|ui| {
                            ui.strong(&t.info.title);
                            let mut from = format!("{} · from {}", t.info.artist, source(t));
                            if let Some(tr) = model.net.transfer(&t.id)
                                && tr.state == crate::backend::TransferState::Running
                            {
                                from.push_str(&format!(
                                    " · streaming, {:.0}% here",
                                    tr.fraction() * 100.0
                                ));
                            }
                            if player.is_buffering() {
                                from.push_str(" · buffering");
                            }
                            ui.label(from);
                        });
                        ui.separator();
                        if let Some(s) = stars(ui, model.rating(&t.id), true, "current track") {
                            out.push(Command::Rate(t.id, s));
                        }
                    }
                    None => {
                        ui.label(egui::RichText::new("Nothing playing").weak());
                    }
                }
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    let mut volume = player.volume();
                    let r = ui.add(
                        egui::Slider::new(&mut volume, 0.0..=1.0)
                            .text("Volume")
                            .show_value(false),
                    );
                    if r.changed() {
                        out.push(Command::Volume(volume));
                    }
                    if !player.audible() {
                        ui.label(egui::RichText::new(player.backend_name()).weak().italics());
                    }
                });
            });
            ui.horizontal(|ui| {
                let duration = player.duration();
                let mut pos = player.position().as_secs_f32();
                ui.monospace(clock(player.position()));
                ui.spacing_mut().slider_width = (ui.available_width() - 110.0).max(80.0);
                let r = ui.add_enabled(
                    current.is_some(),
                    egui::Slider::new(&mut pos, 0.0..=duration.as_secs_f32().max(0.001))
                        .show_value(false)
                        .text("Seek"),
                );
                if r.changed() {
                    out.push(Command::Seek(Duration::from_secs_f32(pos.max(0.0))));
                }
                ui.monospace(clock(duration));
            });
            ui.add_space(2.0);
        });
    out
}

/// Where the bytes come from, as the player bar says it: this device, or the peers that hold
/// the track (connected providers).
pub fn source(t: &busker_core::TrackSummary) -> String {
    if t.local {
        "this device (local)".to_owned()
    } else if t.providers == 1 {
        "1 peer".to_owned()
    } else if t.providers > 1 {
        format!("{} peers", t.providers)
    } else {
        "no connected peer (announced only)".to_owned()
    }
}
