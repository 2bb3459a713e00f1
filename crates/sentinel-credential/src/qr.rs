//! QR rendering of tokens and URLs: SVG for screens and print, PNG for everything else.

use qrcode::{Color, EcLevel, QrCode};

#[derive(Debug, thiserror::Error)]
pub enum QrError {
    #[error("text too long for a QR code")]
    TooLong,
    #[error("PNG encoding: {0}")]
    Png(String),
}

fn code(text: &str) -> Result<QrCode, QrError> {
    // Level M survives a smudged phone screen or a creased poster (15 % of modules).
    QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).map_err(|_| QrError::TooLong)
}

/// An SVG of at least `min_size` pixels with a quiet zone.
pub fn svg(text: &str, min_size: u32) -> Result<String, QrError> {
    Ok(code(text)?.render::<qrcode::render::svg::Color<'_>>().min_dimensions(min_size, min_size).build())
}

/// The QR's dark modules as one SVG path in module units (no quiet zone), and its width in modules:
/// for layouts that place the code themselves (posters) instead of nesting another `<svg>`.
pub fn svg_path(text: &str) -> Result<(u32, String), QrError> {
    let code = code(text)?;
    let modules = code.width();
    let mut d = String::new();
    for (i, c) in code.to_colors().iter().enumerate() {
        if *c == Color::Dark {
            // Runs along a row would be shorter, but a square per module keeps every edge exact.
            d.push_str(&format!("M{} {}h1v1h-1z", i % modules, i / modules));
        }
    }
    Ok((modules as u32, d))
}

/// A greyscale PNG with `scale` pixels per module and a four-module quiet zone.
pub fn png(text: &str, scale: u32) -> Result<Vec<u8>, QrError> {
    let code = code(text)?;
    let modules = code.width() as u32;
    let colors = code.to_colors();
    let quiet = 4;
    let side = (modules + 2 * quiet) * scale.max(1);
    let scale = scale.max(1);
    let mut pixels = vec![255u8; (side * side) as usize];
    for (i, c) in colors.iter().enumerate() {
        if *c == Color::Dark {
            let (mx, my) = (i as u32 % modules + quiet, i as u32 / modules + quiet);
            for y in my * scale..(my + 1) * scale {
                let row = (y * side) as usize;
                pixels[row + (mx * scale) as usize..row + ((mx + 1) * scale) as usize].fill(0);
            }
        }
    }
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, side, side);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(|e| QrError::Png(e.to_string()))?;
        writer.write_image_data(&pixels).map_err(|e| QrError::Png(e.to_string()))?;
    }
    Ok(out)
}
