//! In-flight requests of a daemon, counted by the kernel: established TCP connections whose
//! local port is the daemon's (`/proc/net/tcp` and `/proc/net/tcp6`).
//!
//! Why not RGW's own `qactive` counter (admin socket `perf dump`): on Ceph 16.2.15 it is not
//! decremented for requests whose client closes after a `Connection: close` response, which is
//! every request HAProxy forwards with `option http-server-close`; measured on the lab, it only
//! grows (3 → 8 in 11 s under HAProxy's checks and our probes). With `http-server-close`, each
//! connection to RGW carries one request, so its established connections are its requests in
//! flight. This needs RGW in the sidecar's network namespace, as cephadm deploys it (host network).

/// Established connections to local `port`, or `None` when /proc cannot be read.
pub fn established(port: u16) -> Option<usize> {
    let mut found = false;
    let mut count = 0;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(table) {
            found = true;
            count += count_established(&text, port);
        }
    }
    found.then_some(count)
}

/// Counts the rows of a /proc/net/tcp table in state 01 (ESTABLISHED) with local port `port`.
pub fn count_established(table: &str, port: u16) -> usize {
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let mut fields = line.split_whitespace();
            let local = fields.nth(1);
            let state = fields.nth(1);
            let local_port = local
                .and_then(|l| l.rsplit_once(':'))
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
            local_port == Some(port) && state == Some("01")
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_established_server_side_rows_count() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:46A0 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0100007F:46A0 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1
   2: 0100007F:D2F0 0100007F:46A0 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 20 4 30 10 -1
   3: 0100007F:46A0 0100007F:D2F2 06 00000000:00000000 03:00000D5A 00000000     0        0 0 3 0
";
        // 0x46A0 = 18080: one listener (0A), one established server side (counted), its client
        // side (local port 0xD2F0, not counted), one TIME_WAIT (06, not counted).
        assert_eq!(count_established(table, 18080), 1);
        assert_eq!(count_established(table, 9999), 0);
    }

    #[test]
    fn a_real_connection_is_seen() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(established(port), Some(0));
        let _client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (_server, _) = listener.accept().unwrap();
        assert_eq!(established(port), Some(1));
    }
}
