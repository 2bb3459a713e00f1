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
    let compressed = decode_base45(body.as_bytes()).ok_or_else(|| VerifyError::malformed("not base45"))?;
    miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(&compressed, MAX_COSE_BYTES)
        .map_err(|_| VerifyError::malformed("not zlib, or inflates beyond the size cap"))
}

/// The base45 alphabet (RFC 9285) as a reverse table; 255 marks a character outside it.
const BASE45_VALUES: [u8; 256] = {
    let alphabet = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
    let mut table = [255u8; 256];
    let mut i = 0;
    while i < alphabet.len() {
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// RFC 9285 decoding, strict: every character in the alphabet, every group in range. A table-driven
/// loop, because the general-purpose crate's decoder took a fifth of a verification.
fn decode_base45(input: &[u8]) -> Option<Vec<u8>> {
    if input.len() % 3 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(input.len() / 3 * 2 + 1);
    for chunk in input.chunks(3) {
        let mut value = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            let v = BASE45_VALUES[usize::from(*c)];
            if v == 255 {
                return None;
            }
            value += u32::from(v) * [1, 45, 2025][i];
        }
        if chunk.len() == 3 {
            out.extend_from_slice(&u16::try_from(value).ok()?.to_be_bytes());
        } else {
            out.push(u8::try_from(value).ok()?);
        }
    }
    Some(out)
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

    #[test]
    fn base45_agrees_with_the_reference_and_refuses_junk() {
        for data in [&b""[..], b"A", b"AB", b"Hello!!", b"\xff\xff\xff", &[0u8, 255, 17, 42, 99][..]] {
            let text = base45::encode(data);
            assert_eq!(decode_base45(text.as_bytes()).as_deref(), Some(data), "{text}");
        }
        assert_eq!(decode_base45(b"QED8WEX0"), Some(b"ietf!".to_vec()), "RFC 9285 example");
        assert_eq!(decode_base45(b"GGW"), None, "65535 < value");
        assert_eq!(decode_base45(b"A"), None, "length 3n+1");
        assert_eq!(decode_base45(b"a1"), None, "lowercase is outside the alphabet");
    }
}
