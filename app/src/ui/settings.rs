//! Settings: the artist name, theme, LAN discovery, where the data is.

use crate::model::{Model, State, Status};
use crate::ui::Command;

/// The accessible label of the artist name field.
pub const ARTIST_LABEL: &str = "Artist name";
/// The accessible label of the listen addresses field.
pub const LISTEN_LABEL: &str = "Listen addresses";

/// Draws the Settings view.
pub fn show(ui: &mut egui::Ui, state: &mut State, model: &mut Model) -> Vec<Command> {
    let mut out = Vec::new();
    ui.heading("Settings");
    ui.add_space(8.0);
    ui.strong("Publishing");
    ui.horizontal(|ui| {
        let l = ui.label(ARTIST_LABEL);
        ui.add(
            egui::TextEdit::singleline(&mut model.artist_input)
                .hint_text("used when a file has no artist tag")
                .desired_width(260.0),
        )
        .labelled_by(l.id);
        let saved = model.config.artist_name.clone().unwrap_or_default();
        if ui
            .add_enabled(model.artist_input != saved, egui::Button::new("Save name"))
            .clicked()
        {
            out.push(Command::SetArtistName(Some(model.artist_input.clone())));
        }
    });
    ui.add_space(8.0);
    ui.strong("Appearance");
    ui.checkbox(&mut state.dark_mode, "Dark theme");
    ui.add_space(8.0);
    ui.strong("Network");
    ui.horizontal(|ui| {
        let l = ui.label(LISTEN_LABEL);
        ui.add(
            egui::TextEdit::singleline(&mut model.listen_input)
                .hint_text(busker_core::DEFAULT_LISTEN)
                .desired_width(320.0),
        )
        .labelled_by(l.id);
        let saved = model.config.listen.join(" ");
        if ui
            .add_enabled(
                model.listen_input.trim() != saved,
                egui::Button::new("Save addresses"),
            )
            .clicked()
        {
            let addrs = model
                .listen_input
                .split_whitespace()
                .map(str::to_owned)
                .collect();
            out.push(Command::SetListen(addrs));
        }
    });
    ui.label(
        egui::RichText::new(
            "Where this peer accepts connections (multiaddrs, separated by spaces); used from \
             the next start. /ip4/127.0.0.1/tcp/0 keeps it to this machine.",
        )
        .weak(),
    );
    let mut lan = model.config.lan_discovery;
    if ui
        .checkbox(&mut lan, crate::ui::network::LAN_LABEL)
        .changed()
    {
        out.push(Command::SetLanDiscovery(lan));
    }
    ui.add_space(8.0);
    ui.strong("Storage");
    if let Status::Open {
        data_dir,
        artist_key,
    } = &model.status
    {
        ui.label(format!("Data dir: {}", data_dir.display()));
        ui.label(format!("Artist key: {artist_key}"));
    }
    ui.label(format!(
        "Demo library on a new data dir: {}",
        if model.config.seed_demo_library {
            "yes"
        } else {
            "no"
        }
    ));
    ui.add_space(8.0);
    ui.strong("Keyboard");
    ui.label("Space: play/pause · ←/→: seek 5 s · Ctrl+F: search");
    out
}
