//! Enumerates input files: paths given on the command line, directories walked in a stable
//! (byte-sorted) order, and every entry that is not a regular file reported rather than dropped.

use std::path::{Path, PathBuf};

use walkdir::WalkDir;

/// One thing found under the inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A regular file to hash (or a path given explicitly, followed if a symlink).
    File(PathBuf),
    /// An entry that is deliberately not hashed, and why (symlink, FIFO, socket, device).
    Skipped(PathBuf, &'static str),
    /// An entry that could not be listed or examined, and why.
    Unreadable(PathBuf, String),
}

/// Walks `inputs` in order. A directory yields its files sorted by name, recursively; symlinks
/// inside directories are not followed (a link loop or a link out of the evidence tree must not
/// change what is hashed). A path given explicitly is taken as the user named it.
pub fn walk(inputs: impl IntoIterator<Item = PathBuf>) -> impl Iterator<Item = Entry> {
    inputs
        .into_iter()
        .flat_map(|input| -> Box<dyn Iterator<Item = Entry>> {
            match std::fs::metadata(&input) {
                Ok(m) if m.is_dir() => Box::new(walk_dir(input)),
                Ok(m) if m.is_file() => Box::new(std::iter::once(Entry::File(input))),
                Ok(m) => Box::new(std::iter::once(Entry::Skipped(
                    input,
                    special_kind(&m.file_type()),
                ))),
                Err(e) => Box::new(std::iter::once(Entry::Unreadable(input, io_detail(&e)))),
            }
        })
}

fn walk_dir(root: PathBuf) -> impl Iterator<Item = Entry> {
    WalkDir::new(root)
        .follow_links(false)
        .sort_by(|a, b| a.file_name().cmp(b.file_name()))
        .into_iter()
        .filter_map(|r| match r {
            Ok(e) if e.file_type().is_dir() => None,
            Ok(e) if e.file_type().is_file() => Some(Entry::File(e.into_path())),
            Ok(e) => {
                let why = special_kind(&e.file_type());
                Some(Entry::Skipped(e.into_path(), why))
            }
            Err(e) => {
                let path = e.path().map(Path::to_path_buf).unwrap_or_default();
                let why = e.io_error().map(io_detail).unwrap_or_else(|| e.to_string());
                Some(Entry::Unreadable(path, why))
            }
        })
}

fn special_kind(t: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_symlink() {
        "symlink (not followed)"
    } else if t.is_fifo() {
        "fifo"
    } else if t.is_socket() {
        "socket"
    } else if t.is_block_device() || t.is_char_device() {
        "device"
    } else {
        "not a regular file"
    }
}

/// A short, stable description of an I/O error for records ("not found", "permission denied").
pub fn io_detail(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "not found".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_sorted_and_reports_specials() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("sub")).unwrap();
        std::fs::write(root.join("b.bin"), b"b").unwrap();
        std::fs::write(root.join("a.bin"), b"a").unwrap();
        std::fs::write(root.join("sub/c.bin"), b"c").unwrap();
        std::os::unix::fs::symlink(root, root.join("loop")).unwrap();
        let missing = root.join("missing");
        let got: Vec<Entry> = walk([root.to_path_buf(), missing.clone()]).collect();
        assert_eq!(
            got,
            vec![
                Entry::File(root.join("a.bin")),
                Entry::File(root.join("b.bin")),
                Entry::Skipped(root.join("loop"), "symlink (not followed)"),
                Entry::File(root.join("sub/c.bin")),
                Entry::Unreadable(missing, "not found".to_string()),
            ]
        );
    }
}
