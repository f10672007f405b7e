//! Secrets kept out of logs and `Debug`: a leaf module anything may use.

/// The Redis URL without its password (`redis://***@host:6379`), for logs.
pub fn url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}
