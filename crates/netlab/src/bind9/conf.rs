//! What the fixture writes: `named.conf` (everything in the instance's directory, control
//! channel off, no recursion, no notify unless a zone asks for it) and the zone files (generated SOA, NS and `ns1` records,
//! then the caller's lines).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use super::{normalize, Bind9, Bind9Error, Zone};

impl Bind9 {
    pub(super) fn zone_path(&self, zone: &Zone) -> PathBuf {
        let file = normalize(&zone.name).replace('/', "_");
        self.dir.path().join(format!("{file}zone"))
    }

    pub(super) fn write_zone_file(&self, zone: &Zone) -> Result<(), Bind9Error> {
        let mut text = String::new();
        let ns_addr = self.options.listen[0];
        let ns_type = if ns_addr.is_ipv4() { "A" } else { "AAAA" };
        // Writing to a String cannot fail.
        let _ = writeln!(text, "$TTL 60");
        let _ = writeln!(text, "$ORIGIN {}", normalize(&zone.name));
        let _ = writeln!(
            text,
            "@ IN SOA ns1 hostmaster {} 3600 600 86400 60",
            zone.serial
        );
        let _ = writeln!(text, "@ IN NS ns1");
        let _ = writeln!(text, "ns1 IN {ns_type} {ns_addr}");
        for record in &zone.records {
            let _ = writeln!(text, "{record}");
        }
        std::fs::write(self.zone_path(zone), text).map_err(|source| self.io_error(source))
    }

    /// Moves the zone file's mtime a second ahead so a reload within the same second as the last
    /// load still sees it as changed.
    pub(super) fn touch_zone_file(&self, zone: &Zone) -> Result<(), Bind9Error> {
        let path = self.zone_path(zone);
        let file = std::fs::File::options()
            .write(true)
            .open(&path)
            .map_err(|source| self.io_error(source))?;
        let ahead = std::time::SystemTime::now() + Duration::from_secs(1);
        file.set_modified(ahead)
            .map_err(|source| self.io_error(source))
    }

    pub(super) fn named_conf(&self) -> String {
        let dir = self.dir.path().display();
        let port = self.options.port;
        let v4: Vec<String> = self
            .options
            .listen
            .iter()
            .filter(|a| a.is_ipv4())
            .map(|a| format!("{a};"))
            .collect();
        let v6: Vec<String> = self
            .options
            .listen
            .iter()
            .filter(|a| a.is_ipv6())
            .map(|a| format!("{a};"))
            .collect();
        let listen_v4 = if v4.is_empty() {
            "none;".to_string()
        } else {
            v4.join(" ")
        };
        let listen_v6 = if v6.is_empty() {
            "none;".to_string()
        } else {
            v6.join(" ")
        };
        let mut conf = String::new();
        let _ = write!(
            conf,
            "options {{
  directory \"{dir}\";
  pid-file \"{dir}/named.pid\";
  session-keyfile \"{dir}/session.key\";
  managed-keys-directory \"{dir}\";
  listen-on port {port} {{ {listen_v4} }};
  listen-on-v6 port {port} {{ {listen_v6} }};
  recursion no;
  notify no;
  allow-transfer {{ any; }};
  dnssec-validation no;
  automatic-interface-scan no;
  {extra}
}};
controls {{ }};
",
            extra = self.options.extra_options
        );
        for zone in &self.options.zones {
            let name = normalize(&zone.name);
            if zone.master {
                let path = self.zone_path(zone);
                let notify = if zone.also_notify.is_empty() {
                    String::new()
                } else {
                    let servers: Vec<String> = zone
                        .also_notify
                        .iter()
                        .map(|s| format!("{} port {};", s.ip(), s.port()))
                        .collect();
                    format!(" notify explicit; also-notify {{ {} }};", servers.join(" "))
                };
                let _ = writeln!(
                    conf,
                    "zone \"{name}\" {{ type master; file \"{}\";{notify} }};",
                    path.display()
                );
            } else {
                let primaries: Vec<String> = zone
                    .primaries
                    .iter()
                    .map(|p| format!("{} port {};", p.ip(), p.port()))
                    .collect();
                let _ = writeln!(
                    conf,
                    "zone \"{name}\" {{ type slave; file \"{dir}/{name}slave\"; masters {{ {} }}; }};",
                    primaries.join(" ")
                );
            }
        }
        conf
    }
}
