//! Person names, with masking that keeps only the surname (`张*`, `欧阳**`).

use std::fmt;

/// Two-character surnames (复姓) that masking keeps whole.
const COMPOUND_SURNAMES: [&str; 24] = [
    "欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐", "长孙", "宇文", "夏侯",
    "澹台", "轩辕", "端木", "申屠", "南宫", "西门", "独孤", "司徒", "司空", "呼延", "钟离",
];

const MAX_CHARS: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("姓名不能为空 / name must not be empty")]
    Empty,
    #[error("姓名过长（最多{MAX_CHARS}个字符）/ name is longer than {MAX_CHARS} characters")]
    TooLong,
    #[error("姓名含非法字符 / name contains a control character or digit")]
    Character,
}

/// A person's name as written on the ID card.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(input: &str) -> Result<Self, NameError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(NameError::Empty);
        }
        if s.chars().count() > MAX_CHARS {
            return Err(NameError::TooLong);
        }
        if s.chars().any(|c| c.is_control() || c.is_ascii_digit()) {
            return Err(NameError::Character);
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Keeps the surname (a compound one whole, when a given name follows) and stars the rest.
    pub fn masked(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        let compound = chars.len() > 2 && COMPOUND_SURNAMES.iter().any(|s| self.0.starts_with(s));
        let keep = if compound { 2 } else { 1 };
        let stars = (chars.len() - keep).max(1);
        let mut out: String = chars[..keep].iter().collect();
        out.extend(std::iter::repeat_n('*', stars));
        out
    }
}

impl fmt::Debug for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PersonName({})", self.masked())
    }
}

impl fmt::Display for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> String {
        PersonName::parse(s).unwrap().masked()
    }

    #[test]
    fn masks_keep_the_surname() {
        assert_eq!(m("张三"), "张*");
        assert_eq!(m("张三丰"), "张**");
        assert_eq!(m("欧阳娜娜"), "欧阳**");
        assert_eq!(m("欧阳修"), "欧阳*");
        assert_eq!(m("欧阳"), "欧*");
        assert_eq!(m("王"), "王*");
        assert_eq!(m("Anna"), "A***");
    }

    #[test]
    fn refuses_bad_names() {
        assert_eq!(PersonName::parse("  "), Err(NameError::Empty));
        assert_eq!(PersonName::parse("张3"), Err(NameError::Character));
        assert_eq!(PersonName::parse(&"张".repeat(51)), Err(NameError::TooLong));
    }
}
