//! Teammates and CI as recipients: `key add recipient` with identities made
//! by the real `age-keygen` and `ssh-keygen`, opening with `--identity`,
//! `VAULT_IDENTITY_FILE` and `VAULT_IDENTITY` (never passed to a child), a
//! passphrase and an identity both tried, the personal identity (`vault
//! identity new/show/export`, in a real Secret Service or its 0600 file),
//! the default `~/.ssh/id_ed25519`, and `key export-slot` decrypted by the
//! real `age` CLI into the master key that opens the vault.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use vault::format::{self, FileHeader};
use vault::{keyblock, Credential, Key, LockedVault};

use crate::harness::*;

/// A new age identity file made by the real `age-keygen` at `path`; its
/// recipient.
fn age_keygen(s: &Sandbox, path: &Path) -> Option<String> {
    require(Program("age-keygen"))?;
    s.program("age-keygen").arg("-o").arg(path).run().success();
    let out = s.program("age-keygen").arg("-y").arg(path).run().success();
    Some(out.stdout_str().trim().to_string())
}

/// A new OpenSSH key pair made by the real `ssh-keygen` at `path` (and
/// `path.pub`), of `kind` (`ed25519` or `rsa`), with passphrase `pass`
/// (empty: none); the public key line.
fn ssh_keygen(s: &Sandbox, path: &Path, kind: &str, pass: &str) -> Option<String> {
    require(Program("ssh-keygen"))?;
    let mut c = s
        .program("ssh-keygen")
        .args(["-q", "-t", kind, "-N", pass, "-C", "member@example", "-f"])
        .arg(path);
    if kind == "rsa" {
        c = c.args(["-b", "2048"]);
    }
    c.run().success();
    Some(
        fs::read_to_string(pub_path(path))
            .unwrap()
            .trim()
            .to_string(),
    )
}

fn pub_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_os_string();
    p.push(".pub");
    PathBuf::from(p)
}

/// `key add recipient RECIPIENT` (opened with [`PASS`]), with extra args.
fn add_recipient(s: &Sandbox, recipient: &str, extra: &[&str]) {
    s.with_pass(PASS, b"", &["key", "add", "recipient", recipient])
        .args(extra)
        .run()
        .success()
        .stderr_has("added recipient slot");
}

/// An age identity made by `age-keygen` at `key.txt` in the sandbox and
/// added to its vault as a recipient slot; the identity file's path.
fn member_key(s: &Sandbox) -> Option<PathBuf> {
    let key = s.root().join("key.txt");
    let recipient = age_keygen(s, &key)?;
    add_recipient(s, &recipient, &[]);
    Some(key)
}

/// The `AGE-SECRET-KEY-1…` line of an identity file's text.
fn secret_line(text: &str) -> String {
    text.lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .unwrap()
        .to_string()
}

/// A vault (passphrase [`PASS`]) holding A=alpha.
fn vault_with_a() -> Sandbox {
    let s = Sandbox::new();
    s.init().set("A", b"alpha");
    s
}

/// `get -n A` opened by `--identity FILE`: the value.
fn get_with_identity(s: &Sandbox, file: &Path) -> Vec<u8> {
    s.vault_cmd()
        .arg("--identity")
        .arg(file)
        .args(["get", "-n", "A"])
        .run()
        .success()
        .stdout
}

#[test]
fn an_age_keygen_identity_opens_its_slot_by_flag_file_variable_and_value() {
    let s = vault_with_a();
    let key = s.root().join("key.txt");
    let Some(recipient) = age_keygen(&s, &key) else {
        return;
    };
    add_recipient(&s, &recipient, &["--label", "ci"]);
    let list = s
        .vault_cmd()
        .args(["key", "list", "--json"])
        .run()
        .success();
    let slots = list.json()["slots"].as_array().unwrap().clone();
    let slot = slots.iter().find(|sl| sl["kind"] == "recipient").unwrap();
    assert_eq!(slot["label"], "ci");
    assert_eq!(slot["recipient"], recipient.as_str());
    s.vault_cmd()
        .args(["key", "list"])
        .run()
        .success()
        .stdout_has(&format!("recipient   {recipient}"))
        .stdout_has("label \"ci\"");

    assert_eq!(get_with_identity(&s, &key), b"alpha");
    let by_file_var = s
        .vault_cmd()
        .env("VAULT_IDENTITY_FILE", &key)
        .args(["get", "-n", "A"])
        .run()
        .success();
    assert_eq!(by_file_var.stdout, b"alpha");
    let text = fs::read_to_string(&key).unwrap();
    let by_value = s
        .vault_cmd()
        .env("VAULT_IDENTITY", &text)
        .args(["get", "-n", "A"])
        .run()
        .success();
    assert_eq!(by_value.stdout, b"alpha");
    // An identity is a real credential: it writes, and manages slots.
    s.vault_cmd()
        .arg("--identity")
        .arg(&key)
        .args(["set", "B"])
        .stdin("beta")
        .run()
        .success();
    assert_eq!(s.get("B"), b"beta");
    s.vault_cmd()
        .arg("--identity")
        .arg(&key)
        .args(["key", "label", "ci", "ci-job"])
        .run()
        .success();
}

#[test]
fn the_identity_variables_never_reach_the_child_of_exec() {
    let s = vault_with_a();
    let Some(key) = member_key(&s) else {
        return;
    };
    let text = fs::read_to_string(&key).unwrap();
    let secret_line = secret_line(&text);
    for flags in [&[][..], &["--mask"][..]] {
        let out = s
            .vault_cmd()
            .env("VAULT_IDENTITY", &text)
            .env("VAULT_IDENTITY_FILE", &key)
            .arg("exec")
            .args(flags)
            .args(["--", "env"])
            .run()
            .success();
        let env = out.stdout_str();
        // (`--mask` shows the value as ***.)
        assert!(env.lines().any(|l| l.starts_with("A=")), "unlocked: {env}");
        assert!(!env.contains("VAULT_IDENTITY"), "{flags:?}: {env}");
        assert!(
            !env.contains(&secret_line),
            "{flags:?}: the identity reached the child"
        );
    }
}

/// As `VAULT_PASSPHRASE`: the variable's bytes are wiped in the process's
/// environment block at start-up, so `/proc/PID/environ` of a long-lived
/// `--mask` parent no longer holds the identity.
#[test]
fn vault_identity_is_wiped_from_the_environment_block_at_start() {
    if require(Root).is_none() {
        return; // /proc/PID/environ of a non-dumpable process needs root
    }
    let s = vault_with_a();
    let Some(key) = member_key(&s) else {
        return;
    };
    let text = fs::read_to_string(&key).unwrap();
    let secret_line = secret_line(&text);
    let mut child = s
        .vault_cmd()
        .env("VAULT_IDENTITY", &text)
        .args([
            "exec",
            "--mask",
            "--",
            "sh",
            "-c",
            "echo ready; exec sleep 60",
        ])
        .spawn();
    assert!(
        child.wait_stdout(b"ready", Duration::from_secs(30)),
        "no `ready`: {}",
        child.stdout_so_far()
    );
    let environ = fs::read(format!("/proc/{}/environ", child.pid())).unwrap();
    drop(child);
    assert!(contains(&environ, b"HOME="), "not the environment block");
    assert!(
        !contains(&environ, secret_line.as_bytes()),
        "the identity is still in the environment block"
    );
}

#[test]
fn ssh_ed25519_and_rsa_keys_open_their_slots() {
    let s = vault_with_a();
    let ed = s.root().join("id_member");
    let rsa = s.root().join("id_ci_rsa");
    let Some(_) = ssh_keygen(&s, &ed, "ed25519", "") else {
        return;
    };
    let Some(rsa_pub) = ssh_keygen(&s, &rsa, "rsa", "") else {
        return;
    };
    // The ed25519 key by its .pub file, the RSA key by its line.
    add_recipient(&s, pub_path(&ed).to_str().unwrap(), &["--label", "member"]);
    add_recipient(&s, &rsa_pub, &[]);
    let list = s
        .vault_cmd()
        .args(["key", "list", "--json"])
        .run()
        .success();
    let recipients: Vec<String> = list.json()["slots"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|sl| sl["kind"] == "recipient")
        .map(|sl| sl["recipient"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(recipients.len(), 2);
    assert!(recipients[0].starts_with("ssh-ed25519 ") && !recipients[0].contains("member@"));
    assert!(
        rsa_pub.starts_with(&recipients[1]),
        "{rsa_pub} / {}",
        recipients[1]
    );
    assert_eq!(get_with_identity(&s, &ed), b"alpha");
    assert_eq!(get_with_identity(&s, &rsa), b"alpha");
}

#[test]
fn an_identity_that_opens_no_slot_is_exit_3_with_the_one_message() {
    let s = vault_with_a();
    let key = s.root().join("key.txt");
    let other = s.root().join("other.txt");
    let Some(recipient) = age_keygen(&s, &key) else {
        return;
    };
    age_keygen(&s, &other);
    add_recipient(&s, &recipient, &[]);
    let before = s.vault_bytes();
    s.vault_cmd()
        .arg("--identity")
        .arg(&other)
        .args(["get", "A"])
        .run()
        .code(3)
        .stderr_has(WRONG)
        .stderr_lacks("AGE-SECRET-KEY");
    // Not an identity at all: a usage error naming the file, never its text.
    let junk = s.file("junk.txt", b"AGE-SECRET-KEY-1NOTAKEY\n");
    s.vault_cmd()
        .arg("--identity")
        .arg(&junk)
        .args(["get", "A"])
        .run()
        .code(2)
        .stderr_has("junk.txt")
        .stderr_lacks("NOTAKEY");
    assert_eq!(s.vault_bytes(), before);
}

#[test]
fn a_passphrase_protected_ssh_key_without_a_terminal_is_skipped() {
    let s = vault_with_a();
    let ed = s.root().join("id_locked");
    let Some(line) = ssh_keygen(&s, &ed, "ed25519", "ssh key passphrase") else {
        return;
    };
    add_recipient(&s, &line, &[]);
    s.vault_cmd()
        .arg("--identity")
        .arg(&ed)
        .args(["get", "A"])
        .run()
        .code(3)
        .stderr_has("skipping the passphrase-protected SSH key");
    // With the passphrase as well, the passphrase opens it.
    let out = s
        .vault_cmd()
        .arg("--identity")
        .arg(&ed)
        .args(["--passphrase-stdin", "get", "-n", "A"])
        .stdin(stdin_lines(PASS, b""))
        .run()
        .success();
    assert_eq!(out.stdout, b"alpha");
}

#[test]
fn a_passphrase_and_an_identity_given_together_are_both_tried() {
    let s = vault_with_a();
    let key = s.root().join("key.txt");
    let other = s.root().join("other.txt");
    let Some(recipient) = age_keygen(&s, &key) else {
        return;
    };
    age_keygen(&s, &other);
    add_recipient(&s, &recipient, &[]);
    let run = |identity: &Path, pass: &str| {
        s.vault_cmd()
            .arg("--identity")
            .arg(identity)
            .args(["--passphrase-stdin", "get", "-n", "A"])
            .stdin(stdin_lines(pass, b""))
            .run()
    };
    // A wrong identity, the right passphrase.
    assert_eq!(run(&other, PASS).success().stdout, b"alpha");
    // The right identity, a wrong passphrase.
    assert_eq!(run(&key, "not the passphrase").success().stdout, b"alpha");
    // Both wrong: the one message, exit 3.
    run(&other, "not the passphrase").code(3).stderr_has(WRONG);
}

#[test]
fn with_nothing_given_the_hint_names_the_identity_flag() {
    let s = vault_with_a();
    let Some(_) = member_key(&s) else {
        return;
    };
    s.vault_cmd()
        .args(["get", "A"])
        .run()
        .code(3)
        .stderr_has("hint:")
        .stderr_has("--identity FILE")
        .stderr_has("--passphrase-file");
}

#[test]
fn the_default_ssh_key_opens_a_vault_with_its_recipient_slot() {
    let s = vault_with_a();
    let ssh = s.home.join(".ssh");
    fs::create_dir(&ssh).unwrap();
    let Some(_) = ssh_keygen(&s, &ssh.join("id_ed25519"), "ed25519", "") else {
        return;
    };
    // Without a slot for it, nothing opens (exit 3, no prompt).
    s.vault_cmd().args(["get", "A"]).run().code(3);
    add_recipient(
        &s,
        ssh.join("id_ed25519.pub").to_str().unwrap(),
        &["--label", "me"],
    );
    let out = s.vault_cmd().args(["get", "-n", "A"]).run().success();
    assert_eq!(out.stdout, b"alpha");
    // Removed (another member stays): the key is found but is no longer a
    // recipient, and the message says so.
    let Some(other) = age_keygen(&s, &s.root().join("other.key")) else {
        return;
    };
    add_recipient(&s, &other, &[]);
    s.with_pass(PASS, b"", &["key", "remove", "me"])
        .run()
        .success();
    s.vault_cmd().args(["get", "A"]).run().code(3).stderr_has(
        "no identity given or found here (personal identity, ~/.ssh keys) is one of its recipients",
    );
}

#[test]
fn a_passphrase_protected_default_ssh_key_without_a_terminal_is_skipped_silently() {
    let s = vault_with_a();
    let ssh = s.home.join(".ssh");
    fs::create_dir(&ssh).unwrap();
    let Some(line) = ssh_keygen(&s, &ssh.join("id_ed25519"), "ed25519", "pw of the key") else {
        return;
    };
    add_recipient(&s, &line, &[]);
    s.vault_cmd()
        .args(["get", "A"])
        .run()
        .code(3)
        .stderr_lacks("warning")
        .stderr_has("--identity");
}

/// The personal identity's recipient: `identity show`.
fn shown(s: &Sandbox) -> String {
    s.cmd()
        .args(["identity", "show"])
        .run()
        .success()
        .stdout_str()
        .trim()
        .to_string()
}

/// `identity export` checked by the real `age-keygen -y`: the recipient.
fn exported_recipient(s: &Sandbox) -> Option<String> {
    let out = s.cmd().args(["identity", "export"]).run().success();
    let text = out.stdout_str();
    assert!(text.contains("AGE-SECRET-KEY-1"), "{text}");
    let f = s.file("exported.txt", text.as_bytes());
    require(Program("age-keygen"))?;
    let y = s.program("age-keygen").arg("-y").arg(&f).run().success();
    Some(y.stdout_str().trim().to_string())
}

#[test]
fn identity_new_keeps_it_in_the_keyring_and_the_vault_opens_with_it() {
    let Some(s) = Sandbox::keyring() else {
        return;
    };
    let made = s
        .cmd()
        .args(["identity", "new"])
        .run()
        .success()
        .stderr_has("kept in the keyring");
    let recipient = made.stdout_str().trim().to_string();
    assert!(recipient.starts_with("age1"), "{recipient}");
    assert!(!s.home.join(".config/vault/identity.txt").exists());
    assert_eq!(shown(&s), recipient);
    if let Some(r) = exported_recipient(&s) {
        assert_eq!(r, recipient);
    }
    // Never replaced.
    s.cmd()
        .args(["identity", "new"])
        .run()
        .code(2)
        .stderr_has("never replaced");
    assert_eq!(shown(&s), recipient);
    s.init().set("A", b"alpha");
    add_recipient(&s, &recipient, &[]);
    let out = s.vault_cmd().args(["get", "-n", "A"]).run().success();
    assert_eq!(out.stdout, b"alpha");
    // Its keyring entry is no vault's: doctor never lists it as unused or
    // unknown (it would offer to delete it).
    let doctor = s.vault_cmd().args(["doctor", "--json"]).run().success();
    let entries = &doctor.json()["keyring_entries"];
    assert_eq!(entries["listed"], true, "{entries}");
    assert!(
        !entries.to_string().contains("personal-identity"),
        "{entries}"
    );
}

#[test]
fn identity_new_without_a_keyring_keeps_a_0600_file_and_says_so() {
    let s = Sandbox::new();
    let made = s
        .cmd()
        .args(["identity", "new"])
        .run()
        .success()
        .stderr_has("no keyring answered")
        .stderr_has("0600");
    let recipient = made.stdout_str().trim().to_string();
    let file = s.home.join(".config/vault/identity.txt");
    let mode = fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(shown(&s), recipient);
    if let Some(r) = exported_recipient(&s) {
        assert_eq!(r, recipient);
    }
    s.init().set("A", b"alpha");
    add_recipient(&s, &recipient, &[]);
    let out = s.vault_cmd().args(["get", "-n", "A"]).run().success();
    assert_eq!(out.stdout, b"alpha");
    // A machine without one: said, exit 1.
    let bare = Sandbox::new();
    bare.cmd()
        .args(["identity", "show"])
        .run()
        .code(1)
        .stderr_has("vault identity new");
}

#[test]
fn identity_new_output_writes_a_new_0600_file_or_stdout_and_never_overwrites() {
    let s = Sandbox::new();
    let f = s.root().join("ci-identity.txt");
    let made = s
        .cmd()
        .args(["identity", "new", "--output"])
        .arg(&f)
        .run()
        .success();
    let mode = fs::metadata(&f).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let first = fs::read(&f).unwrap();
    s.cmd()
        .args(["identity", "new", "--output"])
        .arg(&f)
        .run()
        .code(2)
        .stderr_has("never overwritten");
    assert_eq!(fs::read(&f).unwrap(), first);
    // Nothing kept on this machine.
    assert!(!s.home.join(".config/vault/identity.txt").exists());
    if require(Program("age-keygen")).is_some() {
        let y = s.program("age-keygen").arg("-y").arg(&f).run().success();
        let recipient = y.stdout_str().trim().to_string();
        assert!(made.stderr.contains(&recipient), "{made:?}");
    }
    let to_stdout = s
        .cmd()
        .args(["identity", "new", "--output", "-"])
        .run()
        .success();
    assert!(to_stdout.stdout_str().contains("AGE-SECRET-KEY-1"));
}

#[test]
fn an_exported_slot_is_decrypted_by_age_to_the_master_key_that_opens_the_vault() {
    let s = vault_with_a();
    let key = s.root().join("key.txt");
    let Some(recipient) = age_keygen(&s, &key) else {
        return;
    };
    let Some(_) = require(Program("age")) else {
        return;
    };
    add_recipient(&s, &recipient, &["--label", "ci"]);
    let slot_file = s.root().join("slot.age");
    s.vault_cmd()
        .args(["key", "export-slot", "ci", "--output"])
        .arg(&slot_file)
        .run()
        .success();
    let piped = s
        .vault_cmd()
        .args(["key", "export-slot", "ci"])
        .run()
        .success();
    assert_eq!(piped.stdout, fs::read(&slot_file).unwrap());
    // `--output -` is standard output too, never a file named `-`.
    let dash = s
        .vault_cmd()
        .current_dir(s.root())
        .args(["key", "export-slot", "ci", "--output", "-"])
        .run()
        .success();
    assert_eq!(dash.stdout, piped.stdout);
    assert!(!s.root().join("-").exists());
    // The age CLI alone: 32 bytes, the master key.
    let out = s
        .program("age")
        .args(["-d", "-i"])
        .arg(&key)
        .arg(&slot_file)
        .run()
        .success();
    assert_eq!(out.stdout.len(), 32);
    let mk = Key::from_slice(&out.stdout).unwrap();
    // The recovery docs/FORMAT.md describes: the commitment, the body key,
    // the body.
    let bytes = s.vault_bytes();
    let FileHeader::V2(h) = format::parse_any(&bytes).unwrap().header else {
        panic!("a version-2 file");
    };
    assert!(keyblock::is_master_key(&mk, &h.keys), "not the master key");
    let bk = keyblock::open_body_key(&mk, &h.vault_id, &h.keys).unwrap();
    let v = LockedVault::parse(&s.vault, bytes)
        .unwrap()
        .unlock(&Credential::BodyKey(bk))
        .unwrap();
    assert_eq!(v.get("A").unwrap().expose_value(), b"alpha");
    // Only a recipient slot's file opens with a member's identity.
    let pass_id = s.slot_ids("passphrase")[0].clone();
    s.vault_cmd()
        .args(["key", "export-slot", &pass_id])
        .run()
        .code(2)
        .stderr_has("only a recipient slot");
}

#[test]
fn a_missing_plugin_fails_before_anything_is_opened_or_changed() {
    let s = vault_with_a();
    let before = s.vault_bytes();
    // A valid plugin recipient whose plugin no one has; no passphrase given
    // (nothing is opened, so none is needed to fail).
    s.vault_cmd()
        .args([
            "key",
            "add",
            "recipient",
            "age1vaultnosuchplugin1qqqsyqcyq5rqwzqfpg9scrgwpugpzysnzs23v9ccrydpk8qarc0swvdv34",
        ])
        .run()
        .code(1)
        .stderr_has("age-plugin-vaultnosuchplugin");
    assert_eq!(s.vault_bytes(), before);
}

#[test]
fn a_secret_key_given_as_a_recipient_is_refused_and_not_repeated() {
    let s = vault_with_a();
    let key = s.root().join("key.txt");
    let Some(_) = age_keygen(&s, &key) else {
        return;
    };
    let text = fs::read_to_string(&key).unwrap();
    let secret = text
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .unwrap();
    s.with_pass(PASS, b"", &["key", "add", "recipient", secret])
        .run()
        .code(2)
        .stderr_has("not a recipient")
        .stderr_lacks(secret);
    // The same recipient twice: refused.
    let recipient = s
        .program("age-keygen")
        .arg("-y")
        .arg(&key)
        .run()
        .success()
        .stdout_str();
    add_recipient(&s, recipient.trim(), &[]);
    s.with_pass(PASS, b"", &["key", "add", "recipient", recipient.trim()])
        .run()
        .code(2)
        .stderr_has("already wraps");
}

/// The toy plugin of `tests/standin/age-plugin-vaulttest` (a Python script
/// speaking the age plugin protocol) in a directory of its own; that
/// directory, and a recipient and its identity file for the plugin.
fn toy_plugin(s: &Sandbox) -> Option<(PathBuf, String, PathBuf)> {
    require(Program("python3"))?;
    let bin = s.root().join("plugin-bin");
    fs::create_dir(&bin).unwrap();
    let plugin = bin.join("age-plugin-vaulttest");
    fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/standin/age-plugin-vaulttest"),
        &plugin,
    )
    .unwrap();
    fs::set_permissions(&plugin, fs::Permissions::from_mode(0o755)).unwrap();
    let (recipient, identity) = toy_plugin_pair();
    let id_file = s.file(
        &format!("plugin-identity-{}.txt", &recipient[20..28]),
        format!("# a toy plugin identity\n{identity}\n").as_bytes(),
    );
    Some((bin, recipient, id_file))
}

/// A fresh recipient and identity of the toy plugin: one random Bech32
/// data part under the two prefixes age gives plugins.
fn toy_plugin_pair() -> (String, String) {
    use std::io::Read;
    let mut data = [0u8; 32];
    fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut data)
        .unwrap();
    let r = bech32::encode::<bech32::Bech32>(bech32::Hrp::parse("age1vaulttest").unwrap(), &data)
        .unwrap();
    let i = bech32::encode_upper::<bech32::Bech32>(
        bech32::Hrp::parse("AGE-PLUGIN-VAULTTEST-").unwrap(),
        &data,
    )
    .unwrap();
    (r, i)
}

/// `PATH` with `dir` first.
fn path_with(dir: &Path) -> std::ffi::OsString {
    let mut p = dir.as_os_str().to_os_string();
    p.push(":");
    p.push(std::env::var_os("PATH").unwrap_or_default());
    p
}

#[test]
fn a_plugin_recipient_is_wrapped_and_opened_through_its_plugin_on_path() {
    let s = vault_with_a();
    let Some((bin, recipient, id_file)) = toy_plugin(&s) else {
        return;
    };
    let path = path_with(&bin);
    s.with_pass(
        PASS,
        b"",
        &["key", "add", "recipient", &recipient, "--label", "token"],
    )
    .env("PATH", &path)
    .run()
    .success()
    .stderr_has("added recipient slot")
    .stderr_has("labelled \"token\"");
    let list = s
        .vault_cmd()
        .args(["key", "list", "--json"])
        .run()
        .success();
    let slots = list.json()["slots"].as_array().unwrap().clone();
    assert!(slots
        .iter()
        .any(|sl| sl["kind"] == "recipient" && sl["recipient"] == recipient.as_str()));
    let open = |id: &Path| {
        s.vault_cmd()
            .env("PATH", &path)
            .arg("--identity")
            .arg(id)
            .args(["get", "-n", "A"])
            .run()
    };
    assert_eq!(open(&id_file).success().stdout, b"alpha");
    // Another identity of the same plugin: its slot matches by plugin,
    // the plugin opens nothing, the one message.
    let (_, other) = toy_plugin_pair();
    let other_file = s.file("other-plugin-id.txt", format!("{other}\n").as_bytes());
    open(&other_file).code(3).stderr_has(WRONG);
    // Without its plugin a rotation stops before any change, saying why.
    let before = s.vault_bytes();
    s.with_pass(PASS, b"", &["rekey"])
        .run()
        .code(1)
        .stderr_has("age-plugin-vaulttest")
        .stderr_lacks("corrupt");
    assert_eq!(s.vault_bytes(), before);
    // A rotation wraps the new master key through the plugin again.
    s.with_pass(PASS, b"", &["rekey"])
        .env("PATH", &path)
        .run()
        .success();
    assert_eq!(open(&id_file).success().stdout, b"alpha");
    // The real `age` CLI runs the same plugin on the exported slot.
    if require(Program("age")).is_some() {
        let slot = s.root().join("plugin-slot.age");
        s.vault_cmd()
            .args(["key", "export-slot", "token", "--output"])
            .arg(&slot)
            .run()
            .success();
        let out = s
            .program("age")
            .env("PATH", &path)
            .args(["-d", "-i"])
            .arg(&id_file)
            .arg(&slot)
            .run()
            .success();
        let mk = Key::from_slice(&out.stdout).expect("32 bytes");
        let FileHeader::V2(h) = format::parse_any(&s.vault_bytes()).unwrap().header else {
            panic!("a version-2 file");
        };
        assert!(keyblock::is_master_key(&mk, &h.keys));
    }
}

/// On a terminal, a passphrase-protected SSH key given with `--identity`
/// is asked for (age's prompt, no echo) and opens its slot; a member
/// opening by identity can also rotate the master key.
#[test]
fn a_passphrase_protected_ssh_key_is_asked_for_on_a_terminal() {
    use std::io::Write;
    let Some((mut master, slave_path)) = require(Pty) else {
        return;
    };
    let s = vault_with_a();
    let ed = s.root().join("id_locked");
    let Some(line) = ssh_keygen(&s, &ed, "ed25519", "ssh key passphrase") else {
        return;
    };
    add_recipient(&s, &line, &[]);
    let screen = crate::passphrase::Screen::new(&master);
    let vault = s
        .vault_cmd()
        .arg("--identity")
        .arg(&ed)
        .args(["get", "-n", "A"])
        .on_terminal(&slave_path)
        .spawn();
    assert!(
        screen.wait("passphrase", 1),
        "no prompt: {:?}",
        screen.text()
    );
    master.write_all(b"ssh key passphrase\n").unwrap();
    let out = vault.finish().success();
    assert_eq!(out.stdout, b"alpha");
    drop(master);
}

#[test]
fn a_member_opening_by_identity_rotates_the_master_key() {
    let s = vault_with_a();
    let Some(key) = member_key(&s) else {
        return;
    };
    let before = s
        .vault_cmd()
        .args(["key", "list", "--json"])
        .run()
        .success();
    s.vault_cmd()
        .arg("--identity")
        .arg(&key)
        .arg("rekey")
        .run()
        .success()
        .stderr_has("new master key");
    let after = s
        .vault_cmd()
        .args(["key", "list", "--json"])
        .run()
        .success();
    assert_eq!(
        before.json()["slots"].as_array().unwrap().len(),
        after.json()["slots"].as_array().unwrap().len()
    );
    // Both the identity and the passphrase still open it.
    assert_eq!(get_with_identity(&s, &key), b"alpha");
    assert_eq!(s.get("A"), b"alpha");
}

/// With standard output on a terminal, `identity export` and `identity new
/// --output -` (a secret) and `key export-slot` (binary) refuse, unless
/// `--force`.
#[test]
fn exports_refuse_a_terminal_standard_output() {
    let Some((master, slave_path)) = require(Pty) else {
        return;
    };
    let s = Sandbox::new();
    s.cmd().args(["identity", "new"]).run().success();
    // Standard output moved onto the terminal (standard input, opened
    // read-write by the harness).
    let on_tty = |args: &str| {
        s.program("sh")
            .args(["-c", &format!("exec \"$0\" {args} >&0"), VAULT])
            .on_terminal(&slave_path)
            .run()
    };
    // A slave side held open, so the screen's reader does not see the
    // terminal closed before the first run opens it.
    let _held = {
        use std::os::unix::fs::OpenOptionsExt;
        fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(&slave_path)
            .unwrap()
    };
    let screen = crate::passphrase::Screen::new(&master);
    on_tty("identity export")
        .code(2)
        .stderr_has("refusing to print the identity on a terminal");
    on_tty("identity new --output -")
        .code(2)
        .stderr_has("refusing to print the identity on a terminal");
    on_tty("identity export --force").success();
    assert!(
        screen.wait("AGE-SECRET-KEY-1", 1),
        "not shown: {:?}",
        screen.text()
    );
    s.init();
    let key = s.root().join("key.txt");
    s.cmd()
        .args(["identity", "new", "--output"])
        .arg(&key)
        .run()
        .success();
    let recipient = s
        .cmd()
        .arg("--identity")
        .arg(&key)
        .args(["identity", "show"])
        .run()
        .success()
        .stdout_str();
    // (`identity show` prints the personal identity, not --identity's.)
    assert!(recipient.starts_with("age1"));
    let r = fs::read_to_string(&key).unwrap();
    let r = r
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_string();
    add_recipient(&s, &r, &["--label", "t"]);
    on_tty(&format!("--vault {} key export-slot t", s.vault.display()))
        .code(2)
        .stderr_has("refusing to write a binary age file on a terminal");
    drop(master);
}
