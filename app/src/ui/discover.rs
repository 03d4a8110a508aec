//! Discover: recommendations with their reasons (from the recommender, over the network) and
//! new releases (the newest tracks in the local catalog).

use crate::model::Model;
use crate::player::Player;
use crate::ui::{Command, tracks};

/// Draws the Discover view.
pub fn show(ui: &mut egui::Ui, model: &Model, player: &Player) -> Vec<Command> {
    let mut out = Vec::new();
    ui.heading("Discover");
    ui.add_space(4.0);
    ui.strong("Recommended for you");
    if model.recommendations.is_empty() {
        ui.label(
            "Nothing to recommend yet: play and rate some tracks and connect to peers; their \
             taste, swapped as signed profiles, shapes what appears here.",
        );
    } else {
        let list: Vec<_> = model
            .recommendations
            .iter()
            .map(|r| r.track.clone())
            .collect();
        egui::Grid::new("recommendations")
            .num_columns(3)
            .striped(true)
            .show(ui, |ui| {
                for (i, r) in model.recommendations.iter().enumerate() {
                    let label = format!("Play {}", r.track.info.title);
                    let button = ui.button("▶");
                    button.widget_info(|| {
                        egui::WidgetInfo::labeled(egui::WidgetType::Button, true, &label)
                    });
                    if button.on_hover_text(&label).clicked() {
                        out.push(Command::Play {
                            tracks: list.clone(),
                            index: i,
                        });
                    }
                    ui.label(format!("{} - {}", r.track.info.artist, r.track.info.title));
                    ui.label(egui::RichText::new(&r.reason).weak());
                    ui.end_row();
                }
            });
    }
    ui.add_space(12.0);
    ui.strong("New releases");
    ui.label(
        egui::RichText::new("The newest tracks published that this peer has heard of.").weak(),
    );
    if model.new_releases.is_empty() {
        ui.label("No releases yet: tracks you publish, and ones peers announce, appear here.");
    } else {
        out.extend(tracks::table(
            ui,
            "new_releases",
            &model.new_releases,
            None,
            model,
            player.current().map(|t| t.id),
        ));
    }
    out
}
