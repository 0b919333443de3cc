//! A detached minisign signature of the manifest (`manifest.json.minisig`) and the public key
//! in minisign's format (`minisign.pub`), so that `minisign -Vm manifest.json -p minisign.pub`
//! verifies a scan with no hashguard at hand.
//!
//! Written here rather than with the `minisign` crate: that crate signs with fresh random noise
//! (so the same scan would not give the same file) and brings its own key handling; the format
//! is three base64 lines over ed25519 and BLAKE2b-512, which the crates already used do.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use blake2::{Blake2b512, Digest};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::Sha256;

/// Output name of the signature.
pub const SIGNATURE: &str = "manifest.json.minisig";
/// Output name of the public key.
pub const PUBLIC_KEY: &str = "minisign.pub";

/// The 8-byte key number minisign puts in keys and signatures: the first bytes of the public
/// key's SHA-256, so a key always has the same number.
pub fn key_id(key: &VerifyingKey) -> [u8; 8] {
    let d = Sha256::digest(key.as_bytes());
    let mut id = [0u8; 8];
    id.copy_from_slice(&d[..8]);
    id
}

/// The key id as minisign prints it (upper-case hex of the little-endian number).
pub fn key_id_text(id: &[u8; 8]) -> String {
    format!("{:016X}", u64::from_le_bytes(*id))
}

/// The public key file: `untrusted comment` line, then base64 of `"Ed" ‖ key id ‖ key`.
pub fn public_key_file(key: &VerifyingKey) -> String {
    let id = key_id(key);
    let mut raw = Vec::with_capacity(42);
    raw.extend_from_slice(b"Ed");
    raw.extend_from_slice(&id);
    raw.extend_from_slice(key.as_bytes());
    format!(
        "untrusted comment: minisign public key {}\n{}\n",
        key_id_text(&id),
        B64.encode(raw)
    )
}

/// A comment kept on one line (minisign reads comments up to the line's end).
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The signature file for `message` (prehashed, `ED`), with `trusted` as its signed comment.
pub fn sign(key: &SigningKey, message: &[u8], trusted: &str) -> String {
    let id = key_id(&key.verifying_key());
    let digest = Blake2b512::digest(message);
    let sig = key.sign(&digest).to_bytes();
    let mut raw = Vec::with_capacity(74);
    raw.extend_from_slice(b"ED");
    raw.extend_from_slice(&id);
    raw.extend_from_slice(&sig);
    let trusted = one_line(trusted);
    // The global signature binds the comment to the signature, as minisign checks it.
    let mut global = Vec::with_capacity(64 + trusted.len());
    global.extend_from_slice(&sig);
    global.extend_from_slice(trusted.as_bytes());
    let global = key.sign(&global).to_bytes();
    format!(
        "untrusted comment: signature from hashguard key {}\n{}\ntrusted comment: {}\n{}\n",
        key_id_text(&id),
        B64.encode(raw),
        trusted,
        B64.encode(global)
    )
}

/// Why a minisign signature does not verify.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The file is not in minisign's format.
    #[error("not a minisign signature: {0}")]
    Format(&'static str),
    /// Signed by another key.
    #[error("signed by minisign key {found}, not {expected}")]
    WrongKey {
        /// Key id in the signature.
        found: String,
        /// Key id expected.
        expected: String,
    },
    /// The signature or the trusted comment's signature is wrong.
    #[error("the minisign signature does not verify")]
    Signature,
}

/// Checks a signature file made by [`sign`] (or by minisign with `-H`) for `message`; returns
/// the trusted comment.
pub fn verify(key: &VerifyingKey, message: &[u8], sig_file: &str) -> Result<String, Error> {
    let mut lines = sig_file.lines();
    let _untrusted = lines.next().ok_or(Error::Format("empty"))?;
    let raw = B64
        .decode(
            lines
                .next()
                .ok_or(Error::Format("no signature line"))?
                .trim(),
        )
        .map_err(|_| Error::Format("signature line is not base64"))?;
    if raw.len() != 74 || &raw[..2] != b"ED" {
        return Err(Error::Format("not a prehashed ed25519 signature"));
    }
    let id: [u8; 8] = raw[2..10].try_into().map_err(|_| Error::Format("key id"))?;
    if id != key_id(key) {
        return Err(Error::WrongKey {
            found: key_id_text(&id),
            expected: key_id_text(&key_id(key)),
        });
    }
    let sig: [u8; 64] = raw[10..].try_into().map_err(|_| Error::Format("length"))?;
    let trusted = lines
        .next()
        .and_then(|l| l.strip_prefix("trusted comment: "))
        .ok_or(Error::Format("no trusted comment"))?;
    let global = B64
        .decode(
            lines
                .next()
                .ok_or(Error::Format("no comment signature"))?
                .trim(),
        )
        .map_err(|_| Error::Format("comment signature is not base64"))?;
    let global: [u8; 64] = global
        .try_into()
        .map_err(|_| Error::Format("comment signature length"))?;
    key.verify(&Blake2b512::digest(message), &Signature::from_bytes(&sig))
        .map_err(|_| Error::Signature)?;
    let mut signed = sig.to_vec();
    signed.extend_from_slice(trusted.as_bytes());
    key.verify(&signed, &Signature::from_bytes(&global))
        .map_err(|_| Error::Signature)?;
    Ok(trusted.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    #[test]
    fn a_signature_verifies_and_any_change_is_caught() {
        let k = key();
        let sig = sign(&k, b"manifest body", "case 0413\nsecond line");
        assert_eq!(sig.lines().count(), 4, "{sig}");
        let trusted = verify(&k.verifying_key(), b"manifest body", &sig).unwrap();
        assert_eq!(trusted, "case 0413 second line");
        assert_eq!(
            verify(&k.verifying_key(), b"manifest bodY", &sig),
            Err(Error::Signature)
        );
        let forged = sig.replace("case 0413", "case 0414");
        assert_eq!(
            verify(&k.verifying_key(), b"manifest body", &forged),
            Err(Error::Signature)
        );
        let other = SigningKey::from_bytes(&[8u8; 32]);
        assert!(matches!(
            verify(&other.verifying_key(), b"manifest body", &sig),
            Err(Error::WrongKey { .. })
        ));
        // Deterministic: the same scan signs to the same file.
        assert_eq!(sig, sign(&k, b"manifest body", "case 0413\nsecond line"));
    }

    #[test]
    fn the_public_key_file_has_minisign_layout() {
        let k = key().verifying_key();
        let text = public_key_file(&k);
        let mut lines = text.lines();
        let head = lines.next().unwrap();
        assert!(head.starts_with("untrusted comment: minisign public key "));
        assert!(head.ends_with(&key_id_text(&key_id(&k))));
        let raw = B64.decode(lines.next().unwrap()).unwrap();
        assert_eq!(raw.len(), 42);
        assert_eq!(&raw[..2], b"Ed");
        assert_eq!(&raw[2..10], &key_id(&k));
        assert_eq!(&raw[10..], k.as_bytes());
    }
}
