//! The text form of a credential: `SN1:` + base45(zlib(COSE_Sign1)). Every size is capped before the
//! next step runs, so a zip bomb or an oversized string costs nothing.

use crate::VerifyError;

/// Version prefix; base45 and the colon keep the whole string in QR alphanumeric mode.
pub const PREFIX: &str = "SN1:";
/// Longest token string accepted (a dynamic code is ~200 characters).
pub const MAX_TOKEN_CHARS: usize = 2048;
/// Largest COSE structure accepted after inflating.
pub const MAX_COSE_BYTES: usize = 2048;

pub fn seal(cose: &[u8]) -> String {
    let compressed = miniz_oxide::deflate::compress_to_vec_zlib(cose, 9);
    format!("{PREFIX}{}", base45::encode(compressed))
}

pub fn open(token: &str) -> Result<Vec<u8>, VerifyError> {
    let token = token.trim();
    if token.len() > MAX_TOKEN_CHARS {
        return Err(VerifyError::malformed("token too long"));
    }
    let body =
        token.strip_prefix(PREFIX).ok_or_else(|| VerifyError::malformed("unknown prefix or version"))?;
    let compressed = base45::decode(body).map_err(|_| VerifyError::malformed("not base45"))?;
    miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(&compressed, MAX_COSE_BYTES)
        .map_err(|_| VerifyError::malformed("not zlib, or inflates beyond the size cap"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_caps() {
        let token = seal(b"hello cose");
        assert!(token.starts_with(PREFIX));
        assert!(token.chars().all(|c| "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:".contains(c)));
        assert_eq!(open(&token).unwrap(), b"hello cose");
        assert!(matches!(open("HC1:ABC"), Err(VerifyError::Malformed(_))));
        assert!(matches!(open(&"SN1:".repeat(600)), Err(VerifyError::Malformed(_))));
        // A zip bomb: 1 MiB of zeros compresses to ~1 KiB but must not be inflated past the cap.
        let bomb = seal(&vec![0u8; 1 << 20]);
        assert!(bomb.len() < MAX_TOKEN_CHARS, "the bomb fits the string cap: {}", bomb.len());
        assert!(matches!(open(&bomb), Err(VerifyError::Malformed(_))));
    }
}
