//! Appending `token` to the relying party's `redirectUrl`, keeping its query.

use url::Url;

/// Parses a `redirectUrl` from track attributes: an absolute `http` or `https` URL.
pub fn parse_redirect_url(value: &str) -> Result<Url, String> {
    let url = Url::parse(value).map_err(|e| {
        format!(
            "invalid redirectUrl '{}': {e}",
            super::action_code::truncate(value)
        )
    })?;
    match url.scheme() {
        "https" | "http" => Ok(url),
        other => Err(format!(
            "invalid redirectUrl: scheme '{other}' is not http or https"
        )),
    }
}

/// Whether `url`'s host is one of the loopback hosts of the RFC 8252 (§7.3, §8.3) exception:
/// `localhost`, `127.0.0.1` or `[::1]` exactly (a browser on the same machine is the only
/// reader of a plain-http redirect there).
pub fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip == std::net::Ipv4Addr::LOCALHOST,
        Some(url::Host::Ipv6(ip)) => ip == std::net::Ipv6Addr::LOCALHOST,
        None => false,
    }
}

/// Checks a track's `redirectUrl` for the Server API: [`parse_redirect_url`], then an origin on
/// `allowed` (serialised origins), as a real tenant restricts redirect URLs to its configured
/// domains. The scheme is `https`, except for the loopback exception of RFC 8252: plain `http`
/// on a [loopback host](is_loopback_host) whose origin `allowed` lists explicitly (so an SDK's
/// own test suite can redirect to `http://localhost:3000`, and nothing else can). The pages keep
/// using [`parse_redirect_url`] on what track stored.
pub fn check_track_redirect_url(value: &str, allowed: &[String]) -> Result<Url, String> {
    let url = parse_redirect_url(value)?;
    let shown = super::action_code::truncate(value);
    if url.scheme() != "https" && !is_loopback_host(&url) {
        return Err(format!(
            "invalid redirectUrl '{shown}': scheme '{}' is not https (plain 'http' only on a \
             loopback host listed in redirect_origins)",
            url.scheme()
        ));
    }
    let origin = url.origin().ascii_serialization();
    if !allowed.iter().any(|a| a == &origin) {
        return Err(if url.scheme() == "https" {
            format!(
                "invalid redirectUrl '{shown}': origin '{origin}' is not an allowed redirect origin"
            )
        } else {
            format!(
                "invalid redirectUrl '{shown}': origin '{origin}' is not an allowed redirect \
                 origin (plain 'http' only on a loopback host listed in redirect_origins)"
            )
        });
    }
    Ok(url)
}

/// `redirect` with `token=<token>` appended: `?` or `&` as the existing query needs, existing
/// parameters kept in order, the fragment dropped (a fragment would hide nothing from the
/// server, but the service's behaviour with one is unknown).
pub fn with_token(redirect: &Url, token: &str) -> Url {
    let mut url = redirect.clone();
    url.set_fragment(None);
    url.query_pairs_mut().append_pair("token", token);
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_without_query_gets_a_question_mark() {
        let url = parse_redirect_url("https://localhost:5001/Account/Login/Callback").unwrap();
        assert_eq!(
            with_token(&url, "abc").as_str(),
            "https://localhost:5001/Account/Login/Callback?token=abc"
        );
    }

    #[test]
    fn an_existing_query_is_kept_and_the_token_joined_with_an_ampersand() {
        let url =
            parse_redirect_url("https://rp.example/cb?returnUrl=%2Fhome%3Fa%3D1&x=y").unwrap();
        let out = with_token(&url, "t.k-n");
        assert_eq!(
            out.as_str(),
            "https://rp.example/cb?returnUrl=%2Fhome%3Fa%3D1&x=y&token=t.k-n"
        );
    }

    #[test]
    fn non_http_redirects_are_refused() {
        assert!(parse_redirect_url("javascript:alert(1)").is_err());
        assert!(parse_redirect_url("/relative").is_err());
    }

    #[test]
    fn a_track_redirect_url_must_be_https_on_an_allowed_origin() {
        let allowed = ["https://localhost:5001".to_owned()];
        assert!(check_track_redirect_url("https://localhost:5001/cb?x=1", &allowed).is_ok());
        let err = check_track_redirect_url("http://localhost:5001/cb", &allowed).unwrap_err();
        assert!(err.contains("'http'"), "{err}");
        let err = check_track_redirect_url("https://evil.example/cb", &allowed).unwrap_err();
        assert!(err.contains("'https://evil.example'"), "{err}");
        assert!(check_track_redirect_url("https://localhost:5002/cb", &allowed).is_err());
        assert!(
            check_track_redirect_url("https://localhost:5001@evil.example/", &allowed).is_err()
        );
    }

    #[test]
    fn a_plain_http_redirect_url_passes_only_on_a_loopback_origin_listed_explicitly() {
        let allowed = [
            "https://localhost:5001".to_owned(),
            "http://localhost:3000".to_owned(),
            "http://127.0.0.1:3000".to_owned(),
            "http://[::1]:3000".to_owned(),
        ];
        for ok in [
            "http://localhost:3000",
            "http://localhost:3000/cb?x=1",
            "http://LOCALHOST:3000/cb",
            "http://127.0.0.1:3000/cb",
            "http://[::1]:3000/cb",
        ] {
            assert!(check_track_redirect_url(ok, &allowed).is_ok(), "{ok}");
        }
        // Listed loopback hosts on another port, and http to an https-listed origin.
        for unlisted in [
            "http://localhost:3001/cb",
            "http://localhost/cb",
            "http://127.0.0.1:3001/cb",
            "http://localhost:5001/cb",
        ] {
            let err = check_track_redirect_url(unlisted, &allowed).unwrap_err();
            assert!(err.contains("not an allowed redirect origin"), "{err}");
        }
        // Not loopback: refused for the scheme whatever the list says.
        let listed_anyway = [
            "http://rp.example".to_owned(),
            "http://127.0.0.2".to_owned(),
        ];
        for foreign in [
            "http://rp.example/cb",
            "http://127.0.0.2/cb",
            "http://localhost.evil.example/cb",
            "http://localhost:3000@evil.example/cb",
        ] {
            let err = check_track_redirect_url(foreign, &listed_anyway).unwrap_err();
            assert!(err.contains("is not https"), "{foreign}: {err}");
        }
    }

    #[test]
    fn only_localhost_127_0_0_1_and_the_ipv6_loopback_are_loopback_hosts() {
        let host = |u: &str| is_loopback_host(&Url::parse(u).unwrap());
        assert!(host("http://localhost:3000"));
        assert!(host("http://127.0.0.1"));
        assert!(host("http://[::1]:8080"));
        assert!(!host("http://127.0.0.2"));
        assert!(!host("http://localhost.example"));
        assert!(!host("http://[::2]"));
        assert!(!host("http://0.0.0.0"));
    }
}
