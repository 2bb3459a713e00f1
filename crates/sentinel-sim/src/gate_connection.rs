//! One simulated gate device's keep-alive HTTP/1.1 connection for posting scans. It is deliberately lean:
//! the load generator shares the machine with the server it measures, and every microsecond it spends is
//! one the server does not get. So the request head is prepared once, and a request is one write and
//! (usually) one read on a socket the device's own task owns: no connection task, no channels, no pool.

use bytes::Bytes;
pub use hyper::{Method, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::load::LoadError;

const SCANS_PATH: &str = "/api/v1/device/scans";
/// Most header lines an answer may carry.
const MAX_HEADERS: usize = 32;
/// Largest answer head accepted.
const MAX_HEAD: usize = 16 * 1024;

pub struct GateConnection {
    address: String,
    /// `Host` and `Authorization` lines, ready to send.
    headers: String,
    stream: Option<TcpStream>,
    /// What was read and not yet consumed.
    input: Vec<u8>,
    output: Vec<u8>,
}

fn error(what: impl std::fmt::Display) -> LoadError {
    LoadError::Server(what.to_string())
}

/// The head of an answer: its status, its body's length and whether the server will close.
struct Head {
    length: usize,
    status: StatusCode,
    body_length: usize,
    close: bool,
}

/// Parses an answer's head from `input`, if all of it is there.
fn parse_head(input: &[u8]) -> Result<Option<Head>, LoadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let length = match response.parse(input).map_err(|e| error(format!("answer: {e}")))? {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial if input.len() > MAX_HEAD => return Err(error("answer head too long")),
        httparse::Status::Partial => return Ok(None),
    };
    let status = StatusCode::from_u16(response.code.unwrap_or(0)).map_err(error)?;
    let (mut body_length, mut close) = (None, false);
    for header in response.headers.iter() {
        let value = std::str::from_utf8(header.value).unwrap_or("").trim();
        if header.name.eq_ignore_ascii_case("content-length") {
            body_length = Some(value.parse::<usize>().map_err(|_| error("bad content-length"))?);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(error(format!(
                "transfer-encoding {value} is not supported (answers carry a length)"
            )));
        } else if header.name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
    }
    let body_length = body_length.ok_or_else(|| error("answer without content-length"))?;
    Ok(Some(Head { length, status, body_length, close }))
}

impl GateConnection {
    /// For `base_url` (`http://host:port`) and a device's bearer token; connects on first use.
    pub fn new(base_url: &str, device_token: &str) -> Result<Self, LoadError> {
        let url = reqwest::Url::parse(base_url).map_err(|e| error(format!("{base_url}: {e}")))?;
        if url.scheme() != "http" {
            return Err(error(format!("{base_url}: only http:// is supported")));
        }
        let host = url.host_str().ok_or_else(|| error(format!("{base_url}: no host")))?;
        let port = url.port_or_known_default().unwrap_or(80);
        let address = format!("{host}:{port}");
        if device_token.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return Err(error("a device token is printable text without spaces"));
        }
        Ok(Self {
            headers: format!("Host: {address}\r\nAuthorization: Bearer {device_token}\r\n"),
            address,
            stream: None,
            input: Vec::with_capacity(4096),
            output: Vec::with_capacity(1024),
        })
    }

    /// Posts one scan (a JSON body) and returns the status and the whole answer.
    pub async fn scan(&mut self, body: Vec<u8>) -> Result<(StatusCode, Bytes), LoadError> {
        self.send(Method::POST, SCANS_PATH, body).await
    }

    /// One request on this connection (with the device's token); returns the status and the whole answer.
    /// After any failure the connection is dropped and the next request opens a new one.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Vec<u8>,
    ) -> Result<(StatusCode, Bytes), LoadError> {
        let answer = self.exchange(&method, path, &body).await;
        if answer.is_err() {
            self.stream = None;
        }
        answer
    }

    async fn exchange(
        &mut self,
        method: &Method,
        path: &str,
        body: &[u8],
    ) -> Result<(StatusCode, Bytes), LoadError> {
        use std::fmt::Write as _;
        let mut head = String::with_capacity(self.headers.len() + 96);
        let _ = write!(head, "{method} {path} HTTP/1.1\r\n{}", self.headers);
        if !body.is_empty() {
            let _ = write!(head, "Content-Type: application/json\r\nContent-Length: {}\r\n", body.len());
        }
        head.push_str("\r\n");
        self.output.clear();
        self.output.extend_from_slice(head.as_bytes());
        self.output.extend_from_slice(body);
        if self.stream.is_none() {
            let stream = TcpStream::connect(&self.address)
                .await
                .map_err(|e| error(format!("connect {}: {e}", self.address)))?;
            stream.set_nodelay(true).map_err(error)?;
            self.input.clear();
            self.stream = Some(stream);
        }
        let stream = self.stream.as_mut().ok_or_else(|| error("no connection"))?;
        stream.write_all(&self.output).await.map_err(|e| error(format!("{path}: {e}")))?;
        let head = loop {
            if let Some(head) = parse_head(&self.input)? {
                break head;
            }
            if stream.read_buf(&mut self.input).await.map_err(|e| error(format!("{path}: {e}")))? == 0 {
                return Err(error(format!("{path}: the server closed the connection")));
            }
        };
        let end = head.length + head.body_length;
        while self.input.len() < end {
            if stream.read_buf(&mut self.input).await.map_err(|e| error(format!("{path}: {e}")))? == 0 {
                return Err(error(format!("{path}: the answer was cut short")));
            }
        }
        let answer = Bytes::copy_from_slice(&self.input[head.length..end]);
        self.input.drain(..end);
        if head.close {
            self.stream = None;
        }
        Ok((head.status, answer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answer_heads_are_parsed_or_refused() {
        let ok = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
        let head = parse_head(ok).unwrap().unwrap();
        assert_eq!(
            (head.status, head.length, head.body_length, head.close),
            (StatusCode::OK, ok.len() - 2, 2, false)
        );
        assert!(parse_head(&ok[..20]).unwrap().is_none(), "a partial head waits for more");
        let closing = b"HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        let head = parse_head(closing).unwrap().unwrap();
        assert_eq!((head.status, head.body_length, head.close), (StatusCode::UNAUTHORIZED, 0, true));
        assert!(parse_head(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n").is_err());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\n\r\n").is_err(), "no length");
        assert!(parse_head(b"garbage\r\n\r\n").is_err());
    }
}
