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

/// Checks a track's `redirectUrl` for the Server API: [`parse_redirect_url`], then `https` and an
/// origin on `allowed` (serialised origins), as a real tenant restricts redirect URLs to its
/// configured domains. The pages keep using [`parse_redirect_url`] on what track stored.
pub fn check_track_redirect_url(value: &str, allowed: &[String]) -> Result<Url, String> {
    let url = parse_redirect_url(value)?;
    if url.scheme() != "https" {
        return Err(format!(
            "invalid redirectUrl '{}': scheme '{}' is not https",
            super::action_code::truncate(value),
            url.scheme()
        ));
    }
    let origin = url.origin().ascii_serialization();
    if !allowed.iter().any(|a| a == &origin) {
        return Err(format!(
            "invalid redirectUrl '{}': origin '{origin}' is not an allowed redirect origin",
            super::action_code::truncate(value)
        ));
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
}
