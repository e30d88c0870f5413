//! Directory sync (SCIM 2.0): directories, the users and groups they push, group memberships,
//! and the SCIM filter compiled to parameterised SQL.

pub mod access;
pub mod directories;
pub mod filter;
pub mod groups;
pub mod users;

pub use filter::{Bind, FilterError, Kind, SqlFilter};

/// Binds `binds` in order onto a query whose other placeholders come first.
pub(crate) fn bind_all<'q, O>(
    mut q: sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>,
    binds: &'q [Bind],
) -> sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments> {
    for b in binds {
        q = match b {
            Bind::Text(s) => q.bind(s.as_str()),
            Bind::Bool(v) => q.bind(*v),
            Bind::Time(t) => q.bind(*t),
        };
    }
    q
}

/// [`bind_all`] for scalar queries.
pub(crate) fn bind_all_scalar<'q, O>(
    mut q: sqlx::query::QueryScalar<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>,
    binds: &'q [Bind],
) -> sqlx::query::QueryScalar<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments> {
    for b in binds {
        q = match b {
            Bind::Text(s) => q.bind(s.as_str()),
            Bind::Bool(v) => q.bind(*v),
            Bind::Time(t) => q.bind(*t),
        };
    }
    q
}
