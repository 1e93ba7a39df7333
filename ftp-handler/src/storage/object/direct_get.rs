//! Downloads from a plain-HTTP endpoint (`http://`, as a Garage or MinIO next to the daemon
//! usually is) on a connection of their own, so the body can leave by `splice(2)`.
//!
//! OpenDAL's HTTP client hands the body over as pieces in this process's memory, which then
//! are copied once more into the data connection: two copies per byte, the most CPU a RETR
//! from object storage costs (docs/benchmarks.md, "Files on S3"). Here the GET that OpenDAL
//! signs (a presigned request: the same key, range and `If-Match`) is written on a fresh TCP
//! connection and only the response's head is parsed; the body stays on the socket, as a
//! [`SocketBody`] of exactly the expected length.
//!
//! Anything unexpected (an `https://` endpoint, a refused connection, a status other than
//! 200/206, a body of another length or chunked) is returned as a reason, and the caller
//! downloads through OpenDAL instead, which retries and turns the service's answer into the
//! right error: this path only ever serves responses that are exactly what was asked for.

use std::time::Duration;

use bytes::BytesMut;
use opendal::raw::PresignedRequest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::storage::socket_body::SocketBody;

/// Longest wait for the connection and the response's head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest response head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Most response headers parsed.
const MAX_HEADERS: usize = 64;

/// Sends `request` (a presigned GET) and returns its body, which must be `length` bytes.
/// `Err` says why this path does not serve the download (the caller falls back).
pub(super) async fn get(request: &PresignedRequest, length: u64) -> Result<SocketBody, String> {
    let uri = request.uri();
    if uri.scheme_str() != Some("http") {
        return Err("not a plain-HTTP endpoint".to_string());
    }
    let authority = uri.authority().ok_or("no host in the request")?;
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = authority.port_u16().unwrap_or(80);
    let target = uri.path_and_query().map_or("/", |target| target.as_str());
    let mut head = format!("GET {target} HTTP/1.1\r\n").into_bytes();
    if !request.header().contains_key(http::header::HOST) {
        head.extend_from_slice(format!("host: {}\r\n", authority.as_str()).as_bytes());
    }
    for (name, value) in request.header() {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"connection: close\r\n\r\n");
    tokio::time::timeout(HEAD_TIMEOUT, exchange(host, port, &head, length))
        .await
        .map_err(|_| format!("no response head within {HEAD_TIMEOUT:?}"))?
}

/// Connects, writes `request` and reads the response's head.
async fn exchange(
    host: &str,
    port: u16,
    request: &[u8],
    length: u64,
) -> Result<SocketBody, String> {
    let mut socket = TcpStream::connect((host, port))
        .await
        .map_err(|error| format!("connect to {host}:{port}: {error}"))?;
    socket
        .write_all(request)
        .await
        .map_err(|error| format!("sending the request: {error}"))?;
    let mut received = BytesMut::with_capacity(16 * 1024);
    loop {
        let read = socket
            .read_buf(&mut received)
            .await
            .map_err(|error| format!("reading the response: {error}"))?;
        if read == 0 {
            return Err("connection closed before the response's head ended".to_string());
        }
        if let Some((head_length, body_length)) = parse_head(&received, length)? {
            let head = received.split_off(head_length);
            let early = head.len() as u64;
            if early > body_length {
                return Err("more bytes than the response's length".to_string());
            }
            return Ok(SocketBody::new(head.freeze(), socket, body_length - early));
        }
        if received.len() > MAX_HEAD {
            return Err(format!("response head longer than {MAX_HEAD} bytes"));
        }
    }
}

/// The head's length and the body's, once `received` holds a whole head of a response that
/// is exactly the `length` bytes asked for; `Ok(None)` while the head is incomplete.
fn parse_head(received: &[u8], length: u64) -> Result<Option<(usize, u64)>, String> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let head_length = match response.parse(received) {
        Ok(httparse::Status::Complete(head_length)) => head_length,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(error) => return Err(format!("malformed response head: {error}")),
    };
    let status = response.code.unwrap_or(0);
    if status != 200 && status != 206 {
        return Err(format!("status {status}"));
    }
    let mut content_length = None;
    for header in response.headers.iter() {
        if header.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err("a body with a transfer encoding".to_string());
        }
        if header.name.eq_ignore_ascii_case("content-length") {
            let value = std::str::from_utf8(header.value)
                .ok()
                .and_then(|value| value.trim().parse::<u64>().ok())
                .ok_or("an unreadable content-length")?;
            content_length = Some(value);
        }
    }
    match content_length {
        Some(body_length) if body_length == length => Ok(Some((head_length, body_length))),
        Some(body_length) => Err(format!("{body_length} bytes where {length} were asked for")),
        None => Err("no content-length".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ranged_answer_of_the_asked_length_is_taken() {
        let head = b"HTTP/1.1 206 Partial Content\r\nContent-Length: 10\r\nETag: \"x\"\r\n\r\nabc";
        let (head_length, body_length) = parse_head(head, 10).unwrap().unwrap();
        assert_eq!((&head[head_length..], body_length), (&b"abc"[..], 10));
    }

    #[test]
    fn a_head_not_yet_whole_asks_for_more() {
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Le", 10), Ok(None));
    }

    #[test]
    fn anything_but_the_exact_body_asked_for_is_refused() {
        for (head, why) in [
            (
                &b"HTTP/1.1 412 Precondition Failed\r\nContent-Length: 0\r\n\r\n"[..],
                "status 412",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n",
                "11 bytes where 10",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                "transfer encoding",
            ),
            (b"HTTP/1.1 200 OK\r\n\r\n", "no content-length"),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n",
                "unreadable",
            ),
            (b"NOT HTTP\r\n\r\n", "malformed"),
        ] {
            let error = parse_head(head, 10).expect_err(why);
            assert!(error.contains(why), "{error} should say {why}");
        }
    }
}
