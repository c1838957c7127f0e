//! The connection under the HTTP layer. actix-http answers a few errors itself, before any
//! handler or middleware runs, as bare heads with no body: `408` (the request head did not
//! arrive within the request timeout), `431` (the head is too large) and `400` (not HTTP).
//! [`ProblemConnection`] writes those as problem+json with a stable `code`, like every other error.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connection whose protocol-level error answers are rewritten as problems.
pub struct ProblemConnection<T> {
    inner: T,
    /// A problem being written in place of actix's answer: its bytes, how many are written, and
    /// the length of the answer it stands for (reported as written once the problem is).
    replacing: Option<(Vec<u8>, usize, usize)>,
}

impl<T> ProblemConnection<T> {
    pub fn new(inner: T) -> Self {
        ProblemConnection { inner, replacing: None }
    }
}

/// The problem to send instead of `written`, when `written` is one of actix's bare error heads.
fn problem_for(written: &[u8]) -> Option<Vec<u8>> {
    // A bare head is short, has no body, and is the whole write.
    if written.len() > 512 || !written.ends_with(b"\r\n\r\n") {
        return None;
    }
    let status_line = written.split(|b| *b == b'\r').next()?;
    let (status, code, detail) = match status_line.get(9..12)? {
        b"408" => (408, "request_timeout", "the request head did not arrive in time"),
        b"431" => (431, "headers_too_large", "the request head is larger than the server takes"),
        b"400" => (400, "bad_request", "the request is not valid HTTP/1.1"),
        _ => return None,
    };
    let head_lower = String::from_utf8_lossy(written).to_ascii_lowercase();
    if !status_line.starts_with(b"HTTP/1.") || !head_lower.contains("content-length: 0") {
        return None;
    }
    let reason = String::from_utf8_lossy(status_line.get(13..)?).into_owned();
    let body = serde_json::json!({
        "type": format!("urn:statusd:problem:{code}"),
        "title": reason,
        "status": status,
        "detail": detail,
        "code": code,
    })
    .to_string();
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/problem+json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    Some([head.into_bytes(), body.into_bytes()].concat())
}

impl<T: AsyncRead + Unpin> AsyncRead for ProblemConnection<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ProblemConnection<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.replacing.is_none()
            && let Some(problem) = problem_for(buf)
        {
            this.replacing = Some((problem, 0, buf.len()));
        }
        let Some((problem, written, stands_for)) = &mut this.replacing else {
            return Pin::new(&mut this.inner).poll_write(cx, buf);
        };
        while *written < problem.len() {
            match Pin::new(&mut this.inner).poll_write(cx, &problem[*written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *written += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        let stands_for = *stands_for;
        this.replacing = None;
        Poll::Ready(Ok(stands_for))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_error_heads_become_problems_and_nothing_else_does() {
        let timeout =
            b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\ndate: Sun, 06 Dec 2026 08:00:00 GMT\r\n\r\n";
        let problem = String::from_utf8(problem_for(timeout).unwrap()).unwrap();
        assert!(problem.starts_with("HTTP/1.1 408 Request Timeout\r\ncontent-type: application/problem+json\r\n"));
        let body: serde_json::Value = serde_json::from_str(problem.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(
            (body["code"].as_str(), body["status"].as_u64()),
            (Some("request_timeout"), Some(408))
        );
        let large = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n";
        assert!(
            String::from_utf8(problem_for(large).unwrap())
                .unwrap()
                .contains("\"code\":\"headers_too_large\"")
        );
        // A real answer, a body, or a problem already: left alone.
        assert!(problem_for(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(problem_for(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 12\r\n\r\n").is_none());
        assert!(problem_for(b"HTTP/1.1 408 Request Timeout\r\n").is_none());
        assert!(problem_for(&problem.into_bytes()).is_none());
    }
}
