//! One module per command group. Each exposes its clap arguments and a `run` returning the exit code.

pub mod apdu;
pub mod card;
pub mod card_serve;
pub mod emit_script;
pub mod hotspot;
pub mod issuer;
pub mod lint;
pub mod merchant;
pub mod policy;
pub mod readers;
pub mod run;
pub mod server;
pub mod sw;
pub mod tlv;
pub mod wallet;

/// Logs go to stderr so that stdout stays machine-readable (QR codes, JSON).
pub fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colour only on a terminal: a log redirected to a file stays plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).init();
}
