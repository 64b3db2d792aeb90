//! The optional bearer token, for gRPC metadata and HTTP alike. It comes from the
//! environment or a file, never from argv, and is never logged.

use std::sync::Arc;

use crate::error::ServeError;

/// The token clients must present, or none.
#[derive(Clone, Default)]
pub struct Token(Option<Arc<str>>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Token(set)" } else { "Token(none)" })
    }
}

impl Token {
    /// No token: every client is served (the loopback default).
    pub fn none() -> Self {
        Self(None)
    }

    /// Clients must present `token`.
    pub fn required(token: &str) -> Self {
        Self(Some(Arc::from(token.trim())))
    }

    /// Whether a token is required.
    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }

    /// Checks an `authorization` header value (`Bearer <token>`).
    pub fn check_header(&self, header: Option<&str>) -> Result<(), ServeError> {
        self.check(header.and_then(|h| h.strip_prefix("Bearer ")))
    }

    /// Checks a presented token.
    pub fn check(&self, given: Option<&str>) -> Result<(), ServeError> {
        let Some(expected) = &self.0 else { return Ok(()) };
        match given {
            Some(given) if constant_time_eq(given.trim().as_bytes(), expected.as_bytes()) => Ok(()),
            _ => Err(ServeError::Unauthenticated),
        }
    }
}

/// Compares without returning early, so the time taken does not tell how much matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_checked_only_when_set() {
        assert!(Token::none().check_header(None).is_ok());
        let token = Token::required("s3cret\n");
        assert!(token.check_header(Some("Bearer s3cret")).is_ok());
        assert!(token.check_header(Some("Bearer s3cre")).is_err());
        assert!(token.check_header(Some("s3cret")).is_err());
        assert!(token.check(None).is_err());
        assert_eq!(format!("{token:?}"), "Token(set)", "never printed");
    }
}
