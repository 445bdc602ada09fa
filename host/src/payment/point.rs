//! P-256 public keys that travel compressed (the card key in a token, the ephemeral key of the
//! encrypted identity: SEC 1 §2.3.3, 33 bytes, to keep the QR code small) are decompressed here
//! before aws-lc-rs uses them.
//!
//! aws-lc-rs accepts compressed keys itself, but recovers y with its generic bignum modular square
//! root: ~66 µs per key measured, against ~3 µs to parse the uncompressed form, on a payment that
//! costs two verifications and one ECDH (~250 µs). The `p256` crate's field square root is the
//! fixed addition chain for the P-256 prime. Only public values pass through here; aws-lc-rs still
//! checks the uncompressed point it receives is on the curve.

use p256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};

/// The uncompressed form (`04 ‖ x ‖ y`, SEC 1 §2.3.3) of a compressed P-256 point, or `None` when the
/// 33 bytes are not a compressed point on the curve (SEC 1 §2.3.4: no y for that x, x not below p,
/// or a first byte other than 02 or 03).
pub fn decompress(compressed: &[u8; 33]) -> Option<[u8; 65]> {
    if !matches!(compressed[0], 0x02 | 0x03) {
        return None;
    }
    let encoded = p256::EncodedPoint::from_bytes(compressed).ok()?;
    let point = Option::<p256::AffinePoint>::from(p256::AffinePoint::from_encoded_point(&encoded))?;
    point.to_encoded_point(false).as_bytes().try_into().ok()
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::encoding::{AsBigEndian, EcPublicKeyCompressedBin};
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};

    use super::*;

    #[test]
    fn decompression_gives_the_key_aws_lc_has_uncompressed() {
        for _ in 0..64 {
            let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
            let compressed: EcPublicKeyCompressedBin = key.public_key().as_be_bytes().unwrap();
            let compressed: [u8; 33] = compressed.as_ref().try_into().unwrap();
            assert_eq!(decompress(&compressed).unwrap().as_slice(), key.public_key().as_ref());
        }
    }

    #[test]
    fn what_is_not_a_compressed_point_on_the_curve_is_refused() {
        let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let compressed: EcPublicKeyCompressedBin = key.public_key().as_be_bytes().unwrap();
        let good: [u8; 33] = compressed.as_ref().try_into().unwrap();
        for prefix in [0x00, 0x01, 0x04, 0x05, 0xFF] {
            let mut bad = good;
            bad[0] = prefix;
            assert_eq!(decompress(&bad), None, "prefix {prefix:02X}");
        }
        // x = p (not a field element) and x = all ones (above p).
        let mut p = [0xFFu8; 33];
        p[0] = 0x02;
        p[1..].copy_from_slice(
            &hex::decode("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff").unwrap(),
        );
        assert_eq!(decompress(&p), None);
        let mut above = [0xFFu8; 33];
        above[0] = 0x03;
        assert_eq!(decompress(&above), None);
        // About half of all x have no point: some x in a small range must be refused, the others
        // must come back with the parity the prefix asks for.
        let (mut refused, mut found) = (0, 0);
        for x in 0..64u8 {
            let mut c = [0u8; 33];
            c[0] = 0x02 | (x & 1);
            c[32] = x;
            match decompress(&c) {
                None => refused += 1,
                Some(u) => {
                    found += 1;
                    assert_eq!(&u[1..33], &c[1..]);
                    assert_eq!(u[64] & 1, x & 1, "y parity follows the prefix");
                }
            }
        }
        assert!(refused > 8 && found > 8, "{refused} refused, {found} found");
    }
}
