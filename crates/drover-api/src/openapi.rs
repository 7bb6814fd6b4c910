//! The OpenAPI documents the API serves, so that the real `kubectl` can validate, apply and
//! explain Drover's kinds.
//!
//! # What kubectl 1.32 fetches, and why
//!
//! Read from kubectl, cli-runtime, client-go and apimachinery v0.32.4, and checked with kubectl
//! 1.32.4 against these documents (`kubectl --server … -v=8`):
//!
//! - **`create -f` and `apply -f`** with the default `--validate=strict` ask, for each object's
//!   GVK, whether the server supports the `fieldValidation` query parameter. They fetch
//!   `GET /openapi/v3` (`Accept: application/json, */*`; the index `{"paths": {"apis/batch/v1":
//!   {"serverRelativeURL": "/openapi/v3/apis/batch/v1?hash=…"}}}`), then that URL with
//!   `Accept: application/json`. They take the first path whose **`patch`** operation has
//!   `x-kubernetes-group-version-kind` (an object) equal to the GVK; that operation's own
//!   `parameters` must list `{"name": "fieldValidation", "in": "query"}` (path-level parameters
//!   are not read). Then kubectl validates nothing itself and sends `?fieldValidation=Strict`
//!   (and `fieldManager=kubectl-create` or `kubectl-client-side-apply`, `dryRun=All` with
//!   `--dry-run=server`) on the POST or PATCH: the server refuses unknown fields.
//! - Otherwise (no PATCH for the GVK, its group-version not in the index, or `kind: List`, which
//!   always is) kubectl validates client-side from `/openapi/v2`, which client-go asks for **only
//!   as protobuf** (`Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf`) and
//!   decodes as protobuf: a JSON v2 cannot serve it, so the create fails unless
//!   `--validate=false`. Hence every kind a user creates has a PATCH operation with
//!   `fieldValidation` here. (batch/v1beta1, which Drover's manifests accept for CronJobs, is not
//!   in discovery: kubectl refuses it before it reads OpenAPI.)
//! - **`apply`** on an existing object computes a three-way strategic merge patch from the v3
//!   document when the PATCH operation's `requestBody.content` has
//!   `application/strategic-merge-patch+json`: from the schema whose
//!   `x-kubernetes-group-version-kind` (a **list** of `{group, kind, version}`) holds the GVK, it
//!   follows `allOf[0]` and `$ref`, and reads `x-kubernetes-patch-merge-key` and
//!   `x-kubernetes-patch-strategy` on the list property itself. A map or list field changed
//!   between the old and new object and missing from the schema makes kubectl warn and fall back
//!   (to v2, which fails, then to its compiled-in Go types for batch/v1, or to a JSON merge patch
//!   for other groups). The patch goes as `application/strategic-merge-patch+json`.
//! - **`explain`** fetches `/openapi/v3` (if that fails, v2, which fails), then the
//!   group-version's document; it takes the GVK from the `get`/`post`/`put`/`patch`/`delete`
//!   operation of `/apis/G/V/R`, `…/R/{name}`, `/apis/G/V/namespaces/{namespace}/R` or
//!   `…/{name}` (in that order), then the schema whose GVK list holds it, and walks
//!   `properties`, `items`, `additionalProperties` and `allOf` along the field path.
//! - All of them map resources through discovery (`/api`, `/apis`); none asks for `/openapi/v2`
//!   while the v3 documents answer. The documents are cached on disk by URL when the answer
//!   allows it, so the hash must change with the document. `--validate=false` skips the
//!   `fieldValidation` lookup (apply still reads v3 to patch an existing object).
//!
//! # The documents
//!
//! [`v3_index`] and [`v3`] give the OpenAPI 3.0 documents, one per group-version in
//! [`group_versions`]; [`v2`] the Swagger 2.0 document of all of them (for other clients). Paths
//! and operations come from [`resource::ALL`] (its verbs and subresources), less the worker
//! protocol's operations, whose bodies are not the kind. The schemas are derived from the Rust
//! types with `schemars` (their doc comments are the field descriptions), so they cannot drift
//! from what the strict decoder accepts; only the shapes Drover serves without a type of their
//! own (`Status`, `DeleteOptions`, `Patch`, core/v1 `Namespace` and `Event`, as
//! `table::namespace_object` and `Event::to_core_v1_with_id` write them) and the `…List` kinds
//! are written here. [`validate`] checks an object against a document the way a structural
//! schema does (unknown fields, types, required fields).
//!
//! Pure: no IO; the caller serves the JSON.

use std::collections::{BTreeMap, BTreeSet};

use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha512};

use crate::resource::{self, ResourceInfo};
use crate::validation::FieldError;

/// The patch types the PATCH operations declare (those `patch` applies). kubectl's client-side
/// `apply` computes a strategic merge patch from these documents only when it is listed.
pub const PATCH_CONTENT_TYPES: [&str; 4] = [
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
];

const SCHEMAS_REF: &str = "#/components/schemas/";
const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.";

/// Operations whose body is a message of the worker protocol, not the kind: `(kind,
/// subresource, verb)`. They are left out of the documents (a worker registers with a
/// `protocol::Registration`; it reports a pod's status with a `protocol::StatusReport`).
const PROTOCOL_OPERATIONS: &[(&str, &str, &str)] = &[("Worker", "", "create"), ("Pod", "status", "update")];

/// The group-versions with a v3 document, as the keys of the v3 index (`api/v1`,
/// `apis/<group>/<version>`): those of [`resource::ALL`], in its order.
pub fn group_versions() -> Vec<String> {
    group_versions_of(resource::ALL)
}

fn group_versions_of(resources: &[ResourceInfo]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in resources {
        let gv = r.group_version_path().trim_start_matches('/').to_string();
        if !out.contains(&gv) {
            out.push(gv);
        }
    }
    out
}

/// The name of a kind's schema, as Kubernetes names it: `io.k8s.api.batch.v1.Job`,
/// `io.k8s.api.core.v1.Pod`; Drover's own kinds are `dev.drover.api.<version>.<Kind>`.
fn schema_name(r: &ResourceInfo) -> String {
    match r.group {
        "" => format!("io.k8s.api.core.{}.{}", r.version, r.kind),
        "drover.dev" => format!("dev.drover.api.{}.{}", r.version, r.kind),
        group => format!("io.k8s.api.{}.{}.{}", group.split('.').next().unwrap_or(group), r.version, r.kind),
    }
}

fn gvk(r: &ResourceInfo) -> Value {
    json!({"group": r.group, "kind": r.kind, "version": r.version})
}

/// `BatchV1`, `CoreV1`, `DroverDevV1`: the middle of Kubernetes' operation ids.
fn id_infix(r: &ResourceInfo) -> String {
    let group = if r.group.is_empty() { "core" } else { r.group };
    let mut out = String::new();
    for part in group.split('.').chain([r.version]) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    out
}

/// What an operation does, and so what it takes and gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// `GET` a collection (or watch it).
    List,
    /// `POST` or `PUT` the object.
    Write,
    /// `GET` the object.
    Read,
    /// `PATCH` the object.
    Patch,
    /// `DELETE` the object.
    Delete,
    /// `DELETE` a collection.
    DeleteCollection,
    /// `GET` a pod's log, as text.
    Log,
}

/// One operation of the documents.
struct Operation {
    path: String,
    method: &'static str,
    action: Action,
    id: String,
    description: String,
    gvk: Value,
    tag: String,
    object_schema: String,
}

/// The operations of `r`, from its verbs and subresources, as kube-apiserver lays them out.
fn operations(r: &ResourceInfo) -> Vec<Operation> {
    let scope = if r.namespaced { "Namespaced" } else { "" };
    let infix = id_infix(r);
    let collection = r.collection_path(r.namespaced.then_some("{namespace}"));
    let item = format!("{collection}/{{name}}");
    let has = |sub: &str, verb: &str| {
        let verbs = if sub.is_empty() {
            Some(r.verbs)
        } else {
            r.subresources.iter().find(|(name, _)| *name == sub).map(|(_, verbs)| *verbs)
        };
        verbs.is_some_and(|v| v.contains(&verb)) && !PROTOCOL_OPERATIONS.contains(&(r.kind, sub, verb))
    };
    let op = |path: &str, method, action, verb: &str, suffix: &str, description: String| Operation {
        path: path.to_string(),
        method,
        action,
        id: format!("{verb}{infix}{scope}{}{suffix}", r.kind),
        description,
        gvk: gvk(r),
        tag: infix.clone(),
        object_schema: schema_name(r),
    };
    let kind = r.kind;
    let mut out = Vec::new();
    if has("", "list") {
        out.push(op(
            &collection,
            "get",
            Action::List,
            "list",
            "",
            format!("list or watch objects of kind {kind}"),
        ));
        if r.namespaced {
            let mut all = op(
                &r.collection_path(None),
                "get",
                Action::List,
                "list",
                "",
                format!("list or watch objects of kind {kind} in every namespace"),
            );
            all.id = format!("list{infix}{kind}ForAllNamespaces");
            out.push(all);
        }
    }
    if has("", "create") {
        out.push(op(&collection, "post", Action::Write, "create", "", format!("create a {kind}")));
    }
    if has("", "deletecollection") {
        let mut delete = op(
            &collection,
            "delete",
            Action::DeleteCollection,
            "delete",
            "",
            format!("delete a collection of {kind}"),
        );
        delete.id = format!("delete{infix}Collection{scope}{kind}");
        out.push(delete);
    }
    let item_ops = [
        ("get", "get", Action::Read, "read", "read the specified"),
        ("update", "put", Action::Write, "replace", "replace the specified"),
        ("patch", "patch", Action::Patch, "patch", "partially update the specified"),
        ("delete", "delete", Action::Delete, "delete", "delete a"),
    ];
    for (verb, method, action, id_verb, what) in item_ops {
        if has("", verb) {
            out.push(op(&item, method, action, id_verb, "", format!("{what} {kind}")));
        }
    }
    let status = format!("{item}/status");
    for (verb, method, action, id_verb, what) in item_ops {
        if verb != "delete" && has("status", verb) {
            out.push(op(&status, method, action, id_verb, "Status", format!("{what} {kind}'s status")));
        }
    }
    if has("log", "get") {
        out.push(op(
            &format!("{item}/log"),
            "get",
            Action::Log,
            "read",
            "Log",
            format!("read log of the specified {kind}"),
        ));
    }
    out
}

/// A parameter as kube-apiserver declares it.
struct Param {
    name: &'static str,
    location: &'static str,
    ty: &'static str,
    description: &'static str,
}

const fn query(name: &'static str, ty: &'static str, description: &'static str) -> Param {
    Param { name, location: "query", ty, description }
}

const DRY_RUN: Param = query(
    "dryRun",
    "string",
    "When present, indicates that modifications should not be persisted. Valid values are: - All: all dry run \
     stages will be processed",
);
const FIELD_MANAGER: Param =
    query("fieldManager", "string", "A name associated with the actor making these changes.");
const FIELD_VALIDATION: Param = query(
    "fieldValidation",
    "string",
    "How the server handles unknown or duplicate fields in the request body: Ignore, Warn or Strict (fail the \
     request with a BadRequest error naming every unknown and duplicate field).",
);
const FORCE: Param = query(
    "force",
    "boolean",
    "Force an apply request: re-acquire conflicting fields owned by other managers. Must be unset for \
     non-apply patches.",
);
const ALLOW_WATCH_BOOKMARKS: Param =
    query("allowWatchBookmarks", "boolean", "Request watch events of type BOOKMARK.");
const CONTINUE: Param = query("continue", "string", "The continue token of a previous, limited list call.");
const FIELD_SELECTOR: Param =
    query("fieldSelector", "string", "A selector on the objects' fields. Defaults to everything.");
const LABEL_SELECTOR: Param =
    query("labelSelector", "string", "A selector on the objects' labels. Defaults to everything.");
const LIMIT: Param = query(
    "limit",
    "integer",
    "The most objects to return; the list metadata's continue token fetches the rest.",
);
const RESOURCE_VERSION: Param =
    query("resourceVersion", "string", "The resource version the list or watch starts from.");
const TIMEOUT_SECONDS: Param = query("timeoutSeconds", "integer", "Timeout for the list or watch call.");
const WATCH: Param =
    query("watch", "boolean", "Stream added, modified and deleted notifications instead of a list.");
const GRACE_PERIOD_SECONDS: Param =
    query("gracePeriodSeconds", "integer", "Seconds before the object is deleted; 0 deletes at once.");
const PROPAGATION_POLICY: Param = query(
    "propagationPolicy",
    "string",
    "Whether and how dependents are deleted: Orphan, Background or Foreground.",
);
const LIST_PARAMS: [&Param; 8] = [
    &ALLOW_WATCH_BOOKMARKS,
    &CONTINUE,
    &FIELD_SELECTOR,
    &LABEL_SELECTOR,
    &LIMIT,
    &RESOURCE_VERSION,
    &TIMEOUT_SECONDS,
    &WATCH,
];
const DELETE_PARAMS: [&Param; 3] = [&DRY_RUN, &GRACE_PERIOD_SECONDS, &PROPAGATION_POLICY];
const DELETE_COLLECTION_PARAMS: [&Param; 9] = [
    &CONTINUE,
    &DRY_RUN,
    &FIELD_SELECTOR,
    &GRACE_PERIOD_SECONDS,
    &LABEL_SELECTOR,
    &LIMIT,
    &PROPAGATION_POLICY,
    &RESOURCE_VERSION,
    &TIMEOUT_SECONDS,
];
const LOG_PARAMS: [Param; 7] = [
    query("container", "string", "The container whose log to return; defaults to the only container."),
    query("follow", "boolean", "Stream the log as it grows."),
    query("limitBytes", "integer", "The most bytes to return."),
    query("previous", "boolean", "Return the log of the previous run of the container."),
    query("sinceSeconds", "integer", "Only lines newer than this many seconds."),
    query("tailLines", "integer", "Only this many lines from the end."),
    query("timestamps", "boolean", "Prefix every line with an RFC 3339 timestamp."),
];

impl Operation {
    fn query_params(&self) -> Vec<&'static Param> {
        match self.action {
            Action::List => LIST_PARAMS.to_vec(),
            Action::Write => vec![&DRY_RUN, &FIELD_MANAGER, &FIELD_VALIDATION],
            Action::Patch => vec![&DRY_RUN, &FIELD_MANAGER, &FIELD_VALIDATION, &FORCE],
            Action::Delete => DELETE_PARAMS.to_vec(),
            Action::DeleteCollection => DELETE_COLLECTION_PARAMS.to_vec(),
            Action::Read => Vec::new(),
            Action::Log => LOG_PARAMS.iter().collect(),
        }
    }

    fn path_params(&self) -> Vec<Param> {
        let mut out = Vec::new();
        if self.path.contains("{name}") {
            out.push(Param {
                name: "name",
                location: "path",
                ty: "string",
                description: "name of the object",
            });
        }
        if self.path.contains("{namespace}") {
            out.push(Param {
                name: "namespace",
                location: "path",
                ty: "string",
                description: "object name and auth scope, such as for teams and projects",
            });
        }
        out
    }

    /// `x-kubernetes-action`, as kube-apiserver names the verbs.
    fn action_name(&self) -> &'static str {
        match (self.action, self.method) {
            (Action::List, _) => "list",
            (Action::Write, "post") => "post",
            (Action::Write, _) => "put",
            (Action::Read | Action::Log, _) => "get",
            (Action::Patch, _) => "patch",
            (Action::Delete, _) => "delete",
            (Action::DeleteCollection, _) => "deletecollection",
        }
    }

    /// The request body's schema and whether it is required.
    fn body(&self) -> Option<(String, bool)> {
        match self.action {
            Action::Write => Some((self.object_schema.clone(), true)),
            Action::Patch => Some((format!("{META}Patch"), true)),
            Action::Delete | Action::DeleteCollection => Some((format!("{META}DeleteOptions"), false)),
            _ => None,
        }
    }

    /// The response schema of a 200: the object, the list, `Status`, or text.
    fn response_schema(&self) -> Value {
        match self.action {
            Action::List => schema_ref(&format!("{}List", self.object_schema)),
            Action::Delete | Action::DeleteCollection => schema_ref(&format!("{META}Status")),
            Action::Log => json!({"type": "string"}),
            _ => schema_ref(&self.object_schema),
        }
    }

    fn request_types(&self) -> Vec<&'static str> {
        match self.action {
            Action::Patch => PATCH_CONTENT_TYPES.to_vec(),
            _ => vec!["*/*"],
        }
    }

    fn response_types(&self) -> Vec<&'static str> {
        match self.action {
            Action::List => vec!["application/json", "application/json;stream=watch"],
            Action::Log => vec!["text/plain"],
            _ => vec!["application/json"],
        }
    }

    fn v3(&self) -> Value {
        let parameters: Vec<Value> = self.query_params().into_iter().map(Param::v3).collect();
        let response = self.response_schema();
        let content = |types: Vec<&str>, schema: &Value| -> Value {
            types
                .into_iter()
                .map(|t| (t.to_string(), json!({"schema": schema})))
                .collect::<Map<_, _>>()
                .into()
        };
        let mut responses = json!({
            "200": {"description": "OK", "content": content(self.response_types(), &response)},
            "401": {"description": "Unauthorized"},
        });
        if matches!(self.action, Action::Write | Action::Patch) {
            responses["201"] =
                json!({"description": "Created", "content": content(self.response_types(), &response)});
        }
        let mut op = json!({
            "description": self.description,
            "operationId": self.id,
            "responses": responses,
            "tags": [self.tag],
            "x-kubernetes-action": self.action_name(),
            "x-kubernetes-group-version-kind": self.gvk,
        });
        if !parameters.is_empty() {
            op["parameters"] = Value::Array(parameters);
        }
        if let Some((schema, required)) = self.body() {
            op["requestBody"] =
                json!({"content": content(self.request_types(), &schema_ref(&schema)), "required": required});
        }
        op
    }

    fn v2(&self) -> Value {
        let mut parameters: Vec<Value> = self.query_params().into_iter().map(Param::v2).collect();
        if let Some((schema, required)) = self.body() {
            parameters.insert(
                0,
                json!({"in": "body", "name": "body", "required": required, "schema": v2_ref(&schema)}),
            );
        }
        let response = to_v2_schema(self.response_schema());
        let mut responses =
            json!({"200": {"description": "OK", "schema": response}, "401": {"description": "Unauthorized"}});
        if matches!(self.action, Action::Write | Action::Patch) {
            responses["201"] = json!({"description": "Created", "schema": response});
        }
        let mut op = json!({
            "consumes": self.request_types(),
            "description": self.description,
            "operationId": self.id,
            "produces": self.response_types(),
            "responses": responses,
            "schemes": ["https"],
            "tags": [self.tag],
            "x-kubernetes-action": self.action_name(),
            "x-kubernetes-group-version-kind": self.gvk,
        });
        if !parameters.is_empty() {
            op["parameters"] = Value::Array(parameters);
        }
        op
    }
}

impl Param {
    fn v3(&self) -> Value {
        let mut p = json!({
            "description": self.description,
            "in": self.location,
            "name": self.name,
            "schema": {"type": self.ty, "uniqueItems": true},
        });
        if self.location == "path" {
            p["required"] = Value::Bool(true);
        }
        p
    }

    fn v2(&self) -> Value {
        let mut p = json!({
            "description": self.description,
            "in": self.location,
            "name": self.name,
            "type": self.ty,
            "uniqueItems": true,
        });
        if self.location == "path" {
            p["required"] = Value::Bool(true);
        }
        p
    }
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("{SCHEMAS_REF}{name}")})
}

fn v2_ref(name: &str) -> Value {
    json!({"$ref": format!("#/definitions/{name}")})
}

// === Schemas ===

/// Every schema, by name: derived from the Rust types, plus the shapes Drover has no type for,
/// and for each of `resources` its kind (a version with no type of its own takes another
/// version's shape, as batch/v1beta1 CronJob has batch/v1's) and its list.
fn all_schemas(resources: &[ResourceInfo]) -> Map<String, Value> {
    let mut generator = SchemaSettings::openapi3().with(|s| s.transforms.clear()).into_generator();
    generator.subschema_for::<crate::Job>();
    generator.subschema_for::<crate::CronJob>();
    generator.subschema_for::<crate::Pod>();
    generator.subschema_for::<crate::Worker>();
    generator.subschema_for::<crate::meta::ListMeta>();
    let mut schemas = generator.take_definitions(false);
    for schema in schemas.values_mut() {
        tidy(schema);
    }
    add_handwritten(&mut schemas);
    for r in resources {
        let name = schema_name(r);
        if !schemas.contains_key(&name) {
            let same_kind = schemas.values().find(|s| {
                s["x-kubernetes-group-version-kind"]
                    .as_array()
                    .is_some_and(|l| l.iter().any(|g| g["group"] == r.group && g["kind"] == r.kind))
            });
            if let Some(mut schema) = same_kind.cloned() {
                schema["x-kubernetes-group-version-kind"] = json!([gvk(r)]);
                schemas.insert(name.clone(), schema);
            }
        }
        let list = json!({
            "description": format!("A list of {}.", r.plural),
            "properties": {
                "apiVersion": {"description": "The list's apiVersion.", "type": "string"},
                "items": {"description": "The objects.", "items": schema_ref(&name), "type": "array"},
                "kind": {"description": "The list's kind.", "type": "string"},
                "metadata": {"allOf": [schema_ref(&format!("{META}ListMeta"))], "description": "Standard list metadata."},
            },
            "required": ["items"],
            "type": "object",
            "x-kubernetes-group-version-kind": [{"group": r.group, "kind": format!("{}List", r.kind), "version": r.version}],
        });
        schemas.insert(format!("{name}List"), list);
    }
    schemas
}

/// Turns a schemars schema into the Kubernetes OpenAPI style: no `null` types (an absent or
/// `null` field is the same to Drover), `$ref` alone or in `allOf` beside its description,
/// descriptions on one line per paragraph, and no defaults larger than `{}`.
fn tidy(schema: &mut Value) {
    if let Value::Bool(true) = schema {
        *schema = json!({});
    }
    let Value::Object(map) = schema else { return };
    if let Some(Value::Array(any_of)) = map.get_mut("anyOf") {
        any_of.retain(|s| s.get("type") != Some(&json!("null")));
        if any_of.len() == 1 {
            let Some(Value::Object(only)) = any_of.pop() else { return };
            map.remove("anyOf");
            for (k, v) in only {
                map.entry(k).or_insert(v);
            }
        }
    }
    if let Some(Value::Array(types)) = map.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let only = types.remove(0);
            map.insert("type".to_string(), only);
        }
    }
    if let Some(Value::Array(values)) = map.get_mut("enum") {
        values.retain(|v| !v.is_null());
    }
    if let Some(Value::String(text)) = map.get_mut("description") {
        *text = unwrap_lines(text);
    }
    if map.get("default").is_some_and(|d| {
        matches!(d, Value::Object(o) if !o.is_empty()) || matches!(d, Value::Array(a) if !a.is_empty())
    }) {
        map.remove("default");
    }
    map.remove("title");
    for key in ["items", "additionalProperties"] {
        if let Some(child) = map.get_mut(key) {
            tidy(child);
        }
    }
    for key in ["properties"] {
        if let Some(Value::Object(children)) = map.get_mut(key) {
            children.values_mut().for_each(tidy);
        }
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(children)) = map.get_mut(key) {
            children.iter_mut().for_each(tidy);
        }
    }
    if map.len() > 1
        && let Some(reference) = map.remove("$ref")
    {
        map.insert("allOf".to_string(), json!([{"$ref": reference}]));
    }
}

/// Joins the lines of each paragraph of a doc comment, and drops the brackets of intra-doc links
/// (``[`Job`]`` becomes `` `Job` ``).
fn unwrap_lines(text: &str) -> String {
    text.split("\n\n")
        .map(|p| p.split('\n').map(str::trim).collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n\n")
        .replace("[`", "`")
        .replace("`]", "`")
}

/// The apimachinery and core shapes Drover has no Rust type for.
fn add_handwritten(schemas: &mut Map<String, Value>) {
    let string = |d: &str| json!({"description": d, "type": "string"});
    let integer = |d: &str| json!({"description": d, "format": "int64", "type": "integer"});
    schemas.insert(
        format!("{META}Status"),
        json!({
            "description": "The result of an operation that returns no object, and every error.",
            "properties": {
                "apiVersion": string("v1"),
                "code": {"description": "The HTTP status code.", "format": "int32", "type": "integer"},
                "details": {"description": "More about the error.", "type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "kind": string("Status"),
                "message": string("A human-readable description of the error."),
                "metadata": {"allOf": [schema_ref(&format!("{META}ListMeta"))], "description": "Standard list metadata."},
                "reason": string("A machine-readable reason, such as NotFound or AlreadyExists."),
                "status": string("Success or Failure."),
            },
            "type": "object",
        }),
    );
    schemas.insert(
        format!("{META}DeleteOptions"),
        json!({
            "description": "Options of a delete request.",
            "properties": {
                "apiVersion": string("v1"),
                "dryRun": {"description": "All: persist nothing.", "items": {"type": "string"}, "type": "array", "x-kubernetes-list-type": "atomic"},
                "gracePeriodSeconds": integer("Seconds before the object is deleted; 0 deletes at once."),
                "kind": string("DeleteOptions"),
                "propagationPolicy": string("Whether and how dependents are deleted: Orphan, Background or Foreground."),
            },
            "type": "object",
        }),
    );
    schemas.insert(
        format!("{META}Patch"),
        json!({"description": "A patch, in one of the declared patch types.", "type": "object"}),
    );
    let time = |d: &str| json!({"description": d, "format": "date-time", "type": "string"});
    let object_meta = || json!({"allOf": [schema_ref(&format!("{META}ObjectMeta"))], "default": {}, "description": "Name, uid and the rest."});
    schemas.insert(
        "io.k8s.api.core.v1.Namespace".to_string(),
        json!({
            "description": "A namespace. Drover has one, `default`.",
            "properties": {
                "apiVersion": string("v1"),
                "kind": string("Namespace"),
                "metadata": object_meta(),
                "spec": {
                    "description": "The namespace's finalizers.",
                    "properties": {"finalizers": {"description": "`kubernetes`.", "items": {"type": "string"}, "type": "array", "x-kubernetes-list-type": "atomic"}},
                    "type": "object",
                },
                "status": {
                    "description": "The namespace's phase.",
                    "properties": {"phase": string("`Active`.")},
                    "type": "object",
                },
            },
            "type": "object",
            "x-kubernetes-group-version-kind": [{"group": "", "kind": "Namespace", "version": "v1"}],
        }),
    );
    // What `meta::Event::to_core_v1_with_id` writes.
    schemas.insert(
        "io.k8s.api.core.v1.Event".to_string(),
        json!({
            "description": "Something that happened to an object, as a controller or a worker reported it. A Drover event happens once: both timestamps are its time and count is 1.",
            "properties": {
                "apiVersion": string("v1"),
                "count": {"description": "How often it happened: 1.", "format": "int32", "type": "integer"},
                "eventTime": time("Unset (Drover's events carry firstTimestamp and lastTimestamp)."),
                "firstTimestamp": time("When it happened."),
                "involvedObject": {"allOf": [schema_ref("io.k8s.api.core.v1.ObjectReference")], "default": {}, "description": "The object it happened to."},
                "kind": string("Event"),
                "lastTimestamp": time("When it happened."),
                "message": string("A human-readable sentence."),
                "metadata": object_meta(),
                "reason": string("A CamelCase reason such as SuccessfulCreate."),
                "reportingComponent": string("The component that reported it: job-controller, cronjob-controller, worker or coordinator."),
                "reportingInstance": string("Empty."),
                "source": {
                    "description": "The component that reported it.",
                    "properties": {"component": string("job-controller, cronjob-controller, worker or coordinator.")},
                    "type": "object",
                },
                "type": string("Normal or Warning."),
            },
            "required": ["metadata", "involvedObject"],
            "type": "object",
            "x-kubernetes-group-version-kind": [{"group": "", "kind": "Event", "version": "v1"}],
        }),
    );
}

/// Rewrites a v3 schema into Swagger 2.0: `#/definitions/` refs, and a lone `allOf` ref beside a
/// description back to a plain `$ref` with siblings.
fn to_v2_schema(mut schema: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get_mut("$ref")
                    && let Some(name) = r.strip_prefix(SCHEMAS_REF)
                {
                    *r = format!("#/definitions/{name}");
                }
                let lone_ref = matches!(map.get("allOf"), Some(Value::Array(a)) if a.len() == 1 && a[0].get("$ref").is_some());
                if lone_ref && let Some(Value::Array(mut all_of)) = map.remove("allOf") {
                    let mut inner = all_of.remove(0);
                    walk(&mut inner);
                    if let Some(r) = inner.get("$ref").cloned() {
                        map.insert("$ref".to_string(), r);
                    }
                }
                map.values_mut().for_each(walk);
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut schema);
    schema
}

/// The names of the schemas `value` refers to.
fn refs_in(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref")
                && let Some(name) = r.strip_prefix(SCHEMAS_REF)
            {
                out.insert(name.to_string());
            }
            map.values().for_each(|v| refs_in(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs_in(v, out)),
        _ => {}
    }
}

/// The schemas reachable from `roots`.
fn closure(schemas: &Map<String, Value>, roots: BTreeSet<String>) -> Map<String, Value> {
    let mut todo: Vec<String> = roots.into_iter().collect();
    let mut out = Map::new();
    while let Some(name) = todo.pop() {
        if out.contains_key(&name) {
            continue;
        }
        let Some(schema) = schemas.get(&name) else { continue };
        let mut next = BTreeSet::new();
        refs_in(schema, &mut next);
        todo.extend(next.into_iter().filter(|n| !out.contains_key(n)));
        out.insert(name, schema.clone());
    }
    out
}

/// The paths of the resources matching `select`, with their operations, as v3 or v2.
fn paths<'r>(resources: impl Iterator<Item = &'r ResourceInfo>, v3: bool) -> Map<String, Value> {
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for op in resources.flat_map(operations) {
        let entry = paths.entry(op.path.clone()).or_default();
        if !entry.contains_key("parameters") {
            let params: Vec<Value> =
                op.path_params().iter().map(|p| if v3 { p.v3() } else { p.v2() }).collect();
            if !params.is_empty() {
                entry.insert("parameters".to_string(), Value::Array(params));
            }
        }
        entry.insert(op.method.to_string(), if v3 { op.v3() } else { op.v2() });
    }
    paths.into_iter().map(|(k, v)| (k, Value::Object(v))).collect()
}

fn info() -> Value {
    json!({"title": "Drover", "version": env!("CARGO_PKG_VERSION")})
}

/// The OpenAPI 3.0 document of one group-version (`apis/batch/v1`, `api/v1`, …; see
/// [`group_versions`]), as kube-apiserver serves at `/openapi/v3/<group-version>`: its paths
/// and operations, and every schema they reach. `None` for a group-version Drover does not
/// serve.
pub fn v3(group_version: &str) -> Option<Value> {
    v3_of(resource::ALL, group_version)
}

fn v3_of(resources: &[ResourceInfo], group_version: &str) -> Option<Value> {
    let in_gv = |r: &&ResourceInfo| r.group_version_path().trim_start_matches('/') == group_version;
    if !resources.iter().any(|r| in_gv(&r)) {
        return None;
    }
    let paths = paths(resources.iter().filter(in_gv), true);
    let mut roots = BTreeSet::new();
    refs_in(&Value::Object(paths.clone()), &mut roots);
    let schemas = closure(&all_schemas(resources), roots);
    Some(json!({
        "components": {
            "schemas": schemas,
            "securitySchemes": {"BearerToken": {"description": "Bearer Token authentication", "in": "header", "name": "authorization", "type": "apiKey"}},
        },
        "info": info(),
        "openapi": "3.0.0",
        "paths": paths,
        "security": [{"BearerToken": []}],
    }))
}

/// The hash kubectl's cache keys a v3 document by: the SHA-512 of its JSON, in upper-case hex
/// (as kube-apiserver computes it). Serve the document as `serde_json::to_vec` writes it.
pub fn hash(document: &Value) -> String {
    let digest = Sha512::digest(serde_json::to_vec(document).unwrap_or_default());
    digest.iter().map(|b| format!("{b:02X}")).collect()
}

/// The document kube-apiserver serves at `/openapi/v3`: each group-version's path and the URL of
/// its document, `/openapi/v3/<group-version>?hash=<hash>`.
pub fn v3_index() -> Value {
    let paths: Map<String, Value> = group_versions()
        .into_iter()
        .filter_map(|gv| {
            let document = v3(&gv)?;
            let url = format!("/openapi/v3/{gv}?hash={}", hash(&document));
            Some((gv, json!({"serverRelativeURL": url})))
        })
        .collect();
    json!({"paths": paths})
}

/// The Swagger 2.0 document of every resource, as kube-apiserver serves at `/openapi/v2` to a
/// client that accepts JSON. kubectl itself only reads v2 as protobuf (see the module docs).
pub fn v2() -> Value {
    let paths = paths(resource::ALL.iter(), false);
    let definitions: Map<String, Value> =
        all_schemas(resource::ALL).into_iter().map(|(name, schema)| (name, to_v2_schema(schema))).collect();
    json!({
        "definitions": definitions,
        "info": info(),
        "paths": paths,
        "security": [{"BearerToken": []}],
        "securityDefinitions": {"BearerToken": {"description": "Bearer Token authentication", "in": "header", "name": "authorization", "type": "apiKey"}},
        "swagger": "2.0",
    })
}

/// The schema in `document` (v3 or v2) whose `x-kubernetes-group-version-kind` holds the kind
/// of `api_version` (`batch/v1`, `v1`) and `kind`, with its name.
pub fn schema_for<'d>(document: &'d Value, api_version: &str, kind: &str) -> Option<(&'d str, &'d Value)> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let want = json!({"group": group, "kind": kind, "version": version});
    let schemas = document.pointer("/components/schemas").or_else(|| document.get("definitions"))?;
    schemas.as_object()?.iter().find_map(|(name, schema)| {
        let gvks = schema.get("x-kubernetes-group-version-kind")?.as_array()?;
        gvks.contains(&want).then_some((name.as_str(), schema))
    })
}

/// Checks `object` against the schema of its kind in `document`, the way a structural schema
/// does: every field must be declared (unless the schema preserves unknown fields), values must
/// have the declared type (`int32` in range, `date-time` in RFC 3339), and required fields must
/// be present. A `null` counts as absent, as in Drover's decoder.
///
/// # Errors
///
/// Every problem, with its path: `unknown field "spec.parallelismm"`, `spec.parallelism: Invalid
/// value: "two": expected integer`, `spec.template.spec.containers[0].env[0].name: Required
/// value`. An object of a kind the document does not describe gives one error at `kind`.
pub fn validate(document: &Value, object: &Value) -> Result<(), Vec<FieldError>> {
    let api_version = object.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    let Some((_, schema)) = schema_for(document, api_version, kind) else {
        return Err(vec![FieldError::invalid(
            "kind",
            kind,
            format!("no schema for {kind} in {api_version:?}"),
        )]);
    };
    let mut errors = Vec::new();
    Walker { document }.check(schema, object, "", &mut errors);
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

struct Walker<'d> {
    document: &'d Value,
}

impl<'d> Walker<'d> {
    /// The schema `schema` stands for: `$ref` and a lone `allOf` followed.
    fn resolve(&self, mut schema: &'d Value) -> &'d Value {
        for _ in 0..32 {
            if let Some(Value::String(r)) = schema.get("$ref") {
                let pointer = r.trim_start_matches('#');
                match self.document.pointer(pointer) {
                    Some(target) => schema = target,
                    None => return schema,
                }
            } else if let Some(Value::Array(all_of)) = schema.get("allOf")
                && all_of.len() == 1
                && schema.get("properties").is_none()
            {
                schema = &all_of[0];
            } else {
                break;
            }
        }
        schema
    }

    fn check(&self, schema: &'d Value, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
        let schema = self.resolve(schema);
        let at = |p: &str| if p.is_empty() { "<root>".to_string() } else { p.to_string() };
        let expect = |ty: &str, errors: &mut Vec<FieldError>| {
            errors.push(FieldError::invalid(at(path), value, format!("expected {ty}")));
        };
        match schema.get("type").and_then(Value::as_str) {
            Some("object") => {
                let Value::Object(fields) = value else { return expect("object", errors) };
                let properties = schema.get("properties").and_then(Value::as_object);
                let additional = schema.get("additionalProperties").filter(|a| a.is_object());
                let preserve = schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
                for (key, child) in fields {
                    if child.is_null() {
                        continue;
                    }
                    let child_path = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                    match (properties.and_then(|p| p.get(key)), additional) {
                        (Some(child_schema), _) | (None, Some(child_schema)) => {
                            self.check(child_schema, child, &child_path, errors);
                        }
                        (None, None) if preserve || properties.is_none() => {}
                        (None, None) => errors.push(FieldError::unknown_field(child_path)),
                    }
                }
                for required in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
                    let Some(name) = required.as_str() else { continue };
                    if fields.get(name).is_none_or(Value::is_null) {
                        let p = if path.is_empty() { name.to_string() } else { format!("{path}.{name}") };
                        errors.push(FieldError::required(p, ""));
                    }
                }
            }
            Some("array") => {
                let Value::Array(items) = value else { return expect("array", errors) };
                if let Some(item_schema) = schema.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.check(item_schema, item, &format!("{path}[{i}]"), errors);
                    }
                }
            }
            Some("string") => {
                let Value::String(text) = value else { return expect("string", errors) };
                if schema.get("format").and_then(Value::as_str) == Some("date-time")
                    && chrono::DateTime::parse_from_rfc3339(text).is_err()
                {
                    errors.push(FieldError::invalid(
                        at(path),
                        text.as_str(),
                        "expected an RFC 3339 date-time",
                    ));
                }
            }
            Some("integer") => {
                let Some(n) = value.as_i64().or_else(|| value.as_u64().and_then(|n| i64::try_from(n).ok()))
                else {
                    return expect("integer", errors);
                };
                let format = schema.get("format").and_then(Value::as_str);
                let out_of_range = match format {
                    Some("int32") => i32::try_from(n).is_err(),
                    Some("uint64") => n < 0,
                    _ => false,
                };
                if out_of_range {
                    errors.push(FieldError::invalid(
                        at(path),
                        value,
                        format!("out of range for {}", format.unwrap_or("")),
                    ));
                }
            }
            Some("number") if !value.is_number() => expect("number", errors),
            Some("boolean") if !value.is_boolean() => expect("boolean", errors),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(gv: &str) -> Value {
        v3(gv).unwrap_or_else(|| panic!("no document for {gv}"))
    }

    /// The document of the group-version an `apiVersion` belongs to.
    fn doc_for(api_version: &str) -> Value {
        let gv = if api_version.contains('/') {
            format!("apis/{api_version}")
        } else {
            format!("api/{api_version}")
        };
        doc(&gv)
    }

    fn messages(result: Result<(), Vec<FieldError>>) -> Vec<String> {
        result.err().unwrap_or_default().iter().map(ToString::to_string).collect()
    }

    fn yaml_documents(text: &str) -> Vec<Value> {
        let options = serde_saphyr::options! { strict_booleans: true };
        serde_saphyr::from_multiple_with_options::<Value>(text, options)
            .unwrap()
            .into_iter()
            .filter(|v| !v.is_null())
            .collect()
    }

    #[test]
    fn every_example_validates_against_its_group_version() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let name = path.display().to_string();
            // The strict decoder takes the file as it is (with `$ITEM` expanded): the schema must too.
            let expanded = crate::manifest::expand_template(&text, &[("ITEM".into(), "apple".into())]);
            crate::manifest::parse_documents(&expanded, &name).unwrap_or_else(|e| panic!("{name}: {e}"));
            for mut object in yaml_documents(&text) {
                // Drover reads batch/v1beta1 CronJobs as batch/v1 (the same shape); kubectl
                // cannot send them (discovery has no batch/v1beta1).
                if object["apiVersion"] == "batch/v1beta1" {
                    object["apiVersion"] = json!("batch/v1");
                }
                let api_version = object["apiVersion"].as_str().unwrap();
                assert_eq!(
                    messages(validate(&doc_for(api_version), &object)),
                    Vec::<String>::new(),
                    "{name}"
                );
                checked += 1;
            }
        }
        assert!(checked >= 13, "only {checked} example objects found");
    }

    const PI: &str = "
apiVersion: batch/v1
kind: Job
metadata: {name: pi, labels: {app: pi}}
spec:
  backoffLimit: 4
  template:
    spec:
      containers:
      - name: pi
        image: perl
        command: [sh, -c, 'true']
        env: [{name: A, value: '1'}]
        resources: {limits: {cpu: 1}}
      restartPolicy: Never
";

    /// `PI` with `yaml_path` (dotted, `[i]` for list items) set to the YAML value `value`.
    fn pi_with(yaml_path: &str, value: &str) -> Value {
        let mut object = yaml_documents(PI).remove(0);
        let mut current = &mut object;
        let parts: Vec<&str> = yaml_path.split('.').collect();
        for (i, part) in parts.iter().enumerate() {
            let (key, index) = match part.split_once('[') {
                Some((k, rest)) => (k, Some(rest.trim_end_matches(']').parse::<usize>().unwrap())),
                None => (*part, None),
            };
            if i + 1 == parts.len() && index.is_none() {
                let parsed: Value = yaml_documents(&format!("v: {value}")).remove(0)["v"].take();
                current[key] = parsed;
                break;
            }
            current = &mut current[key];
            if let Some(index) = index {
                current = &mut current[index];
            }
        }
        object
    }

    #[test]
    fn the_validator_reports_what_the_strict_decoder_refuses() {
        let cases: &[(&str, &str, &str, &[&str])] = &[
            ("valid", "spec.parallelism", "2", &[]),
            ("unknown spec field", "spec.parallelismm", "2", &[r#"unknown field "spec.parallelismm""#]),
            (
                "unknown container field",
                "spec.template.spec.containers[0].imagee",
                "x",
                &[r#"unknown field "spec.template.spec.containers[0].imagee""#],
            ),
            ("unknown metadata field", "metadata.nam", "x", &[r#"unknown field "metadata.nam""#]),
            (
                "wrong type",
                "spec.parallelism",
                "two",
                &[r#"spec.parallelism: Invalid value: "two": expected integer"#],
            ),
            (
                "int32 overflow",
                "spec.backoffLimit",
                "4294967296",
                &["spec.backoffLimit: Invalid value: 4294967296: out of range for int32"],
            ),
            (
                "label value not a string",
                "metadata.labels",
                "{app: 1}",
                &["metadata.labels.app: Invalid value: 1: expected string"],
            ),
            (
                "env without a name",
                "spec.template.spec.containers[0].env",
                "[{value: x}]",
                &["spec.template.spec.containers[0].env[0].name: Required value"],
            ),
            (
                "queue without url and name",
                "spec.queue",
                "{}",
                &["spec.queue.url: Required value", "spec.queue.name: Required value"],
            ),
            ("anything in resources", "spec.template.spec.containers[0].resources", "{foo: [1]}", &[]),
            ("null is absent", "spec.completions", "null", &[]),
            (
                "bad timestamp",
                "metadata.creationTimestamp",
                "yesterday",
                &[
                    r#"metadata.creationTimestamp: Invalid value: "yesterday": expected an RFC 3339 date-time"#,
                ],
            ),
        ];
        let document = doc("apis/batch/v1");
        for (name, path, value, want) in cases {
            let object = pi_with(path, value);
            let got = messages(validate(&document, &object));
            assert_eq!(&got, want, "{name}");
            // The strict decoder agrees about unknown fields and about whether the object is usable.
            let decoded = crate::manifest::decode_object(object, "test");
            let unknown_decoded: Vec<String> = decoded
                .as_ref()
                .err()
                .map(|e| e.messages.iter().filter(|m| m.starts_with("unknown field")).cloned().collect())
                .unwrap_or_default();
            let unknown_schema: Vec<String> =
                got.iter().filter(|m| m.starts_with("unknown field")).cloned().collect();
            assert_eq!(unknown_decoded, unknown_schema, "{name}");
            if want.is_empty() {
                assert!(decoded.is_ok(), "{name}: {decoded:?}");
            } else {
                assert!(decoded.is_err(), "{name}: the decoder accepted it");
            }
        }
    }

    #[test]
    fn an_object_of_another_kind_is_refused() {
        let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment"});
        let got = messages(validate(&doc("apis/batch/v1"), &deployment));
        assert_eq!(got, vec![r#"kind: Invalid value: "Deployment": no schema for Deployment in "apps/v1""#]);
    }

    /// A value for `schema` with every property set to a value that survives a round trip
    /// (non-default, so that `skip_serializing_if` keeps it).
    fn sample(document: &Value, schema: &Value) -> Value {
        let walker = Walker { document };
        let schema = walker.resolve(schema);
        match schema.get("type").and_then(Value::as_str) {
            Some("object") => match (
                schema.get("properties").and_then(Value::as_object),
                schema.get("additionalProperties"),
            ) {
                (Some(properties), _) => {
                    properties.iter().map(|(k, s)| (k.clone(), sample(document, s))).collect()
                }
                (None, Some(values)) => json!({"key": sample(document, values)}),
                (None, None) => json!({}),
            },
            Some("array") => json!([sample(document, &schema["items"])]),
            Some("string") if schema.get("format") == Some(&json!("date-time")) => {
                json!("2024-05-06T07:08:09Z")
            }
            Some("string") => json!("x"),
            Some("integer") => json!(2),
            Some("boolean") => json!(true),
            _ => json!({"anything": ["goes"]}),
        }
    }

    fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(api_version: &str, kind: &str) {
        let document = doc_for(api_version);
        let (name, schema) = schema_for(&document, api_version, kind).unwrap();
        let mut value = sample(&document, schema);
        // Drover's events carry no type meta; every other kind does.
        if value.get("kind").is_some() {
            value["apiVersion"] = json!(api_version);
            value["kind"] = json!(kind);
        }
        let mut unknown = Vec::new();
        let object: T = serde_ignored::deserialize(&value, |path| unknown.push(path.to_string()))
            .unwrap_or_else(|e| panic!("{name}: the schema's sample does not decode: {e}"));
        assert_eq!(unknown, Vec::<String>::new(), "{name}: properties the type does not have");
        // Every field the type serializes is in the schema, and every property of the schema is a
        // field of the type: the sample comes back unchanged.
        assert_eq!(serde_json::to_value(&object).unwrap(), value, "{name}");
        if value.get("kind").is_some() {
            assert_eq!(messages(validate(&document, &value)), Vec::<String>::new(), "{name}");
        }
    }

    #[test]
    fn the_schemas_have_exactly_the_fields_of_the_types() {
        round_trip::<crate::Job>("batch/v1", "Job");
        round_trip::<crate::CronJob>("batch/v1", "CronJob");
        round_trip::<crate::Pod>("v1", "Pod");
        round_trip::<crate::Worker>("drover.dev/v1", "Worker");
    }

    /// The property paths of `schema` (`metadata.name`, `spec.containers[].env[].name`), down
    /// through references, stopping at a schema already on the way.
    fn property_paths(
        document: &Value,
        schema: &Value,
        prefix: &str,
        seen: &mut Vec<String>,
        out: &mut BTreeSet<String>,
    ) {
        let walker = Walker { document };
        let resolved = walker.resolve(schema);
        let key = resolved.to_string();
        if seen.contains(&key) {
            return;
        }
        seen.push(key);
        if let Some(items) = resolved.get("items") {
            property_paths(document, items, &format!("{prefix}[]"), seen, out);
        }
        for (name, child) in resolved.get("properties").and_then(Value::as_object).into_iter().flatten() {
            let path = if prefix.is_empty() { name.clone() } else { format!("{prefix}.{name}") };
            out.insert(path.clone());
            property_paths(document, child, &path, seen, out);
        }
        seen.pop();
    }

    /// The paths of the fields set in `value`, in the form of [`property_paths`].
    fn value_paths(value: &Value, prefix: &str, out: &mut BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    out.insert(path.clone());
                    value_paths(v, &path, out);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| value_paths(v, &format!("{prefix}[]"), out)),
            _ => {}
        }
    }

    #[test]
    fn the_shapes_served_without_a_type_match_their_schemas() {
        let at =
            chrono::DateTime::parse_from_rfc3339("2024-05-06T07:08:09Z").unwrap().with_timezone(&chrono::Utc);
        let events: Vec<Value> = ["Job", "CronJob", "Pod", "Worker"]
            .iter()
            .enumerate()
            .map(|(i, kind)| {
                let event =
                    crate::meta::Event::warning(kind, "pi", "u-1", "BackoffLimitExceeded", "m".into(), at);
                event.to_core_v1_with_id(i64::try_from(i).unwrap() + 1)
            })
            .collect();
        let namespace = crate::table::namespace_object("default", Some(at));
        let core = doc("api/v1");
        for (kind, objects) in [("Event", events), ("Namespace", vec![namespace])] {
            let (name, schema) = schema_for(&core, "v1", kind).unwrap();
            let mut served = BTreeSet::new();
            for object in &objects {
                assert_eq!(messages(validate(&core, object)), Vec::<String>::new(), "{kind}: {object}");
                value_paths(object, "", &mut served);
            }
            // Every property of the schema is served (metadata's are ObjectMeta's, served in part).
            let mut described = BTreeSet::new();
            property_paths(&core, schema, "", &mut Vec::new(), &mut described);
            let missing: Vec<&String> = described
                .iter()
                .filter(|p| {
                    !served.contains(*p) && !p.starts_with("metadata.") && !p.starts_with("involvedObject.")
                })
                .collect();
            assert!(missing.is_empty(), "{name}: described, never served: {missing:?}");
        }
    }

    #[test]
    fn a_version_without_a_type_of_its_own_takes_the_shape_of_another() {
        let beta = ResourceInfo { version: "v1beta1", ..resource::CRONJOBS };
        let resources = [resource::JOBS, resource::CRONJOBS, beta];
        assert_eq!(group_versions_of(&resources), ["apis/batch/v1", "apis/batch/v1beta1"]);
        let document = v3_of(&resources, "apis/batch/v1beta1").unwrap();
        let (name, _) = schema_for(&document, "batch/v1beta1", "CronJob").unwrap();
        assert_eq!(name, "io.k8s.api.batch.v1beta1.CronJob");
        let gvk = json!({"group": "batch", "kind": "CronJob", "version": "v1beta1"});
        let patch = patch_operation(&document, &gvk).unwrap();
        assert!(patch["parameters"].as_array().unwrap().iter().any(|p| p["name"] == "fieldValidation"));
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/cronjob-hello.yaml");
        let mut hello = yaml_documents(&std::fs::read_to_string(path).unwrap()).remove(0);
        assert_eq!(hello["apiVersion"], "batch/v1beta1");
        assert_eq!(messages(validate(&document, &hello)), Vec::<String>::new());
        hello["spec"]["schedulee"] = json!("x");
        assert_eq!(messages(validate(&document, &hello)), [r#"unknown field "spec.schedulee""#]);
        assert!(v3_of(&resources, "api/v1").is_none());
    }

    /// kubectl's `supportsQueryParamV3`: the first PATCH operation of the kind must list the
    /// parameter in its own `parameters`.
    fn patch_operation<'d>(document: &'d Value, gvk: &Value) -> Option<&'d Value> {
        document["paths"].as_object()?.values().find_map(|path| {
            let patch = path.get("patch")?;
            (patch.get("x-kubernetes-group-version-kind") == Some(gvk)).then_some(patch)
        })
    }

    #[test]
    fn kubectl_finds_field_validation_and_strategic_merge_on_every_writable_kind() {
        for (gv, gvk) in [
            ("apis/batch/v1", json!({"group": "batch", "kind": "Job", "version": "v1"})),
            ("apis/batch/v1", json!({"group": "batch", "kind": "CronJob", "version": "v1"})),
        ] {
            let document = doc(gv);
            let patch = patch_operation(&document, &gvk).unwrap_or_else(|| panic!("no PATCH for {gvk}"));
            let params = patch["parameters"].as_array().unwrap();
            for name in ["fieldValidation", "fieldManager", "dryRun", "force"] {
                assert!(params.iter().any(|p| p["name"] == name && p["in"] == "query"), "{gvk}: {name}");
            }
            assert!(
                patch["requestBody"]["content"].get("application/strategic-merge-patch+json").is_some(),
                "{gvk}"
            );
            // `apply` computes the patch from the schema holding the GVK in its list.
            let schemas = document["components"]["schemas"].as_object().unwrap();
            let holders: Vec<&String> = schemas
                .iter()
                .filter(|(_, s)| {
                    s["x-kubernetes-group-version-kind"].as_array().is_some_and(|l| l.contains(&gvk))
                })
                .map(|(n, _)| n)
                .collect();
            assert_eq!(holders.len(), 1, "{gvk}: {holders:?}");
        }
        // Kinds Drover does not take from users have no PATCH, in any document.
        for gv in group_versions() {
            let gv = gv.as_str();
            let document = doc(gv);
            for kind in ["Pod", "Event", "Namespace", "Worker"] {
                let group = if gv == "apis/drover.dev/v1" { "drover.dev" } else { "" };
                assert!(
                    patch_operation(&document, &json!({"group": group, "kind": kind, "version": "v1"}))
                        .is_none()
                );
            }
        }
    }

    #[test]
    fn every_write_operation_declares_its_parameters() {
        for gv in group_versions() {
            let gv = gv.as_str();
            let document = doc(gv);
            for (path, item) in document["paths"].as_object().unwrap() {
                for (method, op) in item.as_object().unwrap().iter().filter(|(m, _)| *m != "parameters") {
                    let names: Vec<&str> = op["parameters"]
                        .as_array()
                        .map(|ps| ps.iter().filter_map(|p| p["name"].as_str()).collect())
                        .unwrap_or_default();
                    let want: &[&str] = match (method.as_str(), op["x-kubernetes-action"].as_str().unwrap()) {
                        ("post" | "put", _) => &["dryRun", "fieldManager", "fieldValidation"],
                        ("patch", _) => &["dryRun", "fieldManager", "fieldValidation", "force"],
                        ("delete", "delete") => &["dryRun", "propagationPolicy"],
                        ("delete", _) => &["dryRun", "propagationPolicy", "labelSelector", "fieldSelector"],
                        ("get", "list") => &[
                            "labelSelector",
                            "fieldSelector",
                            "limit",
                            "continue",
                            "watch",
                            "resourceVersion",
                            "allowWatchBookmarks",
                        ],
                        ("get", _) if path.ends_with("/log") => &["container", "follow", "tailLines"],
                        ("get", _) => &[],
                        other => panic!("{path}: unexpected {other:?}"),
                    };
                    for name in want {
                        assert!(names.contains(name), "{method} {path}: {name} in {names:?}");
                    }
                    assert!(op["x-kubernetes-group-version-kind"].is_object(), "{method} {path}");
                }
            }
        }
    }

    #[test]
    fn paths_and_operations_have_the_kubernetes_form() {
        let cases = [
            (
                "apis/batch/v1",
                "/apis/batch/v1/namespaces/{namespace}/jobs",
                "get",
                "listBatchV1NamespacedJob",
                "list",
            ),
            (
                "apis/batch/v1",
                "/apis/batch/v1/namespaces/{namespace}/jobs",
                "post",
                "createBatchV1NamespacedJob",
                "post",
            ),
            (
                "apis/batch/v1",
                "/apis/batch/v1/namespaces/{namespace}/jobs/{name}",
                "patch",
                "patchBatchV1NamespacedJob",
                "patch",
            ),
            (
                "apis/batch/v1",
                "/apis/batch/v1/namespaces/{namespace}/jobs/{name}",
                "delete",
                "deleteBatchV1NamespacedJob",
                "delete",
            ),
            (
                "apis/batch/v1",
                "/apis/batch/v1/namespaces/{namespace}/jobs/{name}/status",
                "put",
                "replaceBatchV1NamespacedJobStatus",
                "put",
            ),
            ("apis/batch/v1", "/apis/batch/v1/jobs", "get", "listBatchV1JobForAllNamespaces", "list"),
            (
                "apis/batch/v1",
                "/apis/batch/v1/namespaces/{namespace}/cronjobs/{name}/status",
                "patch",
                "patchBatchV1NamespacedCronJobStatus",
                "patch",
            ),
            ("apis/batch/v1", "/apis/batch/v1/cronjobs", "get", "listBatchV1CronJobForAllNamespaces", "list"),
            (
                "apis/batch/v1",
                "/apis/batch/v1/namespaces/{namespace}/cronjobs/{name}",
                "delete",
                "deleteBatchV1NamespacedCronJob",
                "delete",
            ),
            ("api/v1", "/api/v1/namespaces/{namespace}/pods", "get", "listCoreV1NamespacedPod", "list"),
            ("api/v1", "/api/v1/namespaces/{namespace}/pods/{name}", "get", "readCoreV1NamespacedPod", "get"),
            (
                "api/v1",
                "/api/v1/namespaces/{namespace}/pods/{name}/log",
                "get",
                "readCoreV1NamespacedPodLog",
                "get",
            ),
            ("api/v1", "/api/v1/pods", "get", "listCoreV1PodForAllNamespaces", "list"),
            ("api/v1", "/api/v1/namespaces/{namespace}/events", "get", "listCoreV1NamespacedEvent", "list"),
            ("api/v1", "/api/v1/events", "get", "listCoreV1EventForAllNamespaces", "list"),
            ("api/v1", "/api/v1/namespaces", "get", "listCoreV1Namespace", "list"),
            ("api/v1", "/api/v1/namespaces/{name}", "get", "readCoreV1Namespace", "get"),
            ("apis/drover.dev/v1", "/apis/drover.dev/v1/workers", "get", "listDroverDevV1Worker", "list"),
            (
                "apis/drover.dev/v1",
                "/apis/drover.dev/v1/workers/{name}",
                "delete",
                "deleteDroverDevV1Worker",
                "delete",
            ),
        ];
        for (gv, path, method, id, action) in cases {
            let document = doc(gv);
            let op = &document["paths"][path][method];
            assert_eq!(op["operationId"], id, "{method} {path}");
            assert_eq!(op["x-kubernetes-action"], action, "{method} {path}");
        }
        // Only the verbs the API serves are described (no deletecollection, no pod delete).
        let absent = [
            ("apis/batch/v1", "/apis/batch/v1/namespaces/{namespace}/cronjobs", "delete"),
            ("api/v1", "/api/v1/namespaces/{namespace}/pods/{name}", "delete"),
        ];
        for (gv, path, method) in absent {
            assert!(doc(gv)["paths"][path].get(method).is_none(), "{method} {path}");
        }
        let namespaced =
            &doc("apis/batch/v1")["paths"]["/apis/batch/v1/namespaces/{namespace}/jobs/{name}"]["parameters"];
        let names: Vec<&str> =
            namespaced.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["name", "namespace"]);
        assert!(doc("api/v1")["paths"].get("/api/v1/namespaces/{namespace}/namespaces").is_none());
        assert!(
            doc("apis/drover.dev/v1")["paths"]
                .get("/apis/drover.dev/v1/namespaces/{namespace}/workers")
                .is_none()
        );
    }

    /// What `kubectl explain RESOURCE.FIELD…` finds: the GVK from the resource's paths, the schema
    /// holding it, then each field through `allOf`, `$ref` and `items`.
    fn explain<'d>(document: &'d Value, prefix: &str, plural: &str, fields: &[&str]) -> Option<&'d Value> {
        let paths = [
            format!("{prefix}/{plural}"),
            format!("{prefix}/{plural}/{{name}}"),
            format!("{prefix}/namespaces/{{namespace}}/{plural}"),
            format!("{prefix}/namespaces/{{namespace}}/{plural}/{{name}}"),
        ];
        let gvk = paths.iter().find_map(|p| {
            let item = document["paths"].get(p)?;
            ["get", "post", "put", "patch", "delete"]
                .iter()
                .find_map(|m| item.get(*m)?.get("x-kubernetes-group-version-kind"))
        })?;
        let walker = Walker { document };
        let mut schema = document["components"]["schemas"]
            .as_object()?
            .values()
            .find(|s| s["x-kubernetes-group-version-kind"].as_array().is_some_and(|l| l.contains(gvk)))?;
        for field in fields {
            let mut resolved = walker.resolve(schema);
            while let Some(items) = resolved.get("items") {
                resolved = walker.resolve(items);
            }
            schema = resolved.get("properties")?.get(*field)?;
        }
        Some(walker.resolve(schema))
    }

    #[test]
    fn explain_finds_every_resource_and_its_fields() {
        let cases: &[(&str, &str, &str, &[&str], &str)] = &[
            ("apis/batch/v1", "/apis/batch/v1", "jobs", &["spec", "parallelism"], "integer"),
            (
                "apis/batch/v1",
                "/apis/batch/v1",
                "jobs",
                &["spec", "template", "spec", "containers", "env", "name"],
                "string",
            ),
            (
                "apis/batch/v1",
                "/apis/batch/v1",
                "cronjobs",
                &["spec", "jobTemplate", "spec", "backoffLimit"],
                "integer",
            ),
            (
                "api/v1",
                "/api/v1",
                "pods",
                &["status", "containerStatuses", "state", "terminated", "exitCode"],
                "integer",
            ),
            ("api/v1", "/api/v1", "events", &["reason"], "string"),
            ("api/v1", "/api/v1", "namespaces", &["status", "phase"], "string"),
            ("apis/drover.dev/v1", "/apis/drover.dev/v1", "workers", &["spec", "slots"], "integer"),
        ];
        for (gv, prefix, plural, fields, ty) in cases {
            let document = doc(gv);
            let found =
                explain(&document, prefix, plural, fields).unwrap_or_else(|| panic!("{plural} {fields:?}"));
            assert_eq!(found["type"], *ty, "{plural} {fields:?}");
            assert!(found["description"].as_str().is_some_and(|d| !d.is_empty()), "{plural} {fields:?}");
        }
        assert!(
            explain(&doc("apis/batch/v1"), "/apis/batch/v1", "jobs", &["spec", "parallelismm"]).is_none()
        );
    }

    #[test]
    fn lists_carry_the_merge_keys_of_kubernetes() {
        let cases = [
            ("io.k8s.api.core.v1.PodSpec", "containers", Some("name"), Some("merge"), "map"),
            ("io.k8s.api.core.v1.Container", "env", Some("name"), Some("merge"), "map"),
            ("io.k8s.api.core.v1.Container", "command", None, None, "atomic"),
            ("io.k8s.api.core.v1.Container", "args", None, None, "atomic"),
            ("io.k8s.api.core.v1.PodStatus", "conditions", Some("type"), Some("merge"), "map"),
            ("io.k8s.api.batch.v1.JobStatus", "conditions", Some("type"), Some("merge"), "atomic"),
            (
                "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
                "ownerReferences",
                Some("uid"),
                Some("merge"),
                "map",
            ),
            ("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "finalizers", None, Some("merge"), "set"),
            ("io.k8s.api.batch.v1.PodFailurePolicy", "rules", None, None, "atomic"),
        ];
        let schemas = all_schemas(resource::ALL);
        for (schema, field, key, strategy, list_type) in cases {
            let property = &schemas[schema]["properties"][field];
            assert_eq!(property["x-kubernetes-patch-merge-key"].as_str(), key, "{schema}.{field}");
            assert_eq!(property["x-kubernetes-patch-strategy"].as_str(), strategy, "{schema}.{field}");
            assert_eq!(property["x-kubernetes-list-type"], list_type, "{schema}.{field}");
            if list_type == "map" {
                assert_eq!(property["x-kubernetes-list-map-keys"], json!([key.unwrap()]), "{schema}.{field}");
            }
        }
        // Every list but a List kind's items says how it merges.
        for (name, schema) in &schemas {
            for (field, property) in schema["properties"].as_object().into_iter().flatten() {
                if property["type"] == "array" && !(name.ends_with("List") && field == "items") {
                    assert!(property.get("x-kubernetes-list-type").is_some(), "{name}.{field}");
                }
            }
        }
    }

    /// Every list property of `schema`, by its path with list items transparent
    /// (`spec.template.spec.containers.env`), as `patch`'s tables name them.
    fn list_properties(
        document: &Value,
        schema: &Value,
        prefix: &str,
        depth: usize,
        out: &mut Vec<(String, Value)>,
    ) {
        let walker = Walker { document };
        let mut resolved = walker.resolve(schema);
        while let Some(items) = resolved.get("items") {
            resolved = walker.resolve(items);
        }
        if depth > 12 {
            return;
        }
        for (name, child) in resolved.get("properties").and_then(Value::as_object).into_iter().flatten() {
            let path = if prefix.is_empty() { name.clone() } else { format!("{prefix}.{name}") };
            if walker.resolve(child)["type"] == "array" {
                out.push((path.clone(), child.clone()));
            }
            list_properties(document, child, &path, depth + 1, out);
        }
    }

    #[test]
    fn list_extensions_agree_with_the_servers_patch_tables() {
        use crate::patch::{PatchKind, SmpList, SsaList};
        for (api_version, kind, patch_kind) in [
            ("batch/v1", "Job", PatchKind::Job),
            ("batch/v1", "CronJob", PatchKind::CronJob),
            ("v1", "Pod", PatchKind::Pod),
            ("drover.dev/v1", "Worker", PatchKind::Worker),
        ] {
            let document = doc_for(api_version);
            let (_, schema) = schema_for(&document, api_version, kind).unwrap();
            let mut lists = Vec::new();
            list_properties(&document, schema, "", 0, &mut lists);
            assert!(lists.len() >= 3, "{kind}: {lists:?}");
            for (path, property) in &lists {
                let rule = patch_kind.list_rule(path);
                let smp = rule.map_or(SmpList::Atomic, |r| r.smp);
                let ssa = rule.map_or(SsaList::Atomic, |r| r.ssa);
                let key = property["x-kubernetes-patch-merge-key"].as_str();
                let strategy = property["x-kubernetes-patch-strategy"].as_str();
                let (want_key, want_strategy) = match smp {
                    SmpList::Atomic => (None, None),
                    SmpList::MergeKey(k) => (Some(k), Some("merge")),
                    SmpList::MergePrimitives => (None, Some("merge")),
                };
                assert_eq!((key, strategy), (want_key, want_strategy), "{kind} {path}: strategic merge");
                let list_type = property["x-kubernetes-list-type"].as_str();
                let map_keys: Vec<&str> = property["x-kubernetes-list-map-keys"]
                    .as_array()
                    .map(|keys| keys.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                match ssa {
                    SsaList::Atomic => assert_eq!(list_type, Some("atomic"), "{kind} {path}"),
                    SsaList::Set => assert_eq!(list_type, Some("set"), "{kind} {path}"),
                    SsaList::Map(keys) => {
                        assert_eq!(list_type, Some("map"), "{kind} {path}");
                        assert_eq!(
                            map_keys,
                            keys.iter().map(|k| k.name).collect::<Vec<_>>(),
                            "{kind} {path}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn every_reference_resolves_within_its_document() {
        let check = |document: &Value, prefix: &str| {
            let mut refs = BTreeSet::new();
            fn all_refs(v: &Value, out: &mut BTreeSet<String>) {
                match v {
                    Value::Object(m) => {
                        if let Some(Value::String(r)) = m.get("$ref") {
                            out.insert(r.clone());
                        }
                        m.values().for_each(|v| all_refs(v, out));
                    }
                    Value::Array(a) => a.iter().for_each(|v| all_refs(v, out)),
                    _ => {}
                }
            }
            all_refs(document, &mut refs);
            assert!(!refs.is_empty());
            for r in refs {
                assert!(r.starts_with(prefix), "{r}");
                assert!(document.pointer(r.trim_start_matches('#')).is_some(), "{r} does not resolve");
            }
        };
        for gv in group_versions() {
            let gv = gv.as_str();
            let document = doc(gv);
            check(&document, SCHEMAS_REF);
            assert_eq!(document["openapi"], "3.0.0");
        }
        let swagger = v2();
        check(&swagger, "#/definitions/");
        assert_eq!(swagger["swagger"], "2.0");
        let patch = &swagger["paths"]["/apis/batch/v1/namespaces/{namespace}/jobs/{name}"]["patch"];
        assert!(
            patch["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "fieldValidation" && p["in"] == "query")
        );
        assert_eq!(patch["parameters"][0]["in"], "body");
        assert!(
            swagger["definitions"]["io.k8s.api.batch.v1.JobSpec"]["properties"]["template"]["$ref"]
                .is_string()
        );
    }

    #[test]
    fn the_index_points_at_each_document_by_its_hash() {
        let index = v3_index();
        let paths = index["paths"].as_object().unwrap();
        assert_eq!(
            paths.keys().cloned().collect::<Vec<_>>(),
            ["api/v1", "apis/batch/v1", "apis/drover.dev/v1"]
        );
        assert_eq!(group_versions(), ["apis/batch/v1", "api/v1", "apis/drover.dev/v1"]);
        for gv in group_versions() {
            let gv = gv.as_str();
            let h = hash(&doc(gv));
            assert_eq!(h.len(), 128);
            assert!(h.chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()), "{h}");
            assert_eq!(paths[gv]["serverRelativeURL"], format!("/openapi/v3/{gv}?hash={h}"));
        }
        assert_ne!(hash(&doc("api/v1")), hash(&doc("apis/batch/v1")));
        assert!(v3("apis/apps/v1").is_none());
        assert!(v3("apis/batch").is_none());
    }

    #[test]
    fn schemars_output_is_tidied_into_the_kubernetes_style() {
        let cases = [
            (
                "optional scalar",
                json!({"type": ["integer", "null"], "format": "int32"}),
                json!({"type": "integer", "format": "int32"}),
            ),
            (
                "optional reference with a description",
                json!({"anyOf": [{"$ref": "#/components/schemas/X"}, {"type": "null"}], "description": "d"}),
                json!({"allOf": [{"$ref": "#/components/schemas/X"}], "description": "d"}),
            ),
            (
                "a lone reference",
                json!({"$ref": "#/components/schemas/X"}),
                json!({"$ref": "#/components/schemas/X"}),
            ),
            ("any value", json!(true), json!({})),
            (
                "wrapped doc lines",
                json!({"description": "one\ntwo\n\nthree [`Job`]", "type": "string"}),
                json!({"description": "one two\n\nthree `Job`", "type": "string"}),
            ),
            (
                "large defaults go, small ones stay",
                json!({"properties": {"a": {"default": {"x": 1}}, "b": {"default": {}}, "c": {"default": 0}}}),
                json!({"properties": {"a": {}, "b": {"default": {}}, "c": {"default": 0}}}),
            ),
            ("titles go", json!({"title": "T", "type": "object"}), json!({"type": "object"})),
            (
                "nested",
                json!({"items": {"type": ["string", "null"]}, "additionalProperties": {"type": ["boolean", "null"]}}),
                json!({"items": {"type": "string"}, "additionalProperties": {"type": "boolean"}}),
            ),
        ];
        for (name, mut input, want) in cases {
            tidy(&mut input);
            assert_eq!(input, want, "{name}");
        }
    }
}
