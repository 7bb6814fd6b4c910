//! Manifest parsing, the way `kubectl create -f` reads files.
//!
//! [`parse_documents`] takes the text of a file (or of stdin) and returns the objects in it:
//!
//! 1. **Syntax.** Text whose first non-blank character is `{` or `[` is JSON (one object, or
//!    several concatenated); anything else is YAML, possibly several `---`-separated documents.
//!    Empty documents are skipped. YAML is read with the YAML 1.2 core schema: only
//!    `true`/`false` are booleans, so `yes`, `on` or `y` stay strings. A `null` field is treated
//!    as absent, as Kubernetes does.
//! 2. **Lists.** A `kind: List` object (or any `<Kind>List` with `items`) is replaced by its
//!    items, in order.
//! 3. **Kind.** `apiVersion` and `kind` select the Rust type ([`Object`]); an unknown pair is
//!    refused with kubectl's `no matches for kind "Deployment" in version "apps/v1"`.
//! 4. **Strict decoding.** Every unknown field is reported with its path
//!    (`unknown field "spec.template.spec.containers[0].imagee"`), and every wrongly typed value
//!    with its path (`spec.parallelism: Invalid value: "two": expected a 32-bit integer`).
//! 5. **Validation.** The decoded object is validated ([`crate::validation`]); its errors are
//!    reported together with those of step 4.
//!
//! The objects returned are as the user wrote them: defaults are **not** applied. The caller
//! applies them (`Job::apply_defaults`) before storing.
//!
//! [`expand_template`] implements the `$ITEM` substitution of the "Parallel Processing using
//! Expansions" pattern.
//!
//! This module does no IO: the caller reads the file and passes its name for messages.
#![allow(
    clippy::result_large_err,
    reason = "manifests are parsed once per command; a flat error with public fields is easier \
              to use than a boxed one, and its size costs nothing measurable here"
)]

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::cronjob::{self, CronJob};
use crate::job::{self, Job};
use crate::meta::ObjectMeta;
use crate::validation::{self, FieldError, FieldErrorKind, render_value};

/// Guards against pathological inputs in the decode-and-retry loop of [`decode_strict`].
const MAX_DECODE_ATTEMPTS: usize = 64;

/// An object read from a manifest, of one of the kinds Drover serves.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
// Objects are decoded and handled one at a time, so the size of the larger variant costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Object {
    /// A batch/v1 Job.
    Job(Job),
    /// A batch/v1 (or batch/v1beta1) CronJob.
    CronJob(CronJob),
}

/// The kinds [`parse_documents`] accepts, as `(apiVersion, kind)`.
pub const KINDS: &[(&str, &str)] = &[
    (job::API_VERSION, job::KIND),
    (cronjob::API_VERSION, cronjob::KIND),
    (cronjob::API_VERSION_V1BETA1, cronjob::KIND),
];

impl Object {
    /// The object's `kind`, such as `Job`.
    pub fn kind(&self) -> &'static str {
        match self {
            Object::Job(_) => job::KIND,
            Object::CronJob(_) => cronjob::KIND,
        }
    }

    /// The object's `apiVersion`, such as `batch/v1`.
    pub fn api_version(&self) -> &'static str {
        match self {
            Object::Job(_) => job::API_VERSION,
            Object::CronJob(_) => cronjob::API_VERSION,
        }
    }

    /// The object's metadata.
    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Object::Job(job) => &job.metadata,
            Object::CronJob(cj) => &cj.metadata,
        }
    }

    /// The object's name; empty when it has only a `generateName`.
    pub fn name(&self) -> &str {
        &self.metadata().name
    }

    /// Validates the object on create ([`validation::validate_job`], [`validation::validate_cronjob`]).
    ///
    /// # Errors
    ///
    /// Every field error found.
    pub fn validate(&self) -> Result<(), validation::ValidationErrors> {
        match self {
            Object::Job(job) => validation::validate_job(job),
            Object::CronJob(cj) => validation::validate_cronjob(cj),
        }
    }

    /// Applies the kind's defaults in place.
    pub fn apply_defaults(&mut self) {
        match self {
            Object::Job(job) => job.apply_defaults(),
            Object::CronJob(cj) => cj.apply_defaults(),
        }
    }
}

/// Why a manifest was refused; see [`ManifestError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestErrorKind {
    /// The text is not YAML or JSON. `line` and `column` are 1-based, when the parser knows them.
    Syntax {
        /// The line of the error.
        line: Option<u64>,
        /// The column of the error.
        column: Option<u64>,
    },
    /// A document is not an object, or has no `apiVersion` or `kind`.
    Malformed,
    /// `apiVersion` and `kind` name no kind Drover serves.
    NoMatch,
    /// The object has unknown fields, wrongly typed values or fails validation; the errors are
    /// in [`ManifestError::field_errors`].
    Invalid,
}

/// A manifest that `create -f` must refuse.
///
/// `Display` is the text kubectl prints, so a CLI prints it as is:
///
/// - syntax: `error: error parsing job.yaml: yaml: line 2, column 4: mapping values are not
///   allowed in this context`
/// - malformed: `error: error validating "job.yaml": error validating data: kind not set`
/// - unknown kind: `error: resource mapping not found for name: "web" namespace: "" from
///   "deploy.yaml": no matches for kind "Deployment" in version "apps/v1"`
/// - invalid: `The Job "pi" is invalid: spec.parallelism: Invalid value: -1: must be greater
///   than or equal to 0`, or with several errors `The Job "pi" is invalid: ` followed by one
///   `\n* <error>` line per error. Unknown fields show as `unknown field "spec.foo"`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", self.render())]
pub struct ManifestError {
    /// The file name, or `<stdin>`.
    pub source_name: String,
    /// The 0-based index of the document in the source, counting non-empty YAML documents (or
    /// JSON values). `None` for syntax errors, which stop the whole source.
    pub document: Option<usize>,
    /// The 0-based index of the item when the document is a `List`.
    pub item: Option<usize>,
    /// The object's `kind`, when known.
    pub kind: Option<String>,
    /// The object's `metadata.name`, when known.
    pub name: Option<String>,
    /// What went wrong.
    pub reason: ManifestErrorKind,
    /// Every problem, as text (for `Invalid`, the `Display` of each field error).
    pub messages: Vec<String>,
    /// For `Invalid`: every problem, structured. Empty otherwise.
    pub field_errors: Vec<FieldError>,
}

impl ManifestError {
    fn render(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = self.write_to(&mut text);
        text
    }

    fn write_to(&self, f: &mut impl fmt::Write) -> fmt::Result {
        let quoted_source = render_value(self.source_name.as_str());
        match self.reason {
            ManifestErrorKind::Syntax { .. } => {
                write!(f, "error: error parsing {}: {}", self.source_name, self.messages.join("; "))
            }
            ManifestErrorKind::Malformed => {
                write!(f, "error: error validating {quoted_source}")?;
                if self.document.unwrap_or(0) > 0 || self.item.is_some() {
                    write!(f, " ({})", self.position())?;
                }
                match self.messages.as_slice() {
                    [one] => write!(f, ": error validating data: {one}"),
                    many => write!(f, ": error validating data: [{}]", many.join(", ")),
                }
            }
            ManifestErrorKind::NoMatch => write!(
                f,
                "error: resource mapping not found for name: {} namespace: \"\" from {quoted_source}: {}",
                render_value(self.name.as_deref().unwrap_or("")),
                self.messages.join("; "),
            ),
            ManifestErrorKind::Invalid => f.write_str(&validation::invalid_message(
                self.kind.as_deref().unwrap_or("object"),
                self.name.as_deref().unwrap_or(""),
                &self.messages,
            )),
        }
    }

    /// `document 2` or `document 1, item 3` (1-based, for people).
    pub fn position(&self) -> String {
        let doc = self.document.map_or(String::from("document ?"), |d| format!("document {}", d + 1));
        match self.item {
            Some(i) => format!("{doc}, item {}", i + 1),
            None => doc,
        }
    }

    fn at(source: &str, document: usize, item: Option<usize>, reason: ManifestErrorKind) -> Self {
        ManifestError {
            source_name: source.to_string(),
            document: Some(document),
            item,
            kind: None,
            name: None,
            reason,
            messages: Vec::new(),
            field_errors: Vec::new(),
        }
    }
}

/// Parses every object in a manifest, as `kubectl create -f` does, and validates each.
///
/// `source` names the text in messages: the file name, or `<stdin>`. See the module
/// documentation for the steps. Defaults are not applied to the objects returned.
///
/// # Errors
///
/// The first document (or List item) that cannot be used, with all of its problems; a syntax
/// error refuses the whole source. Use [`parse_each`] to keep the good objects of a file with
/// some bad ones.
pub fn parse_documents(text: &str, source: &str) -> Result<Vec<Object>, ManifestError> {
    parse_each(text, source)?.into_iter().collect()
}

/// Like [`parse_documents`], but with one result per object, so that a caller can create the
/// valid objects and report the others, as kubectl does for a file with several documents.
///
/// # Errors
///
/// Only a syntax error (which stops the whole source) is returned as the outer error.
pub fn parse_each(text: &str, source: &str) -> Result<Vec<Result<Object, ManifestError>>, ManifestError> {
    let documents = split_documents(text, source)?;
    let mut out = Vec::new();
    for (index, document) in documents.into_iter().enumerate() {
        expand_list(document, source, index, None, &mut out);
    }
    Ok(out)
}

/// Decodes one object that is already parsed (for example an API request body): kind dispatch,
/// strict decoding and validation, as for one document of [`parse_documents`].
///
/// # Errors
///
/// As for [`parse_documents`], with `document` 0.
pub fn decode_object(value: Value, source: &str) -> Result<Object, ManifestError> {
    decode_document(value, source, 0, None)
}

/// Replaces `$NAME` and `${NAME}` placeholders by their values, for the "Parallel Processing
/// using Expansions" pattern (a `job-tmpl.yaml` with `$ITEM`, expanded once per item).
///
/// Only the variables given are replaced. Everything else is left as written: other `$...`
/// (a shell's `$i` or `$HOME` in a command), `$$`, and a `$NAME` that is part of a longer name
/// (`$ITEMS` is not `$ITEM`).
pub fn expand_template(text: &str, vars: &[(String, String)]) -> String {
    let lookup = |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push_str("$$");
            rest = tail;
            continue;
        }
        if let Some(braced) = after.strip_prefix('{')
            && let Some(end) = braced.find('}')
            && let Some(value) = lookup(&braced[..end])
        {
            out.push_str(value);
            rest = &braced[end + 1..];
            continue;
        }
        let end = after.find(|c: char| !is_ident(c)).unwrap_or(after.len());
        match lookup(&after[..end]) {
            Some(value) if end > 0 => {
                out.push_str(value);
                rest = &after[end..];
            }
            _ => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

// === Syntax ===

/// Splits the text into its non-empty documents, as JSON values.
fn split_documents(text: &str, source: &str) -> Result<Vec<Value>, ManifestError> {
    let body = text.trim_start_matches('\u{feff}');
    let first = body.trim_start().chars().next();
    let values = if matches!(first, Some('{' | '[')) {
        parse_json(body).map_err(|(msg, line, column)| syntax_error(source, "json", msg, line, column))?
    } else {
        let options = serde_saphyr::options! { strict_booleans: true, with_snippet: false };
        serde_saphyr::from_multiple_with_options::<Value>(body, options).map_err(|e| {
            let location = e.location();
            let (line, column) = (location.map(|l| l.line()), location.map(|l| l.column()));
            syntax_error(source, "yaml", yaml_message(&e.to_string()), line, column)
        })?
    };
    Ok(values.into_iter().filter(|v| !v.is_null()).collect())
}

type JsonSyntaxError = (String, Option<u64>, Option<u64>);

fn parse_json(text: &str) -> Result<Vec<Value>, JsonSyntaxError> {
    let mut values = Vec::new();
    for value in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
        let value = value.map_err(|e| {
            let (line, column) = (e.line() as u64, e.column() as u64);
            let msg = e.to_string();
            let suffix = format!(" at line {line} column {column}");
            let msg = msg.strip_suffix(&suffix).unwrap_or(&msg).to_string();
            (msg, (line > 0).then_some(line), (column > 0).then_some(column))
        })?;
        values.push(value);
    }
    Ok(values)
}

/// serde-saphyr appends ` at line L, column C` (reported separately here), and suggests a Rust
/// option for duplicate keys; keep the message about the YAML.
fn yaml_message(rendered: &str) -> String {
    let msg = match rendered.rfind(" at line ") {
        Some(pos) => &rendered[..pos],
        None => rendered,
    };
    if let Some(rest) = msg.strip_prefix("duplicate mapping key: ") {
        let key = rest.split(", set DuplicateKeyPolicy").next().unwrap_or(rest);
        return format!("key {} already set in map", render_value(key));
    }
    msg.to_string()
}

fn syntax_error(
    source: &str,
    lang: &str,
    msg: String,
    line: Option<u64>,
    column: Option<u64>,
) -> ManifestError {
    let text = match (line, column) {
        (Some(l), Some(c)) => format!("{lang}: line {l}, column {c}: {msg}"),
        (Some(l), None) => format!("{lang}: line {l}: {msg}"),
        _ => format!("{lang}: {msg}"),
    };
    ManifestError {
        source_name: source.to_string(),
        document: None,
        item: None,
        kind: None,
        name: None,
        reason: ManifestErrorKind::Syntax { line, column },
        messages: vec![text],
        field_errors: Vec::new(),
    }
}

// === Lists and kinds ===

fn expand_list(
    value: Value,
    source: &str,
    document: usize,
    item: Option<usize>,
    out: &mut Vec<Result<Object, ManifestError>>,
) {
    let list_kind = value
        .get("kind")
        .and_then(Value::as_str)
        .filter(|k| *k == "List" || (k.ends_with("List") && value.get("items").is_some()))
        .map(str::to_string);
    let Some(list_kind) = list_kind else {
        out.push(decode_document(value, source, document, item));
        return;
    };
    let api_version = value.get("apiVersion").and_then(Value::as_str).unwrap_or("").to_string();
    let items = match value.get("items") {
        None | Some(Value::Null) => return,
        Some(Value::Array(items)) => items.clone(),
        Some(_) => {
            let mut err = ManifestError::at(source, document, item, ManifestErrorKind::Malformed);
            err.kind = Some(list_kind);
            err.messages.push("items must be a list".to_string());
            out.push(Err(err));
            return;
        }
    };
    // Items of a typed list (`JobList`) may omit their apiVersion and kind.
    let item_kind = list_kind.strip_suffix("List").filter(|k| !k.is_empty()).map(str::to_string);
    for (i, mut entry) in items.into_iter().enumerate() {
        if let (Some(kind), Value::Object(map)) = (&item_kind, &mut entry) {
            map.entry("kind").or_insert_with(|| Value::String(kind.clone()));
            if !api_version.is_empty() {
                map.entry("apiVersion").or_insert_with(|| Value::String(api_version.clone()));
            }
        }
        // Nested lists keep the outermost item index.
        expand_list(entry, source, document, Some(item.unwrap_or(i)), out);
    }
}

fn decode_document(
    mut value: Value,
    source: &str,
    document: usize,
    item: Option<usize>,
) -> Result<Object, ManifestError> {
    let mut err = ManifestError::at(source, document, item, ManifestErrorKind::Malformed);
    let Value::Object(map) = &value else {
        err.messages.push(format!("expected an object, got {}", json_type(&value)));
        return Err(err);
    };
    let api_version = map.get("apiVersion").and_then(Value::as_str).unwrap_or("").to_string();
    let kind = map.get("kind").and_then(Value::as_str).unwrap_or("").to_string();
    err.name = map.get("metadata").and_then(|m| m.get("name")).and_then(Value::as_str).map(str::to_string);
    if api_version.is_empty() {
        err.messages.push("apiVersion not set".to_string());
    }
    if kind.is_empty() {
        err.messages.push("kind not set".to_string());
    }
    if !err.messages.is_empty() {
        return Err(err);
    }
    err.kind = Some(kind.clone());
    strip_nulls(&mut value);
    let decoded = match (api_version.as_str(), kind.as_str()) {
        (job::API_VERSION, job::KIND) => {
            decode_strict::<Job>(&value).map(|(job, errs)| (Object::Job(job), errs))
        }
        (cronjob::API_VERSION | cronjob::API_VERSION_V1BETA1, cronjob::KIND) => {
            decode_strict::<CronJob>(&value).map(|(cj, errs)| (Object::CronJob(cj), errs))
        }
        _ => {
            err.reason = ManifestErrorKind::NoMatch;
            err.messages.push(format!(
                "no matches for kind {} in version {}",
                render_value(kind.as_str()),
                render_value(api_version.as_str()),
            ));
            return Err(err);
        }
    };
    err.reason = ManifestErrorKind::Invalid;
    let (object, mut errors) = match decoded {
        Ok((object, decode_errors)) => (Some(object), decode_errors),
        Err(decode_errors) => (None, decode_errors),
    };
    if let Some(object) = &object {
        let removed: Vec<String> = errors
            .iter()
            .filter(|e| e.kind != FieldErrorKind::UnknownField)
            .map(|e| e.path.clone())
            .collect();
        if let Err(validation_errors) = object.validate() {
            // A field dropped because of its type is reported once, as a type error, not again
            // as, say, `Required value`.
            errors.extend(
                validation_errors.into_iter().filter(|e| !removed.iter().any(|r| is_within(&e.path, r))),
            );
        }
    }
    match object {
        Some(object) if errors.is_empty() => Ok(object),
        _ => {
            err.messages = errors.iter().map(ToString::to_string).collect();
            err.field_errors = errors;
            Err(err)
        }
    }
}

// === Strict decoding ===

/// Decodes `value` into `T`, reporting every unknown field and every wrongly typed value.
///
/// serde stops at the first type error, so a wrongly typed field is recorded, removed from the
/// value, and decoding is tried again. Only map entries are removed (never list elements), so
/// the paths of the other fields do not move.
///
/// Returns the object and the errors when decoding ends in an object (the errors are then
/// unknown fields and removed fields), or only the errors when no object could be made.
fn decode_strict<T: DeserializeOwned>(value: &Value) -> Result<(T, Vec<FieldError>), Vec<FieldError>> {
    let mut value = value.clone();
    let mut unknown: Vec<String> = Vec::new();
    let mut type_errors: Vec<FieldError> = Vec::new();
    let mut removed: Vec<String> = Vec::new();
    for _ in 0..MAX_DECODE_ATTEMPTS {
        let mut track = serde_path_to_error::Track::new();
        let result: Result<T, serde_json::Error> = {
            let de = serde_path_to_error::Deserializer::new(&value, &mut track);
            serde_ignored::deserialize(de, |path| {
                let path = format_ignored_path(&path);
                if !unknown.contains(&path) {
                    unknown.push(path);
                }
            })
        };
        let error = match result {
            Ok(object) => {
                let mut errors: Vec<FieldError> =
                    unknown.into_iter().map(FieldError::unknown_field).collect();
                errors.extend(type_errors);
                return Ok((object, errors));
            }
            Err(error) => error,
        };
        let segments: Vec<serde_path_to_error::Segment> = track.path().iter().cloned().collect();
        let path = format_segments(&segments);
        let message = error.to_string();
        if let Some(field) = missing_field(&message) {
            let field_path = join_path(&path, field);
            // A required field we removed ourselves was already reported.
            if !removed.contains(&field_path) {
                type_errors.push(FieldError::required(field_path, ""));
            }
        } else {
            type_errors.push(type_error(&path, &value, &segments, &message));
        }
        // Remove the nearest enclosing map entry, and try again.
        let Some(cut) = segments.iter().rposition(|s| matches!(s, serde_path_to_error::Segment::Map { .. }))
        else {
            break;
        };
        if !remove_at(&mut value, &segments[..=cut]) {
            break;
        }
        removed.push(format_segments(&segments[..=cut]));
    }
    let mut errors: Vec<FieldError> = unknown.into_iter().map(FieldError::unknown_field).collect();
    errors.extend(type_errors);
    Err(errors)
}

fn type_error(
    path: &str,
    root: &Value,
    segments: &[serde_path_to_error::Segment],
    message: &str,
) -> FieldError {
    let path = if path.is_empty() { "<root>".to_string() } else { path.to_string() };
    let found = lookup(root, segments);
    let detail = match message.find(", expected ") {
        Some(pos) if found.is_some() => {
            format!("expected {}", describe_expected(&message[pos + ", expected ".len()..]))
        }
        _ => message.to_string(),
    };
    FieldError { path, kind: FieldErrorKind::Invalid, value: found.map(render_value), detail }
}

/// Rust type names in serde messages, in words a manifest author knows.
fn describe_expected(expected: &str) -> String {
    let words = match expected {
        "i32" => "a 32-bit integer",
        "i64" => "a 64-bit integer",
        "u32" => "a non-negative 32-bit integer",
        "u64" => "a non-negative 64-bit integer",
        "a string" | "a borrowed string" => "a string",
        "a boolean" => "a boolean (true or false)",
        "a sequence" => "a list",
        "a map" => "an object",
        other if other.starts_with("struct ") => "an object",
        other => other,
    };
    words.to_string()
}

fn missing_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split('`').next()
}

fn lookup<'v>(root: &'v Value, segments: &[serde_path_to_error::Segment]) -> Option<&'v Value> {
    let mut current = root;
    for segment in segments {
        current = match segment {
            serde_path_to_error::Segment::Map { key } => current.get(key.as_str())?,
            serde_path_to_error::Segment::Seq { index } => current.get(*index)?,
            _ => return None,
        };
    }
    Some(current)
}

/// Removes the map entry at `segments` (whose last segment is a map key).
fn remove_at(root: &mut Value, segments: &[serde_path_to_error::Segment]) -> bool {
    let Some((serde_path_to_error::Segment::Map { key }, parents)) = segments.split_last() else {
        return false;
    };
    let mut current = root;
    for segment in parents {
        let next = match segment {
            serde_path_to_error::Segment::Map { key } => current.get_mut(key.as_str()),
            serde_path_to_error::Segment::Seq { index } => current.get_mut(*index),
            _ => None,
        };
        match next {
            Some(next) => current = next,
            None => return false,
        }
    }
    current.as_object_mut().and_then(|map| map.remove(key.as_str())).is_some()
}

fn format_segments(segments: &[serde_path_to_error::Segment]) -> String {
    let mut out = String::new();
    for segment in segments {
        match segment {
            serde_path_to_error::Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            serde_path_to_error::Segment::Map { key } => out = join_path(&out, key),
            serde_path_to_error::Segment::Enum { variant } => out = join_path(&out, variant),
            serde_path_to_error::Segment::Unknown => out = join_path(&out, "?"),
        }
    }
    out
}

fn format_ignored_path(path: &serde_ignored::Path<'_>) -> String {
    match path {
        serde_ignored::Path::Root => String::new(),
        serde_ignored::Path::Seq { parent, index } => {
            format!("{}[{index}]", format_ignored_path(parent))
        }
        serde_ignored::Path::Map { parent, key } => join_path(&format_ignored_path(parent), key),
        serde_ignored::Path::Some { parent }
        | serde_ignored::Path::NewtypeStruct { parent }
        | serde_ignored::Path::NewtypeVariant { parent } => format_ignored_path(parent),
    }
}

fn join_path(parent: &str, key: &str) -> String {
    if parent.is_empty() { key.to_string() } else { format!("{parent}.{key}") }
}

/// True when `path` is `prefix` or inside it.
fn is_within(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
}

/// Kubernetes treats `field: null` (and `field:` with nothing after it) as absent.
fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn expand_only_given_variables() {
        let v = vars(&[("ITEM", "apple")]);
        assert_eq!(
            expand_template("a-$ITEM b-${ITEM} $i $ITEMS $$ITEM ${X} $", &v),
            "a-apple b-apple $i $ITEMS $$ITEM ${X} $"
        );
        assert_eq!(expand_template("${ITEM", &v), "${ITEM");
        assert_eq!(expand_template("$ITEM.x", &v), "apple.x");
    }

    #[test]
    fn within() {
        assert!(is_within("spec.a", "spec.a"));
        assert!(is_within("spec.a.b", "spec.a"));
        assert!(is_within("spec.a[0]", "spec.a"));
        assert!(!is_within("spec.ab", "spec.a"));
    }
}
