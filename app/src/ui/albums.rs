//! The Library's Albums grid, an album's page, and the Artists list. An album's tile is its
//! cover (see [`crate::covers`]), or a tile of a colour and initial of its own while it has none
//! here.

use busker_core::model::ArtistKey;

use crate::covers;
use crate::model::Model;
use crate::model::albums::{AlbumRow, NO_ALBUM};
use crate::player::Player;
use crate::ui::{Command, tracks};

const TILE: f32 = 150.0;

/// The Albums grid, or the open album's page.
pub fn albums(ui: &mut egui::Ui, model: &mut Model, player: &Player) -> Vec<Command> {
    if let Some((key, name)) = model.album_open.clone() {
        match model.albums.iter().find(|a| a.key == key && a.name == name) {
            Some(album) => return album_page(ui, album, model, player),
            None => model.album_open = None,
        }
    }
    ui.label(format!("{} albums", model.albums.len()));
    let mut open = None;
    egui::ScrollArea::vertical()
        .id_salt("albums")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            ui.horizontal_wrapped(|ui| {
                for album in &model.albums {
                    if tile(ui, album, model) {
                        open = Some((album.key, album.name.clone()));
                    }
                }
            });
        });
    if open.is_some() {
        model.album_open = open;
    }
    Vec::new()
}

/// An album's cover in a square of `side` points, or its placeholder tile.
pub fn cover(ui: &mut egui::Ui, album: &AlbumRow, model: &Model, side: f32) {
    let label = format!("Cover of {}", album.name);
    covers::show(
        ui,
        &model.covers,
        album.cover.as_ref(),
        side,
        &label,
        |painter, rect| {
            let seed = album.key.0[0] as usize * 31 + album.name.len() * 7;
            let hue = (seed % 360) as f32 / 360.0;
            let colour = egui::ecolor::Hsva::new(hue, 0.45, 0.55, 1.0);
            painter.rect_filled(rect, 6.0, colour);
            let initial = match album.name.as_str() {
                NO_ALBUM => '♪',
                name => name.chars().find(|c| c.is_alphanumeric()).unwrap_or('♪'),
            };
            painter.text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                initial.to_uppercase().to_string(),
                egui::FontId::proportional(side * 0.37),
                egui::Color32::WHITE,
            );
        },
    );
}

/// One album's tile; `true` when clicked.
fn tile(ui: &mut egui::Ui, album: &AlbumRow, model: &Model) -> bool {
    let response = ui
        .allocate_ui(egui::vec2(TILE, TILE + 44.0), |ui| {
            ui.vertical(|ui| {
                cover(ui, album, model, TILE);
                ui.add(egui::Label::new(egui::RichText::new(&album.name).strong()).truncate());
                ui.add(egui::Label::new(egui::RichText::new(&album.artist).weak()).truncate());
            })
        })
        .response
        .interact(egui::Sense::click());
    let label = format!("Album {} by {}", album.name, album.artist);
    response.widget_info(|| egui::WidgetInfo::labeled(egui::WidgetType::Button, true, &label));
    response.clicked()
}

/// An album: its cover, its tracks in album order (disc, track number), Play, and its artist.
fn album_page(ui: &mut egui::Ui, album: &AlbumRow, model: &Model, player: &Player) -> Vec<Command> {
    let mut out = Vec::new();
    let tracks: Vec<_> = album
        .tracks
        .iter()
        .filter_map(|&i| model.tracks.get(i).cloned())
        .collect();
    if ui.button("← Albums").clicked() {
        out.push(Command::CloseAlbum);
    }
    ui.horizontal(|ui| {
        cover(ui, album, model, 120.0);
        ui.vertical(|ui| {
            ui.heading(&album.name);
            if ui.link(&album.artist).clicked() {
                out.push(Command::OpenArtist(album.key));
            }
            if ui.button("▶ Play album").clicked() && !tracks.is_empty() {
                out.push(Command::Play {
                    tracks: tracks.clone(),
                    index: 0,
                });
            }
        });
    });
    out.extend(tracks::table(
        ui,
        "album",
        &tracks,
        None,
        model,
        player.current().map(|t| t.id),
    ));
    out
}

/// The Artists list: each key's name, albums and tracks; a click opens its page.
pub fn artists(ui: &mut egui::Ui, model: &Model) -> Vec<Command> {
    let mut out = Vec::new();
    ui.label(format!("{} artists", model.artists.len()));
    egui::ScrollArea::vertical()
        .id_salt("artists")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            for artist in &model.artists {
                ui.horizontal(|ui| {
                    if ui.link(&artist.name).clicked() {
                        out.push(Command::OpenArtist(artist.key));
                    }
                    ui.label(
                        egui::RichText::new(format!(
                            "{} albums, {} tracks · key {}",
                            artist.albums,
                            artist.tracks,
                            short(&artist.key)
                        ))
                        .weak(),
                    );
                });
            }
        });
    out
}

fn short(key: &ArtistKey) -> String {
    key.to_hex()[..8].to_owned()
}
