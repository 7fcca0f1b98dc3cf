//! The heavy work of a step — every Argon2 run — as one job, run in one
//! turn on the driver's offload hook; and the guard that makes a counted
//! attempt pay for its hash even when its caller goes away.

use lockstep_password::{Context, HashError, History, Password, PasswordHash, Violations};

use super::{Deps, OwedWork};

/// What a step hashes.
#[derive(Clone)]
pub(super) enum Job<'a> {
    /// The dummy hash, for the work alone: an unknown or locked user ID
    /// costs what a wrong password costs (R-LOG-5).
    Dummy(&'a Password),
    /// A password against the stored hash, padded up to the configured
    /// cost when the stored one is cheaper; when it matches and is due for
    /// a rehash, the fresh hash too (in this same turn).
    Verify {
        password: &'a Password,
        stored: PasswordHash,
    },
    /// A new password: the current one first when one is given (the
    /// voluntary change; nothing more when it does not match), then the
    /// rules with the history when given (R-PWD-1, R-PWD-2, R-PWD-3, R-PWD-4,
    /// R-PWD-5, R-PWD-7), then its hash.
    NewPassword(NewPassword<'a>),
}

/// What a [`Job::NewPassword`] checks.
#[derive(Clone)]
pub(super) struct NewPassword<'a> {
    pub(super) current: Option<(&'a Password, PasswordHash)>,
    pub(super) new: &'a Password,
    pub(super) confirmation: Option<&'a Password>,
    pub(super) history: Option<Vec<PasswordHash>>,
    pub(super) user_name: String,
    pub(super) user_id: String,
}

/// What a job found.
#[derive(Clone)]
pub(super) enum Hashed {
    Dummy,
    Verified {
        matched: bool,
        fresh: Option<PasswordHash>,
    },
    NewPassword {
        /// `false` when the current password given was wrong (and nothing
        /// else was checked).
        current_matched: bool,
        /// The new password's hash, or every rule it breaks.
        new: Option<Result<PasswordHash, Violations>>,
    },
}

impl Job<'_> {
    /// Runs the job. `salt` is for a hash made here.
    pub(super) fn run(&self, deps: &Deps<'_>, salt: &[u8; 16]) -> Result<Hashed, HashError> {
        match self {
            Self::Dummy(password) => {
                dummy_verify(password, deps);
                Ok(Hashed::Dummy)
            }
            Self::Verify { password, stored } => {
                let matched = verify(password, stored, deps)?;
                let fresh = if matched && deps.hasher.needs_rehash(stored) {
                    Some(deps.hasher.hash_with_salt(password, salt)?)
                } else {
                    None
                };
                Ok(Hashed::Verified { matched, fresh })
            }
            Self::NewPassword(job) => job.run(deps, salt),
        }
    }
}

impl NewPassword<'_> {
    fn run(&self, deps: &Deps<'_>, salt: &[u8; 16]) -> Result<Hashed, HashError> {
        if let Some((current, stored)) = &self.current
            && !verify(current, stored, deps)?
        {
            return Ok(Hashed::NewPassword {
                current_matched: false,
                new: None,
            });
        }
        let context = Context {
            user_name: Some(&self.user_name),
            user_id: Some(&self.user_id),
            confirmation: self.confirmation,
            history: self.history.as_deref().map(|hashes| History {
                hasher: deps.hasher,
                hashes,
            }),
        };
        let new = match deps.policy.validate(self.new, &context) {
            Err(violations) => Err(violations),
            Ok(()) => Ok(deps.hasher.hash_with_salt(self.new, salt)?),
        };
        Ok(Hashed::NewPassword {
            current_matched: true,
            new: Some(new),
        })
    }
}

/// Verifies `password` against the configured-cost dummy hash, for the
/// work alone. An oversized password is replaced by an empty one, so the
/// work stays the same.
fn dummy_verify(password: &Password, deps: &Deps<'_>) {
    let empty = Password::new(String::new());
    let p = if password.expose().len() > deps.config.max_password_bytes {
        &empty
    } else {
        password
    };
    // The result is irrelevant; the work is the point.
    let _ = deps.hasher.verify(p, deps.dummy);
}

/// A password against a stored hash: oversized input is not hashed (the
/// dummy is verified instead, for the same work); a stored hash made at a
/// cheaper cost is followed by the hasher's padding up to its configured
/// cost, so that it never answers faster (R-LOG-5).
fn verify(password: &Password, stored: &PasswordHash, deps: &Deps<'_>) -> Result<bool, HashError> {
    if password.expose().len() > deps.config.max_password_bytes {
        dummy_verify(password, deps);
        return Ok(false);
    }
    let matched = deps.hasher.verify(password, stored)?;
    if deps.hasher.needs_rehash(stored) {
        deps.hasher.pad_to_cost(password, stored);
    }
    Ok(matched)
}

/// A hash a counted attempt still owes: if the value holding it is dropped
/// before the hash ran — the caller went away while the attempt's write or
/// its turn on the hook was pending — the hash runs as it is dropped,
/// inline, so that an attempt that stays and one that leaves cost the
/// same. The count was (or may have been) written; the work is done either
/// way. A hash not owed ([`Owed::none`]) does nothing on drop.
pub(super) struct Owed<'a> {
    job: Option<(Job<'a>, Deps<'a>)>,
}

impl<'a> Owed<'a> {
    pub(super) const fn none() -> Self {
        Self { job: None }
    }

    pub(super) const fn of(job: Job<'a>, deps: Deps<'a>) -> Self {
        Self {
            job: Some((job, deps)),
        }
    }

    /// Takes the job out: nothing runs on drop any more.
    pub(super) fn take(mut self) -> Option<Job<'a>> {
        self.job.take().map(|(job, _)| job)
    }

    /// Whether a hash is owed.
    pub(super) const fn is_owed(&self) -> bool {
        self.job.is_some()
    }
}

impl Job<'_> {
    /// The work this job owes, owned: the verification it would do first.
    fn owed_work(&self) -> Option<OwedWork> {
        let (password, against) = match self {
            Self::Dummy(password) => (password, None),
            Self::Verify { password, stored } => (password, Some(stored.clone())),
            Self::NewPassword(NewPassword {
                current: Some((password, stored)),
                ..
            }) => (password, Some(stored.clone())),
            Self::NewPassword(_) => return None,
        };
        Some(OwedWork {
            password: zeroize::Zeroizing::new(password.expose().to_owned()),
            against,
        })
    }
}

/// Hands the owed hash to the driver's [`Detach`], or runs it here when
/// there is none. Not while unwinding: a panic in a drop would abort.
impl Drop for Owed<'_> {
    fn drop(&mut self) {
        let Some((job, deps)) = self.job.take() else {
            return;
        };
        if std::thread::panicking() {
            return;
        }
        match (deps.detach, job.owed_work()) {
            (Some(detach), Some(work)) => detach.detach(work),
            _ => {
                let _ = job.run(&deps, &[0; 16]);
            }
        }
    }
}
