//! Signing keys parsed once and kept in the card's RAM, so that a signature does not parse its
//! PKCS #8 key again.
//!
//! Parsing a P-256 key (`EcdsaKeyPair::from_pkcs8`) runs aws-lc's key check, a pairwise
//! consistency test with a scalar multiplication, and derives the public point: measured, that is
//! 0.6x the cost of the signature itself, paid on every GENERATE PAYMENT CODE
//! (`BENCHMARKS.md`, "Card runtime"). The cache holds the parsed pair beside a copy of the PKCS #8
//! bytes it came from, and uses it only while the key's object still holds exactly those bytes: a
//! key replaced, removed or rolled back by an aborted transaction is parsed anew, whatever path
//! changed it.
//!
//! What is cached never leaves the card: it is not persistent (not in the store, not in the state
//! file), it is dropped at power-off and reset like `CLEAR_ON_RESET` memory, the PKCS #8 copy is
//! zeroised when dropped (`Zeroizing`), and so is the parsed key (aws-lc's `OPENSSL_free` cleanses
//! every allocation it frees, `crypto/mem.c`).

use aws_lc_rs::error::KeyRejected;
use aws_lc_rs::signature::{EcdsaKeyPair, EcdsaSigningAlgorithm};
use zeroize::Zeroizing;

/// Most keys one applet instance keeps parsed; the oldest goes first.
const CAPACITY: usize = 4;

struct Entry {
    /// The applet's object id.
    id: u16,
    alg: &'static EcdsaSigningAlgorithm,
    /// The bytes the pair was parsed from.
    pkcs8: Zeroizing<Vec<u8>>,
    pair: EcdsaKeyPair,
}

/// One applet instance's parsed keys (volatile).
#[derive(Default)]
pub(crate) struct KeyCache {
    entries: Vec<Entry>,
}

impl KeyCache {
    /// The key pair of object `id`, whose current bytes are `pkcs8`, for `alg`: the cached one if
    /// it was parsed from these very bytes, else parsed now (and cached).
    pub(crate) fn p256_pair(
        &mut self,
        id: u16,
        alg: &'static EcdsaSigningAlgorithm,
        pkcs8: &[u8],
    ) -> Result<&EcdsaKeyPair, KeyRejected> {
        let found = self.entries.iter().position(|e| e.id == id && std::ptr::eq(e.alg, alg));
        if let Some(i) = found {
            // Both sides are the card's own copies of its key: no attacker-chosen input to time.
            if self.entries[i].pkcs8.as_slice() == pkcs8 {
                return Ok(&self.entries[i].pair);
            }
            self.entries.remove(i);
        }
        let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8)?;
        if self.entries.len() >= CAPACITY {
            self.entries.remove(0);
        }
        self.entries.push(Entry { id, alg, pkcs8: Zeroizing::new(pkcs8.to_vec()), pair });
        let last = self.entries.len() - 1;
        Ok(&self.entries[last].pair)
    }

    /// Forgets every key (power-off, reset).
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }

    /// How many keys are parsed (for tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P256_SHA256_FIXED_SIGNING, KeyPair};

    use super::*;

    fn pkcs8() -> Vec<u8> {
        EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .unwrap()
            .to_pkcs8v1()
            .unwrap()
            .as_ref()
            .to_vec()
    }

    fn public(cache: &mut KeyCache, id: u16, bytes: &[u8]) -> Vec<u8> {
        cache.p256_pair(id, &ECDSA_P256_SHA256_FIXED_SIGNING, bytes).unwrap().public_key().as_ref().to_vec()
    }

    #[test]
    fn a_key_whose_bytes_changed_is_parsed_again() {
        let (a, b) = (pkcs8(), pkcs8());
        let mut cache = KeyCache::default();
        let pa = public(&mut cache, 1, &a);
        assert_eq!(public(&mut cache, 1, &a), pa);
        assert_eq!(cache.len(), 1);
        // The object now holds another key (replaced, or rolled back): the other key signs.
        let pb = public(&mut cache, 1, &b);
        assert_ne!(pb, pa);
        assert_eq!(cache.len(), 1);
        assert_eq!(public(&mut cache, 1, &a), pa);
    }

    #[test]
    fn objects_and_formats_are_kept_apart_and_the_cache_is_bounded() {
        let keys: Vec<Vec<u8>> = (0..CAPACITY + 2).map(|_| pkcs8()).collect();
        let mut cache = KeyCache::default();
        let publics: Vec<Vec<u8>> =
            keys.iter().enumerate().map(|(i, k)| public(&mut cache, i as u16, k)).collect();
        assert_eq!(cache.len(), CAPACITY);
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(public(&mut cache, i as u16, k), publics[i]);
        }
        let der = cache.p256_pair(0, &ECDSA_P256_SHA256_ASN1_SIGNING, &keys[0]).unwrap();
        assert_eq!(der.public_key().as_ref(), publics[0].as_slice());
        assert!(cache.p256_pair(9, &ECDSA_P256_SHA256_FIXED_SIGNING, b"not a key").is_err());
        cache.clear();
        assert_eq!(cache.len(), 0);
    }
}
