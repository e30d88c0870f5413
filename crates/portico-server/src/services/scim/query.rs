//! List and search parameters (RFC 7644 §3.4.2–3.4.3): the filter (length and nesting capped
//! before it is parsed), `startIndex`, `count` and the attribute projection.
//!
//! The filter grammar is parsed by the `scim_v2` crate (an LALRPOP grammar with JSON string
//! escapes and parse-time depth and term budgets); `scim-filter` was not used because it accepts
//! no escaped quotes or empty strings and recurses without a bound.

use std::str::FromStr;

use portico_store::scim::filter::{compile, Kind, SqlFilter};
use scim_v2::filter::Filter;

use super::resource::{scim_error, Projection};
use crate::error::{ApiError, ScimFault};

/// Longest filter accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 4096;
/// Deepest nesting of `(`…`)` and `[`…`]` accepted (redundant parentheses count).
pub const MAX_FILTER_NESTING: usize = 32;
/// Largest `count`.
pub const MAX_COUNT: i64 = 1000;
/// `count` when none is given.
pub const DEFAULT_COUNT: i64 = 100;

/// A validated list request.
#[derive(Debug)]
pub struct ListParams {
    /// The compiled filter (placeholders from `$4`).
    pub filter: Option<SqlFilter>,
    /// 1-based start.
    pub start_index: i64,
    /// Page size (0 answers only `totalResults`).
    pub count: i64,
    /// Attribute projection.
    pub projection: Projection,
}

/// The raw parameters, from a query string or a `/.search` body.
#[derive(Debug, Default)]
pub struct RawParams {
    /// `filter`.
    pub filter: Option<String>,
    /// `startIndex`.
    pub start_index: Option<String>,
    /// `count`.
    pub count: Option<String>,
    /// `attributes`.
    pub attributes: Option<String>,
    /// `excludedAttributes`.
    pub excluded_attributes: Option<String>,
    /// `sortBy` (sorting is not offered; accepted and ignored as RFC 7644 §3.4.2.3 allows).
    pub sort_by: Option<String>,
}

fn nesting(f: &str) -> usize {
    let (mut depth, mut max, mut in_str, mut esc) = (0usize, 0usize, false, false);
    for c in f.chars() {
        if in_str {
            match (esc, c) {
                (true, _) => esc = false,
                (false, '\\') => esc = true,
                (false, '"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_str = true,
            '(' | '[' => {
                depth += 1;
                max = max.max(depth);
            }
            ')' | ']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Parses and compiles a filter for `kind`.
pub fn filter(raw: &str, kind: Kind) -> Result<SqlFilter, ApiError> {
    if raw.len() > MAX_FILTER_LEN {
        return Err(scim_error(
            ScimFault::InvalidFilter,
            format!("the filter is longer than {MAX_FILTER_LEN} bytes"),
        ));
    }
    if nesting(raw) > MAX_FILTER_NESTING {
        return Err(scim_error(
            ScimFault::InvalidFilter,
            format!("the filter nests deeper than {MAX_FILTER_NESTING} expressions"),
        ));
    }
    let parsed =
        Filter::from_str(raw).map_err(|e| scim_error(ScimFault::InvalidFilter, format!("invalid filter: {e}")))?;
    compile(&parsed, kind, 4).map_err(|e| scim_error(ScimFault::InvalidFilter, e.0))
}

fn int(name: &str, v: Option<&str>) -> Result<Option<i64>, ApiError> {
    v.map(|s| {
        s.trim()
            .parse::<i64>()
            .map_err(|_| scim_error(ScimFault::InvalidValue, format!("{name} must be an integer")))
    })
    .transpose()
}

impl RawParams {
    /// Validates into [`ListParams`].
    pub fn validate(&self, kind: Kind) -> Result<ListParams, ApiError> {
        let filter = match self.filter.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
            Some(f) => Some(filter(f, kind)?),
            None => None,
        };
        let start_index = int("startIndex", self.start_index.as_deref())?.unwrap_or(1).max(1);
        let count = int("count", self.count.as_deref())?
            .unwrap_or(DEFAULT_COUNT)
            .clamp(0, MAX_COUNT);
        Ok(ListParams {
            filter,
            start_index,
            count,
            projection: Projection::new(self.attributes.as_deref(), self.excluded_attributes.as_deref()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_counts_redundant_parentheses_and_ignores_strings() {
        assert_eq!(nesting(r#"((userName eq "a(b"))"#), 2);
        let deep = format!("{}userName eq \"x\"{}", "(".repeat(33), ")".repeat(33));
        assert!(filter(&deep, Kind::User).is_err());
        let ok = format!("{}userName eq \"x\"{}", "(".repeat(32), ")".repeat(32));
        assert!(filter(&ok, Kind::User).is_ok());
    }

    #[test]
    fn values_are_bound_never_spliced() {
        let f = filter(
            r#"userName eq "x' OR 1=1 --" and emails[type eq "work" and value co "@a"]"#,
            Kind::User,
        )
        .unwrap();
        assert!(!f.sql.contains("1=1"), "{}", f.sql);
        assert!(!f.sql.contains("work"), "{}", f.sql);
    }
}
