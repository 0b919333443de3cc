//! Both ends of list mirroring. Serving: `Lists/FetchDelta` (role mirror) streams what brings a
//! mirror's copy to this server's active version. Fetching: [`HubClient`] is how `lists::sync`
//! reaches a hub, behind the library's [`Hub`] trait so that the list code knows nothing of gRPC.

use std::io::Write;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_stream::Stream;
use tonic::{Response, Status};

use super::client::{ClientError, Connection};
use super::convert;
use super::proto;
use super::state::{State, blocking};
use super::status::internal;
use crate::lists::delta::{self, DeltaHeader};
use crate::lists::sync::{Hub, HubCall, HubError};

/// The stream of a FetchDelta answer: a header, then rows.
pub type DeltaStream = Pin<Box<dyn Stream<Item = Result<proto::DeltaChunk, Status>> + Send>>;

/// Delta rows sent to a mirror as messages of about 1 MiB, whole lines each.
struct DeltaChunks {
    tx: mpsc::Sender<Result<proto::DeltaChunk, Status>>,
    pending: Vec<u8>,
}

impl Write for DeltaChunks {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(b);
        if self.pending.len() >= 1 << 20 && self.pending.ends_with(b"\n") {
            self.flush()?;
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.pending);
        let chunk = proto::DeltaChunk {
            part: Some(proto::delta_chunk::Part::Rows(rows)),
        };
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::other("the mirror went away"))
    }
}

/// Answers FetchDelta: the plan's header first, then its rows, streamed from the store.
pub async fn fetch_delta(
    state: Arc<State>,
    body: proto::FetchDeltaRequest,
) -> Result<Response<DeltaStream>, Status> {
    super::bounds::check("name", &body.name, super::bounds::MAX_NAME)?;
    let from = (body.from_version > 0).then_some(body.from_version);
    let st = state.clone();
    let name = body.name.clone();
    let (header, versions) = blocking(move || Ok(delta::plan(&st.store, &name, from)?)).await?;
    let (tx, rx) = mpsc::channel::<Result<proto::DeltaChunk, Status>>(8);
    let first = proto::DeltaChunk {
        part: Some(proto::delta_chunk::Part::Header(proto::DeltaHeader {
            version: header.to,
            full: header.full,
            entries: header.entries,
            digest: header.digest.clone(),
            kinds: convert::list_kinds(&header.kinds),
            from_version: header.from.unwrap_or(0),
        })),
    };
    tokio::task::spawn_blocking(move || {
        if tx.blocking_send(Ok(first)).is_err() {
            return;
        }
        let mut w = DeltaChunks {
            tx: tx.clone(),
            pending: Vec::new(),
        };
        let written = delta::write_rows(&state.store, &header, &versions, &mut w);
        if tx.is_closed() {
            return; // the mirror went away: nothing to report, nobody to tell
        }
        let flushed = written.and_then(|_| {
            w.flush().map_err(|source| crate::lists::Error::Io {
                what: "sending the delta".into(),
                source,
            })
        });
        if let Err(e) = flushed {
            let _ = tx.blocking_send(Err(internal("streaming a delta to a mirror", &e)));
        }
    });
    Ok(Response::new(Box::pin(
        tokio_stream::wrappers::ReceiverStream::new(rx),
    )))
}

/// Reaches hubs over gRPC for `lists::sync` (a private single-thread runtime per call, since
/// syncs run on blocking threads and in the CLI).
#[derive(Debug, Clone, Copy, Default)]
pub struct HubClient;

impl Hub for HubClient {
    fn fetch_delta(&self, call: &HubCall<'_>) -> Result<Option<DeltaHeader>, HubError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| HubError::Local {
                what: "starting the hub client".into(),
                source,
            })?;
        rt.block_on(fetch(call))
    }
}

/// Connection problems that another attempt can fix; the rest is the configuration's.
fn hub_error(e: ClientError) -> HubError {
    match e {
        ClientError::Unreachable { .. } => HubError::Transient(e.to_string()),
        e => HubError::Config(format!("hub: {e}")),
    }
}

/// One FetchDelta call; the rows go to `call.dest`. `Ok(None)`: the copy is up to date.
async fn fetch(call: &HubCall<'_>) -> Result<Option<DeltaHeader>, HubError> {
    let conn = Connection::new(call.url, call.token, call.ca_file)
        .map_err(hub_error)?
        .with_connect_timeout(Duration::from_secs(30))
        .with_timeout(call.deadline.saturating_duration_since(Instant::now()));
    let channel = conn.channel().await.map_err(hub_error)?;
    let mut client =
        proto::lists_client::ListsClient::new(channel).max_decoding_message_size(16 << 20);
    let req = conn.request(proto::FetchDeltaRequest {
        name: call.list.to_string(),
        from_version: call.held.unwrap_or(0),
    });
    let status = |s: tonic::Status| {
        use tonic::Code;
        let msg = format!("hub: {}: {}", s.code(), s.message());
        match s.code() {
            Code::Unavailable
            | Code::DeadlineExceeded
            | Code::ResourceExhausted
            | Code::Aborted
            | Code::Internal
            | Code::Unknown => HubError::Transient(msg),
            Code::Unauthenticated | Code::PermissionDenied | Code::NotFound => {
                HubError::Config(msg)
            }
            _ => HubError::Refused(msg),
        }
    };
    let mut stream = client.fetch_delta(req).await.map_err(status)?.into_inner();
    let first = stream.message().await.map_err(status)?;
    let Some(proto::DeltaChunk {
        part: Some(proto::delta_chunk::Part::Header(h)),
    }) = first
    else {
        return Err(HubError::Transient("the hub sent no delta header".into()));
    };
    if !h.full && call.held == Some(h.version) {
        return Ok(None);
    }
    let kinds = convert::kinds_of(&h.kinds)
        .ok_or_else(|| HubError::BadAnswer("the hub sent an unknown hash kind".into()))?;
    let local = |source: std::io::Error| HubError::Local {
        what: format!("writing {}", call.dest.display()),
        source,
    };
    let mut file = std::fs::File::create(call.dest).map_err(local)?;
    while let Some(chunk) = stream.message().await.map_err(status)? {
        if let Some(proto::delta_chunk::Part::Rows(rows)) = chunk.part {
            file.write_all(&rows).map_err(local)?;
        }
    }
    file.sync_data().map_err(local)?;
    Ok(Some(DeltaHeader {
        list: call.list.to_string(),
        from: (h.from_version > 0).then_some(h.from_version),
        to: h.version,
        full: h.full,
        entries: h.entries,
        digest: h.digest,
        kinds,
    }))
}
