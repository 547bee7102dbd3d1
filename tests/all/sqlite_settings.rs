//! The SQLite connections' settings.

/// Every pooled connection runs in WAL mode with the page cache the write
/// path needs (64 MiB instead of SQLite's 2 MiB default) and foreign keys
/// enforced.
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
        assert_eq!((cache, mode.as_str(), fk), (-65536, "wal", 1));
        held.push(conn);
    }
}
