//! Users: email unique case-insensitively, Argon2id password hash, status.

use chrono::{DateTime, Utc};
use portico_core::account::UserStatus;
use sqlx::PgExecutor;

use crate::StoreError;

/// A user row.
#[derive(Clone, sqlx::FromRow)]
pub struct User {
    /// `usr_<ULID>`.
    pub id: String,
    /// Email as given (compared case-insensitively).
    pub email: String,
    /// Display name.
    pub name: Option<String>,
    /// Argon2id PHC string, when the user has a password.
    pub password_hash: Option<String>,
    /// Whether the user may sign in.
    #[sqlx(try_from = "String")]
    pub status: UserStatus,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl User {
    /// True unless the user is disabled.
    pub fn is_active(&self) -> bool {
        self.status == UserStatus::Active
    }
}

const COLS: &str = "id, email, name, password_hash, status, created_at";

/// Inserts a user.
pub async fn insert(
    db: impl PgExecutor<'_>,
    id: &str,
    email: &str,
    name: Option<&str>,
    password_hash: Option<&str>,
) -> Result<User, StoreError> {
    Ok(sqlx::query_as::<_, User>(&format!(
        "INSERT INTO users (id, email, name, password_hash) VALUES ($1, $2, $3, $4) RETURNING {COLS}"
    ))
    .bind(id)
    .bind(email)
    .bind(name)
    .bind(password_hash)
    .fetch_one(db)
    .await?)
}

/// Finds a user by id.
pub async fn by_id(db: impl PgExecutor<'_>, id: &str) -> Result<Option<User>, StoreError> {
    Ok(
        sqlx::query_as::<_, User>(&format!("SELECT {COLS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(db)
            .await?,
    )
}

/// Finds a user by email, case-insensitively.
pub async fn by_email(db: impl PgExecutor<'_>, email: &str) -> Result<Option<User>, StoreError> {
    Ok(
        sqlx::query_as::<_, User>(&format!("SELECT {COLS} FROM users WHERE lower(email) = lower($1)"))
            .bind(email)
            .fetch_optional(db)
            .await?,
    )
}

/// Sets a user's status.
pub async fn set_status(db: impl PgExecutor<'_>, id: &str, status: UserStatus) -> Result<(), StoreError> {
    let r = sqlx::query("UPDATE users SET status = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(status.as_str())
        .execute(db)
        .await?;
    if r.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
