//! Statements -> model: applies a parsed text on top of a base configuration.
//!
//! Definitions are applied first, in file order, then `register`/`enable`/... statements, so the
//! order of statements in a file does not matter (the seed registers targets after the server that
//! uses them). A block for an id that exists modifies only the options it names; a new one must
//! name its required options. Defining an id twice in one text, or giving an option twice in one
//! block, is an error. [`Origins`] remembers where each thing came from so that the validator can
//! point at it. Statements that Fulcrum accepts without acting on them (`license`, `modules`,
//! `module`, `gateway`, BalanceNG's benchmark settings, `disable`/`unregister interface`) are
//! applied to the model as written, so that they print back, and each yields a warning that
//! names it and says why it has no effect.

pub(crate) mod announce;
pub(crate) mod protect;

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};

use fulcrum_core::model::{
    Config, Gateway, Interface, InterfaceAccess, Network, Server, Target, Vrrp, VrrpVersion,
    DEFAULT_ADVERT_MS,
};

use crate::ast::{
    Action, GatewayOpt, IdRange, InterfaceOpt, Kind, NetworkOpt, Opt, ServerOpt, Setting,
    Statement, Stmt, TargetOpt, VrrpOpt,
};
use crate::diag::{Error, Span};

/// Where the parts of the result that this text touched were written.
#[derive(Debug, Default)]
pub struct Origins {
    /// Block headers (and `interface NAME` short forms) by kind and id.
    pub defined: HashMap<(Kind, u32), Span>,
    /// The last `enable` statement item that enabled each thing.
    pub enabled_at: HashMap<(Kind, u32), Span>,
    /// A server's `targets` list items.
    pub server_targets: HashMap<u32, Vec<IdRange>>,
    /// Option keywords of networks: (network id, keyword) -> where.
    pub network_opts: HashMap<(u32, &'static str), Span>,
    /// Option keywords of servers and targets: (kind, id, keyword) -> where.
    pub block_opts: HashMap<(Kind, u32, &'static str), Span>,
    pub vrrp: Option<Span>,
    pub vrrp_opts: HashMap<&'static str, Span>,
    /// Each `peer` line of the vrrp block.
    pub vrrp_peers: HashMap<Ipv4Addr, Span>,
    /// The announce block, and each of its `server` lines.
    pub announce: Option<Span>,
    pub announce_servers: HashMap<u32, Span>,
}

impl Origins {
    /// The best place to point at for a thing: its header in this text, or the text's start.
    pub fn of(&self, kind: Kind, id: u32) -> Span {
        self.defined
            .get(&(kind, id))
            .copied()
            .unwrap_or(Span::START)
    }
}

/// What applying a text produced: the result is meaningful only when `errors` is empty.
#[derive(Debug)]
pub struct Lowered {
    pub config: Config,
    pub origins: Origins,
    pub errors: Vec<Error>,
    /// Statements accepted and ignored, each with its position.
    pub warnings: Vec<Error>,
}

#[derive(Default)]
struct Lowering {
    origins: Origins,
    errors: Vec<Error>,
    warnings: Vec<Error>,
    /// First place each singleton (hostname, license, vrrp, gateway) was given in this text.
    singletons: HashMap<&'static str, Span>,
}

/// Applies `statements` on top of `base`. Returns the result, where its parts came from, the
/// errors found while applying (the result is meaningful only when there are none) and the
/// warnings for what was accepted and ignored.
pub fn lower(base: &Config, statements: &[Statement]) -> Lowered {
    let mut config = base.clone();
    let mut lowering = Lowering::default();
    let mut short_interfaces = Vec::new();
    for statement in statements {
        let span = statement.span;
        match &statement.value {
            Stmt::Hostname(name) => {
                lowering.singleton("hostname", span);
                config.hostname = Some(name.clone());
            }
            Stmt::License { serial, key } => {
                lowering.singleton("license", span);
                config.license = Some(fulcrum_core::model::License {
                    serial: serial.clone(),
                    key: key.clone(),
                });
                lowering.ignored(
                    span,
                    "license",
                    "Fulcrum needs no licence; the serial is kept for `show license`",
                );
            }
            Stmt::Set(settings) => {
                for setting in settings {
                    if let Setting::Ignored { name, .. } = &setting.value {
                        lowering.ignored(
                            setting.span,
                            &format!("set {name}"),
                            "Fulcrum has no benchmark module",
                        );
                    }
                    apply_setting(&mut config, &setting.value);
                }
            }
            Stmt::Modules(modules) => {
                config.modules = modules.clone();
                lowering.ignored(span, "modules", MODULES_BUILT_IN);
            }
            Stmt::Module(module) => {
                config.modules.push(module.clone());
                lowering.ignored(span, &format!("module {module}"), MODULES_BUILT_IN);
            }
            Stmt::InterfaceShort(name) => short_interfaces.push((name.clone(), span)),
            Stmt::Interface { id, opts } => lowering.interface(&mut config, *id, opts, span),
            Stmt::Vrrp(opts) => lowering.vrrp(&mut config, opts, span),
            Stmt::Announce(opts) => lowering.announce(&mut config, opts, span),
            Stmt::Network { id, opts } => lowering.network(&mut config, *id, opts, span),
            Stmt::Gateway(opts) => lowering.gateway(&mut config, opts, span),
            Stmt::Server { id, opts } => lowering.server(&mut config, *id, opts, span),
            Stmt::Target { id, opts } => lowering.target(&mut config, *id, opts, span),
            Stmt::State { .. } => {}
        }
    }
    // Short forms take numbers after the numbered blocks have claimed theirs.
    for (name, span) in short_interfaces {
        if config.interfaces.values().any(|i| i.name == name) {
            continue;
        }
        let id = (1..)
            .find(|n| !config.interfaces.contains_key(n))
            .unwrap_or(u32::MAX);
        lowering.origins.defined.insert((Kind::Interface, id), span);
        config.interfaces.insert(
            id,
            Interface {
                id,
                name,
                access: InterfaceAccess::Raw,
            },
        );
    }
    for statement in statements {
        if let Stmt::State { action, kind, ids } = &statement.value {
            if *kind == Kind::Interface {
                lowering.interface_state(&config, *action, ids, statement.span);
            } else {
                lowering.state(&mut config, *action, *kind, ids);
            }
        }
    }
    Lowered {
        config,
        origins: lowering.origins,
        errors: lowering.errors,
        warnings: lowering.warnings,
    }
}

const MODULES_BUILT_IN: &str = "every part of Fulcrum is built in";

fn apply_setting(config: &mut Config, setting: &Setting) {
    let settings = &mut config.settings;
    match setting {
        Setting::LocalDsr(on) => settings.localdsr = *on,
        Setting::SessionTimeout(s) => settings.session_timeout = *s,
        Setting::MaxSessions(n) => settings.max_sessions = *n,
        Setting::SyncKey(k) => settings.sync_key = Some(k.clone()),
        Setting::AgentKey(k) => settings.agent_key = Some(k.clone()),
        Setting::FailOpen(on) => settings.failopen = *on,
        Setting::Ignored { .. } => {}
        Setting::TcpMaxConnections(n) => settings.tcp_max_connections = *n,
        Setting::TcpClientConnections(n) => settings.tcp_client_connections = *n,
        Setting::TcpIdle(s) => settings.tcp_idle = *s,
        Setting::TcpWriteTimeout(s) => settings.tcp_write_timeout = *s,
        Setting::TcpLifetime(s) => settings.tcp_lifetime = *s,
        Setting::Metrics(addr) => settings.metrics = *addr,
        Setting::UpstreamSockets(n) => settings.upstream_sockets = *n,
        Setting::RateTable(n) => settings.rate_table = *n,
    }
}

/// A placeholder for a missing required address; never seen when the missing one is reported.
const UNSPECIFIED: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

impl Lowering {
    /// Records that `what`, written at `span`, is accepted and has no effect, and `why`.
    fn ignored(&mut self, span: Span, what: &str, why: &str) {
        self.warnings.push(Error::new(
            span,
            format!("{what} is accepted and ignored: {why}"),
        ));
    }

    fn singleton(&mut self, what: &'static str, span: Span) {
        if let Some(first) = self.singletons.get(what) {
            let error = Error::new(span, format!("{what} is given twice"))
                .note(format!("first given at {first}"));
            self.errors.push(error);
        } else {
            self.singletons.insert(what, span);
        }
    }

    /// Records a definition; reports a second one of the same id in this text.
    fn define(&mut self, kind: Kind, id: u32, span: Span) {
        if let Some(first) = self.origins.defined.get(&(kind, id)) {
            let error = Error::new(span, format!("{} {id} is defined twice", kind.noun()))
                .note(format!("first defined at {first}"));
            self.errors.push(error);
        } else {
            self.origins.defined.insert((kind, id), span);
        }
    }

    /// Reports options given twice in one block.
    fn once<T>(&mut self, block: &str, opts: &[Opt<T>]) {
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for opt in opts {
            if let Some(first) = seen.get(opt.keyword) {
                let error = Error::new(
                    opt.span,
                    format!("\"{}\" is given twice in this {block} block", opt.keyword),
                )
                .note(format!("first given at {first}"));
                self.errors.push(error);
            } else {
                seen.insert(opt.keyword, opt.span);
            }
        }
    }

    fn missing(&mut self, span: Span, what: String, option: &str) {
        let error = Error::new(span, format!("{what} has no {option}"))
            .help(format!("add \"{option} ...\" to the block"));
        self.errors.push(error);
    }

    fn interface(&mut self, config: &mut Config, id: u32, opts: &[Opt<InterfaceOpt>], span: Span) {
        self.define(Kind::Interface, id, span);
        self.once("interface", opts);
        let name = opts.iter().rev().find_map(|o| match &o.value {
            InterfaceOpt::Name(n) => Some(n.clone()),
            InterfaceOpt::Access(_) => None,
        });
        let access = opts.iter().rev().find_map(|o| match &o.value {
            InterfaceOpt::Access(access) => Some(*access),
            InterfaceOpt::Name(_) => None,
        });
        match (config.interfaces.get_mut(&id), name) {
            (Some(existing), Some(name)) => {
                existing.name = name;
                existing.access = access.unwrap_or(existing.access);
            }
            (Some(existing), None) => existing.access = access.unwrap_or(existing.access),
            (None, Some(name)) => {
                config.interfaces.insert(
                    id,
                    Interface {
                        id,
                        name,
                        access: access.unwrap_or_default(),
                    },
                );
            }
            (None, None) => self.missing(span, format!("interface {id}"), "name"),
        }
    }

    fn vrrp(&mut self, config: &mut Config, opts: &[Opt<VrrpOpt>], span: Span) {
        self.singleton("vrrp", span);
        let single: Vec<Opt<VrrpOpt>> = opts
            .iter()
            .filter(|o| o.keyword != "peer")
            .cloned()
            .collect();
        self.once("vrrp", &single);
        self.origins.vrrp = Some(span);
        let mut vrrp = config.vrrp.clone().unwrap_or(Vrrp {
            vrid: 0,
            priority: 0,
            network: 0,
            version: VrrpVersion::V2,
            advert_ms: DEFAULT_ADVERT_MS,
            preempt: true,
            notify: None,
            peers: Vec::new(),
            auth_pass: None,
        });
        let is_new = config.vrrp.is_none();
        // A block that names peers gives the whole list; one that names none keeps it.
        if opts.iter().any(|o| o.keyword == "peer") {
            vrrp.peers.clear();
        }
        for opt in opts {
            self.origins.vrrp_opts.insert(opt.keyword, opt.span);
            match &opt.value {
                VrrpOpt::Vrid(v) => vrrp.vrid = *v,
                VrrpOpt::Priority(p) => vrrp.priority = *p,
                VrrpOpt::Network(n) => vrrp.network = *n,
                VrrpOpt::Version(v) => vrrp.version = *v,
                VrrpOpt::AdvertMs(ms) => vrrp.advert_ms = *ms,
                VrrpOpt::Preempt(on) => vrrp.preempt = *on,
                VrrpOpt::Notify(script) => vrrp.notify = Some(script.clone()),
                VrrpOpt::Peer(addr) => {
                    if let Some(first) = self.origins.vrrp_peers.get(addr) {
                        let error = Error::new(opt.span, format!("peer {addr} is given twice"))
                            .note(format!("first given at {first}"));
                        self.errors.push(error);
                    } else {
                        self.origins.vrrp_peers.insert(*addr, opt.span);
                        vrrp.peers.push(*addr);
                    }
                }
                VrrpOpt::AuthPass(pass) => vrrp.auth_pass = Some(pass.clone()),
            }
        }
        if is_new {
            for required in ["vrid", "priority", "network"] {
                if !opts.iter().any(|o| o.keyword == required) {
                    self.missing(span, "vrrp".to_string(), required);
                }
            }
        }
        config.vrrp = Some(vrrp);
    }

    fn network(&mut self, config: &mut Config, id: u32, opts: &[Opt<NetworkOpt>], span: Span) {
        self.define(Kind::Network, id, span);
        self.once("network", opts);
        let network = config
            .networks
            .entry(id)
            .or_insert_with(|| Network::new(id));
        for opt in opts {
            self.origins
                .network_opts
                .insert((id, opt.keyword), opt.span);
            match &opt.value {
                NetworkOpt::Name(n) => network.name = Some(n.clone()),
                NetworkOpt::Addr(a) => network.addr = Some(*a),
                NetworkOpt::Mask(m) => network.mask = Some(*m),
                NetworkOpt::Real(a) => network.real = Some(*a),
                NetworkOpt::Virt(a) => network.virt = Some(*a),
                NetworkOpt::Addr6(a) => network.addr6 = Some(*a),
                NetworkOpt::Mask6(m) => network.mask6 = Some(*m),
                NetworkOpt::Real6(a) => network.real6 = Some(*a),
                NetworkOpt::Virt6(a) => network.virt6 = Some(*a),
                NetworkOpt::Interface(i) => network.interface = Some(i.clone()),
                NetworkOpt::SyncPeer(a) => network.syncpeers = a.clone(),
            }
        }
    }

    fn gateway(&mut self, config: &mut Config, opts: &[Opt<GatewayOpt>], span: Span) {
        self.singleton("gateway", span);
        self.once("gateway", opts);
        let address = opts.iter().rev().find_map(|o| match o.value {
            GatewayOpt::IpAddr(a) => Some(a),
            GatewayOpt::Ping(_) => None,
        });
        let mut gateway = match (config.gateway.clone(), address) {
            (Some(existing), _) => existing,
            (None, Some(ipaddr)) => Gateway { ipaddr, ping: None },
            (None, None) => {
                self.missing(span, "gateway".to_string(), "ipaddr");
                return;
            }
        };
        for opt in opts {
            match opt.value {
                GatewayOpt::IpAddr(a) => gateway.ipaddr = a,
                GatewayOpt::Ping(p) => gateway.ping = Some(p),
            }
        }
        config.gateway = Some(gateway);
        self.ignored(
            span,
            "gateway",
            "Fulcrum neither pings nor routes through a gateway; the kernel's routes are used",
        );
    }

    fn server(&mut self, config: &mut Config, id: u32, opts: &[Opt<ServerOpt>], span: Span) {
        self.define(Kind::Server, id, span);
        let single: Vec<Opt<ServerOpt>> = opts
            .iter()
            .filter(|o| !protect::REPEATED.contains(&o.keyword))
            .cloned()
            .collect();
        self.once("server", &single);
        let server = config.servers.entry(id).or_insert_with(|| {
            if !opts.iter().any(|o| o.keyword == "ipaddr") {
                self.errors.push(
                    Error::new(span, format!("server {id} has no ipaddr"))
                        .help("add \"ipaddr ...\" to the block"),
                );
            }
            Server::new(id, UNSPECIFIED)
        });
        for opt in opts {
            self.origins
                .block_opts
                .insert((Kind::Server, id, opt.keyword), opt.span);
            match &opt.value {
                ServerOpt::IpAddr(a) => server.ipaddr = *a,
                ServerOpt::Port(p) => server.port = *p,
                ServerOpt::Protocol(p) => server.protocol = *p,
                ServerOpt::Method(m) => server.method = *m,
                ServerOpt::Stout(s) => server.stout = Some(*s),
                ServerOpt::Targets(ranges) => {
                    server.targets = expand_unique(ranges, Kind::Target, &mut self.errors);
                    self.origins.server_targets.insert(id, ranges.clone());
                }
                ServerOpt::Allow(_)
                | ServerOpt::Deny(_)
                | ServerOpt::RateLimit(_)
                | ServerOpt::AnyLimit(_)
                | ServerOpt::ByteLimit(_)
                | ServerOpt::RatePrefix(..)
                | ServerOpt::RateAction(_) => {}
            }
        }
        protect::lower(&mut server.protection, opts);
    }

    fn target(&mut self, config: &mut Config, id: u32, opts: &[Opt<TargetOpt>], span: Span) {
        self.define(Kind::Target, id, span);
        self.once("target", opts);
        let target = config.targets.entry(id).or_insert_with(|| {
            if !opts.iter().any(|o| o.keyword == "ipaddr") {
                self.errors.push(
                    Error::new(span, format!("target {id} has no ipaddr"))
                        .help("add \"ipaddr ...\" to the block"),
                );
            }
            Target::new(id, UNSPECIFIED)
        });
        for opt in opts {
            self.origins
                .block_opts
                .insert((Kind::Target, id, opt.keyword), opt.span);
            match &opt.value {
                TargetOpt::IpAddr(a) => target.ipaddr = *a,
                TargetOpt::Port(p) => target.port = Some(*p),
                TargetOpt::Protocol(p) => target.protocol = *p,
                TargetOpt::Weight(w) => target.weight = *w,
                TargetOpt::Ping(p) => target.ping = Some(*p),
                TargetOpt::TcpOpen(c) => target.tcpopen = Some(*c),
                TargetOpt::Agent(c) => target.agent = Some(*c),
                TargetOpt::Dns(c) => target.dns = Some(c.clone()),
                TargetOpt::Dsr(on) => target.dsr = *on,
                TargetOpt::ProxyProtocol(on) => target.proxy_protocol = *on,
                TargetOpt::Alert(s) => target.alert = Some(s.clone()),
                TargetOpt::UpAlert(s) => target.upalert = Some(s.clone()),
            }
        }
    }

    /// `register`/`enable interface LIST`: Fulcrum uses every interface a network names, so
    /// registering and enabling change nothing; the ids must be defined all the same, and
    /// `unregister`/`disable` are accepted with a warning.
    fn interface_state(&mut self, config: &Config, action: Action, ranges: &[IdRange], span: Span) {
        for range in ranges {
            // The first gap among the defined ids in the range: one step per defined id.
            let mut next = range.lo;
            for id in config
                .interfaces
                .range(range.lo..=range.hi)
                .map(|(id, _)| *id)
            {
                if id != next {
                    break;
                }
                next = next.saturating_add(1);
            }
            let undefined = (next <= range.hi).then_some(next);
            if let Some(id) = undefined {
                let error = Error::new(
                    range.span,
                    format!(
                        "cannot {} interface {id}: it is not defined",
                        action.keyword()
                    ),
                )
                .help(format!("define it with \"interface {id} {{ name NAME }}\""));
                self.errors.push(error);
            }
        }
        if matches!(action, Action::Unregister | Action::Disable) {
            self.ignored(
                span,
                &format!("{} interface", action.keyword()),
                "Fulcrum uses every interface a network names; remove it from the network instead",
            );
        }
    }

    fn state(&mut self, config: &mut Config, action: Action, kind: Kind, ranges: &[IdRange]) {
        for range in ranges {
            // Stops at the first undefined id, so a huge range costs at most one step per
            // defined thing.
            for id in range.lo..=range.hi {
                let flags = match kind {
                    Kind::Network => config
                        .networks
                        .get_mut(&id)
                        .map(|n| (&mut n.registered, &mut n.enabled)),
                    Kind::Server => config
                        .servers
                        .get_mut(&id)
                        .map(|s| (&mut s.registered, &mut s.enabled)),
                    Kind::Target | Kind::Interface => config
                        .targets
                        .get_mut(&id)
                        .map(|t| (&mut t.registered, &mut t.enabled)),
                };
                let Some((registered, enabled)) = flags else {
                    let noun = kind.noun();
                    let error = Error::new(
                        range.span,
                        format!("cannot {} {noun} {id}: it is not defined", action.keyword()),
                    )
                    .help(format!("define it with \"{noun} {id} {{ ... }}\""));
                    self.errors.push(error);
                    break;
                };
                match action {
                    Action::Register => *registered = true,
                    Action::Unregister => {
                        *registered = false;
                        *enabled = false;
                    }
                    Action::Enable => {
                        *enabled = true;
                        self.origins.enabled_at.insert((kind, id), range.span);
                    }
                    Action::Disable => *enabled = false,
                }
            }
        }
    }
}

/// Expands an id list in order, reporting ids listed twice. A range that repeats an id is
/// reported and skipped, so the work is bounded by the number of distinct ids.
fn expand_unique(ranges: &[IdRange], kind: Kind, errors: &mut Vec<Error>) -> Vec<u32> {
    let mut seen = BTreeSet::new();
    let mut ids = Vec::new();
    for range in ranges {
        if let Some(repeated) = seen.range(range.lo..=range.hi).next() {
            errors.push(Error::new(
                range.span,
                format!("{} {repeated} is listed twice", kind.noun()),
            ));
            continue;
        }
        for id in range.lo..=range.hi {
            seen.insert(id);
            ids.push(id);
        }
    }
    ids
}
