//! Print work for venues: the place-code poster (场所码海报) laid out once as SVG, then rasterised to a
//! 300 dpi PNG or converted to an A4 PDF with the same fonts, so every format shows the same page; bulk
//! exports as one ZIP or one multi-page PDF.

pub mod fonts;
pub mod poster;
pub mod render;

pub use fonts::Fonts;
pub use poster::{Poster, poster_svg};
pub use render::{pdf_pages, png, zip_files};

/// Why a poster could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PrintError {
    #[error(
        "未找到中文字体，请安装 fonts-noto-cjk 或用 SENTINEL_CJK_FONT 指定字体文件 / no CJK font found: install \
         the Debian package fonts-noto-cjk or point SENTINEL_CJK_FONT at a font file"
    )]
    NoCjkFont,
    #[error("font file {path}: {reason}")]
    FontFile { path: String, reason: String },
    #[error("the place-code URL does not fit a QR code")]
    QrTooLong,
    #[error("SVG: {0}")]
    Svg(String),
    #[error("PDF: {0}")]
    Pdf(String),
    #[error("PNG: {0}")]
    Png(String),
    #[error("ZIP: {0}")]
    Zip(String),
}
