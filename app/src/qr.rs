//! QR codes (of invite links), computed once and painted as squares: a phone's camera or a
//! second machine's webcam reads the link off the screen.

use qrcodegen::{QrCode, QrCodeEcc};

/// A QR code's modules, row by row (`true`: dark).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qr {
    size: usize,
    dark: Vec<bool>,
}

impl Qr {
    /// The code of `text` (medium error correction), or `None` when it is too long for one.
    pub fn encode(text: &str) -> Option<Self> {
        let code = QrCode::encode_text(text, QrCodeEcc::Medium).ok()?;
        let size = usize::try_from(code.size()).ok()?;
        let mut dark = Vec::with_capacity(size * size);
        for y in 0..code.size() {
            for x in 0..code.size() {
                dark.push(code.get_module(x, y));
            }
        }
        Some(Self { size, dark })
    }

    /// Modules per side.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Whether the module at (`x`, `y`) is dark.
    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        self.dark.get(y * self.size + x).copied().unwrap_or(false)
    }
}

/// Paints `qr` at most `side` points wide, dark on white with the quiet zone readers need.
pub fn show(ui: &mut egui::Ui, qr: &Qr, side: f32, label: &str) -> egui::Response {
    const QUIET: usize = 4;
    let cells = qr.size() + 2 * QUIET;
    let cell = (side / cells as f32).floor().max(1.0);
    let (rect, response) = ui.allocate_exact_size(
        egui::vec2(cell * cells as f32, cell * cells as f32),
        egui::Sense::hover(),
    );
    response.widget_info(|| egui::WidgetInfo::labeled(egui::WidgetType::Image, true, label));
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 0.0, egui::Color32::WHITE);
    for y in 0..qr.size() {
        for x in 0..qr.size() {
            if qr.is_dark(x, y) {
                let min =
                    rect.min + egui::vec2((x + QUIET) as f32 * cell, (y + QUIET) as f32 * cell);
                painter.rect_filled(
                    egui::Rect::from_min_size(min, egui::vec2(cell, cell)),
                    0.0,
                    egui::Color32::BLACK,
                );
            }
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invite_sized_link_fits_a_code_with_its_finder_patterns() {
        let link = format!("busker://join/{}", "A".repeat(220));
        let qr = Qr::encode(&link).expect("fits");
        assert!(qr.size() >= 21 && qr.size() <= 177, "{}", qr.size());
        // The three finder patterns: a dark 7x7 ring at three corners.
        for (x, y) in [(0, 0), (qr.size() - 7, 0), (0, qr.size() - 7)] {
            assert!(qr.is_dark(x, y) && qr.is_dark(x + 6, y + 6) && !qr.is_dark(x + 1, y + 1));
        }
    }
}
