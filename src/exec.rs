//! The plan of `vault exec`: which environment a command gets, which
//! `--file` contents it gets, and which values its output is masked for.
//! Pure: no I/O, no process, no environment read; the caller passes in the
//! secrets, the `--only` names, the templates already read and the inherited
//! environment, and does the spawning (and tells the user the plan's
//! [`Note`]s).
//!
//! A secret is *named* when it is one of the `--only` names, or when an
//! inherited `vault:NAME` reference or a `--file` template asks for it.
//! Rules, each with a unit test below:
//! - every secret becomes a variable of its name, or only the `--only` ones;
//! - a secret whose name changes how programs load or how a shell starts
//!   ([`crate::envnames`]: `PATH`, `LD_PRELOAD`, `BASH_ENV`, ...) becomes a
//!   variable only when it is one of the `--only` names; otherwise it is left
//!   out ([`Note::LoadingNames`]) and the inherited variable stays as it was;
//! - an inherited variable whose value is exactly `vault:NAME` gets the value
//!   of secret `NAME` (a reference), which must be among the `--only` ones; the
//!   reference is the caller's own choice, so its variable may have any name;
//!   when there is no secret `NAME` (names are case-sensitive) the variable is
//!   passed on unchanged ([`Note::NotAReference`]): an ordinary value such as
//!   `DOCKER_IMAGE=vault:latest` must not stop the command;
//! - the passphrase and identity variables ([`PASSPHRASE_VARS`]) are never passed on;
//! - a secret replaces an inherited variable of the same name;
//! - a value that cannot be an environment variable (a NUL byte, or over
//!   [`MAX_ENV_STRLEN`]) is refused, naming the secret and never its value,
//!   when the secret is named by `--only` or a reference; a `--file` template
//!   carrying it hands it over by the file only ([`Note::FileOnly`]); a
//!   secret not named is left out ([`Note::NotAnEnvValue`]);
//! - the values to mask are exactly the secret values handed to the command
//!   ([`Plan::masked`]), derived from the plan itself.
//!
//! In Nextflow mode ([`plan_nextflow`]) the secrets (all, or the `--only`
//! ones) go into a Nextflow secrets store ([`NextflowStore`]) and none into
//! the environment, which every task of the pipeline would inherit:
//! - every value handed over must survive Nextflow's `secret` directive
//!   ([`crate::interchange::nextflow::directive_unfit`]), else the plan is
//!   refused, naming the secret: vault cannot tell whether the pipeline uses
//!   the directive, and `--only` narrows what is handed over;
//! - so is a value that cannot be an environment variable of its name
//!   ([`env_unusable`], the rule of plain `exec`): the directive exports it
//!   into the environment of every task naming it;
//! - a value holding `NAME=` where `NAME` is another secret handed over is
//!   refused too: the directive would hand it to every task asking for
//!   `NAME` ([`crate::interchange::nextflow::names_before_equals`]);
//! - names that change how programs load go into the store like any other:
//!   the store sets no variable, and a task gets a secret only by naming it
//!   in the pipeline;
//! - a reference `vault:NAME` is not resolved ([`Note::StoreOnly`]), the
//!   passphrase variables are dropped, and an inherited `NXF_SECRETS_FILE`
//!   is dropped (the caller points it at the store).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use zeroize::Zeroizing;

use crate::envnames::alters_program_loading;
use crate::error::Error;
use crate::format::is_valid_name;
use crate::interchange::{self, nextflow};
use crate::render::{self, RenderError, RenderErrorKind};
use crate::secret::SecretBytes;
use crate::vault::Vault;

/// Longest `NAME=value` one environment variable may be, counting its
/// terminating NUL (Linux `MAX_ARG_STRLEN`).
pub const MAX_ENV_STRLEN: usize = 128 * 1024;

/// The credential variables (passphrase and identity), never passed to a
/// command.
pub const PASSPHRASE_VARS: [&str; 4] = [
    "VAULT_PASSPHRASE",
    "VAULT_PASSPHRASE_FILE",
    "VAULT_IDENTITY",
    "VAULT_IDENTITY_FILE",
];

/// Where the plan reads secrets from: the unlocked [`Vault`] (or, in tests,
/// a plain map).
pub trait SecretSource {
    /// The value of secret `name`.
    fn value(&self, name: &str) -> Option<&[u8]>;
    /// Every secret, sorted by name.
    fn all(&self) -> impl Iterator<Item = (&str, &[u8])>;
}

impl SecretSource for Vault {
    fn value(&self, name: &str) -> Option<&[u8]> {
        self.get(name).map(|e| e.expose_value())
    }

    fn all(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.entries().map(|e| (e.name, e.expose_value()))
    }
}

/// A `--file VAR=TEMPLATE` request, with the template already read.
#[derive(Clone, Copy, Debug)]
pub struct FileTemplate<'a> {
    /// The variable that gets the in-memory file's path.
    pub var: &'a str,
    /// The template's name in messages (its path).
    pub label: &'a str,
    /// The template's bytes.
    pub template: &'a [u8],
}

/// An environment value: inherited (not secret) or a secret (with its name).
pub enum EnvValue {
    /// Inherited as it was.
    Plain(OsString),
    /// The value of the named secret.
    Secret(String, SecretBytes),
}

/// A rendered `--file`: the variable, the contents, and the secrets in it.
pub struct RenderedFile {
    /// The variable that gets the file's path.
    pub var: String,
    /// The rendered template.
    pub contents: Zeroizing<Vec<u8>>,
    /// The secrets the template references, by name (sorted, unique).
    pub secrets: BTreeMap<String, SecretBytes>,
}

/// What the plan left out or passed on unchanged, for the caller to tell
/// the user (names only, never a value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Note {
    /// Secrets whose names change how programs load or how a shell starts,
    /// not among the `--only` names: not passed on (sorted).
    LoadingNames(Vec<String>),
    /// A secret not named whose value cannot be an environment variable:
    /// not passed on.
    NotAnEnvValue {
        /// The secret.
        name: String,
        /// Why not, as [`env_unusable`] says it.
        why: String,
    },
    /// A secret whose value cannot be an environment variable, carried by
    /// `--file` templates: handed over by those files only.
    FileOnly {
        /// The secret.
        name: String,
        /// Why not, as [`env_unusable`] says it.
        why: String,
        /// The variables that get the paths of the files carrying it.
        vars: Vec<String>,
    },
    /// An inherited variable whose value is `vault:NAME` with no secret
    /// `NAME`: passed on unchanged.
    NotAReference {
        /// The variable.
        var: OsString,
        /// The name it gives (a valid name, which no secret has).
        name: String,
    },
    /// Nextflow mode: an inherited variable whose value is `vault:NAME`
    /// for an existing secret `NAME`, passed on unchanged: secrets reach
    /// Nextflow only through its store.
    StoreOnly {
        /// The variable.
        var: OsString,
        /// The secret it names.
        name: String,
    },
}

/// Nextflow mode: the store Nextflow reads its secrets from.
pub struct NextflowStore {
    /// The store file: a JSON array of `{"name", "value"}` as Nextflow
    /// writes it.
    pub json: SecretBytes,
    /// The secrets in it, by name (what `--mask` hides).
    pub secrets: BTreeMap<String, SecretBytes>,
}

/// What `exec` hands to the command, worked out before anything runs.
pub struct Plan {
    /// The whole environment of the command, sorted by variable.
    pub env: Vec<(OsString, EnvValue)>,
    /// The `--file` contents, in the order given.
    pub files: Vec<RenderedFile>,
    /// What was left out or passed on unchanged, in the order found:
    /// references, then secrets by name.
    pub notes: Vec<Note>,
    /// Nextflow mode: the store (and then no secret is in `env`).
    pub nextflow: Option<NextflowStore>,
}

impl Plan {
    /// Every secret value handed to the command, by the environment or by a
    /// file, keyed and sorted by secret name: what `--mask` hides.
    pub fn masked(&self) -> BTreeMap<&str, &[u8]> {
        let in_env = self.env.iter().filter_map(|(_, v)| match v {
            EnvValue::Secret(name, value) => Some((name.as_str(), value.expose())),
            EnvValue::Plain(_) => None,
        });
        let in_files = self
            .files
            .iter()
            .flat_map(|f| f.secrets.iter().map(|(n, v)| (n.as_str(), v.expose())));
        let in_store = self
            .nextflow
            .iter()
            .flat_map(|s| s.secrets.iter().map(|(n, v)| (n.as_str(), v.expose())));
        in_env.chain(in_files).chain(in_store).collect()
    }
}

/// Why `value` cannot travel as environment variable `var`, if it cannot.
pub fn env_unusable(var: &OsStr, value: &[u8]) -> Option<String> {
    if value.contains(&0) {
        Some("contains a NUL byte, which an environment variable cannot carry".into())
    } else if var.len() + 1 + value.len() + 1 > MAX_ENV_STRLEN {
        Some(format!(
            "is {} bytes, over the {} KiB the OS allows for one environment variable",
            value.len(),
            MAX_ENV_STRLEN / 1024
        ))
    } else {
        None
    }
}

/// The command asked for secret `name` and cannot have it: there is none,
/// or (`outside_only`) it is not among the ones it was restricted to. `why`
/// says where it was asked for (`None`: it is one of the restricting names).
fn missing(name: &str, why: Option<&str>, outside_only: bool) -> Error {
    Error::NoSuchSecret {
        name: name.to_string(),
        context: why.map(|why| match outside_only {
            true => format!("{why}; not one of the secrets this command was restricted to"),
            false => why.to_string(),
        }),
    }
}

/// A value that cannot be an environment variable.
fn unusable(name: &str, why: &str) -> Error {
    Error::NotAnEnvValue {
        name: name.to_string(),
        why: why.to_string(),
    }
}

/// A render error as the crate error, with the template's name and the
/// position: a malformed template, or an unknown secret.
pub fn render_error(what: &str, e: RenderError) -> Error {
    match e.kind {
        RenderErrorKind::Malformed(m) => Error::Template {
            what: what.to_string(),
            line: e.line,
            column: e.column,
            message: m.to_string(),
        },
        RenderErrorKind::UnknownSecret(name) => Error::NoSuchSecret {
            name: name.to_string(),
            context: Some(format!("referenced at {what}:{}:{}", e.line, e.column)),
        },
    }
}

/// Works out the command's environment from the inherited one and the
/// secrets: all of them, or the `only` names; references `vault:NAME`;
/// `files` templates. Every error happens here, before anything runs.
pub fn plan<S: SecretSource>(
    secrets: &S,
    only: &[String],
    files: &[FileTemplate<'_>],
    inherited: impl IntoIterator<Item = (OsString, OsString)>,
) -> Result<Plan, Error> {
    let restrict: Option<BTreeSet<&str>> =
        (!only.is_empty()).then(|| only.iter().map(String::as_str).collect());
    check_only(secrets, only)?;
    let in_only = |name: &str| restrict.as_ref().is_some_and(|r| r.contains(name));
    let allowed = |name: &str| restrict.is_none() || in_only(name);
    let lookup = |name: &str, why: &str| -> Result<SecretBytes, Error> {
        if !allowed(name) {
            return Err(missing(name, Some(why), true));
        }
        secrets
            .value(name)
            .map(SecretBytes::copy_from)
            .ok_or_else(|| missing(name, Some(why), false))
    };

    let mut notes = Vec::new();
    let mut env: BTreeMap<OsString, EnvValue> = BTreeMap::new();
    for (k, val) in inherited {
        if PASSPHRASE_VARS.iter().any(|p| OsStr::new(p) == k) {
            continue;
        }
        let value = match reference(&val) {
            Some(name) if secrets.value(name).is_none() => {
                notes.push(Note::NotAReference {
                    var: k.clone(),
                    name: name.to_string(),
                });
                EnvValue::Plain(val)
            }
            Some(name) => {
                let value = lookup(name, &format!("referenced by ${}", k.to_string_lossy()))?;
                EnvValue::Secret(name.to_string(), value)
            }
            None => EnvValue::Plain(val),
        };
        env.insert(k, value);
    }

    let mut rendered = Vec::with_capacity(files.len());
    for f in files {
        let what = f.label;
        let t = render::parse(f.template).map_err(|e| render_error(what, e))?;
        let mut carried = BTreeMap::new();
        for (name, line, col) in t.references() {
            let value = lookup(name, &format!("referenced at {what}:{line}:{col}"))?;
            carried.insert(name.to_string(), value);
        }
        let contents = t
            .render(&|n| carried.get(n).map(|v| v.expose()))
            .map_err(|e| render_error(what, e))?;
        rendered.push(RenderedFile {
            var: f.var.to_string(),
            contents,
            secrets: carried,
        });
    }

    let mut loading = Vec::new();
    for (name, value) in secrets.all() {
        if !allowed(name) {
            continue;
        }
        if !in_only(name) && alters_program_loading(name) {
            loading.push(name.to_string());
            continue;
        }
        if let Some(why) = env_unusable(OsStr::new(name), value) {
            let vars: Vec<String> = rendered
                .iter()
                .filter(|f| f.secrets.contains_key(name))
                .map(|f| f.var.clone())
                .collect();
            let name = name.to_string();
            match (vars.is_empty(), in_only(&name)) {
                (false, _) => notes.push(Note::FileOnly { name, why, vars }),
                (true, false) => notes.push(Note::NotAnEnvValue { name, why }),
                (true, true) => return Err(unusable(&name, &why)),
            }
            continue;
        }
        env.insert(
            name.into(),
            EnvValue::Secret(name.to_string(), SecretBytes::copy_from(value)),
        );
    }
    if !loading.is_empty() {
        notes.push(Note::LoadingNames(loading));
    }

    // Every value must be able to travel as an environment variable: what
    // is left to check here came by a reference, which names its secret.
    for (k, val) in &env {
        if let EnvValue::Secret(name, s) = val {
            if let Some(why) = env_unusable(k, s.expose()) {
                return Err(unusable(name, &why));
            }
        }
    }
    Ok(Plan {
        env: env.into_iter().collect(),
        files: rendered,
        notes,
        nextflow: None,
    })
}

/// Every `--only` name must be a secret.
fn check_only<S: SecretSource>(secrets: &S, only: &[String]) -> Result<(), Error> {
    match only.iter().find(|n| secrets.value(n).is_none()) {
        Some(n) => Err(missing(n, None, false)),
        None => Ok(()),
    }
}

/// The secret name an inherited value `vault:NAME` refers to, if it is one.
fn reference(val: &OsStr) -> Option<&str> {
    val.as_bytes()
        .strip_prefix(b"vault:")
        .filter(|n| is_valid_name(n))
        .and_then(|n| std::str::from_utf8(n).ok())
}

/// A value Nextflow cannot be handed.
fn unfit(name: &str, why: String) -> Error {
    Error::NotANextflowValue {
        name: name.to_string(),
        why,
    }
}

/// Works out `exec` in Nextflow mode (see the module documentation): the
/// store holding the secrets (all, or the `only` names), and the inherited
/// environment with no secret in it. Every error happens here, before
/// anything runs.
pub fn plan_nextflow<S: SecretSource>(
    secrets: &S,
    only: &[String],
    inherited: impl IntoIterator<Item = (OsString, OsString)>,
) -> Result<Plan, Error> {
    check_only(secrets, only)?;
    // Sorted by name, as `all` gives them (and as Nextflow writes its store).
    let handed: Vec<(&str, &[u8])> = secrets
        .all()
        .filter(|(n, _)| only.is_empty() || only.iter().any(|o| o == n))
        .collect();
    for (name, value) in &handed {
        if let Some(why) = nextflow::directive_unfit(value) {
            return Err(unfit(name, why.to_string()));
        }
        // The directive exports it into a task's environment: the rule of
        // plain `exec`, with the name it gets there.
        if let Some(why) = env_unusable(OsStr::new(name), value) {
            return Err(unfit(
                name,
                format!("{why}, and Nextflow's `secret` directive exports it as one: no program a task naming it starts could run (\"Argument list too long\")"),
            ));
        }
    }
    for (name, value) in &handed {
        let picked = nextflow::names_before_equals(value)
            .find(|other| other != name && handed.binary_search_by(|(n, _)| n.cmp(other)).is_ok());
        if let Some(other) = picked {
            return Err(unfit(
                name,
                format!("contains `{other}=`: Nextflow's `secret` directive, which picks a task's secrets by searching for `NAME=`, would also hand it to every task asking for secret {other}"),
            ));
        }
    }
    let json = interchange::export(interchange::Format::Nextflow, &handed)
        .map_err(|e| unfit(&e.name, e.why.to_string()))?
        .bytes;

    let mut notes = Vec::new();
    let mut env = Vec::new();
    for (k, val) in inherited {
        let dropped = PASSPHRASE_VARS
            .iter()
            .chain([&nextflow::SECRETS_FILE_VAR])
            .any(|p| OsStr::new(p) == k);
        if dropped {
            continue;
        }
        if let Some(name) = reference(&val) {
            let name = name.to_string();
            let var = k.clone();
            notes.push(match secrets.value(&name) {
                Some(_) => Note::StoreOnly { var, name },
                None => Note::NotAReference { var, name },
            });
        }
        env.push((k, EnvValue::Plain(val)));
    }
    env.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Plan {
        env,
        files: Vec::new(),
        notes,
        nextflow: Some(NextflowStore {
            json,
            secrets: handed
                .iter()
                .map(|(n, v)| (n.to_string(), SecretBytes::copy_from(v)))
                .collect(),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Secrets as a plain sorted map.
    struct Map(BTreeMap<&'static str, Vec<u8>>);

    impl SecretSource for Map {
        fn value(&self, name: &str) -> Option<&[u8]> {
            self.0.get(name).map(Vec::as_slice)
        }

        fn all(&self) -> impl Iterator<Item = (&str, &[u8])> {
            self.0.iter().map(|(n, v)| (*n, v.as_slice()))
        }
    }

    fn secrets(pairs: &[(&'static str, &[u8])]) -> Map {
        Map(pairs.iter().map(|(n, v)| (*n, v.to_vec())).collect())
    }

    fn vars(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    fn only(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    /// The environment as text: `(var, "plain:…" or "NAME=…")`.
    fn env_of(p: &Plan) -> Vec<(String, String)> {
        p.env
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    EnvValue::Plain(p) => format!("plain:{}", p.to_string_lossy()),
                    EnvValue::Secret(n, s) => {
                        format!("{n}={}", String::from_utf8_lossy(s.expose()))
                    }
                };
                (k.to_string_lossy().into_owned(), v)
            })
            .collect()
    }

    fn pair(a: &str, b: &str) -> (String, String) {
        (a.to_string(), b.to_string())
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn masked_of(p: &Plan) -> Vec<(&str, &[u8])> {
        p.masked().into_iter().collect()
    }

    fn err(r: Result<Plan, Error>) -> Error {
        match r {
            Ok(_) => panic!("the plan was accepted"),
            Err(e) => e,
        }
    }

    #[test]
    fn every_secret_by_default_and_only_restricts() {
        let s = secrets(&[("A", b"aaaa"), ("B", b"bbbb")]);
        let p = plan(&s, &[], &[], vars(&[("HOME", "/h")])).unwrap();
        assert_eq!(
            env_of(&p),
            pairs(&[("A", "A=aaaa"), ("B", "B=bbbb"), ("HOME", "plain:/h")])
        );
        let p = plan(&s, &only(&["B"]), &[], vars(&[("HOME", "/h")])).unwrap();
        assert_eq!(env_of(&p), pairs(&[("B", "B=bbbb"), ("HOME", "plain:/h")]));
        let e = err(plan(&s, &only(&["B", "C"]), &[], vars(&[])));
        assert!(matches!(e, Error::NoSuchSecret { .. }));
        assert_eq!(e.to_string(), "no secret named C");
    }

    #[test]
    fn a_reference_is_resolved() {
        let s = secrets(&[("TOKEN", b"tok-value")]);
        let inherited = vars(&[("GH_TOKEN", "vault:TOKEN"), ("X", "vault:not a name")]);
        let p = plan(&s, &only(&["TOKEN"]), &[], inherited).unwrap();
        assert_eq!(
            env_of(&p),
            pairs(&[
                ("GH_TOKEN", "TOKEN=tok-value"),
                ("TOKEN", "TOKEN=tok-value"),
                ("X", "plain:vault:not a name"),
            ])
        );
    }

    #[test]
    fn a_reference_to_no_secret_passes_through_unchanged_with_a_note() {
        // Names are case-sensitive: `latest` is not `LATEST`.
        let s = secrets(&[("LATEST", b"latest-value"), ("TOKEN", b"tok-value")]);
        let inherited = vars(&[
            ("DOCKER_IMAGE", "vault:latest"),
            ("GH", "vault:TOKN"),
            ("R", "vault:TOKEN"),
        ]);
        for restrict in [only(&[]), only(&["TOKEN"])] {
            let p = plan(&s, &restrict, &[], inherited.clone()).unwrap();
            let env = env_of(&p);
            assert!(env.contains(&pair("DOCKER_IMAGE", "plain:vault:latest")));
            assert!(env.contains(&pair("GH", "plain:vault:TOKN")));
            assert!(env.contains(&pair("R", "TOKEN=tok-value")));
            assert_eq!(
                p.notes,
                [
                    Note::NotAReference {
                        var: "DOCKER_IMAGE".into(),
                        name: "latest".into()
                    },
                    Note::NotAReference {
                        var: "GH".into(),
                        name: "TOKN".into()
                    },
                ]
            );
        }
    }

    #[test]
    fn a_reference_outside_only_is_refused() {
        let s = secrets(&[("A", b"aaaa"), ("B", b"bbbb")]);
        let e = err(plan(&s, &only(&["A"]), &[], vars(&[("X", "vault:B")])));
        assert!(matches!(e, Error::NoSuchSecret { .. }));
        assert_eq!(
            e.to_string(),
            "no secret named B (referenced by $X; not one of the secrets this command was restricted to)"
        );
    }

    #[test]
    fn passphrase_variables_are_dropped() {
        let s = secrets(&[]);
        let inherited = vars(&[
            ("VAULT_PASSPHRASE", "pw"),
            ("VAULT_PASSPHRASE_FILE", "/pw"),
            ("VAULT_FILE", "/v"),
        ]);
        let p = plan(&s, &[], &[], inherited).unwrap();
        assert_eq!(env_of(&p), pairs(&[("VAULT_FILE", "plain:/v")]));
    }

    #[test]
    fn a_secret_overrides_an_inherited_variable() {
        let s = secrets(&[("API_KEY", b"from-vault")]);
        let p = plan(&s, &[], &[], vars(&[("API_KEY", "inherited")])).unwrap();
        assert_eq!(env_of(&p), pairs(&[("API_KEY", "API_KEY=from-vault")]));
    }

    #[test]
    fn nul_or_oversize_value_named_by_only_or_a_reference_is_refused_without_the_value() {
        let big = vec![b'x'; MAX_ENV_STRLEN];
        let s = secrets(&[("NUL", b"secret\0value")]);
        let e = err(plan(&s, &only(&["NUL"]), &[], vars(&[])));
        assert!(matches!(e, Error::NotAnEnvValue { .. }));
        assert_eq!(
            e.to_string(),
            "the value of secret NUL contains a NUL byte, which an environment variable cannot carry"
        );
        let s = secrets(&[("BIG", &big)]);
        let msg = err(plan(&s, &only(&["BIG"]), &[], vars(&[]))).to_string();
        assert_eq!(
            msg,
            format!("the value of secret BIG is {MAX_ENV_STRLEN} bytes, over the 128 KiB the OS allows for one environment variable")
        );
        assert!(!msg.contains("xxxx"));
        // The limit counts `NAME=value` and the terminating NUL.
        let fits = vec![b'x'; MAX_ENV_STRLEN - "BIG=".len() - 1];
        assert!(plan(&secrets(&[("BIG", &fits)]), &only(&["BIG"]), &[], vars(&[])).is_ok());
        let over = vec![b'x'; fits.len() + 1];
        assert!(plan(&secrets(&[("BIG", &over)]), &only(&["BIG"]), &[], vars(&[])).is_err());
        // Also through a reference, named after the secret, with or
        // without --only.
        let s = secrets(&[("NUL", b"a\0b"), ("OK", b"okok")]);
        for restrict in [only(&[]), only(&["OK", "NUL"])] {
            let e = err(plan(&s, &restrict, &[], vars(&[("R", "vault:NUL")])));
            assert!(e
                .to_string()
                .starts_with("the value of secret NUL contains"));
        }
    }

    #[test]
    fn nul_or_oversize_value_not_named_is_left_out_with_a_note() {
        let big = vec![b'x'; MAX_ENV_STRLEN];
        let s = secrets(&[("BIG", &big), ("NUL", b"a\0b"), ("OK", b"okok")]);
        let p = plan(&s, &[], &[], vars(&[("BIG", "inherited")])).unwrap();
        // The inherited variable stays as it was.
        assert_eq!(
            env_of(&p),
            pairs(&[("BIG", "plain:inherited"), ("OK", "OK=okok")])
        );
        assert_eq!(
            p.notes,
            [
                Note::NotAnEnvValue {
                    name: "BIG".into(),
                    why: format!("is {MAX_ENV_STRLEN} bytes, over the 128 KiB the OS allows for one environment variable"),
                },
                Note::NotAnEnvValue {
                    name: "NUL".into(),
                    why: "contains a NUL byte, which an environment variable cannot carry".into(),
                },
            ]
        );
        assert_eq!(masked_of(&p), [("OK", &b"okok"[..])]);
    }

    #[test]
    fn loading_names_are_left_out_unless_named_by_only() {
        let s = secrets(&[
            ("BASH_ENV", b"/tmp/evil.sh"),
            ("LD_PRELOAD", b"/tmp/evil.so"),
            ("PATH", b"/tmp/evil"),
            ("TOKEN", b"tok-value"),
        ]);
        let p = plan(&s, &[], &[], vars(&[("PATH", "/usr/bin")])).unwrap();
        assert_eq!(
            env_of(&p),
            pairs(&[("PATH", "plain:/usr/bin"), ("TOKEN", "TOKEN=tok-value")])
        );
        assert_eq!(
            p.notes,
            [Note::LoadingNames(vec![
                "BASH_ENV".into(),
                "LD_PRELOAD".into(),
                "PATH".into()
            ])]
        );
        assert_eq!(masked_of(&p), [("TOKEN", &b"tok-value"[..])]);
        // Named by --only: passed on, no note.
        let p = plan(&s, &only(&["PATH"]), &[], vars(&[("PATH", "/usr/bin")])).unwrap();
        assert_eq!(env_of(&p), pairs(&[("PATH", "PATH=/tmp/evil")]));
        assert!(p.notes.is_empty());
        // --only without them: left out as every other secret, no note.
        let p = plan(&s, &only(&["TOKEN"]), &[], vars(&[])).unwrap();
        assert_eq!(env_of(&p), pairs(&[("TOKEN", "TOKEN=tok-value")]));
        assert!(p.notes.is_empty());
    }

    #[test]
    fn a_reference_is_the_callers_choice_of_variable_and_secret() {
        // The caller's own environment names both the variable and the
        // secret; the secret's own variable is still left out.
        let s = secrets(&[("PRELOAD_LIB", b"/opt/lib.so"), ("PATH", b"/tmp/evil")]);
        let inherited = vars(&[("LD_PRELOAD", "vault:PRELOAD_LIB"), ("P", "vault:PATH")]);
        let p = plan(&s, &[], &[], inherited).unwrap();
        assert_eq!(
            env_of(&p),
            pairs(&[
                ("LD_PRELOAD", "PRELOAD_LIB=/opt/lib.so"),
                ("P", "PATH=/tmp/evil"),
                ("PRELOAD_LIB", "PRELOAD_LIB=/opt/lib.so"),
            ])
        );
        assert_eq!(p.notes, [Note::LoadingNames(vec!["PATH".into()])]);
    }

    #[test]
    fn a_value_too_big_for_env_travels_only_by_its_file() {
        let big = vec![b'k'; MAX_ENV_STRLEN];
        let s = secrets(&[("BIG", &big), ("SMALL", b"small")]);
        let t = FileTemplate {
            var: "KEY_FILE",
            label: "key.tmpl",
            template: b"key=${secrets.BIG}\n",
        };
        for restrict in [only(&[]), only(&["BIG", "SMALL"])] {
            let p = plan(&s, &restrict, &[t], vars(&[])).unwrap();
            assert_eq!(env_of(&p), pairs(&[("SMALL", "SMALL=small")]));
            assert_eq!(p.files.len(), 1);
            assert_eq!(p.files[0].var, "KEY_FILE");
            assert_eq!(*p.files[0].contents, [b"key=", &big[..], b"\n"].concat());
            // Still masked: the file hands it over.
            assert_eq!(masked_of(&p), [("BIG", &big[..]), ("SMALL", b"small")]);
            // Not silently: the plan says so.
            assert_eq!(
                p.notes,
                [Note::FileOnly {
                    name: "BIG".into(),
                    why: format!("is {MAX_ENV_STRLEN} bytes, over the 128 KiB the OS allows for one environment variable"),
                    vars: vec!["KEY_FILE".into()],
                }]
            );
        }
    }

    #[test]
    fn template_errors_name_the_template() {
        let s = secrets(&[("A", b"aaaa"), ("B", b"bbbb")]);
        let file = |template: &'static [u8]| FileTemplate {
            var: "F",
            label: "t.tmpl",
            template,
        };
        let e = err(plan(&s, &[], &[file(b"x ${secrets.C}")], vars(&[])));
        assert!(matches!(e, Error::NoSuchSecret { .. }));
        assert_eq!(
            e.to_string(),
            "no secret named C (referenced at t.tmpl:1:3)"
        );
        let e = err(plan(
            &s,
            &only(&["A"]),
            &[file(b"\n${secrets.B}")],
            vars(&[]),
        ));
        assert_eq!(
            e.to_string(),
            "no secret named B (referenced at t.tmpl:2:1; not one of the secrets this command was restricted to)"
        );
        let e = err(plan(&s, &[], &[file(b"${secrets.")], vars(&[])));
        assert!(matches!(
            e,
            Error::Template {
                line: 1,
                column: 1,
                ..
            }
        ));
        assert!(e.to_string().starts_with("t.tmpl:1:1: "));
    }

    #[test]
    fn masked_is_exactly_the_values_handed_over() {
        let s = secrets(&[
            ("A", b"aaaa"),
            ("B", b"bbbb"),
            ("C", b"cccc"),
            ("D", b"dddd"),
        ]);
        let t = FileTemplate {
            var: "F",
            label: "t",
            template: b"${secrets.C}",
        };
        // A, B and C by --only (B also by a reference, C also by the file);
        // D is not handed over.
        let p = plan(&s, &only(&["A", "B", "C"]), &[t], vars(&[("R", "vault:B")])).unwrap();
        assert_eq!(
            masked_of(&p),
            [("A", &b"aaaa"[..]), ("B", b"bbbb"), ("C", b"cccc")]
        );
        assert!(plan(&secrets(&[]), &[], &[], vars(&[("X", "y")]))
            .unwrap()
            .masked()
            .is_empty());
    }

    /// The store's secrets, parsed back as Nextflow would read them.
    fn store_of(p: &Plan) -> Vec<(String, Vec<u8>)> {
        let store = p.nextflow.as_ref().expect("a Nextflow plan");
        let parsed = nextflow::parse(store.json.expose()).expect("a valid store");
        parsed
            .items
            .iter()
            .map(|i| (i.name.clone(), i.value.expose().to_vec()))
            .collect()
    }

    fn owned(pairs: &[(&str, &[u8])]) -> Vec<(String, Vec<u8>)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_vec()))
            .collect()
    }

    #[test]
    fn nextflow_gets_every_secret_or_the_only_ones_in_its_store_and_none_in_its_environment() {
        let s = secrets(&[
            ("A", b"a $HOME 'q' = #"),
            ("B", b"bbbb"),
            ("LD_PRELOAD", b"/opt/x.so"),
        ]);
        let inherited = vars(&[
            ("HOME", "/h"),
            ("A", "inherited"),
            ("VAULT_PASSPHRASE", "pw"),
            ("NXF_SECRETS_FILE", "/old/store.json"),
        ]);
        let p = plan_nextflow(&s, &[], inherited.clone()).unwrap();
        // The inherited A stays the caller's; no secret, no passphrase, no
        // old store path.
        assert_eq!(
            env_of(&p),
            pairs(&[("A", "plain:inherited"), ("HOME", "plain:/h")])
        );
        let all = owned(&[
            ("A", b"a $HOME 'q' = #"),
            ("B", b"bbbb"),
            ("LD_PRELOAD", b"/opt/x.so"),
        ]);
        assert_eq!(store_of(&p), all);
        assert!(p.files.is_empty());
        assert!(p.notes.is_empty(), "a loading name is no variable here");
        assert_eq!(
            masked_of(&p),
            [
                ("A", &b"a $HOME 'q' = #"[..]),
                ("B", b"bbbb"),
                ("LD_PRELOAD", b"/opt/x.so")
            ]
        );
        let p = plan_nextflow(&s, &only(&["B"]), inherited).unwrap();
        assert_eq!(store_of(&p), owned(&[("B", b"bbbb")]));
        assert_eq!(masked_of(&p), [("B", &b"bbbb"[..])]);
        let e = err(plan_nextflow(&s, &only(&["C"]), vars(&[])));
        assert_eq!(e.to_string(), "no secret named C");
        // No secret at all: an empty store.
        let p = plan_nextflow(&secrets(&[]), &[], vars(&[])).unwrap();
        assert_eq!(p.nextflow.as_ref().unwrap().json.expose(), b"[]");
    }

    #[test]
    fn nextflow_refuses_a_value_the_directive_cannot_carry_naming_it_not_its_value() {
        for (value, want) in [
            (&b"pa\"ss-value"[..], "double quote"),
            (b"`touch pwned`", "backtick"),
            (b"pa\\ss-value", "backslash"),
            (b"line-one\nline-two", "newline"),
            (b"pa\0ss-value", "NUL byte"),
            (b"pa\xffss-value", "not UTF-8"),
        ] {
            let s = secrets(&[("BAD", value), ("GOOD", b"good")]);
            let e = err(plan_nextflow(&s, &[], vars(&[])));
            assert!(matches!(e, Error::NotANextflowValue { .. }), "{e:?}");
            let msg = e.to_string();
            assert!(msg.starts_with("the value of secret BAD "), "{msg}");
            assert!(msg.contains(want), "{msg}");
            for piece in ["pa", "ss-value", "pwned", "line-"] {
                assert!(!msg.contains(piece), "{msg}");
            }
            // Refused even when the pipeline may never use it; --only
            // leaves it out.
            let p = plan_nextflow(&s, &only(&["GOOD"]), vars(&[])).unwrap();
            assert_eq!(store_of(&p), owned(&[("GOOD", b"good")]));
        }
    }

    #[test]
    fn nextflow_refuses_a_value_too_big_for_one_environment_variable_naming_it_not_its_value() {
        // The limit counts `NAME=value` and the terminating NUL, as for
        // plain `exec`.
        let fits = vec![b'x'; MAX_ENV_STRLEN - "BIG=".len() - 1];
        let p = plan_nextflow(&secrets(&[("BIG", &fits)]), &[], vars(&[])).unwrap();
        assert_eq!(store_of(&p), owned(&[("BIG", &fits)]));
        let over = vec![b'x'; fits.len() + 1];
        let s = secrets(&[("BIG", &over), ("GOOD", b"good")]);
        let e = err(plan_nextflow(&s, &[], vars(&[])));
        assert!(matches!(e, Error::NotANextflowValue { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!(
                "the value of secret BIG is {} bytes, over the 128 KiB the OS allows for one environment variable, and Nextflow's `secret` directive exports it as one",
                over.len()
            )),
            "{msg}"
        );
        assert!(!msg.contains("xxxx"), "{msg}");
        // --only leaves it out.
        let p = plan_nextflow(&s, &only(&["GOOD"]), vars(&[])).unwrap();
        assert_eq!(store_of(&p), owned(&[("GOOD", b"good")]));
    }

    #[test]
    fn nextflow_refuses_a_value_the_directive_would_hand_to_tasks_asking_for_another_secret() {
        let s = secrets(&[
            ("DSN", b"host=db TOKEN=x"),
            ("MY_TOKEN_X", b"a=1"),
            ("SELF", b"SELF=me"),
            ("TOKEN", b"tok"),
        ]);
        let e = err(plan_nextflow(&s, &[], vars(&[])));
        assert!(matches!(e, Error::NotANextflowValue { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            "the value of secret DSN contains `TOKEN=`: Nextflow's `secret` directive, which picks a task's secrets by searching for `NAME=`, would also hand it to every task asking for secret TOKEN"
        );
        // Without TOKEN in the store, `TOKEN=` picks nothing; `host`,
        // `a` and its own name are no secret handed over.
        let p = plan_nextflow(&s, &only(&["DSN", "MY_TOKEN_X", "SELF"]), vars(&[])).unwrap();
        assert_eq!(store_of(&p).len(), 3);
    }

    #[test]
    fn nextflow_passes_references_on_unchanged_with_a_note() {
        let s = secrets(&[("TOKEN", b"tok-value")]);
        let inherited = vars(&[("GH", "vault:TOKEN"), ("IMG", "vault:latest")]);
        let p = plan_nextflow(&s, &[], inherited).unwrap();
        assert_eq!(
            env_of(&p),
            pairs(&[("GH", "plain:vault:TOKEN"), ("IMG", "plain:vault:latest")])
        );
        assert_eq!(
            p.notes,
            [
                Note::StoreOnly {
                    var: "GH".into(),
                    name: "TOKEN".into()
                },
                Note::NotAReference {
                    var: "IMG".into(),
                    name: "latest".into()
                },
            ]
        );
    }
}
