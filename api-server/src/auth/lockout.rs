//! Brute-force lockout (`lockout_state` table): failures are counted per attempted username, and
//! per source IP when configured, in Postgres and under row locks, so every replica sees the
//! same counters and exactly one failing attempt starts a lock.

use sqlx::PgConnection;
use time::OffsetDateTime;

use crate::config::LockoutPolicy;
use crate::error::Error;

/// What a counter is kept for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The attempted username (known or not, so unknown names behave the same).
    User,
    /// The source IP.
    Ip,
}

impl Scope {
    /// Table and label name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::User => "user",
            Scope::Ip => "ip",
        }
    }
}

/// Result of counting one failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureOutcome {
    /// Failures in the current window after this one (0 once a lock started).
    pub failures: u32,
    /// This failure started a lock.
    pub locked_now: bool,
    /// When the lock (new or existing) ends.
    pub locked_until: Option<OffsetDateTime>,
}

/// Longest key stored (attempted usernames are cut to this).
pub const MAX_KEY_BYTES: usize = 256;

fn key_of(key: &str) -> &str {
    let mut end = key.len().min(MAX_KEY_BYTES);
    while !key.is_char_boundary(end) {
        end -= 1;
    }
    &key[..end]
}

/// Whether any of `keys` is locked now (database time).
pub async fn is_locked(conn: &mut PgConnection, keys: &[(Scope, &str)]) -> Result<bool, Error> {
    let scopes: Vec<&str> = keys.iter().map(|(s, _)| s.as_str()).collect();
    let names: Vec<&str> = keys.iter().map(|(_, k)| key_of(k)).collect();
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM lockout_state s
             JOIN UNNEST($1::text[], $2::text[]) AS k(scope, key) USING (scope, key)
             WHERE s.locked_until > now())",
    )
    .bind(&scopes)
    .bind(&names)
    .fetch_one(conn)
    .await?)
}

/// Like [`is_locked`], locking the counters' rows for the rest of the transaction so a lock
/// another replica starts concurrently is seen.
pub async fn is_locked_for_update(
    conn: &mut PgConnection,
    keys: &[(Scope, &str)],
) -> Result<bool, Error> {
    let mut locked = false;
    for (scope, key) in keys {
        let until: Option<Option<bool>> = sqlx::query_scalar(
            "SELECT locked_until > now() FROM lockout_state WHERE scope = $1 AND key = $2
             FOR UPDATE",
        )
        .bind(scope.as_str())
        .bind(key_of(key))
        .fetch_optional(&mut *conn)
        .await?;
        locked |= until.flatten().unwrap_or(false);
    }
    Ok(locked)
}

/// Counts one failure for `key` under `policy`; starts a lock at `max_attempts` failures
/// within `window`. Runs inside the caller's transaction (the row stays locked until it ends).
pub async fn record_failure(
    conn: &mut PgConnection,
    scope: Scope,
    key: &str,
    policy: &LockoutPolicy,
) -> Result<FailureOutcome, Error> {
    let key = key_of(key);
    sqlx::query("INSERT INTO lockout_state (scope, key) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(scope.as_str())
        .bind(key)
        .execute(&mut *conn)
        .await?;
    let (failures, window_started, locked_until, now): (
        i32,
        OffsetDateTime,
        Option<OffsetDateTime>,
        OffsetDateTime,
    ) = sqlx::query_as(
        "SELECT failures, window_started, locked_until, now() FROM lockout_state
         WHERE scope = $1 AND key = $2 FOR UPDATE",
    )
    .bind(scope.as_str())
    .bind(key)
    .fetch_one(&mut *conn)
    .await?;
    if let Some(until) = locked_until.filter(|until| *until > now) {
        return Ok(FailureOutcome {
            failures: u32::try_from(failures).unwrap_or(0),
            locked_now: false,
            locked_until: Some(until),
        });
    }
    let window = time::Duration::try_from(policy.window).unwrap_or(time::Duration::MAX);
    let (mut failures, mut window_started) = if now - window_started > window {
        (0, now)
    } else {
        (u32::try_from(failures).unwrap_or(0), window_started)
    };
    failures += 1;
    let mut outcome = FailureOutcome {
        failures,
        locked_now: false,
        locked_until: None,
    };
    let mut new_until = None;
    if failures >= policy.max_attempts {
        let duration = time::Duration::try_from(policy.duration).unwrap_or(time::Duration::MAX);
        let until = now.checked_add(duration).unwrap_or(now);
        new_until = Some(until);
        failures = 0;
        window_started = now;
        outcome.locked_now = true;
        outcome.locked_until = Some(until);
    }
    sqlx::query(
        "UPDATE lockout_state SET failures = $3, window_started = $4, locked_until = $5
         WHERE scope = $1 AND key = $2",
    )
    .bind(scope.as_str())
    .bind(key)
    .bind(i32::try_from(failures).unwrap_or(i32::MAX))
    .bind(window_started)
    .bind(new_until)
    .execute(&mut *conn)
    .await?;
    Ok(outcome)
}

/// Forgets the counter (and any lock) of `key`: a successful login or an admin's unlock.
/// Returns whether a lock was active.
pub async fn clear(conn: &mut PgConnection, scope: Scope, key: &str) -> Result<bool, Error> {
    let was_locked: Option<Option<bool>> = sqlx::query_scalar(
        "DELETE FROM lockout_state WHERE scope = $1 AND key = $2
         RETURNING locked_until > now()",
    )
    .bind(scope.as_str())
    .bind(key_of(key))
    .fetch_optional(conn)
    .await?;
    Ok(was_locked.flatten().unwrap_or(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_cut_on_a_character_boundary() {
        let long = "é".repeat(200);
        let key = key_of(&long);
        assert!(key.len() <= MAX_KEY_BYTES);
        assert!(long.starts_with(key));
    }
}
