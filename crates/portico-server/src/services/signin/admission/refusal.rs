//! The refusal of a verified identity, shared by the provisioning and linking rules.

/// Why a verified identity was not admitted. `code` is stable and shown; `reason` is for the audit log.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// Stable code.
    pub code: &'static str,
    /// Precise reason.
    pub reason: String,
}

impl Refusal {
    /// A refusal with its stable code and the precise reason (audit only).
    pub(super) fn new(code: &'static str, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }
}
