//! [`split_url`]: `SCHEME://HOST[:PORT]/NAME` addresses of the network transports (Redis
//! streams, Kafka topics), split and checked once for all of them.

/// Splits `SCHEME://HOST[:PORT]/NAME` into `(host, port, name)`; `default_port` when the URL
/// has none. `name_kind` names the path in errors (`STREAM`, `TOPIC`). The name is not
/// checked here beyond being there: each transport has its own rules.
///
/// ```
/// use zerotick_core::endpoint::split_url;
/// assert_eq!(split_url("kafka://h:9/t", "kafka", 9092, "TOPIC"), Ok(("h", 9, "t")));
/// assert_eq!(split_url("kafka://h/t", "kafka", 9092, "TOPIC"), Ok(("h", 9092, "t")));
/// assert!(split_url("redis://h:9/t", "kafka", 9092, "TOPIC").is_err());
/// ```
///
/// # Errors
/// Why the URL cannot be used, in words: another scheme, no `/NAME`, a bad or zero port,
/// an empty host.
pub fn split_url<'a>(
    url: &'a str,
    scheme: &str,
    default_port: u16,
    name_kind: &str,
) -> Result<(&'a str, u16, &'a str), String> {
    let rest = url
        .strip_prefix(scheme)
        .and_then(|r| r.strip_prefix("://"))
        .ok_or_else(|| format!("must start with {scheme}://"))?;
    let (authority, name) = rest
        .split_once('/')
        .ok_or_else(|| format!("no /{name_kind} after the host"))?;
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => match p.parse::<u16>() {
            Ok(port) if port > 0 => (h, port),
            _ => return Err("bad port".to_owned()),
        },
        None => (authority, default_port),
    };
    if host.is_empty() {
        return Err("empty host".to_owned());
    }
    Ok((host, port, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_urls_say_why() {
        let why = |u| split_url(u, "redis", 6379, "STREAM").unwrap_err();
        assert_eq!(why("kafka://h/t"), "must start with redis://");
        assert_eq!(why("redis:/h/t"), "must start with redis://");
        assert_eq!(why("redis://h:1"), "no /STREAM after the host");
        assert_eq!(why("redis://h:x/t"), "bad port");
        assert_eq!(why("redis://h:0/t"), "bad port");
        assert_eq!(why("redis://:1/t"), "empty host");
        assert_eq!(
            split_url("redis://h:1/", "redis", 6379, "STREAM"),
            Ok(("h", 1, ""))
        );
    }
}
