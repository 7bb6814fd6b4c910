//! Server-side apply (`application/apply-patch+yaml`); see the parent module.
//!
//! A field set is a set of paths, each a list of path elements in Kubernetes' `FieldsV1` key
//! syntax: `f:<field>`, `k:<key object>` for an item of an associative list, `v:<value>` for an
//! item of a set. A path is in the set when the field it names is owned: a scalar, an atomic
//! list, an empty map, or a list item (which is also owned as a whole).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::SecondsFormat;
use serde_json::{Map, Value};

use super::{PatchError, PatchKind, Rules, SsaList, join, json_eq, type_name};
use crate::meta::Time;

/// The annotation client-side `kubectl apply` keeps its last applied configuration in.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The manager whose applies keep [`LAST_APPLIED_ANNOTATION`] up to date, as in Kubernetes.
const KUBECTL_MANAGER: &str = "kubectl";

/// Metadata the server owns: never applied, kept from the live object.
const SERVER_METADATA: &[&str] = &[
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
    "managedFields",
];

/// Paths never recorded in a manager's field set (Kubernetes' `stripMetaManager`).
const UNOWNED: &[&[&str]] = &[
    &["f:apiVersion"],
    &["f:kind"],
    &["f:metadata"],
    &["f:metadata", "f:name"],
    &["f:metadata", "f:namespace"],
];

/// A field path, as `FieldsV1` keys.
type FieldPath = Vec<String>;
type FieldSet = BTreeSet<FieldPath>;

/// One field that another manager owns and the apply would change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The manager that owns the field.
    pub manager: String,
    /// The field, as Kubernetes prints it: `.spec.parallelism`,
    /// `.spec.template.spec.containers[name="pi"].image`.
    pub field: String,
}

/// Why a server-side apply was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// Fields owned by other apply managers would change; `force` takes them over. The
    /// message is the one Kubernetes returns with its 409.
    #[error("{}", conflict_message(.0))]
    Conflict(Vec<Conflict>),
    /// The applied configuration is not of a kind Drover serves.
    #[error("no matches for kind {kind:?} in version {api_version:?}")]
    UnknownKind {
        /// The applied `apiVersion`.
        api_version: String,
        /// The applied `kind`.
        kind: String,
    },
    /// The applied configuration or the request is malformed.
    #[error("{0}")]
    Invalid(String),
}

/// Kubernetes' message for apply conflicts (`getConflictMessage`).
fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [only] = conflicts {
        return format!("Apply failed with 1 conflict: conflict with {:?}: {}", only.manager, only.field);
    }
    let mut by_manager: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for c in conflicts {
        by_manager.entry(&c.manager).or_default().push(&c.field);
    }
    let lines: Vec<String> = by_manager
        .iter()
        .flat_map(|(manager, fields)| {
            std::iter::once(format!("conflicts with {manager:?}:"))
                .chain(fields.iter().map(|f| format!("- {f}")))
        })
        .collect();
    format!("Apply failed with {} conflicts: {}", conflicts.len(), lines.join("\n"))
}

/// Parses the body of an apply patch: one object, as YAML or JSON.
pub fn parse_apply_body(bytes: &[u8]) -> Result<Value, PatchError> {
    let text =
        std::str::from_utf8(bytes).map_err(|e| PatchError::Syntax { message: format!("not UTF-8: {e}") })?;
    let text = text.trim_start_matches('\u{feff}');
    let value = if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| PatchError::Syntax { message: e.to_string() })?
    } else {
        let options = serde_saphyr::options! { strict_booleans: true, with_snippet: false };
        let documents = serde_saphyr::from_multiple_with_options::<Value>(text, options)
            .map_err(|e| PatchError::Syntax { message: e.to_string() })?;
        let mut documents: Vec<Value> = documents.into_iter().filter(|d| !d.is_null()).collect();
        if documents.len() != 1 {
            return Err(PatchError::Syntax {
                message: format!("an apply patch holds one object, not {} documents", documents.len()),
            });
        }
        documents.remove(0)
    };
    if !value.is_object() {
        return Err(PatchError::WrongType { expected: "object", found: type_name(&value) });
    }
    Ok(value)
}

/// Server-side apply: merges the configuration `applied` by field manager `manager` into
/// `live` (`None` on create) and returns the object to store, with its `metadata.managedFields`.
///
/// # Expected flow
///
/// 1. The applied configuration's field set is computed (server metadata and `status` left
///    out).
/// 2. It is merged into the live object: applied values win, associative lists merge by key.
/// 3. Fields the manager's previous apply set and this one does not are removed, unless
///    another manager owns them.
/// 4. Fields that change and that another `Apply` manager owns are conflicts; with `force`
///    they leave that manager's set instead.
/// 5. The manager's entry (`operation: Apply`, the applied `apiVersion`, `now` when anything
///    changed, `fieldsType: FieldsV1`) replaces its previous one; a manager left with no
///    field loses its entry.
///
/// # Errors
///
/// [`ApplyError::Conflict`] as above; [`ApplyError::UnknownKind`]; [`ApplyError::Invalid`]
/// for an empty manager, a configuration without `apiVersion`/`kind`, with
/// `metadata.managedFields`, or with an associative-list item that lacks its key or repeats
/// one, and for unreadable `managedFields` in the live object.
pub fn server_side_apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    now: Time,
) -> Result<Value, ApplyError> {
    let Value::Object(config) = applied else {
        return Err(ApplyError::Invalid(format!(
            "the applied configuration must be an object, not {}",
            type_name(applied)
        )));
    };
    if manager.is_empty() {
        return Err(ApplyError::Invalid("fieldManager: Required value: is required for apply patch".into()));
    }
    let string = |name: &str| config.get(name).and_then(Value::as_str).filter(|s| !s.is_empty());
    let (Some(api_version), Some(kind)) = (string("apiVersion"), string("kind")) else {
        return Err(ApplyError::Invalid(
            "apiVersion and kind must be set in an applied configuration".into(),
        ));
    };
    let patch_kind = PatchKind::from_type(api_version, kind)
        .ok_or_else(|| ApplyError::UnknownKind { api_version: api_version.into(), kind: kind.into() })?;
    if config.get("metadata").and_then(|m| m.get("managedFields")).is_some_and(|f| !f.is_null()) {
        return Err(ApplyError::Invalid("metadata.managedFields must be nil".into()));
    }
    let rules = |path: &str| patch_kind.list_rule(path).copied();
    let rules: Rules<'_> = &rules;

    let mut config = config.clone();
    config.remove("status");
    if let Some(Value::Object(meta)) = config.get_mut("metadata") {
        for field in SERVER_METADATA {
            meta.remove(*field);
        }
    }
    let config = Value::Object(config);
    let mut applied_set = field_set(&config, rules)?;
    for path in UNOWNED {
        applied_set.remove(&path.iter().map(|s| s.to_string()).collect::<FieldPath>());
    }

    let mut live = live.cloned().unwrap_or_else(|| Value::Object(Map::new()));
    let live_entries = match live.get_mut("metadata").and_then(Value::as_object_mut) {
        Some(meta) => meta.remove("managedFields"),
        None => None,
    };
    let mut entries = parse_entries(live_entries)?;
    let mine = entries.iter().position(|e| e.is_apply() && e.manager == manager);

    let mut merged = merge_applied(Some(&live), &config, "", rules).unwrap_or_default();
    if let Some(mine) = mine {
        prune(&mut merged, &entries, mine, &applied_set, rules);
    }

    let (changed, removed) = changes(&live, &merged, rules);
    let mut conflicts = Vec::new();
    for (i, entry) in entries.iter_mut().enumerate() {
        if Some(i) == mine || !entry.is_apply() {
            continue;
        }
        let taken: FieldSet = entry.set.intersection(&changed).cloned().collect();
        conflicts
            .extend(taken.iter().map(|p| Conflict { manager: entry.manager.clone(), field: show_path(p) }));
        let before = entry.set.len();
        entry.set.retain(|p| !taken.contains(p) && !removed.contains(p));
        entry.rewritten = entry.set.len() != before;
    }
    if !conflicts.is_empty() && !force {
        conflicts.sort_by(|a, b| a.manager.cmp(&b.manager));
        return Err(ApplyError::Conflict(conflicts));
    }

    if manager == KUBECTL_MANAGER {
        sync_last_applied(&mut merged, applied);
    }

    let own = Own { manager, api_version, set: applied_set, changed: merged != live, now };
    let managed = managed_fields(entries, mine, &own);
    if !managed.is_empty()
        && let Some(object) = merged.as_object_mut()
        && let Value::Object(meta) = object.entry("metadata").or_insert_with(|| Value::Object(Map::new()))
    {
        meta.insert("managedFields".into(), Value::Array(managed));
    }
    Ok(merged)
}

/// Removes from `merged` the fields the manager at `entries[mine]` applied before and no
/// longer applies, unless another manager owns them or something below them.
fn prune(merged: &mut Value, entries: &[Entry], mine: usize, applied: &FieldSet, rules: Rules<'_>) {
    let mut kept = applied.clone();
    for (i, entry) in entries.iter().enumerate() {
        if i != mine {
            kept.extend(entry.set.iter().cloned());
        }
    }
    for path in entries[mine].set.difference(&kept) {
        let owned_below =
            kept.range(path.clone()..).take_while(|p| p.starts_with(path)).any(|p| p.len() > path.len());
        if !owned_below {
            remove_path(merged, path, "", rules);
        }
    }
}

/// The fields that are new or changed in `after` (Kubernetes' `Added` and `Modified`), and
/// those gone from it (`Removed`).
fn changes(before: &Value, after: &Value, rules: Rules<'_>) -> (FieldSet, FieldSet) {
    let before = nodes(before, rules);
    let after = nodes(after, rules);
    let changed = after
        .iter()
        .filter(|(path, value)| match before.get(*path) {
            None => true,
            // A leaf that changed, or a leaf that became a map or list, or the other way round.
            Some(old) => match (old, value) {
                (Some(old), Some(new)) => !json_eq(old, new),
                (None, None) => false,
                _ => true,
            },
        })
        .map(|(path, _)| path.clone())
        .collect();
    let removed = before.keys().filter(|p| !after.contains_key(*p)).cloned().collect();
    (changed, removed)
}

/// The applying manager's side of the new `managedFields`.
struct Own<'a> {
    manager: &'a str,
    api_version: &'a str,
    set: FieldSet,
    /// Whether the apply changed the object.
    changed: bool,
    now: Time,
}

/// The new `managedFields`: the others' entries in their order (rewritten where the apply took
/// or removed fields, dropped when left empty), the applier's in place of its old one or last.
/// Its time moves only when the object or its field set changed.
fn managed_fields(entries: Vec<Entry>, mine: Option<usize>, own: &Own<'_>) -> Vec<Value> {
    let now = own.now.to_rfc3339_opts(SecondsFormat::Secs, true);
    let entry = |time: &str| {
        serde_json::json!({
            "manager": own.manager,
            "operation": "Apply",
            "apiVersion": own.api_version,
            "time": time,
            "fieldsType": "FieldsV1",
            "fieldsV1": fields_v1(&own.set),
        })
    };
    let mut managed = Vec::with_capacity(entries.len() + 1);
    for (i, old) in entries.into_iter().enumerate() {
        if Some(i) == mine {
            if !own.set.is_empty() {
                let unchanged = !own.changed && old.set == own.set;
                let time = old.raw.get("time").and_then(Value::as_str).filter(|_| unchanged).unwrap_or(&now);
                managed.push(entry(time));
            }
        } else if !old.rewritten {
            managed.push(Value::Object(old.raw));
        } else if !old.set.is_empty() {
            let mut raw = old.raw;
            raw.insert("fieldsV1".into(), fields_v1(&old.set));
            managed.push(Value::Object(raw));
        }
    }
    if mine.is_none() && !own.set.is_empty() {
        managed.push(entry(&now));
    }
    managed
}

/// An entry of `metadata.managedFields`, with its field set read.
struct Entry {
    raw: Map<String, Value>,
    manager: String,
    operation: String,
    subresource: String,
    set: FieldSet,
    /// Whether this apply took fields from the entry, so its `fieldsV1` must be rewritten.
    rewritten: bool,
}

impl Entry {
    /// An apply to the main resource (entries for subresources are another manager).
    fn is_apply(&self) -> bool {
        self.operation == "Apply" && self.subresource.is_empty()
    }
}

fn parse_entries(value: Option<Value>) -> Result<Vec<Entry>, ApplyError> {
    let items = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(ApplyError::Invalid(format!(
                "metadata.managedFields of the live object is a {}, not a list",
                type_name(&other)
            )));
        }
    };
    let mut entries = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let bad =
            |why: &str| ApplyError::Invalid(format!("metadata.managedFields[{i}] of the live object: {why}"));
        let Value::Object(raw) = item else { return Err(bad("not an object")) };
        let text = |name: &str| raw.get(name).and_then(Value::as_str).unwrap_or_default().to_string();
        let mut set = FieldSet::new();
        if let Some(fields) = raw.get("fieldsV1") {
            read_fields_v1(fields, &mut Vec::new(), &mut set).map_err(|why| bad(&why))?;
        }
        entries.push(Entry {
            manager: text("manager"),
            operation: text("operation"),
            subresource: text("subresource"),
            set,
            rewritten: false,
            raw,
        });
    }
    Ok(entries)
}

// === Field sets ===

/// The path element of a list item, if the list is associative and the item has its keys.
fn item_element(item: &Value, rule: SsaList) -> Option<String> {
    match rule {
        SsaList::Atomic => None,
        SsaList::Set => Some(format!("v:{}", compact(item))),
        SsaList::Map(keys) => {
            let item = item.as_object()?;
            let mut fields: Vec<(&str, Value)> = Vec::with_capacity(keys.len());
            for key in keys {
                let value = match (item.get(key.name), key.default) {
                    (Some(v), _) => v.clone(),
                    (None, Some(default)) => Value::String(default.to_string()),
                    (None, None) => return None,
                };
                fields.push((key.name, value));
            }
            fields.sort_by(|a, b| a.0.cmp(b.0));
            let body: Vec<String> = fields
                .iter()
                .map(|(name, value)| {
                    format!("{}:{}", compact(&Value::String((*name).to_string())), compact(value))
                })
                .collect();
            Some(format!("k:{{{}}}", body.join(",")))
        }
    }
}

fn compact(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn list_rule(rules: Rules<'_>, schema: &str) -> SsaList {
    rules(schema).map_or(SsaList::Atomic, |rule| rule.ssa)
}

/// The fields an applied configuration sets (Kubernetes' `ToFieldSet`).
fn field_set(config: &Value, rules: Rules<'_>) -> Result<FieldSet, ApplyError> {
    let mut set = FieldSet::new();
    collect_fields(config, &mut Vec::new(), "", rules, &mut set)?;
    Ok(set)
}

fn collect_fields(
    value: &Value,
    path: &mut FieldPath,
    schema: &str,
    rules: Rules<'_>,
    out: &mut FieldSet,
) -> Result<(), ApplyError> {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                path.push(format!("f:{key}"));
                collect_fields(child, path, &join(schema, key), rules, out)?;
                if child.is_null() || child.as_object().is_some_and(Map::is_empty) {
                    out.insert(path.clone());
                }
                path.pop();
            }
        }
        Value::Array(items) => {
            let rule = list_rule(rules, schema);
            if rule == SsaList::Atomic {
                out.insert(path.clone());
                return Ok(());
            }
            let mut seen = BTreeSet::new();
            for item in items {
                let Some(element) = item_element(item, rule) else {
                    return Err(ApplyError::Invalid(format!(
                        "{}: an item of an associative list lacks a key field ({})",
                        show_path(path),
                        key_names(rule)
                    )));
                };
                if !seen.insert(element.clone()) {
                    return Err(ApplyError::Invalid(format!(
                        "{}: duplicate entries for key {}",
                        show_path(path),
                        show_element(&element)
                    )));
                }
                path.push(element);
                collect_fields(item, path, schema, rules, out)?;
                out.insert(path.clone());
                path.pop();
            }
        }
        _ => {
            out.insert(path.clone());
        }
    }
    Ok(())
}

fn key_names(rule: SsaList) -> String {
    match rule {
        SsaList::Map(keys) => keys.iter().map(|k| k.name).collect::<Vec<_>>().join(", "),
        SsaList::Set | SsaList::Atomic => String::new(),
    }
}

/// Every node of an object, with the value of the leaves (scalars, atomic lists, empty maps and
/// lists) and `None` for the nodes with children; for comparing two objects.
fn nodes(value: &Value, rules: Rules<'_>) -> BTreeMap<FieldPath, Option<Value>> {
    let mut out = BTreeMap::new();
    collect_nodes(value, &mut Vec::new(), "", rules, &mut out);
    out
}

fn collect_nodes(
    value: &Value,
    path: &mut FieldPath,
    schema: &str,
    rules: Rules<'_>,
    out: &mut BTreeMap<FieldPath, Option<Value>>,
) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            if !path.is_empty() {
                out.insert(path.clone(), None);
            }
            for (key, child) in map {
                path.push(format!("f:{key}"));
                collect_nodes(child, path, &join(schema, key), rules, out);
                path.pop();
            }
        }
        Value::Array(items) if !items.is_empty() && list_rule(rules, schema) != SsaList::Atomic => {
            out.insert(path.clone(), None);
            let rule = list_rule(rules, schema);
            for item in items {
                if let Some(element) = item_element(item, rule) {
                    path.push(element);
                    collect_nodes(item, path, schema, rules, out);
                    path.pop();
                }
            }
        }
        leaf => {
            out.insert(path.clone(), Some(leaf.clone()));
        }
    }
}

/// The `FieldsV1` object of a field set: nested keys, with `".": {}` marking a node that is in
/// the set and has children.
fn fields_v1(set: &FieldSet) -> Value {
    #[derive(Default)]
    struct Node {
        member: bool,
        children: BTreeMap<String, Node>,
    }
    fn render(node: &Node) -> Value {
        let mut map = Map::new();
        if node.member && !node.children.is_empty() {
            map.insert(".".into(), Value::Object(Map::new()));
        }
        for (key, child) in &node.children {
            map.insert(key.clone(), render(child));
        }
        Value::Object(map)
    }
    let mut root = Node::default();
    for path in set {
        let node =
            path.iter().fold(&mut root, |node, element| node.children.entry(element.clone()).or_default());
        node.member = true;
    }
    render(&root)
}

fn read_fields_v1(value: &Value, path: &mut FieldPath, out: &mut FieldSet) -> Result<(), String> {
    let Value::Object(map) = value else { return Err(format!("fieldsV1 holds a {}", type_name(value))) };
    if (map.is_empty() || map.contains_key(".")) && !path.is_empty() {
        out.insert(path.clone());
    }
    for (key, child) in map {
        if key == "." {
            continue;
        }
        if !["f:", "k:", "v:", "i:"].iter().any(|p| key.starts_with(p)) {
            return Err(format!("unknown path element {key:?} in fieldsV1"));
        }
        path.push(key.clone());
        read_fields_v1(child, path, out)?;
        path.pop();
    }
    Ok(())
}

/// A path as Kubernetes prints it: `.spec.containers[name="pi"].image`.
fn show_path(path: &[String]) -> String {
    path.iter().map(|element| show_element(element)).collect()
}

fn show_element(element: &str) -> String {
    let scalar = |v: &Value| match v {
        Value::String(s) => format!("{s:?}"),
        other => compact(other),
    };
    if let Some(name) = element.strip_prefix("f:") {
        format!(".{name}")
    } else if let Some(key) = element.strip_prefix("k:") {
        match serde_json::from_str::<Map<String, Value>>(key) {
            Ok(fields) => format!(
                "[{}]",
                fields.iter().map(|(k, v)| format!("{k}={}", scalar(v))).collect::<Vec<_>>().join(",")
            ),
            Err(_) => format!("[{key}]"),
        }
    } else if let Some(value) = element.strip_prefix("v:") {
        serde_json::from_str::<Value>(value)
            .map_or_else(|_| format!("[={value}]"), |v| format!("[={}]", scalar(&v)))
    } else if let Some(index) = element.strip_prefix("i:") {
        format!("[{index}]")
    } else {
        element.to_string()
    }
}

// === Merging and pruning ===

/// Merges the applied value `rhs` into the live value `lhs` (`None` when absent); `None` when
/// the result is absent (an applied `null`).
fn merge_applied(lhs: Option<&Value>, rhs: &Value, schema: &str, rules: Rules<'_>) -> Option<Value> {
    match (lhs, rhs) {
        (_, Value::Null) => None,
        (lhs, Value::Object(rhs)) => {
            let mut out = match lhs {
                Some(Value::Object(lhs)) => lhs.clone(),
                _ => Map::new(),
            };
            for (key, value) in rhs {
                match merge_applied(out.get(key), value, &join(schema, key), rules) {
                    Some(merged) => out.insert(key.clone(), merged),
                    None => out.remove(key),
                };
            }
            Some(Value::Object(out))
        }
        (lhs, Value::Array(rhs)) => {
            let rule = list_rule(rules, schema);
            if rule == SsaList::Atomic {
                return Some(Value::Array(rhs.clone()));
            }
            let lhs = match lhs {
                Some(Value::Array(lhs)) => lhs.as_slice(),
                _ => &[],
            };
            Some(Value::Array(merge_associative(lhs, rhs, rule, schema, rules)))
        }
        (_, scalar) => Some(scalar.clone()),
    }
}

/// Merges two associative lists by key. Applied items come in the applied order; live items
/// the configuration does not name stay before the applied item they preceded.
fn merge_associative(
    lhs: &[Value],
    rhs: &[Value],
    rule: SsaList,
    schema: &str,
    rules: Rules<'_>,
) -> Vec<Value> {
    let lhs_keys: Vec<Option<String>> = lhs.iter().map(|item| item_element(item, rule)).collect();
    let rhs_keys: Vec<Option<String>> = rhs.iter().map(|item| item_element(item, rule)).collect();
    let mut out = Vec::with_capacity(lhs.len().max(rhs.len()));
    let mut emitted = vec![false; rhs.len()];
    let mut emit = |upto: usize, out: &mut Vec<Value>| {
        for r in 0..=upto {
            if !emitted[r] {
                emitted[r] = true;
                let live =
                    rhs_keys[r].as_ref().and_then(|k| lhs_keys.iter().position(|l| l.as_ref() == Some(k)));
                out.extend(merge_applied(live.map(|l| &lhs[l]), &rhs[r], schema, rules));
            }
        }
    };
    for (l, item) in lhs.iter().enumerate() {
        let applied = lhs_keys[l].as_ref().and_then(|k| rhs_keys.iter().position(|r| r.as_ref() == Some(k)));
        match applied {
            Some(r) => emit(r, &mut out),
            None => out.push(item.clone()),
        }
    }
    if !rhs.is_empty() {
        emit(rhs.len() - 1, &mut out);
    }
    out
}

/// Removes the field or list item at `path`; a map or list the removal leaves empty goes too.
/// Returns whether `value` was changed and is now an empty map or list.
fn remove_path(value: &mut Value, path: &[String], schema: &str, rules: Rules<'_>) -> bool {
    let Some((first, rest)) = path.split_first() else { return false };
    let changed = match value {
        Value::Object(map) => {
            let Some(name) = first.strip_prefix("f:") else { return false };
            if rest.is_empty() {
                map.remove(name).is_some()
            } else {
                let emptied = map
                    .get_mut(name)
                    .is_some_and(|child| remove_path(child, rest, &join(schema, name), rules));
                if emptied {
                    map.remove(name);
                }
                emptied
            }
        }
        Value::Array(items) => {
            let rule = list_rule(rules, schema);
            let Some(i) = items.iter().position(|item| item_element(item, rule).as_ref() == Some(first))
            else {
                return false;
            };
            if rest.is_empty() || remove_path(&mut items[i], rest, schema, rules) {
                items.remove(i);
                true
            } else {
                false
            }
        }
        _ => false,
    };
    changed && (value.as_object().is_some_and(Map::is_empty) || value.as_array().is_some_and(Vec::is_empty))
}

/// Keeps the last-applied annotation of a client-side-applied object in step with what the
/// `kubectl` manager applies (Kubernetes' `lastAppliedUpdater`).
fn sync_last_applied(merged: &mut Value, applied: &Value) {
    let annotations =
        merged.get_mut("metadata").and_then(|m| m.get_mut("annotations")).and_then(Value::as_object_mut);
    let Some(annotations) = annotations else { return };
    if annotations.get(LAST_APPLIED_ANNOTATION).and_then(Value::as_str).is_none_or(str::is_empty) {
        return;
    }
    let mut config = applied.clone();
    if let Some(Value::Object(own)) = config.get_mut("metadata").and_then(|m| m.get_mut("annotations")) {
        own.remove(LAST_APPLIED_ANNOTATION);
    }
    annotations.insert(LAST_APPLIED_ANNOTATION.into(), Value::String(format!("{}\n", compact(&config))));
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conflict with {:?}: {}", self.manager, self.field)
    }
}
