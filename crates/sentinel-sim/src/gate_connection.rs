//! One simulated gate device's keep-alive HTTP/1.1 connection for posting scans. It is deliberately lean:
//! the load generator shares the machine with the server it measures, and every microsecond it spends is
//! one the server does not get. So the fixed header lines are prepared once, and a request is one write and
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
/// Largest answer body accepted.
const MAX_BODY: usize = 16 * 1024 * 1024;

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

/// How an exchange failed.
enum Exchange {
    /// Nothing of an answer came: on a kept connection, the server had closed it meanwhile.
    ClosedBeforeAnswer(LoadError),
    Failed(LoadError),
}

/// Parses an answer's head from `input`, if all of it is there; `bodyless` for an answer to HEAD.
fn parse_head(input: &[u8], bodyless: bool) -> Result<Option<Head>, LoadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let length = match response.parse(input).map_err(|e| error(format!("answer: {e}")))? {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial if input.len() > MAX_HEAD => return Err(error("answer head too long")),
        httparse::Status::Partial => return Ok(None),
    };
    let status = StatusCode::from_u16(response.code.unwrap_or(0)).map_err(error)?;
    if status.is_informational() {
        return Err(error(format!("interim answer {status} (this client sends no Expect)")));
    }
    // HTTP/1.0 closes unless asked to keep the connection, which this client never does.
    let (mut body_length, mut close) = (None, response.version == Some(0));
    for header in response.headers.iter() {
        let value = std::str::from_utf8(header.value).unwrap_or("").trim();
        if header.name.eq_ignore_ascii_case("content-length") {
            let n = value.parse::<usize>().map_err(|_| error("bad content-length"))?;
            if n > MAX_BODY || body_length.is_some_and(|m| m != n) {
                return Err(error(format!("content-length {value} refused")));
            }
            body_length = Some(n);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(error(format!(
                "transfer-encoding {value} is not supported (answers carry a length)"
            )));
        } else if header.name.eq_ignore_ascii_case("connection") {
            close |= value.split(',').any(|token| token.trim().eq_ignore_ascii_case("close"));
        }
    }
    let body_length = if bodyless || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        0
    } else {
        body_length.ok_or_else(|| error("answer without content-length"))?
    };
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
    /// A kept connection the server closed meanwhile (nothing of an answer comes) is opened anew and the
    /// request sent again, once; after any other failure the connection is dropped and the next request
    /// opens a new one. A request dropped midway drops the connection too, so no later request reads its
    /// answer.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Vec<u8>,
    ) -> Result<(StatusCode, Bytes), LoadError> {
        if path.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return Err(error(format!("{path:?}: a path is printable text without spaces")));
        }
        self.prepare(&method, path, &body);
        // Bytes left over from an earlier answer would mean the connection is out of step: start over.
        let kept = self.stream.take().filter(|_| self.input.is_empty());
        let (mut stream, reused) = match kept {
            Some(stream) => (stream, true),
            None => (self.connect().await?, false),
        };
        let mut answer = self.exchange(&mut stream, &method, path).await;
        if reused && matches!(answer, Err(Exchange::ClosedBeforeAnswer(_))) {
            stream = self.connect().await?;
            answer = self.exchange(&mut stream, &method, path).await;
        }
        match answer {
            Ok((head, answer)) => {
                if !head.close {
                    self.stream = Some(stream);
                }
                Ok((head.status, answer))
            }
            Err(Exchange::ClosedBeforeAnswer(e) | Exchange::Failed(e)) => Err(e),
        }
    }

    /// The request's bytes, into `output` (writing into a `Vec` cannot fail).
    fn prepare(&mut self, method: &Method, path: &str, body: &[u8]) {
        use std::io::Write as _;
        self.output.clear();
        let _ = write!(self.output, "{method} {path} HTTP/1.1\r\n{}", self.headers);
        if !body.is_empty() {
            let _ =
                write!(self.output, "Content-Type: application/json\r\nContent-Length: {}\r\n", body.len());
        }
        self.output.extend_from_slice(b"\r\n");
        self.output.extend_from_slice(body);
    }

    async fn connect(&mut self) -> Result<TcpStream, LoadError> {
        let stream = TcpStream::connect(&self.address)
            .await
            .map_err(|e| error(format!("connect {}: {e}", self.address)))?;
        stream.set_nodelay(true).map_err(error)?;
        self.input.clear();
        Ok(stream)
    }

    /// Writes `output` and reads one answer.
    async fn exchange(
        &mut self,
        stream: &mut TcpStream,
        method: &Method,
        path: &str,
    ) -> Result<(Head, Bytes), Exchange> {
        let failed = |what: String| Exchange::Failed(error(format!("{path}: {what}")));
        if let Err(e) = stream.write_all(&self.output).await {
            return Err(Exchange::ClosedBeforeAnswer(error(format!("{path}: {e}"))));
        }
        let head = loop {
            if let Some(head) = parse_head(&self.input, method == Method::HEAD).map_err(Exchange::Failed)? {
                break head;
            }
            match stream.read_buf(&mut self.input).await {
                Ok(0) | Err(_) if self.input.is_empty() => {
                    return Err(Exchange::ClosedBeforeAnswer(error(format!(
                        "{path}: the server closed the connection"
                    ))));
                }
                Ok(0) => return Err(failed("the answer was cut short".into())),
                Err(e) => return Err(failed(e.to_string())),
                Ok(_) => {}
            }
        };
        let end = head.length + head.body_length;
        while self.input.len() < end {
            match stream.read_buf(&mut self.input).await {
                Ok(0) => return Err(failed("the answer was cut short".into())),
                Err(e) => return Err(failed(e.to_string())),
                Ok(_) => {}
            }
        }
        let answer = Bytes::copy_from_slice(&self.input[head.length..end]);
        self.input.drain(..end);
        Ok((head, answer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(bytes: &[u8]) -> Result<Option<Head>, LoadError> {
        parse_head(bytes, false)
    }

    #[test]
    fn answer_heads_are_parsed_or_refused() {
        let ok = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
        let h = head(ok).unwrap().unwrap();
        assert_eq!((h.status, h.length, h.body_length, h.close), (StatusCode::OK, ok.len() - 2, 2, false));
        assert!(head(&ok[..20]).unwrap().is_none(), "a partial head waits for more");
        let closing = b"HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        let h = head(closing).unwrap().unwrap();
        assert_eq!((h.status, h.body_length, h.close), (StatusCode::UNAUTHORIZED, 0, true));
        assert!(head(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n").is_err());
        assert!(head(b"HTTP/1.1 200 OK\r\n\r\n").is_err(), "no length");
        assert!(head(b"garbage\r\n\r\n").is_err());
        let huge = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", usize::MAX);
        assert!(head(huge.as_bytes()).is_err(), "a length past the cap");
        assert!(head(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n").is_err());
        assert!(head(b"HTTP/1.1 100 Continue\r\n\r\n").is_err());
        assert_eq!(head(b"HTTP/1.1 204 No Content\r\n\r\n").unwrap().unwrap().body_length, 0);
        let to_head = parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n", true).unwrap().unwrap();
        assert_eq!(to_head.body_length, 0, "an answer to HEAD has no body");
        assert!(head(b"HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n").unwrap().unwrap().close);
        let listed = b"HTTP/1.1 200 OK\r\nconnection: keep-alive, close\r\ncontent-length: 0\r\n\r\n";
        assert!(head(listed).unwrap().unwrap().close);
    }

    /// A server that answers one request on each connection and then closes it (an idle timeout, a
    /// restart): every request still gets its answer, over a new connection.
    #[tokio::test]
    async fn a_connection_the_server_closed_is_opened_anew() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut request = vec![0u8; 4096];
                let _ = socket.read(&mut request).await;
                let _ = socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await;
                // Closed without saying so: the client learns it only at its next request.
            }
        });
        let mut connection = GateConnection::new(&format!("http://{address}"), "token").unwrap();
        for _ in 0..3 {
            let (status, body) = connection.send(Method::GET, "/healthz", Vec::new()).await.unwrap();
            assert_eq!((status, &body[..]), (StatusCode::OK, &b"ok"[..]));
        }
        assert!(connection.send(Method::GET, "/a b", Vec::new()).await.is_err(), "a path with a space");
    }
}
