//! Containers inside seized media: archives (through libarchive) and disk images (through The
//! Sleuth Kit), opened without extracting or mounting, so that every file inside becomes an
//! entry of the scan with an address another tool can follow.
//!
//! [`Expand`] turns the walk of the inputs into the walk of everything inside them, depth
//! first: a container is yielded first (it is a file too, with its own digests), then its
//! members, each of which may be a container again, up to [`ContainerLimits::max_depth`].
//!
//! Addresses: a member's path is its container's path, `!`, then its place inside:
//! `seized.zip!/photos/a.jpg`, `seized.zip!/inner.tar!/b.png`; in a disk image
//! `disk.E01!/p4/home/c.jpg` (partition slot as `mmls` numbers it) or `card.img!/DCIM/d.jpg`
//! (no partition table); a carved object `card.img!/carved/@1052672.jpg` (its byte offset in
//! the image). The rest of a container that a cap or damage stopped is one entry named
//! `CONTAINER!/`.

pub mod archive;
pub mod carve;
pub mod disk;

use std::path::Path;
use std::sync::Arc;

use crate::files::Entry;
use crate::fingerprint::{FileRecord, Reason};
use crate::hashing::{DigestSet, Digester};

/// Caps on what containers may cost, so a bomb ends with a clear outcome and the scan goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContainerLimits {
    /// Open containers at all (off: a container is just a file).
    pub open: bool,
    /// Containers inside containers are opened to this depth (1: only the inputs' own).
    pub max_depth: u32,
    /// A member up to this size is held in memory and hashed whole; a larger one is digested
    /// while it streams and not decoded (`too_large`).
    pub max_member_bytes: u64,
    /// An archive stops once it has expanded to this many times its own size…
    pub max_ratio: u64,
    /// …but never before it has expanded to this many bytes.
    pub ratio_floor: u64,
    /// Bytes one input may expand to, over all its nested containers.
    pub max_expanded_bytes: u64,
    /// Members one container may hold.
    pub max_members: u64,
    /// Bytes carved (JPEG, PNG, GIF) from one disk image's unallocated space and unrecognised
    /// volumes; 0: no carving.
    pub max_carved_bytes: u64,
    /// Open the files given as inputs as disk images even when no partition table or file
    /// system is recognised in them (they are then carved whole).
    pub force_disk: bool,
}

impl Default for ContainerLimits {
    fn default() -> Self {
        ContainerLimits {
            open: true,
            max_depth: 5,
            max_member_bytes: 256 << 20,
            max_ratio: 200,
            ratio_floor: 64 << 20,
            max_expanded_bytes: 64 << 30,
            max_members: 1_000_000,
            max_carved_bytes: 4 << 30,
            force_disk: false,
        }
    }
}

/// What a member holds when it reaches the scan.
#[derive(Debug, Clone)]
pub enum Content {
    /// The whole member, to hash and decode.
    Bytes(Arc<[u8]>),
    /// Nothing to hash (encrypted, over a cap, unreadable): the record is final, digests
    /// included when the member was streamed whole.
    Record(Box<FileRecord>),
}

/// Where a member of a disk image sits, so another tool can find the same bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Place {
    /// The file system's type ("ext4", "fat16", "ntfs").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs_type: Option<String>,
    /// The file system's start in the image, in bytes (`icat -o` takes it in sectors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs_offset: Option<u64>,
    /// The file's metadata address (inode, MFT entry, directory entry), as `icat` takes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_addr: Option<u64>,
    /// A carved object's byte offset in the image (its length is `size`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// The file is deleted; its content, when read, may have been overwritten since.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    /// For a deleted file whose content was read: how far it can be trusted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered: Option<String>,
}

impl Place {
    /// True when nothing is set (an entry that is not in a disk image).
    pub fn is_empty(&self) -> bool {
        *self == Place::default()
    }
}

/// One entry found inside a container.
#[derive(Debug, Clone)]
pub struct Member {
    /// Its address (see the module documentation).
    pub path: String,
    /// The containers it is in, outermost first.
    pub container: Vec<String>,
    /// Its content.
    pub content: Content,
    /// It is a container itself, opened as this format.
    pub opened_as: Option<String>,
    /// It is a container that was not opened, and why (its digests are still checked).
    pub not_opened: Option<String>,
    /// Where it sits in a disk image.
    pub place: Place,
}

impl Member {
    /// A member that is not itself a container (yet: [`Expand`] decides).
    fn new(path: String, container: Vec<String>, content: Content, place: Place) -> Self {
        Member {
            path,
            container,
            content,
            opened_as: None,
            not_opened: None,
            place,
        }
    }
}

/// One thing to scan: a file or special entry of the walk, or a member of a container.
#[derive(Debug, Clone)]
pub enum Item {
    /// An entry of the walk; a file that is a container says what it was opened as, or why
    /// it could not be.
    Walked(Entry, Option<String>, Option<String>),
    /// An entry inside a container.
    Member(Box<Member>),
}

impl Item {
    /// The entry's address, for checkpoints and messages.
    pub fn path(&self) -> String {
        match self {
            Item::Walked(Entry::File(p) | Entry::Skipped(p, _) | Entry::Unreadable(p, _), ..) => {
                p.to_string_lossy().into_owned()
            }
            Item::Member(m) => m.path.clone(),
        }
    }
}

/// What a file's first bytes say it is, as far as containers go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An archive libarchive reads.
    Archive,
    /// A compressed stream: a compressed archive (`.tar.gz`), or one compressed file.
    Compressed,
}

/// Recognises a container by its content (never by its name).
pub fn sniff(head: &[u8]) -> Option<Kind> {
    let at = |off: usize, sig: &[u8]| head.get(off..off + sig.len()) == Some(sig);
    let compressed = at(0, b"\x1F\x8B\x08")
        || at(0, b"\xFD7zXZ\x00")
        || at(0, b"\x28\xB5\x2F\xFD")
        || (at(0, b"BZh") && at(4, b"\x31\x41\x59\x26\x53\x59"));
    let archive = at(0, b"PK\x03\x04")
        || at(0, b"PK\x05\x06")
        || at(0, b"7z\xBC\xAF\x27\x1C")
        || at(0, b"Rar!\x1A\x07")
        || at(257, b"ustar")
        || at(0, b"070701")
        || at(0, b"070702")
        || at(0, b"070707")
        || at(0x8001, b"CD001");
    if archive {
        Some(Kind::Archive)
    } else if compressed {
        Some(Kind::Compressed)
    } else {
        None
    }
}

/// Where an archive's bytes are.
enum ArchiveInput<'a> {
    File(&'a Path),
    Memory(&'a Arc<[u8]>),
}

/// The first header of an archive, read when it is opened.
type FirstHeader = Option<Result<archive::Header, archive::Error>>;

/// Opens an archive of `kind` and reads its first header (so that a file that only looks like
/// an archive is told apart now); a compressed stream that holds no archive is read as a
/// single member. A failure says why; an archive whose headers are encrypted opens, and its
/// first header says so.
fn open_archive(
    input: ArchiveInput<'_>,
    kind: Kind,
) -> Result<(archive::Reader, FirstHeader), archive::Error> {
    let open = |mode| -> Result<(archive::Reader, FirstHeader), archive::Error> {
        let mut r = match &input {
            ArchiveInput::File(p) => archive::Reader::open_file(p, mode)?,
            ArchiveInput::Memory(b) => archive::Reader::open_memory((*b).clone(), mode)?,
        };
        match r.next_header() {
            Some(Err(e)) if !e.0.contains("encrypted") => Err(e),
            first => Ok((r, first)),
        }
    };
    match open(archive::Mode::Archive) {
        Ok(r) => Ok(r),
        Err(_) if kind == Kind::Compressed => open(archive::Mode::Stream),
        Err(e) => Err(e),
    }
}

/// Bytes read to recognise a container: enough for ISO 9660's volume descriptor.
pub const SNIFF_BYTES: usize = 0x8001 + 5;

fn head_of_file(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path)?;
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    f.take(SNIFF_BYTES as u64).read_to_end(&mut head)?;
    Ok(head)
}

/// A container being read: its address, depth, and where its members come from.
struct Frame {
    path: String,
    chain: Vec<String>,
    source: Source,
    /// Size of the container itself, for the ratio cap.
    size: u64,
    members: u64,
    expanded: u64,
    /// Set once the container cannot go on: the entry for its rest comes next.
    stopped: Option<(Reason, String)>,
    done: bool,
}

/// Where a container's members come from.
enum Source {
    Archive {
        reader: archive::Reader,
        /// The first header, read when the archive was opened (to learn its format).
        pending: Option<Option<Result<archive::Header, archive::Error>>>,
    },
    Disk(DiskWalk),
}

/// The files of a disk image still to be read, volume by volume.
struct DiskWalk {
    jobs: std::collections::VecDeque<DiskJob>,
    fss: Vec<disk::FileSystem>,
    image: disk::Image,
    /// Bytes carved so far.
    carved: u64,
}

enum DiskJob {
    /// A regular file of file system `fs`, under the volume's address `prefix`.
    File {
        fs: usize,
        prefix: String,
        file: disk::FsFile,
    },
    /// A volume where no file system was recognised.
    NoFs { prefix: String, detail: String },
    /// Carve the unallocated space of file system `fs`, or the bytes `start..start + len`.
    Carve {
        prefix: String,
        fs: Option<usize>,
        start: u64,
        len: u64,
    },
    /// One carved object.
    Carved {
        prefix: String,
        object: carve::Carved,
    },
}

impl Frame {
    fn member_chain(&self) -> Vec<String> {
        let mut c = self.chain.clone();
        c.push(self.path.clone());
        c
    }
}

/// The walk of the inputs with every container opened (see the module documentation).
pub struct Expand<I> {
    walk: I,
    /// The inputs as given (for `force_disk`).
    inputs: Vec<std::path::PathBuf>,
    limits: ContainerLimits,
    stack: Vec<Frame>,
    /// Bytes expanded under the current input.
    input_expanded: u64,
}

fn member_record(path: &str, reason: Reason, detail: impl Into<String>) -> Content {
    Content::Record(Box::new(FileRecord::failed(
        Path::new(path),
        reason,
        detail,
    )))
}

impl<I: Iterator<Item = Entry>> Expand<I> {
    /// Expands `walk` of `inputs` within `limits`.
    pub fn new(inputs: &[std::path::PathBuf], walk: I, limits: ContainerLimits) -> Self {
        Expand {
            walk,
            inputs: inputs.to_vec(),
            limits,
            stack: Vec::new(),
            input_expanded: 0,
        }
    }

    /// Opens the walked file `path` if it is a container; returns what it was opened as, or
    /// why a file that looks like one could not be opened.
    fn open_walked(&mut self, path: &Path) -> (Option<String>, Option<String>) {
        let Ok(head) = head_of_file(path) else {
            // Unreadable: the record made when it is hashed says so.
            return (None, None);
        };
        let size = std::fs::metadata(path).map_or(0, |m| m.len());
        let name = path.to_string_lossy().into_owned();
        if let Some(kind) = sniff(&head) {
            return match open_archive(ArchiveInput::File(path), kind) {
                Ok((r, first)) => (Some(self.push(name, Vec::new(), r, first, size)), None),
                Err(e) => (None, Some(format!("looks like an archive but {e}"))),
            };
        }
        let forced = self.limits.force_disk && self.inputs.iter().any(|i| i == path);
        let Some((walk, format)) = open_disk(path, &head, forced) else {
            return (None, None);
        };
        self.stack.push(Frame {
            path: name,
            chain: Vec::new(),
            source: Source::Disk(walk),
            size,
            members: 0,
            expanded: 0,
            stopped: None,
            done: false,
        });
        (Some(format), None)
    }

    fn push(
        &mut self,
        path: String,
        chain: Vec<String>,
        source: archive::Reader,
        first: FirstHeader,
        size: u64,
    ) -> String {
        // The format is known once the first header is read (when it was opened), so the
        // container's own record can say what it was opened as.
        let format = match source.format_name() {
            f if f.is_empty() => "archive".to_string(),
            f => f,
        };
        self.stack.push(Frame {
            path,
            chain,
            source: Source::Archive {
                reader: source,
                pending: Some(first),
            },
            size,
            members: 0,
            expanded: 0,
            stopped: None,
            done: false,
        });
        format
    }

    /// The next entry of the innermost open container, or `None` when it has ended.
    fn next_member(&mut self) -> Option<Option<Item>> {
        let limits = self.limits;
        let frame = self.stack.last_mut()?;
        if frame.done {
            self.stack.pop();
            return Some(None);
        }
        if let Some((reason, detail)) = frame.stopped.take() {
            frame.done = true;
            let path = format!("{}!/", frame.path);
            let content = member_record(&path, reason, detail);
            let member = Member::new(path, frame.member_chain(), content, Place::default());
            return Some(Some(Item::Member(Box::new(member))));
        }
        let header = match &mut frame.source {
            Source::Archive { reader, pending } => match pending.take() {
                Some(h) => h,
                None => reader.next_header(),
            },
            Source::Disk(walk) => {
                let Some(job) = walk.jobs.pop_front() else {
                    frame.done = true;
                    return Some(None);
                };
                return Some(
                    disk_member(frame, job, &limits).map(|m| self.maybe_nested(m, &limits)),
                );
            }
        };
        let h = match header {
            None => {
                frame.done = true;
                return Some(None);
            }
            Some(Err(e)) => {
                let reason = if e.0.contains("encrypted") {
                    Reason::Encrypted
                } else {
                    Reason::NotOpened
                };
                frame.stopped = Some((
                    reason,
                    format!(
                        "the rest of the container was not read (after {} members): {e}",
                        frame.members
                    ),
                ));
                return Some(None);
            }
            Some(Ok(h)) => h,
        };
        if h.kind == archive::MemberKind::Directory {
            return Some(None);
        }
        frame.members += 1;
        if frame.members > limits.max_members {
            frame.stopped = Some((
                Reason::NotOpened,
                format!(
                    "member cap reached ({} members): the rest was not read",
                    limits.max_members
                ),
            ));
            return Some(None);
        }
        let path = format!("{}!/{}", frame.path, String::from_utf8_lossy(&h.path));
        let chain = frame.member_chain();
        let content = if h.kind == archive::MemberKind::Special {
            member_record(
                &path,
                Reason::Skipped,
                "link or special member (not followed)",
            )
        } else if h.encrypted {
            member_record(
                &path,
                Reason::Encrypted,
                "encrypted: the content cannot be read without its key",
            )
        } else {
            let (content, stop) = read_member(frame, &limits, &mut self.input_expanded, &path);
            if let Some(stop) = stop {
                // Stopped mid-member: every container under this input ends here, since
                // going on would mean expanding what the cap refused.
                let whole_input = stop.1;
                for f in self.stack.iter_mut().rev() {
                    if f.stopped.is_none() && !f.done {
                        f.stopped = Some((Reason::NotOpened, stop.0.clone()));
                    }
                    if !whole_input {
                        break;
                    }
                }
            }
            content
        };
        let member = Member::new(path, chain, content, Place::default());
        Some(Some(self.maybe_nested(member, &limits)))
    }

    /// Opens `member` as a nested archive when it is one and the depth cap allows.
    fn maybe_nested(&mut self, mut member: Member, limits: &ContainerLimits) -> Item {
        let depth = member.container.len() as u32;
        if let Content::Bytes(bytes) = &member.content
            && let Some(kind) = sniff(bytes)
        {
            if depth >= limits.max_depth {
                member.not_opened = Some(format!(
                    "a container nested deeper than the depth cap ({}): not opened",
                    limits.max_depth
                ));
            } else {
                match open_archive(ArchiveInput::Memory(bytes), kind) {
                    Ok((r, first)) => {
                        let size = bytes.len() as u64;
                        let format = self.push(
                            member.path.clone(),
                            member.container.clone(),
                            r,
                            first,
                            size,
                        );
                        member.opened_as = Some(format);
                    }
                    Err(e) => {
                        member.not_opened = Some(format!("looks like an archive but {e}"));
                    }
                }
            }
        }
        Item::Member(Box::new(member))
    }
}

/// Reads the current member of `frame` within the caps. Returns its content and, when a cap
/// stopped it, why and whether the cap is the whole input's.
fn read_member(
    frame: &mut Frame,
    limits: &ContainerLimits,
    input_expanded: &mut u64,
    path: &str,
) -> (Content, Option<(String, bool)>) {
    let ratio_cap = limits
        .ratio_floor
        .max(limits.max_ratio.saturating_mul(frame.size));
    let mut expanded = frame.expanded;
    let mut input = *input_expanded;
    let mut gather = Gather::new(limits.max_member_bytes);
    let mut stop: Option<(String, bool)> = None;
    let container = frame.path.clone();
    let Source::Archive { reader, .. } = &mut frame.source else {
        unreachable!("only archives have members read this way")
    };
    let read = reader.read_data(&mut |chunk| {
        expanded += chunk.len() as u64;
        input += chunk.len() as u64;
        if expanded > ratio_cap {
            stop = Some((
                format!(
                    "expansion cap: {container} expanded past {} bytes ({}× its size, at least {} bytes)",
                    ratio_cap, limits.max_ratio, limits.ratio_floor
                ),
                false,
            ));
            return false;
        }
        if input > limits.max_expanded_bytes {
            stop = Some((
                format!(
                    "expansion cap: the input expanded past {} bytes",
                    limits.max_expanded_bytes
                ),
                true,
            ));
            return false;
        }
        gather.push(chunk);
        true
    });
    frame.expanded = expanded;
    *input_expanded = input;
    if let Some((why, whole)) = stop {
        let content = member_record(
            path,
            Reason::TooLarge,
            format!("not read to its end: {why}"),
        );
        return (content, Some((why, whole)));
    }
    match read {
        Err(e) => (member_record(path, Reason::Unreadable, e.0), None),
        Ok(n) => (gather.finish(path, n), None),
    }
}

/// A member's bytes as they stream: held in memory up to a cap, digested only beyond it.
struct Gather {
    buf: Vec<u8>,
    digester: Option<Digester>,
    max: u64,
}

impl Gather {
    fn new(max: u64) -> Self {
        Gather {
            buf: Vec::new(),
            digester: None,
            max,
        }
    }

    fn push(&mut self, chunk: &[u8]) {
        match &mut self.digester {
            Some(d) => d.update(chunk),
            None if (self.buf.len() + chunk.len()) as u64 > self.max => {
                // Too big to hold: digested as it streams, never decoded.
                let mut d = Digester::new(DigestSet::ALL);
                d.update(&self.buf);
                d.update(chunk);
                self.buf = Vec::new();
                self.digester = Some(d);
            }
            None => self.buf.extend_from_slice(chunk),
        }
    }

    fn finish(self, path: &str, n: u64) -> Content {
        match self.digester {
            Some(d) => {
                let mut rec = FileRecord::failed(
                    Path::new(path),
                    Reason::TooLarge,
                    format!(
                        "{n} bytes, over the {} bytes a member may hold in memory: digests only",
                        self.max
                    ),
                );
                rec.size = Some(n);
                rec.set_digests(d.finish());
                Content::Record(Box::new(rec))
            }
            None => Content::Bytes(self.buf.into()),
        }
    }
}

/// Opens `path` as a disk image when The Sleuth Kit finds a partition table or a file system
/// in it; returns its walk and a description ("raw image, gpt: p4 fat16, p5 ext4").
fn open_disk(path: &Path, head: &[u8], forced: bool) -> Option<(DiskWalk, String)> {
    if !forced && !disk::looks_like_image(head) {
        return None;
    }
    let image = disk::Image::open(path).ok()?;
    let mut walk = DiskWalk {
        jobs: std::collections::VecDeque::new(),
        fss: Vec::new(),
        carved: 0,
        image,
    };
    let image = &walk.image;
    let mut parts = Vec::new();
    let mut fss = Vec::new();
    let mut raw = Vec::new();
    let described = match image.volumes() {
        Ok(Some((vs, volumes))) => {
            for v in volumes.iter().filter(|v| v.allocated) {
                let prefix = format!("/p{}", v.slot);
                match image.file_system(v.start) {
                    Ok(fs) => {
                        parts.push(format!("p{} {}", v.slot, fs.kind()));
                        fss.push((fs, prefix));
                    }
                    Err(e) => {
                        parts.push(format!("p{} no file system", v.slot));
                        raw.push((
                            prefix,
                            v.start,
                            v.len,
                            format!(
                                "partition {} ({}, {} bytes at byte {}): no file system recognised ({e}): carved",
                                v.slot, v.desc, v.len, v.start
                            ),
                        ));
                    }
                }
            }
            format!("{} image, {vs}: {}", image.kind(), parts.join(", "))
        }
        // No partition table: a file system image, or not an image at all (carved whole when
        // it was given as a disk image).
        _ => match image.file_system(0) {
            Ok(fs) => {
                let d = format!("{} image: {}", image.kind(), fs.kind());
                fss.push((fs, String::new()));
                d
            }
            Err(e) if forced => {
                raw.push((
                    String::new(),
                    0,
                    image.size(),
                    format!("no partition table or file system recognised ({e}): carved"),
                ));
                format!("{} image: no file system", image.kind())
            }
            Err(_) => return None,
        },
    };
    for (fs, prefix) in fss {
        add_fs(&mut walk, fs, prefix);
    }
    for (prefix, start, len, detail) in raw {
        walk.jobs.push_back(DiskJob::NoFs {
            prefix: prefix.clone(),
            detail,
        });
        walk.jobs.push_back(DiskJob::Carve {
            prefix,
            fs: None,
            start,
            len,
        });
    }
    Some((walk, described))
}

fn add_fs(walk: &mut DiskWalk, fs: disk::FileSystem, prefix: String) {
    let index = walk.fss.len();
    match fs.files() {
        Ok(files) => {
            for file in files {
                walk.jobs.push_back(DiskJob::File {
                    fs: index,
                    prefix: prefix.clone(),
                    file,
                });
            }
        }
        Err(e) => walk.jobs.push_back(DiskJob::NoFs {
            prefix: prefix.clone(),
            detail: format!("{} file system could not be listed: {e}", fs.kind()),
        }),
    }
    walk.jobs.push_back(DiskJob::Carve {
        prefix,
        fs: Some(index),
        start: 0,
        len: 0,
    });
    walk.fss.push(fs);
}

/// Runs one carving job: the objects found become jobs at the front of the queue, in order,
/// within the image's carving budget; returns why carving stopped early, if it did.
fn run_carve(
    walk: &mut DiskWalk,
    prefix: &str,
    fs: Option<usize>,
    start: u64,
    len: u64,
    limits: &ContainerLimits,
) -> Result<(), String> {
    let mut carver = carve::Carver::new(limits.max_member_bytes.min(usize::MAX as u64) as usize);
    match fs {
        Some(i) => walk.fss[i]
            .unallocated(&mut |off, bytes| {
                carver.feed(off, bytes);
                true
            })
            .map_err(|e| format!("unallocated space could not be read: {e}"))?,
        None => {
            let mut buf = vec![0u8; 1 << 20];
            let mut at = start;
            while at < start + len {
                let want = buf.len().min((start + len - at) as usize);
                let n = walk.image.read_at(at, &mut buf[..want]).map_err(|e| e.0)?;
                if n == 0 {
                    break;
                }
                carver.feed(at, &buf[..n]);
                at += n as u64;
            }
        }
    }
    let mut found = carver.finish();
    let mut stopped = None;
    let mut kept = Vec::new();
    for object in found.drain(..) {
        if walk.carved + object.len > limits.max_carved_bytes {
            stopped = Some(format!(
                "carving stopped at the cap of {} bytes per image",
                limits.max_carved_bytes
            ));
            break;
        }
        walk.carved += object.len;
        kept.push(object);
    }
    for object in kept.into_iter().rev() {
        walk.jobs.push_front(DiskJob::Carved {
            prefix: prefix.to_string(),
            object,
        });
    }
    match stopped {
        Some(why) => Err(why),
        None => Ok(()),
    }
}

/// The member for one job of a disk image's walk.
fn disk_member(frame: &mut Frame, job: DiskJob, limits: &ContainerLimits) -> Option<Member> {
    let chain = frame.member_chain();
    let Source::Disk(walk) = &mut frame.source else {
        unreachable!("disk jobs come from disk images")
    };
    match job {
        DiskJob::NoFs { prefix, detail } => {
            let path = format!("{}!{prefix}/", frame.path);
            let content = member_record(&path, Reason::NotOpened, detail);
            Some(Member::new(path, chain, content, Place::default()))
        }
        DiskJob::Carve {
            prefix,
            fs,
            start,
            len,
        } => {
            if limits.max_carved_bytes == 0 {
                return None;
            }
            match run_carve(walk, &prefix, fs, start, len, limits) {
                Ok(()) => None,
                Err(why) => {
                    let path = format!("{}!{prefix}/$Carved/", frame.path);
                    let content = member_record(&path, Reason::NotOpened, why);
                    Some(Member::new(path, chain, content, Place::default()))
                }
            }
        }
        DiskJob::Carved { prefix, object } => {
            let path = format!(
                "{}!{prefix}/$Carved/@{}.{}",
                frame.path, object.offset, object.ext
            );
            let mut buf = vec![0u8; object.len as usize];
            let content = match walk.image.read_at(object.offset, &mut buf) {
                Ok(n) if n == buf.len() => Content::Bytes(buf.into()),
                Ok(n) => member_record(
                    &path,
                    Reason::Unreadable,
                    format!("the image ended after {n} of {} bytes", object.len),
                ),
                Err(e) => member_record(&path, Reason::Unreadable, e.0),
            };
            let place = Place {
                offset: Some(object.offset),
                ..Place::default()
            };
            Some(Member::new(path, chain, content, place))
        }
        DiskJob::File { fs, prefix, file } => {
            let path = format!("{}!{prefix}{}", frame.path, file.path);
            let fs = &walk.fss[fs];
            let place = Place {
                fs_type: Some(fs.kind()),
                fs_offset: Some(fs.offset),
                meta_addr: Some(file.meta_addr),
                offset: None,
                deleted: file.deleted,
                recovered: (file.deleted && file.recoverable).then(|| {
                    "read from where the file system last placed it: possibly overwritten"
                        .to_string()
                }),
            };
            let content = if !file.recoverable {
                member_record(
                    &path,
                    Reason::Unreadable,
                    "deleted: the file system no longer says where its content was",
                )
            } else {
                let mut gather = Gather::new(limits.max_member_bytes);
                match fs.read_file(file.meta_addr, &mut |chunk| {
                    gather.push(chunk);
                    true
                }) {
                    Ok(n) => gather.finish(&path, n),
                    Err(e) => member_record(&path, Reason::Unreadable, e.0),
                }
            };
            Some(Member::new(path, chain, content, place))
        }
    }
}

impl<I: Iterator<Item = Entry>> Iterator for Expand<I> {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        loop {
            match self.next_member() {
                Some(Some(item)) => return Some(item),
                Some(None) => continue,
                None => {}
            }
            let entry = self.walk.next()?;
            self.input_expanded = 0;
            let (opened, not_opened) = match &entry {
                Entry::File(p) if self.limits.open => self.open_walked(&p.clone()),
                _ => (None, None),
            };
            return Some(Item::Walked(entry, opened, not_opened));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(dir: &Path, limits: ContainerLimits) -> Vec<(String, Option<Reason>, String)> {
        let inputs = vec![dir.to_path_buf()];
        Expand::new(&inputs, crate::files::walk(inputs.clone()), limits)
            .map(|item| {
                let rel = item.path().replacen(&format!("{}/", dir.display()), "", 1);
                match item {
                    Item::Walked(_, opened, not_opened) => (
                        rel,
                        not_opened.map(|_| Reason::NotOpened),
                        opened.unwrap_or_default(),
                    ),
                    Item::Member(m) => match m.content {
                        Content::Bytes(b) => (
                            rel,
                            m.not_opened.map(|_| Reason::NotOpened),
                            String::from_utf8_lossy(&b).into(),
                        ),
                        Content::Record(r) => (rel, r.error, r.detail.unwrap_or_default()),
                    },
                }
            })
            .collect()
    }

    fn run(cmd: &mut std::process::Command) {
        assert!(cmd.status().expect("tool from scripts/setup.sh").success());
    }

    /// A gzip of one file is one member; a damaged or fake archive says so instead of passing
    /// for a plain file; the walk goes on after both.
    #[test]
    fn compressed_files_damaged_and_fake_archives() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("a.txt"), "alpha text\n").unwrap();
        run(std::process::Command::new("gzip")
            .arg("-n")
            .arg(d.join("a.txt")));
        std::fs::write(d.join("b.txt"), "bravo\n".repeat(2000)).unwrap();
        std::fs::write(d.join("c.txt"), "charlie\n".repeat(2000)).unwrap();
        run(std::process::Command::new("zip")
            .current_dir(d)
            .args(["-q", "-X", "-m", "two.zip", "b.txt", "c.txt"]));
        let zip = std::fs::read(d.join("two.zip")).unwrap();
        // Cut inside the second member's data: the first is read, the rest is not_opened.
        let second = zip
            .windows(4)
            .enumerate()
            .filter(|(_, w)| w == b"PK\x03\x04")
            .nth(1)
            .unwrap()
            .0;
        std::fs::write(d.join("cut.zip"), &zip[..second + 60]).unwrap();
        std::fs::write(
            d.join("fake.zip"),
            b"PK\x03\x04 this is not an archive at all",
        )
        .unwrap();
        std::fs::write(d.join("z.txt"), "after\n").unwrap();
        let got = expand(d, ContainerLimits::default());
        let find = |p: &str| {
            got.iter()
                .find(|g| g.0 == p)
                .unwrap_or_else(|| panic!("{p}: {got:?}"))
        };
        assert_eq!(find("a.txt.gz!/data").2, "alpha text\n");
        assert!(find("cut.zip!/b.txt").2.starts_with("bravo"));
        let rest = got.iter().rfind(|g| g.0.starts_with("cut.zip!/")).unwrap();
        assert!(
            matches!(rest.1, Some(Reason::NotOpened | Reason::Unreadable)),
            "{got:?}"
        );
        assert_eq!(find("fake.zip").1, Some(Reason::NotOpened));
        assert_eq!(got.last().unwrap().0, "z.txt");
        // --no-containers: every file is just a file.
        let flat = expand(
            d,
            ContainerLimits {
                open: false,
                ..ContainerLimits::default()
            },
        );
        assert!(flat.iter().all(|g| !g.0.contains('!')), "{flat:?}");
    }

    /// Nesting stops at the depth cap with a record saying so.
    #[test]
    fn nesting_stops_at_the_depth_cap() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("x.txt"), "inner\n").unwrap();
        let mut name = "x.txt".to_string();
        for i in 0..4 {
            let z = format!("l{i}.zip");
            run(std::process::Command::new("zip")
                .current_dir(d)
                .args(["-q", "-X", "-m", &z, &name]));
            name = z;
        }
        let got = expand(
            d,
            ContainerLimits {
                max_depth: 2,
                ..ContainerLimits::default()
            },
        );
        let paths: Vec<&str> = got.iter().map(|g| g.0.as_str()).collect();
        assert_eq!(
            paths,
            ["l3.zip", "l3.zip!/l2.zip", "l3.zip!/l2.zip!/l1.zip"]
        );
        assert_eq!(got[2].1, Some(Reason::NotOpened), "{got:?}");
    }
}
