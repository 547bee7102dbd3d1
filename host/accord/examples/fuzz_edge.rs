//! The edge fuzzer's long runs (docs/FUZZING.md): a seeded, deterministic
//! run of `--inputs` requests through the full router on SQLite or
//! PostgreSQL, checked as `tests/all/fuzz.rs` checks its short run.
//!
//! ```sh
//! cargo run --release --example fuzz_edge -- --inputs 1000000 --seed 1
//! cargo run --release --example fuzz_edge -- --inputs 100000 --seed 2 \
//!     --database postgres://postgres@127.0.0.1:5432/test
//! ```
//!
//! Prints the report (exit status 1 on any failure); failing inputs are
//! written to `--save DIR` (default `target/fuzz-failures`) as corpus
//! `raw/*.http` files.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../../../tests/fuzz/mod.rs"]
mod fuzz;

use fuzz::{Database, Options};
use std::path::PathBuf;

fn main() {
    let mut seed = 1;
    let mut inputs = 100_000;
    let mut database = None;
    let mut check_every = 50_000;
    let mut save = None;
    let mut max_failures = 50;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--seed" => {
                seed = value()
                    .parse()
                    .unwrap_or_else(|_| usage("--seed is a number"))
            }
            "--inputs" => {
                inputs = value()
                    .parse()
                    .unwrap_or_else(|_| usage("--inputs is a number"))
            }
            "--database" => database = Some(value()),
            "--check-every" => {
                check_every = value()
                    .parse()
                    .unwrap_or_else(|_| usage("--check-every is a number"))
            }
            "--save" => save = Some(PathBuf::from(value())),
            "--max-failures" => {
                max_failures = value()
                    .parse()
                    .unwrap_or_else(|_| usage("--max-failures is a number"))
            }
            other => usage(&format!("unknown argument {other}")),
        }
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let database = match database {
        None => Database::Sqlite,
        Some(url) if url.starts_with("postgres") => Database::Postgres {
            url,
            schema: format!("fuzz_{seed}_{}", std::process::id()),
        },
        Some(other) => usage(&format!(
            "--database {other}: a postgres:// URL (SQLite is the default)"
        )),
    };
    // Ids are drawn from the seed too: two runs send the same bytes.
    accord::clock::seed_process(seed).expect("seeded once");
    let options = Options {
        seed,
        inputs,
        database: database.clone(),
        check_every,
        save_failures: Some(save.unwrap_or_else(|| root.join("target/fuzz-failures"))),
        max_failures,
        progress: true,
        root,
    };
    eprintln!("fuzz_edge: seed {seed}, {inputs} inputs, {database:?}");
    let report = match fuzz::run_blocking(&options) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("fuzz_edge: {e}");
            std::process::exit(2);
        }
    };
    if let Database::Postgres { url, schema } = &database {
        drop_schema(url, schema);
    }
    println!("{report}");
    if !report.passed() {
        std::process::exit(1);
    }
}

/// Drops the run's PostgreSQL schema.
fn drop_schema(url: &str, schema: &str) {
    use sqlx::Connection;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        sqlx::any::install_default_drivers();
        if let Ok(mut conn) = sqlx::AnyConnection::connect(url).await {
            let sql = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
            let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await;
        }
    });
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "fuzz_edge: {problem}\nusage: fuzz_edge [--inputs N] [--seed S] [--database postgres://…] \
         [--check-every N] [--save DIR] [--max-failures N]"
    );
    std::process::exit(2);
}
