//! Publish: pick files or a folder (a path field and an in-app folder browser), edit title,
//! artist and album, publish, and follow each file: queued, publishing, published or why not.

use std::path::PathBuf;
use std::time::Duration;

use crate::model::{Model, RowStatus, State, Status};
use crate::ui::{Command, clock};

/// The accessible label of the path field.
pub const PATH_LABEL: &str = "File or folder to publish";

fn home() -> PathBuf {
    std::env::var_os("HOME").map_or_else(|| PathBuf::from("/"), PathBuf::from)
}

/// Draws the Publish view.
pub fn show(ui: &mut egui::Ui, state: &mut State, model: &mut Model) -> Vec<Command> {
    let mut out = Vec::new();
    ui.heading("Publish");
    ui.label("Your tracks are signed with your artist key and kept on this peer.");
    let ready = matches!(model.status, Status::Open { .. });
    ui.horizontal(|ui| {
        let l = ui.label(PATH_LABEL);
        let r = ui
            .add(
                egui::TextEdit::singleline(&mut state.publish_path)
                    .hint_text("/home/me/Music/album or a single file")
                    .desired_width(ui.available_width() - 160.0),
            )
            .labelled_by(l.id);
        let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        let path = state.publish_path.trim().to_owned();
        if (ui
            .add_enabled(ready && !path.is_empty(), egui::Button::new("Add files"))
            .clicked()
            || (enter && !path.is_empty()))
            && ready
        {
            out.push(Command::Scan(vec![PathBuf::from(path)]));
        }
        if ui.button("Browse...").clicked() {
            let dir = state.browse_dir.clone().unwrap_or_else(home);
            out.push(Command::Browse(dir));
        }
    });
    browser(ui, model, &mut out);
    if model.scanning {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label("Reading tags...");
        });
    }
    if model.publish_rows.is_empty() {
        return out;
    }
    ui.separator();
    let total = model.publish_rows.len();
    let finished = model
        .publish_rows
        .iter()
        .filter(|r| {
            matches!(
                r.status,
                RowStatus::Published(_) | RowStatus::Failed(_) | RowStatus::Unreadable(_)
            )
        })
        .count();
    let pending = model
        .publish_rows
        .iter()
        .filter(|r| matches!(r.status, RowStatus::Ready | RowStatus::Failed(_)))
        .count();
    let busy = model
        .publish_rows
        .iter()
        .any(|r| matches!(r.status, RowStatus::Queued | RowStatus::Publishing));
    ui.horizontal(|ui| {
        if ui
            .add_enabled(
                ready && pending > 0 && !busy,
                egui::Button::new(format!(
                    "Publish {pending} file{}",
                    if pending == 1 { "" } else { "s" }
                )),
            )
            .clicked()
        {
            out.push(Command::Publish);
        }
        if ui
            .add_enabled(!busy, egui::Button::new("Clear finished"))
            .clicked()
        {
            out.push(Command::ClearPublished);
        }
        ui.add(
            egui::ProgressBar::new(finished as f32 / total as f32)
                .text(format!("{finished} of {total} files done"))
                .desired_width(220.0),
        );
    });
    egui::ScrollArea::vertical()
        .id_salt("publish_rows")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            for (i, row) in model.publish_rows.iter_mut().enumerate() {
                let editable = matches!(row.status, RowStatus::Ready | RowStatus::Failed(_));
                egui::Frame::group(ui.style()).show(ui, |ui| {
                    ui.set_width(ui.available_width());
                    ui.horizontal(|ui| {
                        let name = row.path.file_name().map_or_else(
                            || row.path.display().to_string(),
                            |n| n.to_string_lossy().into_owned(),
                        );
                        ui.strong(name);
                        if row.duration_ms > 0 {
                            ui.label(clock(Duration::from_millis(row.duration_ms)));
                        }
                        status(ui, &row.status);
                        if !matches!(row.status, RowStatus::Queued | RowStatus::Publishing)
                            && ui.small_button("Remove").clicked()
                        {
                            out.push(Command::RemoveRow(i));
                        }
                    });
                    if !matches!(row.status, RowStatus::Unreadable(_)) {
                        ui.add_enabled_ui(editable, |ui| {
                            ui.horizontal(|ui| {
                                for (label, text, width) in [
                                    ("Title", &mut row.title, 220.0),
                                    ("Artist", &mut row.artist, 160.0),
                                    ("Album", &mut row.album, 160.0),
                                ] {
                                    let l = ui.label(label);
                                    ui.add(egui::TextEdit::singleline(text).desired_width(width))
                                        .labelled_by(l.id);
                                }
                            });
                        });
                    }
                });
            }
        });
    out
}

fn status(ui: &mut egui::Ui, status: &RowStatus) {
    match status {
        RowStatus::Ready => {
            ui.label("ready");
        }
        RowStatus::Unreadable(e) => {
            ui.colored_label(ui.visuals().error_fg_color, format!("cannot publish: {e}"));
        }
        RowStatus::Queued => {
            ui.label("queued");
        }
        RowStatus::Publishing => {
            ui.spinner();
            ui.label("publishing");
        }
        RowStatus::Published(id) => {
            ui.colored_label(
                egui::Color32::from_rgb(80, 180, 90),
                format!("published {}", &id.to_hex()[..12]),
            );
        }
        RowStatus::Failed(e) => {
            ui.colored_label(ui.visuals().error_fg_color, format!("failed: {e}"));
        }
    }
}

fn browser(ui: &mut egui::Ui, model: &mut Model, out: &mut Vec<Command>) {
    let mut close = false;
    let Some((dir, entries)) = &model.listing else {
        return;
    };
    egui::Frame::group(ui.style()).show(ui, |ui| {
        ui.set_width(ui.available_width());
        ui.horizontal(|ui| {
            if let Some(parent) = dir.parent()
                && ui.button("Up").clicked()
            {
                out.push(Command::Browse(parent.to_owned()));
            }
            ui.monospace(dir.display().to_string());
            if ui.button("Add this folder").clicked() {
                out.push(Command::Scan(vec![dir.clone()]));
            }
            if ui.button("Close browser").clicked() {
                close = true;
            }
        });
        match entries {
            Err(e) => {
                ui.colored_label(ui.visuals().error_fg_color, e);
            }
            Ok(entries) if entries.is_empty() => {
                ui.label("No folders or audio files here.");
            }
            Ok(entries) => {
                egui::ScrollArea::vertical()
                    .id_salt("browser")
                    .max_height(180.0)
                    .show(ui, |ui| {
                        for e in entries {
                            ui.horizontal(|ui| {
                                if e.is_dir {
                                    if ui.button(format!("📁 {}", e.name)).clicked() {
                                        out.push(Command::Browse(e.path.clone()));
                                    }
                                } else {
                                    ui.label(&e.name);
                                    if ui.small_button(format!("Add {}", e.name)).clicked() {
                                        out.push(Command::Scan(vec![e.path.clone()]));
                                    }
                                }
                            });
                        }
                    });
            }
        }
    });
    if close {
        model.listing = None;
    }
}
