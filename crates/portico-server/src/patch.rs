//! `Patch<T>`: a JSON field that may be absent, explicitly `null`, or a value — so PATCH can
//! tell "leave it" from "clear it".

use serde::{Deserialize, Deserializer};

/// A field of a partial update.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Patch<T> {
    /// Not in the body: keep the current value.
    #[default]
    Absent,
    /// Explicit `null`: clear the field.
    Null,
    /// A new value.
    Value(T),
}

impl<T> Patch<T> {
    /// The value, if one was given.
    pub fn value(&self) -> Option<&T> {
        match self {
            Self::Value(v) => Some(v),
            _ => None,
        }
    }

    /// True when the field was in the body (value or null).
    pub fn is_present(&self) -> bool {
        !matches!(self, Self::Absent)
    }

    /// Applies the patch to an optional current value.
    pub fn apply(self, current: Option<T>) -> Option<T> {
        match self {
            Self::Absent => current,
            Self::Null => None,
            Self::Value(v) => Some(v),
        }
    }

    /// The first present of `self` and `alias` (an alias spelling of the same field).
    pub fn or(self, alias: Patch<T>) -> Patch<T> {
        if self.is_present() {
            self
        } else {
            alias
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(d)? {
            None => Self::Null,
            Some(v) => Self::Value(v),
        })
    }
}
