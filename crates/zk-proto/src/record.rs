//! The `record!` macro: declares a jute record whose fields are encoded in declaration
//! order, which is all jute does (no tags, no lengths).

/// Declares a struct and implements [`Encode`](crate::Encode)/[`Decode`](crate::Decode)
/// field by field, in order.
macro_rules! record {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl $crate::codec::Encode for $name {
            #[allow(unused_variables)]
            fn encode<B: ::bytes::BufMut>(&self, buf: &mut B) {
                $($crate::codec::Encode::encode(&self.$field, buf);)*
            }
        }

        impl $crate::codec::Decode for $name {
            #[allow(unused_variables)]
            fn decode<B: ::bytes::Buf>(buf: &mut B) -> $crate::codec::DecodeResult<Self> {
                Ok(Self { $($field: <$ty as $crate::codec::Decode>::decode(buf)?,)* })
            }
        }
    };
}

pub(crate) use record;
