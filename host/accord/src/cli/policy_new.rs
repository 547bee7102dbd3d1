//! `accord policy new SLOT DIR [--lang rust|python|javascript]`: writes a
//! policy author's starter project.
//!
//! The project stands alone (it is meant to live outside this repository):
//! it carries its own copy of the WIT contract and the pinned build tool of
//! its language, and its policy is the slot's default logic, so it builds
//! and passes its two fixtures before the author changes anything. In Rust
//! a crate whose `src/lib.rs` is the default written out over
//! `wit-bindgen`'s bindings; in Python and JavaScript the very ports of
//! guest-policies/python and guest-policies/javascript (which the test
//! suite runs against every default fixture), with a `componentize-py` or
//! `componentize-js` build. The files are templates under `templates/`,
//! embedded in the binary.

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

/// The Python project: the tool pin is the repository's own.
mod python {
    pub const REQUIREMENTS: &str =
        include_str!("../../../../guest-policies/python/requirements.txt");
    pub const BUILD: &str = include_str!("templates/python/build.sh");
    pub const PYPROJECT: &str = include_str!("templates/python/pyproject.toml");
    pub const GITIGNORE: &str = include_str!("templates/python/gitignore");
    pub const README_BUILD: &str = include_str!("templates/python/README-build.md");
    pub const README_FILES: &str = include_str!("templates/python/README-files.md");
    pub const MATCH: &str = include_str!("../../../../guest-policies/python/match/policy.py");
    pub const ROUTING: &str = include_str!("../../../../guest-policies/python/routing/policy.py");
    pub const PREFLIGHT: &str =
        include_str!("../../../../guest-policies/python/preflight/policy.py");
}

/// The JavaScript project: the tool pins and their lock are the
/// repository's own.
mod javascript {
    pub const REPO_PACKAGE: &str =
        include_str!("../../../../guest-policies/javascript/package.json");
    pub const REPO_LOCK: &str =
        include_str!("../../../../guest-policies/javascript/package-lock.json");
    /// The name the repository's lock gives its own package.
    pub const REPO_NAME: &str = "accord-policies-javascript";
    pub const PACKAGE: &str = include_str!("templates/javascript/package.json.tmpl");
    pub const BUILD: &str = include_str!("templates/javascript/build.mjs");
    pub const JSCONFIG: &str = include_str!("templates/javascript/jsconfig.json");
    pub const GITIGNORE: &str = include_str!("templates/javascript/gitignore");
    pub const README_BUILD: &str = include_str!("templates/javascript/README-build.md");
    pub const README_FILES: &str = include_str!("templates/javascript/README-files.md");
    pub const MATCH: &str = include_str!("../../../../guest-policies/javascript/match/policy.js");
    pub const ROUTING: &str =
        include_str!("../../../../guest-policies/javascript/routing/policy.js");
    pub const PREFLIGHT: &str =
        include_str!("../../../../guest-policies/javascript/preflight/policy.js");
}

const RUST_README_BUILD: &str = include_str!("templates/README-build-rust.md");
const RUST_README_FILES: &str = include_str!("templates/README-files-rust.md");

/// `accord policy new`'s arguments.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The slot the policy decides for.
    #[arg(value_enum)]
    pub slot: SlotName,
    /// The folder to create (or an empty one); its last component names
    /// the crate or package.
    pub dir: PathBuf,
    /// The language to write the policy in.
    #[arg(long, value_enum, default_value_t = Lang::Rust)]
    pub lang: Lang,
}

/// A language `policy new` writes a project in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    /// A Rust crate built with cargo for wasm32-wasip2 (the smallest and
    /// cheapest modules).
    Rust,
    /// A Python module built with componentize-py.
    Python,
    /// A JavaScript module (JSDoc-typed) built with componentize-js.
    Javascript,
}

impl Lang {
    /// Every language, in the order the README shows them.
    pub const ALL: [Lang; 3] = [Lang::Rust, Lang::Python, Lang::Javascript];

    /// The name `--lang` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::Javascript => "javascript",
        }
    }
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

/// A project `policy new` wrote.
#[derive(Debug, Clone)]
pub struct Scaffold {
    /// The folder, as given.
    pub dir: PathBuf,
    /// The package name (`[package] name`, or package.json's `name`).
    pub crate_name: String,
    /// The slot its policy decides for.
    pub slot: Slot,
    /// Its language.
    pub lang: Lang,
    /// The files written, relative to `dir`.
    pub files: Vec<PathBuf>,
}

impl Scaffold {
    /// The module a release build writes, relative to `dir`.
    pub fn wasm(&self) -> PathBuf {
        PathBuf::from(wasm_path(self.lang, &self.crate_name))
    }

    /// The fixtures folder, relative to `dir`.
    pub fn fixtures(&self) -> PathBuf {
        PathBuf::from("fixtures")
    }

    /// What to run next, a command a line.
    pub fn next_steps(&self) -> String {
        let wasm = self.wasm().display().to_string();
        let build = match self.lang {
            Lang::Rust => {
                "rustup target add wasm32-wasip2    # once\n  \
                 cargo build --release --target wasm32-wasip2"
            }
            Lang::Python => {
                "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt    # once\n  \
                 ./build.sh"
            }
            Lang::Javascript => "npm ci    # once\n  npm run build",
        };
        format!(
            "  cd {}\n  {build}\n  accord policy check {wasm}\n  accord policy test {wasm} fixtures/\n",
            shell_word(&self.dir.display().to_string())
        )
    }
}

/// Runs `accord policy new`: writes the crate and prints what to run next.
pub fn execute(args: &NewArgs) -> Result<i32, ScaffoldError> {
    let scaffold = scaffold_lang(args.slot.into(), args.lang, &args.dir)?;
    let files: Vec<String> = scaffold
        .files
        .iter()
        .map(|f| f.display().to_string())
        .collect();
    let kind = match scaffold.lang {
        Lang::Rust => "crate",
        Lang::Python | Lang::Javascript => "project",
    };
    println!(
        "Created the {} {} policy {kind} `{}` in {}:\n  {}\n\nNext:\n{}",
        scaffold.lang.as_str(),
        scaffold.slot,
        scaffold.crate_name,
        scaffold.dir.display(),
        files.join("\n  "),
        scaffold.next_steps()
    );
    Ok(0)
}

/// Writes a `slot` policy crate in Rust into `dir` (see [`scaffold_lang`]).
pub fn scaffold(slot: Slot, dir: &Path) -> Result<Scaffold, ScaffoldError> {
    scaffold_lang(slot, Lang::Rust, dir)
}

/// Writes a `slot` policy project in `lang` into `dir`, which must not
/// exist or be empty: a folder that holds anything is refused before a
/// file is written, and no file is ever overwritten.
pub fn scaffold_lang(slot: Slot, lang: Lang, dir: &Path) -> Result<Scaffold, ScaffoldError> {
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
    let files = files(slot, lang, &crate_name);
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
        // The build script is run as `./build.sh`, as its README says.
        #[cfg(unix)]
        if path.extension().is_some_and(|e| e == "sh") {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .map_err(io(&path))?;
        }
    }
    Ok(Scaffold {
        dir: dir.to_path_buf(),
        crate_name,
        slot,
        lang,
        files: files.into_iter().map(|(path, _)| path).collect(),
    })
}

/// The project's files and their contents, relative to its folder.
pub fn files(slot: Slot, lang: Lang, crate_name: &str) -> Vec<(PathBuf, String)> {
    let t = Template::of(slot);
    let wasm = wasm_path(lang, crate_name);
    let (source, files_table, build, limits_note) = match lang {
        Lang::Rust => ("src/lib.rs", RUST_README_FILES, RUST_README_BUILD, ""),
        Lang::Python => (
            "policy.py",
            python::README_FILES,
            python::README_BUILD,
            PORT_LIMITS,
        ),
        Lang::Javascript => (
            "policy.js",
            javascript::README_FILES,
            javascript::README_BUILD,
            PORT_LIMITS,
        ),
    };
    // `build` holds `{{wasm}}`: it is filled first.
    let vars = [
        ("build", build),
        ("files_table", files_table.trim_end()),
        ("source", source),
        ("limits_note", limits_note),
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
    let mut files: Vec<(PathBuf, String)> = match lang {
        Lang::Rust => vec![
            ("Cargo.toml".into(), fill(CARGO_TOML, &vars)),
            ("Cargo.lock".into(), cargo_lock(crate_name)),
            (".cargo/config.toml".into(), CARGO_CONFIG.to_string()),
            (".gitignore".into(), GITIGNORE.to_string()),
            ("src/lib.rs".into(), t.lib.to_string()),
        ],
        Lang::Python => vec![
            ("requirements.txt".into(), python::REQUIREMENTS.to_string()),
            ("build.sh".into(), fill(python::BUILD, &vars)),
            ("pyproject.toml".into(), python::PYPROJECT.to_string()),
            (".gitignore".into(), python::GITIGNORE.to_string()),
            ("policy.py".into(), t.python.to_string()),
        ],
        Lang::Javascript => vec![
            ("package.json".into(), package_json(slot, crate_name)),
            ("package-lock.json".into(), package_lock(crate_name)),
            ("build.mjs".into(), fill(javascript::BUILD, &vars)),
            ("jsconfig.json".into(), javascript::JSCONFIG.to_string()),
            (".gitignore".into(), javascript::GITIGNORE.to_string()),
            ("policy.js".into(), t.javascript.to_string()),
        ],
    };
    files.push(("wit/policy.wit".into(), WIT.to_string()));
    for (name, contents) in t.fixtures {
        files.push((Path::new("fixtures").join(name), contents.to_string()));
    }
    files.push(("README.md".into(), fill(README, &vars)));
    files
}

/// What the README says of the limits for a Python or JavaScript module.
const PORT_LIMITS: &str = " A Python or JavaScript module carries its language's runtime: \
    Accord's default policies in these languages are 12–18 MB components that use \
    0.15–6.1 M fuel and 9.5–13 MB of memory a decision, within the defaults but \
    closer to the memory cap than a Rust module (128 KiB).";

/// The scaffold's package.json: the repository's JavaScript pins, the
/// scaffold's name.
fn package_json(slot: Slot, name: &str) -> String {
    let dev = serde_json::from_str::<serde_json::Value>(javascript::REPO_PACKAGE)
        .ok()
        .and_then(|p| p.get("devDependencies").cloned())
        .and_then(|d| serde_json::to_string_pretty(&d).ok())
        .unwrap_or_else(|| "{}".into())
        .replace('\n', "\n  ");
    fill(
        javascript::PACKAGE,
        &[
            ("npm_name", name),
            ("slot", slot.as_str()),
            ("dev_dependencies", &dev),
        ],
    )
}

/// The repository's lock, naming the scaffold's package instead: the same
/// packages, so `npm ci` installs exactly what the ports are built with.
fn package_lock(name: &str) -> String {
    javascript::REPO_LOCK.replace(
        &format!("\"name\": \"{}\"", javascript::REPO_NAME),
        &format!("\"name\": \"{name}\""),
    )
}

/// What differs between the slots' projects.
struct Template {
    lib: &'static str,
    python: &'static str,
    javascript: &'static str,
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
                python: python::MATCH,
                javascript: javascript::MATCH,
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
                python: python::ROUTING,
                javascript: javascript::ROUTING,
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
                python: python::PREFLIGHT,
                javascript: javascript::PREFLIGHT,
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

/// The module a build writes, relative to the project: for Rust cargo's
/// file for the package's lib target; the build scripts of the other
/// languages write `policy.wasm`.
fn wasm_path(lang: Lang, crate_name: &str) -> String {
    match lang {
        Lang::Rust => format!(
            "target/wasm32-wasip2/release/{}.wasm",
            crate_name.replace('-', "_")
        ),
        Lang::Python | Lang::Javascript => "policy.wasm".into(),
    }
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
            for lang in Lang::ALL {
                for (path, text) in files(slot, lang, "my-policy") {
                    // The ports are copied verbatim, not filled: JSDoc's
                    // `{{ kind: … }}` is an object type there.
                    if path.to_string_lossy().starts_with("policy.") {
                        continue;
                    }
                    assert!(!text.contains("{{"), "{slot} {lang:?}: {}", path.display());
                }
            }
        }
    }

    #[test]
    fn each_language_builds_the_slot_s_world_and_names_its_package() {
        for slot in Slot::ALL {
            let world = format!("-w {}", slot.world());
            let python = files(slot, Lang::Python, "my-policy");
            let build = &python
                .iter()
                .find(|(p, _)| p.ends_with("build.sh"))
                .unwrap()
                .1;
            assert_eq!(build.matches(&world).count(), 2, "{slot}: {build}");
            let js = files(slot, Lang::Javascript, "my-policy");
            let get = |name: &str| &js.iter().find(|(p, _)| p.ends_with(name)).unwrap().1;
            assert!(get("build.mjs").contains(&format!("const world = '{}';", slot.world())));
            let lock: serde_json::Value = serde_json::from_str(get("package-lock.json")).unwrap();
            let package: serde_json::Value = serde_json::from_str(get("package.json")).unwrap();
            assert_eq!(lock["name"], "my-policy");
            assert_eq!(lock["packages"][""]["name"], "my-policy");
            assert_eq!(
                lock["packages"][""]["devDependencies"],
                package["devDependencies"]
            );
            assert_eq!(
                package["devDependencies"]["@bytecodealliance/componentize-js"],
                "0.23.0"
            );
        }
    }

    #[test]
    fn shell_words_are_quoted_when_needed() {
        assert_eq!(shell_word("my-policy"), "my-policy");
        assert_eq!(shell_word("my policy"), "'my policy'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
    }
}
