//! One simulated gate device's keep-alive HTTP/1.1 connection for posting scans. It is deliberately lean
//! (no pool, no URL parsing per request): the load generator shares the machine with the server it
//! measures, and every microsecond it spends is one the server does not get.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
pub use hyper::{Method, StatusCode};
use hyper_util::rt::TokioIo;

use crate::load::LoadError;

const SCANS_PATH: &str = "/api/v1/device/scans";

pub struct GateConnection {
    address: String,
    host: HeaderValue,
    authorization: HeaderValue,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl GateConnection {
    /// For `base_url` (`http://host:port`) and a device's bearer token; connects on first use.
    pub fn new(base_url: &str, device_token: &str) -> Result<Self, LoadError> {
        let url = reqwest::Url::parse(base_url).map_err(|e| LoadError::Server(format!("{base_url}: {e}")))?;
        if url.scheme() != "http" {
            return Err(LoadError::Server(format!("{base_url}: only http:// is supported")));
        }
        let host = url.host_str().ok_or_else(|| LoadError::Server(format!("{base_url}: no host")))?;
        let port = url.port_or_known_default().unwrap_or(80);
        let address = format!("{host}:{port}");
        let header = |v: String| {
            HeaderValue::from_str(&v).map_err(|e| LoadError::Server(format!("header value: {e}")))
        };
        Ok(Self {
            host: header(address.clone())?,
            address,
            authorization: header(format!("Bearer {device_token}"))?,
            sender: None,
        })
    }

    async fn connect(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, LoadError> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            let stream = tokio::net::TcpStream::connect(&self.address)
                .await
                .map_err(|e| LoadError::Server(format!("connect {}: {e}", self.address)))?;
            stream.set_nodelay(true).map_err(|e| LoadError::Server(e.to_string()))?;
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| LoadError::Server(format!("handshake: {e}")))?;
            tokio::spawn(connection);
            self.sender = Some(sender);
        }
        self.sender.as_mut().ok_or_else(|| LoadError::Server("no connection".into()))
    }

    /// Posts one scan (a JSON body) and returns the status and the whole answer.
    pub async fn scan(&mut self, body: Vec<u8>) -> Result<(StatusCode, Bytes), LoadError> {
        self.send(Method::POST, SCANS_PATH, body).await
    }

    /// One request on this connection (with the device's token); returns the status and the whole answer.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Vec<u8>,
    ) -> Result<(StatusCode, Bytes), LoadError> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, self.host.clone())
            .header(AUTHORIZATION, self.authorization.clone());
        if !body.is_empty() {
            request = request.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| LoadError::Server(format!("request: {e}")))?;
        let sender = self.connect().await?;
        sender.ready().await.map_err(|e| LoadError::Server(format!("connection: {e}")))?;
        let response = match sender.send_request(request).await {
            Ok(r) => r,
            Err(e) => {
                // The next request reconnects.
                self.sender = None;
                return Err(LoadError::Server(format!("{path}: {e}")));
            }
        };
        let status = response.status();
        let answer = response
            .into_body()
            .collect()
            .await
            .map_err(|e| LoadError::Server(format!("answer: {e}")))?
            .to_bytes();
        Ok((status, answer))
    }
}
