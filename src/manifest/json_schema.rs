//! The JSON Schema of manifest format 1, derived from [`super::schema`]'s
//! types (for editors: taplo, Even Better TOML), and the key tables of
//! docs/manifest.md generated from it, so each key is documented once.

use std::fmt::Write as _;

use schemars::generate::SchemaSettings;
use serde_json::Value;

use super::schema::Manifest;

/// Where the committed schema lives, relative to the repository.
pub const SCHEMA_PATH: &str = "docs/apps.schema.json";

/// The schema, as `wasmunit schema` prints it and the repository holds it.
pub fn schema() -> Value {
    let generator = SchemaSettings::draft2020_12().into_generator();
    let mut schema = generator.into_root_schema_for::<Manifest>().to_value();
    strip_null(&mut schema);
    if let Value::Object(map) = &mut schema {
        map.insert(
            "$id".into(),
            Value::String(format!("https://wasmunit.dev/{SCHEMA_PATH}")),
        );
    }
    schema
}

/// TOML has no null: a key is left out instead. schemars allows null for
/// every `Option`; take it out again (and unwrap doc-comment lines).
fn strip_null(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.remove(0);
                    map.insert("type".into(), only);
                }
            }
            if let Some(Value::Array(values)) = map.get_mut("enum") {
                values.retain(|x| !x.is_null());
            }
            for key in ["oneOf", "anyOf"] {
                if let Some(Value::Array(alts)) = map.get_mut(key) {
                    alts.retain(|a| {
                        a.get("type").and_then(Value::as_str) != Some("null")
                            && a.get("const") != Some(&Value::Null)
                    });
                }
                // One alternative left: it is the schema.
                let single = matches!(map.get(key), Some(Value::Array(a)) if a.len() == 1);
                if single {
                    if let Some(Value::Array(mut alts)) = map.remove(key) {
                        if let Value::Object(inner) = alts.remove(0) {
                            for (k, x) in inner {
                                map.entry(k).or_insert(x);
                            }
                        }
                    }
                }
            }
            // Doc comments wrap at 80 columns; a description is one paragraph.
            if let Some(Value::String(d)) = map.get_mut("description") {
                *d = d
                    .split("\n\n")
                    .map(|p| p.replace('\n', " "))
                    .collect::<Vec<_>>()
                    .join("\n\n");
            }
            for x in map.values_mut() {
                strip_null(x);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip_null),
        _ => {}
    }
}

/// The schema as pretty JSON with a final newline.
pub fn schema_text() -> String {
    let mut s = serde_json::to_string_pretty(&schema()).unwrap_or_default();
    s.push('\n');
    s
}

/// The Markdown tables of docs/manifest.md: the top-level keys, then the
/// app keys, each with its type, default and description from the schema.
pub fn keys_markdown() -> String {
    let schema = schema();
    let defs = &schema["$defs"];
    let mut out = String::from("| key | type | default | meaning |\n|---|---|---|---|\n");
    table_rows(&mut out, &schema, defs, "");
    out.push_str("\nApp keys (also valid in `[defaults]`):\n\n");
    out.push_str("| key | type | default | meaning |\n|---|---|---|---|\n");
    table_rows(&mut out, &defs["AppSpec"], defs, "");
    out
}

fn table_rows(out: &mut String, object: &Value, defs: &Value, prefix: &str) {
    let required: Vec<&str> = object["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(props) = object["properties"].as_object() else {
        return;
    };
    for (key, prop) in props {
        let name = if key == "app" {
            "app.NAME".to_owned()
        } else {
            format!("{prefix}{key}")
        };
        let default = match prop.get("default") {
            Some(v) => format!("`{}`", toml_literal(v)),
            None if required.contains(&key.as_str()) => "required".to_owned(),
            None => "none".to_owned(),
        };
        let meaning = description(prop, defs)
            .replace('\n', " ")
            .replace('|', "\\|");
        let _ = writeln!(
            out,
            "| `{name}` | {} | {default} | {meaning} |",
            type_text(prop, defs).replace('|', "\\|")
        );
    }
}

fn resolve<'a>(v: &'a Value, defs: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => &defs[r.trim_start_matches("#/$defs/")],
        None => v,
    }
}

fn description(prop: &Value, defs: &Value) -> String {
    prop.get("description")
        .or_else(|| resolve(prop, defs).get("description"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

/// A short human type: `string`, `list of strings`, `"a", "b"`, …
fn type_text(prop: &Value, defs: &Value) -> String {
    let v = resolve(prop, defs);
    if let Some(alts) = v
        .get("oneOf")
        .or_else(|| v.get("anyOf"))
        .and_then(Value::as_array)
    {
        let parts: Vec<String> = alts.iter().map(|a| type_text(a, defs)).collect();
        return parts.join(" or ");
    }
    if let Some(c) = v.get("const") {
        return format!("`{}`", toml_literal(c));
    }
    if let Some(e) = v.get("enum").and_then(Value::as_array) {
        let parts: Vec<String> = e.iter().map(|x| format!("`{}`", toml_literal(x))).collect();
        return parts.join(", ");
    }
    match v.get("type").and_then(Value::as_str) {
        Some("array") => format!("list of {}", plural(&type_text(&v["items"], defs))),
        Some("object") if v["properties"].as_object().is_some_and(|p| p.len() > 4) => {
            "table".to_owned()
        }
        Some("object") if v.get("properties").is_some() => {
            let keys: Vec<&str> = v["properties"]
                .as_object()
                .map(|p| p.keys().map(String::as_str).collect())
                .unwrap_or_default();
            format!("table `{{ {} }}`", keys.join(", "))
        }
        Some("object") => match v.get("additionalProperties") {
            Some(inner) if inner.is_object() => {
                format!("table of {}", plural(&type_text(inner, defs)))
            }
            _ => "table".to_owned(),
        },
        Some("boolean") => "bool".to_owned(),
        Some(t) => t.to_owned(),
        None => "any".to_owned(),
    }
}

fn plural(t: &str) -> String {
    match t {
        "string" | "integer" | "bool" => format!("{t}s"),
        other => other.to_owned(),
    }
}

fn toml_literal(v: &Value) -> String {
    match v {
        Value::Array(a) if a.is_empty() => "[]".to_owned(),
        Value::Object(o) if o.is_empty() => "{}".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_app_key_is_documented_and_unknown_keys_are_closed() {
        let s = schema();
        let app = &s["$defs"]["AppSpec"];
        assert_eq!(app["additionalProperties"], Value::Bool(false));
        for (key, prop) in app["properties"].as_object().expect("properties") {
            assert!(
                !description(prop, &s["$defs"]).is_empty(),
                "`{key}` has no documentation"
            );
        }
        let md = keys_markdown();
        assert!(
            md.contains("| `memory` | integer or string | none |"),
            "{md}"
        );
        assert!(md.contains("| `version` | integer | required |"), "{md}");
    }
}
