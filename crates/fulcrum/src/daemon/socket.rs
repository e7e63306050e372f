//! The control socket: binding it safely and serving shell sessions over it.
//!
//! [`bind`] creates the parent directory, refuses to start when another instance answers on the
//! path, replaces a stale socket file (one nobody listens on), never deletes anything that is not
//! a socket, and creates the socket with mode 0600 (umask set around `bind`, so there is no window
//! where it is wider). [`serve`] runs one task per connection: the hello, then request/response
//! pairs until the client leaves, sends `quit`, or breaks the protocol. At most
//! [`MAX_SESSIONS`] sessions at once (they come out of the descriptors the daemon reserves, see
//! `crate::limits`); one more is told so and closed.

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener as StdListener, UnixStream as StdStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use fulcrum_control::frame::{payload_len, FrameError, HEADER_LEN};
use fulcrum_control::message::{decode, encode, read_message, Format, Message};
use nix::sys::stat::{umask, Mode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

use super::documents::dispatch_as;
use super::state::Daemon;

#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("another fulcrum (PID {pid}) is already running on {}", path.display())]
    AlreadyRunning { path: PathBuf, pid: String },
    #[error("{} exists and is not a socket; remove it or choose another --socket", path.display())]
    NotASocket { path: PathBuf },
    #[error("cannot {step} {}: {source}", path.display())]
    Io {
        step: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

/// A bound control socket; remembers which file it created so that shutdown removes only that.
pub struct ControlSocket {
    pub listener: StdListener,
    pub path: PathBuf,
    identity: (u64, u64),
}

impl ControlSocket {
    /// Removes the socket file if it is still the one this process created.
    pub fn remove(&self) {
        if let Ok(meta) = std::fs::symlink_metadata(&self.path) {
            if (meta.dev(), meta.ino()) == self.identity {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

pub fn bind(path: &Path) -> Result<ControlSocket, BindError> {
    let io_error = |step, source| BindError::Io {
        step,
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| BindError::Io {
            step: "create directory",
            path: parent.to_path_buf(),
            source: e,
        })?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_socket() => {
            return Err(BindError::NotASocket {
                path: path.to_path_buf(),
            })
        }
        Ok(_) => match StdStream::connect(path) {
            Ok(stream) => {
                return Err(BindError::AlreadyRunning {
                    path: path.to_path_buf(),
                    pid: peer_pid(stream),
                })
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                tracing::info!("replacing stale control socket {}", path.display());
                std::fs::remove_file(path).map_err(|e| io_error("remove stale socket", e))?;
            }
            Err(e) => return Err(io_error("probe existing socket", e)),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error("inspect", e)),
    }
    // Only the owner may connect: the shell can change the configuration. The umask is
    // process-wide; this runs at startup, before any driver or data-plane thread creates files.
    let old_mask = umask(Mode::from_bits_truncate(0o177));
    let bound = StdListener::bind(path);
    umask(old_mask);
    let listener = bound.map_err(|e| io_error("bind", e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| io_error("set mode 0600 on", e))?;
    let meta = std::fs::symlink_metadata(path).map_err(|e| io_error("inspect", e))?;
    Ok(ControlSocket {
        listener,
        path: path.to_path_buf(),
        identity: (meta.dev(), meta.ino()),
    })
}

/// The PID another instance announces in its hello, for the refusal message.
fn peer_pid(mut stream: StdStream) -> String {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    match read_message(&mut stream) {
        Ok(Some(Message::Hello { pid, .. })) => pid.to_string(),
        _ => "unknown".into(),
    }
}

/// Control sessions open at once at most.
pub const MAX_SESSIONS: usize = 32;

/// Accepts shell connections until the task is dropped.
pub async fn serve(listener: UnixListener, daemon: Arc<Daemon>) {
    let sessions = Arc::new(tokio::sync::Semaphore::new(MAX_SESSIONS));
    loop {
        match listener.accept().await {
            Ok((mut stream, _)) => {
                let daemon = daemon.clone();
                let Ok(place) = sessions.clone().try_acquire_owned() else {
                    tracing::warn!("control: {MAX_SESSIONS} sessions open; refusing one more");
                    tokio::spawn(async move {
                        let why =
                            format!("{MAX_SESSIONS} sessions are open, the most there can be");
                        let _ =
                            tokio::time::timeout(Duration::from_secs(1), refuse(&mut stream, &why))
                                .await;
                    });
                    continue;
                };
                tokio::spawn(async move {
                    let _place = place;
                    if let Err(e) = session(stream, daemon).await {
                        tracing::debug!("control connection ended: {e}");
                    }
                });
            }
            Err(e) => {
                tracing::warn!("control socket accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn session(mut stream: UnixStream, daemon: Arc<Daemon>) -> Result<(), FrameError> {
    let peer = stream.peer_cred().ok();
    let read_only = super::access::is_read_only(peer.map(|c| c.uid()));
    // Who is connected, for the log of every change they make.
    let who = match peer {
        Some(c) => format!("uid {} pid {}", c.uid(), c.pid().unwrap_or(0)),
        None => "an unknown peer".to_string(),
    };
    let hello = Message::Hello {
        pid: std::process::id(),
        hostname: super::display_hostname(&daemon.config()),
        version: env!("CARGO_PKG_VERSION").to_string(),
    };
    write_message(&mut stream, &hello).await?;
    loop {
        let payload = match read_frame(&mut stream).await {
            Ok(Some(payload)) => payload,
            Ok(None) => return Ok(()),
            Err(e @ FrameError::TooLarge { .. }) => {
                refuse(&mut stream, &e.to_string()).await?;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        let (line, format) = match decode(&payload) {
            Ok(Message::Request { line, format }) => (line, format),
            Ok(_) => return refuse(&mut stream, "expected a request").await,
            Err(e) => return refuse(&mut stream, &e.to_string()).await,
        };
        let worker_daemon = daemon.clone();
        // `save` fsyncs; keep blocking work off the reactor threads.
        let refused = read_only
            .then(|| super::access::refuse_for_read_only(&line))
            .flatten();
        if refused.is_none() && !fulcrum_control::parse_command(&line).is_read_only() {
            // Keys never reach the log.
            let shown = fulcrum_config::redacted(&line);
            tracing::info!("control: {who} runs {shown:?}");
        }
        let reply = match refused {
            Some(reply) if format == Format::Json => super::documents::wrap(reply),
            Some(reply) => reply,
            None => tokio::task::spawn_blocking(move || {
                dispatch_as(&worker_daemon, &line, format, SystemTime::now())
            })
            .await
            .map_err(|e| FrameError::Io(io::Error::other(e)))?,
        };
        let response = match format {
            Format::Text => {
                fulcrum_control::response_within_frame(reply.ok, reply.text, reply.close)
            }
            Format::Json => {
                fulcrum_control::json_response_within_frame(reply.ok, reply.text, reply.close)
            }
        };
        write_message(&mut stream, &response).await?;
        if reply.close {
            return Ok(());
        }
    }
}

/// Answers a protocol violation with an error response and ends the session.
async fn refuse(stream: &mut UnixStream, why: &str) -> Result<(), FrameError> {
    let response = Message::Response {
        ok: false,
        text: format!("ERROR: protocol: {why}\n"),
        close: true,
    };
    write_message(stream, &response).await
}

async fn write_message(stream: &mut UnixStream, message: &Message) -> Result<(), FrameError> {
    let frame = fulcrum_control::frame::encode_frame(&encode(message))?;
    stream.write_all(&frame).await?;
    Ok(())
}

/// Async twin of `fulcrum_control::read_frame`: the length is checked before allocating.
async fn read_frame(stream: &mut UnixStream) -> Result<Option<Vec<u8>>, FrameError> {
    let mut header = [0u8; HEADER_LEN];
    let mut filled = 0;
    while filled < HEADER_LEN {
        match stream.read(&mut header[filled..]).await? {
            0 if filled == 0 => return Ok(None),
            0 => return Err(FrameError::Truncated),
            n => filled += n,
        }
    }
    let mut payload = vec![0u8; payload_len(header)?];
    stream
        .read_exact(&mut payload)
        .await
        .map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => FrameError::Truncated,
            _ => FrameError::Io(e),
        })?;
    Ok(Some(payload))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::Proxy;
    use fulcrum_core::model::Config;

    /// The first message a raw connection gets.
    fn first_message(stream: &mut StdStream) -> Option<Message> {
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        read_message(stream).ok().flatten()
    }

    #[test]
    fn sessions_beyond_the_cap_are_refused_and_a_freed_place_is_reused() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("fulcrum.sock");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let daemon = Arc::new(
            Daemon::start(
                Config::default(),
                dir.path().join("unused.conf"),
                Arc::new(Proxy::new()),
            )
            .0,
        );
        let bound = bind(&path).expect("bind the control socket");
        bound.listener.set_nonblocking(true).expect("non-blocking");
        let server = runtime.spawn(async move {
            let listener = UnixListener::from_std(bound.listener).expect("tokio listener");
            serve(listener, daemon).await;
        });
        let mut held = Vec::new();
        for _ in 0..MAX_SESSIONS {
            let mut stream = StdStream::connect(&path).expect("connect");
            assert!(matches!(
                first_message(&mut stream),
                Some(Message::Hello { .. })
            ));
            held.push(stream);
        }
        let mut extra = StdStream::connect(&path).expect("connect");
        match first_message(&mut extra) {
            Some(Message::Response { ok, text, close }) => {
                assert!(!ok && close, "{text}");
                assert!(text.contains("32 sessions are open"), "{text}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        drop(held.pop());
        // The freed place is taken by the next client (the session task notices the close).
        let again = (0..50).any(|_| {
            std::thread::sleep(Duration::from_millis(20));
            let mut stream = StdStream::connect(&path).expect("connect");
            matches!(first_message(&mut stream), Some(Message::Hello { .. }))
        });
        assert!(again, "no place came free");
        server.abort();
    }
}
