//! The track table shared by Library, Search and Discover. Only the visible rows are laid
//! out, so a catalog of 100,000 tracks scrolls as fast as one of ten.

use std::time::Duration;

use busker_core::TrackSummary;
use busker_core::model::TrackId;

use crate::model::Model;
use crate::playlists::PlaylistOp;
use crate::ui::{Command, availability, clock, stars};

const ROW_HEIGHT: f32 = 22.0;

fn cell<R>(ui: &mut egui::Ui, width: f32, add: impl FnOnce(&mut egui::Ui) -> R) -> R {
    ui.allocate_ui_with_layout(
        egui::vec2(width.max(10.0), ROW_HEIGHT),
        egui::Layout::left_to_right(egui::Align::Center),
        |ui| {
            ui.set_min_size(egui::vec2(width.max(10.0), ROW_HEIGHT));
            add(ui)
        },
    )
    .inner
}

struct Widths {
    play: f32,
    share: f32,
    title: f32,
    artist: f32,
    album: f32,
    time: f32,
    avail: f32,
    rating: f32,
}

fn widths(total: f32) -> Widths {
    let fixed = 30.0 + 30.0 + 50.0 + 100.0 + 90.0;
    let flexible = (total - fixed - 8.0 * 8.0).max(150.0);
    Widths {
        play: 30.0,
        share: 30.0,
        title: flexible * 0.4,
        artist: flexible * 0.32,
        album: flexible * 0.28,
        time: 50.0,
        avail: 100.0,
        rating: 90.0,
    }
}

/// Draws `tracks` (or only the `rows` of it, when given) as a table with a play button, a share
/// button and a rating per row; an artist's name opens its page (right-click: share, follow,
/// block). `current` is the track the player holds.
pub fn table(
    ui: &mut egui::Ui,
    id_salt: &str,
    tracks: &[TrackSummary],
    rows: Option<&[usize]>,
    model: &Model,
    current: Option<TrackId>,
) -> Vec<Command> {
    let mut out = Vec::new();
    let w = widths(ui.available_width());
    ui.horizontal(|ui| {
        cell(ui, w.play, |_| ());
        for (text, width) in [
            ("Title", w.title),
            ("Artist", w.artist),
            ("Album", w.album),
            ("Time", w.time),
            ("Where", w.avail),
            ("Rating", w.rating),
            ("", w.share),
        ] {
            cell(ui, width, |ui| ui.strong(text));
        }
    });
    ui.separator();
    egui::ScrollArea::vertical()
        .id_salt(id_salt)
        .auto_shrink([false, false])
        .show_rows(
            ui,
            ROW_HEIGHT,
            rows.map_or(tracks.len(), <[usize]>::len),
            |ui, range| {
                for i in range {
                    let index = rows.map_or(Some(i), |r| r.get(i).copied());
                    let Some(t) = index.and_then(|i| tracks.get(i)) else {
                        continue;
                    };
                    let playing = current == Some(t.id);
                    ui.horizontal(|ui| {
                        let clicked = cell(ui, w.play, |ui| {
                            let r = ui.button(if playing { "🔊" } else { "▶" });
                            let label = format!("Play {}", t.info.title);
                            r.widget_info(|| {
                                egui::WidgetInfo::labeled(egui::WidgetType::Button, true, &label)
                            });
                            r.clicked()
                        });
                        if clicked {
                            let queue = match rows {
                                Some(r) => {
                                    r.iter().filter_map(|&j| tracks.get(j)).cloned().collect()
                                }
                                None => tracks.to_vec(),
                            };
                            out.push(Command::Play {
                                tracks: queue,
                                index: i,
                            });
                        }
                        let text = |s: &str| {
                            let t = egui::RichText::new(s);
                            if playing { t.strong() } else { t }
                        };
                        let title = cell(ui, w.title, |ui| {
                            ui.add(
                                egui::Label::new(text(&t.info.title))
                                    .truncate()
                                    .sense(egui::Sense::click()),
                            )
                        });
                        // Right-click a title: play next, add to the queue or a playlist.
                        title.context_menu(|ui| out.extend(track_menu(ui, t, model)));
                        let artist = cell(ui, w.artist, |ui| match &t.same_audio_as {
                            // A re-signed copy says whose audio it carries.
                            Some(original) => {
                                let note = format!(
                                    "{} · same audio as '{}' by {} (key {})",
                                    t.info.artist,
                                    original.title,
                                    original.artist,
                                    &original.artist_key.to_hex()[..8]
                                );
                                ui.add(
                                    egui::Label::new(text(&note).italics())
                                        .truncate()
                                        .sense(egui::Sense::click()),
                                )
                                .on_hover_text(format!(
                                    "{note}, which this peer saw first: \
                                         another key signed the same file"
                                ))
                            }
                            None => ui.add(
                                egui::Label::new(text(&t.info.artist))
                                    .truncate()
                                    .sense(egui::Sense::click()),
                            ),
                        });
                        if artist.clicked() {
                            out.push(Command::OpenArtist(t.artist_key));
                        }
                        // Right-click an artist: share, follow, block (not this peer's own).
                        artist.context_menu(|ui| {
                            if ui
                                .button(format!("Share a link to {}", t.info.artist))
                                .clicked()
                            {
                                out.push(Command::ShareArtist(t.artist_key));
                                ui.close();
                            }
                            if model.is_own_key(&t.artist_key) {
                                return;
                            }
                            let following = model.is_followed(&t.artist_key);
                            let label = if following {
                                format!("Unfollow {}", t.info.artist)
                            } else {
                                format!("Follow {} (new releases first)", t.info.artist)
                            };
                            if ui.button(label).clicked() {
                                out.push(Command::Follow(t.artist_key, !following));
                                ui.close();
                            }
                            let label = format!("Block {} (hide all its releases)", t.info.artist);
                            if ui.button(label).clicked() {
                                out.push(Command::Block(t.artist_key));
                                ui.close();
                            }
                        });
                        cell(ui, w.album, |ui| {
                            ui.add(egui::Label::new(text(&t.info.album)).truncate())
                        });
                        cell(ui, w.time, |ui| {
                            ui.label(clock(Duration::from_millis(t.info.duration_ms)))
                        });
                        cell(ui, w.avail, |ui| ui.label(availability(t)));
                        cell(ui, w.rating, |ui| {
                            if let Some(s) = stars(ui, model.rating(&t.id), true, &t.info.title) {
                                out.push(Command::Rate(t.id, s));
                            }
                        });
                        let share = cell(ui, w.share, |ui| {
                            let r = ui.small_button("🔗");
                            let label = format!("Share {}", t.info.title);
                            r.widget_info(|| {
                                egui::WidgetInfo::labeled(egui::WidgetType::Button, true, &label)
                            });
                            r.on_hover_text("Copy a busker:// link to this track")
                                .clicked()
                        });
                        if share {
                            out.push(Command::ShareTrack(t.id));
                        }
                    });
                }
            },
        );
    out
}

/// The right-click menu of a track: play it next, queue it, add it to one of this peer's
/// playlists or to a new one.
fn track_menu(ui: &mut egui::Ui, t: &TrackSummary, model: &Model) -> Vec<Command> {
    let mut out = Vec::new();
    if ui.button("Play next").clicked() {
        out.push(Command::PlayNext(vec![t.clone()]));
        ui.close();
    }
    if ui.button("Add to queue").clicked() {
        out.push(Command::Enqueue(vec![t.clone()]));
        ui.close();
    }
    let own: Vec<_> = model.playlists.iter().filter(|p| p.own).collect();
    ui.menu_button("Add to playlist", |ui| {
        for list in own {
            if ui.button(&list.name).clicked() {
                out.push(Command::Playlist(PlaylistOp::Add {
                    playlist: list.id.to_hex(),
                    ids: vec![t.id.to_hex()],
                }));
                ui.close();
            }
        }
        if ui.button("New playlist with this track").clicked() {
            out.push(Command::Playlist(PlaylistOp::Create {
                name: t.info.title.clone(),
                ids: vec![t.id.to_hex()],
            }));
            ui.close();
        }
    });
    out
}
