//! The issuer server's client, as the host's commands use it (`merchant register`, `settle`, `issue`,
//! `issuer ...`). Every failure says which of three things happened: the server could not be reached,
//! it answered an error (with its JSON code and message), or it answered something that is not the API.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use super::api::{
    AccountInfo, CreateAccount, ErrorBody, IssueRequest, IssueResponse, IssuerKeyInfo, IssuerKeys,
    MerchantRegistered, RegisterMerchant, RotateKey, SettlementRequest, Verdicts,
};

/// A failed call.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No answer: connection refused, timeout, DNS...
    #[error("cannot reach the issuer server at {url}: {why}")]
    Unreachable {
        /// The URL.
        url: String,
        /// Why.
        why: String,
    },
    /// The server answered with an API error.
    #[error("the issuer server refused {url}: {status} {code}: {message}")]
    Api {
        /// The URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// The error code.
        code: String,
        /// The message.
        message: String,
    },
    /// The answer is not what the API defines.
    #[error("the issuer server at {url} answered something that is not the cardgate API ({why})")]
    Garbage {
        /// The URL.
        url: String,
        /// What was wrong.
        why: String,
    },
}

impl ClientError {
    /// Whether trying again later may succeed (unreachable, server errors, garbage, rate limiting).
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Unreachable { .. } | ClientError::Garbage { .. } => true,
            ClientError::Api { status, .. } => *status >= 500 || *status == 429,
        }
    }
}

/// A client for one server, with an optional bearer secret (admin token or merchant API key).
#[derive(Debug, Clone)]
pub struct IssuerClient {
    base: String,
    http: reqwest::Client,
    bearer: Option<Zeroizing<String>>,
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

impl IssuerClient {
    /// A client for `base` (`http://127.0.0.1:8080`); requests time out after `timeout`.
    pub fn new(
        base: &str,
        bearer: Option<Zeroizing<String>>,
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        let base = base.trim_end_matches('/').to_owned();
        if !base.starts_with("http://") && !base.starts_with("https://") {
            return Err(ClientError::Unreachable {
                url: base,
                why: "the server URL must start with http://".into(),
            });
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| ClientError::Unreachable { url: base.clone(), why: chain(&e) })?;
        Ok(Self { base, http, bearer })
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    async fn send<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
        url: String,
    ) -> Result<T, ClientError> {
        let req = match &self.bearer {
            Some(b) => req.bearer_auth(b.as_str()),
            None => req,
        };
        let resp =
            req.send().await.map_err(|e| ClientError::Unreachable { url: url.clone(), why: chain(&e) })?;
        let status = resp.status();
        let body =
            resp.bytes().await.map_err(|e| ClientError::Unreachable { url: url.clone(), why: chain(&e) })?;
        if status.is_success() {
            return serde_json::from_slice(&body)
                .map_err(|e| ClientError::Garbage { url, why: format!("HTTP {status}, {e}") });
        }
        match serde_json::from_slice::<ErrorBody>(&body) {
            Ok(err) => Err(ClientError::Api {
                url,
                status: status.as_u16(),
                code: err.error.code,
                message: err.error.message,
            }),
            Err(_) => {
                Err(ClientError::Garbage { url, why: format!("HTTP {status} without a JSON error body") })
            }
        }
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let url = format!("{}{path}", self.base);
        self.send(self.http.get(&url), url).await
    }

    async fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T, ClientError> {
        let url = format!("{}{path}", self.base);
        self.send(self.http.post(&url).json(body), url).await
    }

    /// `GET /v1/issuer/keys`.
    pub async fn issuer_keys(&self) -> Result<IssuerKeys, ClientError> {
        self.get("/v1/issuer/keys").await
    }

    /// `POST /v1/admin/keys/rotate`.
    pub async fn rotate_key(&self, algorithm: Option<String>) -> Result<IssuerKeyInfo, ClientError> {
        self.post("/v1/admin/keys/rotate", &RotateKey { algorithm }).await
    }

    /// `POST /v1/accounts`.
    pub async fn create_account(&self, req: &CreateAccount) -> Result<AccountInfo, ClientError> {
        self.post("/v1/accounts", req).await
    }

    /// `GET /v1/accounts/{name}`.
    pub async fn account(&self, name: &str) -> Result<AccountInfo, ClientError> {
        self.get(&format!("/v1/accounts/{name}")).await
    }

    /// `POST /v1/tokens`.
    pub async fn issue(&self, req: &IssueRequest) -> Result<IssueResponse, ClientError> {
        self.post("/v1/tokens", req).await
    }

    /// `POST /v1/merchants`.
    pub async fn register_merchant(&self, req: &RegisterMerchant) -> Result<MerchantRegistered, ClientError> {
        self.post("/v1/merchants", req).await
    }

    /// `POST /v1/settlements`.
    pub async fn settle(&self, req: &SettlementRequest) -> Result<Verdicts, ClientError> {
        self.post("/v1/settlements", req).await
    }
}
