//! Spawning Postgres processes that cannot outlive us.
//!
//! Children get `PR_SET_PDEATHSIG`, so the kernel sends them `SIGQUIT` (Postgres' immediate
//! shutdown) when their parent dies, including on `SIGKILL`. Linux ties that signal to the
//! *thread* that forked the child, and test threads come and go, so every spawn goes through one
//! thread that lives as long as the process.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

use nix::unistd::{Gid, Uid};

/// An unprivileged identity to run Postgres as (it refuses to run as root).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunAs {
    pub uid: Uid,
    pub gid: Gid,
}

impl RunAs {
    /// When we are root, the `postgres` OS user (or `nobody`); otherwise none.
    pub(crate) fn for_current_process() -> Result<Option<Self>, crate::error::Error> {
        if !Uid::effective().is_root() {
            return Ok(None);
        }
        for name in ["postgres", "nobody"] {
            if let Ok(Some(user)) = nix::unistd::User::from_name(name) {
                return Ok(Some(Self {
                    uid: user.uid,
                    gid: user.gid,
                }));
            }
        }
        Err(crate::error::Error::NoUnprivilegedUser)
    }
}

type Request = (Command, mpsc::SyncSender<io::Result<Child>>);

fn spawner() -> &'static Mutex<mpsc::Sender<Request>> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Request>>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("postgres-spawner".into())
            .spawn(move || {
                for (mut command, reply) in rx {
                    let _ = reply.send(command.spawn());
                }
            })
            .map(|_| ())
            .unwrap_or_else(
                |e| tracing::error!(error = %e, "cannot start postgres spawner thread"),
            );
        Mutex::new(tx)
    })
}

/// Spawns `command` from the long-lived spawner thread, as `run_as` when given, with a
/// parent-death signal and in its own process group (so a terminal's Ctrl-C reaches only us and
/// we shut Postgres down in order).
pub(crate) fn spawn_tied_to_process(
    mut command: Command,
    run_as: Option<RunAs>,
) -> io::Result<Child> {
    let parent = nix::unistd::getpid();
    command.process_group(0);
    // SAFETY: the closure runs between fork and exec and only makes raw system calls (no
    // allocation, no locks). Credentials change before PR_SET_PDEATHSIG because the kernel clears
    // the parent-death signal whenever the process credentials change.
    unsafe {
        command.pre_exec(move || {
            if let Some(run_as) = run_as
                && (libc::setgroups(1, &run_as.gid.as_raw()) != 0
                    || libc::setgid(run_as.gid.as_raw()) != 0
                    || libc::setuid(run_as.uid.as_raw()) != 0)
            {
                return Err(io::Error::last_os_error());
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before the signal was armed.
            if libc::getppid() != parent.as_raw() {
                return Err(io::Error::other("parent exited during spawn"));
            }
            Ok(())
        });
    }
    let (reply_tx, reply_rx) = mpsc::sync_channel(1);
    spawner()
        .lock()
        .map_err(|_| io::Error::other("postgres spawner lock poisoned"))?
        .send((command, reply_tx))
        .map_err(|_| io::Error::other("postgres spawner thread is gone"))?;
    reply_rx
        .recv()
        .map_err(|_| io::Error::other("postgres spawner thread is gone"))?
}

/// Runs `command` to completion as `run_as` (for `initdb`), capturing its output.
pub(crate) fn run_as_output(
    mut command: Command,
    run_as: Option<RunAs>,
) -> io::Result<std::process::Output> {
    if let Some(run_as) = run_as {
        command.uid(run_as.uid.as_raw()).gid(run_as.gid.as_raw());
    }
    command.output()
}
