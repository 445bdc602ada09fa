//! Status words (ISO 7816-4 §5.6, tables 5 and 6) as the card sends them and as the host explains them.
//!
//! The card side uses the constants; the host side (`cardgate sw`, script output, `cardgate apdu`) uses
//! [`meaning`] so that every tool prints the same text for the same status word.

/// A status word: SW1 in the high byte, SW2 in the low byte.
pub type Sw = u16;

/// Normal processing: no further qualification.
pub const OK: Sw = 0x9000;
/// Warning: state of non-volatile memory unchanged, no information given.
pub const WARNING_NO_INFO: Sw = 0x6200;
/// Warning: part of returned data may be corrupted.
pub const DATA_MAY_BE_CORRUPTED: Sw = 0x6281;
/// Warning: end of file or record reached before reading Ne bytes.
pub const END_OF_FILE: Sw = 0x6282;
/// Warning: state of non-volatile memory changed, no information given.
pub const WARNING_NVM_CHANGED: Sw = 0x6300;
/// Execution error: state of non-volatile memory unchanged.
pub const EXECUTION_ERROR: Sw = 0x6400;
/// Execution error: memory failure.
pub const MEMORY_FAILURE: Sw = 0x6581;
/// Wrong length (Lc or Le inconsistent with the command).
pub const WRONG_LENGTH: Sw = 0x6700;
/// Functions in CLA not supported.
pub const CLA_FUNCTION_NOT_SUPPORTED: Sw = 0x6800;
/// Logical channel not supported.
pub const LOGICAL_CHANNEL_NOT_SUPPORTED: Sw = 0x6881;
/// Secure messaging not supported.
pub const SECURE_MESSAGING_NOT_SUPPORTED: Sw = 0x6882;
/// Last command of the chain expected.
pub const LAST_COMMAND_OF_CHAIN_EXPECTED: Sw = 0x6883;
/// Command chaining not supported.
pub const COMMAND_CHAINING_NOT_SUPPORTED: Sw = 0x6884;
/// Command not allowed: no information given.
pub const COMMAND_NOT_ALLOWED: Sw = 0x6900;
/// Command incompatible with file structure.
pub const INCOMPATIBLE_FILE_STRUCTURE: Sw = 0x6981;
/// Security status not satisfied.
pub const SECURITY_STATUS_NOT_SATISFIED: Sw = 0x6982;
/// Authentication method blocked.
pub const AUTH_METHOD_BLOCKED: Sw = 0x6983;
/// Reference data not usable.
pub const REFERENCE_DATA_NOT_USABLE: Sw = 0x6984;
/// Conditions of use not satisfied.
pub const CONDITIONS_NOT_SATISFIED: Sw = 0x6985;
/// Command not allowed (no current EF).
pub const COMMAND_NOT_ALLOWED_NO_EF: Sw = 0x6986;
/// Expected secure messaging data objects missing.
pub const SM_DATA_MISSING: Sw = 0x6987;
/// Incorrect secure messaging data objects.
pub const SM_DATA_INCORRECT: Sw = 0x6988;
/// Wrong parameters P1-P2: no information given.
pub const WRONG_PARAMETERS: Sw = 0x6A00;
/// Incorrect parameters in the command data field.
pub const WRONG_DATA: Sw = 0x6A80;
/// Function not supported.
pub const FUNCTION_NOT_SUPPORTED: Sw = 0x6A81;
/// File or application not found.
pub const FILE_NOT_FOUND: Sw = 0x6A82;
/// Record not found.
pub const RECORD_NOT_FOUND: Sw = 0x6A83;
/// Not enough memory space in the file.
pub const NOT_ENOUGH_MEMORY: Sw = 0x6A84;
/// Nc inconsistent with TLV structure.
pub const NC_INCONSISTENT_WITH_TLV: Sw = 0x6A85;
/// Incorrect parameters P1-P2.
pub const INCORRECT_P1P2: Sw = 0x6A86;
/// Nc inconsistent with parameters P1-P2.
pub const NC_INCONSISTENT_WITH_P1P2: Sw = 0x6A87;
/// Referenced data or reference data not found.
pub const REFERENCED_DATA_NOT_FOUND: Sw = 0x6A88;
/// File already exists.
pub const FILE_ALREADY_EXISTS: Sw = 0x6A89;
/// DF name already exists.
pub const DF_NAME_ALREADY_EXISTS: Sw = 0x6A8A;
/// Wrong parameters P1-P2 (outside the address range).
pub const WRONG_P1P2: Sw = 0x6B00;
/// Instruction code not supported or invalid.
pub const INS_NOT_SUPPORTED: Sw = 0x6D00;
/// Class not supported.
pub const CLA_NOT_SUPPORTED: Sw = 0x6E00;
/// No precise diagnosis.
pub const UNKNOWN: Sw = 0x6F00;

/// The meaning of a status word in one line, for people. Parameterised status words (61xx, 6Cxx,
/// 63Cx) are spelled out with their parameter. Never empty.
pub fn meaning(sw: Sw) -> String {
    let [sw1, sw2] = sw.to_be_bytes();
    match (sw1, sw2) {
        (0x90, 0x00) => "Normal processing".into(),
        (0x61, 0x00) => "Normal processing: 256 or more response bytes still available".into(),
        (0x61, n) => format!("Normal processing: {n} response bytes still available (GET RESPONSE)"),
        (0x6C, 0x00) => "Wrong Le field: 256 bytes available".into(),
        (0x6C, n) => format!("Wrong Le field: {n} bytes available (resend with Le={n:02X})"),
        (0x63, c) if c & 0xF0 == 0xC0 => {
            format!("Verification failed: {} tries left", c & 0x0F)
        }
        (0x62, 0x00) => "Warning: memory unchanged".into(),
        (0x62, 0x02..=0x80) => format!("Warning: memory unchanged, triggering by the card ({sw2:02X})"),
        (0x62, 0x81) => "Warning: part of returned data may be corrupted".into(),
        (0x62, 0x82) => "Warning: end of file or record reached before reading Le bytes".into(),
        (0x62, 0x83) => "Warning: selected file deactivated".into(),
        (0x62, 0x84) => "Warning: file control information not formatted per ISO 7816-4".into(),
        (0x62, 0x85) => "Warning: selected file in termination state".into(),
        (0x62, 0x86) => "Warning: no input data available from a sensor on the card".into(),
        (0x62, 0x87) => "Warning: at least one of the referenced records is deactivated".into(),
        (0x62, _) => "Warning: memory unchanged".into(),
        (0x63, 0x00) => "Warning: memory changed (e.g. verification failed)".into(),
        (0x63, 0x40) => "Warning: memory changed, unsuccessful comparison".into(),
        (0x63, 0x81) => "Warning: file filled up by the last write".into(),
        (0x63, _) => "Warning: memory changed".into(),
        (0x64, 0x00) => "Execution error: memory unchanged".into(),
        (0x64, 0x01) => "Execution error: immediate response required by the card".into(),
        (0x64, 0x02..=0x80) => {
            format!("Execution error: memory unchanged, triggering by the card ({sw2:02X})")
        }
        (0x64, 0x81) => "Execution error: logical channel shared access denied".into(),
        (0x64, 0x82) => "Execution error: logical channel opening denied".into(),
        (0x64, _) => "Execution error: memory unchanged".into(),
        (0x65, 0x81) => "Execution error: memory failure".into(),
        (0x65, _) => "Execution error: memory changed".into(),
        (0x66, _) => "Security-related issue".into(),
        (0x67, 0x00) => "Wrong length".into(),
        (0x68, 0x81) => "Logical channel not supported".into(),
        (0x68, 0x82) => "Secure messaging not supported".into(),
        (0x68, 0x83) => "Last command of the chain expected".into(),
        (0x68, 0x84) => "Command chaining not supported".into(),
        (0x68, _) => "Function in CLA not supported".into(),
        (0x69, 0x81) => "Command incompatible with file structure".into(),
        (0x69, 0x82) => "Security status not satisfied".into(),
        (0x69, 0x83) => "Authentication method blocked".into(),
        (0x69, 0x84) => "Reference data not usable".into(),
        (0x69, 0x85) => "Conditions of use not satisfied".into(),
        (0x69, 0x86) => "Command not allowed (no current EF)".into(),
        (0x69, 0x87) => "Expected secure messaging data objects missing".into(),
        (0x69, 0x88) => "Incorrect secure messaging data objects".into(),
        (0x69, _) => "Command not allowed".into(),
        (0x6A, 0x80) => "Incorrect parameters in the data field".into(),
        (0x6A, 0x81) => "Function not supported".into(),
        (0x6A, 0x82) => "File or application not found".into(),
        (0x6A, 0x83) => "Record not found".into(),
        (0x6A, 0x84) => "Not enough memory space".into(),
        (0x6A, 0x85) => "Nc inconsistent with TLV structure".into(),
        (0x6A, 0x86) => "Incorrect parameters P1-P2".into(),
        (0x6A, 0x87) => "Nc inconsistent with parameters P1-P2".into(),
        (0x6A, 0x88) => "Referenced data not found".into(),
        (0x6A, 0x89) => "File already exists".into(),
        (0x6A, 0x8A) => "DF name already exists".into(),
        (0x6A, _) => "Wrong parameters P1-P2".into(),
        (0x6B, _) => "Wrong parameters P1-P2".into(),
        (0x6D, _) => "Instruction code not supported or invalid".into(),
        (0x6E, _) => "Class not supported".into(),
        (0x6F, _) => "No precise diagnosis".into(),
        // GSM 11.11 §9.4.1: a SIM answers 9Fxx where ISO cards answer 61xx.
        (0x9F, 0x00) => "Application-specific status (GSM SIM: 256 response bytes available)".into(),
        (0x9F, n) => format!("Application-specific status (GSM SIM: {n} response bytes available)"),
        (0x91..=0x9E, _) => "Application-specific status".into(),
        // ISO 7816-3 §10.3.3: 60 is the T=0 NULL procedure byte, never a status word.
        (0x60, _) => "Not a status word (60 is the T=0 NULL procedure byte)".into(),
        _ => "Unknown status word".into(),
    }
}

/// Whether a status word reports success: 9000, or 61xx (success, more data to fetch). Warnings
/// (62xx, 63xx) are not success: the command did not do all that was asked.
pub fn is_success(sw: Sw) -> bool {
    matches!(sw >> 8, 0x90 | 0x61)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameterised_words_name_their_parameter() {
        assert!(meaning(0x6110).contains("16 response bytes"));
        assert!(meaning(0x6C20).contains("Le=20"));
        assert!(meaning(0x63C2).contains("2 tries left"));
        assert!(meaning(0x6210).contains("triggering by the card (10)"));
        assert!(meaning(0x9F17).contains("23 response bytes"));
    }

    #[test]
    fn fixed_words_have_their_iso_text() {
        assert_eq!(meaning(FILE_NOT_FOUND), "File or application not found");
        assert_eq!(meaning(CONDITIONS_NOT_SATISFIED), "Conditions of use not satisfied");
        assert_eq!(meaning(0x1234), "Unknown status word");
        assert_eq!(meaning(0x6285), "Warning: selected file in termination state");
        assert_eq!(meaning(0x6401), "Execution error: immediate response required by the card");
        assert!(meaning(0x6000).contains("procedure byte"));
    }

    #[test]
    fn success_is_9000_and_61xx_only() {
        assert!(is_success(OK));
        assert!(is_success(0x6100));
        assert!(!is_success(WRONG_LENGTH));
        assert!(!is_success(0x63C1));
    }
}
