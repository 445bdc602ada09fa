//! The policy file: TOML an engineer reads and writes by hand (format in `docs/policies.md`), read
//! into a validated [`Policy`]. Every error names the file, line and column and says what is wrong;
//! all semantic errors of a file are reported at once (a TOML syntax error stops at the first).

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use toml::Spanned;

use crate::aid::Aid;
use crate::amount::AmountRule;
use crate::currency::{Currency, Money};
use crate::data::{MerchantId, ShortId, TerminalId};
use crate::frequency::{Limit, OfflineRule, Period};
use crate::geo::{Circle, MAX_RADIUS_M, Point, Polygon, Shape};
use crate::location::{FenceAction, Geofence, LocationRule};
use crate::payee::{MccRange, PayeeRule, TerminalRule};
use crate::policy::Policy;
use crate::schedule::{Days, HourWindow, TimeRule, Zone};
use crate::service::{Binding, Service};

/// The policy format version this crate reads (`version = 1`).
pub const FORMAT_VERSION: i64 = 1;

/// One problem in a policy file, with where it is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{origin}:{line}:{column}: {message}")]
pub struct PolicyError {
    /// The file (or other name) the text came from.
    pub origin: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// Every problem found in a policy file (at least one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyErrors(pub Vec<PolicyError>);

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyErrors {}

// ---- Raw TOML shapes ---------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    version: Option<Spanned<i64>>,
    zone: Option<Spanned<String>>,
    #[serde(default)]
    service: BTreeMap<Spanned<String>, Spanned<RawService>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    description: Option<String>,
    applet: Spanned<String>,
    ins: Spanned<InsList>,
    p1: Option<Spanned<i64>>,
    p2: Option<Spanned<i64>>,
    #[serde(default)]
    disabled: bool,
    zone: Option<Spanned<String>>,
    time: Option<Spanned<RawTime>>,
    #[serde(default)]
    geofence: Vec<Spanned<RawGeofence>>,
    amount: Option<Spanned<RawAmount>>,
    #[serde(default)]
    limit: Vec<Spanned<RawLimit>>,
    offline: Option<Spanned<RawOffline>>,
    payee: Option<Spanned<RawPayee>>,
    terminal: Option<Spanned<RawTerminal>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTime {
    from: Option<Spanned<toml::Value>>,
    until: Option<Spanned<toml::Value>>,
    days: Option<Spanned<Vec<Spanned<String>>>>,
    hours: Option<Spanned<Vec<Spanned<String>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGeofence {
    name: Option<Spanned<String>>,
    action: Spanned<String>,
    circle: Option<Spanned<RawCircle>>,
    polygon: Option<Spanned<Vec<Spanned<RawVertex>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCircle {
    lat: Spanned<f64>,
    lon: Spanned<f64>,
    radius_m: Spanned<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVertex {
    lat: Spanned<f64>,
    lon: Spanned<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAmount {
    currency: Spanned<String>,
    min: Option<Spanned<AmountText>>,
    max: Option<Spanned<AmountText>>,
    cvm_limit: Option<Spanned<AmountText>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimit {
    period: Spanned<String>,
    max_uses: Option<Spanned<i64>>,
    max_amount: Option<Spanned<AmountText>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOffline {
    lower: Option<Spanned<i64>>,
    upper: Option<Spanned<i64>>,
}

type IdList = Option<Spanned<Vec<Spanned<String>>>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPayee {
    allow_merchants: IdList,
    deny_merchants: IdList,
    allow_mcc: IdList,
    deny_mcc: IdList,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTerminal {
    allow: IdList,
    deny: IdList,
}

/// `ins = 0x50` or `ins = [0x50, 0x52]`.
enum InsList {
    One(i64),
    Many(Vec<Spanned<i64>>),
}

impl<'de> Deserialize<'de> for InsList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = InsList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an instruction byte such as 0x50, or a list of them")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<InsList, E> {
                Ok(InsList::One(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<InsList, A::Error> {
                let mut all = Vec::new();
                while let Some(v) = seq.next_element::<Spanned<i64>>()? {
                    all.push(v);
                }
                Ok(InsList::Many(all))
            }
        }
        d.deserialize_any(V)
    }
}

/// An amount as written: a string (`"12.50"`) or an integer of major units. Floats are refused:
/// binary fractions cannot hold cents exactly.
struct AmountText(String);

impl<'de> Deserialize<'de> for AmountText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = AmountText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "an amount as a string such as \"12.50\" (not a float: floats cannot hold cents exactly)",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<AmountText, E> {
                Ok(AmountText(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<AmountText, E> {
                Ok(AmountText(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

// ---- Positions and error collection ----------------------------------------------------------

struct Errors<'a> {
    origin: &'a str,
    source: &'a str,
    list: Vec<PolicyError>,
}

impl Errors<'_> {
    fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.source.len());
        let before = self.source.get(..offset).unwrap_or(self.source);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        (line, column)
    }

    fn at(&mut self, span: Range<usize>, message: impl Into<String>) {
        let (line, column) = self.position(span.start);
        self.list.push(PolicyError { origin: self.origin.to_owned(), line, column, message: message.into() });
    }

    /// `Some(value)` or records the error at `span` and gives `None`.
    fn check<T>(&mut self, span: Range<usize>, result: Result<T, String>) -> Option<T> {
        result.map_err(|e| self.at(span, e)).ok()
    }
}

// ---- Reading ---------------------------------------------------------------------------------

impl Policy {
    /// Parses and validates a policy from TOML text. `origin` names the text in errors (use the
    /// file's path).
    pub fn parse(source: &str, origin: &str) -> Result<Policy, PolicyErrors> {
        let mut errors = Errors { origin, source, list: Vec::new() };
        let raw: RawPolicy = match toml::from_str(source) {
            Ok(raw) => raw,
            Err(e) => {
                errors.at(e.span().unwrap_or(0..0), e.message().to_owned());
                return Err(PolicyErrors(errors.list));
            }
        };
        match &raw.version {
            None => errors.at(0..0, format!("the policy must start with `version = {FORMAT_VERSION}`")),
            Some(v) if *v.get_ref() != FORMAT_VERSION => errors.at(
                v.span(),
                format!(
                    "policy format version {} is not supported; this cardgate reads version {FORMAT_VERSION}",
                    v.get_ref()
                ),
            ),
            Some(_) => {}
        }
        let default_zone = match &raw.zone {
            Some(z) => errors.check(z.span(), Zone::parse(z.get_ref())).unwrap_or_else(Zone::utc),
            None => Zone::utc(),
        };
        let mut entries: Vec<_> = raw.service.into_iter().collect();
        entries.sort_by_key(|(name, _)| name.span().start);
        let mut services: Vec<(Service, Vec<Range<usize>>)> = Vec::new();
        for (name, raw_service) in entries {
            let Some(service) = read_service(&mut errors, &name, raw_service, &default_zone) else {
                continue;
            };
            let (service, ins_spans) = service;
            for (i, binding) in service.bindings.iter().enumerate() {
                let clash = services.iter().find_map(|(other, _)| {
                    other.bindings.iter().find(|b| b.overlaps(binding)).map(|b| (other, b))
                });
                if let Some((other, b)) = clash {
                    let span = ins_spans.get(i).cloned().unwrap_or(0..0);
                    errors.at(
                        span,
                        format!(
                            "service `{}` binds {binding}, which service `{}` (line {}) already binds as {b}; a command may belong to one service only",
                            service.name, other.name, other.line
                        ),
                    );
                }
            }
            services.push((service, ins_spans));
        }
        if !errors.list.is_empty() {
            errors.list.sort_by_key(|e| (e.line, e.column));
            return Err(PolicyErrors(errors.list));
        }
        Ok(Policy {
            origin: origin.to_owned(),
            source: source.to_owned(),
            services: services.into_iter().map(|(s, _)| s).collect(),
        })
    }
}

fn byte(errors: &mut Errors<'_>, value: &Spanned<i64>, what: &str) -> Option<u8> {
    let v = *value.get_ref();
    errors.check(
        value.span(),
        u8::try_from(v).map_err(|_| format!("{what} {v} is not a byte (0 to 255, such as 0x50)")),
    )
}

fn read_service(
    errors: &mut Errors<'_>,
    name: &Spanned<String>,
    raw: Spanned<RawService>,
    default_zone: &Zone,
) -> Option<(Service, Vec<Range<usize>>)> {
    let before = errors.list.len();
    let raw = raw.into_inner();
    let valid_name = name.get_ref().len() <= 32
        && !name.get_ref().is_empty()
        && name.get_ref().bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid_name {
        errors.at(
            name.span(),
            format!("service name `{}` must be 1 to 32 letters, digits, `-` or `_`", name.get_ref()),
        );
    }
    let (line, _) = errors.position(name.span().start);
    let aid = errors.check(
        raw.applet.span(),
        Aid::from_hex(raw.applet.get_ref()).map_err(|_| {
            format!(
                "`{}` is not an AID: write 5 to 16 bytes in hex, such as \"A0 00 00 08 58 01 01\"",
                raw.applet.get_ref()
            )
        }),
    );
    let p1 = raw.p1.as_ref().and_then(|v| byte(errors, v, "P1"));
    let p2 = raw.p2.as_ref().and_then(|v| byte(errors, v, "P2"));
    let ins_values: Vec<Spanned<i64>> = match raw.ins.get_ref() {
        InsList::One(v) => vec![Spanned::new(raw.ins.span(), *v)],
        InsList::Many(list) => list.clone(),
    };
    if ins_values.is_empty() {
        errors.at(raw.ins.span(), "`ins` is an empty list: the service binds no instruction");
    }
    let mut bindings = Vec::new();
    let mut ins_spans = Vec::new();
    let mut seen = Vec::new();
    for value in &ins_values {
        let Some(ins) = byte(errors, value, "INS") else { continue };
        // ISO 7816-3 §10.3.2: 6X and 9X are procedure bytes / status bytes, never instructions.
        if ins & 0xF0 == 0x60 || ins & 0xF0 == 0x90 {
            errors.at(
                value.span(),
                format!("INS {ins:02X} is invalid: 6X and 9X are not instructions (ISO 7816-3 §10.3.2)"),
            );
            continue;
        }
        if seen.contains(&ins) {
            errors.at(value.span(), format!("INS {ins:02X} is listed twice"));
            continue;
        }
        seen.push(ins);
        if let Some(aid) = aid {
            bindings.push(Binding { aid, ins, p1, p2 });
            ins_spans.push(value.span());
        }
    }
    let zone = match &raw.zone {
        Some(z) => errors.check(z.span(), Zone::parse(z.get_ref())).unwrap_or_else(Zone::utc),
        None => default_zone.clone(),
    };
    let time = raw.time.map(|t| read_time(errors, t.into_inner()));
    let location = if raw.geofence.is_empty() {
        None
    } else {
        let mut fences: Vec<Geofence> = Vec::new();
        for (i, raw_fence) in raw.geofence.into_iter().enumerate() {
            let Some((fence, span)) = read_geofence(errors, i, raw_fence) else { continue };
            if fences.iter().any(|g| g.name == fence.name) {
                errors.at(
                    span,
                    format!("service `{}` has two geofences named \"{}\"", name.get_ref(), fence.name),
                );
            }
            fences.push(fence);
        }
        Some(LocationRule { fences })
    };
    let amount = raw.amount.and_then(|a| read_amount(errors, a.into_inner()));
    let limits: Vec<Limit> = raw
        .limit
        .into_iter()
        .filter_map(|l| read_limit(errors, l, amount.as_ref().map(|a| a.currency), name.get_ref()))
        .collect();
    let offline = raw.offline.and_then(|o| read_offline(errors, o));
    let payee = raw.payee.map(|p| read_payee(errors, p.into_inner()));
    let terminal = raw.terminal.map(|t| {
        let t = t.into_inner();
        let allow: Vec<TerminalId> = read_ids(errors, &t.allow, "terminal id");
        let deny: Vec<TerminalId> = read_ids(errors, &t.deny, "terminal id");
        check_disjoint(errors, &t.deny, &allow, "terminal");
        TerminalRule { allow, deny }
    });
    if errors.list.len() > before {
        return None;
    }
    let service = Service {
        name: name.get_ref().clone(),
        description: raw.description,
        line,
        bindings,
        disabled: raw.disabled,
        zone,
        time: time.flatten(),
        location,
        amount,
        limits,
        offline,
        payee,
        terminal,
    };
    Some((service, ins_spans))
}

fn read_date(errors: &mut Errors<'_>, value: &Spanned<toml::Value>) -> Option<jiff::civil::Date> {
    let text = match value.get_ref() {
        toml::Value::String(s) => s.clone(),
        toml::Value::Datetime(dt) if dt.time.is_none() && dt.offset.is_none() => dt.to_string(),
        other => {
            errors
                .at(value.span(), format!("`{other}` is not a date: write a local date such as 2026-01-01"));
            return None;
        }
    };
    let parsed = text.parse::<jiff::civil::Date>().ok().filter(|_| text.len() == 10);
    errors.check(value.span(), parsed.ok_or_else(|| format!("`{text}` is not a date of the form YYYY-MM-DD")))
}

fn read_time(errors: &mut Errors<'_>, raw: RawTime) -> Option<TimeRule> {
    let from = raw.from.as_ref().and_then(|v| read_date(errors, v));
    let until = raw.until.as_ref().and_then(|v| read_date(errors, v));
    if let (Some(f), Some(u), Some(span)) = (from, until, raw.until.as_ref().map(Spanned::span))
        && f > u
    {
        errors.at(span, format!("impossible range: `until` {u} is before `from` {f}"));
    }
    let days = raw.days.as_ref().map(|list| {
        if list.get_ref().is_empty() {
            errors.at(list.span(), "`days` is empty, so the service could never run; list at least one day");
        }
        let mut set: Option<Days> = None;
        for d in list.get_ref() {
            if let Some(item) = errors.check(d.span(), Days::parse_item(d.get_ref())) {
                set = Some(set.map_or(item, |s| s.union(item)));
            }
        }
        set
    });
    let mut hours = Vec::new();
    if let Some(list) = &raw.hours {
        if list.get_ref().is_empty() {
            errors.at(
                list.span(),
                "`hours` is empty, so the service could never run; give at least one window",
            );
        }
        for h in list.get_ref() {
            hours.extend(errors.check(h.span(), HourWindow::parse(h.get_ref())));
        }
    }
    Some(TimeRule { from, until, days: days.flatten(), hours })
}

fn degrees(errors: &mut Errors<'_>, lat: &Spanned<f64>, lon: &Spanned<f64>) -> Option<Point> {
    let (la, lo) = (*lat.get_ref(), *lon.get_ref());
    let mut ok = true;
    if !(-90.0..=90.0).contains(&la) {
        errors.at(lat.span(), format!("latitude {la} is outside -90 to 90 degrees"));
        ok = false;
    }
    if !(-180.0..=180.0).contains(&lo) {
        errors.at(lon.span(), format!("longitude {lo} is outside -180 to 180 degrees"));
        ok = false;
    }
    if ok { Point::from_degrees(la, lo).ok() } else { None }
}

fn read_geofence(
    errors: &mut Errors<'_>,
    index: usize,
    raw: Spanned<RawGeofence>,
) -> Option<(Geofence, Range<usize>)> {
    let span = raw.span();
    let raw = raw.into_inner();
    let name = raw.name.as_ref().map_or_else(|| format!("geofence {}", index + 1), |n| n.get_ref().clone());
    let action = match raw.action.get_ref().as_str() {
        "allow" => Some(FenceAction::Allow),
        "deny" => Some(FenceAction::Deny),
        other => {
            errors.at(raw.action.span(), format!("action `{other}` must be \"allow\" or \"deny\""));
            None
        }
    };
    let shape = match (&raw.circle, &raw.polygon) {
        (Some(c), None) => {
            let c = c.get_ref();
            let center = degrees(errors, &c.lat, &c.lon);
            let r = *c.radius_m.get_ref();
            let radius = if r >= 1.0 && r <= f64::from(MAX_RADIUS_M) {
                Some(r.round() as u32)
            } else {
                errors.at(c.radius_m.span(), format!("radius_m {r} is outside 1 to {MAX_RADIUS_M} metres"));
                None
            };
            center.zip(radius).map(|(center, radius_m)| Shape::Circle(Circle { center, radius_m }))
        }
        (None, Some(p)) => {
            let points: Vec<Option<Point>> =
                p.get_ref().iter().map(|v| degrees(errors, &v.get_ref().lat, &v.get_ref().lon)).collect();
            if points.iter().all(Option::is_some) {
                let vertices = points.into_iter().flatten().collect();
                errors
                    .check(p.span(), Polygon::new(vertices).map_err(|e| format!("polygon \"{name}\": {e}")))
                    .map(Shape::Polygon)
            } else {
                None
            }
        }
        (Some(_), Some(p)) => {
            errors.at(p.span(), format!("geofence \"{name}\" has both a circle and a polygon; give one"));
            None
        }
        (None, None) => {
            errors.at(span.clone(), format!("geofence \"{name}\" needs a `circle` or a `polygon`"));
            None
        }
    };
    let name_span = raw.name.as_ref().map_or(span, Spanned::span);
    Some((Geofence { name, action: action?, shape: shape? }, name_span))
}

fn money(errors: &mut Errors<'_>, value: &Spanned<AmountText>, currency: Currency) -> Option<Money> {
    errors.check(value.span(), Money::parse(&value.get_ref().0, currency).map_err(|e| e.to_string()))
}

fn read_amount(errors: &mut Errors<'_>, raw: RawAmount) -> Option<AmountRule> {
    let code = raw.currency.get_ref();
    let Some(currency) = Currency::from_alpha(code) else {
        errors.at(
            raw.currency.span(),
            format!("`{code}` is not an ISO 4217 currency code (such as CNY, USD, EUR)"),
        );
        return None;
    };
    let min = raw.min.as_ref().and_then(|v| money(errors, v, currency));
    let max = raw.max.as_ref().and_then(|v| money(errors, v, currency));
    let cvm_limit = raw.cvm_limit.as_ref().and_then(|v| money(errors, v, currency));
    if let (Some(lo), Some(hi), Some(span)) = (min, max, raw.max.as_ref().map(Spanned::span))
        && lo.minor_units > hi.minor_units
    {
        errors.at(span, format!("impossible range: `max` {hi} is below `min` {lo}"));
    }
    Some(AmountRule { currency, min, max, cvm_limit })
}

fn count(errors: &mut Errors<'_>, value: &Spanned<i64>, key: &str, least: i64) -> Option<u32> {
    let v = *value.get_ref();
    if v < least || v > i64::from(u32::MAX) {
        errors.at(value.span(), format!("`{key}` {v} must be from {least} to {}", u32::MAX));
        return None;
    }
    Some(v as u32)
}

fn read_limit(
    errors: &mut Errors<'_>,
    raw: Spanned<RawLimit>,
    currency: Option<Currency>,
    service: &str,
) -> Option<Limit> {
    let span = raw.span();
    let raw = raw.into_inner();
    let period = errors.check(raw.period.span(), Period::parse(raw.period.get_ref()));
    let max_uses = raw.max_uses.as_ref().and_then(|v| count(errors, v, "max_uses", 1));
    let max_amount = match (&raw.max_amount, currency) {
        (Some(v), Some(c)) => money(errors, v, c),
        (Some(v), None) => {
            errors.at(
                v.span(),
                format!("`max_amount` needs the service's currency: add [service.{service}.amount] with `currency`"),
            );
            None
        }
        (None, _) => None,
    };
    if raw.max_uses.is_none() && raw.max_amount.is_none() {
        errors.at(span, "a limit needs `max_uses`, `max_amount` or both");
    }
    Some(Limit { period: period?, max_uses, max_amount })
}

fn read_offline(errors: &mut Errors<'_>, raw: Spanned<RawOffline>) -> Option<OfflineRule> {
    let span = raw.span();
    let raw = raw.into_inner();
    let lower = raw.lower.as_ref().and_then(|v| count(errors, v, "lower", 0));
    let upper = raw.upper.as_ref().and_then(|v| count(errors, v, "upper", 0));
    if let (Some(l), Some(u), Some(s)) = (lower, upper, raw.upper.as_ref().map(Spanned::span))
        && l > u
    {
        errors.at(s, format!("impossible range: `upper` {u} is below `lower` {l}"));
    }
    if raw.lower.is_none() && raw.upper.is_none() {
        errors.at(span, "`offline` needs `lower`, `upper` or both");
        return None;
    }
    Some(OfflineRule { lower, upper })
}

fn read_ids<const N: usize>(errors: &mut Errors<'_>, list: &IdList, what: &str) -> Vec<ShortId<N>> {
    let Some(list) = list else { return Vec::new() };
    if list.get_ref().is_empty() {
        errors.at(
            list.span(),
            "an empty list states nothing; remove the key (or set `disabled = true` to deny every use)",
        );
    }
    let mut ids: Vec<ShortId<N>> = Vec::new();
    for item in list.get_ref() {
        match ShortId::<N>::new(item.get_ref()) {
            Ok(id) if ids.contains(&id) => errors.at(item.span(), format!("{what} `{id}` is listed twice")),
            Ok(id) => ids.push(id),
            Err(e) => errors.at(item.span(), format!("{what}: {e}")),
        }
    }
    ids
}

fn check_disjoint<const N: usize>(errors: &mut Errors<'_>, deny: &IdList, allow: &[ShortId<N>], what: &str) {
    for item in deny.iter().flat_map(|l| l.get_ref()) {
        if let Ok(id) = ShortId::<N>::new(item.get_ref())
            && allow.contains(&id)
        {
            errors.at(item.span(), format!("{what} `{id}` is both allowed and denied"));
        }
    }
}

fn read_mcc(errors: &mut Errors<'_>, list: &IdList) -> Vec<(Range<usize>, MccRange)> {
    let Some(list) = list else { return Vec::new() };
    if list.get_ref().is_empty() {
        errors.at(
            list.span(),
            "an empty list states nothing; remove the key (or set `disabled = true` to deny every use)",
        );
    }
    list.get_ref()
        .iter()
        .filter_map(|item| {
            errors.check(item.span(), MccRange::parse(item.get_ref())).map(|r| (item.span(), r))
        })
        .collect()
}

fn read_payee(errors: &mut Errors<'_>, raw: RawPayee) -> PayeeRule {
    let allow_merchants: Vec<MerchantId> = read_ids(errors, &raw.allow_merchants, "merchant id");
    let deny_merchants: Vec<MerchantId> = read_ids(errors, &raw.deny_merchants, "merchant id");
    check_disjoint(errors, &raw.deny_merchants, &allow_merchants, "merchant");
    let allow_mcc: Vec<MccRange> = read_mcc(errors, &raw.allow_mcc).into_iter().map(|(_, r)| r).collect();
    let deny_mcc = read_mcc(errors, &raw.deny_mcc);
    // A denied range may carve exceptions out of an allowed one; denying all of one is a mistake.
    for (span, range) in &deny_mcc {
        if let Some(a) = allow_mcc.iter().find(|a| range.first <= a.first && a.last <= range.last) {
            errors.at(span.clone(), format!("denied categories {range} cover all of the allowed {a}"));
        }
    }
    PayeeRule {
        allow_merchants,
        deny_merchants,
        allow_mcc,
        deny_mcc: deny_mcc.into_iter().map(|(_, r)| r).collect(),
    }
}
