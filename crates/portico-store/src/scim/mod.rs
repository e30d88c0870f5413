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

/// The rows of `table` (`scim_users` or `scim_groups`, aliased `r`) in directory `dir` matching
/// `filter` (its placeholders start at `$4`), `offset`/`limit` by id, and the total number of
/// matches. `$2` and `$3` keep the numbering of the page query in the count, so one compiled
/// filter serves both statements. `table` and `cols` are this crate's constants, never input.
pub(crate) async fn search<T>(
    db: &sqlx::PgPool,
    table: &'static str,
    cols: &'static str,
    dir: &str,
    filter: Option<&SqlFilter>,
    offset: i64,
    limit: i64,
) -> Result<(i64, Vec<T>), crate::StoreError>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let (cond, binds) = match filter {
        Some(f) => (f.sql.as_str(), f.binds.as_slice()),
        None => ("true", &[][..]),
    };
    let count_sql = format!(
        "SELECT count(*) FROM {table} r WHERE r.directory_id = $1 AND $2::bigint >= 0 AND $3::bigint >= 0 AND ({cond})"
    );
    let q = sqlx::query_scalar::<_, i64>(&count_sql)
        .bind(dir)
        .bind(offset)
        .bind(limit);
    let total = bind_all_scalar(q, binds).fetch_one(db).await?;
    if limit == 0 || total <= offset {
        return Ok((total, Vec::new()));
    }
    let sql =
        format!("SELECT {cols} FROM {table} r WHERE r.directory_id = $1 AND ({cond}) ORDER BY r.id OFFSET $2 LIMIT $3");
    let q = sqlx::query_as::<_, T>(&sql).bind(dir).bind(offset).bind(limit);
    Ok((total, bind_all(q, binds).fetch_all(db).await?))
}

/// A keyset page of `table`'s rows (aliased `r`) in directory `dir`, by id, for the
/// Organization API. `table` and `cols` are this crate's constants, never input.
pub(crate) async fn page<T>(
    db: impl sqlx::PgExecutor<'_>,
    table: &'static str,
    cols: &'static str,
    dir: &str,
    page: &crate::Page,
    id: impl Fn(&T) -> String,
) -> Result<crate::Paged<T>, crate::StoreError>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let rows = sqlx::query_as::<_, T>(&format!(
        "SELECT {cols} FROM {table} r WHERE r.directory_id = $1 AND ($2::text IS NULL OR r.id > $2) ORDER BY r.id LIMIT $3"
    ))
    .bind(dir)
    .bind(page.cursor.as_deref())
    .bind(page.limit + 1)
    .fetch_all(db)
    .await?;
    Ok(crate::Paged::from_overfetch(rows, page.limit, id))
}
