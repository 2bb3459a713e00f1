//! The A4 place-code poster as SVG (millimetre units): venue name, category, address, the QR, the code
//! number and short zh/en instructions. One layout; PNG and PDF are rendered from it.

use crate::PrintError;

/// A4 portrait in millimetres.
pub const A4_WIDTH_MM: f32 = 210.0;
pub const A4_HEIGHT_MM: f32 = 297.0;
/// The QR's printed side; at 300 dpi that is about 1 650 pixels, several per module at every version.
const QR_SIDE_MM: f32 = 140.0;
const QR_TOP_MM: f32 = 96.0;

/// What the poster prints.
#[derive(Debug, Clone)]
pub struct Poster<'a> {
    /// The deployment's name for itself, e.g. "苏州市数字哨兵".
    pub issuer: &'a str,
    pub venue_name: &'a str,
    pub category_zh: &'a str,
    pub category_en: &'a str,
    pub address: &'a str,
    /// The number people read out on the phone to the hotline: venue and poster version.
    pub code_number: &'a str,
    /// What the QR encodes: `{base}/v/{token}`.
    pub url: &'a str,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A font size (mm) at which `text` fits `width` mm: CJK characters are about one em wide, Latin
/// letters and digits about half, so long venue names shrink instead of running off the page.
fn fitting_size(text: &str, width: f32, max: f32) -> f32 {
    let ems: f32 = text.chars().map(|c| if c.is_ascii() { 0.55 } else { 1.0 }).sum();
    if ems == 0.0 { max } else { (width / ems).min(max) }
}

/// The poster page. `family` is the CJK font family the renderers found.
pub fn poster_svg(poster: &Poster<'_>, family: &str) -> Result<String, PrintError> {
    let (modules, path) = sentinel_credential::qr::svg_path(poster.url).map_err(|_| PrintError::QrTooLong)?;
    // Four modules of quiet zone on each side, inside the printed square.
    let module = QR_SIDE_MM / (modules + 8) as f32;
    let qr_left = (A4_WIDTH_MM - QR_SIDE_MM) / 2.0;
    let name_size = fitting_size(poster.venue_name, 180.0, 16.0);
    let address_size = fitting_size(poster.address, 180.0, 6.0);
    let centre = A4_WIDTH_MM / 2.0;
    Ok(format!(
        r##"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{w}mm" height="{h}mm" viewBox="0 0 {w} {h}" font-family="{family}, sans-serif">
<rect width="{w}" height="{h}" fill="#ffffff"/>
<rect width="{w}" height="44" fill="#1b7f3b"/>
<text x="{centre}" y="22" font-size="17" font-weight="bold" fill="#ffffff" text-anchor="middle">场所码</text>
<text x="{centre}" y="34" font-size="6" fill="#ffffff" text-anchor="middle">Place code · 扫码登记 Scan to check in</text>
<text x="{centre}" y="{name_y}" font-size="{name_size}" font-weight="bold" fill="#111111" text-anchor="middle">{name}</text>
<text x="{centre}" y="76" font-size="6" fill="#333333" text-anchor="middle">{category_zh} · {category_en}</text>
<text x="{centre}" y="86" font-size="{address_size}" fill="#333333" text-anchor="middle">{address}</text>
<rect x="{qr_left}" y="{qr_top}" width="{qr}" height="{qr}" fill="#ffffff" stroke="#1b7f3b" stroke-width="0.6"/>
<path transform="translate({qr_x} {qr_y}) scale({module})" fill="#000000" d="{path}"/>
<text x="{centre}" y="248" font-size="6" fill="#111111" text-anchor="middle">编号 No. {number}</text>
<text x="{centre}" y="262" font-size="6.5" fill="#111111" text-anchor="middle">请用手机相机或微信、支付宝扫码登记，出示结果页供工作人员查验</text>
<text x="{centre}" y="271" font-size="4.5" fill="#333333" text-anchor="middle">Scan with your phone camera and show the result page to staff</text>
<text x="{centre}" y="286" font-size="4.5" fill="#555555" text-anchor="middle">{issuer} · 海报遗失或污损请联系管理员重新生成 / report a lost or defaced poster</text>
</svg>
"##,
        w = A4_WIDTH_MM,
        h = A4_HEIGHT_MM,
        family = escape(family),
        name_y = 52.0 + name_size,
        name = escape(poster.venue_name),
        category_zh = escape(poster.category_zh),
        category_en = escape(poster.category_en),
        address = escape(poster.address),
        qr_top = QR_TOP_MM,
        qr = QR_SIDE_MM,
        qr_x = qr_left + 4.0 * module,
        qr_y = QR_TOP_MM + 4.0 * module,
        number = escape(poster.code_number),
        issuer = escape(poster.issuer),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_shrink_to_the_page() {
        assert_eq!(fitting_size("菜场", 180.0, 16.0), 16.0);
        let long = "苏州市姑苏区平江街道某某社区综合农贸市场东门入口";
        assert!(fitting_size(long, 180.0, 16.0) * long.chars().count() as f32 <= 180.0 + 0.01);
    }

    #[test]
    fn text_is_escaped() {
        let poster = Poster {
            issuer: "x",
            venue_name: "A&B <店>",
            category_zh: "餐馆",
            category_en: "restaurant",
            address: "\"路\"",
            code_number: "1",
            url: "http://localhost/v/abc",
        };
        let svg = poster_svg(&poster, "Noto Sans CJK SC").unwrap();
        assert!(svg.contains("A&amp;B &lt;店&gt;") && svg.contains("&quot;路&quot;"));
    }
}
