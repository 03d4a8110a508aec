//! Subsonic's XML from the same [`Value`] as its JSON: an object is an element whose scalar
//! fields are attributes; an object field is a child element of that name, an array field one
//! child element per item (`{"song": [a, b]}` is `<song .../><song .../>`); a field `value` is
//! the element's text (`<genre songCount="3">Jazz</genre>`).

use serde_json::Value;

/// The field whose value is an element's text.
const TEXT: &str = "value";

/// The whole document, `name` the root element (with Subsonic's namespace).
pub(super) fn document(name: &str, value: &Value) -> String {
    let mut out = String::from(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    element(name, value, Some("http://subsonic.org/restapi"), &mut out);
    out
}

fn element(name: &str, value: &Value, namespace: Option<&str>, out: &mut String) {
    out.push('<');
    out.push_str(name);
    if let Some(ns) = namespace {
        out.push_str(&format!(r#" xmlns="{ns}""#));
    }
    let Value::Object(map) = value else {
        // A scalar item of a list: its text.
        out.push('>');
        out.push_str(&escape(&scalar(value)));
        out.push_str(&format!("</{name}>"));
        return;
    };
    for (key, v) in map {
        if key != TEXT && !matches!(v, Value::Object(_) | Value::Array(_) | Value::Null) {
            out.push_str(&format!(r#" {key}="{}""#, escape(&scalar(v))));
        }
    }
    let children: Vec<_> = map
        .iter()
        .filter(|(_, v)| matches!(v, Value::Object(_) | Value::Array(_)))
        .collect();
    if let Some(text) = map.get(TEXT).filter(|v| !v.is_object() && !v.is_array()) {
        out.push('>');
        out.push_str(&escape(&scalar(text)));
        out.push_str(&format!("</{name}>"));
        return;
    }
    if children.is_empty() {
        out.push_str("/>");
        return;
    }
    out.push('>');
    for (key, v) in children {
        match v {
            Value::Array(items) => items.iter().for_each(|item| element(key, item, None, out)),
            child => element(key, child, None, out),
        }
    }
    out.push_str(&format!("</{name}>"));
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_become_elements_scalars_attributes_and_lists_repeated_children() {
        let value = json!({
            "status": "ok",
            "album": {"id": "al-1", "name": "A & <B>", "song": [{"id": "1"}, {"id": "2"}]},
            "empty": [],
            "genre": [{"value": "Jazz & Blues", "songCount": 3}],
        });
        assert_eq!(
            document("subsonic-response", &value),
            r#"<?xml version="1.0" encoding="UTF-8"?><subsonic-response xmlns="http://subsonic.org/restapi" status="ok"><album id="al-1" name="A &amp; &lt;B&gt;"><song id="1"/><song id="2"/></album><genre songCount="3">Jazz &amp; Blues</genre></subsonic-response>"#
        );
    }
}
