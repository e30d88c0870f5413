//! Directory sync (SCIM 2.0, SPEC §7): directories, the SCIM resources and what they do to
//! people's access. HTTP stays in `api/scim`; these take parsed input and answer resources.

pub mod directories;
pub mod effects;
pub mod groups;
pub mod patch;
pub mod query;
pub mod resource;
pub mod users;

use portico_store::scim::directories::Directory;

use crate::error::ScimFault;
use crate::extract::ClientInfo;
use crate::state::AppState;

/// The directory a SCIM request reached, with its request context.
#[derive(Clone, Copy)]
pub struct Scope<'a> {
    /// State.
    pub state: &'a AppState,
    /// The authenticated directory.
    pub dir: &'a Directory,
    /// Request context (audit).
    pub ctx: &'a ClientInfo,
}

impl Scope<'_> {
    /// `{public_url}/scim/v2/{directoryId}`.
    pub fn base(&self) -> String {
        base_url(self.state, &self.dir.id)
    }
}

/// The SCIM base URL of a directory.
pub fn base_url(state: &AppState, dir_id: &str) -> String {
    format!("{}/scim/v2/{dir_id}", state.settings.public_base())
}

/// Checks `If-Match` against the current version: `*` or a list holding the current ETag.
pub fn check_if_match(if_match: Option<&str>, version: i64) -> Result<(), crate::error::ApiError> {
    let Some(h) = if_match else { return Ok(()) };
    let current = version.to_string();
    let ok = h
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.trim_start_matches("W/").trim_matches('"') == current);
    if ok {
        Ok(())
    } else {
        Err(resource::scim_error(
            ScimFault::PreconditionFailed,
            "the resource changed: its version does not match If-Match",
        ))
    }
}
