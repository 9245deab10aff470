//! Which local user owns the other end of a loopback connection, on Linux: the kernel lists
//! every TCP socket of this network namespace in `/proc/net/tcp` and `/proc/net/tcp6`, with its
//! owner's uid. The peer's socket is the row whose local address is the peer's address and whose
//! remote address is our listener's (an IPv6 socket connected to 127.0.0.1 shows in `tcp6` with
//! the IPv4-mapped address). A row in TIME_WAIT has no owner (uid 0), so only other rows count.
//!
//! Addresses are written as the kernel prints them: each 32-bit word of the address in host
//! byte order as 8 hex digits, then `:` and the port as 4 hex digits.

use std::fs;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

const TABLES: [&str; 2] = ["/proc/net/tcp", "/proc/net/tcp6"];
/// `st` of a socket in TIME_WAIT: no owner any more.
const TIME_WAIT: &str = "06";

/// The uid owning the socket at `peer` connected to `ours`; `Ok(None)` when no such socket is
/// listed (it is gone already); `Err` when the tables cannot be read (not Linux, no /proc).
pub(super) fn owner(peer: SocketAddr, ours: SocketAddr) -> io::Result<Option<u32>> {
    let mut readable = false;
    for table in TABLES {
        let text = match fs::read_to_string(table) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error),
        };
        readable = true;
        let v6 = table.ends_with('6');
        let (local, remote) = (encode(peer, v6), encode(ours, v6));
        if let Some(uid) = find_owner(&text, &local, &remote) {
            return Ok(Some(uid));
        }
    }
    if readable {
        Ok(None)
    } else {
        Err(io::Error::new(io::ErrorKind::NotFound, "no /proc/net/tcp"))
    }
}

/// The uid column of the row with these local and remote addresses, not in TIME_WAIT.
fn find_owner(table: &str, local: &str, remote: &str) -> Option<u32> {
    table.lines().skip(1).find_map(|line| {
        // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid ...
        let fields: Vec<&str> = line.split_whitespace().collect();
        let matches = fields.len() > 7
            && fields[1].eq_ignore_ascii_case(local)
            && fields[2].eq_ignore_ascii_case(remote)
            && fields[3] != TIME_WAIT;
        matches.then(|| fields[7].parse().ok()).flatten()
    })
}

/// `addr` as the kernel prints it in `tcp` (IPv4) or `tcp6` (IPv6, IPv4 as mapped).
fn encode(addr: SocketAddr, v6: bool) -> String {
    let words: Vec<[u8; 4]> = match (addr.ip(), v6) {
        (IpAddr::V4(ip), false) => vec![ip.octets()],
        (IpAddr::V4(ip), true) => chunks(ip.to_ipv6_mapped()),
        (IpAddr::V6(ip), true) => chunks(ip),
        (IpAddr::V6(ip), false) => match ip.to_ipv4_mapped() {
            Some(ip) => vec![ip.octets()],
            None => return String::new(), // never in the IPv4 table
        },
    };
    let mut out: String = words
        .iter()
        .map(|word| format!("{:08X}", u32::from_ne_bytes(*word)))
        .collect();
    out.push_str(&format!(":{:04X}", addr.port()));
    out
}

fn chunks(ip: Ipv6Addr) -> Vec<[u8; 4]> {
    ip.octets()
        .chunks_exact(4)
        .map(|c| [c[0], c[1], c[2], c[3]])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    // Rows as Linux 6.1 prints them (x86-64, little-endian).
    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1 1 0 100 0 0 10 0
   1: 0100007F:D431 0100007F:1F90 06 00000000:00000000 03:00000F2C 00000000     0        0 0 3 0
   2: 0100007F:D431 0100007F:1F90 01 00000000:00000000 00:00000000 00000000 65534        0 2 1 0 20 4 30 10 -1
   3: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 3 1 0 20 4 30 10 -1
";

    #[cfg(target_endian = "little")]
    #[test]
    fn encodes_as_the_kernel_prints() {
        let v4: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert_eq!(encode(v4, false), "0100007F:1F90");
        assert_eq!(encode(v4, true), "0000000000000000FFFF00000100007F:1F90");
        let v6: SocketAddr = "[::1]:443".parse().unwrap();
        assert_eq!(encode(v6, true), "00000000000000000000000001000000:01BB");
        assert_eq!(encode(v6, false), "", "never in the IPv4 table");
    }

    #[test]
    fn the_row_of_the_peer_not_ours_and_not_time_wait() {
        assert_eq!(
            find_owner(TCP, "0100007F:D431", "0100007F:1F90"),
            Some(65534)
        );
        assert_eq!(
            find_owner(TCP, "0100007F:1F90", "0100007F:D431"),
            Some(1000)
        );
        assert_eq!(find_owner(TCP, "0100007F:D432", "0100007F:1F90"), None);
        assert_eq!(find_owner("", "a", "b"), None);
        assert_eq!(find_owner("header\n 0: x y", "x", "y"), None);
    }

    #[test]
    fn finds_our_own_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let ours = listener.local_addr().unwrap();
        let client = std::net::TcpStream::connect(ours).unwrap();
        let (_accepted, peer) = listener.accept().unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        assert_eq!(
            owner(peer, ours).unwrap(),
            Some(crate::sys::effective_uid())
        );
        drop(client);
        let gone: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert_eq!(owner(gone, ours).unwrap(), None);
    }
}
