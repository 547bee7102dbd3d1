//! The pooled connections' settings: SQLite's, and a dedicated pool's.

/// Every pooled connection runs in WAL mode with the page cache the write
/// path needs (64 MiB instead of SQLite's 2 MiB default), the file mapped
/// (up to 1 GiB) and foreign keys enforced.
#[tokio::test]
async fn every_sqlite_connection_has_the_write_path_settings() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("s.db").display());
    let db = accord::store::Db::connect(&url).await.unwrap();
    // Several connections at once, so more than the first one is checked.
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut conn = db.pool().acquire().await.unwrap();
        let (cache,): (i64,) = sqlx::query_as("PRAGMA cache_size")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        let (fk,): (i64,) = sqlx::query_as("PRAGMA foreign_keys")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        let (mmap,): (i64,) = sqlx::query_as("PRAGMA mmap_size")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(
            (cache, mode.as_str(), fk, mmap),
            (-65536, "wal", 1, 1 << 30)
        );
        held.push(conn);
    }
}

/// A dedicated pool (the inbox's hot path) sets its connections up like
/// the shared pool: the same database (on PostgreSQL the same schema), and
/// on SQLite the same settings. Writes through both pools at once share
/// SQLite's one writer instead of failing.
#[tokio::test]
async fn a_dedicated_pool_is_the_same_database_set_up_the_same_way() {
    for (name, db, _dir) in crate::support::test_dbs().await {
        let hot = db.dedicated(1);
        sqlx::query("CREATE TABLE pool_probe (id TEXT PRIMARY KEY)")
            .execute(db.pool())
            .await
            .unwrap();
        // Twenty writers, half through each pool, each in a transaction.
        let writers: Vec<_> = (0..20)
            .map(|i| {
                let db = if i % 2 == 0 { hot.clone() } else { db.clone() };
                tokio::spawn(async move {
                    let mut tx = db.begin().await.unwrap();
                    // Kept raw: a probe table of the test's own; the pools are the subject.
                    sqlx::query("INSERT INTO pool_probe (id) VALUES ($1)")
                        .bind(format!("row-{i}"))
                        .execute(&mut *tx)
                        .await
                        .unwrap();
                    tx.commit().await.unwrap();
                })
            })
            .collect();
        for w in writers {
            w.await.unwrap();
        }
        let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM pool_probe")
            .fetch_one(hot.pool())
            .await
            .unwrap();
        assert_eq!(rows, 20, "{name}: both pools write the one table");
        if name == "sqlite" {
            let (cache,): (i64,) = sqlx::query_as("PRAGMA cache_size")
                .fetch_one(hot.pool())
                .await
                .unwrap();
            assert_eq!(cache, -65536, "the dedicated connection's page cache");
        }
    }
}
