//! From the poster SVG to what a print shop takes: PNG at a given dpi (with the dpi recorded in the
//! file), PDF pages (text drawn as outlines, so any viewer shows the Chinese without the font), ZIP.

use std::collections::HashMap;
use std::io::Write;

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref};
use resvg::tiny_skia;
use resvg::usvg::{Options, Tree};

use crate::poster::{A4_HEIGHT_MM, A4_WIDTH_MM};
use crate::{Fonts, PrintError};

const MM_PER_INCH: f32 = 25.4;
const POINTS_PER_INCH: f32 = 72.0;

fn tree(svg: &str, fonts: &Fonts) -> Result<Tree, PrintError> {
    let options =
        Options { fontdb: fonts.db.clone(), font_family: fonts.family.clone(), ..Options::default() };
    Tree::from_str(svg, &options).map_err(|e| PrintError::Svg(e.to_string()))
}

/// The SVG rasterised at `dpi` (its size taken from its millimetre width and height), as an RGB PNG
/// that records its resolution, so printing it at 100 % gives the page size.
pub fn png(svg: &str, fonts: &Fonts, dpi: u32) -> Result<Vec<u8>, PrintError> {
    let tree = tree(svg, fonts)?;
    // usvg reads "210mm" at its default 96 user units per inch.
    let scale = dpi as f32 / 96.0;
    // Rounded, not rounded up: A4 at 300 dpi is 2480 × 3508 pixels.
    let (width, height) = ((tree.size().width() * scale).round(), (tree.size().height() * scale).round());
    let size = tiny_skia::IntSize::from_wh(width as u32, height as u32)
        .ok_or_else(|| PrintError::Png("size".into()))?;
    let mut pixmap =
        tiny_skia::Pixmap::new(size.width(), size.height()).ok_or_else(|| PrintError::Png("size".into()))?;
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(&tree, tiny_skia::Transform::from_scale(scale, scale), &mut pixmap.as_mut());
    // Opaque page: premultiplied RGBA is plain RGBA, and the alpha channel carries nothing.
    let rgb: Vec<u8> = pixmap.data().chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, size.width(), size.height());
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let per_metre = (dpi as f32 / MM_PER_INCH * 1000.0).round() as u32;
    encoder.set_pixel_dims(Some(png::PixelDimensions {
        xppu: per_metre,
        yppu: per_metre,
        unit: png::Unit::Meter,
    }));
    let mut writer = encoder.write_header().map_err(|e| PrintError::Png(e.to_string()))?;
    writer.write_image_data(&rgb).map_err(|e| PrintError::Png(e.to_string()))?;
    writer.finish().map_err(|e| PrintError::Png(e.to_string()))?;
    Ok(out)
}

/// One A4 page per SVG, in order: a district's posters in one file for the print shop.
pub fn pdf_pages(svgs: &[String], fonts: &Fonts) -> Result<Vec<u8>, PrintError> {
    let page_w = A4_WIDTH_MM / MM_PER_INCH * POINTS_PER_INCH;
    let page_h = A4_HEIGHT_MM / MM_PER_INCH * POINTS_PER_INCH;
    let mut next = Ref::new(1);
    let catalog = next.bump();
    let page_tree = next.bump();
    let mut pdf = Pdf::new();
    let mut pages = Vec::with_capacity(svgs.len());
    let options = svg2pdf::ConversionOptions { embed_text: false, ..Default::default() };
    for svg in svgs {
        let tree = tree(svg, fonts)?;
        let (chunk, root) = svg2pdf::to_chunk(&tree, options).map_err(|e| PrintError::Pdf(e.to_string()))?;
        let mut renumbered = HashMap::new();
        let chunk = chunk.renumber(|old| *renumbered.entry(old).or_insert_with(|| next.bump()));
        let form = renumbered.get(&root).copied().ok_or_else(|| PrintError::Pdf("no root object".into()))?;
        let page = next.bump();
        let contents = next.bump();
        let name = Name(b"Poster");
        let mut content = Content::new();
        // The form is one point square: stretch it to the page.
        content.transform([page_w, 0.0, 0.0, page_h, 0.0, 0.0]).x_object(name);
        pdf.stream(contents, &content.finish());
        let mut writer = pdf.page(page);
        writer.media_box(Rect::new(0.0, 0.0, page_w, page_h)).parent(page_tree).contents(contents);
        writer.resources().x_objects().pair(name, form);
        writer.finish();
        pdf.extend(&chunk);
        pages.push(page);
    }
    pdf.catalog(catalog).pages(page_tree);
    pdf.pages(page_tree).count(pages.len() as i32).kids(pages);
    Ok(pdf.finish())
}

/// A ZIP of named files (already-compressed PNGs are stored, everything else deflated).
pub fn zip_files(files: &[(String, Vec<u8>)]) -> Result<Vec<u8>, PrintError> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in files {
        let method = if name.ends_with(".png") {
            zip::CompressionMethod::Stored
        } else {
            zip::CompressionMethod::Deflated
        };
        let options = zip::write::SimpleFileOptions::default().compression_method(method);
        zip.start_file(name.as_str(), options).map_err(|e| PrintError::Zip(e.to_string()))?;
        zip.write_all(bytes).map_err(|e| PrintError::Zip(e.to_string()))?;
    }
    Ok(zip.finish().map_err(|e| PrintError::Zip(e.to_string()))?.into_inner())
}
