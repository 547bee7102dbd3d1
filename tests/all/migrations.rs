//! The committed migrations are the ones `scripts/gen-migrations` makes
//! from `migrations/schema.sql.in`.

use crate::support::root;

#[test]
fn generated_migrations_are_current() {
    let source = std::fs::read_to_string(root().join("migrations/schema.sql.in")).unwrap();
    for (dialect, blob) in [("sqlite", "BLOB"), ("postgres", "BYTEA")] {
        let committed =
            std::fs::read_to_string(root().join(format!("migrations/{dialect}/0001_initial.sql")))
                .unwrap();
        assert_eq!(
            committed,
            source.replace("@BLOB@", blob),
            "run scripts/gen-migrations ({dialect})"
        );
    }
}
