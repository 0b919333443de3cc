//! A bounded load generator for `hashguard serve`, loopback only: N concurrent clients send
//! `MatchHashes` (one hash a request, drawn from a file) or image uploads (`MatchMedia`) for a
//! fixed time or request count, and it prints requests/s, latency percentiles and the status
//! codes seen, as one JSON object.
//!
//! ```sh
//! loadgen --addr 127.0.0.1:50051 --token T --hashes queries.txt --clients 64 --seconds 20
//! loadgen ... --clients 64 --connections 1     # all 64 multiplexed on one HTTP/2 connection
//! loadgen --addr 127.0.0.1:50051 --token T --upload image.jpg --clients 8 --seconds 20
//! ```
//! `queries.txt`: one `kind:hex` a line (`pdq:…`, `md5:…`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hashguard::proto::{
    self, HashKind, MatchHashesRequest, MediaChunk, MediaMetadata, TypedHash, media_chunk::Part,
};
use tonic::Request;

struct Args {
    addr: SocketAddr,
    token: String,
    hashes: Option<String>,
    upload: Option<String>,
    clients: usize,
    connections: usize,
    seconds: f64,
    max_requests: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        addr: "127.0.0.1:50051".parse().expect("valid default"),
        token: String::new(),
        hashes: None,
        upload: None,
        clients: 64,
        connections: 0,
        seconds: 10.0,
        max_requests: 1_000_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => a.addr = val()?.parse().map_err(|e| format!("--addr: {e}"))?,
            "--token" => a.token = val()?,
            "--hashes" => a.hashes = Some(val()?),
            "--upload" => a.upload = Some(val()?),
            "--clients" => a.clients = val()?.parse().map_err(|e| format!("--clients: {e}"))?,
            "--connections" => {
                a.connections = val()?.parse().map_err(|e| format!("--connections: {e}"))?
            }
            "--seconds" => a.seconds = val()?.parse().map_err(|e| format!("--seconds: {e}"))?,
            "--max-requests" => {
                a.max_requests = val()?.parse().map_err(|e| format!("--max-requests: {e}"))?
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if !a.addr.ip().is_loopback() {
        return Err("loadgen only talks to loopback addresses".into());
    }
    if a.hashes.is_none() == a.upload.is_none() {
        return Err("give --hashes FILE or --upload FILE".into());
    }
    if !(0.1..=600.0).contains(&a.seconds) || a.clients == 0 || a.clients > 4096 {
        return Err("--seconds must be 0.1-600 and --clients 1-4096".into());
    }
    Ok(a)
}

fn typed(line: &str) -> Option<TypedHash> {
    let (k, hex) = line.trim().split_once(':')?;
    let kind = match k {
        "pdq" => HashKind::Pdq,
        "phash" => HashKind::Phash,
        "dhash" => HashKind::Dhash,
        "md5" => HashKind::Md5,
        "sha1" => HashKind::Sha1,
        "sha256" => HashKind::Sha256,
        _ => return None,
    };
    Some(TypedHash {
        kind: kind as i32,
        hex: hex.to_string(),
    })
}

fn authed<T>(msg: T, token: &str) -> Request<T> {
    let mut r = Request::new(msg);
    if let Ok(v) = format!("Bearer {token}").parse() {
        r.metadata_mut().insert("authorization", v);
    }
    r
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(64);
        }
    };
    let hashes: Arc<Vec<TypedHash>> = Arc::new(match &args.hashes {
        Some(p) => std::fs::read_to_string(p)
            .unwrap_or_else(|e| panic!("{p}: {e}"))
            .lines()
            .filter_map(typed)
            .collect(),
        None => Vec::new(),
    });
    let upload: Arc<Vec<u8>> = Arc::new(match &args.upload {
        Some(p) => std::fs::read(p).unwrap_or_else(|e| panic!("{p}: {e}")),
        None => Vec::new(),
    });
    // Separate clients have separate connections: by default one per client (`--connections`
    // shares fewer among them, as one process with a connection pool would).
    let connections = match args.connections {
        0 => args.clients,
        n => n.min(args.clients),
    };
    let mut channels = Vec::with_capacity(connections);
    for _ in 0..connections {
        let channel = tonic::transport::Channel::from_shared(format!("http://{}", args.addr))
            .expect("valid uri")
            .tcp_nodelay(true)
            .connect()
            .await
            .unwrap_or_else(|e| panic!("connect: {e}"));
        channels.push(channel);
    }
    let deadline = Instant::now() + Duration::from_secs_f64(args.seconds);
    let budget = Arc::new(std::sync::atomic::AtomicU64::new(args.max_requests));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..args.clients {
        let (channel, hashes, upload, token, budget) = (
            channels[c % channels.len()].clone(),
            hashes.clone(),
            upload.clone(),
            args.token.clone(),
            budget.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut client = proto::matcher_client::MatcherClient::new(channel)
                .max_encoding_message_size(64 << 20);
            let mut lat: Vec<(f64, tonic::Code)> = Vec::new();
            let mut i = c;
            while Instant::now() < deadline
                && budget
                    .fetch_update(
                        std::sync::atomic::Ordering::Relaxed,
                        std::sync::atomic::Ordering::Relaxed,
                        |b| b.checked_sub(1),
                    )
                    .is_ok()
            {
                let t0 = Instant::now();
                let code = if hashes.is_empty() {
                    let mut chunks = vec![MediaChunk {
                        part: Some(Part::Metadata(MediaMetadata {
                            tenant_reference: format!("load-{c}-{i}"),
                            content_type: String::new(),
                            declared_size: upload.len() as u64,
                        })),
                    }];
                    chunks.extend(upload.chunks(1 << 20).map(|b| MediaChunk {
                        part: Some(Part::Data(b.to_vec())),
                    }));
                    match client
                        .match_media(authed(tokio_stream::iter(chunks), &token))
                        .await
                    {
                        Ok(_) => tonic::Code::Ok,
                        Err(s) => s.code(),
                    }
                } else {
                    let h = hashes[i % hashes.len()].clone();
                    let req = MatchHashesRequest {
                        hashes: vec![h],
                        tenant_reference: format!("load-{c}-{i}"),
                    };
                    match client.match_hashes(authed(req, &token)).await {
                        Ok(_) => tonic::Code::Ok,
                        Err(s) => s.code(),
                    }
                };
                lat.push((t0.elapsed().as_secs_f64() * 1000.0, code));
                i += args_stride();
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("client task"));
    }
    let wall = started.elapsed().as_secs_f64();
    let mut codes: BTreeMap<String, u64> = BTreeMap::new();
    for (_, c) in &all {
        *codes.entry(format!("{c:?}")).or_default() += 1;
    }
    let pct = |mut v: Vec<f64>, p: f64| -> f64 {
        if v.is_empty() {
            return 0.0;
        }
        v.sort_by(f64::total_cmp);
        v[((v.len() - 1) as f64 * p).round() as usize]
    };
    let ok: Vec<f64> = all
        .iter()
        .filter(|(_, c)| *c == tonic::Code::Ok)
        .map(|(l, _)| *l)
        .collect();
    let rejected: Vec<f64> = all
        .iter()
        .filter(|(_, c)| *c == tonic::Code::ResourceExhausted)
        .map(|(l, _)| *l)
        .collect();
    let out = serde_json::json!({
        "mode": if hashes.is_empty() { "upload" } else { "hashes" },
        "clients": args.clients,
        "connections": connections,
        "seconds": wall,
        "requests": all.len(),
        "ok_per_s": ok.len() as f64 / wall,
        "codes": codes,
        "ok_p50_ms": pct(ok.clone(), 0.50),
        "ok_p99_ms": pct(ok.clone(), 0.99),
        "ok_max_ms": pct(ok, 1.0),
        "rejected_p50_ms": pct(rejected.clone(), 0.50),
        "rejected_max_ms": pct(rejected, 1.0),
    });
    println!("{out}");
}

/// Clients walk the query file with a large odd stride so they don't all ask the same hash.
fn args_stride() -> usize {
    7919
}
