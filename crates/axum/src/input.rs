//! The forms' input: an HTML form or a JSON body, into the same type; and
//! the type of a field that holds a secret.

use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use crate::held::LoginRejection;
use crate::view::{Answer, View};

/// A form field holding a secret (a password, a code): wiped on drop,
/// never shown by `Debug`.
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// The value. The name is the warning: never log it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl core::fmt::Debug for Secret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Default for Secret {
    fn default() -> Self {
        Self(Zeroizing::new(String::new()))
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| Self(Zeroizing::new(s)))
    }
}

/// A form's fields from an HTML form (`application/x-www-form-urlencoded`)
/// or a JSON body (`application/json`), whichever the request carries. A
/// body that does not read as the form (a field missing, a JSON syntax
/// error) is answered `400` with [`View::BadRequest`].
#[derive(Debug)]
pub struct Input<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Input<T> {
    type Rejection = LoginRejection;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if json {
            axum::Json::<T>::from_request(request, state)
                .await
                .map(|j| Self(j.0))
                .map_err(|_| LoginRejection::from(Answer::Show(View::BadRequest)))
        } else {
            axum::Form::<T>::from_request(request, state)
                .await
                .map(|f| Self(f.0))
                .map_err(|_| LoginRejection::from(Answer::Show(View::BadRequest)))
        }
    }
}
