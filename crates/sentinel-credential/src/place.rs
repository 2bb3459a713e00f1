//! Place codes (场所码): a venue id and poster version signed by the deployment's place key, carried in
//! the URL a poster's QR encodes (`{base}/v/{token}`). A forged token fails its signature; a superseded
//! poster carries an older version than the venue's current one, which the server refuses.

use crate::VerifyError;
use crate::keys::{KeyId, PublicKey, SigningKey};

/// Format marker, first byte of every token: a new layout gets a new marker.
const FORMAT_V1: u8 = 1;
/// Signed together with the fields, so a place-code signature can never pass for another message.
const DOMAIN: &[u8] = b"sentinel place code v1\0";
/// marker + key id + venue + version.
const HEADER_LEN: usize = 1 + 8 + 8 + 4;
/// Longer than any signature of the suite; a longer token is malformed before any work.
const MAX_TOKEN_CHARS: usize = 256;

/// What a place code says: this venue, this poster version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlaceCode {
    pub venue_id: i64,
    pub version: u32,
}

fn signed_bytes(kid: KeyId, code: PlaceCode) -> [u8; HEADER_LEN] {
    let mut out = [0u8; HEADER_LEN];
    out[0] = FORMAT_V1;
    out[1..9].copy_from_slice(&kid.0);
    out[9..17].copy_from_slice(&code.venue_id.to_be_bytes());
    out[17..21].copy_from_slice(&code.version.to_be_bytes());
    out
}

fn message(header: &[u8]) -> Vec<u8> {
    [DOMAIN, header].concat()
}

/// The token text for a poster: URL-safe base64 without padding (letters, digits, `-`, `_`).
pub fn sign_place_code(key: &SigningKey, code: PlaceCode) -> String {
    let header = signed_bytes(key.kid(), code);
    let signature = key.sign(&message(&header));
    base64_url::encode(&[&header[..], &signature].concat())
}

/// Checks the signature with the key the token names (`keys` finds it among the deployment's place
/// keys) and returns what the token says. Whether its version is still current is the caller's question.
pub fn verify_place_code<'k>(
    token: &str,
    keys: impl Fn(&KeyId) -> Option<&'k PublicKey>,
) -> Result<PlaceCode, VerifyError> {
    if token.len() > MAX_TOKEN_CHARS {
        return Err(VerifyError::malformed("too long"));
    }
    let bytes = base64_url::decode(token).ok_or_else(|| VerifyError::malformed("not base64url"))?;
    if bytes.len() <= HEADER_LEN || bytes[0] != FORMAT_V1 {
        return Err(VerifyError::malformed("not a place code"));
    }
    let (header, signature) = bytes.split_at(HEADER_LEN);
    let kid = KeyId::from_slice(&header[1..9]).ok_or_else(|| VerifyError::malformed("key id"))?;
    let key = keys(&kid).ok_or(VerifyError::UnknownKey)?;
    if !key.verify(&message(header), signature) {
        return Err(VerifyError::BadSignature);
    }
    let venue_id = i64::from_be_bytes(header[9..17].try_into().map_err(|_| VerifyError::malformed("venue"))?);
    let version =
        u32::from_be_bytes(header[17..21].try_into().map_err(|_| VerifyError::malformed("version"))?);
    if venue_id <= 0 || version == 0 {
        return Err(VerifyError::malformed("venue or version"));
    }
    Ok(PlaceCode { venue_id, version })
}

/// URL-safe base64 without padding; decoding refuses padding and stray bits, so one token has one text.
mod base64_url {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    pub fn encode(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    pub fn decode(text: &str) -> Option<Vec<u8>> {
        URL_SAFE_NO_PAD.decode(text).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Algorithm;

    #[test]
    fn place_codes_verify_and_refuse_forgeries() {
        let key = SigningKey::generate(Algorithm::Ed25519);
        let public = key.public();
        let lookup = |kid: &KeyId| (*kid == public.kid()).then_some(&public);
        let code = PlaceCode { venue_id: 4_321, version: 3 };
        let token = sign_place_code(&key, code);
        assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{token}");
        assert_eq!(verify_place_code(&token, lookup), Ok(code));

        // Another venue or version with the same signature: refused.
        let mut bytes = base64_url::decode(&token).unwrap();
        bytes[16] ^= 1;
        assert_eq!(verify_place_code(&base64_url::encode(&bytes), lookup), Err(VerifyError::BadSignature));
        // Signed by a key the deployment does not know.
        let stranger = sign_place_code(&SigningKey::generate(Algorithm::Ed25519), code);
        assert_eq!(verify_place_code(&stranger, lookup), Err(VerifyError::UnknownKey));
        for junk in ["", "abc", "!!!!", &"A".repeat(300), &token[..20]] {
            assert!(matches!(verify_place_code(junk, lookup), Err(VerifyError::Malformed(_))), "{junk}");
        }
    }

    #[test]
    fn one_token_has_one_text() {
        assert_eq!(base64_url::encode(b"foob"), "Zm9vYg");
        assert!(base64_url::decode("Zm9vYh").is_none(), "non-zero padding bits");
        assert!(base64_url::decode("Zm9vYg==").is_none(), "padding");
    }
}
