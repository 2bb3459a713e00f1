//! The printed poster works: its QR decodes, at the printed resolution, to the URL it was made for.

use sentinel_print::{Fonts, Poster, PrintError, pdf_pages, png, poster_svg, zip_files};

/// The system's CJK fonts, or a printed reason to skip (a failure in CI, where they are installed).
fn fonts() -> Option<Fonts> {
    match Fonts::discover(None) {
        Ok(f) => Some(f),
        Err(e) if std::env::var_os("SENTINEL_REQUIRE_FONTS").is_none() => {
            eprintln!("skipping: {e}");
            None
        }
        Err(e) => panic!("SENTINEL_REQUIRE_FONTS is set: {e}"),
    }
}

fn poster(url: &str) -> Poster<'_> {
    Poster {
        issuer: "苏州市数字哨兵",
        venue_name: "平江路菜市场",
        category_zh: "农贸市场",
        category_en: "market",
        address: "姑苏区平江路 88 号",
        code_number: "320508-000042-v3",
        url,
    }
}

fn decode_png(bytes: &[u8]) -> (u32, u32, Vec<String>, Option<png::PixelDimensions>) {
    let decoder = png::Decoder::new(bytes);
    let mut reader = decoder.read_info().unwrap();
    let dims = reader.info().pixel_dims;
    let mut buf = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut buf).unwrap();
    let (w, h) = (frame.width, frame.height);
    assert_eq!(frame.color_type, png::ColorType::Rgb);
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(w as usize, h as usize, |x, y| {
        let i = (y * w as usize + x) * 3;
        ((u16::from(buf[i]) + u16::from(buf[i + 1]) + u16::from(buf[i + 2])) / 3) as u8
    });
    let texts =
        image.detect_grids().into_iter().filter_map(|g| g.decode().ok().map(|(_, text)| text)).collect();
    (w, h, texts, dims)
}

#[test]
fn the_300_dpi_png_decodes_to_the_place_code_url() {
    let Some(fonts) = fonts() else { return };
    let url = "http://127.0.0.1:8080/v/AQAAAAAAAAAAAAAAAAAAACoAAAADxyz-_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdef";
    let svg = poster_svg(&poster(url), &fonts.family).unwrap();
    let bytes = png(&svg, &fonts, 300).unwrap();
    let (w, h, texts, dims) = decode_png(&bytes);
    // A4 at 300 dpi: 2480 × 3508 pixels, and the file says 300 dpi (11 811 pixels per metre).
    assert_eq!((w, h), (2480, 3508));
    assert_eq!(dims.map(|d| (d.xppu, d.unit == png::Unit::Meter)), Some((11_811, true)));
    assert_eq!(texts, vec![url.to_owned()]);
}

#[test]
fn a_small_print_still_decodes() {
    let Some(fonts) = fonts() else { return };
    // An A4 poster printed at 100 dpi (a cheap printer, a photocopy) still reads.
    let url = "https://sentinel.example.cn/v/short-token";
    let bytes = png(&poster_svg(&poster(url), &fonts.family).unwrap(), &fonts, 100).unwrap();
    assert_eq!(decode_png(&bytes).2, vec![url.to_owned()]);
}

#[test]
fn pdf_has_one_a4_page_per_poster_and_zip_holds_every_file() {
    let Some(fonts) = fonts() else { return };
    let svgs: Vec<String> = ["http://x/v/a", "http://x/v/b"]
        .iter()
        .map(|u| poster_svg(&poster(u), &fonts.family).unwrap())
        .collect();
    let pdf = pdf_pages(&svgs, &fonts).unwrap();
    let text = String::from_utf8_lossy(&pdf);
    assert!(pdf.starts_with(b"%PDF-"));
    assert!(text.contains("/Count 2"), "two pages");
    // A4 in points.
    let boxes: Vec<&str> = text.match_indices("/MediaBox").map(|(i, _)| &text[i..i + 40]).collect();
    assert_eq!(boxes.len(), 2);
    assert!(
        boxes.iter().all(|b| b.starts_with("/MediaBox [0 0 595.27") && b.contains(" 841.88")),
        "{boxes:?}"
    );

    let zip = zip_files(&[("a.svg".into(), svgs[0].clone().into_bytes()), ("b.pdf".into(), pdf)]).unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    assert_eq!(archive.len(), 2);
    let mut first = String::new();
    std::io::Read::read_to_string(&mut archive.by_name("a.svg").unwrap(), &mut first).unwrap();
    assert_eq!(first, svgs[0]);
}

#[test]
fn a_font_file_without_chinese_is_refused_by_name() {
    let missing = Fonts::discover(Some(std::path::Path::new("/nonexistent/font.ttf")));
    assert!(matches!(missing, Err(PrintError::FontFile { .. })), "{missing:?}");
    let message = PrintError::NoCjkFont.to_string();
    assert!(message.contains("fonts-noto-cjk") && message.contains("未找到中文字体"));
}
