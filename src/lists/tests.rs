use super::*;
use crate::hashing::PdqHash;
use crate::synth::SplitMix;

fn opts(format: ListFormat, kind: Option<HashKind>) -> ImportOptions {
    ImportOptions {
        format,
        kind,
        radius: None,
        category: Some("A1".into()),
        max_bad_pct: 1.0,
    }
}

fn random_pdq(rng: &mut SplitMix) -> PdqHash {
    PdqHash::from_words(std::array::from_fn(|_| rng.next_u64()))
}

fn plain(hashes: &[PdqHash]) -> String {
    hashes.iter().map(|h| format!("{h}\n")).collect()
}

#[test]
fn import_reopen_and_match() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = SplitMix::new(1);
    // Enough entries for several persisted chunks, and a duplicate hash with two ids.
    let mut hashes: Vec<PdqHash> = (0..3000).map(|_| random_pdq(&mut rng)).collect();
    hashes.push(hashes[10]);
    {
        let store = Store::open(dir.path()).unwrap();
        let report = import(
            &store,
            "ncmec",
            plain(&hashes).as_bytes(),
            &opts(ListFormat::Plain, Some(HashKind::Pdq)),
        )
        .unwrap();
        assert_eq!(report.meta.entries, 3001);
        assert_eq!((report.meta.version, report.meta.radius), (1, 31));
    }
    let store = Store::open_read_only(dir.path()).unwrap();
    let meta = get(&store, "ncmec").unwrap();
    let list = load(&store, &meta).unwrap();
    assert_eq!(list.index.len(), 3001);
    let mut q = hashes[10].words();
    q[0] ^= 0xff; // 8 bits away
    let found = list
        .index
        .query(&AnyHash::Pdq(PdqHash::from_words(q)), meta.radius);
    assert_eq!(
        found,
        vec![
            Match {
                entry: 10,
                distance: 8
            },
            Match {
                entry: 3000,
                distance: 8
            }
        ]
    );
    assert_eq!(entry(&store, &meta, 3000).unwrap().id, "3000");
    assert_eq!(
        entry(&store, &meta, 10).unwrap().hash,
        hashes[10].0.to_vec()
    );
}

#[test]
fn reimport_replaces_the_list_and_drops_the_old_version() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut rng = SplitMix::new(2);
    let first: Vec<PdqHash> = (0..50).map(|_| random_pdq(&mut rng)).collect();
    let second: Vec<PdqHash> = (0..20).map(|_| random_pdq(&mut rng)).collect();
    let o = opts(ListFormat::Plain, Some(HashKind::Pdq));
    import(&store, "l", plain(&first).as_bytes(), &o).unwrap();
    let meta = import(&store, "l", plain(&second).as_bytes(), &o)
        .unwrap()
        .meta;
    assert_eq!((meta.version, meta.entries), (2, 20));
    let list = load(&store, &meta).unwrap();
    assert!(
        list.index.query(&AnyHash::Pdq(first[0]), 0).is_empty(),
        "old entries are gone"
    );
    assert_eq!(list.index.query(&AnyHash::Pdq(second[0]), 0).len(), 1);
    assert_eq!(
        store
            .scan_prefix(Cf::Entries, entries_prefix("l", 1).bytes())
            .unwrap()
            .count(),
        0
    );
    assert_eq!(
        store
            .scan_prefix(Cf::Index, chunk_prefix("l", 1).bytes())
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn too_many_bad_rows_keeps_the_old_version() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut rng = SplitMix::new(3);
    let good: Vec<PdqHash> = (0..10).map(|_| random_pdq(&mut rng)).collect();
    let o = opts(ListFormat::Plain, Some(HashKind::Pdq));
    import(&store, "l", plain(&good).as_bytes(), &o).unwrap();
    let damaged = format!("{}not-a-hash\n", plain(&good[..5]));
    match import(&store, "l", damaged.as_bytes(), &o) {
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
    assert_eq!(
        store
            .scan_prefix(Cf::Entries, entries_prefix("l", 2).bytes())
            .unwrap()
            .count(),
        0
    );
    // Within the allowed share, bad rows are skipped and reported with their line.
    let lenient = ImportOptions {
        max_bad_pct: 50.0,
        ..o
    };
    let report = import(&store, "l", damaged.as_bytes(), &lenient).unwrap();
    assert_eq!((report.meta.entries, report.meta.bad_rows), (5, 1));
    assert_eq!(report.bad_rows[0].line, 6);
}

#[test]
fn exact_lists_match_digests() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let text =
        "{\"id\":\"vic-1\",\"kind\":\"md5\",\"hash\":\"900150983CD24FB0D6963F7D28E17F72\"}\n";
    let meta = import(
        &store,
        "vic",
        text.as_bytes(),
        &opts(ListFormat::Jsonl, None),
    )
    .unwrap()
    .meta;
    assert_eq!((meta.kind, meta.radius), (HashKind::Md5, 0));
    let list = load(&store, &meta).unwrap();
    let q = AnyHash::parse(HashKind::Md5, "900150983cd24fb0d6963f7d28e17f72").unwrap();
    assert_eq!(
        list.index.query(&q, 0),
        vec![Match {
            entry: 0,
            distance: 0
        }]
    );
    assert_eq!(entry(&store, &meta, 0).unwrap().id, "vic-1");
}

#[test]
fn names_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let o = opts(ListFormat::Plain, Some(HashKind::Pdq));
    assert!(matches!(
        import(&store, "../x", "".as_bytes(), &o),
        Err(Error::BadName { .. })
    ));
    assert!(matches!(get(&store, "none"), Err(Error::NoSuchList { .. })));
}
