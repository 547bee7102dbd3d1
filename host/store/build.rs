//! Rebuilds the store when a migration changes: `sqlx::migrate!` embeds
//! them at compile time. (The default policies are built by the policy
//! crate's own build script.)

fn main() {
    for dialect in ["sqlite", "postgres"] {
        println!("cargo::rerun-if-changed=../../migrations/{dialect}");
    }
}
