//! The few HTML pages the IdP shows people: one layout, everything escaped.

use crate::saml::xml::escape;

pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<style>body{{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#1d1d1f}}\
code,pre{{background:#f3f3f5;padding:.1rem .3rem;border-radius:3px}}pre{{padding:.6rem;overflow:auto}}\
.error{{border-left:4px solid #c62828;padding:.4rem .8rem;background:#fdecea}}\
button{{margin:.2rem 0;padding:.4rem .8rem;cursor:pointer}}table{{border-collapse:collapse}}td,th{{padding:.2rem .6rem;text-align:left;border-bottom:1px solid #ddd}}</style>\
</head><body><h1>{t}</h1>\n{body}\n<p><small>fakta, a fake Okta for tests and local development</small></p></body></html>\n",
        t = escape(title),
    )
}

pub fn e(s: &str) -> String {
    escape(s)
}
