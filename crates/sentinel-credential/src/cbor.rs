//! The verification path's own reader for the two CBOR structures it meets: the COSE_Sign1 envelope
//! and the claims map. Generic CBOR trees cost more than the rest of decoding together; these readers
//! borrow from the input, allocate only the strings they return, refuse indefinite lengths and nest at
//! most a few levels deep. Issuing still encodes through `coset`, and the tests check both agree.

use chrono::{DateTime, TimeZone, Utc};
use sentinel_core::health::{Colour, NatOutcome};

use crate::VerifyError;
use crate::claims::{
    CLAIM_KIND, CLAIM_STATUS, CredentialKind, HealthClaims, S_COLOUR, S_DOSES, S_ITINERARY, S_NAT_OUTCOME,
    S_NAT_SAMPLED, StatusSnapshot, TokenId,
};

const MAX_DEPTH: u8 = 4;
/// CBOR tag of COSE_Sign1 (optional in front of the array).
const TAG_SIGN1: u64 = 18;

fn bad(what: &str) -> VerifyError {
    VerifyError::Malformed(format!("CBOR: {what}"))
}

/// One data item's head: major type and argument.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn byte(&mut self) -> Result<u8, VerifyError> {
        let b = *self.buf.get(self.pos).ok_or_else(|| bad("truncated"))?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], VerifyError> {
        let n = usize::try_from(n).map_err(|_| bad("length"))?;
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len()).ok_or_else(|| bad("truncated"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn head(&mut self) -> Result<(u8, u64), VerifyError> {
        let b = self.byte()?;
        let (major, info) = (b >> 5, b & 0x1f);
        let arg = match info {
            0..=23 => u64::from(info),
            24 => u64::from(self.byte()?),
            25 => u64::from(u16::from_be_bytes(self.take(2)?.try_into().map_err(|_| bad("u16"))?)),
            26 => u64::from(u32::from_be_bytes(self.take(4)?.try_into().map_err(|_| bad("u32"))?)),
            27 => u64::from_be_bytes(self.take(8)?.try_into().map_err(|_| bad("u64"))?),
            _ => return Err(bad("indefinite or reserved length")),
        };
        Ok((major, arg))
    }

    fn int(&mut self) -> Result<i64, VerifyError> {
        match self.head()? {
            (0, n) => i64::try_from(n).map_err(|_| bad("integer range")),
            (1, n) => i64::try_from(n).map(|n| -1 - n).map_err(|_| bad("integer range")),
            _ => Err(bad("expected an integer")),
        }
    }

    fn bytes(&mut self) -> Result<&'a [u8], VerifyError> {
        match self.head()? {
            (2, n) => self.take(n),
            _ => Err(bad("expected a byte string")),
        }
    }

    fn text(&mut self) -> Result<&'a str, VerifyError> {
        match self.head()? {
            (3, n) => std::str::from_utf8(self.take(n)?).map_err(|_| bad("text not UTF-8")),
            _ => Err(bad("expected a text string")),
        }
    }

    fn map(&mut self) -> Result<u64, VerifyError> {
        match self.head()? {
            (5, n) => Ok(n),
            _ => Err(bad("expected a map")),
        }
    }

    fn bool(&mut self) -> Result<bool, VerifyError> {
        match self.byte()? {
            0xf4 => Ok(false),
            0xf5 => Ok(true),
            _ => Err(bad("expected a boolean")),
        }
    }

    /// Skips one item of any type (for entries this reader does not use).
    fn skip(&mut self, depth: u8) -> Result<(), VerifyError> {
        if depth > MAX_DEPTH {
            return Err(bad("nested too deeply"));
        }
        match self.head()? {
            (0 | 1 | 7, _) => Ok(()),
            (2 | 3, n) => self.take(n).map(|_| ()),
            (4, n) => (0..n).try_for_each(|_| self.skip(depth + 1)),
            (5, n) => (0..n).try_for_each(|_| self.skip(depth + 1).and_then(|_| self.skip(depth + 1))),
            (6, _) => self.skip(depth + 1),
            _ => Err(bad("unknown major type")),
        }
    }

    fn end(&self) -> Result<(), VerifyError> {
        if self.pos == self.buf.len() { Ok(()) } else { Err(bad("trailing bytes")) }
    }
}

/// The parts of a COSE_Sign1 the verifier needs, borrowed from the input.
pub struct Sign1<'a> {
    pub protected: &'a [u8],
    pub alg: Option<i64>,
    pub kid: Option<&'a [u8]>,
    pub payload: &'a [u8],
    pub signature: &'a [u8],
}

impl<'a> Sign1<'a> {
    pub fn parse(buf: &'a [u8]) -> Result<Self, VerifyError> {
        let mut r = Reader::new(buf);
        let mut head = r.head()?;
        if head == (6, TAG_SIGN1) {
            head = r.head()?;
        }
        if head != (4, 4) {
            return Err(bad("COSE_Sign1 is an array of four"));
        }
        let protected = r.bytes()?;
        let unprotected = r.map()?;
        for _ in 0..unprotected {
            r.skip(1)?;
            r.skip(1)?;
        }
        let payload = r.bytes()?;
        let signature = r.bytes()?;
        r.end()?;
        let (mut alg, mut kid) = (None, None);
        if !protected.is_empty() {
            let mut h = Reader::new(protected);
            for _ in 0..h.map()? {
                match h.int() {
                    Ok(1) => alg = Some(h.int()?),
                    Ok(4) => kid = Some(h.bytes()?),
                    Ok(_) => h.skip(1)?,
                    Err(_) => return Err(bad("protected header label")),
                }
            }
            h.end()?;
        }
        Ok(Sign1 { protected, alg, kid, payload, signature })
    }

    /// The COSE Sig_structure the signature covers: ["Signature1", protected, h'', payload].
    pub fn to_be_signed(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.protected.len() + self.payload.len() + 24);
        out.push(0x84);
        out.push(0x6a);
        out.extend_from_slice(b"Signature1");
        put_bytes(&mut out, self.protected);
        out.push(0x40);
        put_bytes(&mut out, self.payload);
        out
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    let n = b.len() as u64;
    match n {
        0..=23 => out.push(0x40 | n as u8),
        24..=0xff => out.extend_from_slice(&[0x58, n as u8]),
        0x100..=0xffff => {
            out.push(0x59);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        _ => {
            out.push(0x5a);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        }
    }
    out.extend_from_slice(b);
}

fn seconds(v: i64, what: &str) -> Result<DateTime<Utc>, VerifyError> {
    Utc.timestamp_opt(v, 0).single().ok_or_else(|| bad(what))
}

/// Reads the CWT claims map into [`HealthClaims`].
pub fn parse_claims(buf: &[u8]) -> Result<HealthClaims, VerifyError> {
    let mut r = Reader::new(buf);
    let (mut issuer, mut subject, mut token_id, mut iat, mut exp, mut kind, mut status) =
        (None, None, None, None, None, None, None);
    for _ in 0..r.map()? {
        match r.int()? {
            1 => issuer = Some(r.text()?.to_owned()),
            2 => subject = Some(r.text()?.to_owned()),
            4 => exp = Some(seconds(r.int()?, "exp")?),
            6 => iat = Some(seconds(r.int()?, "iat")?),
            7 => token_id = Some(TokenId::from_slice(r.bytes()?).ok_or_else(|| bad("token id"))?),
            CLAIM_KIND => {
                kind = Some(match r.int()? {
                    1 => CredentialKind::Dynamic,
                    2 => CredentialKind::Paper,
                    _ => return Err(bad("kind")),
                })
            }
            CLAIM_STATUS => status = Some(parse_status(&mut r)?),
            _ => r.skip(1)?,
        }
    }
    r.end()?;
    Ok(HealthClaims {
        issuer: issuer.ok_or_else(|| bad("issuer missing"))?,
        subject: subject.ok_or_else(|| bad("subject missing"))?,
        token_id: token_id.ok_or_else(|| bad("token id missing"))?,
        issued_at: iat.ok_or_else(|| bad("iat missing"))?,
        expires_at: exp.ok_or_else(|| bad("exp missing"))?,
        kind: kind.ok_or_else(|| bad("kind missing"))?,
        status: status.ok_or_else(|| bad("status missing"))?,
    })
}

fn parse_status(r: &mut Reader<'_>) -> Result<StatusSnapshot, VerifyError> {
    let (mut colour, mut sampled, mut outcome, mut doses, mut risk) = (None, None, None, None, None);
    for _ in 0..r.map()? {
        match r.int()? {
            S_COLOUR => {
                colour = Some(match r.int()? {
                    1 => Colour::Green,
                    2 => Colour::Yellow,
                    3 => Colour::Red,
                    _ => return Err(bad("colour")),
                })
            }
            S_NAT_SAMPLED => sampled = Some(seconds(r.int()?, "NAT time")?),
            S_NAT_OUTCOME => {
                outcome = Some(match r.int()? {
                    0 => NatOutcome::Negative,
                    1 => NatOutcome::Positive,
                    _ => return Err(bad("NAT outcome")),
                })
            }
            S_DOSES => doses = Some(u8::try_from(r.int()?).map_err(|_| bad("doses"))?),
            S_ITINERARY => risk = Some(r.bool()?),
            _ => r.skip(2)?,
        }
    }
    Ok(StatusSnapshot {
        colour: colour.ok_or_else(|| bad("colour missing"))?,
        nat_sampled_at: sampled,
        nat_outcome: outcome,
        vaccine_doses: doses.ok_or_else(|| bad("doses missing"))?,
        itinerary_risk: risk.ok_or_else(|| bad("itinerary flag missing"))?,
    })
}
