//! Recipients and identities of version-2 slots, through the `age` crate:
//! what `vault key add recipient` accepts and records, and which slots an
//! identity (an age identity file, an OpenSSH private key, a plugin
//! identity) can open — worked out from what the identity holds, so opening
//! never tries slots blindly (`docs/FORMAT.md`, "Opening").
//!
//! [`Identities`] are what one command was given, tried by the open path
//! (`Credential::Identities`) on the recipient slots they match. Where the
//! personal identity lives (the keyring account
//! [`PERSONAL_IDENTITY_ACCOUNT`], else [`personal_identity_file`]) and which
//! SSH keys are looked for by default are named here; reading them is the
//! binary's.
//!
//! Parsing is the crate's: an age identity file is split into its lines
//! (the format is one identity per line, `#` comments) only so that each
//! identity's recipient can be matched to a slot; an X25519 line is parsed
//! as `age::IdentityFile` parses it (`age::x25519::Identity`'s `FromStr`),
//! any other by `age::IdentityFile`.

use std::io::BufReader;

use age::secrecy::ExposeSecret;

use crate::format::v2::{HeaderV2, SlotKindV2};
use crate::keyblock::{self, WrapFailed, X25519Identity};
use crate::secret::{Key, SecretBuf, SecretBytes};

/// A recipient a slot can wrap the master key to.
#[derive(Clone)]
pub enum Recipient {
    /// `age1…`
    X25519(age::x25519::Recipient),
    /// `ssh-ed25519 AAAA…` or `ssh-rsa AAAA…`
    Ssh(age::ssh::Recipient),
    /// `age1<plugin>1…`
    Plugin(age::plugin::Recipient),
}

/// Why a recipient was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientProblem {
    /// Not a recipient age knows.
    Unrecognised,
    /// An SSH key type age cannot encrypt to (e.g. ECDSA, or a security key).
    UnsupportedSshKey(String),
    /// An RSA key too small (under 2048 bits) or too large.
    RsaKeySize,
}

impl std::fmt::Display for RecipientProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecipientProblem::Unrecognised => f.write_str(
                "not a recipient: give an age public key (age1…), an SSH public key \
                 (ssh-ed25519 or ssh-rsa, or a .pub file) or an age plugin recipient",
            ),
            RecipientProblem::UnsupportedSshKey(t) => {
                write!(
                    f,
                    "SSH key type {t} is not supported (ssh-ed25519 and ssh-rsa are)"
                )
            }
            RecipientProblem::RsaKeySize => {
                f.write_str("the RSA key's size is not supported (2048 to 16384 bits)")
            }
        }
    }
}

impl Recipient {
    /// Parses one recipient: `age1…`, an SSH public key line (its comment
    /// is dropped) or a plugin recipient. Surrounding white space is
    /// ignored.
    pub fn parse(text: &str) -> Result<Recipient, RecipientProblem> {
        let t = text.trim();
        if let Ok(r) = t.parse::<age::x25519::Recipient>() {
            return Ok(Recipient::X25519(r));
        }
        if t.starts_with("ssh-") || t.starts_with("ecdsa-") || t.starts_with("sk-") {
            return match t.parse::<age::ssh::Recipient>() {
                Ok(r) => Ok(Recipient::Ssh(r)),
                Err(age::ssh::ParseRecipientKeyError::Unsupported(k)) => {
                    Err(RecipientProblem::UnsupportedSshKey(k))
                }
                Err(
                    age::ssh::ParseRecipientKeyError::RsaModulusTooLarge
                    | age::ssh::ParseRecipientKeyError::RsaModulusTooSmall,
                ) => Err(RecipientProblem::RsaKeySize),
                Err(_) => Err(RecipientProblem::Unrecognised),
            };
        }
        if let Ok(r) = t.parse::<age::plugin::Recipient>() {
            return Ok(Recipient::Plugin(r));
        }
        Err(RecipientProblem::Unrecognised)
    }

    /// The form a slot records: age's own rendering (no SSH comment).
    pub fn canonical(&self) -> String {
        match self {
            Recipient::X25519(r) => r.to_string(),
            Recipient::Ssh(r) => r.to_string(),
            Recipient::Plugin(r) => r.to_string(),
        }
    }

    /// The plugin this recipient needs, if it is a plugin recipient.
    pub fn plugin(&self) -> Option<&str> {
        match self {
            Recipient::Plugin(r) => Some(r.plugin()),
            _ => None,
        }
    }

    /// The master key as an age file for this recipient. A plugin
    /// recipient runs its plugin (`age-plugin-<name>` on `PATH`) with
    /// `callbacks`; a missing plugin is an error before anything is made.
    pub fn wrap<C: age::Callbacks>(&self, mk: &Key, callbacks: C) -> Result<Vec<u8>, WrapFailed> {
        match self {
            Recipient::X25519(r) => keyblock::wrap_master_key(r, mk),
            Recipient::Ssh(r) => keyblock::wrap_master_key(r, mk),
            Recipient::Plugin(r) => {
                let p = age::plugin::RecipientPluginV1::new(
                    r.plugin(),
                    std::slice::from_ref(r),
                    &[],
                    callbacks,
                )
                .map_err(|e| WrapFailed(e.to_string()))?;
                keyblock::wrap_master_key(&p, mk)
            }
        }
    }
}

/// What an identity can open: slots whose recipient is exactly this one,
/// or (a plugin identity) slots of this plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opens {
    /// The slot whose recipient is this (canonical) string.
    Recipient(String),
    /// Any slot of this plugin: a plugin identity does not say which
    /// recipient it is without running the plugin.
    Plugin(String),
}

impl Opens {
    /// Whether a slot recording `recipient` may be opened by this identity.
    pub fn matches(&self, recipient: &str) -> bool {
        match self {
            Opens::Recipient(r) => r == recipient,
            Opens::Plugin(name) => Recipient::parse(recipient)
                .ok()
                .and_then(|r| r.plugin().map(|p| p == name))
                .unwrap_or(false),
        }
    }
}

/// One identity, ready to unwrap the slots it [`Opens`].
pub struct LoadedIdentity {
    held: Held,
    encrypted: bool,
}

/// An identity and what is known of the slots it opens.
enum Held {
    /// Worked out when the identity was read (SSH, plugin and keyring
    /// identities).
    Known {
        opens: Opens,
        identity: Box<dyn age::Identity + Send + Sync>,
    },
    /// An X25519 identity from an identity file: its recipient is worked
    /// out from the secret only when first asked for (one base-point
    /// multiplication, about 170 k instructions and curve25519-dalek's
    /// 30 KB table: 7 % of an identity-mode `vault get`, callgrind), and
    /// `claimed` is the recipient its file's `# public key:` comment names,
    /// if any (age-keygen, rage-keygen and `vault identity new` write one
    /// above the key). A claim only says which slot
    /// [`Identities::open_slot`] tries first; it is never trusted: a slot
    /// opens only if the identity unwraps it, a claim that opens nothing
    /// sends the search on with the worked-out recipient, and
    /// [`LoadedIdentity::opens`] and [`LoadedIdentity::matches_a_slot_of`]
    /// never look at it.
    X25519 {
        secret: age::x25519::Identity,
        claimed: Option<String>,
        worked_out: std::sync::OnceLock<Opens>,
    },
}

impl std::fmt::Debug for LoadedIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LoadedIdentity(opens {:?})", self.opens())
    }
}

/// The two passes of [`Identities::open_slot`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// Each identity's claimed recipient where it has one, else what it
    /// opens.
    Claimed,
    /// The worked-out recipients of identities whose claim was something
    /// else.
    WorkedOut,
}

impl LoadedIdentity {
    /// An X25519 identity held as its 32 bytes (the personal identity in
    /// the keyring).
    pub fn x25519(id: &X25519Identity) -> LoadedIdentity {
        LoadedIdentity::known(
            Opens::Recipient(id.recipient()),
            Box::new(id.to_age()),
            false,
        )
    }

    fn known(
        opens: Opens,
        identity: Box<dyn age::Identity + Send + Sync>,
        encrypted: bool,
    ) -> LoadedIdentity {
        LoadedIdentity {
            held: Held::Known { opens, identity },
            encrypted,
        }
    }

    /// An X25519 identity read from an identity file line, with the
    /// recipient the line above it claims.
    fn x25519_claimed(secret: age::x25519::Identity, claimed: Option<String>) -> LoadedIdentity {
        LoadedIdentity {
            held: Held::X25519 {
                secret,
                claimed,
                worked_out: std::sync::OnceLock::new(),
            },
            encrypted: false,
        }
    }

    /// Which slots it can open (for an X25519 identity, worked out from
    /// the secret the first time: never a claim).
    pub fn opens(&self) -> &Opens {
        match &self.held {
            Held::Known { opens, .. } => opens,
            Held::X25519 {
                secret, worked_out, ..
            } => worked_out.get_or_init(|| Opens::Recipient(secret.to_public().to_string())),
        }
    }

    /// The recipient an identity file claims for it, if it has a claim.
    fn claimed(&self) -> Option<&str> {
        match &self.held {
            Held::X25519 { claimed, .. } => claimed.as_deref(),
            Held::Known { .. } => None,
        }
    }

    /// Whether [`Identities::open_slot`] tries the slot recording
    /// `recipient` in `pass`.
    fn tries(&self, pass: Pass, recipient: &str) -> bool {
        match (pass, self.claimed()) {
            (Pass::Claimed, Some(c)) => c == recipient,
            (Pass::Claimed, None) => self.opens().matches(recipient),
            (Pass::WorkedOut, Some(c)) => {
                !self.opens().matches(c) && self.opens().matches(recipient)
            }
            (Pass::WorkedOut, None) => false,
        }
    }

    /// Whether it is a passphrase-protected SSH key (opening a slot with
    /// it asks its callbacks for the passphrase).
    pub fn is_encrypted(&self) -> bool {
        self.encrypted
    }

    /// Whether it may open one of `header`'s recipient slots: its own
    /// recipient (worked out, never a claim) is a slot's.
    pub fn matches_a_slot_of(&self, header: &HeaderV2) -> bool {
        header.keys.slots.iter().any(|s| match &s.kind {
            SlotKindV2::Recipient(w) => self.opens().matches(&w.recipient),
            _ => false,
        })
    }

    /// The master key from a slot's age file, if this identity opens it.
    pub fn unwrap_master_key(&self, age_file: &[u8]) -> Option<Key> {
        let identity: &dyn age::Identity = match &self.held {
            Held::Known { identity, .. } => identity.as_ref(),
            Held::X25519 { secret, .. } => secret,
        };
        keyblock::unwrap_master_key(identity, age_file)
    }
}

/// Why identities could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityProblem {
    /// Neither an age identity file nor an OpenSSH private key.
    Unrecognised,
    /// An SSH key type age cannot decrypt with.
    UnsupportedSshKey,
    /// The file holds no identity.
    Empty,
}

impl std::fmt::Display for IdentityProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IdentityProblem::Unrecognised => {
                "not an identity: expected an age identity file (AGE-SECRET-KEY-1…, \
                 AGE-PLUGIN-…) or an OpenSSH private key (ed25519 or RSA)"
            }
            IdentityProblem::UnsupportedSshKey => {
                "this SSH key type cannot be used (ssh-ed25519 and ssh-rsa can)"
            }
            IdentityProblem::Empty => "no identity in it",
        })
    }
}

/// The comment age-keygen (and `vault identity new`) writes above an
/// X25519 identity: the recipient it claims to be.
const PUBLIC_KEY_COMMENT: &str = "# public key:";
const SSH_PRIVATE_KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----";
const PEM_RSA_KEY: &str = "-----BEGIN RSA PRIVATE KEY-----";

/// Reads the identities in `text` (the contents of an identity file or of
/// `VAULT_IDENTITY`). `callbacks` answer a passphrase-protected SSH key's
/// prompt and a plugin's requests; [`age::NoCallbacks`] never prompts (a
/// protected key then opens nothing). Every identity's secret stays inside
/// the age crate's own zeroizing types.
pub fn load_identities<C: age::Callbacks>(
    text: &SecretBytes,
    callbacks: C,
) -> Result<Vec<LoadedIdentity>, IdentityProblem> {
    let s = std::str::from_utf8(text.expose()).map_err(|_| IdentityProblem::Unrecognised)?;
    let trimmed = s.trim_start();
    if trimmed.starts_with(SSH_PRIVATE_KEY) || trimmed.starts_with(PEM_RSA_KEY) {
        let id = age::ssh::Identity::from_buffer(BufReader::new(trimmed.as_bytes()), None)
            .map_err(|_| IdentityProblem::Unrecognised)?;
        if matches!(id, age::ssh::Identity::Unsupported(_)) {
            return Err(IdentityProblem::UnsupportedSshKey);
        }
        let recipient = age::ssh::Recipient::try_from(id.clone())
            .map_err(|_| IdentityProblem::UnsupportedSshKey)?;
        let encrypted = matches!(id, age::ssh::Identity::Encrypted(_));
        return Ok(vec![LoadedIdentity::known(
            Opens::Recipient(recipient.to_string()),
            Box::new(id.with_callbacks(callbacks)),
            encrypted,
        )]);
    }
    let mut out = Vec::new();
    // The recipient the line above claims (`# public key: age1…`).
    let mut claimed: Option<&str> = None;
    for line in s.lines() {
        let line = line.trim();
        let claim = claimed.take();
        if let Some(r) = line.strip_prefix(PUBLIC_KEY_COMMENT) {
            claimed = Some(r.trim());
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // An X25519 identity, parsed as the age crate parses the line
        // (`IdentityFile`): its recipient is worked out only if needed.
        if let Ok(secret) = line.parse::<age::x25519::Identity>() {
            out.push(LoadedIdentity::x25519_claimed(
                secret,
                claim.map(str::to_owned),
            ));
            continue;
        }
        let file = age::IdentityFile::from_buffer(BufReader::new(line.as_bytes()))
            .map_err(|_| IdentityProblem::Unrecognised)?
            .with_callbacks(callbacks.clone());
        let mut recipients = Vec::new();
        let opens = match file.write_recipients_file(&mut recipients) {
            Ok(()) => Opens::Recipient(
                String::from_utf8(recipients)
                    .map_err(|_| IdentityProblem::Unrecognised)?
                    .trim()
                    .to_owned(),
            ),
            Err(age::IdentityFileConvertError::IdentityFileContainsPlugin {
                plugin_name, ..
            }) => Opens::Plugin(plugin_name),
            Err(_) => return Err(IdentityProblem::Unrecognised),
        };
        let mut ids = file
            .into_identities()
            .map_err(|_| IdentityProblem::Unrecognised)?;
        if ids.len() != 1 {
            return Err(IdentityProblem::Unrecognised);
        }
        out.push(LoadedIdentity::known(opens, ids.remove(0), false));
    }
    if out.is_empty() {
        return Err(IdentityProblem::Empty);
    }
    Ok(out)
}

/// Identities given for one command, shared by every attempt to open
/// (the passphrase may be asked for again; the identities are read once).
#[derive(Clone, Debug)]
pub struct Identities(std::sync::Arc<Vec<LoadedIdentity>>);

impl Identities {
    /// These identities.
    pub fn new(ids: Vec<LoadedIdentity>) -> Identities {
        Identities(std::sync::Arc::new(ids))
    }

    /// Each identity.
    pub fn iter(&self) -> impl Iterator<Item = &LoadedIdentity> {
        self.0.iter()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first recipient slot of `header` one of these identities opens:
    /// its id, its age file and the master key it gives. Only slots whose
    /// recipient an identity matches are tried: first its claimed
    /// recipient where its file claims one, then, for a claim that was not
    /// its own, the recipient worked out from it ([`Held::X25519`]).
    pub fn open_slot(&self, header: &HeaderV2) -> Option<(crate::format::SlotId, Vec<u8>, Key)> {
        for pass in [Pass::Claimed, Pass::WorkedOut] {
            for s in &header.keys.slots {
                let SlotKindV2::Recipient(w) = &s.kind else {
                    continue;
                };
                for id in self.iter().filter(|i| i.tries(pass, &w.recipient)) {
                    if let Some(mk) = id.unwrap_master_key(&w.age) {
                        return Some((s.id, w.age.clone(), mk));
                    }
                }
            }
        }
        None
    }
}

/// The keyring account (service `vault`) of the personal identity
/// (`vault identity new`): its 32-byte X25519 secret. No `:` in it, so it
/// is never taken for a vault's slot entry.
pub const PERSONAL_IDENTITY_ACCOUNT: &str = "personal-identity";

/// Where the personal identity is kept when no keyring answers: an age
/// identity file, mode 0600, in the configuration directory
/// (`$XDG_CONFIG_HOME/vault/identity.txt`, else `~/.config/vault/...`).
pub fn personal_identity_file() -> Option<std::path::PathBuf> {
    crate::platform::xdg_dir("XDG_CONFIG_HOME", ".config").map(|d| d.join("vault/identity.txt"))
}

/// The default SSH identities tried when a recipient slot matches them:
/// `~/.ssh/id_ed25519`, `~/.ssh/id_rsa`.
pub fn default_ssh_identities() -> Vec<std::path::PathBuf> {
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(h) => ["id_ed25519", "id_rsa"]
            .iter()
            .map(|n| std::path::Path::new(&h).join(".ssh").join(n))
            .collect(),
        None => Vec::new(),
    }
}

/// `id` in age's identity-file form, with the comment lines `age-keygen`
/// writes, built in a buffer sized up front (no copy of the secret is left
/// behind by a reallocation).
pub fn identity_file_text(id: &X25519Identity, created: &str) -> SecretBytes {
    let recipient = id.recipient();
    let age_id = id.to_age();
    let secret = age_id.to_string();
    let parts: [&[u8]; 7] = [
        b"# created: ",
        created.as_bytes(),
        b"\n# public key: ",
        recipient.as_bytes(),
        b"\n",
        secret.expose_secret().as_bytes(),
        b"\n",
    ];
    let mut buf = SecretBuf::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        buf.extend_from_slice(p)
            .expect("sized for every part up front");
    }
    buf.into()
}

/// A new X25519 identity in age's identity-file form (see
/// [`identity_file_text`]), and its recipient.
pub fn new_identity_file(created: &str) -> (SecretBytes, String) {
    let id = X25519Identity::generate();
    (identity_file_text(&id, created), id.recipient())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made with `ssh-keygen -t ed25519 -N '' -C test@example`; public
    // half only (a test vector, not a secret).
    const SSH_ED25519_PUB: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEmxzOkxtcXsORc1eJFwHEaQpjNAUq4sI2Yxw8CXUn4z test@example";

    #[test]
    fn recipients_parse_to_their_canonical_form() {
        let (_, r) = new_identity_file("now");
        let x = Recipient::parse(&format!("  {r}\n")).unwrap();
        assert_eq!(x.canonical(), r);
        assert!(x.plugin().is_none());
        match Recipient::parse(SSH_ED25519_PUB) {
            Ok(s @ Recipient::Ssh(_)) => {
                assert!(SSH_ED25519_PUB.starts_with(&s.canonical()));
                assert!(!s.canonical().contains("test@example"));
            }
            _ => panic!("ssh-ed25519 line not parsed"),
        }
        assert_eq!(
            Recipient::parse("age1nope").err(),
            Some(RecipientProblem::Unrecognised)
        );
        assert!(matches!(
            Recipient::parse(
                "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBA"
            ),
            Err(RecipientProblem::UnsupportedSshKey(_) | RecipientProblem::Unrecognised)
        ));
    }

    #[test]
    fn an_identity_file_opens_exactly_its_recipients_slots() {
        let (a, ra) = new_identity_file("t");
        let (b, rb) = new_identity_file("t");
        let both = SecretBytes::new([a.expose(), b"\n# a comment\n\n", b.expose()].concat());
        let ids = load_identities(&both, age::NoCallbacks).unwrap();
        assert_eq!(ids.len(), 2);
        assert!(ids[0].opens().matches(&ra) && !ids[0].opens().matches(&rb));
        assert!(ids[1].opens().matches(&rb));
        let mk = Key::random();
        let file = Recipient::parse(&rb)
            .unwrap()
            .wrap(&mk, age::NoCallbacks)
            .unwrap();
        assert!(ids[1].unwrap_master_key(&file).unwrap().ct_eq(&mk));
        assert!(ids[0].unwrap_master_key(&file).is_none());
        assert!(!format!("{:?}", ids[0]).contains("AGE-SECRET"));
    }

    #[test]
    fn an_identity_file_text_reads_back_to_the_same_identity() {
        let id = X25519Identity::generate();
        let text = identity_file_text(&id, "2026-12-01T00:00:00Z");
        let s = std::str::from_utf8(text.expose()).unwrap();
        assert!(s.starts_with("# created: 2026-12-01T00:00:00Z\n# public key: age1"));
        let ids = load_identities(&text, age::NoCallbacks).unwrap();
        assert_eq!(ids.len(), 1);
        assert_eq!(ids[0].opens(), &Opens::Recipient(id.recipient()));
        assert!(!ids[0].is_encrypted());
        let kept = LoadedIdentity::x25519(&id);
        assert_eq!(kept.opens(), ids[0].opens());
    }

    #[test]
    fn identities_open_only_the_recipient_slot_they_match() {
        use crate::format::v2::tests::sample_header_v2;
        use crate::format::v2::AgeWrap;
        let mk = Key::random();
        let (a, ra) = new_identity_file("t");
        let (b, _) = new_identity_file("t");
        let mut h = sample_header_v2();
        let slot = h
            .keys
            .slots
            .iter_mut()
            .find(|s| matches!(s.kind, SlotKindV2::Recipient(_)))
            .expect("the sample has a recipient slot");
        slot.kind = SlotKindV2::Recipient(AgeWrap {
            recipient: ra.clone(),
            age: Recipient::parse(&ra)
                .unwrap()
                .wrap(&mk, age::NoCallbacks)
                .unwrap(),
        });
        let id = slot.id;
        let mine = Identities::new(load_identities(&a, age::NoCallbacks).unwrap());
        let (opened, age, got) = mine.open_slot(&h).unwrap();
        assert_eq!(opened, id);
        assert!(got.ct_eq(&mk));
        assert!(age.starts_with(crate::format::v2::AGE_MAGIC));
        assert!(mine.iter().all(|i| i.matches_a_slot_of(&h)));
        let theirs = Identities::new(load_identities(&b, age::NoCallbacks).unwrap());
        assert!(theirs.open_slot(&h).is_none());
        assert!(!theirs.iter().any(|i| i.matches_a_slot_of(&h)));
    }

    /// A header whose recipient slots are `recipients`, in order, each
    /// wrapping `mk`; their ids.
    fn header_with_recipient_slots(
        mk: &Key,
        recipients: &[&str],
    ) -> (HeaderV2, Vec<crate::format::SlotId>) {
        use crate::format::v2::tests::sample_header_v2;
        use crate::format::v2::{AgeWrap, SlotV2};
        let mut h = sample_header_v2();
        h.keys
            .slots
            .retain(|s| !matches!(s.kind, SlotKindV2::Recipient(_)));
        let mut ids = Vec::new();
        for (i, r) in recipients.iter().enumerate() {
            let id = crate::format::SlotId([0xee, 0, 0, i as u8]);
            h.keys.slots.push(SlotV2 {
                id,
                label: None,
                kind: SlotKindV2::Recipient(AgeWrap {
                    recipient: r.to_string(),
                    age: Recipient::parse(r)
                        .unwrap()
                        .wrap(mk, age::NoCallbacks)
                        .unwrap(),
                }),
            });
            ids.push(id);
        }
        (h, ids)
    }

    /// `text` with its `# public key:` line saying `claim` instead.
    fn with_claim(text: &SecretBytes, claim: &str) -> SecretBytes {
        let s = std::str::from_utf8(text.expose()).unwrap();
        let lines: Vec<String> = s
            .lines()
            .map(|l| match l.strip_prefix(PUBLIC_KEY_COMMENT) {
                Some(_) => format!("{PUBLIC_KEY_COMMENT} {claim}"),
                None => l.to_owned(),
            })
            .collect();
        SecretBytes::copy_from(lines.join("\n").as_bytes())
    }

    #[test]
    fn a_claimed_recipient_is_tried_first_and_never_trusted() {
        let mk = Key::random();
        let (a, ra) = new_identity_file("t");
        let (_, rb) = new_identity_file("t");
        let (_, rc) = new_identity_file("t");
        // B's slot first, A's last.
        let (h, slots) = header_with_recipient_slots(&mk, &[&rb, &rc, &ra]);

        // The claim is A's own (as age-keygen writes it): A's slot opens,
        // and A's recipient is never worked out from the secret.
        let honest = Identities::new(load_identities(&a, age::NoCallbacks).unwrap());
        let (opened, _, got) = honest.open_slot(&h).unwrap();
        assert_eq!(opened, slots[2]);
        assert!(got.ct_eq(&mk));
        match &honest.iter().next().unwrap().held {
            Held::X25519 { worked_out, .. } => assert!(worked_out.get().is_none()),
            Held::Known { .. } => panic!("an identity file's X25519 line is read lazily"),
        }
        assert!(honest.iter().all(|i| i.matches_a_slot_of(&h)));

        // A claim of B's recipient, of a recipient in no slot, of garbage,
        // or none: still A's slot and only A's, and `opens` is A's.
        for claim in [rb.as_str(), "age1nosuchrecipient", "", "\u{202e}x"] {
            let text = with_claim(&a, claim);
            let ids = Identities::new(load_identities(&text, age::NoCallbacks).unwrap());
            let (opened, _, got) = ids.open_slot(&h).unwrap();
            assert_eq!(opened, slots[2], "claim {claim:?}");
            assert!(got.ct_eq(&mk));
            assert!(ids.iter().all(|i| i.matches_a_slot_of(&h)));
            assert_eq!(
                ids.iter().next().unwrap().opens(),
                &Opens::Recipient(ra.clone())
            );
        }
        let no_comment: String = std::str::from_utf8(a.expose())
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect();
        let ids = Identities::new(
            load_identities(
                &SecretBytes::copy_from(no_comment.as_bytes()),
                age::NoCallbacks,
            )
            .unwrap(),
        );
        assert_eq!(ids.open_slot(&h).unwrap().0, slots[2]);

        // A claim of A's recipient does not let another identity in: B's
        // file claiming to be A opens nothing here without B's slot.
        let (b_only, _) = new_identity_file("t");
        let liar = with_claim(&b_only, &ra);
        let ids = Identities::new(load_identities(&liar, age::NoCallbacks).unwrap());
        let (h_a, _) = header_with_recipient_slots(&mk, &[&ra]);
        assert!(ids.open_slot(&h_a).is_none());
        assert!(!ids.iter().any(|i| i.matches_a_slot_of(&h_a)));
        assert_ne!(
            ids.iter().next().unwrap().opens(),
            &Opens::Recipient(ra.clone())
        );

        // A claim only counts on the line right above the key.
        let s = std::str::from_utf8(a.expose()).unwrap();
        let spaced = s.replace(&format!("{ra}\n"), &format!("{ra}\n\n"));
        assert_ne!(spaced, s);
        let ids =
            load_identities(&SecretBytes::copy_from(spaced.as_bytes()), age::NoCallbacks).unwrap();
        assert_eq!(ids[0].claimed(), None);
        assert_eq!(
            load_identities(&a, age::NoCallbacks).unwrap()[0].claimed(),
            Some(ra.as_str())
        );
    }

    #[test]
    fn what_is_not_an_identity_is_refused() {
        for bad in ["", "# only a comment\n", "hello", "AGE-SECRET-KEY-1XYZ"] {
            assert!(
                load_identities(&SecretBytes::copy_from(bad.as_bytes()), age::NoCallbacks).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_missing_plugin_stops_before_anything_is_made() {
        // A syntactically valid plugin recipient for a plugin no one has.
        let r = "age1vaultnosuchplugin1qqqsyqcyq5rqwzqfpg9scrgwpugpzysnzs23v9ccrydpk8qarc0swvdv34";
        if let Ok(rec) = Recipient::parse(r) {
            assert_eq!(rec.plugin(), Some("vaultnosuchplugin"));
            assert!(rec.wrap(&Key::random(), age::NoCallbacks).is_err());
            assert!(Opens::Plugin("vaultnosuchplugin".into()).matches(r));
        } else {
            panic!("plugin recipient not parsed");
        }
    }
}
