//! Discover: recommendations with their reasons (from the recommender, over the network) and
//! new releases (the newest tracks in the local catalog).

use crate::app::Model;
use crate::player::Player;
use crate::ui::{Command, not_available, tracks};

/// Draws the Discover view.
pub fn show(ui: &mut egui::Ui, model: &Model, player: &Player) -> Vec<Command> {
    let mut out = Vec::new();
    ui.heading("Discover");
    ui.add_space(4.0);
    ui.strong("Recommended for you");
    not_available(
        ui,
        "Recommendations",
        "Recommendations with their reasons (\"liked by 4 peers whose taste is close to yours\") \
         come from the recommender and the taste exchange between peers. Your ratings are \
         already kept and will shape them.",
    );
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
