//! Search: local results as you type (typo-tolerant), with where each track can be had; when
//! they fill less than a page, peers are asked once typing stops and their tracks follow,
//! marked "from peers".

use crate::model::{Model, State};
use crate::player::Player;
use crate::ui::{Command, tracks};

/// The accessible label of the search field.
pub const FIELD_LABEL: &str = "Search tracks";

/// Draws the Search view.
pub fn show(
    ui: &mut egui::Ui,
    state: &mut State,
    model: &mut Model,
    player: &Player,
) -> Vec<Command> {
    let mut out = Vec::new();
    ui.heading("Search");
    let r = ui
        .horizontal(|ui| {
            let l = ui.label(FIELD_LABEL);
            ui.add(
                egui::TextEdit::singleline(&mut state.search_query)
                    .hint_text("title, artist, album or tag (Ctrl+F)")
                    .desired_width(f32::INFINITY),
            )
            .labelled_by(l.id)
        })
        .inner;
    if model.focus_search {
        r.request_focus();
        model.focus_search = false;
    }
    if r.changed() {
        out.push(Command::Search(state.search_query.clone()));
    }
    let s = &model.search;
    if state.search_query.trim().is_empty() {
        ui.label("Type to search what this peer has heard of.");
        return out;
    }
    ui.horizontal(|ui| {
        if s.shown < s.sent {
            ui.spinner();
        }
        let remote = s.hits.iter().filter(|t| t.remote).count();
        let source = if remote > 0 {
            format!("{remote} of them from peers")
        } else {
            "this peer's catalog".to_owned()
        };
        ui.label(format!(
            "{} results in {:.1} ms ({source})",
            s.hits.len(),
            s.took.as_secs_f64() * 1000.0
        ));
    });
    if s.hits.is_empty() {
        if s.shown == s.sent {
            ui.label("No track matches.");
        }
        return out;
    }
    let model = &*model;
    out.extend(tracks::table(
        ui,
        "search",
        &model.search.hits,
        None,
        model,
        player.current().map(|t| t.id),
    ));
    out
}
