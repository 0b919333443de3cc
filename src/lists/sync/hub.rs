//! A central hashguard server as the source ("hub"): a regional server asks it over gRPC
//! (`Lists/FetchDelta`, role mirror) for what brings its copy from the hub version it holds
//! to the hub's active version — the logged changes, or a full copy when the chain is broken —
//! and publishes the result only if its entry count and digest equal the hub's.

use std::io::{BufReader, Write};
use std::time::{Duration, Instant};

use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

use super::{ListSource, Outcome, settings};
use crate::lists::delta::{self, DeltaHeader};
use crate::lists::{Error, KindMeta, get};
use crate::proto;
use crate::store::Store;

/// Syncs `name` from the hub named by `src.source` (`hub+http://…` or `hub+https://…`).
pub(super) fn sync(store: &Store, name: &str, src: &ListSource) -> Result<Outcome, Error> {
    let url = src
        .source
        .strip_prefix("hub+")
        .ok_or_else(|| Error::Sync(format!("not a hub source: {}", super::redact(&src.source))))?
        .to_string();
    let var = src
        .token_env
        .as_deref()
        .ok_or_else(|| Error::Sync("a hub source needs token_env (a mirror token)".into()))?;
    let token = std::env::var(var)
        .map_err(|_| Error::Sync(format!("the token variable {var} is not set")))?;
    let remote = src.hub_list.clone().unwrap_or_else(|| name.to_string());
    let held = get(store, name)
        .ok()
        .and_then(|m| delta::source_version(&m));
    let deadline = super::deadline(src.deadline_secs);
    let dest = super::download_path(store, name)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Sync(format!("starting the hub client: {e}")))?;
    let mut attempts = 0;
    let header = loop {
        attempts += 1;
        match rt.block_on(fetch(&url, &token, &remote, held, src, deadline, &dest)) {
            Ok(h) => break h,
            Err(Fetch::Fatal(e)) => return Err(Error::Sync(e)),
            Err(Fetch::Retry(e)) => {
                let now = Instant::now();
                if attempts > src.retries || now >= deadline {
                    return Err(Error::Sync(format!(
                        "hub {}: gave up after {attempts} attempts: {e}",
                        super::redact(&url)
                    )));
                }
                let wait = Duration::from_millis(src.backoff_ms)
                    .saturating_mul(1 << (attempts - 1).min(16))
                    .min(Duration::from_secs(60));
                std::thread::sleep(wait.min(deadline - now));
            }
        }
    };
    let Some(header) = header else {
        return Ok(Outcome::Unchanged);
    };
    let rows =
        std::fs::File::open(&dest).map_err(|e| Error::Sync(format!("{}: {e}", dest.display())))?;
    let described = format!("hub:{}/{remote}", super::redact(&url));
    let result = delta::apply(
        store,
        name,
        &header,
        BufReader::with_capacity(1 << 20, rows),
        settings(src, described),
    );
    let _ = std::fs::remove_file(&dest);
    result.map(|s| Outcome::Published(Box::new(s)))
}

enum Fetch {
    Retry(String),
    Fatal(String),
}

/// One FetchDelta call; the rows go to `dest`. `Ok(None)`: the copy is up to date.
async fn fetch(
    url: &str,
    token: &str,
    remote: &str,
    held: Option<u32>,
    src: &ListSource,
    deadline: Instant,
    dest: &std::path::Path,
) -> Result<Option<DeltaHeader>, Fetch> {
    let mut endpoint = Endpoint::from_shared(url.to_string())
        .map_err(|e| Fetch::Fatal(format!("hub URL {}: {e}", super::redact(url))))?
        .connect_timeout(Duration::from_secs(30))
        .timeout(deadline.saturating_duration_since(Instant::now()));
    if url.starts_with("https://") {
        let mut tls = ClientTlsConfig::new();
        if let Some(ca) = &src.ca_file {
            let pem =
                std::fs::read(ca).map_err(|e| Fetch::Fatal(format!("{}: {e}", ca.display())))?;
            tls = tls.ca_certificate(Certificate::from_pem(pem));
        }
        endpoint = endpoint
            .tls_config(tls)
            .map_err(|e| Fetch::Fatal(format!("hub TLS: {e}")))?;
    }
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| Fetch::Retry(format!("connecting: {e}")))?;
    let mut client =
        proto::lists_client::ListsClient::new(channel).max_decoding_message_size(16 << 20);
    let mut req = tonic::Request::new(proto::FetchDeltaRequest {
        name: remote.to_string(),
        from_version: held.unwrap_or(0),
    });
    let auth = format!("Bearer {token}")
        .parse()
        .map_err(|_| Fetch::Fatal("the mirror token is not a valid header value".into()))?;
    req.metadata_mut().insert("authorization", auth);
    let status = |s: tonic::Status| {
        use tonic::Code;
        let msg = format!("hub: {}: {}", s.code(), s.message());
        match s.code() {
            Code::Unavailable
            | Code::DeadlineExceeded
            | Code::ResourceExhausted
            | Code::Aborted
            | Code::Internal
            | Code::Unknown => Fetch::Retry(msg),
            _ => Fetch::Fatal(msg),
        }
    };
    let mut stream = client.fetch_delta(req).await.map_err(status)?.into_inner();
    let first = stream.message().await.map_err(status)?;
    let Some(proto::DeltaChunk {
        part: Some(proto::delta_chunk::Part::Header(h)),
    }) = first
    else {
        return Err(Fetch::Retry("the hub sent no delta header".into()));
    };
    if !h.full && held == Some(h.version) {
        return Ok(None);
    }
    let kinds = h
        .kinds
        .iter()
        .map(|k| {
            proto::kind_of(k.kind)
                .ok()
                .map(|kind| KindMeta {
                    kind,
                    radius: k.radius,
                    entries: k.entries,
                })
                .ok_or_else(|| Fetch::Fatal("the hub sent an unknown hash kind".into()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut file = std::fs::File::create(dest)
        .map_err(|e| Fetch::Fatal(format!("{}: {e}", dest.display())))?;
    while let Some(chunk) = stream.message().await.map_err(status)? {
        if let Some(proto::delta_chunk::Part::Rows(rows)) = chunk.part {
            file.write_all(&rows)
                .map_err(|e| Fetch::Fatal(format!("{}: {e}", dest.display())))?;
        }
    }
    file.sync_data()
        .map_err(|e| Fetch::Fatal(format!("{}: {e}", dest.display())))?;
    Ok(Some(DeltaHeader {
        list: remote.to_string(),
        from: (h.from_version > 0).then_some(h.from_version),
        to: h.version,
        full: h.full,
        entries: h.entries,
        digest: h.digest,
        kinds,
    }))
}
