//! Radio: channels heard of, tune in, start your own. The radio layer (broadcaster, listener,
//! jitter buffer) is not in this build; the view keeps its layout and fields for it.

use crate::app::{Model, State};
use crate::ui::{Command, labelled_field, not_available};

/// Draws the Radio view.
pub fn show(ui: &mut egui::Ui, state: &mut State, model: &Model) -> Vec<Command> {
    ui.heading("Radio");
    ui.add_space(4.0);
    ui.strong("Channels heard of");
    not_available(
        ui,
        "Radio channels",
        "Channels are announced over the network; tuning in needs the radio listener.",
    );
    egui::Grid::new("channels")
        .striped(true)
        .num_columns(3)
        .show(ui, |ui| {
            ui.strong("Channel");
            ui.strong("Listeners");
            ui.strong("");
            ui.end_row();
            ui.label(egui::RichText::new("none heard of").weak());
            ui.label("");
            ui.add_enabled(false, egui::Button::new("Tune in"));
            ui.end_row();
        });
    ui.add_space(12.0);
    ui.strong("Start your own channel");
    labelled_field(ui, "Channel name", &mut state.radio_name, "My station");
    ui.label(format!(
        "It would broadcast from your {} local tracks, or a personal queue from your \
         recommendations.",
        model.tracks.iter().filter(|t| t.local).count()
    ));
    ui.add_enabled(false, egui::Button::new("Start broadcasting"))
        .on_disabled_hover_text("needs the radio broadcaster, not in this build yet");
    Vec::new()
}
