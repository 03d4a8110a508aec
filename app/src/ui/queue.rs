//! The queue: the track playing, what follows, and the controls to change it (play now, move,
//! remove, shuffle, clear, repeat). Tracks get in from any list's right-click menu ("Play next",
//! "Add to queue") and from Play, which replaces the queue with the list it was pressed in.

use std::time::Duration;

use crate::player::Player;
use crate::ui::{Command, clock};

/// Draws the Queue view.
pub fn show(ui: &mut egui::Ui, player: &Player) -> Vec<Command> {
    let mut out = Vec::new();
    let queue = player.queue();
    let current = player.current_index();
    ui.horizontal(|ui| {
        ui.heading("Queue");
        ui.add_space(16.0);
        let follows = queue.len() - current.map_or(0, |i| i + 1);
        if ui
            .add_enabled(follows > 1, egui::Button::new("Shuffle"))
            .on_hover_text("Shuffle what follows the track playing")
            .clicked()
        {
            out.push(Command::Shuffle);
        }
        if ui
            .add_enabled(follows > 0, egui::Button::new("Clear"))
            .on_hover_text("Take out what follows the track playing")
            .clicked()
        {
            out.push(Command::ClearUpcoming);
        }
        let repeat = player.repeat();
        if ui.button(repeat.label()).clicked() {
            out.push(Command::Repeat(repeat.next()));
        }
    });
    ui.separator();
    if queue.is_empty() {
        ui.label(
            "The queue is empty: press ▶ in any list, or right-click a title for \"Play next\" \
             and \"Add to queue\".",
        );
        return out;
    }
    let last = queue.len();
    egui::ScrollArea::vertical()
        .id_salt("queue")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            for (i, t) in queue.iter().enumerate() {
                let playing = current == Some(i);
                ui.horizontal(|ui| {
                    let r = ui.button(if playing { "🔊" } else { "▶" });
                    let label = format!("Play {} from the queue", t.info.title);
                    r.widget_info(|| {
                        egui::WidgetInfo::labeled(egui::WidgetType::Button, true, &label)
                    });
                    if r.clicked() {
                        out.push(Command::PlayIndex(i));
                    }
                    let text = egui::RichText::new(format!(
                        "{}. {} — {}",
                        i + 1,
                        t.info.title,
                        t.info.artist
                    ));
                    ui.label(if playing { text.strong() } else { text });
                    ui.label(
                        egui::RichText::new(clock(Duration::from_millis(t.info.duration_ms)))
                            .weak(),
                    );
                    let moves = [
                        ("▲", "up", i > 0, i.wrapping_sub(1)),
                        ("▼", "down", i + 1 < last, i + 1),
                    ];
                    for (text, word, enabled, to) in moves {
                        let r = ui.add_enabled(enabled, egui::Button::new(text).small());
                        let label = format!("Move {} {word} in the queue", t.info.title);
                        r.widget_info(|| {
                            egui::WidgetInfo::labeled(egui::WidgetType::Button, enabled, &label)
                        });
                        if r.clicked() {
                            out.push(Command::MoveQueued(i, to));
                        }
                    }
                    let r = ui.small_button("✕");
                    let label = format!("Remove {} from the queue", t.info.title);
                    r.widget_info(|| {
                        egui::WidgetInfo::labeled(egui::WidgetType::Button, true, &label)
                    });
                    if r.clicked() {
                        out.push(Command::Dequeue(i));
                    }
                });
            }
        });
    out
}
