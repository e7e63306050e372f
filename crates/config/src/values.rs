//! Value parsers: numbers with ranges, addresses, netmasks, id lists, checks, keywords.
//!
//! Each one either consumes the tokens of a well-formed value and returns it typed, or records
//! one `found X, expected Y` error at the offending token and consumes nothing more (see the
//! parser's recovery rules). Numbers are parsed from ASCII digits with overflow checked, so a
//! huge number is an out-of-range error, never a wrap or a panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use fulcrum_core::model::{
    DnsCheck, InterfaceRef, Method, PingCheck, PortCheck, Protocol, VrrpVersion,
};

use crate::ast::{IdRange, Kind, Spanned};
use crate::diag::{quote, Error};
use crate::lexer::TokenKind;
use crate::limits::{MAX_ADVERT_MS, MAX_ID, MAX_SECONDS, MAX_WEIGHT};
use crate::parser::{PResult, Parser, STATEMENTS};

mod protect;

/// ASCII digits only, overflow checked.
pub(crate) fn digits(word: &str) -> Option<u64> {
    if word.is_empty() || !word.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    word.parse().ok()
}

/// "a" or "an" before `word`.
fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// A netmask is contiguous: ones, then zeros.
pub fn is_contiguous_mask(mask: Ipv4Addr) -> bool {
    let bits = u32::from(mask);
    bits.leading_ones() + bits.trailing_zeros() == 32
}

/// A DNS zone name: dot-separated labels of letters, digits, `-` and `_`, each 1 to 63
/// characters, 253 in all; a trailing dot is allowed and `.` alone is the root.
pub fn is_zone_name(zone: &str) -> bool {
    if zone == "." {
        return true;
    }
    let name = zone.strip_suffix('.').unwrap_or(zone);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

impl<'t> Parser<'t> {
    /// The next token if it is a word, without consuming it.
    pub(crate) fn word_here(&self) -> Option<Spanned<&'t str>> {
        let token = self.peek()?;
        let word = token.word()?;
        Some(Spanned {
            value: word,
            span: token.span,
        })
    }

    /// A word or a double-quoted string. A bare statement keyword is not taken as a value (it
    /// more likely starts the next statement after a forgotten value); quoted, it is.
    pub(crate) fn text(&mut self, what: &str) -> PResult<Spanned<String>> {
        if self
            .word_here()
            .is_some_and(|w| STATEMENTS.contains(&w.value))
        {
            return self.expected(what);
        }
        self.any_text(what)
    }

    /// A shared secret: [`Self::text`] that is not empty (an empty key would authenticate
    /// nothing while looking as if it did).
    pub(crate) fn key(&mut self, what: &str) -> PResult<String> {
        let key = self.text(what)?;
        if key.value.is_empty() {
            return self.fail(
                Error::new(key.span, format!("{what} must not be empty"))
                    .help("leave the setting out to run without a key"),
            );
        }
        Ok(key.value)
    }

    /// A word (statement keywords included) or a double-quoted string: for places where a
    /// keyword is a normal value, as in `modules vrrp,arp,ping`.
    pub(crate) fn any_text(&mut self, what: &str) -> PResult<Spanned<String>> {
        match self.peek() {
            Some(token) => match &token.kind {
                TokenKind::Word(w) | TokenKind::Str(w) => {
                    self.pos += 1;
                    Ok(Spanned {
                        value: w.clone(),
                        span: token.span,
                    })
                }
                _ => self.expected(what),
            },
            None => self.expected(what),
        }
    }

    /// A number from `lo` to `hi`; the message reads `expected WHAT from LO to HI`.
    pub(crate) fn number(&mut self, what: &str, lo: u64, hi: u64) -> PResult<u64> {
        match self.word_here().and_then(|w| digits(w.value)) {
            Some(n) if (lo..=hi).contains(&n) => {
                self.pos += 1;
                Ok(n)
            }
            _ => self.expected(format!("{what} from {lo} to {hi}")),
        }
    }

    pub(crate) fn byte(&mut self, what: &str) -> PResult<u8> {
        let n = self.number(what, 1, 255)?;
        Ok(u8::try_from(n).unwrap_or(u8::MAX))
    }

    pub(crate) fn number_u32(&mut self, what: &str, lo: u64, hi: u64) -> PResult<u32> {
        let n = self.number(what, lo, hi)?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// `set upstreamsockets N`: a socket count from 1 to the model's maximum.
    pub(crate) fn upstream_sockets(&mut self) -> PResult<u32> {
        self.number_u32(
            "an upstream socket count",
            1,
            u64::from(fulcrum_core::model::MAX_UPSTREAM_SOCKETS),
        )
    }

    pub(crate) fn seconds(&mut self, what: &str) -> PResult<u32> {
        self.number_u32(&format!("{what} in seconds"), 1, MAX_SECONDS)
    }

    pub(crate) fn port(&mut self, what: &str) -> PResult<u16> {
        let n = self.number(what, 1, 65_535)?;
        Ok(u16::try_from(n).unwrap_or(u16::MAX))
    }

    pub(crate) fn weight(&mut self) -> PResult<u32> {
        self.number_u32("a weight", 0, MAX_WEIGHT)
    }

    pub(crate) fn id(&mut self, kind: Kind) -> PResult<u32> {
        self.number_u32(&format!("a {} number", kind.noun()), 1, MAX_ID)
    }

    /// `0` or `1`.
    pub(crate) fn flag(&mut self, name: &str) -> PResult<bool> {
        match self.word_here().map(|w| w.value) {
            Some("0") | Some("1") => {
                let on = self.word_here().is_some_and(|w| w.value == "1");
                self.pos += 1;
                Ok(on)
            }
            _ => self.expected(format!("0 or 1 for {name}")),
        }
    }

    /// One of `words`; returns the one found.
    pub(crate) fn keyword(&mut self, what: &str, words: &[&'static str]) -> PResult<&'static str> {
        let found = self
            .word_here()
            .and_then(|w| words.iter().find(|k| **k == w.value));
        match found {
            Some(word) => {
                self.pos += 1;
                Ok(word)
            }
            None => {
                let error = Error::found(self.here(), &self.found_here(), what);
                let error = match self.word_here() {
                    Some(w) => error.suggest(w.value, words),
                    None => error,
                };
                self.fail(error)
            }
        }
    }

    pub(crate) fn protocol(&mut self) -> PResult<Protocol> {
        Ok(
            match self.keyword("a protocol (udp, tcp, any)", &["udp", "tcp", "any"])? {
                "udp" => Protocol::Udp,
                "tcp" => Protocol::Tcp,
                _ => Protocol::Any,
            },
        )
    }

    pub(crate) fn method(&mut self) -> PResult<Method> {
        let words: Vec<&'static str> = Method::ALL.iter().map(|m| m.keyword()).collect();
        let what = format!("a method ({})", words.join(", "));
        let word = self.keyword(&what, &words)?;
        Ok(Method::from_keyword(word).unwrap_or_default())
    }

    pub(crate) fn vrrp_version(&mut self) -> PResult<VrrpVersion> {
        Ok(
            match self.keyword("a VRRP version (2 or 3)", &["2", "3"])? {
                "2" => VrrpVersion::V2,
                _ => VrrpVersion::V3,
            },
        )
    }

    /// `N` or `Ns` (seconds) or `Nms`; returns milliseconds.
    pub(crate) fn advert(&mut self) -> PResult<u32> {
        let ms = self.word_here().and_then(|w| {
            let (number, scale) = if let Some(n) = w.value.strip_suffix("ms") {
                (n, 1)
            } else if let Some(n) = w.value.strip_suffix('s') {
                (n, 1000)
            } else {
                (w.value, 1000)
            };
            digits(number)?.checked_mul(scale)
        });
        match ms {
            Some(ms) if (1..=MAX_ADVERT_MS).contains(&ms) => {
                self.pos += 1;
                Ok(u32::try_from(ms).unwrap_or(u32::MAX))
            }
            _ => self.expected("an advertisement interval up to 255s (such as 1, 1s or 100ms)"),
        }
    }

    pub(crate) fn ipv4(&mut self) -> PResult<Ipv4Addr> {
        match self.word_here().and_then(|w| w.value.parse().ok()) {
            Some(addr) => {
                self.pos += 1;
                Ok(addr)
            }
            None => self.expected("an IPv4 address"),
        }
    }

    pub(crate) fn ipv6(&mut self) -> PResult<Ipv6Addr> {
        match self.word_here().and_then(|w| w.value.parse().ok()) {
            Some(addr) => {
                self.pos += 1;
                Ok(addr)
            }
            None => self.expected("an IPv6 address"),
        }
    }

    /// An IPv6 prefix length (`64`), or a contiguous IPv6 mask (`ffff:ffff:ffff:ffff::`) read
    /// as its length.
    pub(crate) fn prefix_len6(&mut self) -> PResult<u8> {
        let len = self.word_here().and_then(|w| {
            if let Ok(mask) = w.value.parse::<Ipv6Addr>() {
                let bits = u128::from(mask);
                let ones = bits.leading_ones();
                return (bits.checked_shl(ones).unwrap_or(0) == 0).then_some(ones);
            }
            digits(w.value)
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| *n <= 128)
        });
        match len.and_then(|n| u8::try_from(n).ok()) {
            Some(len) => {
                self.pos += 1;
                Ok(len)
            }
            None => self.expected("an IPv6 prefix length from 0 to 128 (such as 64)"),
        }
    }

    pub(crate) fn ip(&mut self) -> PResult<IpAddr> {
        match self.word_here().and_then(|w| w.value.parse().ok()) {
            Some(addr) => {
                self.pos += 1;
                Ok(addr)
            }
            None => self.expected("an IPv4 or IPv6 address"),
        }
    }

    /// `ADDR` or `ADDR,ADDR,...` (IPv4 or IPv6, mixed).
    pub(crate) fn ip_list(&mut self) -> PResult<Vec<IpAddr>> {
        let mut addrs = vec![self.ip()?];
        while self.peek().is_some_and(|t| t.kind == TokenKind::Comma) {
            self.pos += 1;
            addrs.push(self.ip()?);
        }
        Ok(addrs)
    }

    /// `ADDR:PORT` (`[V6]:PORT` for IPv6) or `off`.
    pub(crate) fn listen_address(&mut self, what: &str) -> PResult<Option<SocketAddr>> {
        let Some(word) = self.word_here() else {
            return self.expected(format!("{what} (ADDR:PORT or off)"));
        };
        if word.value == "off" {
            self.pos += 1;
            return Ok(None);
        }
        match word.value.parse::<SocketAddr>() {
            Ok(addr) if addr.port() != 0 => {
                self.pos += 1;
                Ok(Some(addr))
            }
            _ => self.expected(format!(
                "{what} (ADDR:PORT such as 127.0.0.1:9153 or [::1]:9153, or off)"
            )),
        }
    }

    pub(crate) fn mask(&mut self) -> PResult<Ipv4Addr> {
        let span = self.here();
        let found = self.found_here();
        let mask = self.ipv4()?;
        if !is_contiguous_mask(mask) {
            self.pos -= 1;
            return self.fail(Error::found(
                span,
                &found,
                "a contiguous netmask (such as 255.255.255.0)",
            ));
        }
        Ok(mask)
    }

    /// A number is an interface's number; anything else (or a quoted string) its name.
    pub(crate) fn interface_ref(&mut self) -> PResult<InterfaceRef> {
        let numbered = self
            .word_here()
            .is_some_and(|w| w.value.bytes().all(|b| b.is_ascii_digit()));
        if numbered {
            return Ok(InterfaceRef::Id(self.id(Kind::Interface)?));
        }
        Ok(InterfaceRef::Name(
            self.text("an interface number or name")?.value,
        ))
    }

    /// `1`, `1,2`, `1-3`, `1,3-5`.
    pub(crate) fn id_list(&mut self, kind: Kind) -> PResult<Vec<IdRange>> {
        let mut ids = vec![self.id_range(kind)?];
        while self.peek().is_some_and(|t| t.kind == TokenKind::Comma) {
            self.pos += 1;
            ids.push(self.id_range(kind)?);
        }
        Ok(ids)
    }

    fn id_range(&mut self, kind: Kind) -> PResult<IdRange> {
        let what = format!(
            "a {} number from 1 to {MAX_ID} or a range (such as 1-3)",
            kind.noun()
        );
        let Some(word) = self.word_here() else {
            return self.expected(what);
        };
        let in_range = |s: &str| digits(s).filter(|n| (1..=MAX_ID).contains(n));
        let (lo, hi) = match word.value.split_once('-') {
            Some((lo, hi)) => (in_range(lo), in_range(hi)),
            None => (in_range(word.value), in_range(word.value)),
        };
        let (Some(lo), Some(hi)) = (lo, hi) else {
            return self.expected(what);
        };
        if lo > hi {
            return self.fail(Error::found(
                word.span,
                &quote(word.value),
                format!("a range from low to high (such as {hi}-{lo})"),
            ));
        }
        self.pos += 1;
        Ok(IdRange {
            lo: u32::try_from(lo).unwrap_or(u32::MAX),
            hi: u32::try_from(hi).unwrap_or(u32::MAX),
            span: word.span,
        })
    }

    pub(crate) fn comma(&mut self, next: &str) -> PResult<()> {
        if self.peek().is_some_and(|t| t.kind == TokenKind::Comma) {
            self.pos += 1;
            return Ok(());
        }
        self.expected(format!("\",\" and {next}"))
    }

    /// `INTERVAL,TIMEOUT` in seconds; the timeout must exceed the interval.
    fn interval_timeout(&mut self, check: &str) -> PResult<(u32, u32)> {
        let a = article(check);
        let interval = self.seconds(&format!("{a} {check} interval"))?;
        self.comma(&format!("{a} {check} timeout"))?;
        let span = self.here();
        let timeout = self.seconds(&format!("{a} {check} timeout"))?;
        if timeout <= interval {
            self.pos -= 1;
            return self.fail(Error::found(
                span,
                &quote(&timeout.to_string()),
                format!("{a} {check} timeout greater than its interval ({interval})"),
            ));
        }
        Ok((interval, timeout))
    }

    pub(crate) fn ping(&mut self) -> PResult<PingCheck> {
        let (interval, timeout) = self.interval_timeout("ping")?;
        Ok(PingCheck { interval, timeout })
    }

    /// `PORT,INTERVAL,TIMEOUT` for `tcpopen` and `agent`.
    pub(crate) fn port_check(&mut self, check: &str) -> PResult<PortCheck> {
        let a = article(check);
        let port = self.port(&format!("{a} {check} port"))?;
        self.comma(&format!("{a} {check} interval"))?;
        let (interval, timeout) = self.interval_timeout(check)?;
        Ok(PortCheck {
            port,
            interval,
            timeout,
        })
    }

    /// `ZONE,INTERVAL,TIMEOUT`.
    pub(crate) fn dns_check(&mut self) -> PResult<DnsCheck> {
        let zone = match self.word_here() {
            Some(w) if is_zone_name(w.value) => {
                self.pos += 1;
                w.value.to_string()
            }
            _ => return self.expected("a DNS zone name (such as example.com)"),
        };
        self.comma("a dns interval")?;
        let (interval, timeout) = self.interval_timeout("dns")?;
        Ok(DnsCheck {
            zone,
            interval,
            timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_must_be_contiguous() {
        for good in ["255.255.255.0", "0.0.0.0", "255.255.255.255", "255.128.0.0"] {
            assert!(is_contiguous_mask(good.parse().unwrap()), "{good}");
        }
        for bad in ["255.0.255.0", "0.255.255.255", "255.255.255.1"] {
            assert!(!is_contiguous_mask(bad.parse().unwrap()), "{bad}");
        }
    }

    #[test]
    fn zone_names() {
        for good in [".", "example.com", "example.com.", "a-b_c.d1"] {
            assert!(is_zone_name(good), "{good}");
        }
        for bad in ["", "..", "a..b", "a b", "a,b", &"x".repeat(64)] {
            assert!(!is_zone_name(bad), "{bad}");
        }
    }

    #[test]
    fn digits_overflow_is_none() {
        assert_eq!(digits("99999999999999999999999"), None);
        assert_eq!(digits("+5"), None);
        assert_eq!(digits("42"), Some(42));
    }
}
