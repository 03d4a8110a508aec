//! An artist's page: the name from its signed profile, its key (shareable), Follow, and its
//! releases. Opened from a `busker://artist/...` link or by clicking an artist's name.

use crate::model::Model;
use crate::player::Player;
use crate::ui::{Command, tracks};

/// The accessible label of the Follow toggle.
pub const FOLLOW_LABEL: &str = "Follow";
/// The accessible label of the Unfollow toggle.
pub const UNFOLLOW_LABEL: &str = "Unfollow";

/// Draws the Artist view.
pub fn show(ui: &mut egui::Ui, model: &Model, player: &Player) -> Vec<Command> {
    let mut out = Vec::new();
    let Some(page) = &model.artist_page else {
        ui.heading("Artist");
        ui.label("Open an artist from a link (Network) or by clicking an artist's name in a list.");
        return out;
    };
    ui.horizontal(|ui| {
        ui.heading(&page.name);
        ui.add_space(12.0);
        if !model.is_own_key(&page.key) {
            let following = model.is_followed(&page.key);
            let label = if following {
                UNFOLLOW_LABEL
            } else {
                FOLLOW_LABEL
            };
            if ui
                .button(label)
                .on_hover_text("Followed artists' new releases come first in Discover")
                .clicked()
            {
                out.push(Command::Follow(page.key, !following));
            }
        }
        if ui
            .button("Share")
            .on_hover_text("Copy a busker://artist/ link")
            .clicked()
        {
            out.push(Command::ShareArtist(page.key));
        }
    });
    ui.label(
        egui::RichText::new(format!("Artist key {}", page.key))
            .monospace()
            .weak(),
    );
    if let Some(note) = &page.note {
        ui.label(egui::RichText::new(note).weak());
    }
    if page.missing > 0 {
        ui.label(format!(
            "{} more releases in its profile that no reachable peer could describe",
            page.missing
        ));
    }
    ui.add_space(6.0);
    covers(ui, page, model);
    if page.releases.is_empty() {
        ui.label("No release of this artist could be found yet.");
    } else {
        out.extend(tracks::table(
            ui,
            "artist",
            &page.releases,
            None,
            model,
            player.current().map(|t| t.id),
        ));
    }
    out
}

/// The covers of the artist's albums, one each, in the order of its releases.
fn covers(ui: &mut egui::Ui, page: &crate::backend::ArtistPage, model: &Model) {
    let mut seen = std::collections::HashSet::new();
    let albums: Vec<_> = page
        .releases
        .iter()
        .filter_map(|t| Some((t.info.cover?.hash, t.info.album.as_str())))
        .filter(|(hash, _)| seen.insert(*hash))
        .take(12)
        .collect();
    if albums.is_empty() {
        return;
    }
    ui.horizontal_wrapped(|ui| {
        for (hash, album) in albums {
            let label = format!("Cover of {album}");
            crate::covers::show(
                ui,
                &model.covers,
                Some(&hash),
                96.0,
                &label,
                |painter, rect| {
                    painter.rect_filled(
                        rect,
                        6.0,
                        painter.ctx().global_style().visuals.faint_bg_color,
                    );
                },
            );
        }
    });
}
