//! Environment variable names that change how programs are loaded or how
//! a shell or an interpreter starts: the one list, shared by every place
//! that decides whether to hand a secret over under its own name. `vault
//! exec` sets a variable by one of these names from a secret only when the
//! command names it with `--only`; `vault export --format shell` leaves them
//! out unless asked for by name; `vault set` warns when one is stored and
//! `vault doctor` lists the stored ones.
//!
//! The anchor is glibc's list of variables it removes for set-user-ID
//! programs (`sysdeps/generic/unsecvars.h`: `LD_*`, `GCONV_PATH`,
//! `GETCONF_DIR`, `GLIBC_TUNABLES`, `HOSTALIASES`, `LOCALDOMAIN`, `LOCPATH`,
//! `MALLOC_*`, `NIS_PATH`, `NLSPATH`, `RESOLV_HOST_CONF`, `RES_OPTIONS`,
//! `TMPDIR`, `TZDIR`), plus what shells read at start-up or before every
//! command (`BASH_ENV`, `ENV`, `IFS`, `PS4`, `PROMPT_COMMAND`, `SHELLOPTS`,
//! `BASHOPTS`, `BASH_FUNC_*`, `ZDOTDIR`, ...), `PATH`, and the start-up,
//! option and library-path variables of the common interpreters and
//! runtimes: Node (`NODE_OPTIONS`, `NODE_PATH`), Python (`PYTHONPATH`,
//! `PYTHONSTARTUP`, `PYTHONWARNINGS`, ...), Perl (`PERL5OPT`, `PERL5LIB`,
//! ...), Ruby (`RUBYOPT`, `RUBYLIB`), Lua (`LUA_INIT*`, `LUA_PATH`), PHP
//! (`PHPRC`), R (`R_PROFILE`), Erlang (`ERL_AFLAGS`), .NET
//! (`DOTNET_STARTUP_HOOKS`), OpenSSL's configuration and module paths, and
//! the JVM and its build tools (`JAVA_TOOL_OPTIONS`, `_JAVA_OPTIONS`,
//! `JAVA_OPTS`, `CLASSPATH`, `MAVEN_OPTS`, `GRADLE_OPTS`, `NXF_OPTS`). A
//! secret by one of these names is most likely a mistake, or an attack by
//! whoever could store it on whoever runs a command with it.

/// Names matched exactly, sorted.
pub const EXACT: &[&str] = &[
    "BASHOPTS",
    "BASH_ENV",
    "BASH_XTRACEFD",
    "CDPATH",
    "CLASSPATH",
    "DOTNET_STARTUP_HOOKS",
    "ENV",
    "ERL_AFLAGS",
    "ERL_ZFLAGS",
    "GCONV_PATH",
    "GETCONF_DIR",
    "GLIBC_TUNABLES",
    "GLOBIGNORE",
    "GRADLE_OPTS",
    "HOSTALIASES",
    "IFS",
    "JAVA_OPTS",
    "JAVA_TOOL_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "LOCALDOMAIN",
    "LOCPATH",
    "LUA_CPATH",
    "LUA_PATH",
    "MAVEN_OPTS",
    "NIS_PATH",
    "NLSPATH",
    "NODE_OPTIONS",
    "NODE_PATH",
    "NXF_OPTS",
    "OPENSSL_CONF",
    "OPENSSL_ENGINES",
    "OPENSSL_MODULES",
    "PATH",
    "PERL5DB",
    "PERL5LIB",
    "PERL5OPT",
    "PERLLIB",
    "PHPRC",
    "PHP_INI_SCAN_DIR",
    "PROMPT_COMMAND",
    "PS1",
    "PS2",
    "PS4",
    "PYTHONHOME",
    "PYTHONINSPECT",
    "PYTHONPATH",
    "PYTHONSTARTUP",
    "PYTHONUSERBASE",
    "PYTHONWARNINGS",
    "RESOLV_HOST_CONF",
    "RES_OPTIONS",
    "RUBYLIB",
    "RUBYOPT",
    "R_PROFILE",
    "R_PROFILE_USER",
    "SHELLOPTS",
    "TMPDIR",
    "TZDIR",
    "ZDOTDIR",
    "_JAVA_OPTIONS",
];

/// Name prefixes: the dynamic loader's `LD_` (glibc) and `DYLD_` (macOS),
/// glibc's `MALLOC_` tunables, bash's exported functions, and Lua's
/// start-up code (`LUA_INIT`, `LUA_INIT_5_4`, ...).
pub const PREFIXES: &[&str] = &["LD_", "DYLD_", "MALLOC_", "BASH_FUNC_", "LUA_INIT"];

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
            "SHELLOPTS",
            "BASHOPTS",
            "PS4",
            "PROMPT_COMMAND",
            "ENV",
            "PYTHONPATH",
            "PYTHONSTARTUP",
            "PERL5OPT",
            "PERL5LIB",
            "RUBYOPT",
            "RUBYLIB",
            "JAVA_TOOL_OPTIONS",
            "JAVA_OPTS",
            "GCONV_PATH",
            "LOCPATH",
            "LUA_INIT_5_4",
            "DOTNET_STARTUP_HOOKS",
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
