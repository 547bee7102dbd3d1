//! Whole requests over a socket to the real listener
//! (`accord::http::server::serve`, what `accord serve` runs): the HTTP
//! layer's framing fuzzed too. A webhook or a read is written as bytes,
//! its head mutated (request line, version, framing headers, header
//! bytes, line endings, pipelining), the write side closed, and every
//! answer read until the server closes the connection.

use super::Sent;
use super::check::Answer;
use super::rng::Rng;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A request as bytes, and whether its head was left as generated.
pub struct Raw {
    pub bytes: Vec<u8>,
    pub mutated: bool,
}

/// `sent` as an HTTP/1.1 request to `host`, its head mutated most of the
/// time.
pub fn generate(rng: &mut Rng, sent: &Sent, host: &str) -> Raw {
    let mut method = sent.method.to_string();
    let mut target = sent.target.clone();
    let mut version = "HTTP/1.1".to_string();
    let mut headers: Vec<(String, Vec<u8>)> = vec![("Host".into(), host.as_bytes().to_vec())];
    headers.extend(
        sent.headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())),
    );
    let mut body = sent.body.clone();
    let mut length = Some(body.len().to_string());
    let mut eol = "\r\n";
    let mut tail = Vec::new();
    let mutated = rng.chance(0.7);
    let mut head_flips = false;
    if mutated {
        for _ in 0..rng.range(1, 3) {
            match rng.below(12) {
                0 => {
                    method = rng
                        .pick(&[
                            "post", "FOO", "POST ", "P\0ST", "", "PO ST", "CONNECT", "GET",
                        ])
                        .to_string()
                }
                1 => {
                    version = rng
                        .pick(&[
                            "HTTP/1.0", "HTTP/2.0", "HTTP/1.2", "HTTP/0.9", "http/1.1", "HTTP/11",
                            "",
                        ])
                        .to_string()
                }
                2 => {
                    target = match rng.below(6) {
                        0 => "*".into(),
                        1 => format!("http://{host}{target}"),
                        2 => format!("{target}#fragment"),
                        3 => format!("{target} x"),
                        4 => format!("{target}?{}", "q".repeat(rng.range(1, 2000))),
                        _ => format!("{target}\u{80}"),
                    }
                }
                3 => {
                    length = match rng.below(9) {
                        0 => None,
                        1 => Some(format!("{}, {}", body.len(), body.len())),
                        2 => Some(format!("-{}", body.len())),
                        3 => Some(format!("+{}", body.len())),
                        4 => Some(format!("0x{:x}", body.len())),
                        5 => Some("99999999999999999999999".into()),
                        6 => Some(body.len().saturating_sub(rng.range(1, 8)).to_string()),
                        7 => Some((body.len() + rng.range(1, 100)).to_string()),
                        _ => Some(format!(" {} ", body.len())),
                    };
                    if rng.chance(0.2) {
                        headers.push(("Content-Length".into(), b"1".to_vec()));
                    }
                }
                4 => {
                    // Chunked, well or badly.
                    let mut chunked = Vec::new();
                    for piece in body.chunks(rng.range(1, 64).max(1)) {
                        chunked.extend_from_slice(format!("{:x}", piece.len()).as_bytes());
                        if rng.chance(0.05) {
                            chunked.extend_from_slice(b";ext=1");
                        }
                        chunked.extend_from_slice(b"\r\n");
                        chunked.extend_from_slice(piece);
                        chunked.extend_from_slice(b"\r\n");
                    }
                    match rng.below(6) {
                        0 => chunked.extend_from_slice(b"zz\r\n"),
                        1 => {}
                        2 => chunked.extend_from_slice(b"0\r\nX-Trailer: 1\r\n\r\n"),
                        _ => chunked.extend_from_slice(b"0\r\n\r\n"),
                    }
                    body = chunked;
                    let te = rng.pick(&[
                        "chunked",
                        "chunked",
                        "gzip, chunked",
                        "chunked, identity",
                        "Chunked",
                    ]);
                    headers.push(("Transfer-Encoding".into(), te.as_bytes().to_vec()));
                    if rng.chance(0.7) {
                        length = None;
                    }
                }
                5 => {
                    let (name, value): (String, Vec<u8>) = match rng.below(8) {
                        0 => ("X-Nul".into(), b"a\0b".to_vec()),
                        1 => ("X Space".into(), b"v".to_vec()),
                        2 => ("X-High".into(), vec![0x80, 0xff, 0xfe]),
                        3 => ("X-Long".into(), vec![b'l'; rng.range(8 << 10, 80 << 10)]),
                        4 => ("X-Fold".into(), b"a\r\n folded".to_vec()),
                        5 => ("".into(), b"no-name".to_vec()),
                        6 => ("X-Empty".into(), Vec::new()),
                        _ => ("Unipile-Auth".into(), b"second".to_vec()),
                    };
                    headers.push((name, value));
                }
                6 => {
                    for i in 0..rng.range(20, 130) {
                        headers.push((format!("X-Many-{i}"), b"v".to_vec()));
                    }
                }
                7 => headers.push(("Expect".into(), b"100-continue".to_vec())),
                8 => {
                    // A second request behind the first (pipelined).
                    tail = if rng.chance(0.5) {
                        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()
                    } else {
                        b"GARBAGE\r\n\r\n".to_vec()
                    };
                }
                9 => eol = "\n",
                10 => {
                    let value = rng.pick(&["keep-alive", "close", "Upgrade", "x, close"]);
                    headers.push(("Connection".into(), value.as_bytes().to_vec()));
                    if rng.chance(0.3) {
                        headers.push(("Upgrade".into(), b"h2c".to_vec()));
                    }
                }
                _ => head_flips = true,
            }
        }
    }
    let mut head = format!("{method} {target} {version}{eol}").into_bytes();
    for (name, value) in &headers {
        head.extend_from_slice(name.as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value);
        head.extend_from_slice(eol.as_bytes());
    }
    if let Some(length) = &length {
        head.extend_from_slice(format!("Content-Length: {length}{eol}").as_bytes());
    }
    head.extend_from_slice(eol.as_bytes());
    if head_flips {
        let cap = head.len() + 64;
        super::mutate::bytes(rng, &mut head, b"GET / HTTP/1.1\r\n\r\n", cap);
    }
    let mut bytes = head;
    bytes.extend_from_slice(&body);
    bytes.extend_from_slice(&tail);
    Raw { bytes, mutated }
}

/// Writes `bytes` on a new connection, closes the write side, and reads
/// every answer until the server closes (within 5 s). `None`: the
/// connection could not be made.
pub async fn exchange(addr: &str, bytes: &[u8]) -> Result<Vec<Answer>, String> {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    // The server may answer and close before reading everything.
    let _ = stream.write_all(bytes).await;
    let _ = stream.shutdown().await;
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        let mut chunk = [0u8; 16 << 10];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    if read.is_err() {
        return Err("the connection stayed open 5 s after the request was sent".into());
    }
    parse(&buf)
}

/// The answers in `buf`, in order (interim `1xx` answers left out).
pub fn parse(mut buf: &[u8]) -> Result<Vec<Answer>, String> {
    let mut answers = Vec::new();
    while !buf.is_empty() {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            return Err(format!(
                "an answer without a whole head: {:?}",
                String::from_utf8_lossy(&buf[..buf.len().min(200)])
            ));
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        buf = &buf[end + 4..];
        let status: u16 = head
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("a status line that is not HTTP/1.1: {head:?}"))?;
        let header = |name: &str| {
            head.lines().skip(1).find_map(|l| {
                l.strip_prefix(&format!("{name}:"))
                    .map(|v| v.trim().to_string())
            })
        };
        if (100..200).contains(&status) {
            continue;
        }
        let body = if let Some(n) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
            let n = n.min(buf.len());
            let (body, rest) = buf.split_at(n);
            buf = rest;
            body.to_vec()
        } else if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            let mut body = Vec::new();
            loop {
                let Some(line_end) = buf.windows(2).position(|w| w == b"\r\n") else {
                    buf = &[];
                    break;
                };
                let size = usize::from_str_radix(
                    String::from_utf8_lossy(&buf[..line_end])
                        .split(';')
                        .next()
                        .unwrap_or("")
                        .trim(),
                    16,
                )
                .unwrap_or(0);
                buf = &buf[line_end + 2..];
                if size == 0 {
                    buf = buf.get(2..).unwrap_or(&[]);
                    break;
                }
                let size = size.min(buf.len());
                body.extend_from_slice(&buf[..size]);
                buf = buf.get(size + 2..).unwrap_or(&[]);
            }
            body
        } else {
            let body = buf.to_vec();
            buf = &[];
            body
        };
        answers.push(Answer {
            status,
            content_type: header("content-type"),
            body,
        });
    }
    Ok(answers)
}
