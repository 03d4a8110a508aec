//! Radio: channels heard of (with their listener counts; live ones marked), tune in, open one
//! in another player, start your own: of your tracks, a personal radio, or live from a
//! broadcasting program (with the address and password to give it).

use busker_core::radio::NowPlaying;

use crate::model::{Model, State};
use crate::ui::{Command, labelled_field, stars};

/// The label of the box that makes a new channel live.
pub const LIVE_LABEL: &str = "Live, from a broadcasting program (ffmpeg, BUTT, Mixxx, liquidsoap)";
/// The button that opens a live channel.
pub const OPEN_LIVE_LABEL: &str = "Open a live channel";

/// The label of the choice of what a new channel plays.
pub const PLAYS_LABEL: &str = "Plays";

/// Draws the Radio view.
pub fn show(ui: &mut egui::Ui, state: &mut State, model: &mut Model) -> Vec<Command> {
    let mut out = Vec::new();
    ui.heading("Radio");
    ui.add_space(4.0);
    ui.strong("Channels heard of");
    let channels = &model.net.status.channels;
    if channels.is_empty() {
        ui.label(
            egui::RichText::new(
                "No channels heard of yet: channels are announced by the peers you are connected to.",
            )
            .weak(),
        );
    }
    egui::Grid::new("channels")
        .striped(true)
        .num_columns(3)
        .show(ui, |ui| {
            ui.strong("Channel");
            ui.strong("Listeners");
            ui.strong("");
            ui.end_row();
            for c in channels {
                if c.live {
                    ui.horizontal(|ui| {
                        ui.label(&c.name);
                        ui.colored_label(egui::Color32::from_rgb(220, 60, 60), "LIVE");
                    });
                } else {
                    ui.label(&c.name);
                }
                ui.label(c.listeners.to_string());
                if c.broadcasting {
                    ui.label(egui::RichText::new("broadcasting from here").weak());
                } else if let Some(behind) = c.stalled {
                    ui.colored_label(
                        ui.visuals().warn_fg_color,
                        format!("stalled: nothing for {} s", behind.as_secs()),
                    );
                } else if c.tuned {
                    ui.label(egui::RichText::new("tuned in").strong());
                } else {
                    let label = format!("Tune in to {}", c.name);
                    let button = ui.button("Tune in");
                    button.widget_info(|| {
                        egui::WidgetInfo::labeled(egui::WidgetType::Button, true, &label)
                    });
                    if button.clicked() {
                        out.push(Command::RadioTune(c.id.clone()));
                    }
                }
                if let Some(base) = &model.radio_base {
                    let url = format!("{base}/radio/{}", c.id);
                    let label = format!("Copy the stream address of {}", c.name);
                    let r = ui.small_button("Copy stream URL");
                    r.widget_info(|| {
                        egui::WidgetInfo::labeled(egui::WidgetType::Button, true, &label)
                    });
                    if r.on_hover_text(format!("{url}: open it in mpv, VLC or any player"))
                        .clicked()
                    {
                        ui.ctx().copy_text(url);
                    }
                }
                ui.end_row();
                if let Some(t) = c
                    .now_playing
                    .as_ref()
                    .filter(|_| (c.tuned || c.broadcasting) && !c.live)
                {
                    now_playing(ui, t, model, &mut out);
                    ui.end_row();
                }
            }
        });
    if channels.iter().any(|c| c.tuned || c.broadcasting) && ui.button("Stop radio").clicked() {
        out.push(Command::RadioStop);
    }
    ui.add_space(12.0);
    ui.strong("Start your own channel");
    labelled_field(ui, "Channel name", &mut state.radio_name, "My station");
    let local = model.tracks.iter().filter(|t| t.local).count();
    ui.checkbox(&mut state.radio_live, LIVE_LABEL);
    if state.radio_live {
        let name = state.radio_name.trim().to_owned();
        ui.label("Your program sends its stream here; listeners hear it as it plays.");
        if ui
            .add_enabled(!name.is_empty(), egui::Button::new(OPEN_LIVE_LABEL))
            .on_disabled_hover_text("give the channel a name")
            .clicked()
        {
            out.push(Command::RadioStartLive(name));
        }
        if let Some(live) = &model.live_source {
            live_source(ui, live);
        }
        return out;
    }
    ui.checkbox(&mut state.radio_personal, "Personal radio");
    let playlist = model
        .radio_playlist
        .and_then(|id| model.playlists.iter().find(|p| p.id == id));
    if state.radio_personal {
        ui.label(
            "It plays for ever: your recommendations with new releases mixed in, each next \
             track fetched while one plays.",
        );
    } else {
        let plays = match playlist {
            Some(p) => format!("the playlist {} ({} tracks)", p.name, p.tracks.len()),
            None => format!("your {local} local tracks"),
        };
        let mut chosen = model.radio_playlist;
        egui::ComboBox::from_label(PLAYS_LABEL)
            .selected_text(plays)
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut chosen, None, format!("your {local} local tracks"));
                for p in &model.playlists {
                    let text = format!("the playlist {} ({} tracks)", p.name, p.tracks.len());
                    ui.selectable_value(&mut chosen, Some(p.id), text);
                }
            });
        model.radio_playlist = chosen;
        ui.label("It broadcasts them in order, then goes off air.");
    }
    let name = state.radio_name.trim().to_owned();
    let has_tracks = playlist.map_or(local > 0, |p| !p.tracks.is_empty());
    let can_start = !name.is_empty() && (state.radio_personal || has_tracks);
    if ui
        .add_enabled(can_start, egui::Button::new("Start broadcasting"))
        .on_disabled_hover_text("give the channel a name (and have local tracks)")
        .clicked()
    {
        out.push(Command::RadioStart {
            name,
            personal: state.radio_personal,
            playlist: model.radio_playlist.filter(|_| !state.radio_personal),
        });
    }
    out
}

/// The track on air, under its channel: rate it, or save it to the library (it is an ordinary
/// published track).
fn now_playing(ui: &mut egui::Ui, t: &NowPlaying, model: &Model, out: &mut Vec<Command>) {
    let known = model.tracks.iter().find(|m| m.id == t.track);
    let cover = known.and_then(|m| m.info.cover).map(|c| c.hash);
    ui.horizontal(|ui| {
        if cover.is_some() {
            let label = format!("Cover of {}", t.title);
            crate::covers::show(ui, &model.covers, cover.as_ref(), 48.0, &label, |_, _| {});
        }
        ui.label(egui::RichText::new(format!("Now playing: {} - {}", t.title, t.artist)).italics());
    });
    if let Some(s) = stars(ui, model.rating(&t.track), true, &t.title) {
        out.push(Command::Rate(t.track, s));
    }
    let local = model.tracks.iter().any(|m| m.id == t.track && m.local);
    if local {
        ui.label(egui::RichText::new("in your library").weak());
    } else {
        let label = format!("Save {} to the library", t.title);
        let button = ui.button("Save");
        button.widget_info(|| egui::WidgetInfo::labeled(egui::WidgetType::Button, true, &label));
        if button.clicked() {
            out.push(Command::Save(t.track));
        }
    }
}

/// What a broadcasting program needs to send to the live channel opened here.
fn live_source(ui: &mut egui::Ui, live: &crate::model::LiveSource) {
    ui.add_space(6.0);
    ui.strong(format!("\"{}\" is waiting for your program", live.name));
    egui::Grid::new("live_source")
        .num_columns(2)
        .show(ui, |ui| {
            for (what, value) in [
                ("Server (Icecast 2)", live.address.as_str()),
                ("Mount", live.mount.as_str()),
                ("User", "source"),
                ("Password", live.password.as_str()),
                ("URL (ffmpeg)", live.source_url.as_str()),
            ] {
                ui.label(what);
                ui.horizontal(|ui| {
                    ui.add(
                        egui::Label::new(egui::RichText::new(value).monospace()).selectable(true),
                    );
                    if ui.small_button("Copy").clicked() {
                        ui.ctx().copy_text(value.to_owned());
                    }
                });
                ui.end_row();
            }
        });
    ui.label(
        egui::RichText::new(format!(
            "For example: ffmpeg -re -i set.mp3 -c copy -content_type audio/mpeg -f mp3 '{}'",
            live.source_url
        ))
        .weak(),
    );
}
