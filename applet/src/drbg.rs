//! Deterministic randomness for **insecure test cards** (`cardgate card init --insecure-seed HEX`):
//! HMAC_DRBG with HMAC-SHA-256 (NIST SP 800-90A Rev. 1 §10.1.2, over aws-lc-rs' HMAC), seeded once
//! from the given seed, its state kept in the card state so the sequence goes on across sessions
//! exactly as it would have in one.
//!
//! Two cards made with one seed draw the same random numbers and generate the same keys, command
//! for command; that is what lets a recorded issuance replay on a fresh card with the same result
//! (`docs/runtime.md`, "Insecure test cards"). It is the idea of jCardSim's `PRESEEDED_DRBG` and of
//! trussed's virtual platform. Anyone who knows the seed knows every key such a card makes: never
//! personalize one for real use. A card made without a seed has no DRBG object and draws from the
//! operating system's generator through aws-lc, as before.
//!
//! What stays random on a seeded card: ECDSA signature nonces. aws-lc-rs signs with AWS-LC's own
//! nonce generation and takes no caller randomness (`EcdsaKeyPair::sign` ignores its `rng`), so two
//! seeded cards sign the same message with different (equally valid) signatures.

use aws_lc_rs::hmac;
use zeroize::{Zeroize, Zeroizing};

use crate::runtime::Card;
use crate::store::{ObjectKey, SYSTEM, StoreError};

/// The runtime object (owner [`SYSTEM`]) holding the DRBG state of a seeded card. Its presence is
/// what makes a card an insecure test card.
pub const STATE_OBJECT: ObjectKey = ObjectKey { owner: SYSTEM, id: 0x0200 };

/// Personalization string (SP 800-90A §8.7.1): separates this use of a seed from any other.
pub const PERSONALIZATION: &[u8] = b"cardgate insecure test card DRBG v1";

/// The longest seed `--insecure-seed` takes, in bytes.
pub const MAX_SEED: usize = 64;

/// SP 800-90A Table 2: at most 2^19 bits per request.
pub const MAX_REQUEST: usize = (1 << 19) / 8;

/// SP 800-90A Table 2: reseed_interval 2^48. A test card never gets there; past it, `generate`
/// refuses rather than reseed (there is no entropy source to reseed from).
const RESEED_INTERVAL: u64 = 1 << 48;

/// Version byte of the serialized state.
const STATE_VERSION: u8 = 1;
/// Serialized size: version, K, V, reseed counter.
pub const STATE_LEN: usize = 1 + 32 + 32 + 8;

/// Why the DRBG cannot serve a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DrbgError {
    /// More than [`MAX_REQUEST`] bytes asked for at once.
    #[error("a DRBG request is at most {MAX_REQUEST} bytes")]
    TooLong,
    /// The reseed interval is exhausted.
    #[error("the DRBG needs a reseed, which a test card cannot do")]
    Exhausted,
    /// The stored state is not one this build writes.
    #[error("the stored DRBG state is malformed")]
    Malformed,
}

/// HMAC_DRBG (SHA-256) working state (SP 800-90A §10.1.2.1): key K, value V, reseed counter.
/// Zeroised when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct HmacDrbg {
    k: [u8; 32],
    v: [u8; 32],
    reseed_counter: u64,
}

impl std::fmt::Debug for HmacDrbg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The state is as secret as the keys it will make.
        f.debug_struct("HmacDrbg").field("reseed_counter", &self.reseed_counter).finish_non_exhaustive()
    }
}

impl Drop for HmacDrbg {
    fn drop(&mut self) {
        self.k.zeroize();
        self.v.zeroize();
    }
}

fn hmac_into(key: &[u8; 32], parts: &[&[u8]], out: &mut [u8; 32]) {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&key);
    for p in parts {
        ctx.update(p);
    }
    out.copy_from_slice(ctx.sign().as_ref());
}

impl HmacDrbg {
    /// HMAC_DRBG_Instantiate_algorithm (SP 800-90A §10.1.2.3): seed_material = entropy_input ||
    /// nonce || personalization_string.
    pub fn instantiate(entropy: &[u8], nonce: &[u8], personalization: &[u8]) -> HmacDrbg {
        let mut drbg = HmacDrbg { k: [0; 32], v: [1; 32], reseed_counter: 1 };
        drbg.update(&[entropy, nonce, personalization]);
        drbg
    }

    /// The DRBG of a card seeded with `seed`.
    pub fn for_seed(seed: &[u8]) -> HmacDrbg {
        HmacDrbg::instantiate(seed, &[], PERSONALIZATION)
    }

    /// HMAC_DRBG_Update (SP 800-90A §10.1.2.2), `provided_data` given as its parts.
    fn update(&mut self, provided: &[&[u8]]) {
        let empty = provided.iter().all(|p| p.is_empty());
        for round in [0x00u8, 0x01] {
            // K = HMAC(K, V || round || provided_data); V = HMAC(K, V).
            let round = [round];
            let mut parts: Vec<&[u8]> = Vec::with_capacity(2 + provided.len());
            parts.push(&self.v);
            parts.push(&round);
            parts.extend_from_slice(provided);
            let mut k = Zeroizing::new([0u8; 32]);
            hmac_into(&self.k, &parts, &mut k);
            self.k = *k;
            let mut v = Zeroizing::new([0u8; 32]);
            hmac_into(&self.k, &[&self.v], &mut v);
            self.v = *v;
            if empty {
                return;
            }
        }
    }

    /// HMAC_DRBG_Generate_algorithm (SP 800-90A §10.1.2.5) without additional input: fills `out`.
    pub fn generate(&mut self, out: &mut [u8]) -> Result<(), DrbgError> {
        if out.len() > MAX_REQUEST {
            return Err(DrbgError::TooLong);
        }
        if self.reseed_counter > RESEED_INTERVAL {
            return Err(DrbgError::Exhausted);
        }
        for chunk in out.chunks_mut(32) {
            let mut v = Zeroizing::new([0u8; 32]);
            hmac_into(&self.k, &[&self.v], &mut v);
            self.v = *v;
            chunk.copy_from_slice(&self.v[..chunk.len()]);
        }
        self.update(&[]);
        self.reseed_counter += 1;
        Ok(())
    }

    /// The state as stored in the card: version, K, V, reseed counter (big-endian).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(STATE_LEN));
        out.push(STATE_VERSION);
        out.extend_from_slice(&self.k);
        out.extend_from_slice(&self.v);
        out.extend_from_slice(&self.reseed_counter.to_be_bytes());
        out
    }

    /// The state from [`to_bytes`](HmacDrbg::to_bytes).
    pub fn from_bytes(bytes: &[u8]) -> Result<HmacDrbg, DrbgError> {
        if bytes.len() != STATE_LEN || bytes[0] != STATE_VERSION {
            return Err(DrbgError::Malformed);
        }
        let mut drbg = HmacDrbg { k: [0; 32], v: [0; 32], reseed_counter: 0 };
        drbg.k.copy_from_slice(&bytes[1..33]);
        drbg.v.copy_from_slice(&bytes[33..65]);
        let mut counter = [0u8; 8];
        counter.copy_from_slice(&bytes[65..73]);
        drbg.reseed_counter = u64::from_be_bytes(counter);
        if drbg.reseed_counter == 0 {
            return Err(DrbgError::Malformed);
        }
        Ok(drbg)
    }
}

/// The order n of P-256 minus 2 (FIPS 186-5 §A.2.2 draws c ≤ n − 2, then d = c + 1).
const P256_N_MINUS_2: [u8; 32] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xBC,
    0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x4F,
];

/// A P-256 private scalar from the DRBG by rejection sampling (FIPS 186-5 §A.2.2): draw 32 bytes c
/// until c ≤ n − 2, then d = c + 1, so 1 ≤ d ≤ n − 1. Big-endian, 32 bytes.
pub fn p256_scalar(drbg: &mut HmacDrbg) -> Result<Zeroizing<[u8; 32]>, DrbgError> {
    scalar_from(|c| drbg.generate(c))
}

fn scalar_from(
    mut draw: impl FnMut(&mut [u8; 32]) -> Result<(), DrbgError>,
) -> Result<Zeroizing<[u8; 32]>, DrbgError> {
    let mut c = Zeroizing::new([0u8; 32]);
    loop {
        draw(&mut c)?;
        // Big-endian numbers of equal length compare as byte arrays do.
        if *c <= P256_N_MINUS_2 {
            break;
        }
    }
    // d = c + 1, with carry; c ≤ n − 2 cannot overflow.
    for byte in c.iter_mut().rev() {
        let (sum, carry) = byte.overflowing_add(1);
        *byte = sum;
        if !carry {
            break;
        }
    }
    Ok(c)
}

impl Card {
    /// Makes this card an insecure test card: from now on every random number and key it makes
    /// comes from an HMAC_DRBG seeded with `seed` (see the module documentation), and the state
    /// file keeps the DRBG's state (runtime object [`STATE_OBJECT`], secret, counted against the
    /// quota). Call it on a new card before installing applets, so that whatever they draw while
    /// installing comes from the DRBG too.
    pub fn make_insecure_test_card(&mut self, seed: &[u8]) -> Result<(), StoreError> {
        self.store.write(STATE_OBJECT, &HmacDrbg::for_seed(seed).to_bytes(), true)
    }

    /// Whether this card draws its randomness from a seeded DRBG (an insecure test card).
    pub fn is_insecure_test_card(&self) -> bool {
        self.store.read(STATE_OBJECT).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::applet::{Applet, AppletClass, Catalog, Context};
    use crate::runtime::CardConfig;
    use crate::sw::{self, Sw};
    use crate::{Aid, Command};

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// Draws through the applet API: `80 01 00 00 Le` random bytes, `80 02` a P-256 key (public
    /// key back), `80 03` a signature with it.
    struct Draw;

    impl Applet for Draw {
        fn process(
            &mut self,
            ctx: &mut Context<'_>,
            cmd: &Command<'_>,
            reply: &mut Vec<u8>,
        ) -> Result<(), Sw> {
            match cmd.ins() {
                0x01 => {
                    let mut buf = [0u8; 16];
                    ctx.random(&mut buf)?;
                    reply.extend_from_slice(&buf);
                    Ok(())
                }
                0x02 => {
                    // In a transaction that is then aborted: the DRBG must move on regardless.
                    ctx.begin_transaction()?;
                    let public = ctx.generate_p256(1)?;
                    ctx.abort_transaction()?;
                    reply.extend_from_slice(&public);
                    Ok(())
                }
                0x03 => {
                    let public = ctx.generate_p256(1)?;
                    let sig = ctx.sign_p256(1, b"message", crate::EcdsaFormat::Fixed)?;
                    reply.extend_from_slice(&public);
                    reply.extend_from_slice(&sig);
                    Ok(())
                }
                _ => Err(sw::INS_NOT_SUPPORTED),
            }
        }
    }

    const DRAW: AppletClass = AppletClass { name: "draw", about: "test", create: || Box::new(Draw) };

    fn card(seed: Option<&[u8]>) -> Card {
        let mut card = Card::new(CardConfig::default(), Catalog::new().with(DRAW)).unwrap();
        if let Some(seed) = seed {
            card.make_insecure_test_card(seed).unwrap();
        }
        let aid = Aid::new(&[0xF0, 0, 0, 0, 0x99]).unwrap();
        card.install("draw", aid, &[]).unwrap();
        card.set_default_applet(Some(aid)).unwrap();
        card
    }

    /// Random bytes, then a key made in an aborted transaction, then random bytes again.
    fn session(card: &mut Card) -> Vec<Vec<u8>> {
        [&[0x80, 0x01, 0, 0, 16][..], &[0x80, 0x02, 0, 0, 0], &[0x80, 0x01, 0, 0, 16]]
            .iter()
            .map(|c| {
                let r = card.process(c);
                assert_eq!(r[r.len() - 2..], [0x90, 0x00]);
                r
            })
            .collect()
    }

    #[test]
    fn cards_with_one_seed_draw_the_same_randoms_and_keys() {
        let (mut a, mut b) = (card(Some(b"seed S")), card(Some(b"seed S")));
        assert!(a.is_insecure_test_card());
        let sa = session(&mut a);
        assert_eq!(sa, session(&mut b));
        assert_ne!(sa[0], sa[2], "the aborted transaction did not rewind the generator");
        // A saved and reloaded card goes on with the same sequence as one kept in memory.
        let mut reloaded = Card::from_state_bytes(&a.to_state_bytes(), Catalog::new().with(DRAW)).unwrap();
        assert!(reloaded.is_insecure_test_card());
        assert_eq!(session(&mut reloaded), session(&mut b));
        // Keys agree; ECDSA nonces are AWS-LC's own, so signatures differ but both verify.
        let (ra, rb) = (reloaded.process(&[0x80, 0x03, 0, 0, 0]), b.process(&[0x80, 0x03, 0, 0, 0]));
        assert_eq!(ra[..65], rb[..65]);
        for r in [&ra, &rb] {
            let key = aws_lc_rs::signature::UnparsedPublicKey::new(
                &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
                &r[..65],
            );
            key.verify(b"message", &r[65..r.len() - 2]).unwrap();
        }
    }

    #[test]
    fn other_seeds_and_unseeded_cards_draw_differently() {
        let s = session(&mut card(Some(b"seed S")));
        let t = session(&mut card(Some(b"seed T")));
        assert!(s.iter().zip(&t).all(|(x, y)| x != y), "another seed, other randoms and keys");
        let (u1, u2) = (session(&mut card(None)), session(&mut card(None)));
        assert!(!card(None).is_insecure_test_card());
        assert!(u1.iter().zip(&u2).all(|(x, y)| x != y), "an unseeded card differs from run to run");
        assert!(u1.iter().zip(&s).all(|(x, y)| x != y));
    }

    /// NIST CAVP HMAC_DRBG.rsp, [SHA-256], no prediction resistance, no reseed, no personalization
    /// or additional input, ReturnedBitsLen 1024, COUNT = 0: two Generate calls, the second's output
    /// is ReturnedBits.
    #[test]
    fn nist_cavp_sha256_count_0() {
        let mut drbg = HmacDrbg::instantiate(
            &h("ca851911349384bffe89de1cbdc46e6831e44d34a4fb935ee285dd14b71a7488"),
            &h("659ba96c601dc69fc902940805ec0ca8"),
            &[],
        );
        // The working state after instantiation, as the vector file lists it.
        assert_eq!(hex::encode(drbg.k), "302a4aba78412ab36940f4be7b940a0c728542b8b81d95b801a57b3797f9dd6e");
        assert_eq!(hex::encode(drbg.v), "e75855f93b971ac468d200992e211960202d53cf08852ef86772d6490bfb53f9");
        let mut out = [0u8; 128];
        drbg.generate(&mut out).unwrap();
        drbg.generate(&mut out).unwrap();
        assert_eq!(
            hex::encode(out),
            "e528e9abf2dece54d47c7e75e5fe302149f817ea9fb4bee6f4199697d04d5b89\
             d54fbb978a15b5c443c9ec21036d2460b6f73ebad0dc2aba6e624abf07745bc1\
             07694bb7547bb0995f70de25d6b29e2d3011bb19d27676c07162c8b5ccde0668\
             961df86803482cb37ed6d5c0bb8d50cf1f50d476aa0458bdaba806f48be9dcb8"
        );
    }

    #[test]
    fn the_stored_state_continues_the_same_sequence() {
        let mut a = HmacDrbg::for_seed(b"seed");
        let mut first = [0u8; 40];
        a.generate(&mut first).unwrap();
        let mut b = HmacDrbg::from_bytes(&a.to_bytes()).unwrap();
        let (mut x, mut y) = ([0u8; 40], [0u8; 40]);
        a.generate(&mut x).unwrap();
        b.generate(&mut y).unwrap();
        assert_eq!(x, y, "a reloaded state goes on where it stopped");
        assert_ne!(first, x, "and does not repeat itself");
        assert_eq!(HmacDrbg::from_bytes(&[0u8; 3]), Err(DrbgError::Malformed));
        let mut wrong_version = a.to_bytes().to_vec();
        wrong_version[0] = 2;
        assert_eq!(HmacDrbg::from_bytes(&wrong_version), Err(DrbgError::Malformed));
    }

    #[test]
    fn seeds_and_personalization_separate_sequences() {
        let draw = |mut d: HmacDrbg| {
            let mut out = [0u8; 32];
            d.generate(&mut out).unwrap();
            out
        };
        assert_eq!(draw(HmacDrbg::for_seed(b"S")), draw(HmacDrbg::for_seed(b"S")));
        assert_ne!(draw(HmacDrbg::for_seed(b"S")), draw(HmacDrbg::for_seed(b"T")));
        assert_ne!(draw(HmacDrbg::for_seed(b"S")), draw(HmacDrbg::instantiate(b"S", &[], &[])));
        let mut d = HmacDrbg::for_seed(b"S");
        assert_eq!(d.generate(&mut vec![0u8; MAX_REQUEST + 1]), Err(DrbgError::TooLong));
    }

    #[test]
    fn scalars_above_the_order_are_drawn_again() {
        // n − 1 and above are rejected; n − 2 becomes d = n − 1; 0 becomes 1; a carry propagates.
        let mut n_minus_1 = P256_N_MINUS_2;
        n_minus_1[31] += 1;
        let mut draws = vec![[0xFF; 32], n_minus_1, P256_N_MINUS_2].into_iter();
        let d = scalar_from(|c| {
            *c = draws.next().unwrap();
            Ok(())
        })
        .unwrap();
        assert_eq!(*d, n_minus_1, "two draws rejected, the third kept and incremented");
        assert_eq!(draws.len(), 0);
        let d = scalar_from(|c| {
            *c = [0; 32];
            Ok(())
        })
        .unwrap();
        assert_eq!(d[31], 1);
        let mut carry = [0u8; 32];
        carry[30] = 0x01;
        carry[31] = 0xFF;
        let d = scalar_from(|c| {
            *c = carry;
            Ok(())
        })
        .unwrap();
        assert_eq!(d[30..], [0x02, 0x00]);
    }
}
