//! A nullable `TEXT` column read as an optional closed vocabulary value. sqlx's
//! `#[sqlx(try_from = …)]` converts the decoded column with `TryFrom`, and `Option<T>` of a
//! `portico-core` vocabulary cannot implement `TryFrom<Option<String>>` here (both are foreign),
//! so the column is decoded as [`NullableText`] and [`optional_vocabulary!`] names which
//! vocabularies it converts into.

use sqlx::postgres::{PgTypeInfo, PgValueRef};
use sqlx::{Decode, Postgres, Type};

/// The raw value of a nullable `TEXT` column.
pub struct NullableText(pub Option<String>);

impl Type<Postgres> for NullableText {
    fn type_info() -> PgTypeInfo {
        <String as Type<Postgres>>::type_info()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        <String as Type<Postgres>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Postgres> for NullableText {
    fn decode(value: PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        Ok(Self(<Option<String> as Decode<Postgres>>::decode(value)?))
    }
}

/// `TryFrom<NullableText> for Option<$t>` for each vocabulary `$t`: NULL is `None`, a spelling
/// the vocabulary does not know is a decode error.
macro_rules! optional_vocabulary {
    ($($t:ty),+ $(,)?) => {$(
        impl TryFrom<NullableText> for Option<$t> {
            type Error = portico_core::vocab::UnknownValue;

            fn try_from(v: NullableText) -> Result<Self, Self::Error> {
                v.0.map(<$t>::try_from).transpose()
            }
        }
    )+};
}

optional_vocabulary!(portico_core::account::AuthMethod);
