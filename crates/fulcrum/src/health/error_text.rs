//! How a probe's I/O error reads in `show target` and the log: `connection refused` rather than
//! `Connection refused (os error 111)`. One copy for every probe (its own file so the probes
//! depend on it and not on each other).

/// The error's text, without the OS error number, in lower case.
pub fn error_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    text.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_text_is_short() {
        let e = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(error_text(&e), "connection refused");
        let os = std::io::Error::from_raw_os_error(101);
        assert_eq!(error_text(&os), "network is unreachable");
    }
}
