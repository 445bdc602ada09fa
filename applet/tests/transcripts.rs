//! APDU transcripts: command and expected response in hex, one reason each, on a fresh card with
//! the diagnostic applet (default), two probe applets and the tripwire (see `common`).

// Test helpers: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use applet::apdu::MAX_COMMAND_DATA;
use applet::sw;
use common::*;

#[test]
fn apdu_cases_short_and_extended() {
    let mut card = card();
    run(
        &mut card,
        &[
            ("80100000", "9000", "case 1: ECHO of nothing"),
            ("8012000400", "00010203 9000", "case 2S: ANSWER 4 bytes, Le=00 (up to 256)"),
            ("8010000002CAFE", "6102", "case 3S: data but no Le, so the 2 bytes wait for GET RESPONSE"),
            ("00C0000002", "CAFE 9000", "GET RESPONSE returns them"),
            ("8010000002CAFE00", "CAFE 9000", "case 4S"),
            ("80100000 000003 010203", "6103", "case 3E"),
            ("80100000 000003 010203 0000", "010203 9000", "case 4E, Le=0000 (up to 65536)"),
            ("80120003 000003", "000102 9000", "case 2E with an exact Le"),
        ],
    );
}

#[test]
fn largest_short_and_extended_commands_work() {
    let mut card = card();
    // 5 + 255 + 1 = 261 bytes: the case 4S command jCardSim cannot take (its PR #157).
    let mut cmd = h("80100000FF");
    cmd.extend((0..255).map(|i| i as u8));
    cmd.push(0x00);
    let r = card.process(&cmd);
    assert_eq!(r.len(), 257);
    assert_eq!(&r[..255], &cmd[5..260]);
    assert_eq!(sw_of(&r), sw::OK);
    // Case 4E with 65535 bytes of data and Le=0000: all of it comes back in one response.
    let mut cmd = h("80100000 00FFFF");
    cmd.extend((0..65_535).map(|i| (i % 251) as u8));
    cmd.extend([0, 0]);
    let r = card.process(&cmd);
    assert_eq!(r.len(), 65_537);
    assert_eq!(&r[..65_535], &cmd[7..65_542]);
    // ANSWER 0xFFFF bytes with an extended Le: the largest response the diag applet makes.
    let r = card.process(&h("8012FFFF 000000"));
    assert_eq!(r.len(), 65_537);
    assert_eq!(sw_of(&r), sw::OK);
    assert_eq!(r[65_534], (65_534 % 256) as u8);
}

#[test]
fn malformed_and_unsupported_commands_get_their_status_words() {
    let mut card = card();
    run(
        &mut card,
        &[
            ("", "6700", "empty"),
            ("8010", "6700", "no P1 P2"),
            ("80100000 05 0102", "6700", "Lc says 5, 2 bytes follow"),
            ("80100000 0000", "6700", "extended marker without lengths"),
            ("80100000 0000 02 A0", "6700", "extended Lc that does not match"),
            ("FF100000", "6E00", "CLA FF is reserved for PPS"),
            ("20100000", "6E00", "CLA 20-3F is reserved"),
            ("00100000", "6E00", "ECHO exists only in the proprietary class"),
            ("802C0000", "6E00", "RESET RETRY COUNTER exists only in the interindustry class"),
            ("80EE0000", "6D00", "an instruction the applet does not have"),
            ("80600000", "6D00", "6X is a T=0 procedure byte, never an instruction"),
            ("80900000", "6D00", "9X likewise"),
            ("80100100", "6A86", "ECHO with P1 P2 other than 0000"),
            ("80308000", "6B00", "ALLOCATE beyond 7FFF: P1 P2 out of range"),
            ("00A4040011 A0000000000000000000000000000000 00", "6A80", "a DF name longer than 16 bytes"),
            ("00A4040410 A0000000000000000000000000000000", "6A86", "SELECT asking for FCP: not supported"),
            ("00A4041005 F043415244", "6A86", "SELECT with reserved P2 bits"),
            ("0C100000", "6882", "secure messaging bits: diag does not do secure messaging"),
            ("84100000", "6882", "diag refuses secure messaging"),
            ("80100000 01 AA 00", "AA 9000", "the card still answers normally"),
        ],
    );
}

#[test]
fn select_by_df_name_full_partial_first_next_last_previous() {
    let mut card = card();
    let probe1_fci = "6F08 8406A00000099901";
    let probe2_fci = "6F08 8406A00000099902";
    run(
        &mut card,
        &[
            ("80010000", "6D00", "the default applet (diag) does not know the probe's WHO"),
            (
                &format!("00A404000A {DIAG} 00"),
                &format!("{DIAG_FCI} 9000"),
                "full AID: FCI with the AID and label",
            ),
            (&format!("00A404000A {DIAG}"), "611F", "case 3 SELECT: the 31-byte FCI waits for GET RESPONSE"),
            ("00C000001F", &format!("{DIAG_FCI} 9000"), "GET RESPONSE brings it"),
            (&format!("00A4040C0A {DIAG}"), "9000", "P2=0C: no FCI"),
            ("00A4040005 A000000999 00", &format!("{probe1_fci} 9000"), "partial name: first match"),
            ("8001000000", "A00000099901 00 9000", "WHO: probe 1 on channel 0"),
            ("00A4040205 A000000999 00", &format!("{probe2_fci} 9000"), "P2=02: next occurrence"),
            ("00A4040205 A000000999 00", "6A82", "no occurrence after probe 2"),
            ("8001000000", "A00000099902 00 9000", "a failed SELECT keeps the previous applet"),
            ("00A4040305 A000000999 00", &format!("{probe1_fci} 9000"), "P2=03: previous occurrence"),
            ("00A4040305 A000000999 00", "6A82", "nothing before probe 1"),
            ("00A4040105 A000000999 00", &format!("{probe2_fci} 9000"), "P2=01: last occurrence"),
            ("00A4040005 A000000998 00", "6A82", "unknown AID"),
            ("8001000000", "A00000099902 00 9000", "probe 2 still selected"),
            ("00A4040006 A00000099901 00", &format!("{probe1_fci} 9000"), "full AID"),
            ("00A4040006 A00000099901 00", &format!("{probe1_fci} 9000"), "re-selecting is allowed"),
            ("00A4000C02 3F00", "6D00", "SELECT by file id goes to the selected applet"),
        ],
    );
}

#[test]
fn an_exact_match_wins_over_an_earlier_partial_one() {
    let mut card = applet::Card::new(applet::CardConfig::default(), catalog()).unwrap();
    card.install("probe", aid("A0000009990101"), &[]).unwrap();
    card.install("probe", aid(PROBE1), &[]).unwrap();
    run(
        &mut card,
        &[
            ("00A4040006 A00000099901 00", "6F08 8406A00000099901 9000", "exact AID, installed second"),
            (
                "00A4040005 A000000999 00",
                "6F09 8407A0000009990101 9000",
                "partial: the first in registry order",
            ),
            ("00A4040002 A001", "6A82", "no match"),
            ("8001000000", "A0000009990101 00 9000", "the applet selected before stays selected"),
        ],
    );
}

#[test]
fn nothing_selected_and_default_applet_after_reset() {
    let mut card = applet::Card::new(applet::CardConfig::default(), catalog()).unwrap();
    card.install("diag", aid(DIAG), &[]).unwrap();
    run(
        &mut card,
        &[
            ("80100000 01 AA 00", "6986", "no default applet: nothing to process the command"),
            ("00A4000C02 3F00", "6A82", "SELECT by file id with no applet: not found"),
        ],
    );
    card.set_default_applet(Some(aid(DIAG))).unwrap();
    card.reset();
    run(&mut card, &[("80100000 01 AA 00", "AA 9000", "after reset the default applet is selected")]);
    run(&mut card, &[(&format!("00A4040006 {PROBE1} 00"), "6A82", "not installed")]);
}

#[test]
fn deselect_runs_on_another_select_but_not_on_reset() {
    let mut card = card();
    run(
        &mut card,
        &[
            (&format!("00A4040C06 {PROBE1}"), "9000", "select probe 1"),
            ("800E000000", "00 9000", "never deselected yet"),
            (&format!("00A4040C06 {PROBE1}"), "9000", "re-select: no deselect"),
            (&format!("00A4040C0A {DIAG}"), "9000", "select diag: probe 1 is deselected"),
            (&format!("00A4040C06 {PROBE1}"), "9000", ""),
            ("800E000000", "01 9000", "one deselect"),
        ],
    );
    card.reset();
    run(
        &mut card,
        &[
            (&format!("00A4040C06 {PROBE1}"), "9000", "after reset"),
            ("800E000000", "01 9000", "reset does not call deselect (JCRE 3.0.5 §3.6)"),
        ],
    );
}

#[test]
fn an_applet_that_refuses_selection_leaves_the_channel_empty() {
    let mut card = card();
    run(
        &mut card,
        &[
            (&format!("00A4040C06 {PROBE1}"), "9000", "select probe 1"),
            ("800F0000", "9000", "tell it to refuse selection from now on"),
            (&format!("00A4040C06 {PROBE1}"), "6999", "its select refuses"),
            ("80010000", "6986", "the channel has no applet now"),
            (&format!("00A4040C06 {PROBE2}"), "9000", "another applet is fine"),
        ],
    );
}

#[test]
fn logical_channels_open_close_and_route() {
    let mut card = card();
    run(
        &mut card,
        &[
            (
                "0070000001",
                "01 9000",
                "MANAGE CHANNEL OPEN, card assigns: channel 1, with the default applet",
            ),
            ("81100000 01 AA 00", "AA 9000", "diag answers on channel 1 (CLA 81)"),
            ("00700000", "6C01", "assigning a channel needs Le=01 (JCRE 3.0.5 §4.5.1)"),
            ("00700005", "9000", "open channel 5 by number"),
            ("C1100000 01 BB 00", "BB 9000", "further class C1 is channel 5"),
            ("00700005", "6A86", "channel 5 is already open"),
            ("00700014", "6A81", "channel 20 does not exist"),
            ("82100000 01 AA 00", "6881", "channel 2 is not open"),
            (&format!("01A4040006 {PROBE1} 00"), "6F08 8406A00000099901 9000", "probe 1 on channel 1"),
            ("8101000000", "A00000099901 01 9000", "WHO on channel 1"),
            (
                &format!("41A4040006 {PROBE1} 00"),
                "6985",
                "probe 1 is not multi-selectable and is active on 1",
            ),
            ("C110000001CC00", "CC 9000", "channel 5 keeps diag"),
            ("0170000001", "6985", "a channel opened from 1 would get probe 1 too: refused, not opened"),
            ("4170000001", "02 9000", "opened from 5: channel 2 gets diag (multi-selectable)"),
            ("82100000 01 DD 00", "DD 9000", "diag on channel 2"),
            ("00708002", "9000", "close channel 2"),
            ("82100000 01 DD 00", "6881", "channel 2 is closed"),
            ("00708003", "6200", "closing a channel that is not open: warning"),
            ("00708000", "6A81", "the basic channel cannot be closed"),
            ("00708014", "6A81", "channel 20 does not exist"),
            ("00704000", "6A81", "P1 must be 00 or 80"),
            ("007000000101", "6700", "MANAGE CHANNEL has no data"),
            ("0470000001", "6882", "secure messaging bits on MANAGE CHANNEL"),
            ("00700013", "9000", "open channel 19"),
            (&format!("4FA404000A {DIAG} 00"), &format!("{DIAG_FCI} 9000"), "CLA 4F: SELECT on channel 19"),
            ("CF100000 01 EE 00", "EE 9000", "CLA CF: diag on channel 19"),
            ("00708001", "9000", "close channel 1: probe 1 is deselected there"),
            (&format!("41A4040006 {PROBE1} 00"), "6F08 8406A00000099901 9000", "so channel 5 may select it"),
        ],
    );
}

#[test]
fn all_nineteen_further_channels_can_be_opened_then_none_is_left() {
    let mut card = card();
    for expected in 1..20u8 {
        let r = card.process(&h("0070000001"));
        assert_eq!(r, [expected, 0x90, 0x00], "channel {expected}");
    }
    run(&mut card, &[("0070000001", "6A81", "no channel left")]);
}

#[test]
fn security_state_is_per_channel() {
    let mut card = card();
    run(
        &mut card,
        &[
            ("00700005", "9000", "channel 5 gets diag too"),
            ("0020008104 31323334", "9000", "VERIFY the PIN on channel 0"),
            ("00200081", "9000", "validated on channel 0"),
            ("41200081", "63C3", "not on channel 5 (CLA 41)"),
            ("C1240000", "6982", "RESET COUNTER needs the PIN on this channel"),
            ("80240000", "9000", "on channel 0 it is allowed"),
        ],
    );
}

#[test]
fn command_chaining_is_reassembled() {
    let mut card = card();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &h("010203040506"));
    let info = format!("0006 {} 9000", hex::encode_upper(digest.as_ref()));
    run(
        &mut card,
        &[
            ("90140000 03 010203", "9000", "first part (CLA 90 = 80 + chaining)"),
            ("90140000 02 0405", "9000", "second part"),
            ("80140000 01 06 00", &info, "last part: the applet sees one 6-byte command"),
            ("90100000 01 AA", "9000", "a new chain"),
            ("80120000 00", "6883", "a different command interrupts it: last command of the chain expected"),
            ("80100000 01 BB 00", "BB 9000", "the chain was dropped; commands work again"),
            ("10C0000000", "6884", "GET RESPONSE cannot be chained"),
            ("90100000 01 AA", "9000", "a chain on channel 0"),
            ("0070000001", "6883", "MANAGE CHANNEL interrupts it too"),
        ],
    );
}

#[test]
fn chains_are_per_channel() {
    let mut card = card();
    run(
        &mut card,
        &[
            ("0070000001", "01 9000", "open channel 1"),
            ("90100000 02 0102", "9000", "chain on channel 0"),
            ("81100000 01 FF 00", "FF 9000", "an unrelated command on channel 1 does not disturb it"),
            ("80100000 01 03 00", "010203 9000", "channel 0's chain completes"),
        ],
    );
}

#[test]
fn a_chain_longer_than_an_extended_command_is_refused() {
    let mut card = card();
    let mut first = h("90100000 00FFFF");
    first.extend(vec![0x11; MAX_COMMAND_DATA]);
    assert_eq!(card.process(&first), h("9000"));
    run(
        &mut card,
        &[
            ("80100000 01 AA 00", "6700", "65536 bytes in all: too long"),
            ("80100000 01 AA 00", "AA 9000", "the chain is gone"),
        ],
    );
}

#[test]
fn get_response_serves_long_responses_in_parts() {
    let mut card = card();
    let r = card.process(&h("8012012C00"));
    assert_eq!((r.len(), sw_of(&r)), (258, 0x612C), "ANSWER 300 with Le=00: 256 bytes, 44 left");
    let r = card.process(&h("00C000002C"));
    assert_eq!((r.len(), sw_of(&r), r[0]), (46, 0x9000, 0), "the last 44 bytes (byte 256 is 00)");
    let r = card.process(&h("8012025800"));
    assert_eq!((r.len(), sw_of(&r)), (258, 0x6100), "ANSWER 600: 344 left, 61 00 means 256 or more");
    let r = card.process(&h("00C0000000"));
    assert_eq!((r.len(), sw_of(&r)), (258, 0x6158), "256 more, 88 left");
    let r = card.process(&h("00C0000058"));
    assert_eq!((r.len(), sw_of(&r)), (90, 0x9000));
    run(&mut card, &[("00C0000010", "6985", "nothing left to get")]);
    let _ = card.process(&h("8012012C00"));
    run(
        &mut card,
        &[
            ("00C0010000", "6A86", "GET RESPONSE with P1 P2 other than 0000"),
            ("00C0000004", "00010203 6128", "the response is still there after the error"),
            ("80100000 01 AA 00", "AA 9000", "another command discards the rest"),
            ("00C0000010", "6985", "gone"),
            ("8010000004 01020304 02", "0102 6102", "case 4 with Le=2: 2 bytes now, 2 later"),
            ("00C0000002", "0304 9000", ""),
            ("8010000002 0102", "6102", "case 3, Le absent"),
            ("00C0000010", "0102 9000", "an Le larger than what is left"),
            ("8010000002 0304", "6102", "again"),
            ("80C0000002", "0304 9000", "GET RESPONSE in the command's proprietary class works too"),
            ("80C0000002", "6D00", "with nothing pending, 80 C0 is the applet's (diag has no C0)"),
        ],
    );
    let r = card.process(&h("80120400 000200"));
    assert_eq!((r.len(), sw_of(&r)), (514, 0x6100), "ANSWER 1024 with extended Le=512");
    let r = card.process(&h("00C00000 000000"));
    assert_eq!((r.len(), sw_of(&r)), (514, 0x9000), "extended GET RESPONSE for the rest");
}

#[test]
fn pending_responses_are_per_channel() {
    let mut card = card();
    run(
        &mut card,
        &[
            ("0070000001", "01 9000", "open channel 1"),
            ("8110000002 0102", "6102", "a response waits on channel 1"),
            ("00C0000002", "6985", "not on channel 0"),
            ("01C0000002", "0102 9000", "on channel 1"),
        ],
    );
}

#[test]
fn wrong_le_gets_6cxx_only_for_short_case_2_that_changed_nothing() {
    let mut card = card();
    run(
        &mut card,
        &[
            ("8012001008", "6C10", "ANSWER 16 with Le=8: resend with Le=10"),
            ("8012001010", "000102030405060708090A0B0C0D0E0F 9000", "the resend"),
            ("8012001020", "000102030405060708090A0B0C0D0E0F 9000", "Le larger than the data: what there is"),
            ("8022000002", "0000 6102", "INCREMENT changed the counter, so no 6Cxx: 61xx keeps the rest"),
            ("00C0000002", "0001 9000", "the new value is 1"),
            ("8020000004", "00000001 9000", "incremented exactly once"),
        ],
    );
}

#[test]
fn transactions_commit_abort_and_auto_abort() {
    let mut card = card();
    run(
        &mut card,
        &[
            ("8020000004", "00000000 9000", "counter starts at 0"),
            ("8022000004", "00000001 9000", "INCREMENT, committed"),
            ("8022010004", "00000002 9000", "INCREMENT then abortTransaction"),
            ("8020000004", "00000001 9000", "rolled back"),
            ("8022020004", "00000002 9000", "INCREMENT leaving the transaction open"),
            ("8020000004", "00000001 9000", "the runtime aborted it when process returned"),
            ("8022000004 00000010 04", "00000011 9000", "INCREMENT by 16"),
            ("8022000004 FFFFFFFF 04", "6A80", "overflow refused"),
            ("8020000004", "00000011 9000", "unchanged"),
            ("802200000201", "6700", "an amount of 1 byte"),
            ("80220300", "6A86", "unknown mode"),
            (&format!("00A4040C06 {PROBE1}"), "9000", "probe 1"),
            ("80020100 02 AAAA", "9000", "object 1 := AAAA"),
            ("80040100 02 BBBB", "6A80", "begin, write BBBB, fail"),
            ("8003010000", "AAAA 9000", "the failed command's write was rolled back"),
            ("80050100 02 CCCC", "9000", "begin, write CCCC, return with the transaction open"),
            ("8003010000", "AAAA 9000", "aborted at the end of process"),
            ("8008000000", "6F00", "a second beginTransaction fails (one level per applet)"),
            ("80100102 02 DDDD", "9000", "two objects in one committed transaction"),
            ("8003010000", "DDDD 9000", ""),
            ("8003020000", "DDDD 9000", ""),
        ],
    );
}

#[test]
fn memory_quota_gives_6a84_and_changes_nothing() {
    let mut card = card_with_quota(4 * 1024);
    let before = card.process(&h("8032000000"));
    let used = u32::from_be_bytes(before[4..8].try_into().unwrap());
    run(
        &mut card,
        &[
            ("80307FFF", "6A84", "32767 bytes do not fit in 4 KiB"),
            ("8032000000", &hex::encode(&before), "nothing was allocated"),
        ],
    );
    let r = card.process(&h("8030006404"));
    assert_eq!(sw_of(&r), sw::OK);
    let available = u32::from_be_bytes(r[..4].try_into().unwrap());
    assert_eq!(available as usize, 4 * 1024 - used as usize - 100 - applet::store::OBJECT_OVERHEAD);
    run(
        &mut card,
        &[("8030000004", &format!("{:08X} 9000", 4 * 1024 - used as usize), "ALLOCATE 0 frees it")],
    );
}

#[test]
fn transient_memory_clear_on_reset_and_clear_on_deselect() {
    let mut card = card();
    run(
        &mut card,
        &[
            (&format!("00A4040C06 {PROBE1}"), "9000", "probe 1"),
            ("8006000100", "0000000000000000 9000", "a clear-on-reset area starts zeroed"),
            ("80070001 08 1111111111111111", "9000", "write it"),
            ("80070101 08 2222222222222222", "9000", "and a clear-on-deselect area"),
            ("8006000100", "1111111111111111 9000", ""),
            ("8006010100", "2222222222222222 9000", ""),
            (&format!("00A4040C0A {DIAG}"), "9000", "deselect probe 1"),
            (&format!("00A4040C06 {PROBE1}"), "9000", "and select it again"),
            ("8006000100", "1111111111111111 9000", "clear-on-reset survives deselection"),
            ("8006010100", "0000000000000000 9000", "clear-on-deselect does not"),
            ("80070101 08 3333333333333333", "9000", ""),
        ],
    );
    card.reset();
    run(
        &mut card,
        &[
            (&format!("00A4040C06 {PROBE1}"), "9000", "after reset"),
            ("8006000100", "0000000000000000 9000", "clear-on-reset is cleared"),
            ("8006010100", "0000000000000000 9000", "and clear-on-deselect"),
        ],
    );
}

#[test]
fn verify_counts_down_blocks_and_reports_without_spending() {
    let mut card = card();
    run(
        &mut card,
        &[
            ("00200081", "63C3", "empty VERIFY: not validated, 3 tries, nothing spent"),
            ("0020008109 313233343132333435", "6700", "9 bytes: longer than any PIN"),
            ("0020008109 31323334FFFFFFFFFF", "6700", "padding goes to 8 bytes, not beyond"),
            ("00200081", "63C3", "a too-long candidate spent no try"),
            ("0020008104 31313131", "63C2", "wrong PIN"),
            ("00200081", "63C2", "the status query spent nothing"),
            ("0020008108 31323334FFFFFFFF", "9000", "right PIN, in the padded 8-byte format"),
            ("00200081", "9000", "validated"),
            ("8022000004", "00000001 9000", "(some command in between)"),
            ("00200081", "9000", "still validated"),
            ("80240000", "9000", "RESET COUNTER is allowed"),
            ("0020FF81", "9000", "P1=FF resets the validation"),
            ("80240000", "6982", "so RESET COUNTER is refused"),
            ("0020008104 39393939", "63C2", "wrong"),
            ("0020008104 39393939", "63C1", "wrong"),
            ("0020008104 39393939", "63C0", "wrong: no tries left"),
            ("0020008104 31323334", "6983", "blocked: even the right PIN is refused"),
            ("00200081", "6983", "the status says blocked"),
            ("00200083", "6A88", "no PIN with reference 83"),
            ("00200181", "6A86", "P1 must be 00 or FF"),
            ("0020FF8101AA", "6700", "P1=FF takes no data"),
        ],
    );
}

#[test]
fn reset_retry_counter_with_the_puk() {
    let mut card = card();
    run(
        &mut card,
        &[
            ("0020008104 30303030", "63C2", ""),
            ("0020008104 30303030", "63C1", ""),
            ("0020008104 30303030", "63C0", "PIN blocked"),
            ("002C018108 3131313131313131", "63C4", "wrong PUK: the PUK has 4 of 5 tries left"),
            ("00200082", "63C4", "the PUK's state, through VERIFY P2=82"),
            ("002C018108 3132333435363738", "9000", "right PUK, P1=01: unblock only"),
            ("00200081", "63C3", "PIN tries restored, not validated"),
            ("00200082", "63C5", "PUK tries restored too"),
            ("0020008104 31323334", "9000", "the old PIN works"),
            ("002C008110 3132333435363738 35363738FFFFFFFF", "9000", "P1=00: PUK and a new PIN"),
            ("00200081", "63C3", "a new PIN is not validated"),
            ("0020008104 31323334", "63C2", "the old PIN no longer works"),
            ("0020008104 35363738", "9000", "the new one does"),
            ("002C008104 31323334", "6700", "P1=00 needs two 8-byte fields"),
            ("002C008110 3132333435363738 3132FFFFFFFFFFFF", "6A80", "a new PIN under 4 digits"),
            ("002C028100", "6A86", "resetting without a PUK is not supported"),
            ("002C008210 3132333435363738 35363738FFFFFFFF", "6A88", "only the PIN can be reset"),
        ],
    );
}

#[test]
fn the_puk_blocks_too() {
    let mut card = card();
    for left in (0..5).rev() {
        let r = card.process(&h("002C01810431313131"));
        assert_eq!(sw_of(&r), 0x63C0 | left, "PUK tries left {left}");
    }
    run(&mut card, &[("002C018108 3132333435363738", "6983", "the PUK is blocked")]);
}

#[test]
fn change_reference_data_with_and_without_the_old_pin() {
    let mut card = card();
    run(
        &mut card,
        &[
            (
                "0024008110 30303030FFFFFFFF 35353535FFFFFFFF",
                "63C2",
                "P1=00 with a wrong current PIN spends a try",
            ),
            ("0024008110 31323334FFFFFFFF 35353535FFFFFFFF", "9000", "right current PIN: changed"),
            ("00200081", "63C3", "tries restored, not validated (OwnerPIN.update)"),
            ("0024018104 36363636", "6982", "P1=01 needs the PIN validated first"),
            ("0020008104 35353535", "9000", ""),
            ("0024018104 36363636", "9000", "P1=01: new PIN only"),
            ("0020008104 36363636", "9000", "the newest PIN works"),
            ("0024018102 3636", "6A80", "too short a new PIN"),
            ("0024018109 363636363636363636", "6700", "longer than 8 bytes"),
            ("0024008108 3636363636363636", "6700", "P1=00 needs 16 bytes"),
            ("0024028104 36363636", "6A86", "P1 must be 00 or 01"),
            ("0024018204 36363636", "6A88", "the PUK cannot be changed this way"),
        ],
    );
}

#[test]
fn pin_validation_is_cleared_on_deselect_and_reset() {
    let mut card = card();
    run(
        &mut card,
        &[
            ("0020008104 31323334", "9000", ""),
            (&format!("00A4040C06 {PROBE1}"), "9000", "deselect diag"),
            (&format!("00A4040C0A {DIAG}"), "9000", "select it again"),
            ("00200081", "63C3", "validation was cleared by the deselect"),
            ("0020008104 31323334", "9000", ""),
            (&format!("00A4040C0A {DIAG}"), "9000", "re-selecting the same applet keeps its session"),
            ("00200081", "9000", ""),
        ],
    );
    card.reset();
    run(&mut card, &[("00200081", "63C3", "validation was cleared by the reset")]);
}

#[test]
fn status_words_applets_may_not_send_and_oversized_responses() {
    let mut card = card();
    run(
        &mut card,
        &[
            (&format!("00A4040C06 {PROBE1}"), "9000", "probe 1"),
            ("800A0000", "6F00", "an applet answering 6100 is answered 6F00 instead"),
            ("800B0000", "6F00", "70000 bytes cannot be sent"),
            ("800C000000", "0102 6282", "a warning keeps its data"),
            ("800D000000", "6A80", "an error drops the data"),
        ],
    );
}

#[test]
fn a_panicking_applet_gets_6f00_and_the_card_stays_up() {
    let mut card = card();
    let r = card.process(&h(&format!("00A4040006 {TRIPWIRE} 00")));
    assert_eq!(r, h("6F00"), "its select panics");
    assert_eq!(card.stats().applet_panics, 1);
    let r = card.process(&h("80100000 01 AA 00"));
    assert_eq!(r, h("6986"), "no applet is selected after the failed selection");
    let r = card.process(&h(&format!("00A4040C0A {DIAG}")));
    assert_eq!(r, h("9000"));
    assert_eq!(card.stats().applet_panics, 1);
}

#[test]
fn atr_is_t1_with_a_named_card_and_a_valid_tck() {
    let card = card();
    let atr = card.atr();
    assert!(atr.len() <= 33);
    assert_eq!(applet::atr::check(atr), Ok(vec![1, 1]), "TD1 and TD2 both say T=1");
    assert!(atr.windows(8).any(|w| w == b"cardgate"));
    let named = applet::Card::new(
        applet::CardConfig { name: "bank-01".into(), ..applet::CardConfig::default() },
        catalog(),
    )
    .unwrap();
    assert!(named.atr().windows(7).any(|w| w == b"bank-01"));
    assert_eq!(applet::atr::check(named.atr()), Ok(vec![1, 1]));
}

#[test]
fn install_is_all_or_nothing() {
    let mut card = card();
    let used = card.store().used();
    let e = card.install("probe", aid("A000000999FF"), b"refuse").unwrap_err();
    assert_eq!(e, applet::InstallError::Refused(sw::CONDITIONS_NOT_SATISFIED));
    assert_eq!(card.store().used(), used, "the refused install's object is gone");
    assert_eq!(card.applets().count(), 4);
    assert!(matches!(card.install("probe", aid(PROBE1), &[]), Err(applet::InstallError::Duplicate(_))));
    assert!(matches!(
        card.install("nope", aid("A000000999FE"), &[]),
        Err(applet::InstallError::UnknownClass(_))
    ));
    run(&mut card, &[("00A4040006 A000000999FF 00", "6A82", "not installed")]);
}

#[test]
fn install_parameters_set_each_applets_pins_and_tries_or_refuse_with_6a80() {
    use applet::apps::{self, admin, credit, diag};
    use applet::{Card, CardConfig, InstallError};
    let sw = |card: &mut Card, cmd: &str| sw_of(&card.process(&h(cmd)));
    let select = |card: &mut Card, aid: &[u8]| {
        let cmd = format!("00A40400{:02X}{}00", aid.len(), hex::encode_upper(aid));
        assert_eq!(sw(card, &cmd), sw::OK, "select {}", hex::encode_upper(aid));
    };
    let mut card = Card::new(CardConfig::default(), apps::catalog()).unwrap();
    // The diagnostic applet and the credit wallet read the same PIN parameters.
    let params = diag::install_params(b"2468", b"87654321", 2, 4);
    card.install("diag", diag::aid(), &params).unwrap();
    card.install("credit", credit::aid(), &params).unwrap();
    card.install("admin", admin::aid(), &admin::install_params(b"11223344", 6)).unwrap();
    let defaults = aid("F0434152444741544502");
    card.install("diag", defaults, &[]).unwrap();
    card.power_on();
    select(&mut card, diag::aid().as_bytes());
    assert_eq!(sw(&mut card, "00200081"), 0x63C2, "PIN tries from the parameters");
    assert_eq!(sw(&mut card, "00200082"), 0x63C4, "PUK tries from the parameters");
    assert_eq!(sw(&mut card, "0020008104 32343638"), sw::OK, "the given PIN");
    select(&mut card, credit::aid().as_bytes());
    assert_eq!(sw(&mut card, "00200081"), 0x63C2);
    assert_eq!(sw(&mut card, "0020008104 31323334"), 0x63C1, "not the default PIN");
    assert_eq!(sw(&mut card, "0020008104 32343638"), sw::OK);
    select(&mut card, admin::aid().as_bytes());
    assert_eq!(sw(&mut card, "00200001"), 0x63C6, "admin PIN tries from the parameters");
    assert_eq!(sw(&mut card, "0020000108 3131323233333434"), sw::OK);
    // No parameters: PIN 1234 with 3 tries, PUK with 5.
    select(&mut card, defaults.as_bytes());
    assert_eq!(sw(&mut card, "00200081"), 0x63C3);
    assert_eq!(sw(&mut card, "00200082"), 0x63C5);
    assert_eq!(sw(&mut card, "0020008104 31323334"), sw::OK);

    // Parameters that are not BER-TLV, a tries value of two bytes, an admin PIN missing or short.
    let refused = Err(InstallError::Refused(sw::WRONG_DATA));
    for (class, params) in [
        ("diag", h("81")),
        ("diag", h("8304 0303")),
        ("credit", h("8402 0505")),
        ("admin", vec![]),
        ("admin", admin::install_params(b"123", 3)),
        ("admin", h("8104 31323334 8302 0303")),
    ] {
        assert_eq!(card.install(class, aid("A0000009990A"), &params), refused, "{class} {params:02X?}");
    }
}
