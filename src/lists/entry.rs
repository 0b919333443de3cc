//! A list entry as stored: its hash, ids, labels and provenance, and the order-independent
//! digest over a version's entries.

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::hashing::{
    AnyHash, DHash, HashKind, Md5Digest, PHash, PdqHash, Sha1Digest, Sha256Digest, VpdqDigest,
};
use crate::lists::video::{SharedVideo, VideoEntry};

/// Where an entry came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// The source it was fetched from (a file, URL or hub, as the list's source names it).
    pub source: String,
    /// The list version that first held the entry in this form.
    pub fetched_version: u32,
    /// When it was fetched (seconds since the Unix epoch).
    pub fetched_at: u64,
}

/// A stored entry, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    /// The upstream id of the entry.
    pub id: String,
    /// The hash.
    pub hash: AnyHash,
    /// Category as the source wrote it.
    pub category: Option<String>,
    /// Series, when the source has one.
    pub series: Option<String>,
    /// Where it came from.
    pub provenance: Provenance,
    /// A video entry's frames (`hash` is their digest).
    pub video: Option<SharedVideo>,
}

impl StoredEntry {
    /// The hash bytes.
    pub fn hash_bytes(&self) -> Vec<u8> {
        hash_bytes(&self.hash)
    }
}

/// The bytes of a hash (big-endian for 64-bit hashes, so hex order is byte order).
pub fn hash_bytes(h: &AnyHash) -> Vec<u8> {
    match h {
        AnyHash::Pdq(p) => p.0.to_vec(),
        AnyHash::Phash(p) => p.0.to_be_bytes().to_vec(),
        AnyHash::Dhash(d) => d.0.to_be_bytes().to_vec(),
        AnyHash::Md5(d) => d.0.to_vec(),
        AnyHash::Sha1(d) => d.0.to_vec(),
        AnyHash::Sha256(d) => d.0.to_vec(),
        AnyHash::Vpdq(d) => d.0.to_vec(),
    }
}

/// The hash of `kind` with these bytes, if they have the kind's length.
pub fn hash_from_bytes(kind: HashKind, b: &[u8]) -> Option<AnyHash> {
    Some(match kind {
        HashKind::Pdq => AnyHash::Pdq(PdqHash(b.try_into().ok()?)),
        HashKind::Phash => AnyHash::Phash(PHash(u64::from_be_bytes(b.try_into().ok()?))),
        HashKind::Dhash => AnyHash::Dhash(DHash(u64::from_be_bytes(b.try_into().ok()?))),
        HashKind::Md5 => AnyHash::Md5(Md5Digest(b.try_into().ok()?)),
        HashKind::Sha1 => AnyHash::Sha1(Sha1Digest(b.try_into().ok()?)),
        HashKind::Sha256 => AnyHash::Sha256(Sha256Digest(b.try_into().ok()?)),
        HashKind::Vpdq => AnyHash::Vpdq(VpdqDigest(b.try_into().ok()?)),
    })
}

fn kind_byte(kind: HashKind) -> u8 {
    HashKind::ALL.iter().position(|k| *k == kind).unwrap_or(0) as u8
}

fn kind_from_byte(b: u8) -> Option<HashKind> {
    HashKind::ALL.get(usize::from(b)).copied()
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    // Ids and labels are capped well below 64 KiB by the parsers; clamp rather than wrap.
    let s = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s);
}

/// The stored form: kind, id, category, series, provenance, then the hash bytes (for a video:
/// its digest, then its frames in [`VideoEntry::encode`]'s form).
pub fn encode(e: &StoredEntry) -> Vec<u8> {
    let mut out = Vec::with_capacity(e.id.len() + e.provenance.source.len() + 64);
    out.push(kind_byte(e.hash.kind()));
    put_str(&mut out, &e.id);
    put_str(&mut out, e.category.as_deref().unwrap_or(""));
    put_str(&mut out, e.series.as_deref().unwrap_or(""));
    put_str(&mut out, &e.provenance.source);
    out.extend_from_slice(&e.provenance.fetched_version.to_be_bytes());
    out.extend_from_slice(&e.provenance.fetched_at.to_be_bytes());
    out.extend_from_slice(&hash_bytes(&e.hash));
    if let (AnyHash::Vpdq(_), Some(v)) = (&e.hash, &e.video) {
        out.extend_from_slice(&v.encode());
    }
    out
}

/// Decodes [`encode`]'s form; `None` when the bytes are not one.
pub fn decode(b: &[u8]) -> Option<StoredEntry> {
    let kind = kind_from_byte(*b.first()?)?;
    let mut at = 1;
    let mut take = || -> Option<String> {
        let len = u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?) as usize;
        let s = std::str::from_utf8(b.get(at + 2..at + 2 + len)?).ok()?;
        at += 2 + len;
        Some(s.to_string())
    };
    let id = take()?;
    let category = take()?;
    let series = take()?;
    let source = take()?;
    let fetched_version = u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?);
    let fetched_at = u64::from_be_bytes(b.get(at + 4..at + 12)?.try_into().ok()?);
    let rest = b.get(at + 12..)?;
    let (hash, video) = if kind == HashKind::Vpdq {
        let video = VideoEntry::decode(rest.get(32..)?)?;
        let hash = hash_from_bytes(kind, &rest[..32])?;
        // The digest is what the list's digest covers: frames that no longer hash to it are
        // damage, never matched.
        if hash != AnyHash::Vpdq(video.digest()) {
            return None;
        }
        (hash, Some(SharedVideo::new(video)))
    } else {
        (hash_from_bytes(kind, rest)?, None)
    };
    Some(StoredEntry {
        video,
        id,
        hash,
        category: (!category.is_empty()).then_some(category),
        series: (!series.is_empty()).then_some(series),
        provenance: Provenance {
            source,
            fetched_version,
            fetched_at,
        },
    })
}

/// An order-independent digest of a set of entries: the sum, modulo 2^256, of each entry's
/// SHA-256 over its kind, id, hash, category and series. A sum (unlike XOR) still changes
/// when an entry appears twice, and an entry can be taken out again by subtracting it.
/// Provenance is left out, so a list rebuilt from another source with the same content has
/// the same digest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SetDigest([u64; 4]);

fn contribution(
    id: &str,
    hash: &AnyHash,
    category: Option<&str>,
    series: Option<&str>,
) -> [u64; 4] {
    let mut h = Sha256::new();
    h.update(hash.kind().name().as_bytes());
    h.update([0]);
    h.update(id.as_bytes());
    h.update([0]);
    h.update(hash_bytes(hash));
    h.update([0]);
    h.update(category.unwrap_or("").as_bytes());
    h.update([0]);
    h.update(series.unwrap_or("").as_bytes());
    let d = h.finalize();
    std::array::from_fn(|i| u64::from_le_bytes(d[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8])))
}

impl SetDigest {
    /// Adds an entry.
    pub fn add(&mut self, e: &StoredEntry) {
        self.add_parts(&e.id, &e.hash, e.category.as_deref(), e.series.as_deref());
    }

    /// Adds an entry given by its parts.
    pub fn add_parts(
        &mut self,
        id: &str,
        hash: &AnyHash,
        category: Option<&str>,
        series: Option<&str>,
    ) {
        let c = contribution(id, hash, category, series);
        let mut carry = false;
        for (limb, add) in self.0.iter_mut().zip(c) {
            let (s1, c1) = limb.overflowing_add(add);
            let (s2, c2) = s1.overflowing_add(u64::from(carry));
            *limb = s2;
            carry = c1 || c2;
        }
    }

    /// Takes an entry out again.
    pub fn remove(&mut self, e: &StoredEntry) {
        let c = contribution(&e.id, &e.hash, e.category.as_deref(), e.series.as_deref());
        let mut borrow = false;
        for (limb, sub) in self.0.iter_mut().zip(c) {
            let (s1, b1) = limb.overflowing_sub(sub);
            let (s2, b2) = s1.overflowing_sub(u64::from(borrow));
            *limb = s2;
            borrow = b1 || b2;
        }
    }

    /// 64 hex characters (most significant limb first).
    pub fn to_hex(self) -> String {
        self.0.iter().rev().map(|l| format!("{l:016x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, hex: &str, cat: Option<&str>) -> StoredEntry {
        StoredEntry {
            id: id.into(),
            hash: AnyHash::parse(HashKind::Md5, hex).unwrap(),
            category: cat.map(str::to_string),
            series: None,
            provenance: Provenance {
                source: "file:x".into(),
                fetched_version: 3,
                fetched_at: 1_700_000_000,
            },
            video: None,
        }
    }

    #[test]
    fn encode_round_trips() {
        let mut e = entry("vic-1", "900150983cd24fb0d6963f7d28e17f72", Some("1"));
        e.series = Some("s".into());
        assert_eq!(decode(&encode(&e)), Some(e.clone()));
        let pdq = StoredEntry {
            hash: AnyHash::Pdq(PdqHash([7; 32])),
            ..e
        };
        assert_eq!(decode(&encode(&pdq)), Some(pdq));
        assert_eq!(decode(&[9, 0]), None);
        assert_eq!(decode(&[]), None);
    }

    #[test]
    fn digest_is_order_independent_and_subtractable() {
        let a = entry("a", "900150983cd24fb0d6963f7d28e17f72", None);
        let b = entry("b", "e2fc714c4727ee9395f324cd2e7f331f", Some("A1"));
        let (mut x, mut y) = (SetDigest::default(), SetDigest::default());
        x.add(&a);
        x.add(&b);
        y.add(&b);
        y.add(&a);
        assert_eq!(x, y);
        y.add(&a);
        assert_ne!(x, y, "a duplicate changes the digest");
        y.remove(&a);
        assert_eq!(x, y);
        x.remove(&a);
        x.remove(&b);
        assert_eq!(x, SetDigest::default());
        let mut relabelled = SetDigest::default();
        relabelled.add(&StoredEntry {
            category: Some("B1".into()),
            ..b.clone()
        });
        relabelled.add(&a);
        assert_ne!(relabelled, y, "a category change changes the digest");
    }
}
