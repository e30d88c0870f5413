//! Store errors, with unique and check violations surfaced by constraint name.

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint was violated (constraint name).
    #[error("conflict on {0}")]
    Conflict(String),
    /// A check or foreign-key constraint refused the row (constraint name).
    #[error("constraint {0} refused the row")]
    Constraint(String),
    /// The row does not exist.
    #[error("not found")]
    NotFound,
    /// Migrations failed.
    #[error("migration failed: {0}")]
    Migration(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::RowNotFound = e {
            return Self::NotFound;
        }
        if let Some(db) = e.as_database_error() {
            let name = db.constraint().unwrap_or("unknown").to_owned();
            match db.code().as_deref() {
                Some("23505") => return Self::Conflict(name),
                Some("23514") | Some("23503") | Some("23502") => return Self::Constraint(name),
                _ => {}
            }
        }
        Self::Database(e)
    }
}
