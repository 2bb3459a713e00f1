//! The health codes' signatures at the gate, checked in batches: the scans that arrive while a batch
//! is being checked are checked together next (one multi-scalar multiplication, about 0.6 of the cost of
//! checking each at 16 or more), the way their visits are committed together. A scan that arrives alone
//! is checked alone, at once.

use sentinel_credential::{Signed, Verified, VerifyError, verify_signatures};
use tokio::sync::{mpsc, oneshot};

use crate::batches::spawn_batches;
use crate::error::{ApiError, ApiResult};

/// Most signatures in one batch: past 16–32 the saving no longer grows, and a batch of 32 holds a
/// runtime thread for about a millisecond.
const MAX_BATCH: usize = 32;

struct Job {
    signed: Signed,
    reply: oneshot::Sender<Result<Verified, VerifyError>>,
}

#[derive(Clone)]
pub struct SignatureChecker {
    jobs: mpsc::Sender<Job>,
}

/// Checks one batch and answers each scan in it.
fn check_batch(batch: Vec<Job>) {
    let (signed, replies): (Vec<Signed>, Vec<_>) = batch.into_iter().map(|j| (j.signed, j.reply)).unzip();
    for (reply, checked) in replies.into_iter().zip(verify_signatures(signed)) {
        let _ = reply.send(checked);
    }
}

impl SignatureChecker {
    /// Starts the checker on the current runtime. At most `parallel` batches are checked at once; while
    /// they are, the next scans gather into the next batch (so fewer slots than cores make batches: on
    /// two cores, one slot gathered 3–7 signatures a batch under full load, two slots 1.1).
    pub fn start(parallel: usize) -> Self {
        let (jobs, rx) = mpsc::channel::<Job>(16 * MAX_BATCH);
        spawn_batches(rx, MAX_BATCH, parallel, |batch| async move { check_batch(batch) });
        Self { jobs }
    }

    /// `signed`, its signature checked. Fails (503: the device sends the scan again) only if a check was
    /// dropped unanswered, which takes a panic or a shutdown: the code is then neither accepted nor
    /// refused in the resident's name.
    pub async fn check(&self, signed: Signed) -> ApiResult<Result<Verified, VerifyError>> {
        let (reply, answer) = oneshot::channel();
        if let Err(mpsc::error::SendError(job)) = self.jobs.send(Job { signed, reply }).await {
            // The checker stopped (the runtime is shutting down): check here.
            return Ok(job.signed.verify());
        }
        answer.await.map_err(|_| ApiError::unavailable("signature check interrupted"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone, Utc};
    use sentinel_core::health::{Colour, NatOutcome};
    use sentinel_credential::{
        Algorithm, CredentialKind, HealthClaims, SigningKey, StatusSnapshot, TokenId, TrustList, TrustedKey,
        Verifier, envelope, issue,
    };
    use std::collections::HashSet;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_checks_answer_each_scan_for_its_own_code() {
        let key = SigningKey::generate(Algorithm::Ed25519);
        let t0 = Utc.with_ymd_and_hms(2026, 11, 27, 8, 0, 0).unwrap();
        let trust = TrustList::new([TrustedKey { key: key.public(), not_before: t0, not_after: None }]);
        let revoked: HashSet<TokenId> = HashSet::new();
        let verifier = Verifier { trust: &trust, revocations: &revoked, skew: Duration::seconds(30) };
        let checker = SignatureChecker::start(2);
        let mut tasks = Vec::new();
        for i in 0..300u32 {
            let claims = HealthClaims {
                issuer: "test".into(),
                subject: format!("p{i}"),
                token_id: TokenId::random(),
                issued_at: t0,
                expires_at: t0 + Duration::seconds(120),
                kind: CredentialKind::Dynamic,
                status: StatusSnapshot {
                    colour: Colour::Green,
                    nat_sampled_at: Some(t0),
                    nat_outcome: Some(NatOutcome::Negative),
                    vaccine_doses: 2,
                    itinerary_risk: false,
                },
            };
            // Every seventh code has a byte of its signed payload changed after signing: a forgery that
            // only the signature equation itself refuses (its encoding stays well-formed).
            let forged = i % 7 == 3;
            let mut token = issue(&key, &claims);
            if forged {
                let mut cose = envelope::open(&token).unwrap();
                let in_payload = cose.len() - 64 - 2 - 20;
                cose[in_payload] ^= 0x01;
                token = envelope::seal(&cose);
            }
            let signed = verifier.open(&token).unwrap_or_else(|e| panic!("{i}: {e}"));
            let checker = checker.clone();
            tasks
                .push(tokio::spawn(async move { (i, forged, checker.check(signed).await.unwrap().is_ok()) }));
        }
        for task in tasks {
            let (i, forged, valid) = task.await.unwrap();
            assert_eq!(valid, !forged, "scan {i}");
        }
    }
}
