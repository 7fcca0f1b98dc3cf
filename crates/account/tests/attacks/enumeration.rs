//! Item 2: user-ID enumeration (R-LOG-5).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::common::{Fx, refusal};
use lockstep_account::{
    Authenticator, EventKind, LoginTicket, MemoryDirectory, Outcome, Refusal, SessionToken,
    StoreError, TokenDirectory, TokenSeed,
};
use lockstep_otp::CredentialId;
use lockstep_password::{Password, PasswordHasher};

/// A directory that counts its lookups.
#[derive(Debug, Default)]
struct CountingDirectory {
    inner: MemoryDirectory,
    lookups: AtomicUsize,
}

impl TokenDirectory for CountingDirectory {
    async fn seed(&self, id: &CredentialId) -> Result<Option<TokenSeed>, StoreError> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.inner.seed(id).await
    }
}

/// Item 2: every input has its unknown-user mirror. With a bad ticket, an
/// unknown and a known user ID get the same answer, and no token is looked
/// up for either (the ticket is checked first).
#[tokio::test]
async fn otp_stage_inputs_answer_alike_for_unknown_and_known_ids() {
    let fx = Fx::new();
    let (id, _) = fx.ready("known", 1, "Owner123").await;
    let directory = Arc::new(CountingDirectory::default());
    let auth = Authenticator::builder(Arc::clone(&fx.store), Arc::clone(&directory))
        .hasher(Arc::clone(&fx.hasher) as Arc<dyn PasswordHasher>)
        .clock(Arc::new(fx.clock.clone()))
        .build()
        .unwrap();
    let bad = LoginTicket::from_bytes([3; 16]);
    let session = SessionToken::from_bytes([3; 16]);
    let pw = Password::from("Owner123");
    for user in ["known", "nobody"] {
        let answers = [
            auth.submit_otp(user, &bad, "123456").await.unwrap(),
            auth.enroll(user, &bad, id.as_str(), "123456", "234567")
                .await
                .unwrap(),
            auth.resync(user, &bad, "123456", "234567").await.unwrap(),
            auth.change_password(user, &bad, &pw, &pw).await.unwrap(),
            auth.change_password_logged_in(user, &session, &pw, &pw, &pw)
                .await
                .unwrap(),
        ];
        for r in answers {
            assert_eq!(
                format!("{:?}", r.outcome),
                format!("{:?}", Outcome::Refused(Refusal::InvalidTicket)),
                "{user}"
            );
        }
    }
    assert_eq!(
        directory.lookups.load(Ordering::SeqCst),
        0,
        "no token looked up"
    );
}

/// The unknown-user audit event keeps a bounded prefix of what was typed.
#[tokio::test]
async fn the_audited_unknown_id_is_bounded() {
    let fx = Fx::new();
    let huge = "あ".repeat(100_000);
    let r = fx.password(&huge, "Wrong999").await;
    assert_eq!(r.events[0].kind, EventKind::UnknownUser);
    assert!(
        r.events[0].user_id.len() <= 64,
        "{}",
        r.events[0].user_id.len()
    );
    assert!(huge.starts_with(&r.events[0].user_id));
}

/// A stored hash at a cheaper, older cost is padded with a verification at
/// the configured cost until it is rehashed, so it does not answer faster.
#[tokio::test]
async fn an_older_cheaper_hash_is_padded_to_the_configured_cost() {
    let fx = Fx::new();
    fx.ready("u1", 1, "Owner123").await;
    fx.plant_older_hash("u1", "Owner123").await;
    let before = fx.hasher.verifies.load(Ordering::SeqCst);
    let r = fx.password("u1", "Wrong999").await;
    assert_eq!(refusal(&r), Some(&Refusal::InvalidCredentials));
    assert_eq!(fx.hasher.verifies.load(Ordering::SeqCst) - before, 1);
    assert_eq!(
        fx.hasher.pads.load(Ordering::SeqCst),
        1,
        "the stored hash, then padding up to the configured cost"
    );
}

// ------------------------------------------------------------ 3. count first
