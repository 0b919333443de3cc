//! The `Lists` service (role admin; `FetchDelta` for mirrors, in [`super::mirror_service`]):
//! list state, syncs on demand, and lists streamed into the running server.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::auth::{Admin, Caller, Mirror};
use super::mirror_service;
use super::proto;
use super::schedule::{reload_lists, sync_lists};
use super::state::{State, blocking};
use super::status::{internal, join_error};
use super::{bounds, convert};
use crate::lists::{self, ListFormat, spool::Spool};

/// The Lists service.
pub struct ListsService(pub Arc<State>);

/// A list's state as admins read it.
fn list_info(state: &State, m: &lists::ListMeta) -> Result<proto::ListInfo, Status> {
    let attempt = lists::last_attempt(&state.store, &m.name)?;
    Ok(convert::list_info(m, state.unit_for_list(&m.name), attempt))
}

#[tonic::async_trait]
impl proto::lists_server::Lists for ListsService {
    async fn list_lists(
        &self,
        req: Request<proto::ListListsRequest>,
    ) -> Result<Response<proto::ListListsResponse>, Status> {
        Admin::of(&req)?;
        let state = self.0.clone();
        let lists = blocking(move || {
            let all = lists::all(&state.store)?;
            all.iter().map(|m| list_info(&state, m)).collect()
        })
        .await?;
        Ok(Response::new(proto::ListListsResponse { lists }))
    }

    async fn list_status(
        &self,
        req: Request<proto::ListStatusRequest>,
    ) -> Result<Response<proto::ListInfo>, Status> {
        Admin::of(&req)?;
        let name = req.into_inner().name;
        bounds::check("name", &name, bounds::MAX_NAME)?;
        let state = self.0.clone();
        let info = blocking(move || list_info(&state, &lists::get(&state.store, &name)?)).await?;
        Ok(Response::new(info))
    }

    async fn sync_now(
        &self,
        req: Request<proto::SyncNowRequest>,
    ) -> Result<Response<proto::SyncNowResponse>, Status> {
        let Admin { name: admin } = Admin::of(&req)?;
        let name = req.into_inner().name;
        bounds::check("name", &name, bounds::MAX_NAME)?;
        if !name.is_empty() && !self.0.config.lists.contains_key(&name) {
            return Err(Status::not_found(format!(
                "no list {name:?} is configured for sync ([lists.{name}] with a source)"
            )));
        }
        if name.is_empty() && self.0.config.lists.is_empty() {
            return Err(Status::failed_precondition(
                "no lists are configured for sync ([lists.NAME] sections with a source)",
            ));
        }
        let names = if name.is_empty() {
            Vec::new()
        } else {
            vec![name]
        };
        // Detached, so a cancelled call or a deadline never cuts a sync off from its reload or
        // lets another start while it still writes.
        let results = tokio::spawn(sync_lists(self.0.clone(), names, format!("admin:{admin}")))
            .await
            .map_err(join_error)?;
        Ok(Response::new(proto::SyncNowResponse { results }))
    }

    async fn import_list(
        &self,
        req: Request<tonic::Streaming<proto::ImportListChunk>>,
    ) -> Result<Response<proto::ImportListResponse>, Status> {
        let Admin { name: admin } = Admin::of(&req)?;
        let mut stream = req.into_inner();
        let Some(proto::ImportListChunk {
            part: Some(proto::import_list_chunk::Part::Settings(set)),
        }) = stream.message().await?
        else {
            return Err(Status::invalid_argument(
                "the first message must carry the import settings",
            ));
        };
        bounds::check("format", &set.format, bounds::MAX_NAME)?;
        bounds::check("category", &set.category, bounds::MAX_NAME)?;
        bounds::check("unit", &set.unit, bounds::MAX_NAME)?;
        let format: ListFormat = if set.format.is_empty() {
            ListFormat::Jsonl
        } else {
            set.format.parse::<ListFormat>()?
        };
        lists::check_name(&set.name)?;
        // Audited before anything is written (an import that cannot be audited is not done),
        // and its outcome after.
        let actor = format!("admin:{admin}");
        self.0
            .audit(
                actor.clone(),
                "lists.import",
                serde_json::json!({
                    "list": set.name, "event": "start", "delta": set.delta,
                    "forced": set.allow_shrink, "format": set.format,
                }),
            )
            .await?;
        let kind = match set.kind {
            0 => None,
            k => Some(convert::required_kind(k, "kind")?),
        };
        // List files are large and not media: they are spooled beside the store, then read
        // as a stream. One spool file per call (two uploads of one list never mix), deleted
        // when the call ends however it ends, a cut connection or a deadline included.
        let spool = Spool::new(&self.0.store, &set.name, "import")
            .map_err(|e| internal("creating an import spool file", &e))?;
        let mut file = std::fs::File::create(spool.path())
            .map_err(|e| internal("creating an import spool file", &e))?;
        // Chunks land in the page cache (a few MiB each, no fsync until the end), so these
        // writes do not hold up the async workers noticeably.
        let received = async {
            use std::io::Write;
            while let Some(chunk) = stream.message().await? {
                if let Some(proto::import_list_chunk::Part::Data(d)) = chunk.part {
                    file.write_all(&d)
                        .map_err(|e| internal("writing an import spool file", &e))?;
                }
            }
            let f = file;
            blocking(move || {
                f.sync_data()
                    .map_err(|e| internal("writing an import spool file", &e))
            })
            .await
        }
        .await;
        received?;
        let state = self.0.clone();
        // The import and the reload run in a task of their own that holds the sync lock: if
        // this call is cancelled or runs out of time, they still finish together, and no other
        // sync or import starts in between.
        let task = tokio::spawn(async move {
            let _one_at_a_time = state.syncing.lock().await;
            let st = state.clone();
            let imported = blocking(move || {
                let input = std::fs::File::open(spool.path())
                    .map_err(|e| internal("reading an import spool file", &e))?;
                // Settings not given keep the list's own (a delta must not clear its unit).
                let own = lists::get(&st.store, &set.name)
                    .ok()
                    .map(|m| lists::Settings::of(&m))
                    .unwrap_or_default();
                let opts = lists::ImportOptions {
                    format,
                    read: lists::format::ReadOptions {
                        kind,
                        ..Default::default()
                    },
                    mode: if set.delta {
                        lists::Mode::Delta
                    } else {
                        lists::Mode::Full
                    },
                    settings: lists::Settings {
                        radii: own.radii,
                        category: (!set.category.is_empty())
                            .then_some(set.category)
                            .or(own.category),
                        unit: (!set.unit.is_empty()).then_some(set.unit).or(own.unit),
                        source: "grpc:ImportList".into(),
                        max_bad_pct: if set.max_bad_pct > 0.0 {
                            set.max_bad_pct
                        } else {
                            1.0
                        },
                        allow_shrink: set.allow_shrink,
                        ..lists::Settings::default()
                    },
                };
                let r = lists::import(
                    &st.store,
                    &set.name,
                    std::io::BufReader::with_capacity(1 << 20, input),
                    &opts,
                );
                drop(spool);
                Ok(r?)
            })
            .await;
            let staged = imported?;
            reload_lists(&state)
                .await
                .map_err(|e| internal("reloading the lists", &e))?;
            Ok::<_, Status>((state.clone(), staged))
        });
        let (state, staged) = task.await.map_err(join_error)??;
        let outcome = serde_json::json!({
            "list": staged.meta.name, "event": "published", "version": staged.meta.version,
            "entries": staged.meta.entries, "bad_rows": staged.meta.bad_rows,
        });
        if let Err(e) = state.audit(actor, "lists.import", outcome).await {
            tracing::error!("auditing a published import failed: {}", e.message());
        }
        let info = list_info(&state, &staged.meta)?;
        Ok(Response::new(proto::ImportListResponse {
            list: Some(info),
            bad_rows: convert::bad_rows(staged.bad_rows),
        }))
    }

    type FetchDeltaStream = mirror_service::DeltaStream;

    async fn fetch_delta(
        &self,
        req: Request<proto::FetchDeltaRequest>,
    ) -> Result<Response<Self::FetchDeltaStream>, Status> {
        Mirror::of(&req)?;
        mirror_service::fetch_delta(self.0.clone(), req.into_inner()).await
    }
}
