//! The one way the project's own gRPC clients connect (the reports CLI, the hub mirror): the
//! server URL, the bearer token, TLS with the CA that signed the server's certificate, and the
//! rule that a token never travels in plaintext to a host other than this machine.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use super::proto;
use crate::lists::source::is_loopback_host;

/// Why a client could not be set up or connect.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The token cannot travel in a header.
    #[error("the token holds characters a header cannot carry")]
    BadToken,
    /// The server URL does not parse.
    #[error("server {server:?}: {message}")]
    BadUrl {
        /// The URL given.
        server: String,
        /// Why it does not parse.
        message: String,
    },
    /// An `https` server without the CA to check its certificate.
    #[error("an https:// server needs a CA file (the CA that signed its certificate)")]
    NeedsCa,
    /// A CA file for a plaintext server.
    #[error("a CA file needs an https:// server")]
    CaWithoutTls,
    /// A token would be sent in plaintext off this machine.
    #[error(
        "refusing to send the token in plaintext to {host}: use https:// and a CA file, or a \
         loopback address"
    )]
    Plaintext {
        /// The host.
        host: String,
    },
    /// The CA file cannot be read.
    #[error("CA file {}: {source}", .path.display())]
    Ca {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// TLS could not be set up.
    #[error("TLS: {0}")]
    Tls(String),
    /// The server cannot be reached.
    #[error("cannot reach the server at {server}: {message}")]
    Unreachable {
        /// The URL.
        server: String,
        /// What failed, with its causes.
        message: String,
    },
}

/// An error's message followed by its sources, which say what actually failed ("connection
/// refused").
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// A checked connection to a hashguard server: an endpoint and the authorization header.
#[derive(Debug, Clone)]
pub struct Connection {
    endpoint: Endpoint,
    auth: MetadataValue<Ascii>,
    server: String,
}

impl Connection {
    /// Checks `server` (an `http://` or `https://` URL), `token` and `ca` against the
    /// transport rules; connects lazily.
    pub fn new(server: &str, token: &str, ca: Option<&Path>) -> Result<Self, ClientError> {
        let mut auth: MetadataValue<Ascii> = format!("Bearer {}", token.trim())
            .parse()
            .map_err(|_| ClientError::BadToken)?;
        // Kept out of header compression tables and debug output.
        auth.set_sensitive(true);
        let server = server.trim().to_string();
        let bad_url = |message: String| ClientError::BadUrl {
            server: server.clone(),
            message,
        };
        let uri: http::Uri = server.parse().map_err(|e| bad_url(format!("{e}")))?;
        let host = uri.host().unwrap_or("").to_string();
        let mut endpoint = Endpoint::from_shared(server.clone())
            .map_err(|e| bad_url(format!("{e}")))?
            .connect_timeout(Duration::from_secs(10))
            // Notices a server that vanished without closing the connection.
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_timeout(Duration::from_secs(10))
            .keep_alive_while_idle(true);
        match (uri.scheme_str(), ca) {
            (Some("https"), Some(ca)) => {
                let pem = std::fs::read(ca).map_err(|source| ClientError::Ca {
                    path: ca.to_path_buf(),
                    source,
                })?;
                let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem));
                endpoint = endpoint
                    .tls_config(tls)
                    .map_err(|e| ClientError::Tls(error_chain(&e)))?;
            }
            (Some("https"), None) => return Err(ClientError::NeedsCa),
            (Some("http"), None) if is_loopback_host(&host) => {}
            (Some("http"), None) => return Err(ClientError::Plaintext { host }),
            (Some("http"), Some(_)) => return Err(ClientError::CaWithoutTls),
            _ => {
                return Err(bad_url(
                    "the URL must start with http:// or https://".into(),
                ));
            }
        }
        Ok(Connection {
            endpoint,
            auth,
            server,
        })
    }

    /// The same connection, giving up connecting after `timeout`.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.endpoint = self.endpoint.connect_timeout(timeout);
        self
    }

    /// The same connection with every call bounded by `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.endpoint = self.endpoint.timeout(timeout);
        self
    }

    /// The server's URL.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Connects.
    pub async fn channel(&self) -> Result<Channel, ClientError> {
        self.endpoint
            .connect()
            .await
            .map_err(|e| ClientError::Unreachable {
                server: self.server.clone(),
                message: error_chain(&e),
            })
    }

    /// A request carrying the token.
    pub fn request<T>(&self, msg: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(msg);
        r.metadata_mut().insert("authorization", self.auth.clone());
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_never_go_in_plaintext_off_this_machine() {
        assert!(Connection::new("http://127.0.0.1:50051", "t", None).is_ok());
        assert!(Connection::new("http://localhost:50051", "t", None).is_ok());
        assert!(Connection::new("http://[::1]:50051", "t", None).is_ok());
        assert!(matches!(
            Connection::new("http://192.0.2.7:50051", "t", None),
            Err(ClientError::Plaintext { .. })
        ));
        assert!(matches!(
            Connection::new("https://192.0.2.7:50051", "t", None),
            Err(ClientError::NeedsCa)
        ));
        assert!(matches!(
            Connection::new("ftp://h", "t", None),
            Err(ClientError::BadUrl { .. })
        ));
        assert!(matches!(
            Connection::new("http://127.0.0.1:1", "bad\ntoken", None),
            Err(ClientError::BadToken)
        ));
    }
}

/// Why a call to a server failed, by what the caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The client could not be set up, or the server not reached.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The server did not accept the token.
    #[error("the server did not accept the token: {0}")]
    Unauthenticated(String),
    /// The token's role may not make the call.
    #[error("{0}")]
    PermissionDenied(String),
    /// The connection was lost or the server went away.
    #[error("lost the server: {0}")]
    Lost(String),
    /// The server failed the call.
    #[error("the server failed the call ({code:?}): {message}")]
    Failed {
        /// The gRPC code.
        code: tonic::Code,
        /// The server's message.
        message: String,
    },
}

impl CallError {
    /// The error a refused or failed call's status means.
    pub fn from_status(s: &tonic::Status) -> Self {
        use tonic::Code;
        match s.code() {
            Code::Unauthenticated => CallError::Unauthenticated(s.message().to_string()),
            Code::PermissionDenied => CallError::PermissionDenied(s.message().to_string()),
            Code::Unavailable | Code::Unknown | Code::Cancelled | Code::DeadlineExceeded => {
                let mut msg = s.message().to_string();
                if let Some(src) = std::error::Error::source(s) {
                    let more = error_chain(src);
                    if !msg.contains(&more) {
                        msg = format!("{msg}: {more}");
                    }
                }
                CallError::Lost(msg)
            }
            code => CallError::Failed {
                code,
                message: s.message().to_string(),
            },
        }
    }

    /// True when retrying cannot help: the token or the settings are wrong.
    pub fn is_final(&self) -> bool {
        match self {
            CallError::Client(ClientError::Unreachable { .. }) => false,
            CallError::Client(_)
            | CallError::Unauthenticated(_)
            | CallError::PermissionDenied(_) => true,
            CallError::Lost(_) | CallError::Failed { .. } => false,
        }
    }
}

/// Why reading reports stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The server call failed.
    #[error(transparent)]
    Call(#[from] CallError),
    /// The reports could not be written where they go.
    #[error("cannot write the output: {0}")]
    Output(std::io::Error),
}

/// Longest pause between reconnections of [`ReportsReader::follow`].
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// First pause before [`ReportsReader::follow`] reconnects.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// Reports per ListReports call when exporting (the server's maximum).
const EXPORT_PAGE: u32 = 1000;

/// An operator's blocking client of a server's Matcher service, on a runtime of its own.
pub struct Submitter {
    conn: Connection,
    rt: tokio::runtime::Runtime,
}

/// The single-threaded runtime a blocking client runs its calls on.
fn client_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Upload chunk size (under the server's default message limit).
const UPLOAD_CHUNK: usize = 1 << 20;

impl Submitter {
    /// A submitter over `conn`.
    pub fn new(conn: Connection) -> std::io::Result<Self> {
        let rt = client_runtime()?;
        Ok(Submitter { conn, rt })
    }

    async fn client(&self) -> Result<proto::matcher_client::MatcherClient<Channel>, CallError> {
        Ok(proto::matcher_client::MatcherClient::new(
            self.conn.channel().await?,
        ))
    }

    /// Verdicts for `hashes`, in order (one call; the server takes up to 1,000).
    pub fn match_hashes(
        &self,
        hashes: &[crate::hashing::AnyHash],
        reference: &str,
    ) -> Result<Vec<proto::Verdict>, CallError> {
        let req = proto::MatchHashesRequest {
            hashes: hashes
                .iter()
                .map(|h| proto::TypedHash {
                    kind: crate::server::convert::proto_kind(h.kind()) as i32,
                    hex: h.to_string(),
                })
                .collect(),
            tenant_reference: reference.to_string(),
        };
        self.rt.block_on(async {
            let mut c = self.client().await?;
            Ok(c.match_hashes(self.conn.request(req))
                .await
                .map_err(|s| CallError::from_status(&s))?
                .into_inner()
                .verdicts)
        })
    }

    /// The verdict for one upload (sent in chunks; the bytes are not kept by the server).
    pub fn match_media(
        &self,
        bytes: Vec<u8>,
        reference: &str,
    ) -> Result<proto::MediaVerdict, CallError> {
        let mut chunks = vec![proto::MediaChunk {
            part: Some(proto::media_chunk::Part::Metadata(proto::MediaMetadata {
                tenant_reference: reference.to_string(),
                content_type: String::new(),
                declared_size: bytes.len() as u64,
            })),
        }];
        chunks.extend(bytes.chunks(UPLOAD_CHUNK).map(|c| proto::MediaChunk {
            part: Some(proto::media_chunk::Part::Data(c.to_vec())),
        }));
        self.rt.block_on(async {
            let mut c = self.client().await?;
            Ok(c.match_media(self.conn.request(tokio_stream::iter(chunks)))
                .await
                .map_err(|s| CallError::from_status(&s))?
                .into_inner())
        })
    }
}

/// An investigator's blocking client of a server's Reports service, on a runtime of its own.
pub struct ReportsReader {
    conn: Connection,
    rt: tokio::runtime::Runtime,
}

impl ReportsReader {
    /// A reader over `conn`.
    pub fn new(conn: Connection) -> std::io::Result<Self> {
        let rt = client_runtime()?;
        Ok(ReportsReader { conn, rt })
    }

    async fn client(&self) -> Result<proto::reports_client::ReportsClient<Channel>, CallError> {
        Ok(proto::reports_client::ReportsClient::new(
            self.conn.channel().await?,
        ))
    }

    /// One page of reports after `cursor`.
    pub fn list(&self, cursor: u64, limit: u32) -> Result<proto::ListReportsResponse, CallError> {
        self.rt.block_on(async {
            let mut c = self.client().await?;
            Ok(c.list_reports(
                self.conn
                    .request(proto::ListReportsRequest { cursor, limit }),
            )
            .await
            .map_err(|s| CallError::from_status(&s))?
            .into_inner())
        })
    }

    /// Every report after `from`, page by page, handed to `each`; returns how many there were
    /// and the last cursor.
    pub fn export(
        &self,
        from: u64,
        mut each: impl FnMut(&proto::Report) -> std::io::Result<()>,
    ) -> Result<(u64, u64), ReadError> {
        self.rt.block_on(async {
            let mut c = self.client().await?;
            let (mut cursor, mut n) = (from, 0u64);
            loop {
                let page = c
                    .list_reports(self.conn.request(proto::ListReportsRequest {
                        cursor,
                        limit: EXPORT_PAGE,
                    }))
                    .await
                    .map_err(|s| CallError::from_status(&s))?
                    .into_inner();
                if page.reports.is_empty() {
                    return Ok((n, cursor));
                }
                for r in &page.reports {
                    each(r).map_err(ReadError::Output)?;
                    cursor = r.cursor;
                    n += 1;
                }
            }
        })
    }

    /// One connection of `follow`: hands reports after `cursor` to `each` (advancing it) until
    /// the stream ends or fails. `connected` is set once the server has accepted the stream.
    async fn follow_once(
        &self,
        cursor: &mut u64,
        each: &mut impl FnMut(&proto::Report) -> std::io::Result<()>,
        connected: &mut bool,
    ) -> Result<(), ReadError> {
        let mut c = self.client().await?;
        let mut stream = c
            .follow_reports(
                self.conn
                    .request(proto::FollowReportsRequest { cursor: *cursor }),
            )
            .await
            .map_err(|s| CallError::from_status(&s))?
            .into_inner();
        *connected = true;
        while let Some(r) = stream
            .message()
            .await
            .map_err(|s| CallError::from_status(&s))?
        {
            // The server replays after the cursor; this only guards against handing one twice.
            if r.cursor <= *cursor {
                continue;
            }
            each(&r).map_err(ReadError::Output)?;
            *cursor = r.cursor;
        }
        Ok(())
    }

    /// Every report after `from`, then each new one as it is filed, handed to `each`, until
    /// SIGINT or SIGTERM (then `Ok`). A lost connection is retried with backoff from the last
    /// cursor handed out (`retrying` hears why, the pause and the cursor); a refused token,
    /// wrong settings, a failed output, or a server never reached end it with the error.
    pub fn follow(
        &self,
        from: u64,
        mut each: impl FnMut(&proto::Report) -> std::io::Result<()>,
        mut retrying: impl FnMut(&str, Duration, u64),
    ) -> Result<(), ReadError> {
        self.rt.block_on(async {
            let mut cursor = from;
            let mut backoff = FIRST_BACKOFF;
            let mut ever_connected = false;
            loop {
                let mut connected = false;
                let result = tokio::select! {
                    r = self.follow_once(&mut cursor, &mut each, &mut connected) => r,
                    _ = super::shutdown_signal() => return Ok(()),
                };
                if connected {
                    ever_connected = true;
                    backoff = FIRST_BACKOFF;
                }
                let why = match result {
                    Ok(()) => "the server ended the stream".to_string(),
                    Err(ReadError::Call(e)) if e.is_final() => return Err(e.into()),
                    Err(e @ ReadError::Output(_)) => return Err(e),
                    // Never connected: the server is not there (or not this one); say so.
                    Err(e) if !ever_connected => return Err(e),
                    Err(e) => e.to_string(),
                };
                retrying(&why, backoff, cursor);
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = super::shutdown_signal() => return Ok(()),
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        })
    }
}
