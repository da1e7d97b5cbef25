//! Password hashing with bcrypt, off the async runtime and with bounded parallelism, so a login
//! storm cannot starve request handling; unknown users are checked against a dummy hash so they
//! cost the same time as wrong passwords.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::error::Error;

/// Shortest accepted new password, in bytes.
pub const MIN_PASSWORD_BYTES: usize = 12;
/// Longest accepted new password: bcrypt reads at most 72 bytes, its NUL terminator included.
pub const MAX_PASSWORD_BYTES: usize = 71;

/// Hashes and verifies passwords.
#[derive(Clone)]
pub struct PasswordHasher {
    cost: u32,
    permits: Arc<Semaphore>,
    dummy_hash: Arc<str>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("cost", &self.cost)
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// A hasher for `cost` (validated by the configuration: 10–16). Computes the dummy hash, so
    /// call it at start-up (it blocks for one hash).
    pub fn new(cost: u32) -> Result<Self, Error> {
        let mut random = [0u8; 32];
        rand::fill(&mut random[..]);
        let dummy_hash = bcrypt::non_truncating_hash(hex::encode(random), cost)
            .map_err(|e| Error::Crypto(format!("bcrypt: {e}")))?;
        // One core stays free for the runtime: bcrypt is pure CPU.
        let parallel = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .saturating_sub(1)
            .max(1);
        Ok(Self {
            cost,
            permits: Arc::new(Semaphore::new(parallel)),
            dummy_hash: dummy_hash.into(),
        })
    }

    /// The bcrypt cost of new hashes.
    pub fn cost(&self) -> u32 {
        self.cost
    }

    /// Hashes a new password (validated with [`validate_new_password`] first).
    pub async fn hash(&self, password: &str) -> Result<String, Error> {
        validate_new_password(password)?;
        let password = password.to_owned();
        let cost = self.cost;
        self.blocking(move || {
            bcrypt::non_truncating_hash(password, cost)
                .map_err(|e| Error::Crypto(format!("bcrypt: {e}")))
        })
        .await?
    }

    /// Whether `password` matches `hash`; with no hash (unknown user) a dummy hash is checked
    /// so the answer takes as long, and is `false`.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, Error> {
        let real = hash.is_some();
        let hash = hash.map_or_else(|| self.dummy_hash.to_string(), str::to_owned);
        // Longer passwords were never accepted: check the dummy to spend the same time.
        let (password, hash, possible) = if password.len() > MAX_PASSWORD_BYTES {
            (
                password[..]
                    .bytes()
                    .take(MAX_PASSWORD_BYTES)
                    .collect::<Vec<u8>>(),
                self.dummy_hash.to_string(),
                false,
            )
        } else {
            (password.as_bytes().to_vec(), hash, real)
        };
        let matched = self
            .blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
            .await?;
        Ok(matched && possible)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Error> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| Error::Crypto("password hasher closed".into()))?;
        tokio::task::spawn_blocking(move || {
            lower_thread_priority();
            work()
        })
        .await
        .map_err(|e| Error::Crypto(format!("password hashing task: {e}")))
    }
}

/// Hashing threads run at a lower CPU priority (nice 10) than the runtime's workers, so under a
/// login storm the scheduler still runs request handling first. Linux nice values are per
/// thread; the blocking-pool thread keeps the lower priority afterwards (raising it back needs
/// privileges), which only matters for other blocking work, of which this server has little.
fn lower_thread_priority() {
    #[cfg(target_os = "linux")]
    {
        const HASHING_NICE: libc::c_int = 10;
        // SAFETY: gettid and setpriority take and return plain integers and touch no memory.
        unsafe {
            let tid = libc::gettid();
            if libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t) < HASHING_NICE {
                libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, HASHING_NICE);
            }
        }
    }
}

/// Checks a new password: 12–71 bytes, no NUL.
pub fn validate_new_password(password: &str) -> Result<(), Error> {
    if password.len() < MIN_PASSWORD_BYTES || password.len() > MAX_PASSWORD_BYTES {
        return Err(Error::InvalidRequest(format!(
            "password: must be {MIN_PASSWORD_BYTES}-{MAX_PASSWORD_BYTES} bytes"
        )));
    }
    if password.contains('\0') {
        return Err(Error::InvalidRequest(
            "password: must not contain NUL".into(),
        ));
    }
    Ok(())
}

/// A random password for generated accounts (`serve --dev`): 24 alphanumerics.
pub fn generate_password() -> String {
    use rand::Rng as _;
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(24)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hasher = PasswordHasher::new(10).unwrap();
        let hash = hasher.hash("correct horse battery").await.unwrap();
        assert!(hash.starts_with("$2b$10$"));
        assert!(!hash.contains("correct horse"));
        assert!(
            hasher
                .verify("correct horse battery", Some(&hash))
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify("correct horse batterx", Some(&hash))
                .await
                .unwrap()
        );
        assert!(!hasher.verify("correct horse battery", None).await.unwrap());
    }

    #[tokio::test]
    async fn a_password_longer_than_bcrypt_reads_never_matches() {
        let hasher = PasswordHasher::new(10).unwrap();
        let base = "p".repeat(MAX_PASSWORD_BYTES);
        let hash = hasher.hash(&base).await.unwrap();
        let longer = format!("{base}and more");
        assert!(!hasher.verify(&longer, Some(&hash)).await.unwrap());
        assert!(hasher.hash(&longer).await.is_err());
    }

    #[tokio::test]
    async fn unknown_users_cost_about_as_much_as_wrong_passwords() {
        let hasher = PasswordHasher::new(10).unwrap();
        let hash = hasher.hash("the real password").await.unwrap();
        let time = |h: Option<String>| {
            let hasher = hasher.clone();
            async move {
                let started = std::time::Instant::now();
                for _ in 0..3 {
                    hasher
                        .verify("a wrong password", h.as_deref())
                        .await
                        .unwrap();
                }
                started.elapsed().as_secs_f64()
            }
        };
        let known = time(Some(hash)).await;
        let unknown = time(None).await;
        let ratio = known.max(unknown) / known.min(unknown);
        assert!(ratio < 2.0, "known {known:.3}s vs unknown {unknown:.3}s");
    }

    #[test]
    fn new_passwords_are_length_checked() {
        assert!(validate_new_password("short").is_err());
        assert!(validate_new_password(&"x".repeat(72)).is_err());
        assert!(validate_new_password("long enough password").is_ok());
        assert_eq!(generate_password().len(), 24);
    }
}
