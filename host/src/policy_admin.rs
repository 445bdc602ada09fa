//! Replacing the policy of an issued card through any reader (`cardgate card policy`): SELECT the
//! policy administration applet, VERIFY the admin PIN, PUT DATA `DF6A` with the policy text
//! (chained in short commands, so every reader carries it), then GET DATA `DF6A` to check the card
//! holds exactly that text. The commands are in `docs/policies.md` and
//! [`applet::apps::admin`].
//!
//! The admin PIN has a try counter that blocks like a PIN: each wrong VERIFY costs a try, and a
//! blocked admin PIN means the card's policy is fixed for good.

use applet::apps::admin;
use applet::sw;
use reader_bridge::transport::{Exchanger, LongCommands, Transport, TransportError};
use zeroize::Zeroizing;

/// Why the policy could not be replaced.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No policy administration applet on the card.
    #[error(
        "the card has no policy administration applet (it was made without `--admin-pin`), so its policy cannot be replaced"
    )]
    NoAdminApplet,
    /// The admin PIN did not match.
    #[error("wrong admin PIN: {left} {} left before it blocks", if *.left == 1 { "try" } else { "tries" })]
    WrongPin {
        /// Tries left.
        left: u8,
    },
    /// The admin PIN is blocked.
    #[error("the admin PIN is blocked: this card's policy can no longer be replaced")]
    Blocked,
    /// The card does not accept the text as a policy for its applets.
    #[error(
        "the card refused the policy (6A80): it does not load there (does every binding name a service an applet on that card declares?)"
    )]
    Refused,
    /// Another status word.
    #[error("{what}: the card answered {sw:04X} ({})", sw::meaning(*.sw))]
    Status {
        /// The step.
        what: &'static str,
        /// The status word.
        sw: u16,
    },
    /// The card holds another text than the one sent.
    #[error(
        "the card acknowledged the policy but holds a different text; check it with `cardgate card show`"
    )]
    Mismatch,
    /// The reader or transport failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// The name the admin PIN goes by in an emitted script (`${admin_pin}`, `cardgate run -D
/// admin_pin=...`).
pub const ADMIN_PIN_SECRET: &str = "admin_pin";

/// SELECT the administration applet (no FCI).
fn select() -> Vec<u8> {
    let mut apdu = vec![0x00, 0xA4, 0x04, 0x0C, admin::AID.len() as u8];
    apdu.extend_from_slice(&admin::AID);
    apdu
}

/// Replaces the card's policy with `text` (`None`: removes it, so the card gates nothing), after
/// verifying `admin_pin`. Leaves the administration applet selected on the basic channel.
pub fn replace_policy<T: Transport>(
    exchanger: &mut Exchanger<T>,
    text: Option<&str>,
    admin_pin: &[u8],
) -> Result<(), AdminError> {
    let status = |what, sw| AdminError::Status { what, sw };
    match exchanger.exchange(&select())?.sw {
        sw::OK => {}
        sw::FILE_NOT_FOUND => return Err(AdminError::NoAdminApplet),
        sw => return Err(status("SELECT the policy administration applet", sw)),
    }
    // ISO 7816-4 §11.5.6: VERIFY, P2 = the admin PIN's reference.
    let mut verify = Zeroizing::new(vec![0x00, 0x20, 0x00, admin::PIN_REFERENCE, admin_pin.len() as u8]);
    verify.extend_from_slice(admin_pin);
    // A secret: the exchange record keeps only the header, and a script recorder writes
    // `${admin_pin}` instead of the PIN.
    let outcome = exchanger.exchange_secret(&verify, ADMIN_PIN_SECRET)?;
    match outcome.sw {
        sw::OK => {}
        sw::AUTH_METHOD_BLOCKED | 0x63C0 => return Err(AdminError::Blocked),
        sw if sw & 0xFFF0 == 0x63C0 => return Err(AdminError::WrongPin { left: (sw & 0x0F) as u8 }),
        sw => return Err(status("VERIFY the admin PIN", sw)),
    }
    // ISO 7816-4 §11.4.6: PUT DATA, P1-P2 = the data object. Long texts go in a chain of short
    // commands (§5.3.3), which any reader carries.
    let [p1, p2] = admin::POLICY_TAG.to_be_bytes();
    let data = text.map(str::as_bytes).unwrap_or_default();
    let put = reader_bridge::transport::Apdu { cla: 0x00, ins: 0xDA, p1, p2, data: data.to_vec(), ne: None };
    let saved = exchanger.options;
    exchanger.options.long_commands = LongCommands::Chain { max_data: 255 };
    let outcome = exchanger.exchange(&put.encode());
    exchanger.options = saved;
    match outcome?.sw {
        sw::OK => {}
        sw::WRONG_DATA => return Err(AdminError::Refused),
        sw => return Err(status("PUT DATA the policy", sw)),
    }
    // Read it back: the card must hold exactly the text sent (GET DATA, Le 65536 when extended).
    let get =
        reader_bridge::transport::Apdu { cla: 0x00, ins: 0xCA, p1, p2, data: Vec::new(), ne: Some(256) };
    let back = exchanger.exchange(&get.encode())?;
    match (back.sw, text) {
        (sw::OK, Some(text)) if back.data == text.as_bytes() => Ok(()),
        (sw::REFERENCED_DATA_NOT_FOUND, None) => Ok(()),
        (sw::OK | sw::REFERENCED_DATA_NOT_FOUND, _) => Err(AdminError::Mismatch),
        (sw, _) => Err(status("GET DATA the policy", sw)),
    }
}
