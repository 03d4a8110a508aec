//! Settings: the artist name, theme, LAN discovery, where the data is, blocked and followed
//! artists, and the desktop's handler of `busker://` links.

use crate::model::{Model, State, Status};
use crate::ui::Command;

/// The accessible label of the artist name field.
pub const ARTIST_LABEL: &str = "Artist name";
/// The accessible label of the listen addresses field.
pub const LISTEN_LABEL: &str = "Listen addresses";
/// The button that backs the artist key up.
pub const EXPORT_KEY_LABEL: &str = "Export artist key";
/// The button that takes an artist key over from a backup file.
pub const IMPORT_KEY_LABEL: &str = "Import artist key";

/// The button that makes this app the handler of `busker://` links.
pub const LINK_HANDLER_LABEL: &str = "Open busker:// links with Busker";

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
    ui.strong("Artist key");
    ui.label(
        egui::RichText::new(
            "Your releases are signed with it: it is your identity as an artist. Back it up off \
             this disk; importing the backup makes another machine publish as you (from its next \
             start).",
        )
        .weak(),
    );
    ui.horizontal(|ui| {
        ui.add(
            egui::TextEdit::singleline(&mut model.key_backup_input)
                .desired_width(320.0)
                .hint_text("backup file"),
        )
        .labelled_by(ui.label("Backup file").id);
        if ui.button(EXPORT_KEY_LABEL).clicked() && !model.key_backup_input.trim().is_empty() {
            out.push(Command::ExportKey(model.key_backup_input.trim().into()));
        }
        if ui.button(IMPORT_KEY_LABEL).clicked() && !model.key_backup_input.trim().is_empty() {
            out.push(Command::ImportKey(
                model.key_backup_input.trim().into(),
                model.key_import_replace,
            ));
        }
    });
    ui.checkbox(
        &mut model.key_import_replace,
        "Import over a key that signed releases here (it is kept, and retired)",
    );
    ui.add_space(8.0);
    ui.strong("Blocked artists");
    if model.blocked.is_empty() {
        ui.label(
            egui::RichText::new("None. Right-click an artist in any list to block its key.").weak(),
        );
    }
    for key in &model.blocked {
        ui.horizontal(|ui| {
            ui.monospace(&key.to_hex()[..16]);
            if ui.button("Unblock").clicked() {
                out.push(Command::Unblock(*key));
            }
        });
    }
    ui.add_space(8.0);
    ui.strong("Followed artists");
    if model.followed.is_empty() {
        ui.label(
            egui::RichText::new("None. Open an artist (click its name) and press Follow.").weak(),
        );
    }
    for key in &model.followed {
        ui.horizontal(|ui| {
            ui.monospace(&key.to_hex()[..16]);
            if ui.button("Unfollow").clicked() {
                out.push(Command::Follow(*key, false));
            }
        });
    }
    ui.add_space(8.0);
    ui.strong("Links");
    ui.label(
        "Let busker:// links from a browser, chat or mail open here. This writes a launcher for \
         this busker into your own applications folder and makes it the handler of busker:// \
         links (nothing outside your home folder changes).",
    );
    if ui.button(LINK_HANDLER_LABEL).clicked() {
        out.push(Command::InstallDesktop);
    }
    ui.add_space(8.0);
    ui.strong("Keyboard");
    ui.label("Space: play/pause · ←/→: seek 5 s · Ctrl+F: search");
    out
}
