//! QR codes for payment payloads: rendered to PNG, SVG and the terminal, and decoded back from images.

use std::path::Path;

use qrcode::{Color, EcLevel, QrCode};

/// The widest terminal the text rendering must fit.
pub const TERMINAL_COLUMNS: usize = 80;
/// The quiet zone ISO/IEC 18004 §7.3.7 requires around the symbol, in modules.
pub const QUIET_ZONE: usize = 4;
/// Pixels per module in PNG output.
pub const PNG_MODULE_PIXELS: u32 = 4;

/// Rendering or reading a QR code failed.
#[derive(Debug, thiserror::Error)]
pub enum QrError {
    /// The payload does not fit any QR version.
    #[error("the payload ({0} bytes) does not fit in a QR code")]
    TooLong(usize),
    /// The image file cannot be read or is not a PNG.
    #[error("{path}: cannot read the image: {source}")]
    Image {
        /// The file.
        path: String,
        /// Why.
        source: image::ImageError,
    },
    /// Writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// No QR code was found in the image.
    #[error("{0}: no QR code found in the image")]
    NotFound(String),
    /// A QR code was found but could not be decoded.
    #[error("{path}: a QR code was found but cannot be decoded ({why})")]
    Undecodable {
        /// The file.
        path: String,
        /// rqrr's reason.
        why: String,
    },
}

/// A payload's QR code at a given error-correction level.
pub fn encode(text: &str, level: EcLevel) -> Result<QrCode, QrError> {
    QrCode::with_error_correction_level(text.as_bytes(), level).map_err(|_| QrError::TooLong(text.len()))
}

/// The code's modules as rows of booleans (true = dark), surrounded by `quiet` light modules.
fn modules(code: &QrCode, quiet: usize) -> Vec<Vec<bool>> {
    let w = code.width();
    let colors = code.to_colors();
    let size = w + 2 * quiet;
    (0..size)
        .map(|y| {
            (0..size)
                .map(|x| {
                    let inside = (quiet..quiet + w).contains(&x) && (quiet..quiet + w).contains(&y);
                    inside && colors[(y - quiet) * w + (x - quiet)] == Color::Dark
                })
                .collect()
        })
        .collect()
}

/// A grayscale PNG with a 4-module quiet zone.
pub fn write_png(code: &QrCode, path: &Path) -> Result<(), QrError> {
    let rows = modules(code, QUIET_ZONE);
    let size = rows.len() as u32 * PNG_MODULE_PIXELS;
    let img = image::GrayImage::from_fn(size, size, |x, y| {
        let dark = rows[(y / PNG_MODULE_PIXELS) as usize][(x / PNG_MODULE_PIXELS) as usize];
        image::Luma([if dark { 0 } else { 255 }])
    });
    img.save_with_format(path, image::ImageFormat::Png)
        .map_err(|source| QrError::Image { path: path.display().to_string(), source })
}

/// An SVG document with a 4-module quiet zone.
pub fn svg(code: &QrCode) -> String {
    code.render::<qrcode::render::svg::Color<'_>>().quiet_zone(true).min_dimensions(256, 256).build()
}

/// How the terminal rendering came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalQr {
    /// The lines to print.
    pub text: String,
    /// Columns used.
    pub columns: usize,
    /// The quiet zone kept, in modules (4 when it fits; less to fit 80 columns).
    pub quiet_zone: usize,
}

/// Renders the code with half-block characters, two modules per character cell vertically, so that
/// modules stay square. The quiet zone shrinks (down to 1 module) to fit [`TERMINAL_COLUMNS`]. With
/// `ansi`, colours are set explicitly (black on white) so the code reads the same on dark terminals.
pub fn terminal(code: &QrCode, ansi: bool) -> TerminalQr {
    let w = code.width();
    let quiet = (TERMINAL_COLUMNS.saturating_sub(w) / 2).clamp(1, QUIET_ZONE);
    let rows = modules(code, quiet);
    let mut text = String::new();
    for pair in rows.chunks(2) {
        if ansi {
            text.push_str("\x1b[30;107m");
        }
        for x in 0..rows.len() {
            let top = pair[0][x];
            let bottom = pair.get(1).is_some_and(|r| r[x]);
            text.push(match (top, bottom) {
                (false, false) => ' ',
                (true, false) => '\u{2580}',
                (false, true) => '\u{2584}',
                (true, true) => '\u{2588}',
            });
        }
        if ansi {
            text.push_str("\x1b[0m");
        }
        text.push('\n');
    }
    TerminalQr { text, columns: rows.len(), quiet_zone: quiet }
}

/// Decodes every QR code in a PNG image and returns the payload bytes of the first one that decodes.
pub fn decode_file(path: &Path) -> Result<Vec<u8>, QrError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| QrError::Io { path: name.clone(), source })?;
    let img = image::load_from_memory_with_format(&bytes, image::ImageFormat::Png)
        .map_err(|source| QrError::Image { path: name.clone(), source })?;
    decode_luma(img.to_luma8(), &name)
}

/// Decodes the first QR code in a grayscale image (`name` is for messages).
pub fn decode_luma(img: image::GrayImage, name: &str) -> Result<Vec<u8>, QrError> {
    let mut prepared = rqrr::PreparedImage::prepare(img);
    let grids = prepared.detect_grids();
    if grids.is_empty() {
        return Err(QrError::NotFound(name.to_owned()));
    }
    let mut last = String::new();
    for grid in grids {
        let mut out = Vec::new();
        match grid.decode_to(&mut out) {
            Ok(_) => return Ok(out),
            Err(e) => last = e.to_string(),
        }
    }
    Err(QrError::Undecodable { path: name.to_owned(), why: last })
}

/// Turns a terminal rendering back into pixels (for tests and for checking what was printed):
/// `px` pixels per module, on a `background` colour that stands for the terminal around the code.
pub fn terminal_to_image(text: &str, px: u32, margin: u32, background: u8) -> image::GrayImage {
    let lines: Vec<Vec<char>> = text.lines().map(|l| l.chars().collect()).collect();
    let cols = lines.iter().map(Vec::len).max().unwrap_or(0) as u32;
    let rows = lines.len() as u32 * 2;
    let (w, h) = (cols * px + 2 * margin, rows * px + 2 * margin);
    image::GrayImage::from_fn(w, h, |x, y| {
        if x < margin || y < margin || x >= w - margin || y >= h - margin {
            return image::Luma([background]);
        }
        let (mx, my) = ((x - margin) / px, (y - margin) / px);
        let c = lines[(my / 2) as usize].get(mx as usize).copied().unwrap_or(' ');
        let dark = match c {
            '\u{2588}' => true,
            '\u{2580}' => my % 2 == 0,
            '\u{2584}' => my % 2 == 1,
            _ => false,
        };
        image::Luma([if dark { 0 } else { 255 }])
    })
}
