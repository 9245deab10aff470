//! Whether the server URL answers at all, checked before a browser is opened: a wrong URL or a
//! server that is down fails the run at once instead of after `--timeout`.
//!
//! The name is resolved and a TCP connection opened, within [`WITHIN`] in all. For `http` a
//! `HEAD` of the URL's path must get any HTTP answer (a gateway's login redirect is fine). For
//! `https` the connection is all that is checked: the client has no TLS stack (the browser
//! does the TLS), so a certificate problem shows in the browser, not here.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The whole check's bound.
pub(super) const WITHIN: Duration = Duration::from_secs(3);

/// `Err` says why `server` (a normalized server URL) does not answer.
pub(super) fn check(server: &str) -> Result<(), String> {
    let target = Target::parse(server)?;
    let deadline = Instant::now() + WITHIN;
    let addrs = resolve(&target.host, target.port)?;
    let mut last = String::from("no address");
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("no answer within {} s", WITHIN.as_secs()));
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(_) if target.tls => return Ok(()),
            Ok(stream) => return http_answer(stream, &target, deadline),
            Err(error) => last = error.to_string(),
        }
    }
    Err(last)
}

struct Target {
    tls: bool,
    host: String,
    port: u16,
    /// `Host` header value.
    authority: String,
    path: String,
}

impl Target {
    fn parse(server: &str) -> Result<Target, String> {
        let (scheme, rest) = server.split_once("://").ok_or("not an http(s) URL")?;
        let tls = scheme.eq_ignore_ascii_case("https");
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let host_port = authority.rsplit('@').next().unwrap_or_default();
        let (host, port) = match host_port.strip_prefix('[') {
            Some(bracketed) => {
                let (host, after) = bracketed.split_once(']').ok_or("bad host")?;
                (host, after.strip_prefix(':'))
            }
            None => match host_port.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (host_port, None),
            },
        };
        let default = if tls { 443 } else { 80 };
        let port = match port {
            None | Some("") => default,
            Some(port) => port.parse().map_err(|_| "bad port")?,
        };
        Ok(Target {
            tls,
            host: host.to_string(),
            port,
            authority: host_port.to_string(),
            path: path.to_string(),
        })
    }
}

/// The host's addresses; a resolver that hangs counts as a failure after [`WITHIN`].
fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    let (sender, receiver) = mpsc::channel();
    let name = host.to_string();
    thread::Builder::new()
        .name("t2g-resolve".into())
        .spawn(move || {
            let found = (name.as_str(), port)
                .to_socket_addrs()
                .map(Iterator::collect::<Vec<_>>);
            let _ = sender.send(found);
        })
        .map_err(|error| error.to_string())?;
    match receiver.recv_timeout(WITHIN) {
        Ok(Ok(addrs)) if !addrs.is_empty() => Ok(addrs),
        Ok(Ok(_)) => Err(format!("{host} has no address")),
        Ok(Err(error)) => Err(format!("cannot resolve {host}: {error}")),
        Err(_) => Err(format!(
            "cannot resolve {host} within {} s",
            WITHIN.as_secs()
        )),
    }
}

/// Sends a `HEAD` and waits for the first bytes of an HTTP answer.
fn http_answer(mut stream: TcpStream, target: &Target, deadline: Instant) -> Result<(), String> {
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    let _ = stream.set_read_timeout(Some(left));
    let _ = stream.set_write_timeout(Some(left));
    let request = format!(
        "HEAD {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: token2go\r\nConnection: close\r\n\r\n",
        target.path, target.authority
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|error| error.to_string())?;
    let mut head = [0u8; 5];
    let mut got = 0;
    while got < head.len() {
        match stream.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(error) => return Err(format!("no HTTP answer: {error}")),
        }
    }
    if &head[..got] == b"HTTP/" {
        Ok(())
    } else {
        Err("no HTTP answer: the connection closed".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn parses_what_the_option_parser_lets_through() {
        let t = Target::parse("https://user@corp.example/t2g").unwrap();
        assert_eq!(
            (
                t.tls,
                t.host.as_str(),
                t.port,
                t.authority.as_str(),
                t.path.as_str()
            ),
            (true, "corp.example", 443, "corp.example", "/t2g")
        );
        let t = Target::parse("http://[::1]:8080").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("::1", 8080, "/")
        );
        let t = Target::parse("HTTP://h:").unwrap();
        assert_eq!((t.tls, t.port), (false, 80));
    }

    #[test]
    fn any_http_answer_will_do_and_silence_or_nothing_will_not() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/t2g", listener.local_addr().unwrap());
        let server = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = [0u8; 512];
            let n = stream.read(&mut buf).unwrap();
            assert!(buf[..n].starts_with(b"HEAD /t2g HTTP/1.1\r\nHost: 127.0.0.1:"));
            stream
                .write_all(b"HTTP/1.1 302 Found\r\nLocation: /login\r\n\r\n")
                .unwrap();
            let (stream, _) = listener.accept().unwrap();
            drop(stream); // closes without a word
        });
        assert_eq!(check(&url), Ok(()));
        assert!(check(&url).unwrap_err().starts_with("no HTTP answer: "));
        server.join().unwrap();
        let closed = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let started = Instant::now();
        assert!(check(&url).unwrap_err().contains("refused"));
        assert!(started.elapsed() < WITHIN);
        assert!(
            check("http://nonexistent.invalid")
                .unwrap_err()
                .starts_with("cannot resolve nonexistent.invalid")
        );
    }
}
