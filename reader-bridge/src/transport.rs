//! The host's view of a card in a reader: the [`Transport`] trait, and [`Exchanger`], which runs one
//! logical command over it (GET RESPONSE after `61xx`, resend after `6Cxx`, command chaining) and
//! keeps every physical exchange so that tools can show them.

use std::time::{Duration, Instant};

use zeroize::Zeroizing;

/// How a transport failed. Each variant reads as a sentence a person can act on.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The PC/SC service is not running.
    #[error("the PC/SC service is not running: start it with `pcscd -f &` (or `systemctl start pcscd`)")]
    NoService,
    /// No readers are attached.
    #[error("no smart card readers found")]
    NoReaders,
    /// No reader matches what the user asked for.
    #[error("no reader matches {wanted:?}; readers: {available}")]
    NoSuchReader {
        /// What the user asked for (`-r`).
        wanted: String,
        /// The readers that exist, for the message.
        available: String,
    },
    /// Several readers match what the user asked for (or none was named and several hold cards).
    #[error("{} readers: choose one with -r NAME|INDEX: {candidates}", if wanted.is_empty() { "several".to_string() } else { format!("{wanted:?} matches several") })]
    AmbiguousReader {
        /// What the user asked for (`-r`), empty when nothing was given.
        wanted: String,
        /// The matching readers, for the message.
        candidates: String,
    },
    /// The reader is empty.
    #[error("no card in reader {reader:?}")]
    NoCard {
        /// The reader's name.
        reader: String,
    },
    /// The card went away during the session.
    #[error("the card was removed from reader {reader:?}")]
    CardRemoved {
        /// The reader's name.
        reader: String,
    },
    /// Another process holds the card exclusively.
    #[error("reader {reader:?} is in use by another program (sharing violation)")]
    SharingViolation {
        /// The reader's name.
        reader: String,
    },
    /// A command that cannot be sent (too short, too long for the transport).
    #[error("cannot send this command: {0}")]
    BadCommand(String),
    /// The card answered something that is not an R-APDU (fewer than two bytes).
    #[error("the card answered {0} bytes, which is not a response APDU")]
    BadResponse(usize),
    /// Any other failure, with the layer's own description.
    #[error("{0}")]
    Other(String),
}

/// How to reset a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetKind {
    /// Power the card off and on again.
    Cold,
    /// Warm reset (ISO 7816-3 §6.2.3).
    Warm,
}

/// The transmission protocol a card and its reader agreed on (ISO 7816-3 §8.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Character protocol T=0 (ISO 7816-3 §10).
    T0,
    /// Block protocol T=1 (ISO 7816-3 §11).
    T1,
}

impl Protocol {
    /// The protocol an ATR offers first (ISO 7816-3 §8.2.3: the first TDi's `T`, or T=0 when there
    /// is no TD1), as [`crate::atr::parse`] decodes it. `None` for another protocol or an ATR that
    /// does not decode.
    pub fn from_atr(atr: &[u8]) -> Option<Protocol> {
        match crate::atr::parse(atr).ok()?.protocols.first()? {
            0 => Some(Protocol::T0),
            1 => Some(Protocol::T1),
            _ => None,
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Protocol::T0 => "T=0",
            Protocol::T1 => "T=1",
        })
    }
}

impl std::str::FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "T=0" | "T0" | "t=0" | "t0" => Ok(Protocol::T0),
            "T=1" | "T1" | "t=1" | "t1" => Ok(Protocol::T1),
            other => Err(format!("unknown protocol {other:?} (expected T=0 or T=1)")),
        }
    }
}

/// A card in a reader, as the host sees it: raw APDUs in, raw R-APDUs out.
///
/// Implementations do not interpret status words; [`Exchanger`] does that on top.
pub trait Transport {
    /// A name for the reader, for messages and logs.
    fn name(&self) -> String;
    /// The card's answer to reset.
    fn atr(&mut self) -> Result<Vec<u8>, TransportError>;
    /// Sends one C-APDU and returns the R-APDU (data followed by SW1 SW2).
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError>;
    /// Resets the card and returns the new ATR.
    fn reset(&mut self, kind: ResetKind) -> Result<Vec<u8>, TransportError>;
    /// Sends a C-APDU whose data field is a secret (a PIN) called `name`: the card gets the same
    /// bytes as from [`transmit`](Transport::transmit), but a transport that writes commands down
    /// for people to read (a script recorder) must write the name instead of the data. The default
    /// is `transmit`. [`Exchanger::exchange_secret`] sends through it.
    fn transmit_secret(&mut self, command: &[u8], name: &'static str) -> Result<Vec<u8>, TransportError> {
        let _ = name;
        self.transmit(command)
    }
    /// The protocol in use, when the transport knows it (a PC/SC connection does; an in-process card
    /// may not). Callers that need one fall back to [`Protocol::from_atr`].
    fn protocol(&self) -> Option<Protocol> {
        None
    }
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn name(&self) -> String {
        (**self).name()
    }
    fn atr(&mut self) -> Result<Vec<u8>, TransportError> {
        (**self).atr()
    }
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        (**self).transmit(command)
    }
    fn reset(&mut self, kind: ResetKind) -> Result<Vec<u8>, TransportError> {
        (**self).reset(kind)
    }
    fn transmit_secret(&mut self, command: &[u8], name: &'static str) -> Result<Vec<u8>, TransportError> {
        (**self).transmit_secret(command, name)
    }
    fn protocol(&self) -> Option<Protocol> {
        (**self).protocol()
    }
}

/// One physical command/response pair, with how long the card took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// The C-APDU as sent; for a command sent with [`Exchanger::exchange_secret`], only its header
    /// (`CLA INS P1 P2`): the secret data is not kept.
    pub command: Vec<u8>,
    /// The R-APDU as received.
    pub response: Vec<u8>,
    /// Time from send to answer.
    pub elapsed: Duration,
}

/// The result of one logical command: the assembled response and the exchanges it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Response data, assembled across GET RESPONSE rounds.
    pub data: Vec<u8>,
    /// The final status word.
    pub sw: u16,
    /// Every physical exchange, in order (one when nothing needed following up).
    pub exchanges: Vec<Exchange>,
}

/// What [`Exchanger`] does on the caller's behalf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExchangeOptions {
    /// Follow `61xx` with GET RESPONSE (ISO 7816-4 §7.6.1) until the card stops asking.
    pub get_response: bool,
    /// Resend the command with Le = SW2 after `6Cxx` (ISO 7816-3 §12.2.4 / 7816-4 §5.6).
    pub fix_le: bool,
    /// CLA for GET RESPONSE: `None` keeps the command's class byte (channel bits included).
    pub get_response_cla: Option<u8>,
    /// Upper bound on follow-up exchanges for one command, so a card that loops cannot hang the host.
    pub max_rounds: usize,
    /// How to send a command whose data or Le do not fit a short APDU.
    pub long_commands: LongCommands,
}

/// How [`Exchanger`] sends commands with more than 255 data bytes or Le above 256.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LongCommands {
    /// Send the bytes exactly as given (the caller chose short or extended encoding).
    #[default]
    AsGiven,
    /// Re-encode as short APDUs and split the data with command chaining (ISO 7816-4 §5.3.3):
    /// CLA bit `10` on every part but the last, at most `max_data` bytes per part, Le on the last.
    /// Responses longer than 256 bytes then come back through `61xx`.
    Chain {
        /// Data bytes per part (1 to 255).
        max_data: u8,
    },
    /// Re-encode as one extended-length APDU when the data or Le need it (ISO 7816-4 §5.1), short
    /// otherwise.
    Extended,
}

impl Default for ExchangeOptions {
    fn default() -> Self {
        Self {
            get_response: true,
            fix_le: true,
            get_response_cla: None,
            max_rounds: 256,
            long_commands: LongCommands::AsGiven,
        }
    }
}

impl ExchangeOptions {
    /// Raw mode: every status word goes back to the caller untouched.
    pub const RAW: ExchangeOptions = ExchangeOptions {
        get_response: false,
        fix_le: false,
        get_response_cla: None,
        max_rounds: 1,
        long_commands: LongCommands::AsGiven,
    };
}

/// Runs logical commands over a [`Transport`], following up `61xx` and `6Cxx` as configured.
#[derive(Debug)]
pub struct Exchanger<T> {
    transport: T,
    /// What to follow up automatically.
    pub options: ExchangeOptions,
}

impl<T: Transport> Exchanger<T> {
    /// Wraps a transport with the default options (follow `61xx` and `6Cxx`).
    pub fn new(transport: T) -> Self {
        Self { transport, options: ExchangeOptions::default() }
    }

    /// The underlying transport.
    pub fn transport(&mut self) -> &mut T {
        &mut self.transport
    }

    /// Consumes the exchanger and returns the transport.
    pub fn into_inner(self) -> T {
        self.transport
    }

    fn round(
        &mut self,
        command: &[u8],
        secret: Option<&'static str>,
        exchanges: &mut Vec<Exchange>,
    ) -> Result<Vec<u8>, TransportError> {
        let start = Instant::now();
        let response = match secret {
            Some(name) => self.transport.transmit_secret(command, name)?,
            None => self.transport.transmit(command)?,
        };
        if response.len() < 2 {
            return Err(TransportError::BadResponse(response.len()));
        }
        // A secret command is kept as its header only.
        let kept = if secret.is_some() { &command[..4] } else { command };
        exchanges.push(Exchange {
            command: kept.to_vec(),
            response: response.clone(),
            elapsed: start.elapsed(),
        });
        Ok(response)
    }

    /// Sends one command and follows it up as the options say.
    pub fn exchange(&mut self, command: &[u8]) -> Result<Outcome, TransportError> {
        self.exchange_with(command, None)
    }

    /// Like [`exchange`](Exchanger::exchange) for a command whose data field is a secret called
    /// `name` (a VERIFY with a PIN): it goes to the card through
    /// [`Transport::transmit_secret`], so a recording transport writes `name` instead of the data,
    /// and the [`Outcome`] keeps only the header of the commands that carried it. The copies made
    /// on the way (chaining, Le retries) are zeroised. GET RESPONSE rounds carry no secret and are
    /// sent as usual.
    pub fn exchange_secret(&mut self, command: &[u8], name: &'static str) -> Result<Outcome, TransportError> {
        self.exchange_with(command, Some(name))
    }

    fn exchange_with(
        &mut self,
        command: &[u8],
        secret: Option<&'static str>,
    ) -> Result<Outcome, TransportError> {
        if command.len() < 4 {
            return Err(TransportError::BadCommand(format!(
                "a command APDU has at least 4 bytes (CLA INS P1 P2), this one has {}",
                command.len()
            )));
        }
        let parts: Vec<Zeroizing<Vec<u8>>> = match self.options.long_commands {
            LongCommands::AsGiven => vec![command.to_vec()],
            LongCommands::Chain { max_data } => Apdu::parse(command)?.chained(usize::from(max_data.max(1))),
            LongCommands::Extended => vec![Apdu::parse(command)?.encode()],
        }
        .into_iter()
        .map(Zeroizing::new)
        .collect();
        let mut exchanges = Vec::new();
        let Some((last, leading)) = parts.split_last() else {
            return Err(TransportError::BadCommand("nothing to send".into()));
        };
        for part in leading {
            // ISO 7816-4 §5.3.3: each part but the last is answered 9000 when the card takes it.
            let response = self.round(part, secret, &mut exchanges)?;
            let (body, sw) = split_sw(&response);
            if sw != 0x9000 {
                return Ok(Outcome { data: body.to_vec(), sw, exchanges });
            }
        }
        let mut response = self.round(last, secret, &mut exchanges)?;
        let mut data = Vec::new();
        let mut rounds = 1;
        loop {
            let (body, sw) = split_sw(&response);
            let [sw1, sw2] = sw.to_be_bytes();
            if rounds >= self.options.max_rounds {
                data.extend_from_slice(body);
                return Ok(Outcome { data, sw, exchanges });
            }
            if sw1 == 0x6C && self.options.fix_le {
                // ISO 7816-4 §5.6: "wrong Le field; SW2 encodes the exact number of available bytes".
                let resend = Zeroizing::new(with_le(last, sw2));
                response = self.round(&resend, secret, &mut exchanges)?;
            } else if sw1 == 0x61 && self.options.get_response {
                data.extend_from_slice(body);
                let cla = self.options.get_response_cla.unwrap_or(command[0] & !0x10);
                response = self.round(&[cla, 0xC0, 0x00, 0x00, sw2], None, &mut exchanges)?;
            } else {
                data.extend_from_slice(body);
                return Ok(Outcome { data, sw, exchanges });
            }
            rounds += 1;
        }
    }

    /// Sends one command and returns the response data, failing unless the status word is `9000`.
    pub fn expect_ok(&mut self, command: &[u8]) -> Result<Vec<u8>, StatusError> {
        let outcome = self.exchange(command)?;
        if outcome.sw == 0x9000 {
            Ok(outcome.data)
        } else {
            Err(StatusError::Status { sw: outcome.sw, command: command.to_vec() })
        }
    }
}

/// A command APDU, decoded: header, data and Ne (ISO 7816-4 §5.1), independent of its encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Apdu {
    /// Class byte.
    pub cla: u8,
    /// Instruction byte.
    pub ins: u8,
    /// Parameter 1.
    pub p1: u8,
    /// Parameter 2.
    pub p2: u8,
    /// Command data (Nc bytes, at most 65535).
    pub data: Vec<u8>,
    /// Ne, the most response bytes expected (1 to 65536); `None` when no response data is expected.
    pub ne: Option<usize>,
}

impl Apdu {
    /// Decodes a short or extended command APDU (ISO 7816-3 §12.1.3, via the `iso7816` crate).
    pub fn parse(bytes: &[u8]) -> Result<Apdu, TransportError> {
        let view = iso7816::command::CommandView::try_from(bytes).map_err(|e| {
            TransportError::BadCommand(format!("not a command APDU ({e:?}): {}", hex_upper(bytes)))
        })?;
        let ne = view.expected();
        Ok(Apdu {
            cla: bytes[0],
            ins: view.instruction().into(),
            p1: view.p1,
            p2: view.p2,
            data: view.data().to_vec(),
            ne: (ne > 0).then_some(ne),
        })
    }

    /// Whether the command fits a short APDU (Nc ≤ 255, Ne ≤ 256).
    pub fn fits_short(&self) -> bool {
        self.data.len() <= 255 && self.ne.is_none_or(|ne| ne <= 256)
    }

    /// Short encoding when it fits, extended otherwise (ISO 7816-4 §5.1: Lc and Le both short or both
    /// extended).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.cla, self.ins, self.p1, self.p2];
        if self.fits_short() {
            if !self.data.is_empty() {
                out.push(self.data.len() as u8);
                out.extend_from_slice(&self.data);
            }
            if let Some(ne) = self.ne {
                out.push(if ne >= 256 { 0 } else { ne as u8 });
            }
            return out;
        }
        out.push(0); // the extended-length marker
        if !self.data.is_empty() {
            out.extend_from_slice(&(self.data.len().min(0xFFFF) as u16).to_be_bytes());
            out.extend_from_slice(&self.data[..self.data.len().min(0xFFFF)]);
        }
        if let Some(ne) = self.ne {
            out.extend_from_slice(&(if ne >= 65536 { 0 } else { ne as u16 }).to_be_bytes());
        }
        out
    }

    /// Short APDUs carrying the data in parts of at most `max_data` bytes with command chaining
    /// (ISO 7816-4 §5.3.3): CLA bit `10` on all parts but the last; only the last has Le (capped at
    /// 256, so a longer answer comes back through `61xx`).
    pub fn chained(&self, max_data: usize) -> Vec<Vec<u8>> {
        let max_data = max_data.clamp(1, 255);
        let ne = self.ne.map(|ne| ne.min(256));
        // Each part is a new Apdu with a copy of its slice of the data (zeroised when dropped).
        let part = |cla: u8, data: &[u8], ne: Option<usize>| {
            Apdu { cla, ins: self.ins, p1: self.p1, p2: self.p2, data: data.to_vec(), ne }.encode()
        };
        if self.data.len() <= max_data {
            return vec![part(self.cla, &self.data, ne)];
        }
        let chunks: Vec<&[u8]> = self.data.chunks(max_data).collect();
        let n = chunks.len();
        chunks
            .into_iter()
            .enumerate()
            .map(|(i, chunk)| {
                let last = i + 1 == n;
                part(if last { self.cla } else { self.cla | 0x10 }, chunk, if last { ne } else { None })
            })
            .collect()
    }
}

impl Drop for Apdu {
    /// The data may be a secret (a PIN on its way to the card): zeroised with the value.
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.data);
    }
}

/// A command that went through but was refused by the card, or a transport failure.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// The transport failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The card answered a status word other than `9000`.
    #[error("the card answered {sw:04X} ({}) to {}", applet::sw::meaning(*sw), hex_upper(command))]
    Status {
        /// The status word.
        sw: u16,
        /// The command that got it.
        command: Vec<u8>,
    },
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Splits an R-APDU into its data and status word. The caller guarantees at least two bytes.
pub fn split_sw(response: &[u8]) -> (&[u8], u16) {
    let n = response.len();
    (&response[..n - 2], u16::from_be_bytes([response[n - 2], response[n - 1]]))
}

/// The same short command with its Le byte replaced (or appended, for a case 1 or 3 command).
fn with_le(command: &[u8], le: u8) -> Vec<u8> {
    let mut out = command.to_vec();
    match command.len() {
        4 => out.push(le),
        5 => out[4] = le,
        n => {
            let lc = usize::from(command[4]);
            if command[4] != 0 && n == 5 + lc {
                out.push(le);
            } else {
                out[n - 1] = le;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A card that answers from a script and records what it was sent.
    struct Scripted {
        answers: Vec<Vec<u8>>,
        sent: Vec<Vec<u8>>,
    }

    impl Transport for Scripted {
        fn name(&self) -> String {
            "scripted".into()
        }
        fn atr(&mut self) -> Result<Vec<u8>, TransportError> {
            Ok(vec![0x3B, 0x00])
        }
        fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
            self.sent.push(command.to_vec());
            if self.answers.is_empty() {
                return Err(TransportError::Other("script exhausted".into()));
            }
            Ok(self.answers.remove(0))
        }
        fn reset(&mut self, _: ResetKind) -> Result<Vec<u8>, TransportError> {
            self.atr()
        }
    }

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    #[test]
    fn follows_61xx_with_get_response_and_assembles_the_data() {
        let card = Scripted { answers: vec![h("0102 6103"), h("030405 9000")], sent: vec![] };
        let mut ex = Exchanger::new(card);
        let out = ex.exchange(&h("01B0000000")).unwrap();
        assert_eq!(out.data, h("0102030405"));
        assert_eq!(out.sw, 0x9000);
        assert_eq!(ex.transport().sent[1], h("01C0000003"), "GET RESPONSE keeps the channel bits");
        assert_eq!(out.exchanges.len(), 2);
    }

    #[test]
    fn a_secret_command_reaches_the_card_but_is_kept_as_its_header_only() {
        let card = Scripted { answers: vec![h("9000")], sent: vec![] };
        let mut ex = Exchanger::new(card);
        let verify = h("0020008104 31323334");
        let out = ex.exchange_secret(&verify, "pin").unwrap();
        assert_eq!(ex.transport().sent, [verify], "the card gets the PIN");
        assert_eq!(out.exchanges[0].command, h("00200081"), "the record does not");
        // Chained (a long secret): every part is kept as its header only, and all reach the card.
        let card = Scripted { answers: vec![h("9000"), h("9000")], sent: vec![] };
        let mut ex = Exchanger::new(card);
        ex.options.long_commands = LongCommands::Chain { max_data: 4 };
        let out = ex.exchange_secret(&h("0020008108 3132333435363738"), "pin").unwrap();
        assert_eq!(ex.transport().sent, [h("1020008104 31323334"), h("0020008104 35363738")]);
        assert_eq!(
            out.exchanges.iter().map(|e| e.command.clone()).collect::<Vec<_>>(),
            [h("10200081"), h("00200081")]
        );
    }

    #[test]
    fn only_the_secret_command_itself_is_redacted_not_its_follow_ups() {
        let card = Scripted { answers: vec![h("6102"), h("AABB 9000")], sent: vec![] };
        let mut ex = Exchanger::new(card);
        let out = ex.exchange_secret(&h("0020008104 31323334 00"), "pin").unwrap();
        assert_eq!(out.data, h("AABB"));
        assert_eq!(out.exchanges[0].command, h("00200081"));
        assert_eq!(out.exchanges[1].command, h("00C0000002"), "GET RESPONSE carries no secret");
    }

    #[test]
    fn resends_with_the_right_le_after_6cxx() {
        let card =
            Scripted { answers: vec![h("6C10"), h("00112233445566778899AABBCCDDEEFF 9000")], sent: vec![] };
        let mut ex = Exchanger::new(card);
        let out = ex.exchange(&h("00CA9F7F00")).unwrap();
        assert_eq!(ex.transport().sent[1], h("00CA9F7F10"));
        assert_eq!(out.data.len(), 16);
    }

    #[test]
    fn raw_mode_returns_61xx_untouched() {
        let card = Scripted { answers: vec![h("6110")], sent: vec![] };
        let mut ex = Exchanger::new(card);
        ex.options = ExchangeOptions::RAW;
        let out = ex.exchange(&h("00B0000000")).unwrap();
        assert_eq!(out.sw, 0x6110);
        assert_eq!(ex.transport().sent.len(), 1);
    }

    #[test]
    fn a_card_that_always_says_61xx_cannot_hang_the_host() {
        let card = Scripted { answers: vec![h("6101"); 400], sent: vec![] };
        let mut ex = Exchanger::new(card);
        let out = ex.exchange(&h("00B0000000")).unwrap();
        assert_eq!(out.exchanges.len(), ExchangeOptions::default().max_rounds);
        assert_eq!(out.sw, 0x6101);
    }

    #[test]
    fn long_data_is_chained_in_short_parts_with_le_on_the_last() {
        let data: Vec<u8> = (0..600u16).map(|i| i as u8).collect();
        let extended =
            Apdu { cla: 0x00, ins: 0xEE, p1: 1, p2: 2, data: data.clone(), ne: Some(600) }.encode();
        assert_eq!(&extended[..7], &h("00EE0102 000258"), "extended Lc");
        assert_eq!(&extended[extended.len() - 2..], &h("0258"), "extended Le");
        let card = Scripted { answers: vec![h("9000"), h("9000"), h("AA 9000")], sent: vec![] };
        let mut ex = Exchanger::new(card);
        ex.options.long_commands = LongCommands::Chain { max_data: 255 };
        let out = ex.exchange(&extended).unwrap();
        assert_eq!((out.data, out.sw), (vec![0xAA], 0x9000));
        let sent = &ex.transport().sent;
        assert_eq!(sent.len(), 3);
        assert_eq!(sent[0][..5], h("10EE0102FF"), "CLA chaining bit, 255 bytes, no Le");
        assert_eq!(sent[0].len(), 5 + 255);
        assert_eq!(sent[1][..5], h("10EE0102FF"));
        assert_eq!(sent[2][..5], h("00EE01025A"), "last part: 90 bytes, plain CLA");
        assert_eq!(sent[2].last(), Some(&0x00), "Le 256 on the last part only");
        let rejoined: Vec<u8> = sent.iter().flat_map(|c| c[5..5 + usize::from(c[4])].to_vec()).collect();
        assert_eq!(rejoined, data);
    }

    #[test]
    fn a_refused_chain_part_stops_the_chain() {
        let card = Scripted { answers: vec![h("6884")], sent: vec![] };
        let mut ex = Exchanger::new(card);
        ex.options.long_commands = LongCommands::Chain { max_data: 16 };
        let out = ex
            .exchange(&h("00EE000020 0000000000000000000000000000000000000000000000000000000000000000"))
            .unwrap();
        assert_eq!(out.sw, 0x6884, "command chaining not supported");
        assert_eq!(ex.transport().sent.len(), 1);
    }

    #[test]
    fn extended_mode_reencodes_only_what_needs_it() {
        let card = Scripted { answers: vec![h("9000"), h("9000")], sent: vec![] };
        let mut ex = Exchanger::new(card);
        ex.options.long_commands = LongCommands::Extended;
        ex.exchange(&h("00A4040002A00000")).unwrap();
        ex.exchange(&h("00B0000000 0400")).unwrap();
        assert_eq!(ex.transport().sent[0], h("00A4040002A00000"), "short stays short");
        assert_eq!(ex.transport().sent[1], h("00B0000000 0400"), "Ne 1024 stays extended");
        assert_eq!(Apdu::parse(&h("00B0000000 0400")).unwrap().ne, Some(1024));
        assert!(Apdu::parse(&h("00B000")).is_err());
    }

    #[test]
    fn protocol_comes_from_the_first_td_byte_of_the_atr() {
        assert_eq!(Protocol::from_atr(&h("3B 02 14 50")), Some(Protocol::T0), "no TD1: T=0 only");
        // The emulated card's ATR: TD1 = 81 (T=1).
        let emu = h("3B8E8131FE458073C001DF58636172646761746533");
        assert_eq!(Protocol::from_atr(&emu), Some(Protocol::T1));
        assert_eq!(Protocol::from_atr(&h("3B 80")), None, "TD1 announced but missing");
        assert_eq!("T=1".parse::<Protocol>(), Ok(Protocol::T1));
        assert!("T=2".parse::<Protocol>().is_err());
    }

    #[test]
    fn le_is_placed_after_the_data_of_a_case_3_command() {
        assert_eq!(with_le(&h("00A4040002A000"), 0x20), h("00A4040002A00020"));
        assert_eq!(with_le(&h("00A4040002A00000"), 0x20), h("00A4040002A00020"));
        assert_eq!(with_le(&h("00B00000"), 0x08), h("00B0000008"));
    }
}
