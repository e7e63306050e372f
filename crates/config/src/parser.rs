//! Tokens -> statements. Recursive descent over a flat token list; blocks are one level deep.
//!
//! Every error is recorded and parsing goes on: after a bad statement the parser skips to the
//! next statement keyword outside braces; after a bad option it skips to the next option of the
//! same block (or its `}`). A block that meets a statement keyword that cannot be one of its
//! options is taken as unclosed. Value parsers never consume the token they reject, so that a
//! missing value followed by a keyword loses only the one option.

use crate::ast::{
    Action, AnnounceOpt, GatewayOpt, InterfaceOpt, Kind, NetworkOpt, Opt, ServerOpt, Setting,
    Spanned, Statement, Stmt, TargetOpt, VrrpOpt,
};
use crate::diag::{Error, Span};
use crate::lexer::{Token, TokenKind};
use fulcrum_core::model::InterfaceAccess;

/// Marks a failure that has already been recorded in `Parser::errors`.
pub struct Reported;
pub type PResult<T> = Result<T, Reported>;

pub use crate::keywords::*;

pub struct Parser<'t> {
    pub(crate) tokens: &'t [Token],
    pub(crate) pos: usize,
    pub(crate) end: Span,
    pub(crate) errors: Vec<Error>,
}

/// Parses a whole token list; returns every statement that parsed and every error.
pub fn parse(tokens: &[Token], end: Span) -> (Vec<Statement>, Vec<Error>) {
    let mut parser = Parser {
        tokens,
        pos: 0,
        end,
        errors: Vec::new(),
    };
    let mut statements = Vec::new();
    while let Some(token) = parser.peek() {
        let start = parser.pos;
        let brace = token.kind == TokenKind::LBrace;
        match parser.statement() {
            Ok(statement) => statements.push(statement),
            Err(Reported) => {
                if parser.pos == start {
                    parser.pos += 1;
                }
                parser.recover_top(usize::from(brace));
            }
        }
    }
    (statements, parser.errors)
}

impl<'t> Parser<'t> {
    pub(crate) fn peek(&self) -> Option<&'t Token> {
        self.tokens.get(self.pos)
    }

    /// Where the next token is (or the end of the text).
    pub(crate) fn here(&self) -> Span {
        self.peek().map_or(self.end, |t| t.span)
    }

    /// The next token as named in messages.
    pub(crate) fn found_here(&self) -> String {
        self.peek()
            .map_or_else(|| "end of file".to_string(), Token::describe)
    }

    pub(crate) fn fail<T>(&mut self, error: Error) -> PResult<T> {
        self.errors.push(error);
        Err(Reported)
    }

    /// Records `found <next token>, expected <what>` without consuming anything.
    pub(crate) fn expected<T>(&mut self, what: impl std::fmt::Display) -> PResult<T> {
        let error = Error::found(self.here(), &self.found_here(), what);
        self.fail(error)
    }

    fn peek_word(&self) -> Option<&'t str> {
        self.peek().and_then(Token::word)
    }

    fn statement(&mut self) -> PResult<Statement> {
        let Some(token) = self.peek() else {
            return self.expected("a statement");
        };
        let span = token.span;
        let keyword = token
            .word()
            .and_then(|w| STATEMENTS.iter().find(|k| **k == w));
        let Some(keyword) = keyword else {
            let error = Error::found(
                span,
                &token.describe(),
                format!("a statement {}", listed(STATEMENTS)),
            );
            let error = match token.word() {
                Some(word) => error.suggest(word, STATEMENTS),
                None => error,
            };
            return self.fail(error);
        };
        self.pos += 1;
        let stmt = match *keyword {
            "hostname" => Stmt::Hostname(self.text("a host name")?.value),
            "license" => {
                let serial = self.text("a licence serial")?.value;
                let key = self.text("a licence key")?.value;
                Stmt::License { serial, key }
            }
            "set" => self.set()?,
            "modules" => Stmt::Modules(self.modules()?),
            "module" => Stmt::Module(self.any_text("a module name")?.value),
            "interface" => self.interface(span)?,
            "vrrp" => Stmt::Vrrp(self.block("vrrp", span, VRRP_OPTIONS, Self::vrrp_opt)?),
            "announce" => Stmt::Announce(self.block(
                "announce",
                span,
                ANNOUNCE_OPTIONS,
                Self::announce_opt,
            )?),
            "network" => {
                let id = self.id(Kind::Network)?;
                let opts = self.block("network", span, NETWORK_OPTIONS, Self::network_opt)?;
                Stmt::Network { id, opts }
            }
            "gateway" => {
                Stmt::Gateway(self.block("gateway", span, GATEWAY_OPTIONS, Self::gateway_opt)?)
            }
            "server" => {
                let id = self.id(Kind::Server)?;
                let opts = self.block("server", span, SERVER_OPTIONS, Self::server_opt)?;
                Stmt::Server { id, opts }
            }
            "target" => {
                let id = self.id(Kind::Target)?;
                let opts = self.block("target", span, TARGET_OPTIONS, Self::target_opt)?;
                Stmt::Target { id, opts }
            }
            verb => self.state(verb)?,
        };
        Ok(Spanned { value: stmt, span })
    }

    fn set(&mut self) -> PResult<Stmt> {
        if self.peek().is_some_and(|t| t.kind == TokenKind::LBrace) {
            let span = self.here();
            return Ok(Stmt::Set(self.block(
                "set",
                span,
                ALL_SETTINGS,
                Self::setting,
            )?));
        }
        let span = self.here();
        let found = self
            .peek_word()
            .and_then(|w| ALL_SETTINGS.iter().find(|s| **s == w));
        let Some(name) = found else {
            let error = Error::found(
                span,
                &self.found_here(),
                format!("a setting {} or \"{{\"", listed(ALL_SETTINGS)),
            );
            let error = match self.peek_word() {
                Some(word) => error.suggest(word, ALL_SETTINGS),
                None => error,
            };
            return self.fail(error);
        };
        self.pos += 1;
        let value = self.setting(name)?;
        Ok(Stmt::Set(vec![Opt {
            keyword: name,
            value,
            span,
        }]))
    }

    fn modules(&mut self) -> PResult<Vec<String>> {
        let mut modules = vec![self.any_text("a module name")?.value];
        while self.peek().is_some_and(|t| t.kind == TokenKind::Comma) {
            self.pos += 1;
            modules.push(self.any_text("a module name after \",\"")?.value);
        }
        Ok(modules)
    }

    fn interface(&mut self, span: Span) -> PResult<Stmt> {
        let numbered = self
            .peek_word()
            .is_some_and(|w| w.bytes().all(|b| b.is_ascii_digit()));
        if numbered {
            let id = self.id(Kind::Interface)?;
            let opts = self.block("interface", span, INTERFACE_OPTIONS, Self::interface_opt)?;
            return Ok(Stmt::Interface { id, opts });
        }
        Ok(Stmt::InterfaceShort(
            self.text("an interface name or number")?.value,
        ))
    }

    fn state(&mut self, verb: &str) -> PResult<Stmt> {
        let action = match verb {
            "register" => Action::Register,
            "unregister" => Action::Unregister,
            "enable" => Action::Enable,
            _ => Action::Disable,
        };
        let noun = self
            .peek_word()
            .and_then(|w| NOUNS.iter().find(|n| **n == w));
        let Some(noun) = noun else {
            let error = Error::found(
                self.here(),
                &self.found_here(),
                format!("what to {verb} (network, server, target, interface)"),
            );
            let error = match self.peek_word() {
                Some(word) => error.suggest(word, NOUNS),
                None => error,
            };
            return self.fail(error);
        };
        self.pos += 1;
        let kind = match noun.trim_end_matches('s') {
            "network" => Kind::Network,
            "server" => Kind::Server,
            "interface" => Kind::Interface,
            _ => Kind::Target,
        };
        let ids = self.id_list(kind)?;
        Ok(Stmt::State { action, kind, ids })
    }

    /// `{ OPTION VALUE ... }`: `option` parses the value of the option keyword it is given.
    fn block<T>(
        &mut self,
        name: &str,
        opened: Span,
        options: &'static [&'static str],
        option: fn(&mut Self, &'static str) -> PResult<T>,
    ) -> PResult<Vec<Opt<T>>> {
        if !self.peek().is_some_and(|t| t.kind == TokenKind::LBrace) {
            return self.expected(format!("\"{{\" to open the {name} block"));
        }
        self.pos += 1;
        let mut opts = Vec::new();
        loop {
            let Some(token) = self.peek() else {
                let error = Error::found(
                    self.end,
                    "end of file",
                    format!("\"}}\" to close the {name} block opened at {opened}"),
                );
                self.errors.push(error);
                return Ok(opts);
            };
            let span = token.span;
            match &token.kind {
                TokenKind::RBrace => {
                    self.pos += 1;
                    return Ok(opts);
                }
                TokenKind::Word(word) => {
                    if let Some(keyword) = options.iter().find(|o| **o == word) {
                        self.pos += 1;
                        match option(self, keyword) {
                            Ok(value) => opts.push(Opt {
                                keyword,
                                value,
                                span,
                            }),
                            Err(Reported) => {
                                let line = self.here().line;
                                self.recover_block(options, 0, line);
                            }
                        }
                        continue;
                    }
                    if STATEMENTS.contains(&word.as_str()) {
                        let error = Error::found(
                            span,
                            &token.describe(),
                            format!("\"}}\" to close the {name} block opened at {opened}"),
                        );
                        self.errors.push(error);
                        return Ok(opts);
                    }
                    let error = Error::found(
                        span,
                        &token.describe(),
                        format!("a {name} option {}", listed(options)),
                    )
                    .suggest(word, options);
                    self.errors.push(error);
                    self.pos += 1;
                    self.recover_block(options, 0, span.line);
                }
                other => {
                    let depth = usize::from(*other == TokenKind::LBrace);
                    let error = Error::found(
                        span,
                        &token.describe(),
                        format!("a {name} option {}", listed(options)),
                    );
                    self.errors.push(error);
                    self.pos += 1;
                    self.recover_block(options, depth, span.line);
                }
            }
        }
    }

    /// Skips to the next option of the block, its `}`, a statement keyword, or the next line
    /// after `line` (where the error was): options are usually one to a line, so a mistake on
    /// the next line is reported too.
    fn recover_block(&mut self, options: &[&str], mut depth: usize, line: u32) {
        while let Some(token) = self.peek() {
            if depth == 0 && token.span.line > line {
                return;
            }
            match &token.kind {
                TokenKind::LBrace => depth += 1,
                TokenKind::RBrace if depth == 0 => return,
                TokenKind::RBrace => depth -= 1,
                TokenKind::Word(w)
                    if depth == 0
                        && (options.contains(&w.as_str()) || STATEMENTS.contains(&w.as_str())) =>
                {
                    return
                }
                _ => {}
            }
            self.pos += 1;
        }
    }

    /// Skips to the next statement keyword outside braces.
    fn recover_top(&mut self, mut depth: usize) {
        while let Some(token) = self.peek() {
            match &token.kind {
                TokenKind::LBrace => depth += 1,
                TokenKind::RBrace => depth = depth.saturating_sub(1),
                TokenKind::Word(w) if depth == 0 && STATEMENTS.contains(&w.as_str()) => return,
                _ => {}
            }
            self.pos += 1;
        }
    }

    fn setting(&mut self, name: &'static str) -> PResult<Setting> {
        Ok(match name {
            "localdsr" => Setting::LocalDsr(self.flag("localdsr")?),
            "sessiontimeout" => Setting::SessionTimeout(self.seconds("a session timeout")?),
            "maxsessions" => Setting::MaxSessions(self.number(
                "a session table size",
                1,
                crate::limits::MAX_SESSIONS,
            )?),
            "synckey" => Setting::SyncKey(self.key("a sync key")?),
            "agentkey" => Setting::AgentKey(self.key("an agent key")?),
            "failopen" => Setting::FailOpen(self.flag("failopen")?),
            "tcpmaxconn" => Setting::TcpMaxConnections(self.number(
                "a TCP connection count",
                1,
                crate::limits::MAX_TCP_CONNECTIONS,
            )?),
            "tcpclientconn" => Setting::TcpClientConnections(self.number(
                "a TCP connection count per client",
                1,
                crate::limits::MAX_TCP_CONNECTIONS,
            )?),
            "tcpidle" => Setting::TcpIdle(self.seconds("a TCP idle timeout")?),
            "tcpwrite" => Setting::TcpWriteTimeout(self.seconds("a TCP write timeout")?),
            "tcplifetime" => Setting::TcpLifetime(self.seconds("a TCP connection lifetime")?),
            "metrics" => Setting::Metrics(self.listen_address("a metrics listener")?),
            "upstreamsockets" => Setting::UpstreamSockets(self.upstream_sockets()?),
            "ratetable" => Setting::RateTable(self.rate_table()?),
            ignored => Setting::Ignored {
                name: ignored,
                value: self.text(&format!("a value for {ignored}"))?.value,
            },
        })
    }

    fn interface_opt(&mut self, name: &'static str) -> PResult<InterfaceOpt> {
        match name {
            "name" => Ok(InterfaceOpt::Name(self.text("an interface name")?.value)),
            _ => {
                let mode = self.keyword("an access mode", &["raw", "xdp"])?;
                Ok(InterfaceOpt::Access(if mode == "xdp" {
                    InterfaceAccess::Xdp
                } else {
                    InterfaceAccess::Raw
                }))
            }
        }
    }

    fn vrrp_opt(&mut self, name: &'static str) -> PResult<VrrpOpt> {
        Ok(match name {
            "vrid" => VrrpOpt::Vrid(self.byte("a vrid")?),
            "priority" => VrrpOpt::Priority(self.byte("a priority")?),
            "network" => VrrpOpt::Network(self.id(Kind::Network)?),
            "version" => VrrpOpt::Version(self.vrrp_version()?),
            "advert" => VrrpOpt::AdvertMs(self.advert()?),
            "preempt" => VrrpOpt::Preempt(self.keyword("on or off", &["on", "off"])? == "on"),
            "peer" => VrrpOpt::Peer(self.ipv4()?),
            "authpass" => VrrpOpt::AuthPass(self.text("a password")?.value),
            _ => VrrpOpt::Notify(self.text("a notify script")?.value),
        })
    }

    fn network_opt(&mut self, name: &'static str) -> PResult<NetworkOpt> {
        Ok(match name {
            "name" => NetworkOpt::Name(self.text("a network name")?.value),
            "addr" => NetworkOpt::Addr(self.ipv4()?),
            "mask" => NetworkOpt::Mask(self.mask()?),
            "real" => NetworkOpt::Real(self.ipv4()?),
            "virt" => NetworkOpt::Virt(self.ipv4()?),
            "addr6" => NetworkOpt::Addr6(self.ipv6()?),
            "mask6" => NetworkOpt::Mask6(self.prefix_len6()?),
            "real6" => NetworkOpt::Real6(self.ipv6()?),
            "virt6" => NetworkOpt::Virt6(self.ipv6()?),
            "interface" => NetworkOpt::Interface(self.interface_ref()?),
            _ => NetworkOpt::SyncPeer(self.ip_list()?),
        })
    }

    fn announce_opt(&mut self, name: &'static str) -> PResult<AnnounceOpt> {
        Ok(match name {
            "interface" => AnnounceOpt::Interface(self.text("an interface name")?.value),
            _ => AnnounceOpt::Server(self.id(Kind::Server)?),
        })
    }

    fn gateway_opt(&mut self, name: &'static str) -> PResult<GatewayOpt> {
        Ok(match name {
            "ipaddr" => GatewayOpt::IpAddr(self.ipv4()?),
            _ => GatewayOpt::Ping(self.ping()?),
        })
    }

    fn server_opt(&mut self, name: &'static str) -> PResult<ServerOpt> {
        Ok(match name {
            "ipaddr" => ServerOpt::IpAddr(self.ip()?),
            "port" => ServerOpt::Port(self.port("a port")?),
            "protocol" => ServerOpt::Protocol(self.protocol()?),
            "method" => ServerOpt::Method(self.method()?),
            "targets" => ServerOpt::Targets(self.id_list(Kind::Target)?),
            "allow" => ServerOpt::Allow(self.prefix_list("allow")?),
            "deny" => ServerOpt::Deny(self.prefix_list("deny")?),
            "ratelimit" => ServerOpt::RateLimit(self.rate("ratelimit")?),
            "anylimit" => ServerOpt::AnyLimit(self.rate("anylimit")?),
            "bytelimit" => ServerOpt::ByteLimit(self.byte_rate()?),
            "rateprefix" => {
                let (v4, v6) = self.rate_prefix()?;
                ServerOpt::RatePrefix(v4, v6)
            }
            "rateaction" => ServerOpt::RateAction(self.over_limit()?),
            _ => ServerOpt::Stout(self.seconds("a session timeout")?),
        })
    }

    fn target_opt(&mut self, name: &'static str) -> PResult<TargetOpt> {
        Ok(match name {
            "ipaddr" => TargetOpt::IpAddr(self.ip()?),
            "port" => TargetOpt::Port(self.port("a port")?),
            "protocol" => TargetOpt::Protocol(self.protocol()?),
            "weight" => TargetOpt::Weight(self.weight()?),
            "ping" => TargetOpt::Ping(self.ping()?),
            "tcpopen" => TargetOpt::TcpOpen(self.port_check("tcpopen")?),
            "agent" => TargetOpt::Agent(self.port_check("agent")?),
            "dns" => TargetOpt::Dns(self.dns_check()?),
            "dsr" => TargetOpt::Dsr(
                self.keyword("enable or disable", &["enable", "disable"])? == "enable",
            ),
            "proxyprotocol" => TargetOpt::ProxyProtocol(
                self.keyword("enable or disable", &["enable", "disable"])? == "enable",
            ),
            "alert" => TargetOpt::Alert(self.text("an alert script")?.value),
            _ => TargetOpt::UpAlert(self.text("an upalert script")?.value),
        })
    }
}
