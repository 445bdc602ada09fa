//! The HTTP API's wire types (JSON), shared by the server and the clients, and the stable error codes.
//! `docs/hotspot.md` lists every route with these bodies.

use serde::{Deserialize, Serialize};

/// `POST /v1/hotspot/proofs`: start of proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    /// The selected network's SSID as scanned (the first identifier).
    pub ssid: String,
    /// The BSSIDs (access point MACs) broadcasting it.
    pub bssids: Vec<String>,
    /// `hash` or `random`; the server's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

/// Answer to a start of proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartResponse {
    /// Names the proof in the completion URL.
    pub proof_id: String,
    /// The rule that made the second identifier.
    pub rule: String,
    /// The second identifier.
    pub second: String,
    /// The third identifier derived from the second: what the network must be renamed to.
    pub rename_to: String,
    /// Expiry, UTC seconds since the epoch.
    pub expires_at: i64,
    /// Seconds from now until the expiry.
    pub expires_in: u64,
    /// A new sharer token, present only when the request carried none. Keep it: it completes this
    /// proof and later owns the registered network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sharer_token: Option<String>,
}

/// `POST /v1/hotspot/proofs/{id}/complete`: end of proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompleteRequest {
    /// The SSID now seen in a fresh scan on the selected network's access points (the third identifier).
    pub ssid: String,
    /// The BSSIDs broadcasting it in that scan.
    pub bssids: Vec<String>,
    /// The network key (WPA passphrase or 64-hex PSK), stored encrypted; optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Whether third-party clients may receive the key with the mappings.
    #[serde(default)]
    pub share_key: bool,
}

/// A network registered by a successful proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registered {
    /// The network's id (owner commands and the event stream use it).
    pub network_id: String,
    /// The SSID the network is known by (the first identifier; rename the network back to it).
    pub ssid: String,
    /// The SSID that proved control (the third identifier).
    pub proven_ssid: String,
    /// The access points now registered to the network.
    pub macs: Vec<String>,
    /// Whether a network key is stored.
    pub key_stored: bool,
}

/// One registered network as third-party clients see it: its MAC → SSID correspondences.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mapping {
    /// The network's id.
    pub network_id: String,
    /// Its SSID.
    pub ssid: String,
    /// Its registered access point MACs.
    pub macs: Vec<String>,
    /// The network key, only when its owner chose to share it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// `GET /v1/hotspot/mappings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mappings {
    /// Every registered network that has at least one MAC.
    pub networks: Vec<Mapping>,
}

/// `PUT /v1/hotspot/networks/{id}/push`: the information to push (owner only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushRequest {
    /// Any JSON value, at most 4 KiB once serialised.
    pub info: serde_json::Value,
}

/// The information pushed for a network: the `info` event of the stream, and the push routes' answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushInfo {
    /// The network.
    pub network_id: String,
    /// Starts at 1, one more at every change; also the SSE event id.
    pub version: u64,
    /// What the owner set.
    pub info: serde_json::Value,
    /// When it was set, UTC seconds.
    pub updated_at: i64,
}

/// Every error answer: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The error inside an [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Stable, machine-readable.
    pub code: ErrorCode,
    /// For people; may change.
    pub message: String,
}

/// Stable error codes. The HTTP status is fixed per code ([`ErrorCode::status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: the body is not the JSON the route takes (syntax, types, unknown or missing fields).
    BadRequest,
    /// 415: the body is not declared `application/json`.
    UnsupportedMediaType,
    /// 413: the body is larger than the server takes.
    RequestTooLarge,
    /// 400: an SSID is empty, longer than 32 bytes or holds control characters.
    SsidInvalid,
    /// 400: a BSSID is not a unicast MAC, or the list is empty or too long.
    BssidInvalid,
    /// 400: the network key is not a WPA passphrase or PSK.
    KeyInvalid,
    /// 400: the second-identifier rule is neither `hash` nor `random`.
    RuleUnknown,
    /// 413: the information to push is larger than 4 KiB.
    InfoTooLarge,
    /// 401: the route needs `Authorization: Bearer <sharer token>`, and it is missing or malformed.
    Unauthorized,
    /// 401: the bearer token given at the start of a proof is not one this server issued.
    SharerUnknown,
    /// 403: the proof was started by another sharer.
    WrongSharer,
    /// 403: the network belongs to another sharer.
    NotOwner,
    /// 404: no such proof.
    ProofUnknown,
    /// 404: no such network.
    NetworkUnknown,
    /// 404: no such route.
    NotFound,
    /// 405: the route exists, not with this method.
    MethodNotAllowed,
    /// 409: the proof has already been completed or failed; proofs are single use.
    ProofUsed,
    /// 410: the proof's second identifier has expired.
    ProofExpired,
    /// 422: the third identifier is not the one derived from the second; the proof is spent.
    SsidMismatch,
    /// 422: none of the BSSIDs at the end of the proof was named at its start; the proof is spent.
    BssidMismatch,
    /// 429: too many attempts from this client; retry after `Retry-After` seconds.
    RateLimited,
    /// 500: the server failed; nothing was half-written.
    Internal,
    /// A code this client does not know (a newer server).
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The HTTP status that goes with the code.
    pub fn status(self) -> u16 {
        use ErrorCode::*;
        match self {
            BadRequest | SsidInvalid | BssidInvalid | KeyInvalid | RuleUnknown => 400,
            Unauthorized | SharerUnknown => 401,
            WrongSharer | NotOwner => 403,
            ProofUnknown | NetworkUnknown | NotFound => 404,
            MethodNotAllowed => 405,
            ProofUsed => 409,
            ProofExpired => 410,
            RequestTooLarge | InfoTooLarge => 413,
            UnsupportedMediaType => 415,
            SsidMismatch | BssidMismatch => 422,
            RateLimited => 429,
            Internal | Unknown => 500,
        }
    }

    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            BadRequest => "bad_request",
            UnsupportedMediaType => "unsupported_media_type",
            RequestTooLarge => "request_too_large",
            SsidInvalid => "ssid_invalid",
            BssidInvalid => "bssid_invalid",
            KeyInvalid => "key_invalid",
            RuleUnknown => "rule_unknown",
            InfoTooLarge => "info_too_large",
            Unauthorized => "unauthorized",
            SharerUnknown => "sharer_unknown",
            WrongSharer => "wrong_sharer",
            NotOwner => "not_owner",
            ProofUnknown => "proof_unknown",
            NetworkUnknown => "network_unknown",
            NotFound => "not_found",
            MethodNotAllowed => "method_not_allowed",
            ProofUsed => "proof_used",
            ProofExpired => "proof_expired",
            SsidMismatch => "ssid_mismatch",
            BssidMismatch => "bssid_mismatch",
            RateLimited => "rate_limited",
            Internal => "internal",
            Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialise_as_documented() {
        for code in [ErrorCode::ProofExpired, ErrorCode::SsidMismatch, ErrorCode::RateLimited] {
            assert_eq!(serde_json::to_value(code).unwrap(), serde_json::json!(code.as_str()));
        }
        let c: ErrorCode = serde_json::from_str("\"from_the_future\"").unwrap();
        assert_eq!(c, ErrorCode::Unknown);
    }
}
