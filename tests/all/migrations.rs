//! The committed migrations are the ones `scripts/gen-migrations` makes
//! from `migrations/src/*.sql.in`, one for one.

use crate::support::root;

#[test]
fn generated_migrations_are_current() {
    let mut sources: Vec<_> = std::fs::read_dir(root().join("migrations/src"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    sources.sort();
    assert!(sources.len() >= 2, "{sources:?}");
    for (dialect, blob) in [("sqlite", "BLOB"), ("postgres", "BYTEA")] {
        let committed = std::fs::read_dir(root().join(format!("migrations/{dialect}")))
            .unwrap()
            .count();
        assert_eq!(
            committed,
            sources.len(),
            "{dialect}: one migration per source"
        );
        for source in &sources {
            let name = source.file_stem().unwrap().to_str().unwrap();
            let generated = std::fs::read_to_string(source)
                .unwrap()
                .replace("@BLOB@", blob);
            let committed =
                std::fs::read_to_string(root().join(format!("migrations/{dialect}/{name}")))
                    .unwrap();
            assert_eq!(
                committed, generated,
                "run scripts/gen-migrations ({dialect} {name})"
            );
        }
    }
}
