//! Support for the cross-crate integration tests in `tests/tests/`: finding
//! the workspace's binaries, running them as services, and reaching the
//! real RabbitMQ and S3-compatible server the tests use.
//!
//! The servers come from the environment, as `make test` sets it up:
//! `NAS_BROKER_URI` (default: RabbitMQ at 127.0.0.1:5672 as guest) and
//! `NAS_S3_ENDPOINT`, `NAS_S3_BUCKET`, `NAS_S3_REGION`,
//! `NAS_S3_PATH_STYLE`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`
//! (`tests/services/garage.sh start` writes them; MinIO works too).
//!
//! [`pipeline`] sets up one experiment's services; [`chaos`] drives them
//! through the fault scenarios of `make chaos` (the `nas-chaos` binary);
//! [`tools`] keeps the small embedded searches the experiment-tools tests
//! work on.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nas_infra::queue::{BrokerConfig, JobQueue, RabbitMq};

pub mod chaos;
pub mod pipeline;
pub mod tools;
use nas_infra::store::{ObjectStore, S3Config, S3Store};

/// The path of a workspace binary built beside the running test
/// (`target/<profile>/<name>`) or beside the running binary (`nas-chaos`).
/// Under cargo (`cargo test`, `cargo run`) the controller's and the
/// worker's binaries are built first, once per process, with the same
/// profile and target folder, so a test never runs binaries older than
/// the code.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    // target/<profile>/deps/<test> or target/<profile>/nas-chaos
    let folder = exe.parent().expect("a binary lives in a folder");
    let profile_dir = if folder.ends_with("deps") {
        folder.parent().expect("deps lives in target/<profile>")
    } else {
        folder
    };
    build_binaries(profile_dir);
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} is not built; run `make test`, which builds every binary first",
        path.display()
    );
    path
}

/// Runs `cargo build` of the workspace's binaries into `profile_dir` once,
/// when this process was started by cargo.
fn build_binaries(profile_dir: &Path) {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let Some(cargo) = std::env::var_os("CARGO") else {
            return; // not under cargo: use what is there
        };
        let (Some(target), Some(profile)) = (profile_dir.parent(), profile_dir.file_name()) else {
            return;
        };
        let mut command = Command::new(cargo);
        // The same selection as `make build`, so features unify the same way
        // and the build is the one already there when nothing changed.
        command.args(["build", "--quiet", "--workspace", "--bins"]);
        match profile.to_str() {
            Some("debug") => {}
            Some("release") => {
                command.arg("--release");
            }
            Some(other) => {
                command.args(["--profile", other]);
            }
            None => return,
        }
        // What cargo sets for the test process itself would look like a new
        // environment to the build scripts that watch it (ring watches
        // CARGO_MANIFEST_DIR) and rebuild half the dependencies.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            let set_by_cargo = name.starts_with("CARGO_PKG_")
                || name.starts_with("CARGO_BIN_EXE_")
                || [
                    "CARGO_MANIFEST_DIR",
                    "CARGO_MANIFEST_PATH",
                    "CARGO_CRATE_NAME",
                    "CARGO_PRIMARY_PACKAGE",
                ]
                .contains(&name.as_ref())
                || ["CARGO_TARGET_TMPDIR", "OUT_DIR", "RUST_RECURSION_COUNT"].contains(&name.as_ref());
            if set_by_cargo {
                command.env_remove(name.as_ref());
            }
        }
        let output = command
            .arg("--target-dir")
            .arg(target)
            .output()
            .expect("cargo starts");
        assert!(
            output.status.success(),
            "building the service binaries failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    });
}

/// Runs a workspace binary with `args` and returns its output, failing the
/// test with its stderr when it exits unsuccessfully.
pub fn run_ok(name: &str, args: &[&str]) -> Output {
    let output = Command::new(binary(name))
        .args(args)
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("the binary starts");
    assert!(
        output.status.success(),
        "{name} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Writes synthetic CIFAR-10 (five training files of `records_per_file`
/// images, a test file of `test_records`) to `out` with `nas-controller
/// data synth`.
pub fn synth_cifar10(out: &Path, records_per_file: u32, test_records: u32) {
    let out = out.to_str().expect("a UTF-8 path");
    run_ok(
        "nas-controller",
        &[
            "data",
            "synth",
            "cifar10",
            "--out",
            out,
            "--records-per-file",
            &records_per_file.to_string(),
            "--test-records",
            &test_records.to_string(),
        ],
    );
}

/// Writes synthetic Penn Treebank (word and character files) of
/// `sentences` sentences over `vocabulary` words to `out` with
/// `nas-controller data synth`.
pub fn synth_ptb(out: &Path, sentences: u32, vocabulary: u32) {
    let out = out.to_str().expect("a UTF-8 path");
    run_ok(
        "nas-controller",
        &[
            "data",
            "synth",
            "ptb",
            "--out",
            out,
            "--sentences",
            &sentences.to_string(),
            "--vocabulary",
            &vocabulary.to_string(),
        ],
    );
}

/// The arguments of an embedded search with one worker: the experiment
/// `experiment` of `config` on `data`, stored under `store`, its metrics
/// served on `metrics_addr`, its summary printed as JSON.
pub fn embedded_search_args(
    config: &Path,
    data: &Path,
    store: &Path,
    experiment: &str,
    metrics_addr: &str,
) -> Vec<String> {
    let path = |path: &Path| path.to_str().expect("a UTF-8 path").to_owned();
    [
        "search",
        "--embedded",
        "--workers",
        "1",
        "--config",
        &path(config),
        "--data",
        &path(data),
        "--store",
        &path(store),
        "--experiment",
        experiment,
        "--metrics-addr",
        metrics_addr,
        "--output",
        "json",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Each line of a command's standard output as JSON (the tests' commands
/// promise JSON lines; any other line panics).
pub fn json_lines(output: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

/// Runs a workspace binary expected to fail and returns its stderr.
pub fn run_err(name: &str, args: &[&str]) -> String {
    let output = Command::new(binary(name))
        .args(args)
        .output()
        .expect("the binary starts");
    assert!(!output.status.success(), "{name} {args:?} unexpectedly succeeded");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The broker URI for the tests.
pub fn broker_uri() -> String {
    std::env::var("NAS_BROKER_URI").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// The S3 settings for the tests, from the environment.
pub fn s3_config() -> S3Config {
    let get = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is not set: run the tests with `make test`, which starts Garage and sets the S3 variables")
        })
    };
    S3Config {
        endpoint: Some(get("NAS_S3_ENDPOINT")),
        region: std::env::var("NAS_S3_REGION").unwrap_or_else(|_| "garage".into()),
        bucket: get("NAS_S3_BUCKET"),
        path_style: true,
    }
}

/// The S3 store of the tests.
pub async fn s3_store() -> ObjectStore {
    ObjectStore::S3(S3Store::new(&s3_config()).await)
}

/// A RabbitMQ queue under a fresh prefix, so tests do not see each other.
pub fn rabbitmq(prefix: &str) -> JobQueue {
    rabbitmq_at(&broker_uri(), prefix)
}

/// A RabbitMQ queue under `prefix`, reached through `uri` (another user or
/// vhost than the tests' own).
pub fn rabbitmq_at(uri: &str, prefix: &str) -> JobQueue {
    JobQueue::RabbitMq(RabbitMq::new(BrokerConfig {
        uri: uri.to_owned(),
        prefix: prefix.to_owned(),
        delivery_limit: 3,
    }))
}

/// A unique name for a test's experiment or queue prefix.
pub fn unique(stem: &str) -> String {
    format!("{stem}-{}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

/// A free local TCP port (bound once and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free local port")
}

/// A plain HTTP/1.1 `GET path` at `address` (`127.0.0.1:9100`): the status
/// code, the content type and the body.
pub fn http_get(address: &str, path: &str) -> std::io::Result<(u16, String, Vec<u8>)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let split = response
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no end of the headers"))?;
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status in {head:?}")))?;
    let content_type = head
        .lines()
        .find_map(|line| {
            line.to_ascii_lowercase()
                .strip_prefix("content-type:")
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_default();
    Ok((status, content_type, response[split + 4..].to_vec()))
}

/// A service process whose stderr goes to a log file the test can watch.
pub struct Service {
    /// The process.
    pub child: Child,
    /// Its log.
    pub log: PathBuf,
}

impl Service {
    /// Starts `binary` with `args` and the S3 environment, logging to
    /// `log`.
    pub fn start(binary_name: &str, args: &[&str], log: &Path, extra_env: &[(&str, &str)]) -> Service {
        let file = std::fs::File::create(log).expect("the log file can be created");
        let mut command = Command::new(binary(binary_name));
        command
            .args(args)
            .env("NAS_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(file);
        for (key, value) in extra_env {
            command.env(key, value);
        }
        let child = command.spawn().expect("the service starts");
        Service {
            child,
            log: log.to_path_buf(),
        }
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log holds `needle` at least `count` times.
    pub fn wait_for(&self, needle: &str, count: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.log_text().matches(needle).count() >= count {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits for the exit, at most `timeout`.
    pub fn terminate(&mut self, timeout: Duration) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Waits for the process to exit and returns its stdout.
    pub fn wait_output(mut self, timeout: Duration) -> Option<String> {
        let child = &mut self.child;
        let deadline = Instant::now() + timeout;
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                _ if Instant::now() >= deadline => {
                    let _ = child.kill();
                    return None;
                }
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        let mut stdout = String::new();
        if let Some(mut pipe) = child.stdout.take() {
            let _ = std::io::Read::read_to_string(&mut pipe, &mut stdout);
        }
        Some(stdout)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
