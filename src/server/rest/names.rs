//! HMA's names for what hashguard calls hash kinds and lists: signal types (`pdq`,
//! `video_md5`, plus hashguard's own kinds) and banks (list names in HMA's upper case).

use crate::hashing::HashKind;

/// Every signal type the facade answers to, in the order listings show them: HMA's two, then
/// hashguard's own kinds.
pub const SIGNAL_TYPES: [&str; 8] = [
    "pdq",
    "video_md5",
    "vpdq",
    "md5",
    "sha1",
    "sha256",
    "phash",
    "dhash",
];

/// The hash kind behind a signal type name. HMA's `video_md5` is the MD5 of the video file:
/// the same digest as hashguard's `md5`, matched against the same lists.
pub fn kind_of(signal_type: &str) -> Option<HashKind> {
    Some(match signal_type {
        "pdq" => HashKind::Pdq,
        "video_md5" | "md5" => HashKind::Md5,
        "sha1" => HashKind::Sha1,
        "sha256" => HashKind::Sha256,
        "phash" => HashKind::Phash,
        "dhash" => HashKind::Dhash,
        "vpdq" => HashKind::Vpdq,
        _ => return None,
    })
}

/// The signal type a hash of `kind` is answered under, for a file that `is_video` or not:
/// a video's MD5 is HMA's `video_md5`.
pub fn signal_type(kind: HashKind, is_video: bool) -> &'static str {
    match kind {
        HashKind::Md5 if is_video => "video_md5",
        k => k.name(),
    }
}

/// A list's bank name: HMA requires `[A-Z_][A-Z0-9_]*`, so letters are upper-cased, every
/// other character becomes `_`, and a leading digit gets a `_` before it.
pub fn bank_name(list: &str) -> String {
    let mut out = String::with_capacity(list.len() + 1);
    if list.chars().next().is_none_or(|c| c.is_ascii_digit()) {
        out.push('_');
    }
    out.extend(list.chars().map(|c| match c {
        'a'..='z' => c.to_ascii_uppercase(),
        'A'..='Z' | '0'..='9' => c,
        _ => '_',
    }));
    out
}

/// A comma-separated list as HMA's query parameters write them (`banks=A,B`), trimmed, empty
/// items left out.
pub fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bank_names_fit_hma_pattern() {
        for list in ["known-abuse", "ncmec.2024", "7days", "A_b", "", "école"] {
            let b = bank_name(list);
            let mut chars = b.chars();
            let first = chars.next().unwrap();
            assert!(first == '_' || first.is_ascii_uppercase(), "{list} -> {b}");
            assert!(
                chars.all(|c| c == '_' || c.is_ascii_uppercase() || c.is_ascii_digit()),
                "{list} -> {b}"
            );
        }
        assert_eq!(bank_name("known-abuse"), "KNOWN_ABUSE");
        assert_eq!(bank_name("7days"), "_7DAYS");
    }

    #[test]
    fn every_signal_type_has_a_kind_and_video_md5_is_md5() {
        for t in SIGNAL_TYPES {
            let k = kind_of(t).unwrap();
            assert_eq!(signal_type(k, t == "video_md5"), t);
        }
        assert_eq!(kind_of("video_md5"), Some(HashKind::Md5));
        assert_eq!(kind_of("tmk"), None);
        assert_eq!(split_list(" A, ,B,"), ["A", "B"]);
    }
}
