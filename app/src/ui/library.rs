//! Library: every track this peer knows, filterable by where its bytes are; or its albums (a
//! grid) and artists (see [`albums`]).

use crate::model::{LibraryFilter, LibraryMode, Model, State, Status};
use crate::player::Player;
use crate::ui::{Command, albums, tracks};

/// Draws the Library view.
pub fn show(
    ui: &mut egui::Ui,
    state: &mut State,
    model: &mut Model,
    player: &Player,
) -> Vec<Command> {
    let mut out = Vec::new();
    ui.horizontal(|ui| {
        ui.heading("Library");
        ui.add_space(16.0);
        for (mode, label) in [
            (LibraryMode::Tracks, "Tracks"),
            (LibraryMode::Albums, "Albums"),
            (LibraryMode::Artists, "Artists"),
        ] {
            ui.selectable_value(&mut state.library_mode, mode, label);
        }
        ui.separator();
        if state.library_mode == LibraryMode::Tracks {
            for (filter, label) in [
                (LibraryFilter::All, "All"),
                (LibraryFilter::Here, "Here (published or fetched)"),
                (LibraryFilter::Elsewhere, "Only heard of"),
            ] {
                ui.selectable_value(&mut state.library_filter, filter, label);
            }
        }
        if ui.button("Reload").clicked() {
            out.push(Command::Refresh);
        }
    });
    if model.status == Status::Opening {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label(
                model
                    .opening_note
                    .as_deref()
                    .unwrap_or("Opening the library (the first start adds the demo tracks)..."),
            );
        });
        return out;
    }
    match state.library_mode {
        LibraryMode::Tracks => {}
        LibraryMode::Albums => return [out, albums::albums(ui, model, player)].concat(),
        LibraryMode::Artists => return [out, albums::artists(ui, model)].concat(),
    }
    let keep = |t: &busker_core::TrackSummary| match state.library_filter {
        LibraryFilter::All => true,
        LibraryFilter::Here => t.local,
        LibraryFilter::Elsewhere => !t.local,
    };
    let rows: Option<Vec<usize>> = (state.library_filter != LibraryFilter::All).then(|| {
        (0..model.tracks.len())
            .filter(|&i| keep(&model.tracks[i]))
            .collect()
    });
    let count = rows.as_ref().map_or(model.tracks.len(), Vec::len);
    ui.label(format!("{count} tracks"));
    if count == 0 {
        ui.label("Nothing here yet: publish your music, or search for tracks peers announced.");
        return out;
    }
    out.extend(tracks::table(
        ui,
        "library",
        &model.tracks,
        rows.as_deref(),
        model,
        player.current().map(|t| t.id),
    ));
    out
}
