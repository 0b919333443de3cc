//! Helpers shared by the integration tests: the binary, the test data, and a started
//! `hashguard serve` with tonic clients.

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hashguard::proto::{
    lists_client::ListsClient, matcher_client::MatcherClient, reports_client::ReportsClient,
};
use hashguard::server::auth::token_hash;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::{Interceptor, interceptor::InterceptedService};
use tonic::transport::Channel;
use tonic::{Request, Status};

/// The operator token of tenant `acme`.
pub const OPERATOR: &str = "op-token-acme";
/// The investigator token of unit `unit-a`.
pub const UNIT_A: &str = "inv-token-unit-a";
/// The investigator token of unit `unit-b`.
pub const UNIT_B: &str = "inv-token-unit-b";
/// The admin token.
pub const ADMIN: &str = "admin-token";

/// A `Command` for the `hashguard` binary under test.
pub fn hashguard() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hashguard"))
}

/// The path of `path` under the repository's `testdata/` directory.
pub fn testdata(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(path)
}

/// The PDQ of the listed scene the server and sandbox tests use (`images/base/p00_480x360.png`).
pub fn scene_pdq() -> hashguard::hashing::PdqHash {
    hashguard::fingerprint::fingerprint_file(
        &testdata("images/base/p00_480x360.png"),
        &hashguard::fingerprint::HashRequest::ALL,
        &hashguard::media::Limits::default(),
    )
    .pdq
    .unwrap()
}

/// MD5 of `bytes`, hex.
pub fn md5_hex(bytes: &[u8]) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(bytes))
}

/// Writes `tokens.toml` (the four tokens above) and `serve.toml` into `dir`; returns the latter.
pub fn write_server_config(dir: &Path) -> PathBuf {
    let tokens = dir.join("tokens.toml");
    std::fs::write(
        &tokens,
        format!(
            "[[token]]\nsha256 = \"{}\"\nrole = \"operator\"\ntenant = \"acme\"\n\n\
             [[token]]\nsha256 = \"{}\"\nrole = \"investigator\"\nunit = \"unit-a\"\n\n\
             [[token]]\nsha256 = \"{}\"\nrole = \"investigator\"\nunit = \"unit-b\"\n\n\
             [[token]]\nsha256 = \"{}\"\nrole = \"admin\"\n",
            token_hash(OPERATOR),
            token_hash(UNIT_A),
            token_hash(UNIT_B),
            token_hash(ADMIN)
        ),
    )
    .unwrap();
    // An ephemeral loopback port; police-md5 is routed to unit-a, everything else to unit-b;
    // no report quota (tests file reports in bursts; the quota has tests of its own).
    let config = dir.join("serve.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ntokens = \"{}\"\n\n[routing]\ndefault_unit = \"unit-b\"\n\
             [routing.lists]\npolice-md5 = \"unit-a\"\n\n[limits]\nmax_upload_bytes = 2000000\ntenant_report_rate = 0.0\n",
            tokens.display()
        ),
    )
    .unwrap();
    config
}

/// A running `hashguard serve` child process, killed on drop, with a runtime for its clients.
pub struct TestServer {
    /// The server process.
    pub child: Child,
    /// The gRPC listener's address.
    pub addr: SocketAddr,
    /// The metrics listener, when the config has one.
    pub metrics: Option<SocketAddr>,
    /// The plaintext health listener, when the config has one.
    pub health: Option<SocketAddr>,
    /// The REST facade, when the config has one.
    pub rest: Option<SocketAddr>,
    rt: tokio::runtime::Runtime,
}

impl TestServer {
    /// Starts `hashguard --data DATA serve --config CONFIG` and waits until it is SERVING.
    pub fn start(data: &Path, config: &Path) -> Self {
        Self::start_with_env(data, config, &[])
    }

    /// [`TestServer::start`] with extra environment variables.
    pub fn start_with_env(data: &Path, config: &Path, env: &[(&str, &str)]) -> Self {
        let mut child = hashguard()
            .args(["--data", data.to_str().unwrap(), "serve", "--config"])
            .arg(config)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // The metrics, health and REST lines, when there are any, come before the listening
            // line.
            let (mut metrics, mut health, mut rest) = (None, None, None);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(a) = line.strip_prefix("hashguard: metrics on ") {
                    metrics = Some(a.parse::<SocketAddr>().unwrap());
                }
                if let Some(a) = line.strip_prefix("hashguard: health on ") {
                    health = Some(a.parse::<SocketAddr>().unwrap());
                }
                if let Some(a) = line.strip_prefix("hashguard: REST facade (HMA API) on ") {
                    rest = Some(a.parse::<SocketAddr>().unwrap());
                }
                if let Some(a) = line.strip_prefix("hashguard: listening on ") {
                    let _ = tx.send((a.parse::<SocketAddr>().unwrap(), metrics, health, rest));
                }
            }
        });
        let (addr, metrics, health, rest) = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server did not start");
        let server = TestServer {
            child,
            addr,
            metrics,
            health,
            rest,
            rt: tokio::runtime::Runtime::new().unwrap(),
        };
        server.block_on(wait_serving(addr));
        server
    }

    /// The server's URL, `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Runs `future` to completion on the server's client runtime.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.rt.block_on(future)
    }

    /// A new connection to the server, with no token.
    pub fn channel(&self) -> Channel {
        let _runtime = self.rt.enter();
        Channel::from_shared(self.url()).unwrap().connect_lazy()
    }

    /// A Matcher client that sends `token`.
    pub fn matcher(&self, token: &str) -> MatcherClient<InterceptedService<Channel, Bearer>> {
        MatcherClient::with_interceptor(self.channel(), Bearer::new(token))
    }

    /// A Reports client that sends `token`.
    pub fn reports(&self, token: &str) -> ReportsClient<InterceptedService<Channel, Bearer>> {
        ReportsClient::with_interceptor(self.channel(), Bearer::new(token))
    }

    /// A Lists client that sends `token`.
    pub fn lists(&self, token: &str) -> ListsClient<InterceptedService<Channel, Bearer>> {
        ListsClient::with_interceptor(self.channel(), Bearer::new(token))
    }

    /// Sends SIGKILL and waits for the process to end.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Adds `authorization: Bearer TOKEN` to every request of a client.
#[derive(Clone)]
pub struct Bearer(MetadataValue<Ascii>);

impl Bearer {
    /// The interceptor for `token`.
    fn new(token: &str) -> Self {
        Bearer(format!("Bearer {token}").parse().unwrap())
    }
}

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// Waits until the server's health service reports the Matcher as SERVING.
async fn wait_serving(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = tonic_health::pb::health_client::HealthClient::new(channel);
    loop {
        let r = client
            .check(tonic_health::pb::HealthCheckRequest {
                service: "hashguard.v1.Matcher".into(),
            })
            .await;
        if let Ok(r) = r
            && r.into_inner().status == 1
        {
            return;
        }
        assert!(Instant::now() < deadline, "never SERVING");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A test CA and a certificate it signed for localhost and 127.0.0.1, made with openssl in
/// `dir`: (CA, certificate, key), PEM. webpki refuses a self-signed CA certificate as a
/// server's own, hence the two.
pub fn test_tls(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let (ca, cert, key) = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    let ext = dir.join("ext.cnf");
    std::fs::write(
        &ext,
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    let openssl = |args: &[&str]| {
        let made = std::process::Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .output()
            .unwrap();
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &["-days", "2", "-subj", "/CN=hashguard test CA"],
            &["-keyout", "ca.key", "-out", "ca.pem"],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &[
                "-subj",
                "/CN=localhost",
                "-keyout",
                "key.pem",
                "-out",
                "leaf.csr",
            ],
        ]
        .concat(),
    );
    openssl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        "-out",
        "cert.pem",
    ]);
    (ca, cert, key)
}

/// Follows a unit's reports from cursor 0 until `total` have come, dropping the stream after a
/// pseudo-random 1 to `most` reports each time (xorshift from `seed`) and reconnecting from the
/// last cursor seen: (cursor, id) of each report, in the order they came.
pub async fn follow_with_reconnects(
    mut reports: ReportsClient<InterceptedService<Channel, Bearer>>,
    total: usize,
    seed: u32,
    most: u32,
) -> Vec<(u64, String)> {
    let (mut seen, mut cursor, mut x) = (Vec::new(), 0u64, seed.max(1));
    while seen.len() < total {
        let mut follow = reports
            .follow_reports(hashguard::proto::FollowReportsRequest { cursor })
            .await
            .unwrap()
            .into_inner();
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let take = 1 + (x % most) as usize;
        for _ in 0..take.min(total - seen.len()) {
            let r = tokio::time::timeout(Duration::from_secs(30), follow.message())
                .await
                .expect("a report the follower never got")
                .unwrap()
                .unwrap();
            cursor = r.cursor;
            seen.push((r.cursor, r.id));
        }
    }
    seen
}

/// Asserts that a follower saw cursors 1..=N in order, and each acknowledged report once.
pub fn assert_each_once_in_order(seen: Vec<(u64, String)>, acked: &[String]) {
    let cursors: Vec<u64> = seen.iter().map(|(c, _)| *c).collect();
    assert_eq!(
        cursors,
        (1..=seen.len() as u64).collect::<Vec<_>>(),
        "in order, no gap"
    );
    let mut got: Vec<String> = seen.into_iter().map(|(_, id)| id).collect();
    got.sort();
    let mut acked = acked.to_vec();
    acked.sort();
    assert_eq!(got, acked, "every acknowledged report, once");
}

/// The records of a scan's `files.jsonl`, parsed.
pub fn scan_records(out: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(out.join("files.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
