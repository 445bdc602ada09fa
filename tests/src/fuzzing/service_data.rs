//! `service_data`: the policy gate's service-data parser ([`applet::gate::service_data`]).

use applet::gate::service_data;

/// Any bytes as a command's data field read by the gate. Property: service data that parses
/// encodes ([`service_data::to_tlv`]) to bytes that parse to the same value, and encoding that value
/// again gives the same bytes; a refusal maps to `6A80` as the gate answers it.
pub fn service_data(data: &[u8]) {
    match service_data::from_tlv(data) {
        Ok(parsed) => {
            let bytes = service_data::to_tlv(&parsed).expect("parsed service data encodes");
            let again = service_data::from_tlv(&bytes).expect("encoded service data parses");
            assert_eq!(again, parsed, "service data changed through TLV: {bytes:02X?}");
            assert_eq!(service_data::to_tlv(&again).expect("encodes"), bytes);
        }
        Err(e) => assert_eq!(e.status_word(), applet::sw::WRONG_DATA, "{e}"),
    }
}
