//! Revoked token ids (`revoked_tokens` table): logout, honoured by every replica.

use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::Error;

/// Revokes `jti` until `expires_at` (after which the token is refused as expired anyway), and
/// forgets revocations whose tokens have expired. Whether `jti` was newly revoked.
pub async fn revoke(
    conn: &mut PgConnection,
    jti: Uuid,
    expires_at: OffsetDateTime,
) -> Result<bool, Error> {
    sqlx::query("DELETE FROM revoked_tokens WHERE expires_at < now() - interval '1 hour'")
        .execute(&mut *conn)
        .await?;
    let done = sqlx::query(
        "INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(jti)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether `jti` is revoked.
pub async fn is_revoked(conn: &mut PgConnection, jti: Uuid) -> Result<bool, Error> {
    Ok(
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = $1)")
            .bind(jti)
            .fetch_one(conn)
            .await?,
    )
}
