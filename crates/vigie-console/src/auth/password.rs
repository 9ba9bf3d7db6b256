//! Passwords: Argon2id with OWASP's parameters (19 MiB, 2 passes, 1 lane),
//! stored as PHC strings. Verifying an unknown account costs the same as a
//! known one, so timing does not tell which usernames exist.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

/// Memory per hash, in KiB (OWASP 2023: 19 MiB).
const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
/// Passes over the memory.
const ARGON2_PASSES: u32 = 2;
/// Shortest password accepted, in characters.
pub const PASSWORD_CHARS_MIN: usize = 12;
/// Longest password accepted, in bytes (bounds the hashing work per request).
pub const PASSWORD_BYTES_MAX: usize = 1_024;

fn hasher() -> Argon2<'static> {
    let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    #[error(
        "le mot de passe doit faire au moins {PASSWORD_CHARS_MIN} caractères / the password needs at least {PASSWORD_CHARS_MIN} characters"
    )]
    TooShort,
    #[error("le mot de passe est trop long / the password is too long")]
    TooLong,
    #[error("hachage impossible / cannot hash: {0}")]
    Hash(String),
}

/// Hash a new password (checked for length first).
pub fn hash(password: &str) -> Result<String, PasswordError> {
    if password.chars().count() < PASSWORD_CHARS_MIN {
        return Err(PasswordError::TooShort);
    }
    if password.len() > PASSWORD_BYTES_MAX {
        return Err(PasswordError::TooLong);
    }
    hasher()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches `stored`; with `stored` None (no such
/// account) a dummy hash is checked so the answer takes as long.
pub fn verify(password: &str, stored: Option<&str>) -> bool {
    if password.len() > PASSWORD_BYTES_MAX {
        return false;
    }
    let dummy = dummy_hash();
    let phc = stored.unwrap_or(dummy.as_str());
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let ok = hasher()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    ok && stored.is_some()
}

fn dummy_hash() -> &'static String {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash("vigie-no-such-account").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_and_no_other() {
        let h = hash("correct horse battery").expect("hash");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("correct horse battery", Some(&h)));
        assert!(!verify("correct horse batterY", Some(&h)));
        assert!(!verify("correct horse battery", None));
        assert!(!verify("x", Some("not a phc string")));
    }

    #[test]
    fn short_and_huge_passwords_are_refused() {
        assert_eq!(hash("short"), Err(PasswordError::TooShort));
        assert_eq!(
            hash(&"a".repeat(PASSWORD_BYTES_MAX + 1)),
            Err(PasswordError::TooLong)
        );
        assert!(!verify(&"a".repeat(PASSWORD_BYTES_MAX + 1), None));
    }
}
