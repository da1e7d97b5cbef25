//! Committing an action together with its audit row.
//!
//! The audit writer commits in its own transaction, so the two cannot be one atomic commit.
//! The order makes failures safe: the action's writes stay uncommitted while the audit row is
//! written; if the audit log cannot record, the action is rolled back and the request fails
//! (fail closed). The remaining window — audit row committed, then the action's own COMMIT
//! fails — leaves an audit row for an action that did not happen, never the reverse; it is
//! logged at ERROR.

use sqlx::{Postgres, Transaction};

use crate::audit::{Audit, AuditEvent, AuditReceipt};
use crate::error::Error;

/// Records `event`, then commits `tx`; rolls `tx` back when the event cannot be recorded.
pub async fn commit_with_audit(
    tx: Transaction<'_, Postgres>,
    audit: &Audit,
    event: AuditEvent,
) -> Result<AuditReceipt, Error> {
    let action = event.action.clone();
    match audit.record(event).await {
        Ok(receipt) => {
            if let Err(e) = tx.commit().await {
                tracing::error!(
                    error = %e, %action, audit_id = receipt.id,
                    "action recorded in the audit log but its commit failed"
                );
                return Err(e.into());
            }
            Ok(receipt)
        }
        Err(e) => {
            if let Err(rollback) = tx.rollback().await {
                tracing::warn!(error = %rollback, "rollback after audit failure");
            }
            Err(e)
        }
    }
}
