//! The gRPC service layer, the only part of hashguard that speaks tonic and tokio.
//! Operators submit hashes or media and get a verdict; every match is filed as a durable report
//! before the call answers, routed to the investigating unit of the list; investigators page
//! through or follow their unit's reports; admins read and sync lists; mirrors fetch deltas.
//! Health (NOT_SERVING until the lists are loaded, and first on shutdown) and reflection are
//! served beside them.
//!
//! One file per concern: [`serve`] (listeners, startup, shutdown), one per gRPC service
//! ([`matcher_service`], [`reports_service`], [`lists_service`], [`mirror_service`]),
//! [`auth`] (tokens to typed callers), [`state`], [`verdict`] (filing reports), [`limits`]
//! (slots, quotas), [`schedule`] (list syncs), [`call_layer`] (deadlines, stream ends at
//! shutdown, per-call metrics), [`metrics`], [`status`] (library errors to gRPC statuses),
//! [`convert`] (wire types to library types), [`client`] (the project's own clients), [`rest`]
//! (the HMA-compatible REST facade).

pub mod auth;
pub mod bounds;
pub mod call_layer;
pub mod client;
pub mod convert;
pub mod limits;
pub mod lists_service;
pub mod matcher_service;
pub mod metrics;
pub mod mirror_service;
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod proto;
pub mod reports_service;
pub mod rest;
pub mod schedule;
pub mod serve;
pub mod state;
pub mod status;
pub mod verdict;

pub use serve::{Bound, Error, run, serve, shutdown_signal};
