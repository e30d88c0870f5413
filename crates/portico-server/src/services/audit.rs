//! Building audit events from the request context. Never pass secrets in `details`.

use portico_store::audit::NewEvent;

use crate::auth::Caller;
use crate::extract::ClientInfo;

/// A new event for `action` by `caller` (or anonymous) in `org_id`.
pub fn event(ctx: &ClientInfo, caller: Option<&Caller>, org_id: Option<&str>, action: &'static str) -> NewEvent {
    NewEvent {
        organization_id: org_id.map(str::to_owned),
        actor_user_id: caller.map(|c| c.user_id.clone()),
        actor_kind: caller.map(Caller::actor_kind).unwrap_or("anonymous"),
        action,
        success: true,
        ip: ctx.ip.clone(),
        request_id: ctx.request_id.clone(),
        ..NewEvent::default()
    }
}

/// Marks an event as failed with a reason code.
pub fn failed(mut e: NewEvent, reason: impl Into<String>) -> NewEvent {
    e.success = false;
    e.reason = Some(reason.into());
    e
}
