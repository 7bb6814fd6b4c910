//! PATCH semantics: the bodies the Kubernetes API accepts on `PATCH`, as pure functions over
//! `serde_json::Value`.
//!
//! | Content-Type | Sent by kubectl 1.32 for | Function |
//! |---|---|---|
//! | `application/merge-patch+json` | `kubectl label`, `kubectl annotate`, `kubectl patch --type merge`, client-side `apply` of a kind kubectl has no Go type for (Drover's `Worker`) | [`merge_patch`] (RFC 7386) |
//! | `application/json-patch+json` | `kubectl patch --type json` | [`json_patch`] (RFC 6902) |
//! | `application/strategic-merge-patch+json` | client-side `kubectl apply`, `kubectl patch` (its default) | [`strategic_merge_patch`] |
//! | `application/apply-patch+yaml` | `kubectl apply --server-side` (the body is JSON, which is YAML) | [`parse_apply_body`], then [`server_side_apply`] |
//!
//! The caller reads the live object, calls one of these, and stores the result through its
//! ordinary replace path, which checks immutable fields, validation and the resource version.
//! These functions only compute the patched object; none of them does IO or reads the clock.
//! On an error the target is left unchanged.
//!
//! # Lists
//!
//! A JSON merge patch replaces lists whole. A strategic merge patch and server-side apply merge
//! some lists item by item, as the `patchStrategy`/`patchMergeKey` and `listType`/`listMapKey`
//! markers on the Kubernetes Go types say. Drover keeps those markers in one small table: a
//! [`PatchKind`] is a list of [`SchemaPart`]s, each a path prefix (`spec.template.spec` for a Job,
//! `spec.jobTemplate.spec.template.spec` for a CronJob, `spec` for a Pod) with the [`ListRule`]s
//! of the type found there ([`POD_SPEC_LISTS`], [`OBJECT_META_LISTS`], ...). A list path is its
//! field names joined by `.`, list items being transparent (`containers.env` is the `env` of
//! every container). A list the table does not name is atomic: the patch replaces it.
//!
//! # Strategic merge patch
//!
//! As `k8s.io/apimachinery/pkg/util/strategicpatch` applies one (`StrategicMergePatch`):
//!
//! - Maps merge recursively; `null` deletes a key; a value of another type replaces.
//! - A merge list of objects (`containers`, by `name`) merges each patch item into the live item
//!   with the same key and adds the others; live items the patch does not name stay. The result
//!   keeps the patch's order for the items it names and the live order for the rest, interleaved
//!   as Kubernetes does (so an item new to the list comes first, unless a `$setElementOrder`
//!   places it). A merge list of scalars (`finalizers`) is a union without duplicates.
//! - `$patch: delete` in a list item deletes the live items with its key; `$patch: replace` in a
//!   list item makes the patch's items the whole list; in a map, `$patch: replace` replaces the
//!   map and `$patch: delete` empties it.
//! - `$retainKeys: [...]` in a map drops the live keys it does not list.
//! - `$setElementOrder/<field>: [...]` fixes the order of the merged list `<field>` (kubectl's
//!   three-way patch sends it whenever a merge list changes).
//! - `$deleteFromPrimitiveList/<field>: [...]` removes those values from a list of scalars.
//!
//! The ordering matches Kubernetes' own test vectors for `StrategicMergePatch`, including an
//! artefact of Go's slice aliasing when one patch deletes and adds items (see `GoSliceView`).
//! Two liberties: `$patch: merge` is accepted as the explicit default (Kubernetes rejects it),
//! and directives and `null`s inside values the patch adds are resolved as if merged into an
//! empty value rather than kept or dropped whole.
//!
//! Client-side `kubectl apply` builds its patch three ways (the last-applied annotation, the new
//! file, the live object: `CreateThreeWayMergePatch`). Changing only `parallelism` of
//! `examples/pi-job.yaml` sends `{"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"…"}},"spec":{"parallelism":2}}`;
//! changing a container sends the container by name with `$setElementOrder/containers`; a field
//! dropped from the file is sent as `null`. The tests hold patches captured from kubectl 1.32.
//!
//! # Server-side apply
//!
//! [`server_side_apply`] merges an applied configuration into the live object and records, in
//! `metadata.managedFields`, the fields each apply manager set, in Kubernetes' `FieldsV1` form.
//! Applied values win; associative lists merge by key; fields the manager applied before and
//! no longer applies are removed unless another manager owns them; setting a field another
//! apply manager owns to a different value is a conflict unless `force` moves the ownership.
//! `status` is not applied through the main resource, and server-owned metadata (`uid`,
//! `resourceVersion`, `generation`, timestamps) keeps its live value: a `resourceVersion` in the
//! applied body is a precondition for the caller to check, as on an update.
//!
//! **Drover's simplification:** writes other than apply (create, update, the patches above) are
//! not tracked as `Update` managers. Entries with `operation: Update` already in an object's
//! `managedFields` are kept as they are, never cause a conflict, and only protect their fields
//! from being pruned. So a server-side apply after a client-side apply needs no migration of
//! kubectl's `kubectl-client-side-apply` manager (kubectl 1.32's csaupgrade finds none and does
//! nothing): it just merges. As in Kubernetes, an apply by the `kubectl` manager to an object
//! that has the last-applied annotation keeps the annotation up to date.

use serde_json::{Map, Value};

mod apply;
mod strategic;

pub use apply::{ApplyError, Conflict, LAST_APPLIED_ANNOTATION, parse_apply_body, server_side_apply};
pub use strategic::strategic_merge_patch;

// === Kinds and their lists ===

/// The kinds Drover patches, each with its list table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PatchKind {
    /// batch/v1 Job.
    Job,
    /// batch/v1 CronJob: the Job's paths sit under `spec.jobTemplate`.
    CronJob,
    /// core/v1 Pod.
    Pod,
    /// drover.dev/v1 Worker: only its metadata has merge lists.
    Worker,
}

/// How a list merges in a strategic merge patch (`patchStrategy`, `patchMergeKey`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmpList {
    /// The patch replaces the list.
    Atomic,
    /// A list of objects merged by the named key.
    MergeKey(&'static str),
    /// A list of scalars merged as a set (`finalizers`).
    MergePrimitives,
}

/// How a list merges in server-side apply (`listType`, `listMapKey`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SsaList {
    /// The list is one field, owned and replaced whole.
    Atomic,
    /// A list of objects identified by these key fields (`listType=map`).
    Map(&'static [KeyField]),
    /// A list of distinct scalars, each owned on its own (`listType=set`).
    Set,
}

/// One key field of a [`SsaList::Map`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyField {
    /// The field's name.
    pub name: &'static str,
    /// The value of an item that omits the field, as the API defaults it (`protocol: TCP`).
    pub default: Option<&'static str>,
}

/// The merge behaviour of one list field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListRule {
    /// The list's path below its part's prefix: field names joined by `.`, list items being
    /// transparent (`containers.env`).
    pub path: &'static str,
    /// Its strategic-merge-patch behaviour.
    pub smp: SmpList,
    /// Its server-side-apply behaviour.
    pub ssa: SsaList,
}

/// A Go type found at a path of a kind: the prefix where it sits and its lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaPart {
    /// Field names joined by `.` (`spec.template.spec`).
    pub prefix: &'static str,
    /// The lists of the type there.
    pub lists: &'static [ListRule],
}

impl ListRule {
    /// A list of objects merged by `key` in both forms.
    const fn keyed(path: &'static str, key: &'static str, ssa_keys: &'static [KeyField]) -> ListRule {
        ListRule { path, smp: SmpList::MergeKey(key), ssa: SsaList::Map(ssa_keys) }
    }

    /// A list replaced whole in both forms.
    const fn atomic(path: &'static str) -> ListRule {
        ListRule { path, smp: SmpList::Atomic, ssa: SsaList::Atomic }
    }
}

const NAME: &[KeyField] = &[KeyField { name: "name", default: None }];
const UID: &[KeyField] = &[KeyField { name: "uid", default: None }];
const TYPE: &[KeyField] = &[KeyField { name: "type", default: None }];
const MOUNT_PATH: &[KeyField] = &[KeyField { name: "mountPath", default: None }];
const CONTAINER_PORT: &[KeyField] =
    &[KeyField { name: "containerPort", default: None }, KeyField { name: "protocol", default: Some("TCP") }];

/// `metav1.ObjectMeta`'s lists.
pub const OBJECT_META_LISTS: &[ListRule] = &[
    ListRule { path: "finalizers", smp: SmpList::MergePrimitives, ssa: SsaList::Set },
    ListRule::keyed("ownerReferences", "uid", UID),
    ListRule::atomic("managedFields"),
];

/// `corev1.PodSpec`'s lists (and its containers').
pub const POD_SPEC_LISTS: &[ListRule] = &[
    ListRule::keyed("containers", "name", NAME),
    ListRule::keyed("containers.env", "name", NAME),
    ListRule::keyed("containers.ports", "containerPort", CONTAINER_PORT),
    ListRule::keyed("containers.volumeMounts", "mountPath", MOUNT_PATH),
    ListRule::atomic("containers.args"),
    ListRule::atomic("containers.command"),
    ListRule::atomic("containers.envFrom"),
    ListRule::keyed("initContainers", "name", NAME),
    ListRule::keyed("initContainers.env", "name", NAME),
    ListRule::keyed("initContainers.ports", "containerPort", CONTAINER_PORT),
    ListRule::keyed("initContainers.volumeMounts", "mountPath", MOUNT_PATH),
    ListRule::atomic("initContainers.args"),
    ListRule::atomic("initContainers.command"),
    ListRule::atomic("initContainers.envFrom"),
    ListRule::keyed("volumes", "name", NAME),
    ListRule::keyed("imagePullSecrets", "name", NAME),
    ListRule::atomic("tolerations"),
];

/// `batchv1.JobStatus`'s lists: conditions merge by type in a patch but are atomic for apply.
pub const JOB_STATUS_LISTS: &[ListRule] =
    &[ListRule { path: "conditions", smp: SmpList::MergeKey("type"), ssa: SsaList::Atomic }];

/// `corev1.PodStatus`'s lists.
pub const POD_STATUS_LISTS: &[ListRule] = &[ListRule::keyed("conditions", "type", TYPE)];

const fn part(prefix: &'static str, lists: &'static [ListRule]) -> SchemaPart {
    SchemaPart { prefix, lists }
}

const JOB_PARTS: &[SchemaPart] = &[
    part("metadata", OBJECT_META_LISTS),
    part("spec.template.metadata", OBJECT_META_LISTS),
    part("spec.template.spec", POD_SPEC_LISTS),
    part("status", JOB_STATUS_LISTS),
];

const CRONJOB_PARTS: &[SchemaPart] = &[
    part("metadata", OBJECT_META_LISTS),
    part("spec.jobTemplate.metadata", OBJECT_META_LISTS),
    part("spec.jobTemplate.spec.template.metadata", OBJECT_META_LISTS),
    part("spec.jobTemplate.spec.template.spec", POD_SPEC_LISTS),
];

const POD_PARTS: &[SchemaPart] =
    &[part("metadata", OBJECT_META_LISTS), part("spec", POD_SPEC_LISTS), part("status", POD_STATUS_LISTS)];

const WORKER_PARTS: &[SchemaPart] = &[part("metadata", OBJECT_META_LISTS)];

impl PatchKind {
    /// The kind of `apiVersion`/`kind`, if Drover patches it.
    pub fn from_type(api_version: &str, kind: &str) -> Option<PatchKind> {
        match (api_version, kind) {
            (crate::job::API_VERSION, crate::job::KIND) => Some(PatchKind::Job),
            (crate::cronjob::API_VERSION | crate::cronjob::API_VERSION_V1BETA1, crate::cronjob::KIND) => {
                Some(PatchKind::CronJob)
            }
            (crate::pod::API_VERSION, crate::pod::KIND) => Some(PatchKind::Pod),
            (crate::worker::API_VERSION, crate::worker::KIND) => Some(PatchKind::Worker),
            _ => None,
        }
    }

    /// The parts of the kind that hold merge lists.
    pub fn parts(self) -> &'static [SchemaPart] {
        match self {
            PatchKind::Job => JOB_PARTS,
            PatchKind::CronJob => CRONJOB_PARTS,
            PatchKind::Pod => POD_PARTS,
            PatchKind::Worker => WORKER_PARTS,
        }
    }

    /// The rule for the list at `path` (field names joined by `.`), if the table names it.
    pub fn list_rule(self, path: &str) -> Option<&'static ListRule> {
        self.parts().iter().find_map(|part| {
            let rest = path.strip_prefix(part.prefix)?.strip_prefix('.')?;
            part.lists.iter().find(|rule| rule.path == rest)
        })
    }
}

/// Looks up the rule of a list by its path; the kinds' tables, or a test's own.
type Rules<'a> = &'a dyn Fn(&str) -> Option<ListRule>;

// === Errors ===

/// Why a patch could not be applied. The path names the field, as in
/// `spec.template.spec.containers[1]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatchError {
    /// The patch is not of the JSON type its form needs.
    #[error("the patch must be a JSON {expected}, not {found}")]
    WrongType {
        /// `object` or `array`.
        expected: &'static str,
        /// The JSON type found.
        found: &'static str,
    },
    /// A `$` key or a `$patch` value that the strategic merge patch does not know.
    #[error("{path}: unknown patch directive {directive}")]
    UnknownDirective {
        /// Where the directive is.
        path: String,
        /// The directive, as in `$patch: bogus`.
        directive: String,
    },
    /// An item of a merge list lacks the list's merge key.
    #[error("{path}: the item has no merge key {key:?}")]
    MissingMergeKey {
        /// Where the item is.
        path: String,
        /// The merge key.
        key: String,
    },
    /// A `$setElementOrder` list names the patch's items in another order.
    #[error("{path}: the order of the patch list does not match its $setElementOrder list")]
    OrderMismatch {
        /// Where the list is.
        path: String,
    },
    /// A value of the patch has the wrong shape for where it is.
    #[error("{path}: {message}")]
    Invalid {
        /// Where the value is.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A JSON Patch operation failed.
    #[error("json patch operation {index}: {message}")]
    JsonPatch {
        /// The operation's index in the patch.
        index: usize,
        /// What failed.
        message: String,
    },
    /// The body is neither JSON nor YAML.
    #[error("cannot parse the body: {message}")]
    Syntax {
        /// The parser's message.
        message: String,
    },
}

// === RFC 7386 JSON merge patch ===

/// Applies an RFC 7386 JSON merge patch to `target`: an object patch merges key by key (`null`
/// deletes a key), anything else replaces the target.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(map) = target else { unreachable!("the target was made an object") };
    for (key, value) in patch {
        if value.is_null() {
            map.remove(key);
        } else {
            merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

// === RFC 6902 JSON patch ===

/// Applies an RFC 6902 JSON patch (a list of `add`, `remove`, `replace`, `move`, `copy` and
/// `test` operations) to `target`, all or nothing.
pub fn json_patch(target: &mut Value, operations: &Value) -> Result<(), PatchError> {
    let Value::Array(operations) = operations else {
        return Err(PatchError::WrongType { expected: "array", found: type_name(operations) });
    };
    let mut doc = target.clone();
    for (index, operation) in operations.iter().enumerate() {
        json_patch_operation(&mut doc, operation)
            .map_err(|message| PatchError::JsonPatch { index, message })?;
    }
    *target = doc;
    Ok(())
}

fn json_patch_operation(doc: &mut Value, operation: &Value) -> Result<(), String> {
    let Value::Object(operation) = operation else { return Err("an operation must be an object".into()) };
    let member = |name: &str| operation.get(name).ok_or_else(|| format!("missing {name:?}"));
    let string = |name: &str| member(name)?.as_str().ok_or_else(|| format!("{name:?} must be a string"));
    let op = string("op")?;
    let path = parse_pointer(string("path")?)?;
    match op {
        "add" => pointer_add(doc, &path, member("value")?.clone()),
        "remove" => pointer_remove(doc, &path).map(drop),
        "replace" => {
            let slot = pointer_get_mut(doc, &path).ok_or_else(|| missing(&path))?;
            *slot = member("value")?.clone();
            Ok(())
        }
        "move" => {
            let from = parse_pointer(string("from")?)?;
            if path.len() > from.len() && path.starts_with(&from) {
                return Err("cannot move a value into one of its own children".into());
            }
            let value = pointer_remove(doc, &from)?;
            pointer_add(doc, &path, value)
        }
        "copy" => {
            let from = parse_pointer(string("from")?)?;
            let value = pointer_get_mut(doc, &from).ok_or_else(|| missing(&from))?.clone();
            pointer_add(doc, &path, value)
        }
        "test" => {
            let found = pointer_get_mut(doc, &path).ok_or_else(|| missing(&path))?;
            if json_eq(found, member("value")?) {
                Ok(())
            } else {
                Err(format!("test of {} failed", show_pointer(&path)))
            }
        }
        other => Err(format!("unknown operation {other:?}")),
    }
}

fn parse_pointer(pointer: &str) -> Result<Vec<String>, String> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(format!("the path {pointer:?} must be empty or start with \"/\""));
    };
    Ok(rest.split('/').map(|token| token.replace("~1", "/").replace("~0", "~")).collect())
}

fn show_pointer(tokens: &[String]) -> String {
    tokens.iter().map(|t| format!("/{}", t.replace('~', "~0").replace('/', "~1"))).collect()
}

fn missing(tokens: &[String]) -> String {
    format!("no value at {}", show_pointer(tokens))
}

/// The array index a token names, if it is one (`0`, `12`; not `01` or `-`).
fn array_index(token: &str) -> Option<usize> {
    let digits = !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit());
    if !digits || (token.len() > 1 && token.starts_with('0')) {
        return None;
    }
    token.parse().ok()
}

fn pointer_get_mut<'v>(doc: &'v mut Value, tokens: &[String]) -> Option<&'v mut Value> {
    tokens.iter().try_fold(doc, |value, token| match value {
        Value::Object(map) => map.get_mut(token),
        Value::Array(items) => items.get_mut(array_index(token)?),
        _ => None,
    })
}

fn pointer_add(doc: &mut Value, tokens: &[String], value: Value) -> Result<(), String> {
    let Some((last, parent)) = tokens.split_last() else {
        *doc = value;
        return Ok(());
    };
    match pointer_get_mut(doc, parent).ok_or_else(|| missing(parent))? {
        Value::Object(map) => {
            map.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(items) => {
            let index = if last == "-" { Some(items.len()) } else { array_index(last) };
            match index {
                Some(i) if i <= items.len() => {
                    items.insert(i, value);
                    Ok(())
                }
                _ => Err(format!("{} is not an index of the list", show_pointer(tokens))),
            }
        }
        _ => Err(format!("{} is neither an object nor a list", show_pointer(parent))),
    }
}

fn pointer_remove(doc: &mut Value, tokens: &[String]) -> Result<Value, String> {
    let Some((last, parent)) = tokens.split_last() else {
        return Err("cannot remove the whole document".into());
    };
    let removed = match pointer_get_mut(doc, parent) {
        Some(Value::Object(map)) => map.remove(last),
        Some(Value::Array(items)) => array_index(last).filter(|&i| i < items.len()).map(|i| items.remove(i)),
        _ => None,
    };
    removed.ok_or_else(|| missing(tokens))
}

// === Shared helpers ===

/// JSON equality with numbers compared by value (`1` equals `1.0`), as Go compares decoded JSON.
pub(crate) fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || (x.as_f64().is_some() && x.as_f64() == y.as_f64()),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// The JSON type of a value, for messages.
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `parent.child`, or `child` at the root.
pub(crate) fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() { child.to_string() } else { format!("{parent}.{child}") }
}

#[cfg(test)]
mod tests;
