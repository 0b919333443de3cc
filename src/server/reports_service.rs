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
use crate::report_log::Filed;

/// Most bytes of stored reports one replay page of FollowReports reads.
const REPLAY_PAGE_BYTES: usize = 4 << 20;

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
        // Half the message limit: reports are stored as JSON, larger than their protobuf form,
        // so a page always fits a client's default message size.
        let max_bytes = state.config.limits.max_message_bytes / 2;
        let u = unit.clone();
        let reports =
            blocking(move || Ok(state.reports.list(&u, body.cursor, limit, max_bytes)?)).await?;
        let next_cursor = reports.last().map_or(body.cursor, |r| r.cursor);
        // Audited before anything is shown: a read that cannot be audited is not answered.
        self.0
            .audit(
                format!("investigator:{unit}"),
                "reports.list",
                serde_json::json!({
                    "unit": unit,
                    "cursor": body.cursor,
                    "next_cursor": next_cursor,
                    "reports": reports.len(),
                }),
            )
            .await?;
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
        let actor = format!("investigator:{unit}");
        let from = cursor;
        state
            .audit(
                actor.clone(),
                "reports.follow",
                serde_json::json!({ "unit": unit, "cursor": from, "event": "start" }),
            )
            .await?;
        // Subscribe before replaying, so nothing filed during the replay is missed; the cursor
        // drops what the replay already sent.
        let mut live = state.new_reports.subscribe();
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            let mut sent = 0u64;
            let follow = async {
                loop {
                    // Replay everything after the cursor from the log.
                    loop {
                        let (st, u) = (state.clone(), unit.clone());
                        let page = blocking(move || {
                            Ok(st.reports.list(&u, cursor, 500, REPLAY_PAGE_BYTES)?)
                        })
                        .await;
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
                            sent += 1;
                        }
                    }
                    // Then wait for a filing of this unit past the cursor, and read it (with any
                    // before it) from the log. Followers never take a report from the wake-up
                    // itself: two filings announce themselves after their commits in either
                    // order, and another replica's filing comes as a notification, so the log,
                    // where cursors are given in commit order, is the one place without gaps.
                    loop {
                        let got = tokio::select! {
                            r = live.recv() => r,
                            // The client went away: end now, not at the unit's next report.
                            () = tx.closed() => return,
                        };
                        match got {
                            Ok(Filed {
                                unit: Some(u),
                                cursor: c,
                            }) if u == unit && c > cursor => break,
                            // Anything may have been filed (a notification was lost): read.
                            Ok(Filed { unit: None, .. }) => break,
                            Ok(_) => {}
                            // Missed some: read them from the log.
                            Err(broadcast::error::RecvError::Lagged(_)) => break,
                            Err(broadcast::error::RecvError::Closed) => return,
                        }
                    }
                }
            };
            follow.await;
            // Which reports the follower was shown: from its cursor to the last one sent.
            let detail = serde_json::json!({
                "unit": unit, "cursor": from, "last_cursor": cursor, "reports": sent,
                "event": "end",
            });
            if let Err(e) = state.audit(actor, "reports.follow", detail).await {
                tracing::error!(
                    "auditing the end of a follow stream failed: {}",
                    e.message()
                );
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
        let (u, i) = (unit.clone(), ids.clone());
        let acked = blocking(move || Ok(state.reports.ack(&u, &i)?)).await?;
        self.0
            .audit(
                format!("investigator:{unit}"),
                "reports.ack",
                serde_json::json!({ "unit": unit, "ids": ids, "acked": acked }),
            )
            .await?;
        Ok(Response::new(proto::AckReportsResponse { acked }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Principal};
    use crate::hashing::HashKind;
    use crate::report_log::{NewReport, ReportMatch};
    use crate::server::metrics::Metrics;
    use crate::store::Store;
    use proto::reports_server::Reports;
    use tokio_stream::StreamExt;

    fn report(unit: &str) -> NewReport {
        NewReport {
            tenant: "acme".into(),
            tenant_reference: String::new(),
            unit: unit.into(),
            sha256: None,
            md5: Some("ab".repeat(16)),
            sha1: None,
            matches: vec![ReportMatch {
                list: "l".into(),
                list_version: 1,
                entry_id: "e".into(),
                entry_hash: "ab".repeat(16),
                distance: 0,
                kind: HashKind::Md5,
                dihedral: None,
                category: None,
                frame_ts: None,
                video: None,
            }],
            coverage: Default::default(),
        }
    }

    /// Two filings announce themselves after their commits, in either order: the follower that
    /// hears of cursor 3 before 2 reads both from the log, in order, instead of skipping 2.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_report_broadcast_out_of_order_is_not_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let state = Arc::new(State::new(
            store.clone(),
            Arc::new(crate::report_log::RocksLog::new(store.clone())),
            None,
            Config::default(),
            Arc::new(Metrics::new()),
            Arc::new(crate::lists::sync::NoHub),
        ));
        state.reports.file(report("unit-a")).unwrap();
        let service = ReportsService(state.clone());
        let mut req = Request::new(proto::FollowReportsRequest { cursor: 0 });
        req.extensions_mut().insert(Principal::Investigator {
            unit: "unit-a".into(),
        });
        let mut follow = service.follow_reports(req).await.unwrap().into_inner();
        assert_eq!(follow.next().await.unwrap().unwrap().cursor, 1);
        // Let the follower finish its replay and wait on live reports.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let two = state.reports.file(report("unit-a")).unwrap();
        let three = state.reports.file(report("unit-a")).unwrap();
        for r in [three, two] {
            let filed = Filed {
                unit: Some(r.unit),
                cursor: r.cursor,
            };
            state.new_reports.send(filed).unwrap();
        }
        let mut got = Vec::new();
        for _ in 0..2 {
            let r = tokio::time::timeout(std::time::Duration::from_secs(10), follow.next())
                .await
                .expect("a report never arrived")
                .unwrap()
                .unwrap();
            got.push(r.cursor);
        }
        assert_eq!(got, [2, 3]);
    }
}
