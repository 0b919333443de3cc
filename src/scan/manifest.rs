//! The scan's chain of custody: `manifest.json` lists the SHA-256 and size of every output,
//! hash-chains the records of `files.jsonl` and `matches.jsonl` line by line, and is signed with
//! ed25519. [`verify`] recomputes all of it, so editing any byte of any output is detected.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::outputs::{MATCHES_CSV, SUMMARY, VICS};
use super::{Error, FILES, MATCHES, io_err, minisign, sync_dir, write_synced};

/// Output name.
pub const MANIFEST: &str = "manifest.json";
const FORMAT: &str = "hashguard-scan-manifest/1";

/// One output file in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputFile {
    /// File name inside the output directory.
    pub name: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256, hex.
    pub sha256: String,
}

/// A hash chain over the lines of a JSONL output: `h0 = SHA-256(seed)`, then
/// `h(i) = SHA-256(h(i-1) ‖ SHA-256(line i))`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chain {
    /// The output it covers.
    pub file: String,
    /// Lines chained.
    pub records: u64,
    /// The last link, hex.
    pub head: String,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format identifier.
    pub format: String,
    /// Case identifier (also the chains' seed).
    pub case_id: String,
    /// Every output but the manifest.
    pub files: Vec<OutputFile>,
    /// Chains over files.jsonl and matches.jsonl.
    pub chains: Vec<Chain>,
    /// ed25519 public key, hex.
    pub public_key: String,
    /// ed25519 signature over this manifest with `signature` empty, hex.
    pub signature: String,
}

/// Why verification failed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The manifest is missing or not valid.
    #[error("manifest: {0}")]
    Manifest(String),
    /// An output's size or SHA-256 differs from the manifest.
    #[error("{0} does not match the manifest (changed after signing)")]
    Changed(String),
    /// A record chain differs.
    #[error("the record chain of {0} does not match (a record was changed, added or removed)")]
    Chain(String),
    /// The signature does not verify.
    #[error("signature does not verify: the manifest was changed or signed by another key")]
    Signature,
    /// The manifest was signed by another key than the one expected.
    #[error("signed by key {found}, not the expected {expected}")]
    WrongKey {
        /// Key in the manifest.
        found: String,
        /// Key expected.
        expected: String,
    },
    /// An output could not be read.
    #[error("{0}")]
    Io(String),
}

const OUTPUTS: [&str; 6] = [
    FILES,
    MATCHES,
    SUMMARY,
    MATCHES_CSV,
    VICS,
    super::case::CASE,
];

fn file_digest(path: &Path) -> std::io::Result<(u64, String)> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((n, hex::encode(h.finalize())))
}

fn chain(path: &Path, case_id: &str) -> std::io::Result<(u64, String)> {
    let mut head: [u8; 32] = Sha256::digest(format!("hashguard scan chain v1\n{case_id}")).into();
    let mut records = 0u64;
    for line in BufReader::new(File::open(path)?).split(b'\n') {
        let line = line?;
        let mut h = Sha256::new();
        h.update(head);
        h.update(Sha256::digest(&line));
        head = h.finalize().into();
        records += 1;
    }
    Ok((records, hex::encode(head)))
}

fn payload(m: &Manifest) -> Vec<u8> {
    let unsigned = Manifest {
        signature: String::new(),
        ..m.clone()
    };
    serde_json::to_vec(&unsigned).unwrap_or_default()
}

/// Writes and signs `manifest.json` for the outputs in `dir`.
pub fn write(dir: &Path, case_id: &str, key: &SigningKey) -> Result<Manifest, Error> {
    let mut files = Vec::new();
    for name in OUTPUTS {
        let (bytes, sha256) = file_digest(&dir.join(name)).map_err(io_err(name))?;
        files.push(OutputFile {
            name: name.to_string(),
            bytes,
            sha256,
        });
    }
    let mut chains = Vec::new();
    for name in [FILES, MATCHES] {
        let (records, head) = chain(&dir.join(name), case_id).map_err(io_err(name))?;
        chains.push(Chain {
            file: name.to_string(),
            records,
            head,
        });
    }
    let mut m = Manifest {
        format: FORMAT.to_string(),
        case_id: case_id.to_string(),
        files,
        chains,
        public_key: hex::encode(key.verifying_key().as_bytes()),
        signature: String::new(),
    };
    m.signature = hex::encode(key.sign(&payload(&m)).to_bytes());
    let body = serde_json::to_vec_pretty(&m).map_err(|e| Error::Io {
        what: "encoding manifest.json".into(),
        source: e.into(),
    })?;
    write_synced(&dir.join(MANIFEST), &body)?;
    // The same key signs the manifest file again in minisign's format, for readers without
    // hashguard; the trusted comment names the case and the manifest's digest.
    let trusted = format!(
        "file:{MANIFEST} case:{case_id} sha256:{}",
        hex::encode(Sha256::digest(&body))
    );
    write_synced(
        &dir.join(minisign::SIGNATURE),
        minisign::sign(key, &body, &trusted).as_bytes(),
    )?;
    write_synced(
        &dir.join(minisign::PUBLIC_KEY),
        minisign::public_key_file(&key.verifying_key()).as_bytes(),
    )?;
    sync_dir(dir)?;
    Ok(m)
}

/// Checks every output of the scan in `dir` against its signed manifest; with `expected`, also
/// that the manifest was signed by that key.
pub fn verify(dir: &Path, expected: Option<&VerifyingKey>) -> Result<Manifest, VerifyError> {
    let text = fs::read(dir.join(MANIFEST))
        .map_err(|e| VerifyError::Manifest(format!("cannot read {MANIFEST}: {e}")))?;
    let m: Manifest =
        serde_json::from_slice(&text).map_err(|e| VerifyError::Manifest(e.to_string()))?;
    if m.format != FORMAT {
        return Err(VerifyError::Manifest(format!(
            "unknown format {:?}",
            m.format
        )));
    }
    let key_bytes: [u8; 32] = hex::decode(&m.public_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| VerifyError::Manifest("bad public key".into()))?;
    let key = VerifyingKey::from_bytes(&key_bytes)
        .map_err(|_| VerifyError::Manifest("bad public key".into()))?;
    if let Some(exp) = expected
        && exp != &key
    {
        return Err(VerifyError::WrongKey {
            found: m.public_key.clone(),
            expected: hex::encode(exp.as_bytes()),
        });
    }
    let sig_file = fs::read_to_string(dir.join(minisign::SIGNATURE))
        .map_err(|e| VerifyError::Manifest(format!("cannot read {}: {e}", minisign::SIGNATURE)))?;
    minisign::verify(&key, &text, &sig_file)
        .map_err(|e| VerifyError::Manifest(format!("{}: {e}", minisign::SIGNATURE)))?;
    let sig_bytes: [u8; 64] = hex::decode(&m.signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(VerifyError::Signature)?;
    key.verify(&payload(&m), &Signature::from_bytes(&sig_bytes))
        .map_err(|_| VerifyError::Signature)?;
    let names: Vec<&str> = m.files.iter().map(|f| f.name.as_str()).collect();
    if names != OUTPUTS {
        return Err(VerifyError::Manifest(format!(
            "lists {names:?}, expected {OUTPUTS:?}"
        )));
    }
    for f in &m.files {
        let got = file_digest(&dir.join(&f.name))
            .map_err(|e| VerifyError::Io(format!("{}: {e}", f.name)))?;
        if got != (f.bytes, f.sha256.clone()) {
            return Err(VerifyError::Changed(f.name.clone()));
        }
    }
    for c in &m.chains {
        let got = chain(&dir.join(&c.file), &m.case_id)
            .map_err(|e| VerifyError::Io(format!("{}: {e}", c.file)))?;
        if got != (c.records, c.head.clone()) {
            return Err(VerifyError::Chain(c.file.clone()));
        }
    }
    Ok(m)
}

/// The signing key in `path` (64 hex characters: the ed25519 seed), created with mode 0600
/// when missing.
pub fn load_or_create_key(path: &Path) -> Result<SigningKey, Error> {
    match fs::read_to_string(path) {
        Ok(text) => {
            let seed: [u8; 32] = hex::decode(text.trim())
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "signing key {} is not 64 hex characters",
                        path.display()
                    ))
                })?;
            Ok(SigningKey::from_bytes(&seed))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = SigningKey::generate(&mut rand_core::OsRng);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)
                    .map_err(io_err(format!("creating {}", parent.display())))?;
            }
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(io_err(format!("creating {}", path.display())))?;
            use std::io::Write;
            writeln!(f, "{}", hex::encode(key.to_bytes()))
                .and_then(|_| f.sync_all())
                .map_err(io_err(format!("writing {}", path.display())))?;
            let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o600));
            Ok(key)
        }
        Err(e) => Err(Error::Io {
            what: format!("reading {}", path.display()),
            source: e,
        }),
    }
}
