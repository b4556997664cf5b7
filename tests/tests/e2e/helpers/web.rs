//! A browser made of an HTTP client: a cookie jar, the test CA and nothing else trusted, and
//! redirects followed by our own code one hop at a time so that every hop can be asserted
//! (status, `Location`, `Set-Cookie`, caching headers).

use std::sync::Arc;

use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::{HeaderMap, LOCATION};
use reqwest::{Method, StatusCode};
use url::Url;

use super::html::{Document, Form};

/// How many redirects a navigation may take before we call it a loop (browsers use 20).
const MAX_HOPS: usize = 20;

/// One request/response exchange of a navigation.
#[derive(Debug, Clone)]
pub struct Hop {
    /// The method used.
    pub method: Method,
    /// The requested URL.
    pub url: Url,
    /// The answer's status.
    pub status: StatusCode,
    /// The answer's headers.
    pub headers: HeaderMap,
    /// Where a redirect pointed (resolved against `url`).
    pub location: Option<Url>,
}

impl Hop {
    /// All `Set-Cookie` header values of this hop.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }

    /// A header value as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

/// The page a navigation ended on, with the hops that led there.
#[derive(Debug, Clone)]
pub struct Page {
    /// Every exchange, first to last; the last one is the page itself.
    pub hops: Vec<Hop>,
    /// The final URL.
    pub url: Url,
    /// The final status.
    pub status: StatusCode,
    /// The final headers.
    pub headers: HeaderMap,
    /// The body as text.
    pub body: String,
}

impl Page {
    /// The parsed document.
    pub fn doc(&self) -> Document {
        Document::parse(&self.body)
    }

    /// The visible text, whitespace collapsed.
    pub fn text(&self) -> String {
        self.doc().text()
    }

    /// Whether the visible text contains `needle`.
    pub fn shows(&self, needle: &str) -> bool {
        self.text().contains(needle)
    }

    /// The form with this id; panics with the page text when it is missing.
    pub fn form(&self, id: &str) -> Form {
        self.doc().form(id).unwrap_or_else(|| {
            panic!(
                "no form '{id}' on {} ({}); forms: {:?}; page text: {}",
                self.url,
                self.status,
                self.doc()
                    .forms()
                    .iter()
                    .map(|f| (&f.id, &f.action))
                    .collect::<Vec<_>>(),
                self.excerpt()
            )
        })
    }

    /// The text of the element with this id; panics with the page text when it is missing.
    pub fn text_of(&self, id: &str) -> String {
        self.doc()
            .by_id(id)
            .unwrap_or_else(|| {
                panic!(
                    "no element '{id}' on {}; page text: {}",
                    self.url,
                    self.excerpt()
                )
            })
            .text
    }

    /// Where the final answer redirects to (when the navigation stopped at a redirect).
    pub fn location(&self) -> Option<&Url> {
        self.hops.last().and_then(|h| h.location.as_ref())
    }

    /// A query parameter of the final URL.
    pub fn query(&self, name: &str) -> Option<String> {
        query_param(&self.url, name)
    }

    /// The first hop whose URL path is `path`.
    pub fn hop_to(&self, path: &str) -> Option<&Hop> {
        self.hops.iter().find(|h| h.url.path() == path)
    }

    /// Whether any hop went to `path`.
    pub fn went_through(&self, path: &str) -> bool {
        self.hop_to(path).is_some()
    }

    /// The hop paths, for failure messages.
    pub fn trail(&self) -> String {
        self.hops
            .iter()
            .map(|h| format!("{} {} -> {}", h.method, h.url, h.status.as_u16()))
            .collect::<Vec<_>>()
            .join("\n  ")
    }

    /// The start of the page text, for failure messages.
    pub fn excerpt(&self) -> String {
        let text = self.text();
        let cut: String = text.chars().take(600).collect();
        format!("{cut}\n  trail:\n  {}", self.trail())
    }
}

/// A browser profile: one cookie jar. A "new browser" is a new `WebBrowser`.
#[derive(Debug, Clone)]
pub struct WebBrowser {
    client: reqwest::Client,
    jar: Arc<Jar>,
    user_agent: String,
    /// The emulator's outbox, standing in for the person's mailbox (codes sent by email).
    mailbox: Option<authsignal_emulator::EmulatorHandle>,
}

impl WebBrowser {
    /// A fresh profile trusting only the test CA.
    pub fn new(ca_pem: &str) -> Self {
        Self::build(ca_pem, true)
    }

    /// A fresh profile that opens a new connection for every request (behind a load balancer
    /// that picks a backend per connection, every request may land on another one).
    pub fn new_unpooled(ca_pem: &str) -> Self {
        Self::build(ca_pem, false)
    }

    fn build(ca_pem: &str, pooled: bool) -> Self {
        let jar = Arc::new(Jar::default());
        let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("test CA parses");
        let user_agent = "e2e-test-browser/1.0 (like Chromium)".to_owned();
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca)
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(user_agent.clone())
            .timeout(std::time::Duration::from_secs(30))
            .pool_max_idle_per_host(if pooled { usize::MAX } else { 0 })
            .build()
            .expect("http client builds");
        Self {
            client,
            jar,
            user_agent,
            mailbox: None,
        }
    }

    /// This profile, reading its person's email in `emulator`'s outbox.
    pub fn with_mailbox(mut self, emulator: authsignal_emulator::EmulatorHandle) -> Self {
        self.mailbox = Some(emulator);
        self
    }

    /// The person's mailbox, if the browser has one.
    pub fn mailbox(&self) -> Option<&authsignal_emulator::EmulatorHandle> {
        self.mailbox.as_ref()
    }

    /// The underlying client (shares the cookie jar), for raw requests.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The User-Agent header this browser sends.
    pub fn user_agent(&self) -> &str {
        &self.user_agent
    }

    /// The `Cookie` header this browser would send to `url`.
    pub fn cookies_for(&self, url: &str) -> String {
        let url = Url::parse(url).expect("valid url");
        self.jar
            .cookies(&url)
            .and_then(|v| v.to_str().ok().map(str::to_owned))
            .unwrap_or_default()
    }

    /// Puts a cookie into the jar as if `url` had set it (e.g. to keep a cookie the server
    /// wanted gone, as an attacker's browser would).
    pub fn set_cookie(&self, url: &str, cookie: &str) {
        self.jar
            .add_cookie_str(cookie, &Url::parse(url).expect("valid url"));
    }

    /// One request, no redirect following.
    pub async fn request(
        &self,
        method: Method,
        url: &Url,
        form: Option<&[(String, String)]>,
    ) -> (Hop, String) {
        let mut req = self.client.request(method.clone(), url.clone());
        if let Some(form) = form {
            req = req.form(form);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {url} failed: {e:?}"));
        let status = resp.status();
        let headers = resp.headers().clone();
        let location = headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|l| url.join(l).ok());
        let body = resp.text().await.unwrap_or_default();
        (
            Hop {
                method,
                url: url.clone(),
                status,
                headers,
                location,
            },
            body,
        )
    }

    /// Opens `url` (typing it in the address bar) and follows redirects.
    pub async fn open(&self, url: &str) -> Page {
        let url = Url::parse(url).unwrap_or_else(|e| panic!("bad url '{url}': {e}"));
        self.navigate(Method::GET, url, None).await
    }

    /// Submits a form of `page` (pressing `button`, or the first one) and follows redirects.
    pub async fn submit(&self, page: &Page, form: &Form, button: Option<&str>) -> Page {
        let action = if form.action.is_empty() {
            page.url.clone()
        } else {
            page.url
                .join(&form.action)
                .unwrap_or_else(|e| panic!("bad form action '{}': {e}", form.action))
        };
        let fields = form.submission(button);
        if form.method == "POST" {
            self.navigate(Method::POST, action, Some(&fields)).await
        } else {
            let mut action = action;
            action.query_pairs_mut().clear().extend_pairs(fields.iter());
            self.navigate(Method::GET, action, None).await
        }
    }

    /// Follows the link whose id or text is `label` (or whose href contains it).
    pub async fn click_link(&self, page: &Page, label: &str) -> Page {
        let links = page.doc().by_tag("a");
        let href = links
            .iter()
            .find(|a| a.attr("id") == Some(label) || a.text == label)
            .or_else(|| {
                links.iter().find(|a| {
                    a.text.contains(label) || a.attr("href").is_some_and(|h| h.contains(label))
                })
            })
            .and_then(|a| a.attr("href"))
            .unwrap_or_else(|| {
                panic!(
                    "no link '{label}' on {}; links: {:?}",
                    page.url,
                    page.doc().links()
                )
            })
            .to_owned();
        let url = page.url.join(&href).expect("link resolves");
        self.navigate(Method::GET, url, None).await
    }

    /// Sends a request and follows redirects hop by hop like a browser: 301/302/303 become GET,
    /// 307/308 repeat the method and body.
    pub async fn navigate(
        &self,
        method: Method,
        url: Url,
        form: Option<&[(String, String)]>,
    ) -> Page {
        self.navigate_until(method, url, form, |_| false).await
    }

    /// Opens `url` and follows redirects, but does not follow one to a URL for which `stop` is
    /// true: the page is then that redirect (see [`Page::location`]). Used to catch an
    /// authorization code on its way to the client, as an attacker or a test would.
    pub async fn open_until(&self, url: &str, stop: impl Fn(&Url) -> bool) -> Page {
        let url = Url::parse(url).unwrap_or_else(|e| panic!("bad url '{url}': {e}"));
        self.navigate_until(Method::GET, url, None, stop).await
    }

    /// Submits a form like [`WebBrowser::submit`], stopping before a redirect to a URL for which
    /// `stop` is true.
    pub async fn submit_until(
        &self,
        page: &Page,
        form: &Form,
        button: Option<&str>,
        stop: impl Fn(&Url) -> bool,
    ) -> Page {
        assert_eq!(form.method, "POST", "submit_until handles POST forms");
        let action = page.url.join(&form.action).expect("form action resolves");
        self.navigate_until(Method::POST, action, Some(&form.submission(button)), stop)
            .await
    }

    /// [`WebBrowser::navigate`] with a stop condition on redirect targets.
    pub async fn navigate_until(
        &self,
        method: Method,
        url: Url,
        form: Option<&[(String, String)]>,
        stop: impl Fn(&Url) -> bool,
    ) -> Page {
        let mut hops = Vec::new();
        let mut method = method;
        let mut url = url;
        let mut form = form.map(<[_]>::to_vec);
        loop {
            let (hop, body) = self.request(method.clone(), &url, form.as_deref()).await;
            let redirect =
                hop.status.is_redirection() && hop.location.as_ref().is_some_and(|l| !stop(l));
            let next = hop.location.clone();
            let status = hop.status;
            let headers = hop.headers.clone();
            hops.push(hop);
            if !redirect {
                return Page {
                    hops,
                    url,
                    status,
                    headers,
                    body,
                };
            }
            assert!(hops.len() < MAX_HOPS, "redirect loop:\n  {}", trail(&hops));
            let next = next.expect("redirect has a location");
            assert_eq!(next.scheme(), "https", "redirected off HTTPS to {next}");
            if !matches!(status.as_u16(), 307 | 308) {
                method = Method::GET;
                form = None;
            }
            url = next;
        }
    }
}

fn trail(hops: &[Hop]) -> String {
    hops.iter()
        .map(|h| format!("{} {} -> {}", h.method, h.url, h.status.as_u16()))
        .collect::<Vec<_>>()
        .join("\n  ")
}

/// A query parameter of `url`.
pub fn query_param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}
