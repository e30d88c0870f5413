//! Keyset pagination over ULID-ordered ids.

/// A page request: at most `limit` rows after `cursor` (an id from the previous page).
#[derive(Clone, Debug)]
pub struct Page {
    /// Rows per page (1..=200).
    pub limit: i64,
    /// The last id of the previous page.
    pub cursor: Option<String>,
}

impl Default for Page {
    fn default() -> Self {
        Self {
            limit: 50,
            cursor: None,
        }
    }
}

/// A page of rows and the cursor of the next page.
#[derive(Clone, Debug)]
pub struct Paged<T> {
    /// The rows.
    pub items: Vec<T>,
    /// Cursor of the next page, if there is one.
    pub next_cursor: Option<String>,
}

impl Page {
    /// The value to bind in an ascending keyset condition `col > $n` on the indexed column: the
    /// previous page's last id, or on the first page the empty string, which sorts before every
    /// id in every collation. One statement shape for every page, and no `$n IS NULL OR …`, which
    /// a generic plan cannot turn into an index range (so the cost of page 1000 is that of page 1).
    pub fn after(&self) -> &str {
        self.cursor.as_deref().unwrap_or("")
    }

    /// The value to bind in a descending keyset condition `col < $n`: the cursor, or `ceiling`, a
    /// value above every id of the listing.
    pub fn before<'a>(&'a self, ceiling: &'a str) -> &'a str {
        self.cursor.as_deref().unwrap_or(ceiling)
    }
}

impl<T> Paged<T> {
    /// Builds a page from `limit + 1` fetched rows, `id` naming each row's cursor.
    pub fn from_overfetch(mut rows: Vec<T>, limit: i64, id: impl Fn(&T) -> String) -> Self {
        let limit = usize::try_from(limit).unwrap_or(0);
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(&id)
        } else {
            None
        };
        Self {
            items: rows,
            next_cursor,
        }
    }
}
