use super::*;
use crate::hashing::{AnyHash, PdqHash};
use crate::index::Match;
use crate::lists::format::ReadOptions;
use crate::matcher::load;
use crate::store::Key;
use crate::synth::SplitMix;

fn opts(format: ListFormat, kind: Option<HashKind>, mode: Mode) -> ImportOptions {
    ImportOptions {
        format,
        read: ReadOptions {
            kind,
            ..Default::default()
        },
        mode,
        settings: Settings {
            category: Some("A1".into()),
            source: "test".into(),
            ..Settings::default()
        },
    }
}

fn plain_pdq() -> ImportOptions {
    opts(ListFormat::Plain, Some(HashKind::Pdq), Mode::Full)
}

fn jsonl(mode: Mode) -> ImportOptions {
    opts(ListFormat::Jsonl, None, mode)
}

fn random_pdq(rng: &mut SplitMix) -> PdqHash {
    PdqHash::from_words(std::array::from_fn(|_| rng.next_u64()))
}

fn plain(hashes: &[PdqHash]) -> String {
    hashes.iter().map(|h| format!("{h}\n")).collect()
}

fn count_prefix(store: &Store, cf: Cf, prefix: Key) -> usize {
    store.scan_prefix(cf, prefix.bytes()).unwrap().count()
}

/// The active version's entries as (id, kind, hash hex, category), sorted.
fn contents(store: &Store, name: &str) -> Vec<(String, HashKind, String, Option<String>)> {
    let meta = get(store, name).unwrap();
    let mut v: Vec<_> = entries(store, name, meta.version)
        .unwrap()
        .map(|r| {
            let (_, e) = r.unwrap();
            (e.id, e.hash.kind(), e.hash.to_string(), e.category)
        })
        .collect();
    v.sort();
    v
}

const MD5_A: &str = "900150983cd24fb0d6963f7d28e17f72";
const MD5_B: &str = "e2fc714c4727ee9395f324cd2e7f331f";
const SHA1_A: &str = "a9993e364706816aba3e25717850c26c9cd0d89d";

#[test]
fn import_reopen_and_match() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = SplitMix::new(1);
    // Enough entries for several persisted chunks, and a duplicate hash with two ids.
    let mut hashes: Vec<PdqHash> = (0..3000).map(|_| random_pdq(&mut rng)).collect();
    hashes.push(hashes[10]);
    {
        let store = Store::open(dir.path()).unwrap();
        let staged = import(&store, "ncmec", plain(&hashes).as_bytes(), &plain_pdq()).unwrap();
        assert_eq!(staged.meta.entries, 3001);
        assert_eq!(staged.meta.version, 1);
        assert_eq!(staged.meta.kinds[0].radius, 31);
    }
    let store = Store::open_read_only(dir.path()).unwrap();
    let meta = get(&store, "ncmec").unwrap();
    let list = load(&store, &meta).unwrap();
    assert_eq!(list.len(), 3001);
    let mut q = hashes[10].words();
    q[0] ^= 0xff; // 8 bits away
    let found = list.query(&AnyHash::Pdq(PdqHash::from_words(q)));
    let m = |entry| Match { entry, distance: 8 };
    assert_eq!(found, vec![m(10), m(3000)]);
    let e = entry(&store, &meta, 3000).unwrap();
    assert_eq!(
        (e.id.as_str(), e.provenance.source.as_str()),
        ("3000", "test")
    );
    assert_eq!(e.provenance.fetched_version, 1);
    assert_eq!(
        entry(&store, &meta, 10).unwrap().hash,
        AnyHash::Pdq(hashes[10])
    );
}

#[test]
fn reimports_keep_the_previous_version_and_prune_older_ones() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut rng = SplitMix::new(2);
    let lists: Vec<Vec<PdqHash>> = [50, 40, 30]
        .iter()
        .map(|&n| (0..n).map(|_| random_pdq(&mut rng)).collect())
        .collect();
    for l in &lists {
        import(&store, "l", plain(l).as_bytes(), &plain_pdq()).unwrap();
    }
    let meta = get(&store, "l").unwrap();
    assert_eq!(
        (meta.version, meta.previous, meta.entries),
        (3, Some(2), 30)
    );
    let list = load(&store, &meta).unwrap();
    assert!(
        list.query(&AnyHash::Pdq(lists[1][0])).is_empty(),
        "old entries are gone"
    );
    assert_eq!(list.query(&AnyHash::Pdq(lists[2][0])).len(), 1);
    assert_eq!(count_prefix(&store, Cf::Entries, keys::entries("l", 1)), 0);
    assert_eq!(
        count_prefix(&store, Cf::Index, keys::index_chunks("l", 1)),
        0
    );
    assert_eq!(count_prefix(&store, Cf::Entries, keys::entries("l", 2)), 40);

    // Rollback makes version 2 active with its own counts and digest, and drops version 3.
    let back = rollback(&store, "l").unwrap();
    assert_eq!((back.version, back.previous, back.entries), (2, None, 40));
    assert_eq!(count_prefix(&store, Cf::Entries, keys::entries("l", 3)), 0);
    let list = load(&store, &get(&store, "l").unwrap()).unwrap();
    assert_eq!(list.query(&AnyHash::Pdq(lists[1][0])).len(), 1);
    assert!(matches!(
        rollback(&store, "l"),
        Err(Error::NoPrevious { .. })
    ));
    // Version numbers are never reused: the next import is version 4.
    let next = import(&store, "l", plain(&lists[0]).as_bytes(), &plain_pdq()).unwrap();
    assert_eq!((next.meta.version, next.meta.previous), (4, Some(2)));
}

#[test]
fn too_many_bad_rows_keeps_the_old_version_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut rng = SplitMix::new(3);
    let good: Vec<PdqHash> = (0..10).map(|_| random_pdq(&mut rng)).collect();
    import(&store, "l", plain(&good).as_bytes(), &plain_pdq()).unwrap();
    let damaged = format!("{}not-a-hash\n", plain(&good[..5]));
    match import(&store, "l", damaged.as_bytes(), &plain_pdq()) {
        Err(Error::TooManyBadRows {
            bad: 1,
            total: 6,
            first_line: 6,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    let meta = get(&store, "l").unwrap();
    assert_eq!((meta.version, meta.entries), (1, 10));
    assert_eq!(count_prefix(&store, Cf::Entries, keys::entries("l", 2)), 0);
    let attempt = last_attempt(&store, "l").unwrap().unwrap();
    assert!(!attempt.ok);
    assert_eq!(
        (attempt.rows, attempt.bad, attempt.bad_rows[0].line),
        (6, 1, 6)
    );
    assert!(attempt.error.unwrap().contains("malformed"));
    // Within the allowed share, bad rows are skipped and reported with their line.
    let mut lenient = plain_pdq();
    lenient.settings.max_bad_pct = 50.0;
    let staged = import(&store, "l", damaged.as_bytes(), &lenient).unwrap();
    assert_eq!((staged.meta.entries, staged.meta.bad_rows), (5, 1));
    assert_eq!(staged.bad_rows[0].line, 6);
    assert!(last_attempt(&store, "l").unwrap().unwrap().ok);
}

#[test]
fn an_empty_or_much_smaller_full_load_is_refused_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut rng = SplitMix::new(5);
    let all: Vec<PdqHash> = (0..20).map(|_| random_pdq(&mut rng)).collect();
    // An empty first load is a broken feed too.
    assert!(matches!(
        import(&store, "l", &b""[..], &plain_pdq()),
        Err(Error::EmptyLoad { .. })
    ));
    import(&store, "l", plain(&all).as_bytes(), &plain_pdq()).unwrap();
    // An empty download (an HTTP 200 with no body) and a 90% shrink are refused; the active
    // version keeps serving and `lists status` says why.
    assert!(matches!(
        import(&store, "l", &b""[..], &plain_pdq()),
        Err(Error::EmptyLoad { .. })
    ));
    match import(&store, "l", plain(&all[..2]).as_bytes(), &plain_pdq()) {
        Err(Error::Shrinks {
            before: 20,
            after: 2,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    let meta = get(&store, "l").unwrap();
    assert_eq!((meta.version, meta.entries), (1, 20));
    let attempt = last_attempt(&store, "l").unwrap().unwrap();
    assert!(!attempt.ok && attempt.error.unwrap().contains("fewer"));
    // Within the share (half of it kept), and when the administrator forces it, it publishes.
    import(&store, "l", plain(&all[..10]).as_bytes(), &plain_pdq()).unwrap();
    let mut forced = plain_pdq();
    forced.settings.allow_shrink = true;
    let staged = import(&store, "l", plain(&all[..1]).as_bytes(), &forced).unwrap();
    assert_eq!(staged.meta.entries, 1);
    // A delta may remove what it names: the check is for full loads.
    assert_eq!(get(&store, "l").unwrap().entries, 1);
}

#[test]
fn radii_past_their_bound_are_refused_on_every_path() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut rng = SplitMix::new(6);
    let rows = plain(&[random_pdq(&mut rng)]);
    let mut wide = plain_pdq();
    wide.settings.radii = vec![(HashKind::Pdq, 128)];
    assert!(matches!(
        import(&store, "l", rows.as_bytes(), &wide),
        Err(Error::BadInput { .. })
    ));
    assert!(matches!(get(&store, "l"), Err(Error::NoSuchList { .. })));
    wide.settings.radii = vec![(HashKind::Pdq, 64), (HashKind::Phash, 17)];
    assert!(import(&store, "l", rows.as_bytes(), &wide).is_err());
    wide.settings.radii = vec![(HashKind::Pdq, 64), (HashKind::Phash, 16)];
    import(&store, "l", rows.as_bytes(), &wide).unwrap();
    // A configured source is refused by `config check`, before any sync.
    let src = ListSource {
        source: "file:/nonexistent".into(),
        format: "plain".into(),
        kind: Some(HashKind::Pdq),
        radius: [(HashKind::Dhash, 40)].into(),
        ..ListSource::default()
    };
    assert!(matches!(src.check("l"), Err(Error::Config { .. })));
}

#[test]
fn one_list_holds_several_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let pdq = random_pdq(&mut SplitMix::new(4));
    let text = format!(
        "{{\"id\":\"r1\",\"kind\":\"md5\",\"hash\":\"{}\"}}\n\
         {{\"id\":\"r1\",\"kind\":\"sha1\",\"hash\":\"{SHA1_A}\"}}\n\
         {{\"id\":\"r1\",\"kind\":\"pdq\",\"hash\":\"{pdq}\",\"category\":\"B2\"}}\n",
        MD5_A.to_uppercase()
    );
    let meta = import(&store, "ncmec", text.as_bytes(), &jsonl(Mode::Full))
        .unwrap()
        .meta;
    assert_eq!(meta.kind_names(), "pdq+md5+sha1");
    assert_eq!(
        meta.kinds
            .iter()
            .map(|k| (k.radius, k.entries))
            .collect::<Vec<_>>(),
        vec![(31, 1), (0, 1), (0, 1)]
    );
    let list = load(&store, &meta).unwrap();
    let md5 = AnyHash::parse(HashKind::Md5, MD5_A).unwrap();
    let sha1 = AnyHash::parse(HashKind::Sha1, SHA1_A).unwrap();
    assert_eq!(
        list.query(&md5),
        vec![Match {
            entry: 0,
            distance: 0
        }]
    );
    assert_eq!(
        list.query(&sha1),
        vec![Match {
            entry: 1,
            distance: 0
        }]
    );
    assert_eq!(list.query(&AnyHash::Pdq(pdq))[0].entry, 2);
    let e = entry(&store, &meta, 2).unwrap();
    assert_eq!((e.id.as_str(), e.category.as_deref()), ("r1", Some("B2")));
    assert!(
        list.query(&AnyHash::parse(HashKind::Md5, MD5_B).unwrap())
            .is_empty()
    );
}

#[test]
fn deltas_add_replace_and_remove() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let full = format!(
        "{{\"id\":\"a\",\"kind\":\"md5\",\"hash\":\"{MD5_A}\"}}\n\
         {{\"id\":\"a\",\"kind\":\"sha1\",\"hash\":\"{SHA1_A}\"}}\n\
         {{\"id\":\"b\",\"kind\":\"md5\",\"hash\":\"{MD5_B}\"}}\n"
    );
    let v1 = import(&store, "l", full.as_bytes(), &jsonl(Mode::Full))
        .unwrap()
        .meta;
    // Remove a's SHA-1 only, relabel b, add c, add then remove d, remove an unknown id.
    let delta = format!(
        "{{\"id\":\"a\",\"kind\":\"sha1\",\"hash\":\"{SHA1_A}\",\"op\":\"remove\"}}\n\
         {{\"id\":\"b\",\"kind\":\"md5\",\"hash\":\"{MD5_B}\",\"category\":\"B1\"}}\n\
         {{\"id\":\"c\",\"kind\":\"md5\",\"hash\":\"{}\"}}\n\
         {{\"id\":\"d\",\"kind\":\"md5\",\"hash\":\"{}\"}}\n\
         {{\"id\":\"d\",\"op\":\"remove\"}}\n\
         {{\"id\":\"zz\",\"op\":\"remove\"}}\n",
        "1".repeat(32),
        "2".repeat(32)
    );
    let v2 = import(&store, "l", delta.as_bytes(), &jsonl(Mode::Delta))
        .unwrap()
        .meta;
    assert_eq!(
        (v2.version, v2.previous, v2.entries),
        (2, Some(v1.version), 3)
    );
    let md5 = |h: &str| AnyHash::parse(HashKind::Md5, h).unwrap().to_string();
    assert_eq!(
        contents(&store, "l"),
        vec![
            ("a".into(), HashKind::Md5, md5(MD5_A), None),
            ("b".into(), HashKind::Md5, md5(MD5_B), Some("B1".into())),
            ("c".into(), HashKind::Md5, md5(&"1".repeat(32)), None),
        ]
    );
    // Carried-over entries keep their provenance; new ones name the new version.
    let list = load(&store, &v2).unwrap();
    let a = list.query(&AnyHash::parse(HashKind::Md5, MD5_A).unwrap())[0].entry;
    assert_eq!(entry(&store, &v2, a).unwrap().provenance.fetched_version, 1);
    let c = list.query(&AnyHash::parse(HashKind::Md5, &"1".repeat(32)).unwrap())[0].entry;
    assert_eq!(entry(&store, &v2, c).unwrap().provenance.fetched_version, 2);
    assert!(
        list.query(&AnyHash::parse(HashKind::Sha1, SHA1_A).unwrap())
            .is_empty()
    );

    // Removing every id of a kind drops the kind; removing id "a" drops all its hashes.
    let v3 = import(
        &store,
        "l",
        "{\"id\":\"a\",\"op\":\"remove\"}\n".as_bytes(),
        &jsonl(Mode::Delta),
    )
    .unwrap()
    .meta;
    assert_eq!(v3.entries, 2);

    // The same content loaded in full, in another order, has the same digest.
    let same = format!(
        "{{\"id\":\"c\",\"kind\":\"md5\",\"hash\":\"{}\"}}\n\
         {{\"id\":\"b\",\"kind\":\"md5\",\"hash\":\"{MD5_B}\",\"category\":\"B1\"}}\n",
        "1".repeat(32)
    );
    let v4 = import(&store, "l", same.as_bytes(), &jsonl(Mode::Full))
        .unwrap()
        .meta;
    assert_eq!(v4.digest, v3.digest);
    assert_ne!(v4.digest, v2.digest);
}

#[test]
fn a_delta_creates_a_new_list_and_a_full_load_applies_its_tombstones() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let add =
        |id: &str, md5: &str| format!("{{\"id\":\"{id}\",\"kind\":\"md5\",\"hash\":\"{md5}\"}}\n");
    let remove = |id: &str| format!("{{\"id\":\"{id}\",\"op\":\"remove\"}}\n");
    // A delta on a list that does not exist yet applies to an empty one; a tombstone of an id
    // it does not hold is a no-op.
    let first = [add("a", MD5_A), remove("x"), add("z", MD5_B), remove("z")].concat();
    let staged = import(&store, "d", first.as_bytes(), &jsonl(Mode::Delta)).unwrap();
    assert_eq!(
        (
            staged.meta.version,
            staged.meta.entries,
            staged.meta.bad_rows
        ),
        (1, 1, 0)
    );
    let ids: Vec<String> = contents(&store, "d").into_iter().map(|c| c.0).collect();
    assert_eq!(ids, ["a"]);
    // As real feeds interleave them: a tombstone removes the additions of its id before it,
    // an id re-added after its tombstone stays, and a tombstone of an id the load does not
    // hold is a no-op, never a malformed row.
    let text = [
        add("a", MD5_A),
        add("b", MD5_B),
        remove("a"),
        remove("never-listed"),
        remove("b"),
        add("b", MD5_B),
        add("c", MD5_A),
    ]
    .concat();
    let staged = import(&store, "l", text.as_bytes(), &jsonl(Mode::Full)).unwrap();
    assert_eq!((staged.meta.entries, staged.meta.bad_rows), (2, 0));
    let ids: Vec<String> = contents(&store, "l").into_iter().map(|c| c.0).collect();
    assert_eq!(ids, ["b", "c"]);
}

#[test]
fn an_ncmec_download_with_tombstones_imports_as_a_full_load() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <queryResult xmlns=\"https://hashsharing.ncmec.org/hashsharing/v2\"><images count=\"4\">\
         <image><id>image1</id><fingerprints><md5>{MD5_A}</md5><sha1>{SHA1_A}</sha1></fingerprints></image>\
         <deletedImage><id>image4</id></deletedImage>\
         <image><id>image2</id><fingerprints><md5>{MD5_B}</md5></fingerprints></image>\
         <deletedImage><id>image1</id></deletedImage>\
         </images></queryResult>\n"
    );
    let o = opts(ListFormat::NcmecXml, None, Mode::Full);
    let staged = import(&store, "ncmec", xml.as_bytes(), &o).unwrap();
    assert_eq!((staged.meta.entries, staged.meta.bad_rows), (1, 0));
    let ids: Vec<String> = contents(&store, "ncmec").into_iter().map(|c| c.0).collect();
    assert_eq!(ids, ["image2"]);
    // The same download as a delta on a new list gives the same list.
    let o = opts(ListFormat::NcmecXml, None, Mode::Delta);
    let staged = import(&store, "ncmec-delta", xml.as_bytes(), &o).unwrap();
    assert_eq!((staged.meta.entries, staged.meta.bad_rows), (1, 0));
    let ids: Vec<String> = contents(&store, "ncmec-delta")
        .into_iter()
        .map(|c| c.0)
        .collect();
    assert_eq!(ids, ["image2"]);
}

#[test]
fn repeated_ids_in_a_full_load_keep_the_last_row() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut rng = SplitMix::new(5);
    let (p1, p2) = (random_pdq(&mut rng), random_pdq(&mut rng));
    let text = format!(
        "{{\"id\":\"x\",\"kind\":\"pdq\",\"hash\":\"{p1}\"}}\n\
         {{\"id\":\"y\",\"kind\":\"md5\",\"hash\":\"{MD5_A}\"}}\n\
         {{\"id\":\"x\",\"kind\":\"pdq\",\"hash\":\"{p2}\"}}\n"
    );
    let staged = import(&store, "l", text.as_bytes(), &jsonl(Mode::Full)).unwrap();
    assert_eq!((staged.meta.entries, staged.duplicates), (2, 1));
    let list = load(&store, &staged.meta).unwrap();
    assert!(list.query_radius(&AnyHash::Pdq(p1), Some(0)).is_empty());
    assert_eq!(list.query_radius(&AnyHash::Pdq(p2), Some(0)).len(), 1);
    // The digest is the digest of what is stored.
    let mut again = String::new();
    again.push_str(&format!(
        "{{\"id\":\"x\",\"kind\":\"pdq\",\"hash\":\"{p2}\"}}\n"
    ));
    again.push_str(&format!(
        "{{\"id\":\"y\",\"kind\":\"md5\",\"hash\":\"{MD5_A}\"}}\n"
    ));
    let clean = import(&store, "l", again.as_bytes(), &jsonl(Mode::Full)).unwrap();
    assert_eq!(clean.meta.digest, staged.meta.digest);
}

#[test]
fn a_version_that_fails_the_sources_figures_is_not_published() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let row = format!("{{\"id\":\"a\",\"kind\":\"md5\",\"hash\":\"{MD5_A}\"}}\n");
    import(&store, "l", row.as_bytes(), &jsonl(Mode::Full)).unwrap();
    let mut b = Builder::new(&store, "l", Mode::Full, Settings::default()).unwrap();
    assert_eq!(b.version(), 2);
    b.push_rows(format::read(
        ListFormat::Jsonl,
        row.as_bytes(),
        &ReadOptions::default(),
    ))
    .unwrap();
    let expect = Expect {
        entries: Some(2),
        digest: None,
    };
    assert!(matches!(b.finish(&expect), Err(Error::Verify { .. })));
    assert_eq!(get(&store, "l").unwrap().version, 1);
    assert_eq!(count_prefix(&store, Cf::Entries, keys::entries("l", 2)), 0);
    // A staged version whose base is no longer active is refused (this one is empty, so the
    // shrink guard is lifted to reach that check).
    let lifted = Settings {
        allow_shrink: true,
        ..Settings::default()
    };
    let b = Builder::new(&store, "l", Mode::Full, lifted).unwrap();
    let staged = b.finish(&Expect::default()).unwrap();
    import(&store, "l", row.as_bytes(), &jsonl(Mode::Full)).unwrap();
    assert!(matches!(publish(&store, staged), Err(Error::Verify { .. })));
}

#[test]
fn names_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert!(matches!(
        import(&store, "../x", "".as_bytes(), &plain_pdq()),
        Err(Error::BadName { .. })
    ));
    assert!(matches!(get(&store, "none"), Err(Error::NoSuchList { .. })));
}

/// A JSON-lines video row of `n` random frames at 1 fps.
fn video_row(id: &str, rng: &mut SplitMix, n: usize) -> String {
    let frames: Vec<String> = (0..n)
        .map(|k| {
            format!(
                "{{\"ts\":{k}.0,\"quality\":100,\"pdq\":\"{}\"}}",
                random_pdq(rng)
            )
        })
        .collect();
    format!(
        "{{\"id\":\"{id}\",\"kind\":\"vpdq\",\"frames\":[{}]}}\n",
        frames.join(",")
    )
}

#[test]
fn video_entries_keep_versions_deltas_digests_and_bundles_like_any_other() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut rng = SplitMix::new(9);
    let (a, b, c) = (
        video_row("va", &mut rng, 30),
        video_row("vb", &mut rng, 40),
        video_row("vc", &mut rng, 50),
    );
    let md5 = format!("{{\"id\":\"va\",\"kind\":\"video_md5\",\"hash\":\"{MD5_A}\"}}\n");
    import(
        &store,
        "vids",
        format!("{a}{b}{md5}").as_bytes(),
        &jsonl(Mode::Full),
    )
    .unwrap();
    let m = get(&store, "vids").unwrap();
    assert_eq!(m.kind_names(), "md5+vpdq");
    assert_eq!(m.video, Some(crate::lists::video::VideoSettings::default()));
    let loaded = load(&store, &m).unwrap();
    let idx = loaded.videos.as_ref().unwrap();
    assert_eq!((idx.len(), idx.frames()), (2, 70));

    // A delta takes vb out and adds vc; the frames travel with the entries.
    let remove_b = "{\"id\":\"vb\",\"op\":\"remove\"}\n";
    import(
        &store,
        "vids",
        format!("{remove_b}{c}").as_bytes(),
        &jsonl(Mode::Delta),
    )
    .unwrap();
    let m = get(&store, "vids").unwrap();
    let ids: Vec<(String, HashKind)> = contents(&store, "vids")
        .into_iter()
        .map(|(id, k, _, _)| (id, k))
        .collect();
    assert_eq!(
        ids,
        vec![
            ("va".into(), HashKind::Md5),
            ("va".into(), HashKind::Vpdq),
            ("vc".into(), HashKind::Vpdq)
        ]
    );
    let idx = load(&store, &m).unwrap().videos.unwrap();
    assert_eq!((idx.len(), idx.frames()), (2, 80));

    // A full copy written as JSON lines (what bundles and hub mirrors carry) rebuilds the same
    // list, digest and all; so does the delta since version 1.
    let (header, versions) = delta::plan(&store, "vids", None).unwrap();
    let mut copy = Vec::new();
    delta::write_rows(&store, &header, &versions, &mut copy).unwrap();
    import(&store, "mirror", &copy[..], &jsonl(Mode::Full)).unwrap();
    assert_eq!(get(&store, "mirror").unwrap().digest, m.digest);
    let (header, versions) = delta::plan(&store, "vids", Some(1)).unwrap();
    assert!(!header.full);
    let mut changes = Vec::new();
    delta::write_rows(&store, &header, &versions, &mut changes).unwrap();
    import(
        &store,
        "mirror-1",
        format!("{a}{b}{md5}").as_bytes(),
        &jsonl(Mode::Full),
    )
    .unwrap();
    import(&store, "mirror-1", &changes[..], &jsonl(Mode::Delta)).unwrap();
    assert_eq!(get(&store, "mirror-1").unwrap().digest, m.digest);

    // Changing one frame's quality changes the digest.
    let tampered = c.replacen("\"quality\":100", "\"quality\":99", 1);
    import(
        &store,
        "other",
        format!("{a}{tampered}{md5}").as_bytes(),
        &jsonl(Mode::Full),
    )
    .unwrap();
    assert_ne!(get(&store, "other").unwrap().digest, m.digest);
}
