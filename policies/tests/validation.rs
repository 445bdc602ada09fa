//! Policy files that are wrong: each error names file:line:column and says what is wrong.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test helpers: a failed unwrap is a failed test")]

use policies::{Policy, PolicyErrors};

fn errors(text: &str) -> Vec<String> {
    match Policy::parse(text, "p.toml") {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(PolicyErrors(list)) => list.iter().map(ToString::to_string).collect(),
    }
}

fn one_error(text: &str) -> String {
    let all = errors(text);
    assert_eq!(all.len(), 1, "{all:#?}");
    all.into_iter().next().unwrap_or_default()
}

const HEAD: &str = "version = 1\n[service.pay]\napplet = \"A0 00 00 08 58 01 01\"\nins = 0x50\n";

#[test]
fn unknown_keys_are_named_with_their_position() {
    let e = one_error(&format!("{HEAD}colour = \"red\"\n"));
    assert!(
        e.starts_with("p.toml:5:1: unknown field `colour`, expected one of `description`, `applet`"),
        "{e}"
    );
    let e = one_error(&format!("{HEAD}[service.pay.amount]\ncurrency = \"CNY\"\nmaximum = \"5\"\n"));
    assert!(e.starts_with("p.toml:7:1: unknown field `maximum`"), "{e}");
    let e = one_error("version = 1\nzones = \"UTC\"\n");
    assert!(e.starts_with("p.toml:2:1: unknown field `zones`"), "{e}");
}

#[test]
fn toml_syntax_errors_have_positions() {
    let e = one_error("version = 1\n[service.pay\n");
    assert!(e.starts_with("p.toml:2:"), "{e}");
    let e = one_error(&format!("{HEAD}ins = 0x51\n"));
    assert!(e.starts_with("p.toml:5:1: duplicate key"), "{e}");
}

#[test]
fn version_is_required_and_checked() {
    assert_eq!(
        one_error("[service.a]\napplet = \"A000000858\"\nins = 1\n"),
        "p.toml:1:1: the policy must start with `version = 1`"
    );
    assert_eq!(
        one_error("version = 2\n"),
        "p.toml:1:11: policy format version 2 is not supported; this cardgate reads version 1"
    );
}

#[test]
fn bindings_are_checked() {
    let text =
        "version = 1\n[service.pay]\napplet = \"A0 00 00 08\"\nins = [0x50, 0x6A, 0x50, 300]\np1 = 256\n";
    assert_eq!(
        errors(text),
        [
            "p.toml:3:10: `A0 00 00 08` is not an AID: write 5 to 16 bytes in hex, such as \"A0 00 00 08 58 01 01\"",
            "p.toml:4:14: INS 6A is invalid: 6X and 9X are not instructions (ISO 7816-3 §10.3.2)",
            "p.toml:4:20: INS 50 is listed twice",
            "p.toml:4:26: INS 300 is not a byte (0 to 255, such as 0x50)",
            "p.toml:5:6: P1 256 is not a byte (0 to 255, such as 0x50)",
        ]
    );
    assert_eq!(
        one_error("version = 1\n[service.pay]\napplet = \"A0 00 00 08 58\"\nins = []\n"),
        "p.toml:4:7: `ins` is an empty list: the service binds no instruction"
    );
    assert_eq!(
        one_error("version = 1\n[service.\"a b\"]\napplet = \"A0 00 00 08 58\"\nins = 1\n"),
        "p.toml:2:10: service name `a b` must be 1 to 32 letters, digits, `-` or `_`"
    );
}

#[test]
fn overlapping_bindings_are_refused() {
    let text =
        format!("{HEAD}[service.other]\napplet = \"A0 00 00 08 58 01 01\"\nins = [0x52, 0x50]\np1 = 1\n");
    assert_eq!(
        one_error(&text),
        "p.toml:7:14: service `other` binds applet A0000008580101 INS 50 P1 01, which service `pay` (line 2) \
         already binds as applet A0000008580101 INS 50; a command may belong to one service only"
    );
    // Different P1 values do not overlap.
    let text = "version = 1\n[service.a]\napplet = \"A000000858\"\nins = 1\np1 = 1\n\
                [service.b]\napplet = \"A000000858\"\nins = 1\np1 = 2\n";
    assert_eq!(Policy::parse(text, "p.toml").map(|p| p.services().len()), Ok(2));
}

#[test]
fn zones_and_times() {
    assert_eq!(
        one_error("version = 1\nzone = \"Asia/Shanghia\"\n"),
        "p.toml:2:8: `Asia/Shanghia` is not an IANA time zone name (such as Asia/Shanghai) or an offset such as +08:00"
    );
    let text = format!(
        "{HEAD}zone = \"+25:00\"\n[service.pay.time]\nfrom = 2026-12-31\nuntil = \"2026-01-01\"\ndays = [\"mon\", \"Tue\"]\nhours = [\"07:00-07:00\", \"7-9\"]\n"
    );
    assert_eq!(
        errors(&text),
        [
            "p.toml:5:8: `+25:00` is not a UTC offset of the form +HH:MM (at most 18:00)",
            "p.toml:8:9: impossible range: `until` 2026-01-01 is before `from` 2026-12-31",
            "p.toml:9:16: `Tue` is not a day of the week; write mon, tue, wed, thu, fri, sat or sun",
            "p.toml:10:10: `07:00-07:00` is an empty window: its start and end are the same",
            "p.toml:10:25: `7-9` is not a window of the form HH:MM-HH:MM (such as 07:00-09:30)",
        ]
    );
    assert_eq!(
        one_error(&format!("{HEAD}[service.pay.time]\nfrom = \"2026-02-30\"\n")),
        "p.toml:6:8: `2026-02-30` is not a date of the form YYYY-MM-DD"
    );
    assert_eq!(
        one_error(&format!("{HEAD}[service.pay.time]\nfrom = 2026-02-30\n")),
        "p.toml:6:8: invalid date, expected day between 01 and 28"
    );
    assert_eq!(
        one_error(&format!("{HEAD}[service.pay.time]\nfrom = 2026-01-01T00:00:00Z\n")),
        "p.toml:6:8: `2026-01-01T00:00:00Z` is not a date: write a local date such as 2026-01-01"
    );
    assert_eq!(
        one_error(&format!("{HEAD}[service.pay.time]\ndays = []\n")),
        "p.toml:6:8: `days` is empty, so the service could never run; list at least one day"
    );
}

#[test]
fn geofences() {
    let text = format!(
        "{HEAD}[[service.pay.geofence]]\nname = \"hq\"\naction = \"permit\"\ncircle = {{ lat = 91.0, lon = 181, radius_m = 0 }}\n\
         [[service.pay.geofence]]\nname = \"bow\"\naction = \"deny\"\n\
         polygon = [{{ lat = 0, lon = 0 }}, {{ lat = 1, lon = 1 }}, {{ lat = 1, lon = 0 }}, {{ lat = 0, lon = 1 }}]\n\
         [[service.pay.geofence]]\naction = \"deny\"\n\
         [[service.pay.geofence]]\nname = \"bow\"\naction = \"deny\"\npolygon = [{{ lat = 0, lon = 0 }}, {{ lat = 1, lon = 1 }}]\n"
    );
    assert_eq!(
        errors(&text),
        [
            "p.toml:7:10: action `permit` must be \"allow\" or \"deny\"",
            "p.toml:8:18: latitude 91 is outside -90 to 90 degrees",
            "p.toml:8:30: longitude 181 is outside -180 to 180 degrees",
            "p.toml:8:46: radius_m 0 is outside 1 to 20015087 metres",
            "p.toml:12:11: polygon \"bow\": edges 1 and 3 cross (edge N runs from vertex N to the next); a polygon's edges must not cross",
            "p.toml:13:1: geofence \"geofence 3\" needs a `circle` or a `polygon`",
            "p.toml:18:11: polygon \"bow\": a polygon needs at least 3 vertices, this one has 2",
        ]
    );
    let text = format!(
        "{HEAD}[[service.pay.geofence]]\nname = \"x\"\naction = \"allow\"\ncircle = {{ lat = 1, lon = 1, radius_m = 5 }}\n\
         [[service.pay.geofence]]\nname = \"x\"\naction = \"deny\"\ncircle = {{ lat = 1, lon = 1, radius_m = 5 }}\n"
    );
    assert_eq!(one_error(&text), "p.toml:10:8: service `pay` has two geofences named \"x\"");
}

#[test]
fn amounts_and_currencies() {
    assert_eq!(
        one_error(&format!("{HEAD}[service.pay.amount]\ncurrency = \"XYZ\"\nmax = \"10\"\n")),
        "p.toml:6:12: `XYZ` is not an ISO 4217 currency code (such as CNY, USD, EUR)"
    );
    assert_eq!(
        one_error(&format!("{HEAD}[service.pay.amount]\ncurrency = \"CNY\"\nmin = 12.5\n")),
        "p.toml:7:7: invalid type: floating point `12.5`, expected an amount as a string such as \"12.50\" \
         (not a float: floats cannot hold cents exactly)"
    );
    assert_eq!(
        errors(&format!(
            "{HEAD}[service.pay.amount]\ncurrency = \"JPY\"\nmin = \"10\"\nmax = 5\ncvm_limit = \"1.5\"\n"
        )),
        [
            "p.toml:8:7: impossible range: `max` 5 JPY is below `min` 10 JPY",
            "p.toml:9:13: `1.5` has more decimal places than JPY allows (0)",
        ]
    );
    assert_eq!(
        one_error(&format!("{HEAD}[service.pay.amount]\ncurrency = \"CNY\"\nmax = \"-1\"\n")),
        "p.toml:7:7: `-1` is not an amount: write digits with an optional decimal point, such as \"12.50\""
    );
}

#[test]
fn limits_and_offline() {
    let text = format!(
        "{HEAD}[[service.pay.limit]]\nperiod = \"fortnight\"\nmax_amount = \"5.00\"\n\
         [[service.pay.limit]]\nperiod = \"day\"\n\
         [[service.pay.limit]]\nperiod = \"rolling 24h\"\nmax_uses = 0\n\
         [service.pay.offline]\nlower = 5\nupper = 3\n"
    );
    assert_eq!(
        errors(&text),
        [
            "p.toml:6:10: `fortnight` is not a period: write day, week or month (calendar) or a rolling window such as \"rolling 24h\"",
            "p.toml:7:14: `max_amount` needs the service's currency: add [service.pay.amount] with `currency`",
            "p.toml:8:1: a limit needs `max_uses`, `max_amount` or both",
            "p.toml:12:12: `max_uses` 0 must be from 1 to 4294967295",
            "p.toml:15:9: impossible range: `upper` 3 is below `lower` 5",
        ]
    );
    assert_eq!(
        one_error(&format!("{HEAD}[service.pay.offline]\n")),
        "p.toml:5:1: `offline` needs `lower`, `upper` or both"
    );
}

#[test]
fn payees_and_terminals() {
    let text = format!(
        "{HEAD}[service.pay.payee]\nallow_merchants = [\"A\", \"A\", \"THIS-IS-WAY-TOO-LONG\"]\ndeny_merchants = []\n\
         allow_mcc = [\"5411\", \"59\"]\ndeny_mcc = [\"5000-5999\", \"6000-5000\"]\n\
         [service.pay.terminal]\nallow = [\"T1\"]\ndeny = [\"T1\", \"caf\u{e9}\"]\n"
    );
    assert_eq!(
        errors(&text),
        [
            "p.toml:6:25: merchant id `A` is listed twice",
            "p.toml:6:30: merchant id: `THIS-IS-WAY-TOO-LONG` is 20 characters long; at most 15 fit",
            "p.toml:7:18: an empty list states nothing; remove the key (or set `disabled = true` to deny every use)",
            "p.toml:8:22: `59` is not a merchant category code (four digits, such as 5411)",
            "p.toml:9:13: denied categories 5000-5999 cover all of the allowed 5411",
            "p.toml:9:26: `6000-5000` is an empty range: 6000 is after 5000",
            "p.toml:12:9: terminal `T1` is both allowed and denied",
            "p.toml:12:15: terminal id: `café` must be printable ASCII without leading or trailing spaces",
        ]
    );
}

#[test]
fn columns_count_characters_not_bytes() {
    let text = "version = 1\n# 中文注释\nzone = \"火星\"\n";
    assert_eq!(
        one_error(text),
        "p.toml:3:8: `火星` is not an IANA time zone name (such as Asia/Shanghai) or an offset such as +08:00"
    );
    let text = "version = 1\nzone = \"UTC\" ; x = 1\n";
    assert!(one_error(text).starts_with("p.toml:2:"));
}
