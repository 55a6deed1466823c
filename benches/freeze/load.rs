//! The client side: what each request of the load is, and the planned scenario's downloads.
//! Every request carries its id in `X-Bench-Id`, which HAProxy's log line captures, so each
//! client error can be matched with what HAProxy did with it.

use harness::ingress::{self, Outcome, RequestSpec, REQUEST_ID_HEADER};

/// The small object every GET reads, and every PUT's size.
pub const OBJECT: usize = 4096;
/// The mixed load's slow GET: this many bytes read at [`SLOW_READ_RATE`] (a 4 s request).
pub const SLOW_OBJECT: usize = 4 << 20;
pub const SLOW_READ_RATE: usize = 1 << 20;
/// No slow GET starts in the load's last seconds: the run would otherwise wait for the last
/// ones after the load (4 s per run).
pub const SLOW_CUTOFF_SECONDS: u64 = 4;
/// The planned restart's downloads: [`DOWNLOADS`] of [`DOWNLOAD_OBJECT`] bytes read at
/// [`DOWNLOAD_RATE`] (12 s each), started one second before the restart is asked for.
/// Measured on the lab (HAProxy 2.6, Linux 6.1 loopback, a 64 MiB object, a client that stopped
/// reading): 9.7 MiB sat between radosgw and the client (radosgw's send queue 3.9 MiB,
/// HAProxy's receive 0.6 and send 4.0, the client's receive 1.2); with a 64 KiB `SO_RCVBUF`
/// on the client still 7.7 MiB (the send queues, autotuned up to `tcp_wmem`'s 4 MiB, stay).
/// So at the restart 44 MiB (11 s of reading) remain, of which some 10 MiB can be in buffers:
/// a restart that does not wait for the downloads cuts them (the stand-in cephadm stops the
/// RGW 3 s after the ask, when 16 MiB have been read). (No small `SO_RCVBUF` here: it saves
/// 2 of those 10 MiB, and the bench's `nix` has no `socket` feature.)
pub const DOWNLOADS: usize = 6;
pub const DOWNLOAD_OBJECT: usize = 48 << 20;
pub const DOWNLOAD_RATE: usize = 4 << 20;

/// What a client request is: 3 in 4 a GET of the 4 KiB object, 1 in 4 an anonymous 4 KiB PUT,
/// 1 in 20 instead a slow GET (not in the last [`SLOW_CUTOFF_SECONDS`]), and the planned
/// scenario's downloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Get,
    Put,
    Slow,
    Download,
}

impl Kind {
    /// Request `i` of a load whose slow GETs stop at `slow_until`.
    pub fn of(i: u64, slow_until: u64) -> Kind {
        if i % 20 == 10 && i < slow_until {
            Kind::Slow
        } else if i % 4 == 1 {
            Kind::Put
        } else {
            Kind::Get
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::Get => "GET",
            Kind::Put => "PUT",
            Kind::Slow => "slow GET",
            Kind::Download => "download",
        }
    }
}

/// Request `i` of the mix, through HAProxy on `port`, its id `i`.
pub fn mixed_request(port: u16, i: u64, slow_until: u64) -> Outcome {
    let id = i.to_string();
    let put_path = format!("/bench/put-{}", i % 64);
    let headers = vec![(REQUEST_ID_HEADER.to_string(), id)];
    let spec = match Kind::of(i, slow_until) {
        Kind::Get | Kind::Download => RequestSpec {
            path: "/bench/object",
            headers,
            ..RequestSpec::default()
        },
        Kind::Put => RequestSpec {
            method: "PUT",
            path: &put_path,
            body: OBJECT,
            headers,
            ..RequestSpec::default()
        },
        Kind::Slow => RequestSpec {
            path: "/bench/slow",
            read_rate: Some(SLOW_READ_RATE),
            headers,
            ..RequestSpec::default()
        },
    };
    ingress::send_request(port, &spec)
}

/// Download `n` of the planned scenario (id `dN`).
pub fn download(port: u16, n: usize) -> Outcome {
    ingress::send_request(
        port,
        &RequestSpec {
            path: "/bench/download",
            read_rate: Some(DOWNLOAD_RATE),
            headers: vec![(REQUEST_ID_HEADER.to_string(), format!("d{n}"))],
            ..RequestSpec::default()
        },
    )
}
