//! Explicit, opt-in serialization of a [`Secret`].
//!
//! [`Secret`] itself implements neither `Serialize` nor `Deserialize`, so a
//! struct that holds one cannot be written out by accident. To store a secret
//! on purpose (sealed, in a database column), wrap it in [`ExposeSecret`],
//! whose name says what it does: it serializes the key as unpadded base32, in
//! clear.
//!
//! ```
//! # #[cfg(feature = "serde")] {
//! use lockstep_otp::{Secret, serde_secret::ExposeSecret};
//! let secret = Secret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")?;
//! let json = serde_json::to_string(&ExposeSecret(secret))?;
//! assert_eq!(json, "\"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\"");
//! let back: ExposeSecret = serde_json::from_str(&json)?;
//! assert_eq!(back.0.len(), 20);
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use core::fmt;

use zeroize::Zeroizing;

use crate::secret::Secret;

/// Serializes and deserializes the wrapped [`Secret`] as base32, in clear.
/// Deserialization requires at least 128 bits.
#[derive(Clone, Debug)]
pub struct ExposeSecret(pub Secret);

impl serde::Serialize for ExposeSecret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0.to_base32())
    }
}

impl<'de> serde::Deserialize<'de> for ExposeSecret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = ExposeSecret;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a base32 OTP secret")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Secret::from_base32(v).map(ExposeSecret).map_err(E::custom)
            }
            fn visit_string<E: serde::de::Error>(
                self,
                v: alloc::string::String,
            ) -> Result<Self::Value, E> {
                let v = Zeroizing::new(v);
                self.visit_str(&v)
            }
        }
        deserializer.deserialize_str(Visit)
    }
}
