//! `accord policy new SLOT DIR`: writes a policy author's starter crate.
//!
//! The crate stands alone (it is meant to live outside this repository):
//! it carries its own copy of the WIT contract, generates its bindings with
//! `wit-bindgen`, and its `src/lib.rs` is the slot's default logic written
//! out as plain Rust, so it builds for `wasm32-wasip2` and passes its two
//! fixtures before the author changes anything. The files are templates
//! under `templates/`, embedded in the binary.

use crate::policy::Slot;
use clap::{Args, ValueEnum};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The contract the host implements, so a scaffold is never behind it.
const WIT: &str = include_str!("../../../../wit/policy.wit");
const CARGO_TOML: &str = include_str!("templates/Cargo.toml.tmpl");
/// Every package `wit-bindgen` pulls in, as the repository's own guests
/// lock them; the scaffold's own package is added in name order.
const CARGO_LOCK: &str = include_str!("templates/Cargo.lock.tmpl");
const CARGO_CONFIG: &str = include_str!("templates/config.toml");
const GITIGNORE: &str = include_str!("templates/gitignore");
const README: &str = include_str!("templates/README.md.tmpl");

/// `accord policy new`'s arguments.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The slot the policy decides for.
    #[arg(value_enum)]
    pub slot: SlotName,
    /// The folder to create (or an empty one); its last component names
    /// the crate.
    pub dir: PathBuf,
}

/// A slot as `policy new` takes it: clap lists the three and refuses any
/// other name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SlotName {
    /// Which enrollments an accept signal belongs to.
    Match,
    /// What a matched accept does.
    Routing,
    /// Whether a follow-up may be enqueued now.
    Preflight,
}

impl From<SlotName> for Slot {
    fn from(name: SlotName) -> Self {
        match name {
            SlotName::Match => Slot::Match,
            SlotName::Routing => Slot::Routing,
            SlotName::Preflight => Slot::Preflight,
        }
    }
}

/// Why `policy new` wrote nothing, or stopped part-way.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// The folder holds files already; nothing was written.
    #[error("{}: the folder exists and is not empty (nothing was written); name a new or empty folder", .0.display())]
    NotEmpty(PathBuf),
    /// The path is a file; nothing was written.
    #[error("{}: exists and is not a folder (nothing was written)", .0.display())]
    NotAFolder(PathBuf),
    /// Reading the folder, or writing one of the files, failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The folder or file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A crate `policy new` wrote.
#[derive(Debug, Clone)]
pub struct Scaffold {
    /// The folder, as given.
    pub dir: PathBuf,
    /// The package name (`[package] name`).
    pub crate_name: String,
    /// The slot its policy decides for.
    pub slot: Slot,
    /// The files written, relative to `dir`.
    pub files: Vec<PathBuf>,
}

impl Scaffold {
    /// The module a release build writes, relative to `dir`.
    pub fn wasm(&self) -> PathBuf {
        Path::new("target/wasm32-wasip2/release").join(wasm_file(&self.crate_name))
    }

    /// The fixtures folder, relative to `dir`.
    pub fn fixtures(&self) -> PathBuf {
        PathBuf::from("fixtures")
    }

    /// What to run next, a command a line.
    pub fn next_steps(&self) -> String {
        let wasm = self.wasm().display().to_string();
        format!(
            "  cd {}\n  rustup target add wasm32-wasip2    # once\n  \
             cargo build --release --target wasm32-wasip2\n  \
             accord policy check {wasm}\n  accord policy test {wasm} fixtures/\n",
            shell_word(&self.dir.display().to_string())
        )
    }
}

/// Runs `accord policy new`: writes the crate and prints what to run next.
pub fn execute(args: &NewArgs) -> Result<i32, ScaffoldError> {
    let scaffold = scaffold(args.slot.into(), &args.dir)?;
    let files: Vec<String> = scaffold
        .files
        .iter()
        .map(|f| f.display().to_string())
        .collect();
    println!(
        "Created the {} policy crate `{}` in {}:\n  {}\n\nNext:\n{}",
        scaffold.slot,
        scaffold.crate_name,
        scaffold.dir.display(),
        files.join("\n  "),
        scaffold.next_steps()
    );
    Ok(0)
}

/// Writes a `slot` policy crate into `dir`, which must not exist or be
/// empty: a folder that holds anything is refused before a file is written,
/// and no file is ever overwritten.
pub fn scaffold(slot: Slot, dir: &Path) -> Result<Scaffold, ScaffoldError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ScaffoldError::Io { path, source }
    };
    match std::fs::metadata(dir) {
        Ok(meta) if !meta.is_dir() => return Err(ScaffoldError::NotAFolder(dir.to_path_buf())),
        Ok(_) => {
            if std::fs::read_dir(dir).map_err(io(dir))?.next().is_some() {
                return Err(ScaffoldError::NotEmpty(dir.to_path_buf()));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(dir)(e)),
    }
    let crate_name = crate_name(dir);
    let files = files(slot, &crate_name);
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    for (relative, contents) in &files {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        // `create_new`: a file that appeared since the emptiness check is
        // an error, never overwritten.
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|mut f| f.write_all(contents.as_bytes()))
            .map_err(io(&path))?;
    }
    Ok(Scaffold {
        dir: dir.to_path_buf(),
        crate_name,
        slot,
        files: files.into_iter().map(|(path, _)| path).collect(),
    })
}

/// The crate's files and their contents, relative to its folder.
pub fn files(slot: Slot, crate_name: &str) -> Vec<(PathBuf, String)> {
    let t = Template::of(slot);
    let wasm = format!("target/wasm32-wasip2/release/{}", wasm_file(crate_name));
    let vars = [
        ("crate", crate_name),
        ("slot", slot.as_str()),
        ("world", slot.world()),
        ("wasm", &wasm),
        ("about", t.about),
        ("input", t.input),
        ("input_example", t.fixtures[0].0),
        ("failsafe", t.failsafe),
        ("upload_note", t.upload_note),
    ];
    let mut files = vec![
        ("Cargo.toml".into(), fill(CARGO_TOML, &vars)),
        ("Cargo.lock".into(), cargo_lock(crate_name)),
        (".cargo/config.toml".into(), CARGO_CONFIG.to_string()),
        (".gitignore".into(), GITIGNORE.to_string()),
        ("wit/policy.wit".into(), WIT.to_string()),
        ("src/lib.rs".into(), t.lib.to_string()),
    ];
    for (name, contents) in t.fixtures {
        files.push((Path::new("fixtures").join(name), contents.to_string()));
    }
    files.push(("README.md".into(), fill(README, &vars)));
    files
}

/// What differs between the slots' crates.
struct Template {
    lib: &'static str,
    /// Two (file name, contents): the first is the README's `run` example.
    fixtures: [(&'static str, &'static str); 2],
    about: &'static str,
    input: &'static str,
    failsafe: &'static str,
    upload_note: &'static str,
}

/// Campaign steps appear in the routing and pre-flight inputs alike.
macro_rules! steps_note {
    () => {
        "Campaign steps are tagged: `{\"type\": \"send_invite\"}`, \
         `{\"type\": \"wait_accept\", \"days\": 7}`,\n\
         `{\"type\": \"condition\", \"if_accepted\": 3, \"otherwise\": null}`, \
         `{\"type\": \"send_message\"}`,\n`{\"type\": \"wait\", \"days\": 3}`."
    };
}

impl Template {
    fn of(slot: Slot) -> Self {
        match slot {
            Slot::Match => Template {
                lib: include_str!("templates/match.rs"),
                fixtures: [
                    (
                        "signal-keys-new-relation-webhook.json",
                        include_str!(
                            "templates/fixtures/match/signal-keys-new-relation-webhook.json"
                        ),
                    ),
                    (
                        "priority-invite-bridge-over-member-id-and-slug.json",
                        include_str!(
                            "templates/fixtures/match/priority-invite-bridge-over-member-id-and-slug.json"
                        ),
                    ),
                ],
                about: "which enrollments an accept signal belongs to, and by\n\
                        which strategy (invite bridge, member id, Sales Navigator decode, public\n\
                        identifier).",
                input: "A match input names the function to call:\n\
                        `{\"call\": \"prospect_keys\", \"identity\": {…}}`,\n\
                        `{\"call\": \"signal_keys\", \"signal\": {…}}` or\n\
                        `{\"call\": \"resolve\", \"signal\": {…}, \"candidates\": […]}`; the decision is\n\
                        `{\"keys\": […]}` or `{\"matches\": [{\"enrollment_id\", \"strategy\"}]}`.",
                failsafe: "unmatched: the signal is traced, and healed later",
                upload_note: "Uploading a match policy first computes every prospect's keys with it:\n\
                              a module that fails on more than half of them is refused (`422\n\
                              rekey_failed`) and nothing changes.\n\n",
            },
            Slot::Routing => Template {
                lib: include_str!("templates/routing.rs"),
                fixtures: [
                    (
                        "late-timed-out-auto-fires.json",
                        include_str!("templates/fixtures/routing/late-timed-out-auto-fires.json"),
                    ),
                    (
                        "in-time-waiting-accept-advances.json",
                        include_str!(
                            "templates/fixtures/routing/in-time-waiting-accept-advances.json"
                        ),
                    ),
                ],
                about: "what a matched accept does: advance the workflow in\n\
                        time, fire one late follow-up message, stamp only, or ignore.",
                input: concat!(
                    "A routing input holds `signal`, `enrollment`, `campaign` and `now`; the\n\
                     decision is `{\"route\": \"advance\" | \"late_auto_fire\" | \"stamp_only\" |\n\
                     \"ignore\", …}`. ",
                    steps_note!()
                ),
                failsafe: "stamp only: nothing is sent automatically",
                upload_note: "",
            },
            Slot::Preflight => Template {
                lib: include_str!("templates/preflight.rs"),
                fixtures: [
                    (
                        "campaign-paused.json",
                        include_str!("templates/fixtures/preflight/campaign-paused.json"),
                    ),
                    (
                        "in-time-advance-enqueues-now.json",
                        include_str!(
                            "templates/fixtures/preflight/in-time-advance-enqueues-now.json"
                        ),
                    ),
                ],
                about: "whether a follow-up message may be enqueued now, or\n\
                        why not and whether to try again later.",
                input: concat!(
                    "A pre-flight input holds the dispatch's `source`, the step and the\n\
                     account, campaign and prospect states; the decision is\n\
                     `{\"decision\": \"enqueue\", \"step_index\", \"not_before\"}` or\n\
                     `{\"decision\": \"skip\", \"reason\", \"recoverable\", \"detail\"}`. ",
                    steps_note!()
                ),
                failsafe: "a recoverable `policy_error` skip, retried hourly",
                upload_note: "",
            },
        }
    }
}

/// Replaces every `{{name}}` of `template`.
fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    vars.iter()
        .fold(template.to_string(), |text, (name, value)| {
            text.replace(&format!("{{{{{name}}}}}"), value)
        })
}

/// The template's lock with the scaffold's own package added where cargo
/// sorts it, so the first build neither rewrites the lock nor needs the
/// registry's index.
fn cargo_lock(crate_name: &str) -> String {
    const SEPARATOR: &str = "\n[[package]]\n";
    let mut parts = CARGO_LOCK.split(SEPARATOR);
    let head = parts.next().unwrap_or_default();
    let mut packages: Vec<String> = parts.map(str::to_string).collect();
    let own = format!(
        "name = \"{crate_name}\"\nversion = \"0.1.0\"\ndependencies = [\n \"wit-bindgen\",\n]\n"
    );
    let at = packages
        .iter()
        .position(|p| package_name(p) > crate_name)
        .unwrap_or(packages.len());
    packages.insert(at, own);
    let mut lock = head.to_string();
    for package in packages {
        lock.push_str(SEPARATOR);
        lock.push_str(&package);
    }
    lock
}

/// The `name` of one `[[package]]` entry of a lock file.
fn package_name(entry: &str) -> &str {
    entry
        .strip_prefix("name = \"")
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
}

/// The package name for a crate in `dir`: its last component, lowercased,
/// with anything cargo refuses turned into `-`. A name cargo or rustc
/// reserves, or one of the locked dependencies' names, gets `-policy`
/// appended; a name that would start with a digit gets `policy-` prepended.
pub fn crate_name(dir: &Path) -> String {
    // `.` or `..` name no folder themselves: use the one they point at.
    let last = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .or_else(|| {
            std::fs::canonicalize(dir)
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        })
        .unwrap_or_default();
    let mut name = String::new();
    for c in last.chars() {
        let c = match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '_' => c.to_ascii_lowercase(),
            _ => '-',
        };
        if !(c == '-' && name.ends_with('-')) {
            name.push(c);
        }
    }
    let name = name.trim_matches(['-', '_']);
    let mut name = match name {
        "" => "policy".to_string(),
        n if n.starts_with(|c: char| c.is_ascii_digit()) => format!("policy-{n}"),
        n => n.to_string(),
    };
    let lib = name.replace('-', "_");
    let taken = CARGO_LOCK
        .split("\n[[package]]\n")
        .skip(1)
        .any(|p| package_name(p) == name);
    if RESERVED.split_whitespace().any(|r| r == lib) || taken {
        name.push_str("-policy");
    }
    name
}

/// Rust keywords and the sysroot crates' names: cargo or rustc refuse them
/// as crate names.
const RESERVED: &str = "abstract alloc as async await become box break const continue core \
    crate do dyn else enum extern false final fn for gen if impl in let loop macro match mod \
    move mut override priv proc_macro pub ref return self static std struct super test trait \
    true try type typeof unsafe unsized use virtual where while yield";

/// The module file cargo writes for a package: its lib target's name.
fn wasm_file(crate_name: &str) -> String {
    format!("{}.wasm", crate_name.replace('-', "_"))
}

/// `word` as one shell word: quoted when it holds anything but the
/// characters a path usually has.
fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:@%+=,".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crate_names_are_valid_package_names() {
        let name = |dir: &str| crate_name(Path::new(dir));
        assert_eq!(name("my-policy"), "my-policy");
        assert_eq!(name("/tmp/x/My Policy!/"), "my-policy");
        assert_eq!(name("no_late_steps"), "no_late_steps");
        assert_eq!(name("2026-rules"), "policy-2026-rules");
        assert_eq!(name("--weird__"), "weird");
        assert_eq!(name("***"), "policy");
        assert_eq!(name("match"), "match-policy");
        assert_eq!(name("proc-macro"), "proc-macro-policy");
        assert_eq!(name("wit-bindgen"), "wit-bindgen-policy");
        assert_eq!(name("Crème"), "cr-me");
        assert!(!name(".").is_empty());
    }

    #[test]
    fn the_lock_holds_the_crate_in_name_order() {
        for name in ["a-policy", "my-policy", "zz-policy", "wit-bindgen-x"] {
            let lock = cargo_lock(name);
            let names: Vec<&str> = lock
                .split("\n[[package]]\n")
                .skip(1)
                .map(package_name)
                .collect();
            assert!(names.contains(&name), "{name}");
            assert!(names.is_sorted(), "{names:?}");
            assert_eq!(names.len(), CARGO_LOCK.matches("[[package]]").count() + 1);
        }
    }

    #[test]
    fn every_placeholder_is_filled() {
        for slot in Slot::ALL {
            for (path, text) in files(slot, "my-policy") {
                assert!(!text.contains("{{"), "{slot}: {}", path.display());
            }
        }
    }

    #[test]
    fn shell_words_are_quoted_when_needed() {
        assert_eq!(shell_word("my-policy"), "my-policy");
        assert_eq!(shell_word("my policy"), "'my policy'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
    }
}
