//! The `Matcher` service (role operator): hashes or uploads in, a verdict out. Every match is
//! filed as a durable report before the call answers ([`super::verdict`]).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use tokio::sync::OwnedSemaphorePermit;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};

use super::auth::{Caller, Operator};
use super::metrics::Rejection;
use super::proto;
use super::state::{State, blocking};
use super::verdict::Submission;
use super::{bounds, convert};
use crate::fingerprint::{FileRecord, HashRequest};
use crate::hashing::AnyHash;
use crate::matcher::Query;
use crate::media::Limits;
use crate::sandbox::Cancel;

/// The Matcher service.
pub struct MatcherService(pub Arc<State>);

/// `MatchHashes` calls with at most this many hashes are looked up on the async worker.
const INLINE_LOOKUPS: usize = 8;

/// An upload that failed mid-stream: a chunk over the message limit keeps tonic's OUT_OF_RANGE
/// (a size refusal, counted as such); anything else means the client's stream broke.
fn interrupted(e: Status) -> Status {
    match e.code() {
        tonic::Code::OutOfRange => Status::out_of_range(format!(
            "upload chunk over limits.max_message_bytes: {}",
            e.message()
        )),
        _ => Status::cancelled(format!("upload interrupted: {}", e.message())),
    }
}

impl MatcherService {
    /// Receives an upload: metadata first, then bytes, within the size limit.
    async fn receive(
        &self,
        mut stream: Streaming<proto::MediaChunk>,
    ) -> Result<(proto::MediaMetadata, Vec<u8>), Status> {
        let limit = self.0.config.limits.max_upload_bytes;
        let first = stream
            .next()
            .await
            .ok_or_else(|| Status::invalid_argument("empty upload: send metadata, then bytes"))?
            .map_err(interrupted)?;
        let Some(proto::media_chunk::Part::Metadata(meta)) = first.part else {
            return Err(Status::invalid_argument(
                "the first message of an upload must carry metadata",
            ));
        };
        bounds::check(
            "tenant_reference",
            &meta.tenant_reference,
            bounds::MAX_REFERENCE,
        )?;
        bounds::check("content_type", &meta.content_type, bounds::MAX_CONTENT_TYPE)?;
        if meta.declared_size > limit {
            self.0.metrics.reject(Rejection::TooLarge);
            return Err(Status::resource_exhausted(format!(
                "upload of {} bytes exceeds the limit of {limit} bytes",
                meta.declared_size
            )));
        }
        let mut bytes = Vec::new();
        while let Some(msg) = stream.next().await {
            let msg = msg.map_err(interrupted)?;
            match msg.part {
                Some(proto::media_chunk::Part::Data(d)) => {
                    if bytes.len() as u64 + d.len() as u64 > limit {
                        self.0.metrics.reject(Rejection::TooLarge);
                        return Err(Status::resource_exhausted(format!(
                            "upload exceeds the limit of {limit} bytes"
                        )));
                    }
                    bytes.extend_from_slice(&d);
                }
                _ => {
                    return Err(Status::invalid_argument(
                        "metadata may only be sent once, first",
                    ));
                }
            }
        }
        if bytes.is_empty() {
            return Err(Status::invalid_argument("the upload holds no bytes"));
        }
        if meta.declared_size > 0 && meta.declared_size != bytes.len() as u64 {
            return Err(Status::invalid_argument(format!(
                "upload truncated: {} of {} declared bytes received",
                bytes.len(),
                meta.declared_size
            )));
        }
        Ok((meta, bytes))
    }

    /// A hashing slot, taken before the upload is received so that an overloaded server
    /// refuses at once instead of after the transfer.
    fn slot(&self) -> Result<OwnedSemaphorePermit, Status> {
        self.0.slots.take(&self.0.metrics)
    }

    /// Hashes an upload on its slot.
    async fn hash(
        &self,
        bytes: Vec<u8>,
        permit: OwnedSemaphorePermit,
    ) -> Result<FileRecord, Status> {
        hash_upload(&self.0, bytes, permit).await
    }
}

/// Hashes an upload on its slot (every kind, an image's PDQ through its rotations and flips),
/// in a sandboxed worker unless configured otherwise; shared with the REST facade.
pub(super) async fn hash_upload(
    state: &State,
    bytes: Vec<u8>,
    permit: OwnedSemaphorePermit,
) -> Result<FileRecord, Status> {
    // Dropping this call (the client cancelled, or its deadline passed) kills the worker
    // decoding it, which frees the slot.
    let cancel = Cancel::new();
    let _stop_on_drop = cancel.on_drop();
    let decoding = state.decoding.clone();
    blocking(move || {
        let _permit = permit;
        let req = HashRequest {
            pdq_dihedral: true,
            ..HashRequest::ALL
        };
        let mut rec = FileRecord::new(Path::new(""));
        decoding
            .fingerprint_bytes(&bytes, &req, &Limits::default(), &mut rec, &cancel)
            .map_err(|_| Status::cancelled("the call was cancelled"))?;
        Ok(rec)
    })
    .await
}

#[tonic::async_trait]
impl proto::matcher_server::Matcher for MatcherService {
    async fn match_hashes(
        &self,
        req: Request<proto::MatchHashesRequest>,
    ) -> Result<Response<proto::MatchHashesResponse>, Status> {
        let Operator { tenant } = Operator::of(&req)?;
        self.0.quotas.charge(&tenant, 1.0, &self.0.metrics).await?;
        let matcher = self.0.matcher()?;
        let body = req.into_inner();
        if body.hashes.len() > self.0.config.limits.max_batch {
            self.0.metrics.reject(Rejection::TooLarge);
            return Err(Status::invalid_argument(format!(
                "{} hashes in one call; at most {}",
                body.hashes.len(),
                self.0.config.limits.max_batch
            )));
        }
        bounds::check(
            "tenant_reference",
            &body.tenant_reference,
            bounds::MAX_REFERENCE,
        )?;
        let mut parsed = Vec::with_capacity(body.hashes.len());
        for (i, h) in body.hashes.iter().enumerate() {
            bounds::check(&format!("hash {i}"), &h.hex, bounds::MAX_HEX)?;
            let kind = convert::required_kind(h.kind, &format!("hash {i}"))?;
            let hash = AnyHash::parse(kind, h.hex.trim())
                .map_err(|e| Status::invalid_argument(format!("hash {i}: {e}")))?;
            parsed.push(hash);
        }
        // One lookup and at most one report per distinct hash: a call that repeats a hash
        // 1,000 times files one report, and each copy gets its verdict.
        let mut distinct: Vec<AnyHash> = Vec::with_capacity(parsed.len());
        let mut slot_of: HashMap<AnyHash, usize> = HashMap::with_capacity(parsed.len());
        let positions: Vec<usize> = parsed
            .iter()
            .map(|h| {
                *slot_of.entry(*h).or_insert_with(|| {
                    distinct.push(*h);
                    distinct.len() - 1
                })
            })
            .collect();
        let state = self.0.clone();
        let reference = body.tenant_reference;
        let inline = distinct.len() <= INLINE_LOOKUPS;
        let lookup = move || {
            distinct
                .into_iter()
                .map(|h| Ok((h, matcher.matches(&Query::of_hash(h))?)))
                .collect::<Result<Vec<_>, Status>>()
        };
        // A few lookups (well under a millisecond each) run right here: handing every small
        // call to the blocking pool costs more than the lookup, and under load 64 callers
        // would mean 64 pool threads fighting over the cores, which is what made the tail
        // latency. Large batches still go to the pool.
        let found = if inline {
            lookup()?
        } else {
            blocking(lookup).await?
        };
        // Reports are written with fsync: never on an async worker.
        let filing = found.iter().filter(|(_, hits)| !hits.is_empty()).count();
        let distinct_verdicts = if filing == 0 {
            vec![proto::Verdict::default(); found.len()]
        } else {
            self.0
                .report_quotas
                .charge(&tenant, filing as f64, &self.0.metrics)
                .await?;
            blocking(move || {
                found
                    .into_iter()
                    .map(|(h, hits)| {
                        state.file_verdict(&Submission::of_hash(&tenant, &reference, &h), hits)
                    })
                    .collect::<Result<Vec<_>, Status>>()
            })
            .await?
        };
        let verdicts = positions
            .into_iter()
            .map(|i| distinct_verdicts[i].clone())
            .collect();
        Ok(Response::new(proto::MatchHashesResponse { verdicts }))
    }

    async fn match_media(
        &self,
        req: Request<Streaming<proto::MediaChunk>>,
    ) -> Result<Response<proto::MediaVerdict>, Status> {
        let Operator { tenant } = Operator::of(&req)?;
        self.0.quotas.charge(&tenant, 1.0, &self.0.metrics).await?;
        let matcher = self.0.matcher()?;
        let permit = self.slot()?;
        let (meta, bytes) = self.receive(req.into_inner()).await?;
        let rec = self.hash(bytes, permit).await?;
        let m = matcher.clone();
        let r = rec.clone();
        let hits = blocking(move || Ok(m.matches(&Query::of_record(&r))?)).await?;
        if !hits.is_empty() {
            self.0
                .report_quotas
                .charge(&tenant, 1.0, &self.0.metrics)
                .await?;
        }
        let state = self.0.clone();
        let verdict = blocking(move || {
            let sub = Submission::of_file(&tenant, &meta.tenant_reference, &rec);
            let v = state.file_verdict(&sub, hits)?;
            Ok(proto::MediaVerdict {
                verdict: Some(v),
                fingerprint: Some(convert::fingerprint(&rec)),
            })
        })
        .await?;
        Ok(Response::new(verdict))
    }

    async fn hash_media(
        &self,
        req: Request<Streaming<proto::MediaChunk>>,
    ) -> Result<Response<proto::Fingerprint>, Status> {
        let Operator { tenant } = Operator::of(&req)?;
        self.0.quotas.charge(&tenant, 1.0, &self.0.metrics).await?;
        let permit = self.slot()?;
        let (_, bytes) = self.receive(req.into_inner()).await?;
        let rec = self.hash(bytes, permit).await?;
        Ok(Response::new(convert::fingerprint(&rec)))
    }
}
