//! The edge fuzzer (tests/fuzz, docs/FUZZING.md) in the suite: a short
//! seeded run through the full router on each database (never a panic
//! or a 5xx, every refusal a documented JSON error, the answers the
//! documented rules give, the tables and the inbox holding exactly what
//! the accepted requests added); the long recorded runs are
//! `cargo run --release --example fuzz_edge`.

#[path = "../fuzz/mod.rs"]
pub mod engine;

use crate::world::*;
use engine::{Database, Options};

/// Inputs per database: a few thousand, well under a minute.
const INPUTS: u64 = 3_000;

async fn a_short_seeded_run(kind: Kind) {
    let database = match kind {
        Kind::Sqlite => Database::Sqlite,
        Kind::Postgres => Database::Postgres {
            url: postgres_url().unwrap(),
            schema: crate::support::fresh_schema(),
        },
    };
    let options = Options {
        seed: 18,
        inputs: INPUTS,
        database,
        check_every: 1_000,
        save_failures: None,
        max_failures: 10,
        progress: false,
        root: crate::support::root(),
    };
    let report = tokio::task::spawn_blocking(move || engine::run_blocking(&options))
        .await
        .unwrap()
        .unwrap();
    eprintln!("{report}");
    assert!(report.passed(), "{report}");
    assert_eq!(report.inputs, INPUTS);
    // The run went deep: deliveries stored, refused and repeated,
    // prospects imported, and every kind of input sent.
    assert!(report.webhooks_new > 300, "{report}");
    assert!(report.webhooks_refused > 10, "{report}");
    assert!(report.webhooks_duplicate > 50, "{report}");
    assert!(report.imported > 100, "{report}");
    for family in [
        "webhook-relation",
        "webhook-message",
        "webhook-status",
        "api-import",
        "api-action",
        "corpus-webhook",
    ] {
        assert!(
            report.families.get(family).is_some_and(|n| *n > 10),
            "{family}: {report}"
        );
    }
}

/// Every code the fuzzer accepts in a refusal is documented: the README's
/// error section or the OpenAPI document names it.
#[tokio::test]
async fn the_accepted_codes_are_documented() {
    let readme = std::fs::read_to_string(crate::support::root().join("README.md")).unwrap();
    let openapi = serde_json::to_string(&accord::http::openapi::openapi_json().await.0).unwrap();
    let codes = engine::check::CODES.iter().map(|(c, _)| *c);
    for code in codes.chain(engine::check::ITEM_CODES.iter().copied()) {
        let named = format!("`{code}`");
        // `invalid_<field>` (README) names a 422 per field of a request.
        let per_field = code
            .strip_prefix("invalid_")
            .is_some_and(|field| openapi.contains(&format!("\"{field}\"")));
        assert!(
            readme.contains(&named) || openapi.contains(&named) || per_field,
            "`{code}` is in neither the README nor the OpenAPI document"
        );
    }
}

crate::on_both_databases!(a_short_seeded_run);
