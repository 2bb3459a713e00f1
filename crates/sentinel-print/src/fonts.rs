//! Finding a font that can write Chinese: an explicit file, or the system's Noto/Source Han CJK faces.

use std::path::Path;
use std::sync::Arc;

use resvg::usvg::fontdb::Database;

use crate::PrintError;

/// Families tried in order: Debian's fonts-noto-cjk first, then the usual alternatives.
pub const CJK_FAMILIES: [&str; 6] = [
    "Noto Sans CJK SC",
    "Noto Serif CJK SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Zen Hei",
    "Droid Sans Fallback",
];

/// The font database the poster is rendered with and the CJK family it uses.
#[derive(Clone)]
pub struct Fonts {
    pub(crate) db: Arc<Database>,
    pub family: String,
}

impl std::fmt::Debug for Fonts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fonts({}, {} faces)", self.family, self.db.len())
    }
}

impl Fonts {
    /// `explicit` (a .ttf/.otf/.ttc file) when given, otherwise the system's fonts; either way a family
    /// that writes Chinese must be among them, or the poster would print empty boxes.
    pub fn discover(explicit: Option<&Path>) -> Result<Self, PrintError> {
        let mut db = Database::new();
        match explicit {
            Some(path) => {
                db.load_font_file(path).map_err(|e| PrintError::FontFile {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
                let family = db
                    .faces()
                    .find(|f| covers_chinese(&db, f.id))
                    .and_then(|f| f.families.first())
                    .map(|(name, _)| name.clone())
                    .ok_or(PrintError::NoCjkFont)?;
                Ok(Self::with(db, family))
            }
            None => {
                db.load_system_fonts();
                let family = CJK_FAMILIES
                    .iter()
                    .find(|want| {
                        db.faces().any(|f| {
                            f.families.iter().any(|(name, _)| name == *want) && covers_chinese(&db, f.id)
                        })
                    })
                    .ok_or(PrintError::NoCjkFont)?;
                Ok(Self::with(db, (*family).to_owned()))
            }
        }
    }

    fn with(mut db: Database, family: String) -> Self {
        db.set_sans_serif_family(family.clone());
        Self { db: Arc::new(db), family }
    }
}

/// Whether the face has glyphs for a few characters every poster prints.
fn covers_chinese(db: &Database, id: resvg::usvg::fontdb::ID) -> bool {
    db.with_face_data(id, |data, index| {
        ttf_parser::Face::parse(data, index)
            .is_ok_and(|face| "场所码扫".chars().all(|c| face.glyph_index(c).is_some()))
    })
    .unwrap_or(false)
}
