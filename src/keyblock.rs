//! The cryptography of a version-2 key block (`docs/FORMAT.md`, "Version
//! 2", "Keys"): the master-key derivations (commitment, key-block MAC,
//! body-key seal), the body-key commitment, a passphrase slot's sealed
//! X25519 identity, and the age files that wrap the master key to a slot's
//! recipient; the master key's lineage (a rotation endorsed by the key it
//! replaces).
//!
//! Nothing here is new cryptography: keyed BLAKE2b-256 as the PRF (as
//! version 1's commitment), XChaCha20-Poly1305 through `crypto.rs`, and the
//! `age` crate for every recipient (X25519, SSH, plugins), Ed25519
//! (`ed25519-dalek`) for the lineage. No I/O except
//! what an age plugin does when it is asked to wrap or unwrap.

use std::io::{Read, Write};

use blake2::digest::{consts::U32, Mac};
use chacha20poly1305::aead::KeyInit;
use ed25519_dalek::Signer;
use zeroize::Zeroizing;

use crate::crypto::{self, random_nonce, Unauthentic, NONCE_LEN};
use crate::format::cbor::Sink;
use crate::format::v2::{
    HeaderV2, KeyBlock, Lineage, Link, LINEAGE_KEY_LEN, MAC_LEN, MAX_LINKS, SEALED_BODY_KEY_LEN,
    SEALED_IDENTITY_LEN,
};
use crate::format::{KdfParams, SlotId, VaultId, COMMITMENT_LEN, FINGERPRINT_KEY_LEN};
use crate::secret::Key;

type Prf = blake2::Blake2bMac<U32>;

fn prf(key: &Key) -> Prf {
    <Prf as KeyInit>::new_from_slice(key.expose()).expect("BLAKE2b accepts 32-byte keys")
}

/// `PRF(key, label)`: keyed BLAKE2b-256 over an ASCII label.
fn derive(key: &Key, label: &[u8]) -> Key {
    let mut m = prf(key);
    m.update(label);
    Key::try_init_with(|k| {
        k.copy_from_slice(&m.finalize().into_bytes());
        Ok::<(), ()>(())
    })
    .unwrap_or_else(|()| unreachable!())
}

const MASTER_COMMITMENT: &[u8] = b"vault master key commitment v2";
const MAC_KEY: &[u8] = b"vault key block mac v2";
const BODY_KEY_WRAP: &[u8] = b"vault body key wrap v2";
const BODY_COMMITMENT: &[u8] = b"vault body key commitment v2";
const BODY_KEY_AAD: &[u8] = b"vault body key v2\0";
const IDENTITY_AAD: &[u8] = b"vault passphrase identity v2\0";
const LINEAGE_SIGNING_KEY: &[u8] = b"vault master key lineage signing key v2";
const EXPOSED_DIGEST_KEY: &[u8] = b"vault exposed value v2\0";

fn commit(key: &Key, label: &[u8]) -> [u8; COMMITMENT_LEN] {
    let mut m = prf(key);
    m.update(label);
    m.finalize().into_bytes().into()
}

fn commit_matches(key: &Key, label: &[u8], expected: &[u8; COMMITMENT_LEN]) -> bool {
    let mut m = prf(key);
    m.update(label);
    m.verify_slice(expected).is_ok()
}

/// The master key's commitment.
pub fn master_commitment(mk: &Key) -> [u8; COMMITMENT_LEN] {
    commit(mk, MASTER_COMMITMENT)
}

/// Whether `mk` is the master key `keys` commits to (constant time).
pub fn is_master_key(mk: &Key, keys: &KeyBlock) -> bool {
    commit_matches(mk, MASTER_COMMITMENT, &keys.master_commitment)
}

/// The body key's commitment.
pub fn body_commitment(bk: &Key) -> [u8; COMMITMENT_LEN] {
    commit(bk, BODY_COMMITMENT)
}

/// Whether `bk` is the body key `keys` commits to (constant time).
pub fn is_body_key(bk: &Key, keys: &KeyBlock) -> bool {
    commit_matches(bk, BODY_COMMITMENT, &keys.body_commitment)
}

/// The key block's MAC under the master key.
pub fn key_block_mac(mk: &Key, vault_id: &VaultId, keys: &KeyBlock) -> [u8; MAC_LEN] {
    let mut out = [0u8; MAC_LEN];
    out.copy_from_slice(key_block_mac_hash(mk, vault_id, keys).as_bytes());
    out
}

/// Whether `header`'s MAC is right for master key `mk` (constant time:
/// `blake2b_simd::Hash` compares so).
pub fn mac_matches(mk: &Key, header: &HeaderV2) -> bool {
    key_block_mac_hash(mk, &header.vault_id, &header.keys) == header.mac[..]
}

/// `PRF(PRF(mk, MAC_KEY), mac_message)`: the same keyed BLAKE2b-256 as
/// [`prf`] (a unit test holds the two to each other), through
/// `blake2b_simd`, whose AVX2 code takes 2.6 times fewer instructions than
/// the `blake2` crate's: this MAC runs over the whole key block on every
/// open with the master key, 27 KB with 64 recipient slots (callgrind:
/// 435 k instructions of a 3.3 M `vault get`). That crate does not wipe
/// its state, which here is derived from the MAC key; that key only
/// authenticates key blocks (it opens no slot and no body), and the master
/// key it comes from stays in wiped, locked memory.
fn key_block_mac_hash(mk: &Key, vault_id: &VaultId, keys: &KeyBlock) -> blake2b_simd::Hash {
    let mut h = Hashing {
        state: blake2b_simd::Params::new()
            .hash_length(MAC_LEN)
            .key(derive(mk, MAC_KEY).expose())
            .to_state(),
        buf: [0; HASHING_BUF],
        len: 0,
    };
    HeaderV2::mac_message_to(vault_id, keys, &mut h);
    h.state.update(&h.buf[..h.len]);
    h.state.finalize()
}

/// What [`Hashing`] gathers before hashing: an encoder writes a few bytes
/// at a time, and one hash update per write cost a third more than the
/// compression itself (callgrind).
const HASHING_BUF: usize = 2048;

/// A hash state as the sink of an encoder: the message is hashed as it is
/// encoded, never held whole (only public bytes go through it).
struct Hashing {
    state: blake2b_simd::State,
    buf: [u8; HASHING_BUF],
    len: usize,
}

impl Sink for Hashing {
    fn put(&mut self, b: &[u8]) {
        if self.len + b.len() > HASHING_BUF {
            self.state.update(&self.buf[..self.len]);
            self.len = 0;
        }
        if b.len() > HASHING_BUF {
            self.state.update(b);
        } else {
            self.buf[self.len..self.len + b.len()].copy_from_slice(b);
            self.len += b.len();
        }
    }
}

/// A secret's fingerprint, for `vault textconv`: keyed BLAKE2b-256 with
/// the body's fingerprint key over `name ‖ 00 ‖ value`. It changes when the
/// value does, says nothing about the value to whoever lacks the key, and
/// the key is replaced on every member removal, so an ex-member cannot test
/// guesses against later diffs.
pub fn fingerprint(fp_key: &[u8; FINGERPRINT_KEY_LEN], name: &str, value: &[u8]) -> [u8; 32] {
    let mut m = <Prf as KeyInit>::new_from_slice(fp_key).expect("BLAKE2b accepts 32-byte keys");
    m.update(name.as_bytes());
    m.update(&[0]);
    m.update(value);
    m.finalize().into_bytes().into()
}

/// The digest a version-2 body keeps (`"e"`) of a value a removed member
/// could read, once no secret holds it (changed or deleted): BLAKE2b-256
/// over `name ‖ 00 ‖ value`, keyed with a label and the vault id. Setting
/// the name to that value again is then marked rotate pending. The key is
/// not secret: the digest lies inside the encrypted body, where only those
/// who could read the value itself while it was held can see it.
pub fn exposed_digest(vault_id: &VaultId, name: &str, value: &[u8]) -> [u8; 32] {
    let key = [EXPOSED_DIGEST_KEY, &vault_id.0].concat();
    let mut m =
        <Prf as KeyInit>::new_from_slice(&key).expect("BLAKE2b accepts keys up to 64 bytes");
    m.update(name.as_bytes());
    m.update(&[0]);
    m.update(value);
    m.finalize().into_bytes().into()
}

fn body_key_aad(vault_id: &VaultId) -> Vec<u8> {
    [BODY_KEY_AAD, &vault_id.0].concat()
}

/// The body key sealed under the master key: nonce ‖ ciphertext ‖ tag.
pub fn seal_body_key(mk: &Key, vault_id: &VaultId, bk: &Key) -> [u8; SEALED_BODY_KEY_LEN] {
    let nonce = random_nonce();
    let wrapped = crypto::wrap_key(
        &derive(mk, BODY_KEY_WRAP),
        &nonce,
        &body_key_aad(vault_id),
        bk,
    );
    let mut out = [0u8; SEALED_BODY_KEY_LEN];
    out[..NONCE_LEN].copy_from_slice(&nonce);
    out[NONCE_LEN..].copy_from_slice(&wrapped);
    out
}

/// The body key of `keys`, checked against its commitment.
pub fn open_body_key(mk: &Key, vault_id: &VaultId, keys: &KeyBlock) -> Result<Key, Unauthentic> {
    let (nonce, wrapped) = keys.body_key.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| Unauthentic)?;
    let bk = crypto::unwrap_key(
        &derive(mk, BODY_KEY_WRAP),
        &nonce,
        &body_key_aad(vault_id),
        wrapped,
    )?;
    if !is_body_key(&bk, keys) {
        return Err(Unauthentic);
    }
    Ok(bk)
}

/// The Ed25519 signing key of master key `mk`'s lineage: its seed is
/// `PRF(mk, label)`, so only a holder of `mk` can sign with it.
fn lineage_signing_key(mk: &Key) -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(derive(mk, LINEAGE_SIGNING_KEY).expose())
}

/// Master key `mk`'s lineage key (public).
pub fn lineage_key(mk: &Key) -> [u8; LINEAGE_KEY_LEN] {
    lineage_signing_key(mk).verifying_key().to_bytes()
}

/// The lineage of a key block sealed with master key `new`: `previous`
/// (the key block's lineage before) carried on, plus, when `old` is the
/// master key `new` replaces, a link in which `old` endorses `new`. At
/// most [`MAX_LINKS`] links (the oldest dropped).
pub fn lineage(
    vault_id: &VaultId,
    previous: Option<&Lineage>,
    old: Option<&Key>,
    new: &Key,
) -> Lineage {
    let key = lineage_key(new);
    let mut links = previous.map(|l| l.links.clone()).unwrap_or_default();
    if let Some(old) = old {
        let master = master_commitment(new);
        let sig = lineage_signing_key(old)
            .sign(&Lineage::message(vault_id, &key, &master))
            .to_bytes();
        links.push(Link {
            from: lineage_key(old),
            master,
            sig,
        });
    }
    let over = links.len().saturating_sub(MAX_LINKS);
    links.drain(..over);
    Lineage { key, links }
}

/// Whether `header`'s master key descends from the master key whose
/// lineage key is `remembered`: it is that key, or the links from it to
/// the header's lineage key are each signed by the key before (the last
/// one endorsing the header's master-key commitment). Public: needs no
/// key, only the header (whose lineage key the master key itself is
/// checked against when the vault is opened with it).
pub fn descends_from(header: &HeaderV2, remembered: &[u8; LINEAGE_KEY_LEN]) -> bool {
    use ed25519_dalek::{Signature, VerifyingKey};
    let Some(l) = &header.keys.lineage else {
        return false;
    };
    if l.key == *remembered {
        return true;
    }
    let Some(start) = l.links.iter().rposition(|k| k.from == *remembered) else {
        return false;
    };
    let last = l.links.len() - 1;
    l.endorsed().enumerate().skip(start).all(|(i, (link, to))| {
        if i == last && link.master != header.keys.master_commitment {
            return false;
        }
        let Ok(vk) = VerifyingKey::from_bytes(&link.from) else {
            return false;
        };
        let msg = Lineage::message(&header.vault_id, to, &link.master);
        vk.verify_strict(&msg, &Signature::from_bytes(&link.sig))
            .is_ok()
    })
}

/// What a passphrase slot's sealed identity is bound to.
pub struct IdentityBinding<'a> {
    /// The vault.
    pub vault_id: &'a VaultId,
    /// The slot.
    pub slot_id: SlotId,
    /// Argon2id cost.
    pub params: KdfParams,
    /// Argon2id salt.
    pub salt: &'a [u8],
    /// The identity's recipient, as the slot records it.
    pub recipient: &'a str,
}

impl IdentityBinding<'_> {
    fn aad(&self) -> Vec<u8> {
        let mut aad = Vec::with_capacity(IDENTITY_AAD.len() + 16 + 4 + 12 + 65 + 62);
        aad.extend_from_slice(IDENTITY_AAD);
        aad.extend_from_slice(&self.vault_id.0);
        aad.extend_from_slice(&self.slot_id.0);
        aad.extend_from_slice(&self.params.memory_kib.to_be_bytes());
        aad.extend_from_slice(&self.params.time.to_be_bytes());
        aad.extend_from_slice(&self.params.parallelism.to_be_bytes());
        aad.push(self.salt.len() as u8);
        aad.extend_from_slice(self.salt);
        aad.extend_from_slice(self.recipient.as_bytes());
        aad
    }
}

/// An age X25519 identity: its 32-byte secret, in a [`Key`]; never
/// printed. Given to age in age's text form (`AGE-SECRET-KEY-1…`, Bech32),
/// made in a zeroizing buffer for the moment it is parsed.
pub struct X25519Identity(Key);

impl std::fmt::Debug for X25519Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "X25519Identity({})", self.recipient())
    }
}

const SECRET_KEY_HRP: &str = "age-secret-key-";

impl X25519Identity {
    /// A fresh identity from the operating system's random source (any 32
    /// bytes are an X25519 secret: the scalar is clamped where it is used).
    pub fn generate() -> X25519Identity {
        X25519Identity(Key::random())
    }

    /// The identity whose secret is `key` (a keyring entry).
    pub fn from_key(key: Key) -> X25519Identity {
        X25519Identity(key)
    }

    /// The 32-byte secret (what a keyring entry holds).
    pub fn key(&self) -> &Key {
        &self.0
    }

    /// As an age identity.
    pub fn to_age(&self) -> age::x25519::Identity {
        let hrp = bech32::Hrp::parse(SECRET_KEY_HRP).expect("a valid human-readable part");
        // Sized up front (74 characters) so it never reallocates and leaves
        // a partial copy of the secret behind; wiped when dropped. (The
        // encoder's own small stack buffer is the bech32 crate's.)
        let mut text = Zeroizing::new(String::with_capacity(96));
        bech32::encode_upper_to_fmt::<bech32::Bech32, String>(&mut text, hrp, self.0.expose())
            .expect("32 bytes always encode");
        text.parse().expect("age reads the Bech32 it defines")
    }

    /// The recipient (`age1…`).
    pub fn recipient(&self) -> String {
        self.to_age().to_public().to_string()
    }
}

/// Seals `identity` under `kek` (Argon2id of the passphrase).
pub fn seal_identity(
    kek: &Key,
    binding: &IdentityBinding<'_>,
    identity: &X25519Identity,
) -> [u8; SEALED_IDENTITY_LEN] {
    let nonce = random_nonce();
    let wrapped = crypto::wrap_key(kek, &nonce, &binding.aad(), identity.key());
    let mut out = [0u8; SEALED_IDENTITY_LEN];
    out[..NONCE_LEN].copy_from_slice(&nonce);
    out[NONCE_LEN..].copy_from_slice(&wrapped);
    out
}

/// Opens a sealed identity; it must be an X25519 identity whose recipient
/// is the one the slot records.
pub fn open_identity(
    kek: &Key,
    binding: &IdentityBinding<'_>,
    sealed: &[u8; SEALED_IDENTITY_LEN],
) -> Result<X25519Identity, Unauthentic> {
    let nonce: [u8; NONCE_LEN] = sealed[..NONCE_LEN].try_into().map_err(|_| Unauthentic)?;
    let key = crypto::unwrap_key(kek, &nonce, &binding.aad(), &sealed[NONCE_LEN..])?;
    let id = X25519Identity(key);
    if id.recipient() != binding.recipient {
        return Err(Unauthentic);
    }
    Ok(id)
}

/// Why the master key could not be wrapped to a recipient.
#[derive(Debug)]
pub struct WrapFailed(pub String);

/// The master key as a standard age file for `recipient`.
pub fn wrap_master_key(recipient: &dyn age::Recipient, mk: &Key) -> Result<Vec<u8>, WrapFailed> {
    let enc = age::Encryptor::with_recipients(std::iter::once(recipient))
        .map_err(|e| WrapFailed(e.to_string()))?;
    let mut out = Vec::with_capacity(256);
    let mut w = enc
        .wrap_output(&mut out)
        .map_err(|e| WrapFailed(e.to_string()))?;
    w.write_all(mk.expose())
        .and_then(|()| w.finish().map(|_| ()))
        .map_err(|e| WrapFailed(e.to_string()))?;
    Ok(out)
}

/// The master key from a slot's age file, if `identity` opens it. Exactly
/// 32 bytes of payload, or nothing.
pub fn unwrap_master_key(identity: &dyn age::Identity, age_file: &[u8]) -> Option<Key> {
    // `new_buffered`: the plain `new` re-parses the header from its start
    // after every few bytes it reads (callgrind: half a million
    // instructions for one slot, an eighth of a whole `vault get`); a
    // slice is already buffered.
    let dec = age::Decryptor::new_buffered(age_file).ok()?;
    let mut r = dec.decrypt(std::iter::once(identity)).ok()?;
    // One byte more than a key, to see whether there is more.
    let mut buf = Zeroizing::new([0u8; Key::LEN + 1]);
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(_) => return None,
        }
    }
    if n != Key::LEN {
        return None;
    }
    Key::from_slice(&buf[..Key::LEN])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::v2::tests::sample_header_v2;
    use crate::format::v2::SlotKindV2;

    #[test]
    fn fingerprints_depend_on_key_name_and_value_and_separate_them() {
        let k = [1u8; 32];
        let a = fingerprint(&k, "AB", b"c");
        assert_eq!(a, fingerprint(&k, "AB", b"c"));
        // name ‖ 00 ‖ value: moving a byte across the boundary changes it.
        assert_ne!(a, fingerprint(&k, "A", b"Bc"));
        assert_ne!(a, fingerprint(&k, "AB", b"d"));
        assert_ne!(a, fingerprint(&[2u8; 32], "AB", b"c"));
        // Keyed BLAKE2b-256 of exactly those bytes (docs/FORMAT.md).
        let mut m = <Prf as KeyInit>::new_from_slice(&k).unwrap();
        m.update(b"AB\0c");
        assert_eq!(a, <[u8; 32]>::from(m.finalize().into_bytes()));
    }

    #[test]
    fn derivations_are_distinct_and_fixed() {
        let mk = Key::from_slice(&[7; 32]).unwrap();
        let a = master_commitment(&mk);
        let b = body_commitment(&mk);
        let c = derive(&mk, MAC_KEY);
        assert_ne!(a, b);
        assert_ne!(&a, c.expose());
        // Keyed BLAKE2b-256 as RFC 7693 defines it: checked against the
        // blake2 crate's own keyed mode with the label as message.
        let mut m = Prf::new_from_slice(&[7; 32]).unwrap();
        m.update(b"vault master key commitment v2");
        assert_eq!(&a[..], &m.finalize().into_bytes()[..]);
    }

    #[test]
    fn mac_covers_every_field_of_the_key_block() {
        let mk = Key::random();
        let mut h = sample_header_v2();
        h.mac = key_block_mac(&mk, &h.vault_id, &h.keys);
        // The same keyed BLAKE2b-256 as `prf`, the `blake2` crate's, also
        // over a key block with a part longer than the hashing buffer.
        let blake2 = |h: &HeaderV2| {
            let mut m = prf(&derive(&mk, MAC_KEY));
            m.update(&HeaderV2::mac_message(&h.vault_id, &h.keys));
            m.finalize().into_bytes()
        };
        assert_eq!(h.mac[..], blake2(&h)[..]);
        let mut long = h.clone();
        for s in &mut long.keys.slots {
            if let SlotKindV2::Recipient(w) = &mut s.kind {
                w.age.resize(3 * HASHING_BUF + 5, 0x61);
            }
        }
        let mac = key_block_mac(&mk, &long.vault_id, &long.keys);
        assert_eq!(mac[..], blake2(&long)[..]);
        assert_ne!(mac, h.mac);
        assert!(mac_matches(&mk, &h));
        assert!(!mac_matches(&Key::random(), &h));
        let mut other = h.clone();
        other.keys.epoch += 1;
        assert!(!mac_matches(&mk, &other));
        let mut other = h.clone();
        other.keys.slots.pop();
        assert!(!mac_matches(&mk, &other));
        let mut other = h.clone();
        other.keys.slots[0].label = None;
        assert!(!mac_matches(&mk, &other));
        let mut other = h.clone();
        other.vault_id.0[0] ^= 1;
        assert!(!mac_matches(&mk, &other));
        // Generation and nonce are outside the key block: a body-key holder
        // changes them (the body's AEAD covers them).
        let mut other = h.clone();
        other.generation += 1;
        other.body_nonce[0] ^= 1;
        assert!(mac_matches(&mk, &other));
    }

    #[test]
    fn body_key_seals_under_the_master_key_only() {
        let mk = Key::random();
        let bk = Key::random();
        let mut h = sample_header_v2();
        h.keys.body_key = seal_body_key(&mk, &h.vault_id, &bk);
        h.keys.body_commitment = body_commitment(&bk);
        assert!(open_body_key(&mk, &h.vault_id, &h.keys).unwrap().ct_eq(&bk));
        assert!(open_body_key(&Key::random(), &h.vault_id, &h.keys).is_err());
        let mut wrong_id = h.vault_id;
        wrong_id.0[3] ^= 1;
        assert!(open_body_key(&mk, &wrong_id, &h.keys).is_err());
        h.keys.body_commitment[0] ^= 1;
        assert!(open_body_key(&mk, &h.vault_id, &h.keys).is_err());
    }

    #[test]
    fn sealed_identity_is_bound_to_its_slot() {
        let kek = Key::random();
        let id = X25519Identity::generate();
        let recipient = id.recipient();
        let vault_id = VaultId([1; 16]);
        let salt = [2u8; 16];
        let binding = IdentityBinding {
            vault_id: &vault_id,
            slot_id: SlotId([3; 4]),
            params: KdfParams::CHEAPEST,
            salt: &salt,
            recipient: &recipient,
        };
        let sealed = seal_identity(&kek, &binding, &id);
        let back = open_identity(&kek, &binding, &sealed).unwrap();
        assert_eq!(back.recipient(), recipient);
        assert!(back.key().ct_eq(id.key()));
        assert!(open_identity(&Key::random(), &binding, &sealed).is_err());
        let other_slot = IdentityBinding {
            slot_id: SlotId([4; 4]),
            ..binding
        };
        assert!(open_identity(&kek, &other_slot, &sealed).is_err());
        let other = X25519Identity::generate().recipient();
        let other_recipient = IdentityBinding {
            recipient: &other,
            vault_id: &vault_id,
            slot_id: SlotId([3; 4]),
            params: KdfParams::CHEAPEST,
            salt: &salt,
        };
        assert!(open_identity(&kek, &other_recipient, &sealed).is_err());
        assert!(!format!("{id:?}").contains("AGE-SECRET-KEY"));
    }

    #[test]
    fn master_key_round_trips_through_an_age_file() {
        let mk = Key::random();
        let id = X25519Identity::generate();
        let recipient: age::x25519::Recipient = id.recipient().parse().unwrap();
        let file = wrap_master_key(&recipient, &mk).unwrap();
        assert!(file.starts_with(crate::format::v2::AGE_MAGIC));
        let back = unwrap_master_key(&id.to_age(), &file).unwrap();
        assert!(back.ct_eq(&mk));
        assert!(unwrap_master_key(&X25519Identity::generate().to_age(), &file).is_none());
        // A payload that is not exactly a key is refused.
        let long = {
            let enc = age::Encryptor::with_recipients(std::iter::once(&recipient as _)).unwrap();
            let mut out = Vec::new();
            let mut w = enc.wrap_output(&mut out).unwrap();
            w.write_all(&[1; 33]).unwrap();
            w.finish().unwrap();
            out
        };
        assert!(unwrap_master_key(&id.to_age(), &long).is_none());
        let mut broken = file.clone();
        let last = broken.len() - 1;
        broken[last] ^= 1;
        assert!(unwrap_master_key(&id.to_age(), &broken).is_none());
        // age's own text form reads back to the same secret and recipient.
        let age_id = id.to_age();
        assert_eq!(age_id.to_public().to_string(), id.recipient());
    }
}
