//! The one mapping from library errors to gRPC statuses. What the caller can fix (bad input, an
//! unknown list, a missing precondition) is answered with the library's message; what went
//! wrong inside is logged here with its context and answered with a generic message, so that
//! nothing about the store or the lists leaks to a client and nothing goes unlogged.

use tonic::Status;

use crate::{lists, report_log, store};

/// An internal failure: logged with `context`, answered INTERNAL without details.
pub fn internal(context: &str, error: &dyn std::fmt::Display) -> Status {
    tracing::error!(%error, "{context}");
    Status::internal(format!(
        "internal error while {context}; the server has logged it"
    ))
}

impl From<store::Error> for Status {
    fn from(e: store::Error) -> Self {
        match e {
            // Another process holds the store: a passing condition, worth retrying.
            store::Error::Locked { .. } => Status::unavailable(e.to_string()),
            e => internal("using the data store", &e),
        }
    }
}

impl From<lists::Error> for Status {
    fn from(e: lists::Error) -> Self {
        use lists::Error as E;
        match e {
            E::Store(e) => e.into(),
            e if e.is_internal() => internal("working on a list", &e),
            E::NoSuchList { .. } | E::NotConfigured { .. } => Status::not_found(e.to_string()),
            E::NoPrevious { .. } | E::EmptyLoad { .. } | E::Shrinks { .. } => {
                Status::failed_precondition(e.to_string())
            }
            E::Fetch { .. } => Status::unavailable(e.to_string()),
            // What the caller sent or configured: the list data, a name, a format.
            e => Status::invalid_argument(e.to_string()),
        }
    }
}

impl From<report_log::Error> for Status {
    fn from(e: report_log::Error) -> Self {
        match e {
            report_log::Error::Store(e) => e.into(),
            e => internal("reading or filing reports", &e),
        }
    }
}

/// A worker task that panicked or was cancelled.
pub fn join_error(e: tokio::task::JoinError) -> Status {
    internal("running a worker task", &e)
}
