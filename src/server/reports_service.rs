//! The `Reports` service (role investigator, bound to one unit): page through, follow and
//! acknowledge the unit's reports.

use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::{broadcast, mpsc};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::auth::{Caller, Investigator};
use super::convert;
use super::proto;
use super::state::{State, blocking};
use crate::report_log::ReportLog;

/// The Reports service.
pub struct ReportsService(pub Arc<State>);

type ReportStream = Pin<Box<dyn Stream<Item = Result<proto::Report, Status>> + Send>>;

#[tonic::async_trait]
impl proto::reports_server::Reports for ReportsService {
    async fn list_reports(
        &self,
        req: Request<proto::ListReportsRequest>,
    ) -> Result<Response<proto::ListReportsResponse>, Status> {
        let Investigator { unit } = Investigator::of(&req)?;
        let body = req.into_inner();
        let limit = match body.limit {
            0 => 100,
            n => n.min(1000) as usize,
        };
        let state = self.0.clone();
        let reports =
            blocking(move || Ok(ReportLog::list(&state.store, &unit, body.cursor, limit)?)).await?;
        let next_cursor = reports.last().map_or(body.cursor, |r| r.cursor);
        Ok(Response::new(proto::ListReportsResponse {
            reports: reports.iter().map(convert::report).collect(),
            next_cursor,
        }))
    }

    type FollowReportsStream = ReportStream;

    async fn follow_reports(
        &self,
        req: Request<proto::FollowReportsRequest>,
    ) -> Result<Response<Self::FollowReportsStream>, Status> {
        let Investigator { unit } = Investigator::of(&req)?;
        let mut cursor = req.into_inner().cursor;
        let state = self.0.clone();
        // Subscribe before replaying, so nothing filed during the replay is missed; the cursor
        // drops what the replay already sent.
        let mut live = state.new_reports.subscribe();
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                // Replay everything after the cursor from the store.
                loop {
                    let (st, u) = (state.clone(), unit.clone());
                    let page =
                        blocking(move || Ok(ReportLog::list(&st.store, &u, cursor, 500)?)).await;
                    let page = match page {
                        Ok(p) => p,
                        Err(e) => {
                            let _ = tx.send(Err(e)).await;
                            return;
                        }
                    };
                    if page.is_empty() {
                        break;
                    }
                    for r in &page {
                        if tx.send(Ok(convert::report(r))).await.is_err() {
                            return; // the client went away
                        }
                        cursor = r.cursor;
                    }
                }
                // Then follow live reports until the subscriber falls behind.
                loop {
                    match live.recv().await {
                        Ok(r) if r.unit == unit && r.cursor > cursor => {
                            cursor = r.cursor;
                            if tx.send(Ok(convert::report(&r))).await.is_err() {
                                return;
                            }
                        }
                        Ok(_) => {}
                        // Missed some: replay them from the store.
                        Err(broadcast::error::RecvError::Lagged(_)) => break,
                        Err(broadcast::error::RecvError::Closed) => return,
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn ack_reports(
        &self,
        req: Request<proto::AckReportsRequest>,
    ) -> Result<Response<proto::AckReportsResponse>, Status> {
        let Investigator { unit } = Investigator::of(&req)?;
        let ids = req.into_inner().ids;
        super::bounds::check_all("ids", &ids, super::bounds::MAX_IDS, super::bounds::MAX_ID)?;
        let state = self.0.clone();
        let acked = blocking(move || Ok(state.reports.ack(&state.store, &unit, &ids)?)).await?;
        Ok(Response::new(proto::AckReportsResponse { acked }))
    }
}
