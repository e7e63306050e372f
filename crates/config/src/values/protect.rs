//! Value parsers of the protection options: address prefixes for `allow`/`deny`, `QPS,BURST`
//! for `ratelimit`/`anylimit`, `BYTES,BURST` for `bytelimit`, `V4,V6` prefix lengths,
//! `drop`/`tc`, and `set ratetable`.

use std::net::IpAddr;

use fulcrum_core::protect::policy::{
    MAX_BYTE_BURST, MAX_BYTE_RATE, MAX_RATE, MAX_RATE_TABLE, MIN_RATE_TABLE,
};
use fulcrum_core::protect::{OverLimit, Prefix, Rate};

use crate::lexer::TokenKind;
use crate::parser::{PResult, Parser};

use super::digits;

/// `ADDR/LEN`, or `ADDR` alone for one host; `None` if malformed or the length too long.
fn parse_prefix(word: &str) -> Option<Prefix> {
    let (addr, len) = match word.split_once('/') {
        Some((addr, len)) => (addr.parse::<IpAddr>().ok()?, Some(digits(len)?)),
        None => (word.parse::<IpAddr>().ok()?, None),
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = u8::try_from(len.unwrap_or(max)).ok()?;
    Prefix::new(addr, len).filter(|_| u64::from(len) <= max)
}

impl Parser<'_> {
    /// `PREFIX[,PREFIX...]`, where `all` is `0.0.0.0/0,::/0`.
    pub(crate) fn prefix_list(&mut self, option: &str) -> PResult<Vec<Prefix>> {
        let mut prefixes = Vec::new();
        loop {
            let word = self.word_here().map(|w| w.value);
            match word {
                Some("all") => {
                    self.pos += 1;
                    prefixes.extend(
                        ["0.0.0.0", "::"]
                            .iter()
                            .filter_map(|a| a.parse().ok())
                            .filter_map(|a| Prefix::new(a, 0)),
                    );
                }
                Some(word) => match parse_prefix(word) {
                    Some(prefix) => {
                        self.pos += 1;
                        prefixes.push(prefix);
                    }
                    None => {
                        return self.expected(format!(
                            "an address prefix to {option} (such as 192.0.2.0/24, \
                             2001:db8::/32, 192.0.2.7 or all)"
                        ))
                    }
                },
                None => {
                    return self.expected(format!(
                        "an address prefix to {option} (such as 192.0.2.0/24, 2001:db8::/32, \
                         192.0.2.7 or all)"
                    ))
                }
            }
            if !self.peek().is_some_and(|t| t.kind == TokenKind::Comma) {
                return Ok(prefixes);
            }
            self.pos += 1;
        }
    }

    /// `QPS,BURST` or `off`.
    pub(crate) fn rate(&mut self, option: &str) -> PResult<Option<Rate>> {
        if self.word_here().is_some_and(|w| w.value == "off") {
            self.pos += 1;
            return Ok(None);
        }
        let max = u64::from(MAX_RATE);
        let qps = self.number_u32(&format!("queries per second for {option} (or off)"), 1, max)?;
        self.comma(&format!("a burst for {option}"))?;
        let burst = self.number_u32(&format!("a burst for {option}"), 1, max)?;
        Ok(Some(Rate { qps, burst }))
    }

    /// `BYTES,BURST` (response bytes a second, burst bytes) or `off`.
    pub(crate) fn byte_rate(&mut self) -> PResult<Option<Rate>> {
        if self.word_here().is_some_and(|w| w.value == "off") {
            self.pos += 1;
            return Ok(None);
        }
        let qps = self.number_u32(
            "response bytes per second for bytelimit (or off)",
            1,
            u64::from(MAX_BYTE_RATE),
        )?;
        self.comma("a burst in bytes for bytelimit")?;
        let burst = self.number_u32(
            "a burst in bytes for bytelimit",
            1,
            u64::from(MAX_BYTE_BURST),
        )?;
        Ok(Some(Rate { qps, burst }))
    }

    /// `V4,V6`: the prefix lengths clients are grouped by.
    pub(crate) fn rate_prefix(&mut self) -> PResult<(u8, u8)> {
        let v4 = self.number("an IPv4 prefix length", 0, 32)?;
        self.comma("an IPv6 prefix length")?;
        let v6 = self.number("an IPv6 prefix length", 0, 128)?;
        Ok((
            u8::try_from(v4).unwrap_or(32),
            u8::try_from(v6).unwrap_or(64),
        ))
    }

    pub(crate) fn over_limit(&mut self) -> PResult<OverLimit> {
        Ok(
            match self.keyword("a rate action (drop, tc)", &["drop", "tc"])? {
                "tc" => OverLimit::Truncate,
                _ => OverLimit::Drop,
            },
        )
    }

    /// `set ratetable N`: buckets per table.
    pub(crate) fn rate_table(&mut self) -> PResult<u32> {
        self.number_u32(
            "a rate table size in buckets",
            u64::from(MIN_RATE_TABLE),
            u64::from(MAX_RATE_TABLE),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        let shown = |w: &str| parse_prefix(w).map(|p| p.to_string());
        assert_eq!(shown("192.0.2.77/24").as_deref(), Some("192.0.2.0/24"));
        assert_eq!(shown("192.0.2.7").as_deref(), Some("192.0.2.7/32"));
        assert_eq!(shown("2001:db8::1/32").as_deref(), Some("2001:db8::/32"));
        assert_eq!(shown("::1").as_deref(), Some("::1/128"));
        for bad in [
            "192.0.2.0/33",
            "::/129",
            "192.0.2.0/",
            "10.0.0/8",
            "/8",
            "x/8",
            "1.2.3.4/+8",
        ] {
            assert_eq!(parse_prefix(bad), None, "{bad}");
        }
    }
}
