//! Playlists: this peer's (made here, changed here) and those opened from links (read-only),
//! one selected at a time with its tracks. Tracks get in from any list's right-click menu.

use std::time::Duration;

use busker_core::model::PlaylistId;

use crate::backend::PlaylistView;
use crate::model::Model;
use crate::player::Player;
use crate::playlists::PlaylistOp;
use crate::ui::{Command, clock};

/// The label of the field that names a new playlist.
pub const NEW_LABEL: &str = "New playlist:";
/// The label of the field that renames the playlist shown.
pub const RENAME_LABEL: &str = "Rename to:";

/// Draws the Playlists view.
pub fn show(ui: &mut egui::Ui, model: &mut Model, player: &Player) -> Vec<Command> {
    let mut out = Vec::new();
    ui.horizontal(|ui| {
        ui.heading("Playlists");
        ui.add_space(16.0);
        let label = ui.label(NEW_LABEL);
        let field = ui
            .add(
                egui::TextEdit::singleline(&mut model.playlist_name_input)
                    .hint_text("a name")
                    .desired_width(220.0),
            )
            .labelled_by(label.id);
        let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        let name = model.playlist_name_input.trim().to_owned();
        if (ui
            .add_enabled(!name.is_empty(), egui::Button::new("Create"))
            .clicked()
            || enter)
            && !name.is_empty()
        {
            out.push(Command::Playlist(PlaylistOp::Create {
                name,
                ids: Vec::new(),
            }));
            model.playlist_name_input.clear();
        }
    });
    ui.separator();
    if model.playlists.is_empty() {
        ui.label(
            "No playlists yet: name one above, then add tracks from any list with a right \
             click on a title.",
        );
        return out;
    }
    let selected = model
        .playlist_selected
        .filter(|id| model.playlists.iter().any(|p| p.id == *id))
        .unwrap_or(model.playlists[0].id);
    model.playlist_selected = Some(selected);
    ui.columns(2, |cols| {
        cols[0].set_max_width(260.0);
        for list in &model.playlists {
            let label = match list.own {
                true => format!("{}  ({})", list.name, list.tracks.len() + list.missing),
                false => format!("{}  ({}, shared with you)", list.name, list.tracks.len()),
            };
            if cols[0]
                .selectable_label(list.id == selected, label)
                .clicked()
            {
                model.playlist_selected = Some(list.id);
            }
        }
        if let Some(list) = model.playlists.iter().find(|p| p.id == selected) {
            out.extend(playlist(
                &mut cols[1],
                list,
                &mut model.playlist_rename_input,
                player,
            ));
        }
    });
    out
}

/// One playlist: its actions and its tracks, in order.
fn playlist(
    ui: &mut egui::Ui,
    list: &PlaylistView,
    rename: &mut String,
    player: &Player,
) -> Vec<Command> {
    let mut out = Vec::new();
    let op_on = |id: &PlaylistId| id.to_hex();
    ui.heading(&list.name);
    ui.horizontal(|ui| {
        if ui
            .add_enabled(!list.tracks.is_empty(), egui::Button::new("▶ Play all"))
            .clicked()
        {
            out.push(Command::Play {
                tracks: list.tracks.clone(),
                index: 0,
            });
        }
        if ui
            .button("🔗 Share link")
            .on_hover_text("Copy a busker:// link to this playlist")
            .clicked()
        {
            out.push(Command::SharePlaylist(list.id));
        }
        if ui.button("Delete").clicked() {
            out.push(Command::Playlist(PlaylistOp::Delete {
                playlist: op_on(&list.id),
            }));
        }
    });
    if list.own {
        ui.horizontal(|ui| {
            let label = ui.label(RENAME_LABEL);
            ui.add(
                egui::TextEdit::singleline(rename)
                    .hint_text("a new name")
                    .desired_width(200.0),
            )
            .labelled_by(label.id);
            let name = rename.trim().to_owned();
            if ui
                .add_enabled(!name.is_empty(), egui::Button::new("Rename"))
                .clicked()
            {
                out.push(Command::Playlist(PlaylistOp::Rename {
                    playlist: op_on(&list.id),
                    name,
                }));
                rename.clear();
            }
        });
    } else {
        ui.label(egui::RichText::new("Shared with you: only its owner can change it.").weak());
    }
    if list.missing > 0 {
        ui.label(format!(
            "{} of its tracks are not known here yet (open its link again to look for them).",
            list.missing
        ));
    }
    ui.separator();
    let current = player.current().map(|t| t.id);
    let last = list.tracks.len();
    egui::ScrollArea::vertical()
        .id_salt("playlist")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            for (i, t) in list.tracks.iter().enumerate() {
                let position = i + 1;
                ui.horizontal(|ui| {
                    let play = ui.button(if current == Some(t.id) { "🔊" } else { "▶" });
                    let label = format!("Play {}", t.info.title);
                    play.widget_info(|| {
                        egui::WidgetInfo::labeled(egui::WidgetType::Button, true, &label)
                    });
                    if play.clicked() {
                        out.push(Command::Play {
                            tracks: list.tracks.clone(),
                            index: i,
                        });
                    }
                    ui.label(format!("{position}."));
                    ui.label(format!("{} — {}", t.info.title, t.info.artist));
                    ui.label(
                        egui::RichText::new(clock(Duration::from_millis(t.info.duration_ms)))
                            .weak(),
                    );
                    if !list.own {
                        return;
                    }
                    let moves = [
                        ("▲", "up", position > 1, position.saturating_sub(1)),
                        ("▼", "down", position < last, position + 1),
                    ];
                    for (text, word, enabled, to) in moves {
                        let r = ui.add_enabled(enabled, egui::Button::new(text).small());
                        let label = format!("Move {} {word}", t.info.title);
                        r.widget_info(|| {
                            egui::WidgetInfo::labeled(egui::WidgetType::Button, enabled, &label)
                        });
                        if r.clicked() {
                            out.push(Command::Playlist(PlaylistOp::Move {
                                playlist: op_on(&list.id),
                                from: position,
                                to,
                            }));
                        }
                    }
                    let r = ui.small_button("✕");
                    let label = format!("Remove {} from the playlist", t.info.title);
                    r.widget_info(|| {
                        egui::WidgetInfo::labeled(egui::WidgetType::Button, true, &label)
                    });
                    if r.clicked() {
                        out.push(Command::Playlist(PlaylistOp::Remove {
                            playlist: op_on(&list.id),
                            positions: vec![position],
                        }));
                    }
                });
            }
        });
    out
}
