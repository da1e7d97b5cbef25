//! A throwaway PostgreSQL cluster in a temporary directory, on a free loopback port.

use std::io::Write as _;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, Uid};
use rand::Rng as _;
use rand::distr::Alphanumeric;

use super::binaries::{PgBinaries, display_name};
use super::spawn::{RunAs, run_as_output, spawn_tied_to_process};
use crate::error::Error;

/// How long a server may take to accept connections after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a fast shutdown may take before we escalate.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Superuser of the throwaway cluster.
const SUPERUSER: &str = "postgres";

/// A running throwaway PostgreSQL server; stopped and deleted when dropped.
///
/// The directory lives under `$TMPDIR/alexandria-pg-<uid>/<pid>-<random>`; it holds the data
/// directory, the Unix socket and `postgres.log`. A later start reaps directories whose owning
/// process has died (their server already received `SIGQUIT` through the parent-death signal).
#[derive(Debug)]
pub struct EphemeralPostgres {
    root: PathBuf,
    port: u16,
    password: String,
    binaries: PgBinaries,
    run_as: Option<RunAs>,
    durability: Durability,
    child: Mutex<Option<Child>>,
    removed: AtomicBool,
}

impl EphemeralPostgres {
    /// Locates the binaries, runs `initdb` and starts the server. Blocking: call it from
    /// `spawn_blocking` in async code.
    pub fn start() -> Result<Self, Error> {
        Self::start_with(PgBinaries::locate()?, Durability::Throwaway)
    }

    /// Like [`EphemeralPostgres::start`], with binaries already located and a durability mode.
    pub fn start_with(binaries: PgBinaries, durability: Durability) -> Result<Self, Error> {
        let run_as = RunAs::for_current_process()?;
        let base = std::env::temp_dir().join(format!("alexandria-pg-{}", Uid::effective()));
        create_base_dir(&base)?;
        reap_stale_clusters(&base);

        let suffix: String = random_string(8).to_lowercase();
        let root = base.join(format!("{}-{suffix}", std::process::id()));
        std::fs::create_dir(&root)
            .map_err(|e| io_error(format!("create {}", root.display()), e))?;
        let cluster = Self {
            root,
            port: 0,
            password: random_string(32),
            binaries,
            run_as,
            durability,
            child: Mutex::new(None),
            removed: AtomicBool::new(false),
        };
        // From here on, dropping `cluster` cleans up the directory.
        cluster.init_db()?;
        cluster.start_on_free_port()
    }

    /// TCP port the server listens on (loopback only).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Directory holding the data directory, socket and log.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The server's log file.
    pub fn log_path(&self) -> PathBuf {
        self.root.join("postgres.log")
    }

    /// Connection URL of the superuser for database `database`.
    pub fn url_for(&self, database: &str) -> String {
        format!(
            "postgres://{SUPERUSER}:{}@127.0.0.1:{}/{database}",
            self.password, self.port
        )
    }

    /// Connection URL of the superuser for the `postgres` database.
    pub fn url(&self) -> String {
        self.url_for("postgres")
    }

    /// Whether the server process is running.
    pub fn is_running(&self) -> bool {
        let mut child = self.lock_child();
        match child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Stops the server (fast shutdown) and keeps the data; [`restart`](Self::restart) brings it
    /// back on the same port.
    pub fn stop(&self) -> Result<(), Error> {
        let Some(mut child) = self.lock_child().take() else {
            return Ok(());
        };
        stop_child(&mut child)
    }

    /// Kills the server and its backends with `SIGKILL`, as a crash would; the data survives
    /// (with crash recovery) and [`restart`](Self::restart) brings it back.
    pub fn crash(&self) -> Result<(), Error> {
        let Some(mut child) = self.lock_child().take() else {
            return Ok(());
        };
        // The server leads its own process group, so this reaches every backend too.
        let _ = nix::sys::signal::killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
        let _ = child.wait();
        // Backends notice the postmaster's death on their own; wait until the port is free.
        let deadline = Instant::now() + STOP_TIMEOUT;
        while self.accepts_connections(self.port) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Starts the server again on the same port after [`stop`](Self::stop).
    pub fn restart(&self) -> Result<(), Error> {
        if self.is_running() {
            return Ok(());
        }
        // The old socket may linger for a moment; retry a few times.
        let mut last = None;
        for _ in 0..10 {
            match self.spawn_server(self.port) {
                Ok(child) => {
                    *self.lock_child() = Some(child);
                    return Ok(());
                }
                Err(e) => {
                    last = Some(e);
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
        Err(last.unwrap_or_else(|| setup_error("start postgres", "unknown failure")))
    }

    /// Stops the server and deletes the directory; idempotent (also run by `Drop`).
    pub fn shutdown(&self) {
        if let Err(e) = self.stop() {
            tracing::warn!(error = %e, "stopping ephemeral postgres");
        }
        if !self.removed.swap(true, Ordering::SeqCst)
            && let Err(e) = std::fs::remove_dir_all(&self.root)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(error = %e, dir = %self.root.display(), "removing ephemeral postgres");
        }
    }

    fn lock_child(&self) -> std::sync::MutexGuard<'_, Option<Child>> {
        self.child
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn init_db(&self) -> Result<(), Error> {
        self.chown(&self.root)?;
        let pwfile = self.root.join("pwfile");
        std::fs::File::create(&pwfile)
            .and_then(|mut f| f.write_all(self.password.as_bytes()))
            .map_err(|e| io_error("write initdb password file".into(), e))?;
        self.chown(&pwfile)?;

        let mut command = Command::new(&self.binaries.initdb);
        command
            .arg("--pgdata")
            .arg(self.root.join("data"))
            .arg("--username")
            .arg(SUPERUSER)
            .arg(format!("--pwfile={}", pwfile.display()))
            .args([
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .current_dir(&self.root)
            .env_remove("PGDATA")
            .stdin(Stdio::null());
        let output = run_as_output(command, self.run_as)
            .map_err(|e| io_error(format!("run {}", self.binaries.initdb.display()), e))?;
        let _ = std::fs::remove_file(&pwfile);
        if !output.status.success() {
            return Err(setup_error(
                "initdb",
                format!(
                    "{} exited with {}: {}",
                    display_name(&self.binaries.initdb),
                    output.status,
                    String::from_utf8_lossy(&output.stderr).trim()
                ),
            ));
        }
        Ok(())
    }

    fn start_on_free_port(mut self) -> Result<Self, Error> {
        let mut last = None;
        for _ in 0..10 {
            let port = free_loopback_port()?;
            match self.spawn_server(port) {
                Ok(child) => {
                    self.port = port;
                    *self.lock_child() = Some(child);
                    return Ok(self);
                }
                // Another process may have taken the port between our probe and the bind.
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| setup_error("start postgres", "no free port")))
    }

    fn spawn_server(&self, port: u16) -> Result<Child, Error> {
        let log_path = self.log_path();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| io_error(format!("open {}", log_path.display()), e))?;
        self.chown(&log_path)?;
        let log_err = log
            .try_clone()
            .map_err(|e| io_error("clone log handle".into(), e))?;

        let mut command = Command::new(&self.binaries.postgres);
        command
            .arg("-D")
            .arg(self.root.join("data"))
            .arg("-p")
            .arg(port.to_string())
            .arg("-c")
            .arg("listen_addresses=127.0.0.1")
            .arg("-c")
            .arg(format!("unix_socket_directories={}", self.root.display()))
            .args(self.durability.settings())
            .args(["-c", "max_connections=300", "-c", "logging_collector=off"])
            .current_dir(&self.root)
            .env_remove("PGDATA")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        let mut child = spawn_tied_to_process(command, self.run_as)
            .map_err(|e| io_error(format!("run {}", self.binaries.postgres.display()), e))?;

        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(setup_error(
                    "start postgres",
                    format!("server exited with {status}; log: {}", tail(&log_path)),
                ));
            }
            if self.accepts_connections(port) {
                return Ok(child);
            }
            if Instant::now() > deadline {
                let _ = stop_child(&mut child);
                return Err(setup_error(
                    "start postgres",
                    format!(
                        "not ready after {START_TIMEOUT:?}; log: {}",
                        tail(&log_path)
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Ready when `postmaster.pid` says so and the TCP port answers.
    fn accepts_connections(&self, port: u16) -> bool {
        let pid_file = self.root.join("data").join("postmaster.pid");
        let ready = std::fs::read_to_string(pid_file)
            .map(|s| s.lines().nth(7).map(str::trim) == Some("ready"))
            .unwrap_or(false);
        ready
            && TcpStream::connect_timeout(
                &(Ipv4Addr::LOCALHOST, port).into(),
                Duration::from_millis(500),
            )
            .is_ok()
    }

    fn chown(&self, path: &Path) -> Result<(), Error> {
        if let Some(run_as) = self.run_as {
            nix::unistd::chown(path, Some(run_as.uid), Some(run_as.gid)).map_err(|e| {
                io_error(format!("chown {}", path.display()), std::io::Error::from(e))
            })?;
        }
        Ok(())
    }
}

impl Drop for EphemeralPostgres {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// How hard the server works to keep committed data across crashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `fsync=off`: an OS crash may lose data, which is fine for throwaway data. Commits still
    /// wait for the WAL write, so a killed server keeps every acknowledged transaction.
    Throwaway,
    /// Postgres defaults (`fsync=on`): what production runs; for benchmarks.
    Durable,
}

impl Durability {
    fn settings(self) -> &'static [&'static str] {
        match self {
            Self::Throwaway => &["-c", "fsync=off", "-c", "full_page_writes=off"],
            Self::Durable => &["-c", "fsync=on"],
        }
    }
}

/// The process-wide cluster shared by all tests of one test binary; started on first use and
/// shut down when the process exits.
pub fn shared_cluster() -> Result<&'static EphemeralPostgres, Error> {
    static SHARED: OnceLock<EphemeralPostgres> = OnceLock::new();
    static INIT: Mutex<()> = Mutex::new(());
    extern "C" fn shutdown_shared() {
        if let Some(cluster) = SHARED.get() {
            cluster.shutdown();
        }
    }

    if let Some(cluster) = SHARED.get() {
        return Ok(cluster);
    }
    let _guard = INIT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(cluster) = SHARED.get() {
        return Ok(cluster);
    }
    let cluster = EphemeralPostgres::start()?;
    let cluster = SHARED.get_or_init(|| cluster);
    // SAFETY: registering a plain `extern "C"` function with no captured state.
    unsafe {
        libc::atexit(shutdown_shared);
    }
    Ok(cluster)
}

fn create_base_dir(base: &Path) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(base).map_err(|e| io_error(format!("create {}", base.display()), e))?;
    // The unprivileged Postgres user must be able to traverse it, but not list it.
    std::fs::set_permissions(base, std::fs::Permissions::from_mode(0o711))
        .map_err(|e| io_error(format!("chmod {}", base.display()), e))
}

/// Deletes clusters left behind by processes that died without cleaning up.
fn reap_stale_clusters(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let Some(owner) = name
            .to_str()
            .and_then(|n| n.split('-').next())
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        if process_alive(owner) {
            continue;
        }
        let dir = entry.path();
        let postmaster = std::fs::read_to_string(dir.join("data").join("postmaster.pid"))
            .ok()
            .and_then(|s| s.lines().next().and_then(|l| l.trim().parse::<i32>().ok()));
        if let Some(postmaster) = postmaster
            && process_alive(postmaster)
            && is_postgres(postmaster)
        {
            let _ = kill(Pid::from_raw(postmaster), Signal::SIGQUIT);
            let deadline = Instant::now() + Duration::from_secs(5);
            while process_alive(postmaster) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        tracing::debug!(dir = %dir.display(), "reaping stale ephemeral postgres");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn process_alive(pid: i32) -> bool {
    pid > 0
        && !matches!(
            kill(Pid::from_raw(pid), None),
            Err(nix::errno::Errno::ESRCH)
        )
}

fn is_postgres(pid: i32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains("postgres"))
        .unwrap_or(false)
}

fn stop_child(child: &mut Child) -> Result<(), Error> {
    let pid = Pid::from_raw(child.id() as i32);
    for (signal, wait) in [
        (Signal::SIGINT, STOP_TIMEOUT),
        (Signal::SIGQUIT, Duration::from_secs(5)),
        (Signal::SIGKILL, Duration::from_secs(5)),
    ] {
        if let Ok(Some(_)) = child.try_wait() {
            return Ok(());
        }
        let _ = kill(pid, signal);
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Err(setup_error(
        "stop postgres",
        format!("pid {pid} did not exit"),
    ))
}

fn free_loopback_port() -> Result<u16, Error> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| io_error("find a free loopback port".into(), e))
}

fn random_string(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join(" | ")
}

fn io_error(context: String, source: std::io::Error) -> Error {
    Error::Io { context, source }
}

fn setup_error(step: &'static str, detail: impl Into<String>) -> Error {
    Error::PostgresSetup {
        step,
        detail: detail.into(),
    }
}
