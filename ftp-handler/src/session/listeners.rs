//! The names of the daemon's listeners: what a connection's listener name says about it.

/// The first plain-FTP listener; more are `ftp-2`, `ftp-3`, ...
pub(crate) const FTP: &str = "ftp";
/// The first implicit-FTPS listener (TLS from the first byte); more are `ftps-2`, ...
pub(crate) const FTPS: &str = "ftps";

/// The name of the `index`th (from 0) listener of a kind.
pub(crate) fn name(kind: &str, index: usize) -> String {
    if index == 0 {
        kind.to_string()
    } else {
        format!("{kind}-{}", index + 1)
    }
}

/// Whether connections from the listener named `name` speak TLS from the first byte.
pub(crate) fn is_implicit_tls(name: &str) -> bool {
    name == FTPS
        || name
            .strip_prefix("ftps-")
            .is_some_and(|n| n.parse::<usize>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implicit_tls_listeners_are_told_by_name() {
        assert!(is_implicit_tls(&name(FTPS, 0)));
        assert!(is_implicit_tls(&name(FTPS, 2)));
        assert!(!is_implicit_tls(&name(FTP, 0)));
        assert!(!is_implicit_tls(&name(FTP, 1)));
        assert!(!is_implicit_tls("ftps-x"));
    }
}
