//! Why a credential was refused, with the words a gate speaks or shows.

/// The typed verification errors. `code()` is stable for APIs and devices.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("malformed credential: {0}")]
    Malformed(String),
    #[error("signed by an unknown or retired key")]
    UnknownKey,
    #[error("signature does not verify")]
    BadSignature,
    #[error("not yet valid")]
    NotYetValid,
    #[error("expired")]
    Expired,
    #[error("revoked")]
    Revoked,
}

impl VerifyError {
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::Malformed(_) => "malformed",
            VerifyError::UnknownKey => "unknown_key",
            VerifyError::BadSignature => "bad_signature",
            VerifyError::NotYetValid => "not_yet_valid",
            VerifyError::Expired => "expired",
            VerifyError::Revoked => "revoked",
        }
    }

    pub fn message_zh(&self) -> &'static str {
        match self {
            VerifyError::Malformed(_) => "二维码无法识别，请出示健康码",
            VerifyError::UnknownKey => "非授权机构签发的健康码",
            VerifyError::BadSignature => "健康码校验失败，疑似伪造",
            VerifyError::NotYetValid => "健康码尚未生效，请核对设备时间",
            VerifyError::Expired => "健康码已过期，请刷新后重试",
            VerifyError::Revoked => "健康码已作废",
        }
    }

    pub fn message_en(&self) -> &'static str {
        match self {
            VerifyError::Malformed(_) => "Code not recognised: show a health code",
            VerifyError::UnknownKey => "Code not issued by a trusted issuer",
            VerifyError::BadSignature => "Code signature invalid: possibly forged",
            VerifyError::NotYetValid => "Code not yet valid: check the device clock",
            VerifyError::Expired => "Code expired: refresh and try again",
            VerifyError::Revoked => "Code revoked",
        }
    }

    pub(crate) fn malformed(what: impl Into<String>) -> Self {
        VerifyError::Malformed(what.into())
    }
}
