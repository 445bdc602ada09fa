//! The applets cardgate ships, [`catalog`] (the classes every card is made with), and
//! [`new_card`] (the card `cardgate card init` writes): the diagnostic applet ([`diag`]), the credit
//! wallet ([`credit`]), and the policy administration applet ([`admin`]) when the card has an
//! admin PIN.
//!
//! To add an applet: write `apps/<name>.rs` with a `CLASS: AppletClass`, add it to [`catalog`]
//! (the state file names classes, so a card can only be loaded by a build whose catalog has all of
//! its classes), and install it in [`new_card`] if new cards should have it.

pub mod admin;
pub mod credit;
pub mod diag;

use policies::Aid;
use zeroize::Zeroizing;

use crate::applet::Catalog;
use crate::runtime::{Card, CardConfig, DEFAULT_QUOTA, InstallError};
use crate::sw::{self, Sw};
use crate::tlv::{self, Tag};

/// The install parameter `tag` (install parameters are BER-TLV), if given; `6A80` if the
/// parameters are not well-formed BER-TLV.
pub(crate) fn param(params: &[u8], tag: Tag) -> Result<Option<&[u8]>, Sw> {
    tlv::find(params, tag).map_err(|_| sw::WRONG_DATA)
}

/// A tries install parameter: one byte, or `default` when absent; `6A80` for any other length.
pub(crate) fn tries_param(params: &[u8], tag: Tag, default: u8) -> Result<u8, Sw> {
    match param(params, tag)? {
        None => Ok(default),
        Some([n]) => Ok(*n),
        Some(_) => Err(sw::WRONG_DATA),
    }
}

/// Every applet class built into cardgate.
pub fn catalog() -> Catalog {
    Catalog::new().with(diag::CLASS).with(credit::CLASS).with(admin::CLASS)
}

/// What `cardgate card init` lets a user choose.
#[derive(Clone)]
pub struct CardOptions {
    /// The name in the ATR (1 to 8 printable ASCII characters).
    pub name: String,
    /// Persistent-memory quota in bytes.
    pub quota: usize,
    /// The PIN of the diagnostic applet and of the credit wallet.
    pub pin: Zeroizing<Vec<u8>>,
    /// Its PUK (resetting code).
    pub puk: Zeroizing<Vec<u8>>,
    /// PIN tries (1 to 15).
    pub pin_tries: u8,
    /// PUK tries (1 to 15).
    pub puk_tries: u8,
    /// The applet selected at power-up; `None` for none.
    pub default_applet: Option<Aid>,
    /// The issuer's admin PIN (4 to 8 bytes): with one, the card gets the policy administration
    /// applet ([`admin`]) and its policy can be replaced later; without, it cannot.
    pub admin_pin: Option<Zeroizing<Vec<u8>>>,
    /// Admin PIN tries (1 to 15).
    pub admin_tries: u8,
    /// Makes an **insecure test card**: every random number and key comes from a DRBG seeded
    /// with these bytes ([`crate::drbg`]). `None` (the default): the system's generator.
    pub insecure_seed: Option<Zeroizing<Vec<u8>>>,
}

impl std::fmt::Debug for CardOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The PIN and PUK are never printed.
        f.debug_struct("CardOptions")
            .field("name", &self.name)
            .field("quota", &self.quota)
            .field("pin_tries", &self.pin_tries)
            .field("puk_tries", &self.puk_tries)
            .field("default_applet", &self.default_applet)
            .field("admin", &self.admin_pin.is_some())
            .field("admin_tries", &self.admin_tries)
            .field("insecure_seed", &self.insecure_seed.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for CardOptions {
    fn default() -> Self {
        CardOptions {
            name: crate::atr::DEFAULT_NAME.into(),
            quota: DEFAULT_QUOTA,
            pin: Zeroizing::new(diag::DEFAULT_PIN.to_vec()),
            puk: Zeroizing::new(diag::DEFAULT_PUK.to_vec()),
            pin_tries: 3,
            puk_tries: 5,
            default_applet: Some(diag::aid()),
            admin_pin: None,
            admin_tries: admin::DEFAULT_TRIES,
            insecure_seed: None,
        }
    }
}

/// A new card with cardgate's default applets installed, powered off.
pub fn new_card(options: &CardOptions) -> Result<Card, InstallError> {
    let config = CardConfig { name: options.name.clone(), quota: options.quota, default_applet: None };
    let mut card = Card::new(config, catalog())?;
    if let Some(seed) = &options.insecure_seed {
        // First, so that anything the applets draw while installing comes from the DRBG too.
        card.make_insecure_test_card(seed)?;
    }
    let params = Zeroizing::new(diag::install_params(
        &options.pin,
        &options.puk,
        options.pin_tries,
        options.puk_tries,
    ));
    card.install(diag::CLASS.name, diag::aid(), &params)?;
    // The credit wallet takes the same install parameters: the cardholder's PIN and PUK.
    card.install(credit::CLASS.name, credit::aid(), &params)?;
    if let Some(pin) = &options.admin_pin {
        let params = Zeroizing::new(admin::install_params(pin, options.admin_tries));
        card.install(admin::CLASS.name, admin::aid(), &params)?;
    }
    card.set_default_applet(options.default_applet)?;
    Ok(card)
}
