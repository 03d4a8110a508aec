//! Messages that belong to no view (errors of the worker, a busy queue), dismissable.

use crate::model::{Model, Status};
use crate::ui::Command;

/// Draws the notices above the view.
pub fn show(ui: &mut egui::Ui, model: &mut Model) -> Vec<Command> {
    if let Status::Failed(e) = &model.status {
        ui.colored_label(ui.visuals().error_fg_color, e);
        ui.separator();
    }
    if model.notices.is_empty() {
        return Vec::new();
    }
    let mut dismiss = false;
    egui::Frame::group(ui.style()).show(ui, |ui| {
        ui.set_width(ui.available_width());
        for n in &model.notices {
            ui.colored_label(ui.visuals().warn_fg_color, n);
        }
        dismiss = ui.button("Dismiss messages").clicked();
    });
    if dismiss {
        model.notices.clear();
    }
    Vec::new()
}
