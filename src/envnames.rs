//! Environment variable names that change how programs are loaded or how
//! a shell or an interpreter starts: the one list, shared by every place
//! that decides whether to hand a secret over under its own name (`vault
//! export --format shell` leaves them out unless asked for by name).
//!
//! The anchor is glibc's list of variables it removes for set-user-ID
//! programs (`sysdeps/generic/unsecvars.h`: `LD_*`, `GCONV_PATH`,
//! `GLIBC_TUNABLES`, `LOCPATH`, `MALLOC_*`, `NLSPATH`, `TMPDIR`, ...), plus
//! what shells read at start-up or before every command (`BASH_ENV`, `ENV`,
//! `IFS`, `PS4`, `PROMPT_COMMAND`, `SHELLOPTS`, ...), `PATH`, and the
//! option and library-path variables of the common interpreters and the JVM
//! (`NODE_OPTIONS`, `PYTHONPATH`, `PERL5OPT`, `RUBYOPT`, `JAVA_TOOL_OPTIONS`,
//! `NXF_OPTS`, ...). A secret by one of these names is most likely a
//! mistake or an attack on whoever evaluates the export.

/// Names matched exactly, sorted.
pub const EXACT: &[&str] = &[
    "BASHOPTS",
    "BASH_ENV",
    "BASH_XTRACEFD",
    "CDPATH",
    "CLASSPATH",
    "ENV",
    "GCONV_PATH",
    "GETCONF_DIR",
    "GLIBC_TUNABLES",
    "GLOBIGNORE",
    "HOSTALIASES",
    "IFS",
    "JAVA_OPTS",
    "JAVA_TOOL_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "LOCALDOMAIN",
    "LOCPATH",
    "NIS_PATH",
    "NLSPATH",
    "NODE_OPTIONS",
    "NODE_PATH",
    "NXF_OPTS",
    "PATH",
    "PERL5DB",
    "PERL5LIB",
    "PERL5OPT",
    "PERLLIB",
    "PROMPT_COMMAND",
    "PS1",
    "PS2",
    "PS4",
    "PYTHONHOME",
    "PYTHONINSPECT",
    "PYTHONPATH",
    "PYTHONSTARTUP",
    "PYTHONUSERBASE",
    "RESOLV_HOST_CONF",
    "RES_OPTIONS",
    "RUBYLIB",
    "RUBYOPT",
    "SHELLOPTS",
    "TMPDIR",
    "TZDIR",
    "ZDOTDIR",
    "_JAVA_OPTIONS",
];

/// Name prefixes: the dynamic loader's `LD_` (glibc) and `DYLD_` (macOS),
/// glibc's `MALLOC_` tunables, and bash's exported functions.
pub const PREFIXES: &[&str] = &["LD_", "DYLD_", "MALLOC_", "BASH_FUNC_"];

/// Whether a variable named `name` changes how programs are loaded or how
/// a shell or interpreter starts (see the module documentation).
pub fn alters_program_loading(name: &str) -> bool {
    EXACT.binary_search(&name).is_ok() || PREFIXES.iter().any(|p| name.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_sorted_and_matches() {
        assert!(
            EXACT.windows(2).all(|w| w[0] < w[1]),
            "EXACT must stay sorted"
        );
        for n in [
            "LD_PRELOAD",
            "LD_LIBRARY_PATH",
            "PATH",
            "BASH_ENV",
            "IFS",
            "MALLOC_ARENA_MAX",
            "NODE_OPTIONS",
            "_JAVA_OPTIONS",
            "NXF_OPTS",
            "GLIBC_TUNABLES",
        ] {
            assert!(alters_program_loading(n), "{n}");
        }
        for n in [
            "DATABASE_URL",
            "PATHS",
            "MY_PATH",
            "LD",
            "GITHUB_TOKEN",
            "ENVIRONMENT",
        ] {
            assert!(!alters_program_loading(n), "{n}");
        }
    }
}
