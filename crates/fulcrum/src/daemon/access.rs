//! Who may use the control socket, and for what. The socket is created 0600 (owner only);
//! `--socket-group GROUP` and `--socket-mode MODE` open it to a group (the mode defaults to 0660
//! once a group is given). A connection from root or from the daemon's own user may run every
//! command; anyone else the mode lets in (a monitoring user in the group) is read-only: `show`,
//! `help` and `quit` work, everything else is refused with a message saying so.

use std::path::Path;

use fulcrum_control::command::parse_command;
use nix::unistd::{chown, Group, Uid};

use super::dispatch::Reply;

#[derive(clap::Args, Debug, Clone)]
pub struct SocketAccess {
    /// Group that may connect to the control socket (its members get read-only access).
    #[arg(long, value_name = "GROUP")]
    pub socket_group: Option<String>,
    /// The control socket's mode in octal (default 0600, or 0660 with --socket-group).
    #[arg(long, value_name = "MODE", value_parser = parse_mode)]
    pub socket_mode: Option<u32>,
}

fn parse_mode(text: &str) -> Result<u32, String> {
    u32::from_str_radix(text, 8)
        .ok()
        .filter(|mode| *mode <= 0o777)
        .ok_or_else(|| format!("expected an octal mode such as 0660, found {text:?}"))
}

impl SocketAccess {
    /// Sets the socket file's group and mode as asked (nothing to do for the defaults).
    pub fn apply(&self, path: &Path) -> anyhow::Result<()> {
        use anyhow::Context;
        use std::os::unix::fs::PermissionsExt;
        if let Some(name) = &self.socket_group {
            let group = Group::from_name(name)
                .with_context(|| format!("cannot look up group {name}"))?
                .with_context(|| format!("--socket-group: no group named {name}"))?;
            chown(path, None, Some(group.gid))
                .with_context(|| format!("cannot give {} to group {name}", path.display()))?;
        }
        let mode = match (self.socket_mode, &self.socket_group) {
            (Some(mode), _) => mode,
            (None, Some(_)) => 0o660,
            (None, None) => return Ok(()),
        };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("cannot set mode {mode:o} on {}", path.display()))
    }
}

/// Whether a peer with this uid only gets the read-only commands (unknown peers do).
pub fn is_read_only(peer_uid: Option<u32>) -> bool {
    match peer_uid {
        Some(uid) => uid != 0 && uid != Uid::effective().as_raw(),
        None => true,
    }
}

/// The refusal for a command a read-only peer may not run; None when it may.
pub fn refuse_for_read_only(line: &str) -> Option<Reply> {
    if parse_command(line).is_read_only() {
        return None;
    }
    Some(Reply {
        ok: false,
        text: "ERROR: read-only connection: only show commands are allowed \
               (connect as root or as the daemon's user to change things)\n"
            .into(),
        close: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_and_the_daemons_user_may_change_things_others_only_look() {
        assert!(!is_read_only(Some(0)));
        assert!(!is_read_only(Some(Uid::effective().as_raw())));
        assert!(is_read_only(None));
        let other = if Uid::effective().as_raw() == 4242 {
            4243
        } else {
            4242
        };
        assert!(is_read_only(Some(other)));
    }

    #[test]
    fn read_only_peers_may_show_but_not_change() {
        assert!(refuse_for_read_only("show sessions all").is_none());
        assert!(refuse_for_read_only("help").is_none());
        for line in ["save", "reload", "disable target 1", "set failopen 1"] {
            let reply = refuse_for_read_only(line).expect(line);
            assert!(reply.text.starts_with("ERROR: read-only connection"));
        }
    }

    #[test]
    fn modes_are_octal() {
        assert_eq!(parse_mode("0660"), Ok(0o660));
        assert_eq!(parse_mode("640"), Ok(0o640));
        assert!(parse_mode("0999").is_err());
        assert!(parse_mode("rw").is_err());
    }
}
