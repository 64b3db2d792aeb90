//! The one REST helper every venue uses: GET, classify the status, decode the body.

use md_core::error::snippet;
use md_core::SymbolError;
use serde::de::DeserializeOwned;

/// GETs `url` and decodes the JSON body; HTTP errors keep their status so the caller can tell
/// a rate limit (429/418, retry later) from a bad request.
pub(crate) async fn get_json<T: DeserializeOwned>(
    client: &reqwest::Client,
    url: &str,
) -> Result<T, SymbolError> {
    let body = get_text(client, url).await?;
    serde_json::from_str(&body).map_err(SymbolError::Decode)
}

/// GETs `url` and returns the body text of a 2xx answer; an error status keeps the venue's
/// `Retry-After` so the caller waits as long as it was told to.
pub(crate) async fn get_text(client: &reqwest::Client, url: &str) -> Result<String, SymbolError> {
    let response = client.get(url).send().await.map_err(|e| SymbolError::Transport(Box::new(e)))?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let body = response.text().await.map_err(|e| SymbolError::Transport(Box::new(e)))?;
    if !status.is_success() {
        return Err(SymbolError::Status { status: status.as_u16(), body: snippet(&body), retry_after });
    }
    Ok(body)
}

/// The HTTP client venues share: bounded timeouts so a stuck venue cannot stall a resync.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(15))
        .connect_timeout(std::time::Duration::from_secs(5))
        .build()
        .unwrap_or_default()
}
