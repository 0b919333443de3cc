//! Every key layout of the store, in one place: each record type has one tag byte (after the
//! schema byte that [`Key::new`] writes), and each function here builds the keys or prefixes of
//! one record type. A new record type gets its tag here, and the test below keeps tags unique.
//!
//! | tag | column family | key | value |
//! |---|---|---|---|
//! | `L` | meta | list | the list's metadata (JSON) |
//! | `S` | meta | list | the last attempt to change it (JSON) |
//! | `Y` | meta | list | its sync state: validators, file stamp (JSON) |
//! | `C` | meta | list | the checkpoint of its paged sync (JSON) |
//! | `G` | meta | list, page, item | rows staged by a running paged sync |
//! | `H` | meta | list, version | a version's change-log header (JSON) |
//! | `D` | entries | list, version, row | a version's change log |
//! | `E` | entries | list, version, entry | an entry |
//! | `N` | index | list, version, kind, chunk | persisted BK-tree nodes |
//! | `X` | index | list, version, kind, node | extra entries of a node |
//! | `R` | reports | unit, cursor | a report (JSON) |
//! | `I` | reports | report id | where it is: the `R` key's parts |

use super::Key;
use crate::hashing::HashKind;

const LIST_META: u8 = b'L';
const LAST_ATTEMPT: u8 = b'S';
const SYNC_STATE: u8 = b'Y';
const PAGED_CHECKPOINT: u8 = b'C';
const PAGED_STAGED: u8 = b'G';
const CHANGE_HEADER: u8 = b'H';
const CHANGE_LOG: u8 = b'D';
const ENTRY: u8 = b'E';
const INDEX_CHUNK: u8 = b'N';
const INDEX_EXTRA: u8 = b'X';
const REPORT: u8 = b'R';
const REPORT_ID: u8 = b'I';
const AUDIT: u8 = b'A';

/// A hash kind's byte in index keys: its position in [`HashKind::ALL`].
pub fn kind_tag(kind: HashKind) -> u8 {
    HashKind::ALL.iter().position(|k| *k == kind).unwrap_or(0) as u8
}

/// Every list's metadata.
pub fn list_metas() -> Key {
    Key::new(LIST_META)
}

/// One list's metadata.
pub fn list_meta(list: &str) -> Key {
    Key::new(LIST_META).str(list)
}

/// The last attempt to change a list.
pub fn last_attempt(list: &str) -> Key {
    Key::new(LAST_ATTEMPT).str(list)
}

/// A list's sync state.
pub fn sync_state(list: &str) -> Key {
    Key::new(SYNC_STATE).str(list)
}

/// The checkpoint of a list's paged sync.
pub fn paged_checkpoint(list: &str) -> Key {
    Key::new(PAGED_CHECKPOINT).str(list)
}

/// Rows staged by a list's running paged sync (append pages and items).
pub fn paged_staged(list: &str) -> Key {
    Key::new(PAGED_STAGED).str(list)
}

/// A version's change-log header.
pub fn change_header(list: &str, version: u32) -> Key {
    Key::new(CHANGE_HEADER).str(list).u32(version)
}

/// A version's change log (append the row number).
pub fn change_log(list: &str, version: u32) -> Key {
    Key::new(CHANGE_LOG).str(list).u32(version)
}

/// Every version's entries of a list (append the version).
pub fn list_entries(list: &str) -> Key {
    Key::new(ENTRY).str(list)
}

/// A version's entries (append the entry id).
pub fn entries(list: &str, version: u32) -> Key {
    list_entries(list).u32(version)
}

/// Every version's index chunks of a list (append the version).
pub fn list_index_chunks(list: &str) -> Key {
    Key::new(INDEX_CHUNK).str(list)
}

/// Every version's extra-entry lists of a list (append the version).
pub fn list_index_extras(list: &str) -> Key {
    Key::new(INDEX_EXTRA).str(list)
}

/// Every index chunk of a version, of all kinds.
pub fn index_chunks(list: &str, version: u32) -> Key {
    list_index_chunks(list).u32(version)
}

/// The index chunks of one kind of a version (append the chunk number).
pub fn index_chunks_of(list: &str, version: u32, kind: HashKind) -> Key {
    index_chunks(list, version).u8(kind_tag(kind))
}

/// Every extra-entry list of a version's index, of all kinds.
pub fn index_extras(list: &str, version: u32) -> Key {
    list_index_extras(list).u32(version)
}

/// The extra-entry lists of one kind of a version's index (append the node).
pub fn index_extras_of(list: &str, version: u32, kind: HashKind) -> Key {
    index_extras(list, version).u8(kind_tag(kind))
}

/// A unit's reports (append the cursor).
pub fn reports(unit: &str) -> Key {
    Key::new(REPORT).str(unit)
}

/// Every unit's reports (the prefix of [`reports`]).
pub fn reports_all() -> Key {
    Key::new(REPORT)
}

/// The audit log's entries, by sequence number.
pub fn audit() -> Key {
    Key::new(AUDIT)
}

/// Where the report `id` is.
pub fn report_id(id: &str) -> Key {
    Key::new(REPORT_ID).str(id)
}

/// The value of a [`report_id`] key: the unit and cursor of the report, tagged 0.
pub fn report_location(unit: &str, cursor: u64) -> Key {
    Key::new(0).str(unit).u64(cursor)
}

/// The key of the report a [`report_id`] value points at.
pub fn report_at(location: &[u8]) -> Vec<u8> {
    let mut key = Key::new(REPORT).bytes().to_vec();
    key.extend_from_slice(location.get(2..).unwrap_or_default());
    key
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_record_type_has_its_own_tag() {
        let tags = [
            super::LIST_META,
            super::LAST_ATTEMPT,
            super::SYNC_STATE,
            super::PAGED_CHECKPOINT,
            super::PAGED_STAGED,
            super::CHANGE_HEADER,
            super::CHANGE_LOG,
            super::ENTRY,
            super::INDEX_CHUNK,
            super::INDEX_EXTRA,
            super::REPORT,
            super::REPORT_ID,
        ];
        let mut sorted = tags.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), tags.len());
    }
}
