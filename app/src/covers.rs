//! Cover textures for the views, cached per image hash: a cover is read from the store,
//! decoded and scaled down on the worker once (never on the UI thread, never per frame), and
//! uploaded as an egui texture the first time a view draws it. A cover not held here is
//! fetched first from the peers that hold a track naming it (verified like any cover).
//!
//! A view asks [`Covers::texture`] while drawing; a cover not asked for before is noted, and
//! after the frame `App` sends every noted hash in one `Request::Covers`. The
//! worker answers with `Event::Cover` (the pixels, or none when the image is
//! not here or does not decode); the next frame that draws it uploads the texture. A cover that
//! was not here is asked again after the next catalog refresh (it may have been fetched since).

use std::cell::RefCell;
use std::collections::HashMap;

use busker_core::cover::Rgba;
use busker_core::model::ImageHash;

/// The longest side of a cover texture: a 150-point tile on a screen of scale 2.
pub const TEXTURE_SIDE: u32 = 320;

#[derive(Clone)]
enum Slot {
    /// Asked from the worker, not answered yet.
    Asked,
    /// Decoded, not uploaded yet.
    Decoded(Rgba),
    /// On the GPU.
    Ready(egui::TextureHandle),
    /// Not here, or not an image.
    Missing,
}

/// The cover textures and what views asked for this frame.
#[derive(Clone, Default)]
pub struct Covers {
    slots: RefCell<HashMap<ImageHash, Slot>>,
    wanted: RefCell<Vec<ImageHash>>,
    /// The file of each cover loaded (for MPRIS's `mpris:artUrl`).
    files: HashMap<ImageHash, std::path::PathBuf>,
}

impl std::fmt::Debug for Covers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Covers")
            .field("slots", &self.slots.borrow().len())
            .finish_non_exhaustive()
    }
}

impl Covers {
    /// The texture of a cover, when it is loaded; otherwise `None` (draw a placeholder), and
    /// the cover is asked for after this frame.
    pub fn texture(&self, ctx: &egui::Context, hash: &ImageHash) -> Option<egui::TextureHandle> {
        let mut slots = self.slots.borrow_mut();
        let slot = slots.entry(*hash).or_insert_with(|| {
            self.wanted.borrow_mut().push(*hash);
            Slot::Asked
        });
        if let Slot::Decoded(rgba) = slot {
            let size = [rgba.width as usize, rgba.height as usize];
            let image = egui::ColorImage::from_rgba_unmultiplied(size, &rgba.pixels);
            let name = format!("cover-{}", &hash.to_hex()[..16]);
            *slot = Slot::Ready(ctx.load_texture(name, image, egui::TextureOptions::LINEAR));
        }
        match slot {
            Slot::Ready(texture) => Some(texture.clone()),
            _ => None,
        }
    }

    /// The covers views asked for since the last call, to send to the worker.
    pub fn take_wanted(&self) -> Vec<ImageHash> {
        std::mem::take(&mut *self.wanted.borrow_mut())
    }

    /// Forgets covers whose request could not be sent (a busy worker), so that views ask again.
    pub fn forget(&mut self, hashes: &[ImageHash]) {
        let slots = self.slots.get_mut();
        for hash in hashes {
            slots.remove(hash);
        }
    }

    /// The worker's answer for one cover: the pixels and the file they came from.
    pub fn loaded(&mut self, hash: ImageHash, image: Option<(Rgba, std::path::PathBuf)>) {
        let slot = match image {
            Some((rgba, file)) => {
                self.files.insert(hash, file);
                Slot::Decoded(rgba)
            }
            None => Slot::Missing,
        };
        self.slots.get_mut().insert(hash, slot);
    }

    /// The file of a cover that was loaded (held here, verified when it was read).
    pub fn file(&self, hash: &ImageHash) -> Option<&std::path::Path> {
        self.files.get(hash).map(|p| p.as_path())
    }

    /// Forgets covers that were not here (and asks not answered: an answer can be dropped
    /// when the UI's queue is full), so that views ask for them again.
    pub fn retry_missing(&mut self) {
        self.slots
            .get_mut()
            .retain(|_, slot| !matches!(slot, Slot::Missing | Slot::Asked));
    }

    /// Whether a cover's texture is on the GPU (for tests).
    pub fn is_ready(&self, hash: &ImageHash) -> bool {
        matches!(self.slots.borrow().get(hash), Some(Slot::Ready(_)))
    }
}

/// Draws a cover (or, without one, `placeholder`) into a square of `side` points, with an
/// accessible label; the response of the image or placeholder.
pub fn show(
    ui: &mut egui::Ui,
    covers: &Covers,
    cover: Option<&ImageHash>,
    side: f32,
    label: &str,
    placeholder: impl FnOnce(&egui::Painter, egui::Rect),
) -> egui::Response {
    let texture = cover.and_then(|hash| covers.texture(ui.ctx(), hash));
    let size = egui::vec2(side, side);
    match texture {
        Some(texture) => ui.add(
            egui::Image::new(&texture)
                .fit_to_exact_size(size)
                .corner_radius(6.0)
                .alt_text(label),
        ),
        None => {
            let (rect, response) = ui.allocate_exact_size(size, egui::Sense::hover());
            placeholder(ui.painter(), rect);
            response
        }
    }
}
