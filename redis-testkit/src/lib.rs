//! Dev-only test support: a real `redis-server` per test, owned by the test.
//!
//! [`RedisServer::start`] spawns the Debian `redis-server` binary in a fresh temporary directory,
//! listening only on a unix socket in that directory (`--port 0`: no TCP listener, so no port
//! race between parallel tests), and waits until it answers `PING`. [`RedisServer::url`] is the
//! `redis+unix://` URL the `redis` crate parses. [`RedisServer::kill`] (SIGKILL),
//! [`RedisServer::stop`] (a clean `SHUTDOWN`) and [`RedisServer::restart`] (same socket, same
//! directory, so an append-only file survives) let tests exercise outages and crashes; the server
//! is killed when the value is dropped.
//!
//! A machine without `redis-server` makes [`RedisServer::start`] return [`Error::Missing`]. Tests
//! call [`RedisServer::require`] instead: it returns `None` (and says so loudly on stderr) so the
//! test can skip, unless `REDIS_REQUIRED=1` is set (CI sets it), in which case it panics and the
//! test fails. Never rely on a system Redis service: every test owns its server.
//!
//! ```no_run
//! let Some(redis) = redis_testkit::RedisServer::require() else { return };
//! let url = redis.url(); // "redis+unix:///tmp/.tmpAbc123/r.sock"
//! # let _ = url;
//! ```

use std::fmt;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long [`RedisServer::start`] and [`RedisServer::restart`] wait for `PING` to answer.
pub const READY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long [`RedisServer::stop`] waits for a clean exit before it falls back to SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// The environment variable that turns a missing `redis-server` into a test failure.
pub const REQUIRED_ENV: &str = "REDIS_REQUIRED";
/// The environment variable that names another `redis-server` binary.
pub const BINARY_ENV: &str = "REDIS_SERVER_BIN";
const DEFAULT_BINARY: &str = "/usr/bin/redis-server";
/// `sun_path` is 108 bytes on Linux, including the terminating NUL.
const MAX_SOCKET_PATH: usize = 107;
const SOCKET_NAME: &str = "r.sock";
const LOG_NAME: &str = "redis.log";

/// How the server keeps its data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// No persistence at all (`--save '' --appendonly no`): the fastest, for most tests.
    #[default]
    None,
    /// Append-only file synced on every write (`--appendonly yes --appendfsync always`): what
    /// production should run for accounts and grants; survives [`RedisServer::kill`].
    AppendFsyncAlways,
}

/// Why a server could not be started.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The `redis-server` binary does not exist (install the Debian package `redis-server`).
    Missing {
        /// The binary that was looked for.
        binary: PathBuf,
    },
    /// The temporary directory could not be created, or the socket path is unusable.
    Setup(String),
    /// The binary exists but could not be spawned.
    Spawn(io::Error),
    /// The server exited before it answered `PING`.
    Exited {
        /// Its exit status.
        status: ExitStatus,
        /// The last lines of its log.
        log_tail: String,
    },
    /// The server did not answer `PING` within [`READY_TIMEOUT`].
    NotReady {
        /// The last lines of its log.
        log_tail: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing { binary } => write!(
                f,
                "redis-server not found at '{}' (apt-get install redis-server, or set {BINARY_ENV})",
                binary.display()
            ),
            Self::Setup(message) => write!(f, "redis-server setup: {message}"),
            Self::Spawn(e) => write!(f, "redis-server could not be spawned: {e}"),
            Self::Exited { status, log_tail } => {
                write!(
                    f,
                    "redis-server exited ({status}) before it was ready; log:\n{log_tail}"
                )
            }
            Self::NotReady { log_tail } => write!(
                f,
                "redis-server did not answer PING within {} s; log:\n{log_tail}",
                READY_TIMEOUT.as_secs()
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Spawn(e) => Some(e),
            _ => None,
        }
    }
}

/// A running (or stopped, restartable) `redis-server` that this test owns.
pub struct RedisServer {
    // Dropped after `child` has been killed (see `Drop`): the directory goes last.
    dir: tempfile::TempDir,
    binary: PathBuf,
    durability: Durability,
    child: Option<Child>,
}

impl fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisServer")
            .field("dir", &self.dir.path())
            .field("durability", &self.durability)
            .field("pid", &self.child.as_ref().map(Child::id))
            .finish()
    }
}

impl RedisServer {
    /// Starts a server without persistence and waits until it answers `PING`.
    pub fn start() -> Result<Self, Error> {
        Self::start_with(Durability::None)
    }

    /// Starts a server with the given durability and waits until it answers `PING`.
    pub fn start_with(durability: Durability) -> Result<Self, Error> {
        let binary = binary();
        let dir = tempfile::Builder::new()
            .prefix("redis-")
            .tempdir()
            .map_err(|e| Error::Setup(format!("temporary directory: {e}")))?;
        let socket = dir.path().join(SOCKET_NAME);
        if socket.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(Error::Setup(format!(
                "socket path '{}' is longer than {MAX_SOCKET_PATH} bytes (set TMPDIR to a short path)",
                socket.display()
            )));
        }
        let mut server = Self {
            dir,
            binary,
            durability,
            child: None,
        };
        server.spawn()?;
        Ok(server)
    }

    /// [`RedisServer::start`] for tests: `None` (with a loud line on stderr) when `redis-server`
    /// is not installed, so the test can return early — unless `REDIS_REQUIRED=1`, where a
    /// missing binary panics and fails the test. Any other start-up failure always panics.
    pub fn require() -> Option<Self> {
        Self::require_with(Durability::None)
    }

    /// [`RedisServer::require`] with the given durability.
    pub fn require_with(durability: Durability) -> Option<Self> {
        match Self::start_with(durability) {
            Ok(server) => Some(server),
            Err(e @ Error::Missing { .. }) if !required() => {
                eprintln!("SKIPPED (no Redis): {e}; set {REQUIRED_ENV}=1 to make this a failure");
                None
            }
            Err(e) => panic!("{e}"),
        }
    }

    /// The `redis+unix://` URL of the socket, as the `redis` crate parses it.
    pub fn url(&self) -> String {
        format!("redis+unix://{}", encode_path(&self.socket_path()))
    }

    /// The unix socket the server listens on.
    pub fn socket_path(&self) -> PathBuf {
        self.dir.path().join(SOCKET_NAME)
    }

    /// The server's directory (its `--dir`: append-only files, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Whether the server process is running.
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The last lines of the server's log.
    pub fn log_tail(&self) -> String {
        log_tail(&self.dir.path().join(LOG_NAME))
    }

    /// SIGKILL: the server dies at once, as in a crash; only what it had synced survives.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A clean stop: `SHUTDOWN` (the append-only file is synced first), then SIGKILL if it has
    /// not exited within 5 s.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(mut stream) = UnixStream::connect(self.socket_path()) {
            let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
            let _ = stream.write_all(b"SHUTDOWN\r\n");
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts the server again on the same socket and directory (stopping it first if it
    /// runs), and waits until it answers `PING`. With [`Durability::AppendFsyncAlways`] the data
    /// acknowledged before a [`RedisServer::kill`] is there again.
    pub fn restart(&mut self) -> Result<(), Error> {
        if self.child.is_some() {
            self.stop();
        }
        self.spawn()
    }

    fn spawn(&mut self) -> Result<(), Error> {
        let dir = self.dir.path();
        let mut command = Command::new(&self.binary);
        command
            .arg("--port")
            .arg("0")
            .arg("--unixsocket")
            .arg(self.socket_path())
            .arg("--unixsocketperm")
            .arg("700")
            .arg("--save")
            .arg("")
            .arg("--dir")
            .arg(dir)
            .arg("--logfile")
            .arg(dir.join(LOG_NAME))
            .arg("--daemonize")
            .arg("no");
        match self.durability {
            Durability::None => {
                command.args(["--appendonly", "no"]);
            }
            Durability::AppendFsyncAlways => {
                command.args(["--appendonly", "yes", "--appendfsync", "always"]);
            }
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => Error::Missing {
                    binary: self.binary.clone(),
                },
                _ => Error::Spawn(e),
            })?;
        self.child = Some(child);
        self.wait_until_ready()
    }

    fn wait_until_ready(&mut self) -> Result<(), Error> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let socket = self.socket_path();
        loop {
            if let Some(child) = &mut self.child
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(Error::Exited {
                    status,
                    log_tail: self.log_tail(),
                });
            }
            if ping(&socket) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.kill();
                return Err(Error::NotReady {
                    log_tail: self.log_tail(),
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether `REDIS_REQUIRED=1` is set (CI): a missing Redis is then a failure, not a skip.
pub fn required() -> bool {
    std::env::var(REQUIRED_ENV).is_ok_and(|v| v == "1")
}

fn binary() -> PathBuf {
    std::env::var_os(BINARY_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_BINARY))
}

/// One raw `PING` on the socket; `true` only for `+PONG` (a server still loading its
/// append-only file answers `-LOADING`).
fn ping(socket: &Path) -> bool {
    let Ok(mut stream) = UnixStream::connect(socket) else {
        return false;
    };
    let timeout = Some(Duration::from_millis(500));
    if stream.set_read_timeout(timeout).is_err() || stream.set_write_timeout(timeout).is_err() {
        return false;
    }
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut answer = [0u8; 7];
    let mut read = 0;
    while read < answer.len() {
        match stream.read(&mut answer[read..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => read += n,
        }
        if answer[..read].starts_with(b"-") && answer[..read].ends_with(b"\n") {
            break;
        }
    }
    &answer[..read] == b"+PONG\r\n"
}

fn log_tail(path: &Path) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(20)..].join("\n")
        }
        Err(e) => format!("(no log at '{}': {e})", path.display()),
    }
}

/// Percent-encodes a path for a URL, leaving unreserved characters and `/` as they are (the
/// `redis` crate decodes it with `Url::to_file_path`).
fn encode_path(path: &Path) -> String {
    let mut out = String::new();
    for byte in path.as_os_str().as_encoded_bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(char::from(*byte))
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(socket: &Path, line: &str) -> String {
        let mut stream = UnixStream::connect(socket).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        stream.write_all(line.as_bytes()).unwrap();
        let mut buf = [0u8; 256];
        let n = stream.read(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn a_started_server_answers_ping_on_its_socket_and_dies_on_drop() {
        let Some(server) = RedisServer::require() else {
            return;
        };
        let socket = server.socket_path();
        assert!(ping(&socket));
        assert!(
            server.url().starts_with("redis+unix:///"),
            "{}",
            server.url()
        );
        drop(server);
        assert!(!ping(&socket), "the server outlived its handle");
    }

    #[test]
    fn a_killed_server_is_unreachable_until_restarted() {
        let Some(mut server) = RedisServer::require() else {
            return;
        };
        server.kill();
        assert!(!server.is_running());
        assert!(!ping(&server.socket_path()));
        server.restart().unwrap();
        assert!(server.is_running());
        assert!(ping(&server.socket_path()));
    }

    #[test]
    fn with_appendfsync_always_a_write_survives_sigkill() {
        let Some(mut server) = RedisServer::require_with(Durability::AppendFsyncAlways) else {
            return;
        };
        assert_eq!(command(&server.socket_path(), "SET k v\r\n"), "+OK\r\n");
        server.kill();
        server.restart().unwrap();
        assert_eq!(command(&server.socket_path(), "GET k\r\n"), "$1\r\nv\r\n");
    }

    #[test]
    fn without_persistence_a_stopped_server_comes_back_empty() {
        let Some(mut server) = RedisServer::require() else {
            return;
        };
        assert_eq!(command(&server.socket_path(), "SET k v\r\n"), "+OK\r\n");
        server.stop();
        assert!(!server.is_running());
        server.restart().unwrap();
        assert_eq!(command(&server.socket_path(), "GET k\r\n"), "$-1\r\n");
    }

    #[test]
    fn a_missing_binary_is_reported_as_missing() {
        let err = RedisServer {
            dir: tempfile::tempdir().unwrap(),
            binary: PathBuf::from("/nonexistent/redis-server"),
            durability: Durability::None,
            child: None,
        }
        .spawn()
        .unwrap_err();
        assert!(matches!(err, Error::Missing { .. }), "{err}");
        assert!(
            err.to_string().contains("'/nonexistent/redis-server'"),
            "{err}"
        );
    }

    #[test]
    fn the_redis_crate_connects_with_the_url() {
        let Some(server) = RedisServer::require() else {
            return;
        };
        let client = redis::Client::open(server.url()).unwrap();
        let mut connection = client.get_connection().unwrap();
        let pong: String = redis::cmd("PING").query(&mut connection).unwrap();
        assert_eq!(pong, "PONG");
    }

    #[test]
    fn paths_are_percent_encoded_in_the_url() {
        assert_eq!(
            encode_path(Path::new("/tmp/a b/r.sock")),
            "/tmp/a%20b/r.sock"
        );
    }
}
