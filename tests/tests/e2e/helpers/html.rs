//! A small, forgiving HTML reader: enough to find forms, inputs and elements by id or class the
//! way a person finds them on a page, without pulling a full HTML5 parser into the test build.
//!
//! It tokenises tags and text, decodes character references (Tera escapes `/` as `&#x2F;`), and
//! matches end tags by name with nesting, which is all the server-rendered pages here need.

use std::collections::HashMap;

/// One tag or run of text in a document.
#[derive(Debug, Clone)]
enum Token {
    Start {
        name: String,
        attrs: Vec<(String, String)>,
        self_closing: bool,
    },
    End {
        name: String,
    },
    Text {
        text: String,
    },
}

/// Elements that never have an end tag.
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr",
];

fn tokenize(html: &str) -> Vec<Token> {
    let bytes = html.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    let mut text_start = 0;
    while i < bytes.len() {
        if bytes[i] != b'<' {
            i += 1;
            continue;
        }
        if text_start < i {
            tokens.push(Token::Text {
                text: decode_entities(&html[text_start..i]),
            });
        }
        if html[i..].starts_with("<!--") {
            let end = html[i..].find("-->").map_or(bytes.len(), |p| i + p + 3);
            i = end;
            text_start = i;
            continue;
        }
        if html[i..].starts_with("<!") || html[i..].starts_with("<?") {
            let end = html[i..].find('>').map_or(bytes.len(), |p| i + p + 1);
            i = end;
            text_start = i;
            continue;
        }
        let Some((token, next)) = parse_tag(html, i) else {
            // A lone `<` in text.
            i += 1;
            continue;
        };
        // Skip the raw content of script and style elements.
        let raw = match &token {
            Token::Start {
                name,
                self_closing: false,
                ..
            } if name == "script" || name == "style" => Some(name.clone()),
            _ => None,
        };
        tokens.push(token);
        i = next;
        if let Some(name) = raw {
            let close = format!("</{name}");
            let lower = html[i..].to_ascii_lowercase();
            let end = lower.find(&close).map_or(bytes.len(), |p| i + p);
            i = end;
        }
        text_start = i;
    }
    if text_start < bytes.len() {
        tokens.push(Token::Text {
            text: decode_entities(&html[text_start..]),
        });
    }
    tokens
}

/// Parses the tag starting at `start` (which holds `<`); returns the token and the offset after `>`.
fn parse_tag(html: &str, start: usize) -> Option<(Token, usize)> {
    let bytes = html.as_bytes();
    let mut i = start + 1;
    let closing = bytes.get(i) == Some(&b'/');
    if closing {
        i += 1;
    }
    let name_start = i;
    while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'-') {
        i += 1;
    }
    if i == name_start {
        return None;
    }
    let name = html[name_start..i].to_ascii_lowercase();
    let mut attrs = Vec::new();
    let mut self_closing = false;
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() {
            return None;
        }
        match bytes[i] {
            b'>' => {
                i += 1;
                break;
            }
            b'/' => {
                self_closing = true;
                i += 1;
                continue;
            }
            _ => {}
        }
        let key_start = i;
        while i < bytes.len()
            && !bytes[i].is_ascii_whitespace()
            && !matches!(bytes[i], b'=' | b'>' | b'/')
        {
            i += 1;
        }
        let key = html[key_start..i].to_ascii_lowercase();
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if bytes.get(i) == Some(&b'=') {
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            match bytes.get(i) {
                Some(&q @ (b'"' | b'\'')) => {
                    let rest = &html[i + 1..];
                    let len = rest.find(q as char)?;
                    value = decode_entities(&rest[..len]);
                    i += len + 2;
                }
                _ => {
                    let v_start = i;
                    while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' {
                        i += 1;
                    }
                    value = decode_entities(&html[v_start..i]);
                }
            }
        }
        if key.is_empty() {
            i += 1;
        } else {
            attrs.push((key, value));
        }
    }
    let token = if closing {
        Token::End { name }
    } else {
        Token::Start {
            name,
            attrs,
            self_closing,
        }
    };
    Some((token, i))
}

/// Decodes the character references the apps' templates produce (named basics and numeric).
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('&') {
        out.push_str(&rest[..pos]);
        rest = &rest[pos..];
        let Some(semi) = rest[..rest.len().min(12)].find(';') else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some(' '),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn collapse_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An element found in a document.
#[derive(Debug, Clone)]
pub struct Element {
    /// Lower-case tag name.
    pub name: String,
    /// Attributes in source order, values decoded.
    pub attrs: Vec<(String, String)>,
    /// The text inside the element, tags stripped, whitespace collapsed.
    pub text: String,
    /// Index of the start token (to scope searches to the element's content).
    first: usize,
    /// Index one past the end token.
    last: usize,
}

impl Element {
    /// The value of an attribute.
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the element's `class` attribute lists `class`.
    pub fn has_class(&self, class: &str) -> bool {
        self.attr("class")
            .is_some_and(|c| c.split_whitespace().any(|x| x == class))
    }
}

/// A parsed page.
#[derive(Debug, Clone)]
pub struct Document {
    tokens: Vec<Token>,
}

impl Document {
    /// Parses `html`.
    pub fn parse(html: &str) -> Self {
        Self {
            tokens: tokenize(html),
        }
    }

    fn element_at(&self, index: usize) -> Option<Element> {
        let Token::Start {
            name,
            attrs,
            self_closing,
            ..
        } = &self.tokens[index]
        else {
            return None;
        };
        let mut text = String::new();
        let mut last = index + 1;
        if !*self_closing && !VOID.contains(&name.as_str()) {
            let mut depth = 0usize;
            let mut j = index + 1;
            while j < self.tokens.len() {
                match &self.tokens[j] {
                    Token::Start {
                        name: n,
                        self_closing: false,
                        ..
                    } if n == name => depth += 1,
                    Token::End { name: n, .. } if n == name => {
                        if depth == 0 {
                            break;
                        }
                        depth -= 1;
                    }
                    Token::Text { text: t } => {
                        text.push_str(t);
                        text.push(' ');
                    }
                    Token::Start { name: n, .. } if n == "br" || n == "p" || n == "div" => {
                        text.push(' ');
                    }
                    _ => {}
                }
                j += 1;
            }
            last = (j + 1).min(self.tokens.len());
        }
        Some(Element {
            name: name.clone(),
            attrs: attrs.clone(),
            text: collapse_whitespace(&text),
            first: index,
            last,
        })
    }

    /// All elements, in document order, matching `pred`, within token range `range`.
    fn select_in(
        &self,
        range: std::ops::Range<usize>,
        pred: impl Fn(&str, &[(String, String)]) -> bool,
    ) -> Vec<Element> {
        range
            .filter(|&i| matches!(&self.tokens[i], Token::Start { name, attrs, .. } if pred(name, attrs)))
            .filter_map(|i| self.element_at(i))
            .collect()
    }

    /// All elements matching `pred` (tag name, attributes).
    pub fn select(&self, pred: impl Fn(&str, &[(String, String)]) -> bool) -> Vec<Element> {
        self.select_in(0..self.tokens.len(), pred)
    }

    /// The element with this `id`.
    pub fn by_id(&self, id: &str) -> Option<Element> {
        self.select(|_, attrs| attrs.iter().any(|(k, v)| k == "id" && v == id))
            .into_iter()
            .next()
    }

    /// All elements of tag `tag` with class `class`.
    pub fn by_class(&self, tag: &str, class: &str) -> Vec<Element> {
        self.select(|name, _| name == tag)
            .into_iter()
            .filter(|e| e.has_class(class))
            .collect()
    }

    /// All elements with tag `tag`.
    pub fn by_tag(&self, tag: &str) -> Vec<Element> {
        self.select(|name, _| name == tag)
    }

    /// The visible text of the whole page (tags stripped, whitespace collapsed).
    pub fn text(&self) -> String {
        let mut text = String::new();
        for token in &self.tokens {
            if let Token::Text { text: t } = token {
                text.push_str(t);
                text.push(' ');
            }
        }
        collapse_whitespace(&text)
    }

    /// The page `<title>`.
    pub fn title(&self) -> Option<String> {
        self.by_tag("title").into_iter().next().map(|e| e.text)
    }

    /// Every form on the page.
    pub fn forms(&self) -> Vec<Form> {
        self.by_tag("form")
            .into_iter()
            .map(|f| self.form_of(&f))
            .collect()
    }

    /// The form with this `id`.
    pub fn form(&self, id: &str) -> Option<Form> {
        self.forms()
            .into_iter()
            .find(|f| f.id.as_deref() == Some(id))
    }

    /// The first form whose action contains `needle`.
    pub fn form_with_action(&self, needle: &str) -> Option<Form> {
        self.forms().into_iter().find(|f| f.action.contains(needle))
    }

    /// The `href` of every link, decoded.
    pub fn links(&self) -> Vec<(String, String)> {
        self.by_tag("a")
            .into_iter()
            .filter_map(|a| a.attr("href").map(|h| (a.text.clone(), h.to_owned())))
            .collect()
    }

    fn form_of(&self, form: &Element) -> Form {
        let inner = form.first + 1..form.last.saturating_sub(1).max(form.first + 1);
        let mut fields = Vec::new();
        let mut buttons = Vec::new();
        for el in self.select_in(inner.clone(), |n, _| {
            matches!(n, "input" | "button" | "select" | "textarea")
        }) {
            let name = el.attr("name").unwrap_or_default().to_owned();
            match el.name.as_str() {
                "input" => {
                    let kind = el.attr("type").unwrap_or("text").to_ascii_lowercase();
                    let value = el.attr("value").unwrap_or_default().to_owned();
                    match kind.as_str() {
                        "submit" | "image" => buttons.push(Button {
                            name,
                            value,
                            id: el.attr("id").map(str::to_owned),
                            label: el.attr("value").unwrap_or_default().to_owned(),
                        }),
                        "checkbox" | "radio"
                            if el.attr("checked").is_some() && !name.is_empty() =>
                        {
                            let value = if el.attr("value").is_none() {
                                "on".into()
                            } else {
                                value
                            };
                            fields.push((name, value));
                        }
                        "checkbox" | "radio" => {}
                        "button" | "reset" | "file" => {}
                        _ if !name.is_empty() => fields.push((name, value)),
                        _ => {}
                    }
                }
                "button" => {
                    let kind = el.attr("type").unwrap_or("submit").to_ascii_lowercase();
                    if kind == "submit" {
                        buttons.push(Button {
                            name,
                            value: el.attr("value").unwrap_or_default().to_owned(),
                            id: el.attr("id").map(str::to_owned),
                            label: el.text.clone(),
                        });
                    }
                }
                "textarea" if !name.is_empty() => fields.push((name, el.text.clone())),
                "select" if !name.is_empty() => {
                    let options = self.select_in(el.first..el.last, |n, _| n == "option");
                    let chosen = options
                        .iter()
                        .find(|o| o.attr("selected").is_some())
                        .or_else(|| options.first());
                    if let Some(o) = chosen {
                        let v = o
                            .attr("value")
                            .map_or_else(|| o.text.clone(), str::to_owned);
                        fields.push((name, v));
                    }
                }
                _ => {}
            }
        }
        Form {
            id: form.attr("id").map(str::to_owned),
            action: form.attr("action").unwrap_or_default().to_owned(),
            method: form.attr("method").unwrap_or("get").to_ascii_uppercase(),
            fields,
            buttons,
        }
    }
}

/// A submit button of a form.
#[derive(Debug, Clone)]
pub struct Button {
    /// `name` (may be empty: then the button adds nothing to the submission).
    pub name: String,
    /// `value`.
    pub value: String,
    /// `id`, if any.
    pub id: Option<String>,
    /// What the person reads on the button.
    pub label: String,
}

/// A form as a browser would submit it.
#[derive(Debug, Clone)]
pub struct Form {
    /// The form's `id`.
    pub id: Option<String>,
    /// The `action` attribute as written (possibly relative or empty).
    pub action: String,
    /// `GET` or `POST`.
    pub method: String,
    /// The successful controls with their current values, in document order.
    pub fields: Vec<(String, String)>,
    /// The submit buttons.
    pub buttons: Vec<Button>,
}

impl Form {
    /// The current value of a field.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Sets a field, as typing into it would (adds it if the page had no such control).
    pub fn set(&mut self, name: &str, value: impl Into<String>) -> &mut Self {
        let value = value.into();
        match self.fields.iter_mut().find(|(k, _)| k == name) {
            Some(field) => field.1 = value,
            None => self.fields.push((name.to_owned(), value)),
        }
        self
    }

    /// Removes a field (e.g. to submit without the CSRF token).
    pub fn remove(&mut self, name: &str) -> &mut Self {
        self.fields.retain(|(k, _)| k != name);
        self
    }

    /// The fields to submit when `button` (by name, id or label) is pressed; `None` presses the
    /// first submit button, as Enter does.
    pub fn submission(&self, button: Option<&str>) -> Vec<(String, String)> {
        let mut fields = self.fields.clone();
        let pressed = match button {
            Some(b) => self.buttons.iter().find(|x| {
                x.name == b || x.id.as_deref() == Some(b) || x.label == b || x.value == b
            }),
            None => self.buttons.first(),
        };
        if let Some(pressed) = pressed
            && !pressed.name.is_empty()
        {
            fields.push((pressed.name.clone(), pressed.value.clone()));
        }
        fields
    }

    /// The fields as a map (last value wins), for assertions.
    pub fn field_map(&self) -> HashMap<String, String> {
        self.fields.iter().cloned().collect()
    }
}
