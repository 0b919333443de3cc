//! Signed list bundles. The input is a bundle's body; the harness signs it with its own key,
//! so the whole import (header, rows, apply to a store) is reached, not only the signature
//! check.
#![no_main]
use std::sync::OnceLock;

use ed25519_dalek::{Signer, SigningKey};
use hashguard::lists::delta;
use hashguard::lists::version::Settings;
use hashguard::store::Store;
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

struct Env {
    _dir: tempfile::TempDir,
    store: Store,
    key: SigningKey,
    file: std::path::PathBuf,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("data")).unwrap();
        let file = dir.path().join("input.bundle");
        Env {
            store,
            key: SigningKey::from_bytes(&[7u8; 32]),
            file,
            _dir: dir,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let e = env();
    let mut body = data.to_vec();
    if !body.ends_with(b"\n") {
        body.push(b'\n');
    }
    let sig = e.key.sign(&Sha256::digest(&body));
    let trailer = format!(
        "{{\"signature\":\"{}\",\"public_key\":\"{}\"}}\n",
        hex::encode(sig.to_bytes()),
        hex::encode(e.key.verifying_key().as_bytes())
    );
    body.extend_from_slice(trailer.as_bytes());
    std::fs::write(&e.file, &body).unwrap();
    if let Ok(staged) = delta::import_bundle(
        &e.store,
        "fuzz",
        &e.file,
        &e.key.verifying_key(),
        Settings::default(),
    ) {
        let _ = hashguard::lists::version::publish(&e.store, staged);
    }
});
