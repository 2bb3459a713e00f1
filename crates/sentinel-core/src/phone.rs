//! Mainland China mobile numbers, with masking (`138****5678`).

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("手机号码应为11位数字 / mobile number must have 11 digits, got {0}")]
    Length(usize),
    #[error("手机号码含非法字符 / mobile number contains a character that is not a digit")]
    Character,
    #[error("手机号码号段无效 / mobile number must start with 13–19")]
    Prefix,
}

/// A validated 11-digit mainland mobile number (an optional `+86`/`86` prefix and separators are accepted).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(input: &str) -> Result<Self, PhoneError> {
        let trimmed = input.trim();
        let without_cc =
            trimmed.strip_prefix("+86").or_else(|| trimmed.strip_prefix("0086")).unwrap_or(trimmed);
        let compact: String = without_cc.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        let digits =
            if compact.len() == 13 && compact.starts_with("86") { &compact[2..] } else { &compact[..] };
        if digits.chars().any(|c| !c.is_ascii_digit()) {
            return Err(PhoneError::Character);
        }
        if digits.len() != 11 {
            return Err(PhoneError::Length(digits.len()));
        }
        let b = digits.as_bytes();
        if b[0] != b'1' || !(b'3'..=b'9').contains(&b[1]) {
            return Err(PhoneError::Prefix);
        }
        Ok(Self(digits.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `138****5678`
    pub fn masked(&self) -> String {
        format!("{}****{}", &self.0[..3], &self.0[7..])
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_masks() {
        let p = PhoneNumber::parse("+86 138-1234-5678").unwrap();
        assert_eq!(p.as_str(), "13812345678");
        assert_eq!(p.masked(), "138****5678");
        assert_eq!(PhoneNumber::parse("8613812345678").unwrap().as_str(), "13812345678");
        assert!(!format!("{p:?}").contains("1234"));
    }

    #[test]
    fn refuses_bad_numbers() {
        assert_eq!(PhoneNumber::parse("1381234567"), Err(PhoneError::Length(10)));
        assert_eq!(PhoneNumber::parse("12812345678"), Err(PhoneError::Prefix));
        assert_eq!(PhoneNumber::parse("0512-6523456"), Err(PhoneError::Prefix));
        assert_eq!(PhoneNumber::parse("1381234567a"), Err(PhoneError::Character));
    }
}
