//! HTTP client of the hotspot API (reqwest), used by `cardgate hotspot register | listen | push`.

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde::de::DeserializeOwned;

use super::api::{
    CompleteRequest, ErrorBody, ErrorCode, Mappings, PushInfo, PushRequest, Registered, StartRequest,
    StartResponse,
};
use super::sse::{SseEvent, SseParser};

/// A failed call.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server URL is not `http://host[:port]`.
    #[error("server URL {0:?} must look like http://host:port")]
    Url(String),
    /// The server refused, with its error code.
    #[error("server refused ({status}, {code}): {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Stable code.
        code: ErrorCode,
        /// The server's message.
        message: String,
    },
    /// An answer that is not the documented JSON.
    #[error("server answered {status} with an unexpected body: {body}")]
    Unexpected {
        /// HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// Transport failure.
    #[error("cannot reach the server: {0}")]
    Http(#[from] reqwest::Error),
}

impl ClientError {
    /// The server's error code, when it refused.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// The hotspot API of one server.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    /// A client for `base` (`http://host:port`, no path).
    pub fn new(base: &str) -> Result<Self, ClientError> {
        let trimmed = base.trim_end_matches('/');
        let rest = trimmed.strip_prefix("http://").ok_or_else(|| ClientError::Url(base.to_owned()))?;
        if rest.is_empty() || rest.contains('/') {
            return Err(ClientError::Url(base.to_owned()));
        }
        let http = reqwest::Client::builder().build()?;
        Ok(Self { http, base: trimmed.to_owned() })
    }

    fn auth(token: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(t) = token
            && let Ok(mut v) = HeaderValue::from_str(&format!("Bearer {t}"))
        {
            v.set_sensitive(true);
            h.insert(AUTHORIZATION, v);
        }
        h
    }

    async fn decode<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T, ClientError> {
        let status = resp.status();
        let bytes = resp.bytes().await?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|_| unexpected(status, &bytes));
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(e) => Err(ClientError::Api {
                status: status.as_u16(),
                code: e.error.code,
                message: e.error.message,
            }),
            Err(_) => Err(unexpected(status, &bytes)),
        }
    }

    /// Starts a proof (with the sharer token, if the sharer has one).
    pub async fn start(&self, token: Option<&str>, req: &StartRequest) -> Result<StartResponse, ClientError> {
        let url = format!("{}/v1/hotspot/proofs", self.base);
        Self::decode(self.http.post(url).headers(Self::auth(token)).json(req).send().await?).await
    }

    /// Ends a proof.
    pub async fn complete(
        &self,
        token: &str,
        proof_id: &str,
        req: &CompleteRequest,
    ) -> Result<Registered, ClientError> {
        let url = format!("{}/v1/hotspot/proofs/{proof_id}/complete", self.base);
        Self::decode(self.http.post(url).headers(Self::auth(Some(token))).json(req).send().await?).await
    }

    /// Every MAC → SSID mapping.
    pub async fn mappings(&self) -> Result<Mappings, ClientError> {
        Self::decode(self.http.get(format!("{}/v1/hotspot/mappings", self.base)).send().await?).await
    }

    /// Sets the information to push for a network (owner).
    pub async fn set_push(
        &self,
        token: &str,
        network_id: &str,
        info: serde_json::Value,
    ) -> Result<PushInfo, ClientError> {
        let url = format!("{}/v1/hotspot/networks/{network_id}/push", self.base);
        let body = PushRequest { info };
        Self::decode(self.http.put(url).headers(Self::auth(Some(token))).json(&body).send().await?).await
    }

    /// Opens the network's event stream, resuming after `last_version`.
    pub async fn events(&self, network_id: &str, last_version: u64) -> Result<EventStream, ClientError> {
        let url = format!("{}/v1/hotspot/networks/{network_id}/events", self.base);
        let resp = self
            .http
            .get(url)
            .header("accept", "text/event-stream")
            .header("last-event-id", last_version.to_string())
            .send()
            .await?;
        if resp.status() != StatusCode::OK {
            return Err(Self::decode::<serde_json::Value>(resp).await.err().unwrap_or_else(unexpected_empty));
        }
        Ok(EventStream { resp, parser: SseParser::default(), pending: Vec::new() })
    }
}

fn unexpected(status: StatusCode, bytes: &[u8]) -> ClientError {
    let body: String = String::from_utf8_lossy(bytes).chars().take(200).collect();
    ClientError::Unexpected { status: status.as_u16(), body }
}

fn unexpected_empty() -> ClientError {
    ClientError::Unexpected { status: 200, body: "not an event stream".to_owned() }
}

/// An open event stream.
#[derive(Debug)]
pub struct EventStream {
    resp: reqwest::Response,
    parser: SseParser,
    pending: Vec<SseEvent>,
}

impl EventStream {
    /// The next event; `None` when the server closed the stream.
    pub async fn next(&mut self) -> Result<Option<SseEvent>, ClientError> {
        loop {
            if !self.pending.is_empty() {
                return Ok(Some(self.pending.remove(0)));
            }
            match self.resp.chunk().await? {
                Some(chunk) => self.pending = self.parser.feed(&chunk),
                None => return Ok(None),
            }
        }
    }
}
