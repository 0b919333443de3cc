//! What brings a copy of a list from one version to the active one: the logged changes of
//! the versions in between, or (when the chain is broken) a full copy. Served to mirrors by the
//! hub, and written to signed offline bundles for air-gapped networks.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::format::{self, ListFormat, ListRow, Op, ReadOptions};
use super::spool::Spool;
use super::version::{self, Builder, Expect, Mode, Settings, Staged, change_chain, change_log};
use super::{Error, KindMeta, ListMeta, entries, get};
use crate::store::Store;

/// What a delta is: the source's version it leads to, and how to check the result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeltaHeader {
    /// The list's name at the source.
    pub list: String,
    /// The source's version the rows apply to (`None`: a full copy, applied to nothing).
    pub from: Option<u32>,
    /// The source's version they lead to.
    pub to: u32,
    /// True when the rows are the whole list rather than changes.
    pub full: bool,
    /// Entries of version `to`.
    pub entries: u64,
    /// [`super::SetDigest`] of version `to`: the receiver checks it before publishing.
    pub digest: String,
    /// Its kinds and radii.
    pub kinds: Vec<KindMeta>,
}

/// The plan for bringing a copy at `from` to the active version of `name`.
pub fn plan(
    store: &Store,
    name: &str,
    from: Option<u32>,
) -> Result<(DeltaHeader, Vec<u32>), Error> {
    let meta = get(store, name)?;
    let chain = match from {
        Some(f) if f <= meta.version => change_chain(store, name, f, meta.version)?,
        _ => None,
    };
    let header = |full: bool| DeltaHeader {
        list: meta.name.clone(),
        from: if full { None } else { from },
        to: meta.version,
        full,
        entries: meta.entries,
        digest: meta.digest.clone(),
        kinds: meta.kinds.clone(),
    };
    Ok(match chain {
        Some(versions) => (header(false), versions),
        None => (header(true), Vec::new()),
    })
}

/// Writes the planned rows as canonical JSON lines; returns how many.
pub fn write_rows(
    store: &Store,
    header: &DeltaHeader,
    versions: &[u32],
    w: &mut impl Write,
) -> Result<u64, Error> {
    let io = |source: std::io::Error| Error::Io {
        what: "writing the delta".into(),
        source,
    };
    let mut n = 0;
    if header.full {
        for r in entries(store, &header.list, header.to)? {
            let (_, e) = r?;
            let row = ListRow {
                line: 0,
                op: Op::Add,
                id: e.id,
                hash: Some(e.hash),
                category: e.category,
                series: e.series,
                video: e.video,
            };
            format::write_jsonl(w, &row).map_err(io)?;
            n += 1;
        }
    } else {
        for &v in versions {
            for line in change_log(store, &header.list, v)? {
                w.write_all(&line?).map_err(io)?;
                n += 1;
            }
        }
    }
    Ok(n)
}

/// Applies a delta (or full copy) read from `rows` to list `name`, checks the result against
/// the header's count and digest, and publishes it with the source's version recorded.
/// `settings` are the receiver's own (unit, category); radii not set there come from the source.
pub fn apply(
    store: &Store,
    name: &str,
    header: &DeltaHeader,
    rows: impl BufRead,
    mut settings: Settings,
) -> Result<Staged, Error> {
    let local = match get(store, name) {
        Ok(m) => Some(m),
        Err(Error::NoSuchList { .. }) => None,
        Err(e) => return Err(e),
    };
    let at = local
        .as_ref()
        .and_then(|m| m.upstream_version.as_deref())
        .and_then(|v| v.parse::<u32>().ok());
    // An old copy (a replayed bundle, say) must never roll the list back.
    if let Some(at) = at
        && header.to <= at
    {
        return Err(Error::bad_input(
            format!("list {name}"),
            format!(
                "this {} leads to version {} of {}, and list {name} already holds version {at}",
                if header.full { "copy" } else { "delta" },
                header.to,
                header.list
            ),
        ));
    }
    if !header.full && at != header.from {
        return Err(Error::bad_input(
            format!("list {name}"),
            format!(
                "this delta leads from version {} of {} to {}, but list {name} holds version {} of it; \
             fetch one from {} (or a full copy)",
                header.from.map_or("-".into(), |v| v.to_string()),
                header.list,
                header.to,
                at.map_or("none".into(), |v| v.to_string()),
                at.map_or("none".into(), |v| v.to_string()),
            ),
        ));
    }
    for k in &header.kinds {
        if !settings.radii.iter().any(|(kind, _)| *kind == k.kind) {
            settings.radii.push((k.kind, k.radius));
        }
    }
    let mode = if header.full { Mode::Full } else { Mode::Delta };
    let mut b = Builder::new(store, name, mode, settings)?;
    b.set_upstream_version(Some(header.to.to_string()));
    // Rows from another hashguard are canonical: any malformed one means damage in transit.
    if let Err(e) = b.push_rows(format::read(
        ListFormat::Jsonl,
        rows,
        &ReadOptions::default(),
    )) {
        super::drop_version(store, name, b.version())?;
        return Err(e);
    }
    let staged = b.finish(&Expect {
        entries: Some(header.entries),
        digest: Some(header.digest.clone()),
    })?;
    let mut published = staged.clone();
    published.meta = version::publish(store, staged)?;
    Ok(published)
}

/// The last line of a bundle.
#[derive(Serialize, Deserialize)]
struct Trailer {
    /// ed25519 signature of the SHA-256 of every byte before this line, hex.
    signature: String,
    /// The signer's public key, hex (informative: verification uses the configured key).
    public_key: String,
}

/// Writes a signed bundle of list `name` that brings a copy at source version `from` (none:
/// a full copy) to the active version: a header line, the rows, and a signature line.
pub fn export_bundle(
    store: &Store,
    name: &str,
    from: Option<u32>,
    key: &SigningKey,
    out: &mut impl Write,
) -> Result<DeltaHeader, Error> {
    let io = |source: std::io::Error| Error::Io {
        what: "writing the bundle".into(),
        source,
    };
    let (header, versions) = plan(store, name, from)?;
    let mut body = HashingWriter {
        inner: out,
        hash: Sha256::new(),
    };
    let mut line = serde_json::to_vec(&header).map_err(|e| Error::corrupt(e.to_string()))?;
    line.push(b'\n');
    body.write_all(&line).map_err(io)?;
    write_rows(store, &header, &versions, &mut body)?;
    let digest = body.hash.finalize();
    let trailer = Trailer {
        signature: hex::encode(key.sign(&digest).to_bytes()),
        public_key: hex::encode(key.verifying_key().as_bytes()),
    };
    let mut line = serde_json::to_vec(&trailer).map_err(|e| Error::corrupt(e.to_string()))?;
    line.push(b'\n');
    body.inner.write_all(&line).map_err(io)?;
    body.inner.flush().map_err(io)?;
    Ok(header)
}

struct HashingWriter<'a, W: Write> {
    inner: &'a mut W,
    hash: Sha256,
}

impl<W: Write> Write for HashingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Verifies a bundle's signature with `key` (one pass over the file), then applies it to list
/// `name` (a second pass): nothing is read as list data before the signature holds.
pub fn import_bundle(
    store: &Store,
    name: &str,
    path: &Path,
    key: &VerifyingKey,
    settings: Settings,
) -> Result<Staged, Error> {
    let bad = |why: String| Error::bad_input(format!("bundle {}", path.display()), why);
    // Pass 1: copy the bundle to a private spool beside the store while hashing everything
    // before its last line, which must be the signature. The rows are then read from that
    // copy, so a file swapped after the check cannot be applied unverified.
    let spool = Spool::new(store, name, "bundle").map_err(|source| Error::Io {
        what: "creating a spool file for the bundle".into(),
        source,
    })?;
    let mut copy =
        std::io::BufWriter::new(File::create(spool.path()).map_err(|e| bad(e.to_string()))?);
    let mut r =
        BufReader::with_capacity(1 << 20, File::open(path).map_err(|e| bad(e.to_string()))?);
    let (mut hash, mut pending, mut body_len) = (Sha256::new(), Vec::new(), 0u64);
    let mut line = Vec::new();
    loop {
        line.clear();
        // Lines are short; a huge one is not a bundle, and must not exhaust memory.
        let n = (&mut r)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| bad(e.to_string()))?;
        if n == 0 {
            break;
        }
        if n > MAX_LINE {
            return Err(bad(format!("a line over {MAX_LINE} bytes: not a bundle")));
        }
        copy.write_all(&line).map_err(|e| bad(e.to_string()))?;
        hash.update(&pending);
        body_len += pending.len() as u64;
        std::mem::swap(&mut pending, &mut line);
    }
    copy.flush().map_err(|e| bad(e.to_string()))?;
    drop(copy);
    let trailer: Trailer = serde_json::from_slice(&pending).map_err(|_| {
        bad("the last line is not a signature: the file is truncated or not a bundle".into())
    })?;
    let sig: [u8; 64] = hex::decode(&trailer.signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad("the signature is not 128 hex characters".into()))?;
    key.verify(&hash.finalize(), &Signature::from_bytes(&sig))
        .map_err(|_| {
            bad("the signature does not verify with the configured public key; nothing was imported".into())
        })?;
    // Pass 2: the header, then the rows up to the signature line, from the verified copy.
    let mut f = File::open(spool.path()).map_err(|e| bad(e.to_string()))?;
    f.seek(SeekFrom::Start(0)).map_err(|e| bad(e.to_string()))?;
    let mut r = BufReader::with_capacity(1 << 20, f.take(body_len));
    let mut first = Vec::new();
    r.read_until(b'\n', &mut first)
        .map_err(|e| bad(e.to_string()))?;
    let header: DeltaHeader =
        serde_json::from_slice(&first).map_err(|e| bad(format!("header: {e}")))?;
    apply(store, name, &header, r, settings)
}

/// Longest line of a bundle, bytes.
const MAX_LINE: usize = 1 << 20;

/// Reads a hex ed25519 public key (64 hex characters) from `path`.
pub fn read_public_key(path: &Path) -> Result<VerifyingKey, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::SourceFile {
        path: path.to_path_buf(),
        source,
    })?;
    let bad = |why: String| Error::bad_input(path.display().to_string(), why);
    let bytes: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad("not a 64-hex-character ed25519 public key".into()))?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| bad(e.to_string()))
}

/// The list's current source version, as a mirror or bundle importer records it.
pub fn source_version(meta: &ListMeta) -> Option<u32> {
    meta.upstream_version
        .as_deref()
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lists::version::{ImportOptions, import};

    fn md5(i: u32) -> String {
        format!(
            "{:032x}",
            (u128::from(i) + 7).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
        )
    }

    fn rows(ids: impl IntoIterator<Item = u32>) -> String {
        ids.into_iter()
            .map(|i| {
                format!(
                    "{{\"id\":\"e{i}\",\"kind\":\"md5\",\"hash\":\"{}\"}}\n",
                    md5(i)
                )
            })
            .collect()
    }

    fn full(store: &Store, text: &str) -> ListMeta {
        let o = ImportOptions {
            format: ListFormat::Jsonl,
            read: ReadOptions::default(),
            mode: Mode::Full,
            settings: Settings::default(),
        };
        import(store, "hub", text.as_bytes(), &o).unwrap().meta
    }

    fn bundle(store: &Store, from: Option<u32>, key: &SigningKey) -> Vec<u8> {
        let mut out = Vec::new();
        export_bundle(store, "hub", from, key, &mut out).unwrap();
        out
    }

    #[test]
    fn deltas_and_bundles_bring_a_copy_to_the_same_digest() {
        let tmp = tempfile::tempdir().unwrap();
        let hub = Store::open(&tmp.path().join("hub")).unwrap();
        let mirror = Store::open(&tmp.path().join("mirror")).unwrap();
        let key = SigningKey::from_bytes(&[7; 32]);
        let path = tmp.path().join("b.bundle");

        let v1 = full(&hub, &rows(0..100));
        std::fs::write(&path, bundle(&hub, None, &key)).unwrap();
        let got = import_bundle(
            &mirror,
            "copy",
            &path,
            &key.verifying_key(),
            Settings::default(),
        )
        .unwrap();
        assert_eq!(
            (
                got.meta.digest.as_str(),
                got.meta.upstream_version.as_deref()
            ),
            (v1.digest.as_str(), Some("1"))
        );

        // Two full loads later (their differences are logged), a delta bundle from 1 to 3.
        full(&hub, &rows(10..120));
        let v3 = full(&hub, &rows(20..130));
        let b = bundle(&hub, Some(1), &key);
        let text = String::from_utf8(b.clone()).unwrap();
        assert!(text.lines().count() < 100, "a delta, not a full copy");
        std::fs::write(&path, &b).unwrap();
        let got = import_bundle(
            &mirror,
            "copy",
            &path,
            &key.verifying_key(),
            Settings::default(),
        )
        .unwrap();
        assert_eq!(got.meta.digest, v3.digest);
        assert_eq!(got.meta.entries, 110);

        // The same bundle again no longer applies; a tampered one or another key never does.
        let err = import_bundle(
            &mirror,
            "copy",
            &path,
            &key.verifying_key(),
            Settings::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("holds version 3"), "{err}");
        let mut tampered = b.clone();
        let at = tampered.len() / 2;
        tampered[at] ^= 1;
        std::fs::write(&path, &tampered).unwrap();
        let err = import_bundle(
            &mirror,
            "copy",
            &path,
            &key.verifying_key(),
            Settings::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("does not verify"), "{err}");
        std::fs::write(&path, &b[..b.len() - 20]).unwrap();
        let err = import_bundle(
            &mirror,
            "copy",
            &path,
            &key.verifying_key(),
            Settings::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("signature"), "{err}");
        let other = SigningKey::from_bytes(&[8; 32]).verifying_key();
        std::fs::write(&path, &b).unwrap();
        assert!(import_bundle(&mirror, "copy", &path, &other, Settings::default()).is_err());
        assert_eq!(get(&mirror, "copy").unwrap().digest, v3.digest);

        // After a rollback the chain is broken: the plan falls back to a full copy.
        version::rollback(&hub, "hub").unwrap();
        let (h, _) = plan(&hub, "hub", Some(3)).unwrap();
        assert!(h.full);
        let (h, v) = plan(&hub, "hub", Some(1)).unwrap();
        assert_eq!((h.full, v), (false, vec![2]));
    }
}
