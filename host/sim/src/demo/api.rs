//! The demo's JSON API client: plain HTTP calls to the host's router, as a
//! dashboard or a script would make them.

use anyhow::{Context, bail};
use serde_json::Value;

/// A client of one host's `/api`.
#[derive(Debug, Clone)]
pub struct Api {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Api {
    /// A client of the host at `base` (`http://ADDR`) with a bearer token.
    pub fn new(base: &str, token: &str) -> anyhow::Result<Api> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()?;
        Ok(Api {
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
            http,
        })
    }

    /// `POST {path}` with a JSON body; the JSON answer of a 2xx.
    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body);
        Self::answer("POST", path, request).await
    }

    /// `GET {path}`; the JSON answer of a 2xx.
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let request = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        Self::answer("GET", path, request).await
    }

    async fn answer(
        method: &str,
        path: &str,
        request: reqwest::RequestBuilder,
    ) -> anyhow::Result<Value> {
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("{method} {path} answered {status}: {text}");
        }
        serde_json::from_str(&text)
            .with_context(|| format!("{method} {path}: the answer is not JSON: {text}"))
    }
}

/// A string field of an API answer, or an error naming it.
pub fn field(v: &Value, name: &str) -> anyhow::Result<String> {
    match v.get(name).and_then(Value::as_str) {
        Some(s) => Ok(s.to_string()),
        None => bail!("the API answer has no `{name}`: {v}"),
    }
}
