//! `portico keys rotate`: re-seal every stored secret with the current key, in one transaction.

use portico_core::secretbox::{SecretBox, Slot};
use portico_store::{sealed, PgPool};
use secrecy::ExposeSecret;

use crate::error::ApiError;

/// Re-seals every value not sealed with the current key; returns how many were re-sealed.
pub async fn rotate(db: &PgPool, secrets: &SecretBox) -> Result<u64, ApiError> {
    let mut tx = db.begin().await?;
    let mut count = 0;
    for (table, column) in sealed::SEALED_COLUMNS {
        for (id, value) in sealed::lock_all(&mut *tx, table, column).await? {
            if secrets.is_current(&value) {
                continue;
            }
            let slot = Slot {
                table,
                row: &id,
                column,
            };
            let plain = secrets.open(&value, slot)?;
            let resealed = secrets.seal(plain.expose_secret(), slot)?;
            sealed::replace(&mut *tx, table, column, &id, &resealed).await?;
            count += 1;
        }
    }
    tx.commit().await?;
    Ok(count)
}
