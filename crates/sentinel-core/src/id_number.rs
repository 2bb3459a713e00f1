//! Resident identity card numbers (居民身份证号码) per GB 11643-1999, with masking.
//!
//! Layout of the 18 characters: 6-digit area code (GB/T 2260), 8-digit birth date `YYYYMMDD`,
//! 3-digit sequence (odd = male, even = female), and an ISO 7064 MOD 11-2 check character.
//! Legacy 15-digit numbers (before 1999) have a 2-digit year and no check character; they convert.

use chrono::{Datelike, NaiveDate};
use std::fmt;

/// Weights of ISO 7064 MOD 11-2 for the first 17 characters.
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check characters indexed by the weighted sum modulo 11.
const CHECK_CHARS: [u8; 11] = *b"10X98765432";

/// Which part of an ID number is wrong; the message says it in Chinese and English.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdNumberError {
    #[error(
        "身份证号码应为18位（或15位旧号码），实际为{0}位 / ID number must have 18 characters (or 15 legacy digits), got {0}"
    )]
    Length(usize),
    #[error("身份证号码含非法字符 / ID number contains an invalid character at position {0}")]
    Character(usize),
    #[error("身份证号码地区码无效 / ID number area code {0} is not a valid GB/T 2260 code")]
    AreaCode(String),
    #[error("身份证号码出生日期无效 / ID number birth date {0} is not a real calendar date")]
    BirthDate(String),
    #[error("身份证号码出生日期在未来 / ID number birth date {0} lies in the future")]
    BirthDateInFuture(NaiveDate),
    #[error("身份证号码顺序码无效 / ID number sequence 000 is not issued")]
    Sequence,
    #[error(
        "身份证号码校验位错误，应为{expected} / ID number check character is wrong: expected {expected}, got {found}"
    )]
    CheckCharacter { expected: char, found: char },
}

/// Sex encoded by the parity of the sequence code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sex {
    Male,
    Female,
}

/// A validated 18-character resident ID number.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ResidentIdNumber([u8; 18]);

impl fmt::Debug for ResidentIdNumber {
    // Never print a full ID number by accident (logs, panics): Debug shows the masked form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResidentIdNumber({})", self.masked())
    }
}

fn check_character(first17: &[u8]) -> u8 {
    let sum: u32 = first17.iter().zip(WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
    CHECK_CHARS[(sum % 11) as usize]
}

fn area_code_is_plausible(area: &[u8]) -> bool {
    // GB/T 2260: two-digit province 11..=82 (Hong Kong, Macao and Taiwan included), then
    // city and county pairs. A province-level number (xx0000) is not issued on ID cards.
    let province = u32::from(area[0] - b'0') * 10 + u32::from(area[1] - b'0');
    (11..=82).contains(&province) && &area[2..6] != b"0000"
}

impl ResidentIdNumber {
    /// Parses an 18-character number (a lowercase `x` is accepted) or converts a 15-digit legacy one.
    /// `today` bounds the birth date: a number born in the future is refused.
    pub fn parse(input: &str, today: NaiveDate) -> Result<Self, IdNumberError> {
        let s = input.trim();
        let chars: Vec<char> = s.chars().collect();
        match chars.len() {
            18 => Self::parse18(&chars, today),
            15 => Self::from_legacy15(s, today),
            n => Err(IdNumberError::Length(n)),
        }
    }

    fn parse18(chars: &[char], today: NaiveDate) -> Result<Self, IdNumberError> {
        let mut bytes = [0u8; 18];
        for (i, c) in chars.iter().enumerate() {
            let ok = c.is_ascii_digit() || (i == 17 && (*c == 'X' || *c == 'x'));
            if !ok {
                return Err(IdNumberError::Character(i + 1));
            }
            bytes[i] = c.to_ascii_uppercase() as u8;
        }
        Self::validate_parts(&bytes[..17], today)?;
        let expected = check_character(&bytes[..17]);
        if bytes[17] != expected {
            return Err(IdNumberError::CheckCharacter {
                expected: expected as char,
                found: bytes[17] as char,
            });
        }
        Ok(Self(bytes))
    }

    fn validate_parts(first17: &[u8], today: NaiveDate) -> Result<(), IdNumberError> {
        let area = &first17[..6];
        if !area_code_is_plausible(area) {
            return Err(IdNumberError::AreaCode(String::from_utf8_lossy(area).into_owned()));
        }
        let birth = std::str::from_utf8(&first17[6..14]).unwrap_or_default();
        let date = NaiveDate::parse_from_str(birth, "%Y%m%d")
            .ok()
            .filter(|d| d.year() >= 1850)
            .ok_or_else(|| IdNumberError::BirthDate(birth.to_owned()))?;
        if date > today {
            return Err(IdNumberError::BirthDateInFuture(date));
        }
        if &first17[14..17] == b"000" {
            return Err(IdNumberError::Sequence);
        }
        Ok(())
    }

    /// Converts a 15-digit legacy number (year `YY` in the 1900s) to the 18-character form.
    pub fn from_legacy15(input: &str, today: NaiveDate) -> Result<Self, IdNumberError> {
        let s = input.trim();
        if s.chars().count() != 15 {
            return Err(IdNumberError::Length(s.chars().count()));
        }
        if let Some(pos) = s.chars().position(|c| !c.is_ascii_digit()) {
            return Err(IdNumberError::Character(pos + 1));
        }
        let b = s.as_bytes();
        let mut bytes = [0u8; 18];
        bytes[..6].copy_from_slice(&b[..6]);
        bytes[6..8].copy_from_slice(b"19");
        bytes[8..17].copy_from_slice(&b[6..15]);
        Self::validate_parts(&bytes[..17], today)?;
        bytes[17] = check_character(&bytes[..17]);
        Ok(Self(bytes))
    }

    /// Builds a valid number from its parts, computing the check character (used by the generator).
    pub fn from_parts(
        area: &str,
        birth: NaiveDate,
        sequence: u16,
        today: NaiveDate,
    ) -> Result<Self, IdNumberError> {
        let first17 = format!("{area}{}{:03}", birth.format("%Y%m%d"), sequence % 1000);
        let check = check_character(first17.as_bytes()) as char;
        Self::parse(&format!("{first17}{check}"), today)
    }

    /// The full number. Callers that show it must have audited the purpose.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The six-digit area code of the place of first registration.
    pub fn area_code(&self) -> &str {
        &self.as_str()[..6]
    }

    pub fn birth_date(&self) -> NaiveDate {
        NaiveDate::parse_from_str(&self.as_str()[6..14], "%Y%m%d").unwrap_or_default()
    }

    pub fn sex(&self) -> Sex {
        if (self.0[16] - b'0') % 2 == 1 { Sex::Male } else { Sex::Female }
    }

    /// Age in whole years on `today`.
    pub fn age_on(&self, today: NaiveDate) -> u32 {
        today.years_since(self.birth_date()).unwrap_or(0)
    }

    /// The masked form shown by default: first three and last four characters (`320***********123X`).
    pub fn masked(&self) -> String {
        let s = self.as_str();
        format!("{}{}{}", &s[..3], "*".repeat(11), &s[14..])
    }
}

impl fmt::Display for ResidentIdNumber {
    /// Display masks too: the full number is only reachable through [`ResidentIdNumber::as_str`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 4, 29).unwrap()
    }

    #[test]
    fn accepts_a_valid_number_and_reads_its_parts() {
        // 11010519491231002X is the standard's own example.
        let id = ResidentIdNumber::parse("11010519491231002X", today()).unwrap();
        assert_eq!(id.area_code(), "110105");
        assert_eq!(id.birth_date(), NaiveDate::from_ymd_opt(1949, 12, 31).unwrap());
        assert_eq!(id.sex(), Sex::Female);
        assert_eq!(id.age_on(today()), 74);
        assert_eq!(id.masked(), "110***********002X");
    }

    #[test]
    fn lowercase_x_is_normalised() {
        let id = ResidentIdNumber::parse("11010519491231002x", today()).unwrap();
        assert_eq!(id.as_str(), "11010519491231002X");
    }

    #[test]
    fn each_kind_of_error_names_its_part() {
        let t = today();
        assert_eq!(ResidentIdNumber::parse("1234", t), Err(IdNumberError::Length(4)));
        assert_eq!(ResidentIdNumber::parse("11010519491231A02X", t), Err(IdNumberError::Character(15)));
        assert_eq!(ResidentIdNumber::parse("11010519491231002Y", t), Err(IdNumberError::Character(18)));
        assert_eq!(
            ResidentIdNumber::parse("110105194912310021", t),
            Err(IdNumberError::CheckCharacter { expected: 'X', found: '1' })
        );
        assert!(matches!(
            ResidentIdNumber::from_parts("990105", NaiveDate::from_ymd_opt(1990, 1, 1).unwrap(), 12, t),
            Err(IdNumberError::AreaCode(_))
        ));
        assert!(matches!(
            ResidentIdNumber::from_parts("320000", NaiveDate::from_ymd_opt(1990, 1, 1).unwrap(), 12, t),
            Err(IdNumberError::AreaCode(_))
        ));
        // 1990-02-30 does not exist: build the first 17 by hand and add whatever check character fits.
        let first17 = "32050819900230123";
        let check = check_character(first17.as_bytes()) as char;
        assert_eq!(
            ResidentIdNumber::parse(&format!("{first17}{check}"), t),
            Err(IdNumberError::BirthDate("19900230".into()))
        );
        let future =
            ResidentIdNumber::from_parts("320508", NaiveDate::from_ymd_opt(2024, 5, 1).unwrap(), 12, t);
        assert!(matches!(future, Err(IdNumberError::BirthDateInFuture(_))));
        let seq0 = ResidentIdNumber::from_parts("320508", NaiveDate::from_ymd_opt(1990, 1, 1).unwrap(), 0, t);
        assert_eq!(seq0, Err(IdNumberError::Sequence));
    }

    #[test]
    fn legacy_fifteen_digits_convert_to_eighteen() {
        let id = ResidentIdNumber::parse("110105491231002", today()).unwrap();
        assert_eq!(id.as_str(), "11010519491231002X");
        assert!(matches!(
            ResidentIdNumber::parse("11010549123100A", today()),
            Err(IdNumberError::Character(15))
        ));
        assert!(matches!(
            ResidentIdNumber::from_legacy15("110105491331002", today()),
            Err(IdNumberError::BirthDate(_))
        ));
    }

    #[test]
    fn debug_and_display_never_show_the_full_number() {
        let id = ResidentIdNumber::parse("11010519491231002X", today()).unwrap();
        assert!(!format!("{id:?}").contains("19491231"));
        assert!(!id.to_string().contains("19491231"));
    }

    #[test]
    fn every_single_digit_change_is_detected() {
        let good = "320508199003071234";
        let check = check_character(&good.as_bytes()[..17]) as char;
        let valid = format!("{}{check}", &good[..17]);
        ResidentIdNumber::parse(&valid, today()).unwrap();
        // MOD 11-2 catches every single-character substitution in the first 17 positions.
        for pos in 0..17 {
            for d in b'0'..=b'9' {
                let mut b = valid.clone().into_bytes();
                if b[pos] == d {
                    continue;
                }
                b[pos] = d;
                let s = String::from_utf8(b).unwrap();
                assert!(ResidentIdNumber::parse(&s, today()).is_err(), "{s} accepted");
            }
        }
    }
}
