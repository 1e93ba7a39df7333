//! Argon2id password hashes as PHC strings: cost parameters, hashing, checking, and upgrade detection.

use argon2::password_hash::phc::{Output, PasswordHash};
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use serde::Deserialize;

use super::AuthError;

/// Length of the derived key stored in the PHC string, in bytes (argon2's default).
const OUTPUT_LEN: usize = 32;
/// Length of the random salt, in bytes (the PHC recommendation).
const SALT_LEN: usize = 16;

/// Argon2id cost parameters: how much memory and time one hash costs.
///
/// Deserializes from `{ memory_kib = 19456, iterations = 2, parallelism = 1 }` and validates the
/// values, so a configuration file can carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawHashParams")]
pub struct HashParams {
    /// Memory per hash in KiB (argon2 `m`).
    memory_kib: u32,
    /// Number of passes over the memory (argon2 `t`).
    iterations: u32,
    /// Degree of parallelism (argon2 `p`).
    parallelism: u32,
}

/// The unvalidated shape of [`HashParams`] in a configuration file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHashParams {
    /// See [`HashParams::memory_kib`].
    memory_kib: u32,
    /// See [`HashParams::iterations`].
    iterations: u32,
    /// See [`HashParams::parallelism`].
    parallelism: u32,
}

impl TryFrom<RawHashParams> for HashParams {
    type Error = AuthError;

    fn try_from(raw: RawHashParams) -> Result<Self, AuthError> {
        HashParams::new(raw.memory_kib, raw.iterations, raw.parallelism)
    }
}

impl HashParams {
    /// The OWASP recommendation for argon2id: 19 MiB of memory, 2 passes, 1 lane.
    pub const PRODUCTION: HashParams = HashParams {
        memory_kib: 19_456,
        iterations: 2,
        parallelism: 1,
    };

    /// The cheapest valid setting (8 KiB, 1 pass): for tests only, never for real passwords.
    pub const INSECURE_FOR_TESTS: HashParams = HashParams {
        memory_kib: 8,
        iterations: 1,
        parallelism: 1,
    };

    /// Validated parameters; fails when argon2 rejects a value (for example memory < 8 × parallelism).
    pub fn new(memory_kib: u32, iterations: u32, parallelism: u32) -> Result<Self, AuthError> {
        Params::new(memory_kib, iterations, parallelism, Some(OUTPUT_LEN))
            .map_err(AuthError::InvalidParams)?;
        Ok(HashParams {
            memory_kib,
            iterations,
            parallelism,
        })
    }

    /// Memory per hash in KiB.
    pub fn memory_kib(&self) -> u32 {
        self.memory_kib
    }

    /// Number of passes over the memory.
    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    /// Degree of parallelism.
    pub fn parallelism(&self) -> u32 {
        self.parallelism
    }

    /// The argon2id hasher for these parameters.
    fn hasher(&self) -> Result<Argon2<'static>, AuthError> {
        let params = Params::new(
            self.memory_kib,
            self.iterations,
            self.parallelism,
            Some(OUTPUT_LEN),
        )
        .map_err(AuthError::InvalidParams)?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

impl Default for HashParams {
    /// [`HashParams::PRODUCTION`].
    fn default() -> Self {
        HashParams::PRODUCTION
    }
}

/// Hashes `password` with a fresh random salt into an argon2id PHC string.
pub fn hash_password(password: &str, params: &HashParams) -> Result<String, AuthError> {
    let salt: [u8; SALT_LEN] = rand::random();
    let hash: PasswordHash = params
        .hasher()?
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map_err(AuthError::Hashing)?;
    Ok(hash.to_string())
}

/// Checks `password` against a stored argon2id PHC string, using the parameters stored in it.
///
/// `Ok(false)` means the password is wrong; an error means the stored string is unusable.
pub fn verify_password(password: &str, phc: &str) -> Result<bool, AuthError> {
    let parsed = parse_argon2id(phc)?;
    match Argon2::default().verify_password(password.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
        Err(other) => Err(AuthError::Hashing(other)),
    }
}

/// The working memory of argon2 computations, kept between checks by a hashing thread.
pub(crate) type HashMemory = Vec<Block>;

/// Like [`verify_password`], computing in `memory` (grown to the parameters' size and left
/// for the next check) instead of a block allocated and freed per check: with the production
/// parameters that is 19 MiB mapped, faulted in page by page and unmapped on every login.
pub(crate) fn verify_password_in(
    password: &str,
    phc: &str,
    memory: &mut HashMemory,
) -> Result<bool, AuthError> {
    let parsed = parse_argon2id(phc)?;
    // As argon2's own verifier: a string without salt or hash matches no password.
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Ok(false);
    };
    let params = Params::try_from(&parsed).map_err(AuthError::Hashing)?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(|error| AuthError::Hashing(error.into()))?
        .unwrap_or_default();
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let argon2 = Argon2::new(Algorithm::Argon2id, version, params);
    // The stored output is at most `Output::MAX_LENGTH` bytes: parsing it checked that.
    let mut buffer = [0u8; Output::MAX_LENGTH];
    let out = &mut buffer[..expected.len()];
    argon2
        .hash_password_into_with_memory(password.as_bytes(), &salt, out, &mut memory[..blocks])
        .map_err(|error| AuthError::Hashing(error.into()))?;
    let computed = Output::new(out).map_err(|error| AuthError::Hashing(error.into()))?;
    // `Output` compares in constant time.
    Ok(computed == expected)
}

/// True when `phc` was not made by argon2id v19 with exactly `params` (so it should be re-hashed).
pub fn needs_rehash(phc: &str, params: &HashParams) -> bool {
    let Ok(parsed) = parse_argon2id(phc) else {
        return true;
    };
    if parsed.version != Some(Version::V0x13.into()) {
        return true;
    }
    let Ok(stored) = Params::try_from(&parsed) else {
        return true;
    };
    let output_len = parsed.hash.map(|output| output.len());
    stored.m_cost() != params.memory_kib
        || stored.t_cost() != params.iterations
        || stored.p_cost() != params.parallelism
        || output_len != Some(OUTPUT_LEN)
}

/// Checks that `phc` is a well-formed argon2id PHC string carrying a hash (for storing it).
pub fn validate_hash(phc: &str) -> Result<(), AuthError> {
    let parsed = parse_argon2id(phc)?;
    Params::try_from(&parsed).map_err(|error| AuthError::InvalidHash(error.to_string()))?;
    if parsed.hash.is_none() || parsed.salt.is_none() {
        return Err(AuthError::InvalidHash(
            "the PHC string has no salt or no hash".to_owned(),
        ));
    }
    Ok(())
}

/// Parses a PHC string and insists on the argon2id algorithm (argon2i and argon2d are refused).
fn parse_argon2id(phc: &str) -> Result<PasswordHash, AuthError> {
    let parsed = PasswordHash::new(phc)
        .map_err(|error| AuthError::InvalidHash(format!("not a PHC string ({error})")))?;
    if parsed.algorithm != Algorithm::Argon2id.ident() {
        return Err(AuthError::InvalidHash(format!(
            "algorithm {} is not argon2id",
            parsed.algorithm
        )));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_in_kept_memory_agree_with_plain_checks() {
        let mut memory = HashMemory::new();
        let cheap = hash_password("secret", &CHEAP).unwrap();
        let bigger = hash_password("secret", &HashParams::new(64, 1, 1).unwrap()).unwrap();
        for phc in [&cheap, &bigger, &cheap] {
            for password in ["secret", "wrong", ""] {
                assert_eq!(
                    verify_password_in(password, phc, &mut memory).unwrap(),
                    verify_password(password, phc).unwrap(),
                    "{password:?} against {phc}"
                );
            }
        }
        assert_eq!(
            memory.len(),
            64,
            "memory grows to the largest parameters seen"
        );
        assert!(
            verify_password_in(
                "x",
                "$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
                &mut memory
            )
            .is_err()
        );
    }

    const CHEAP: HashParams = HashParams::INSECURE_FOR_TESTS;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let hash = hash_password("correct horse", &CHEAP).unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=8,t=1,p=1$"), "{hash}");
        assert!(verify_password("correct horse", &hash).unwrap());
        assert!(!verify_password("correct horse!", &hash).unwrap());
        assert!(!verify_password("", &hash).unwrap());
    }

    #[test]
    fn two_hashes_of_one_password_differ_by_salt() {
        let first = hash_password("same", &CHEAP).unwrap();
        let second = hash_password("same", &CHEAP).unwrap();
        assert_ne!(first, second);
    }

    #[test]
    fn rehash_is_needed_only_when_parameters_differ() {
        let hash = hash_password("pw", &CHEAP).unwrap();
        assert!(!needs_rehash(&hash, &CHEAP));
        let stronger = HashParams::new(16, 2, 1).unwrap();
        assert!(needs_rehash(&hash, &stronger));
        assert!(needs_rehash("not a hash", &CHEAP));
    }

    /// The PHC string of `pw` hashed by `argon2` with `salt`.
    fn phc_of(argon2: &Argon2<'_>, salt: &[u8]) -> String {
        let hash: PasswordHash = argon2.hash_password_with_salt(b"pw", salt).unwrap();
        hash.to_string()
    }

    #[test]
    fn hashes_made_elsewhere_verify_on_both_paths() {
        // The argon2 reference implementation's known answer for "password" / "somesalt"
        // (argon2id v19, m=256, t=2, p=1): stored hashes do not depend on this crate's version.
        let reference =
            "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4";
        let mut memory = HashMemory::new();
        for password in ["password", "Password", ""] {
            let expected = password == "password";
            assert_eq!(verify_password(password, reference).unwrap(), expected);
            assert_eq!(
                verify_password_in(password, reference, &mut memory).unwrap(),
                expected
            );
        }
    }

    #[test]
    fn other_argon2_variants_and_versions_are_outdated_or_refused() {
        let salt = [7u8; SALT_LEN];
        let params = Params::new(8, 1, 1, Some(OUTPUT_LEN)).unwrap();
        let argon2i = phc_of(
            &Argon2::new(Algorithm::Argon2i, Version::V0x13, params.clone()),
            &salt,
        );
        assert!(needs_rehash(&argon2i, &CHEAP));
        assert!(matches!(
            verify_password("pw", &argon2i),
            Err(AuthError::InvalidHash(_))
        ));
        let old_version = phc_of(
            &Argon2::new(Algorithm::Argon2id, Version::V0x10, params),
            &salt,
        );
        assert!(verify_password("pw", &old_version).unwrap());
        assert!(needs_rehash(&old_version, &CHEAP));
    }

    #[test]
    fn invalid_parameters_are_refused() {
        assert!(matches!(
            HashParams::new(4, 1, 1),
            Err(AuthError::InvalidParams(_))
        ));
        assert!(matches!(
            HashParams::new(64, 0, 1),
            Err(AuthError::InvalidParams(_))
        ));
        assert_eq!(HashParams::default(), HashParams::PRODUCTION);
    }

    #[test]
    fn params_deserialize_with_validation() {
        let params: HashParams =
            toml::from_str("memory_kib = 64\niterations = 3\nparallelism = 2").unwrap();
        assert_eq!(params, HashParams::new(64, 3, 2).unwrap());
        let bad = toml::from_str::<HashParams>("memory_kib = 1\niterations = 3\nparallelism = 2");
        assert!(bad.is_err());
    }

    #[test]
    fn stored_hash_validation_rejects_junk() {
        assert!(validate_hash(&hash_password("pw", &CHEAP).unwrap()).is_ok());
        assert!(validate_hash("plaintext").is_err());
        assert!(validate_hash("$argon2id$v=19$m=8,t=1,p=1").is_err());
        assert!(validate_hash("$5$rounds=1000$salt$hash").is_err());
    }
}
