//! Object metadata, label selectors, owner references and events: the parts every kind shares.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A point in time, serialized as RFC 3339 in UTC (Kubernetes' `metav1.Time`, with sub-second
/// precision kept so that back-off arithmetic is exact).
pub type Time = DateTime<Utc>;

/// Kubernetes' `metav1.ObjectMeta`, the fields Drover uses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")]
pub struct ObjectMeta {
    /// The object's name, unique per kind.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// A prefix from which the server generates a unique name when `name` is empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate_name: Option<String>,
    /// Drover has a single namespace, `default`; any other value is rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Set by the server on create; never reused.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// The store revision of the last write to this object, as a decimal string.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
    /// Incremented by the server on every change of the spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// Set by the server on create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<Time>,
    /// Set when termination of the object was requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<Time>,
    /// Seconds allowed for graceful termination once `deletionTimestamp` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_grace_period_seconds: Option<i64>,
    /// Identifying labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Non-identifying annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The objects this one belongs to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["uid"], "x-kubernetes-patch-merge-key" = "uid", "x-kubernetes-patch-strategy" = "merge"))]
    pub owner_references: Vec<OwnerReference>,
    /// Names of pending finalizers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "set", "x-kubernetes-patch-strategy" = "merge"))]
    pub finalizers: Vec<String>,
    /// The fields each server-side-apply manager owns (`metav1.ManagedFieldsEntry` objects),
    /// kept as JSON: only [`crate::patch::server_side_apply`] reads or writes them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub managed_fields: Vec<serde_json::Value>,
}

impl ObjectMeta {
    /// True when `key` is among the finalizers.
    pub fn has_finalizer(&self, key: &str) -> bool {
        self.finalizers.iter().any(|f| f == key)
    }

    /// The owner reference flagged as the controller, if any.
    pub fn controller_ref(&self) -> Option<&OwnerReference> {
        self.owner_references.iter().find(|r| r.controller == Some(true))
    }
}

/// Kubernetes' `metav1.OwnerReference`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference")]
pub struct OwnerReference {
    /// The owner's apiVersion.
    pub api_version: String,
    /// The owner's kind.
    pub kind: String,
    /// The owner's name.
    pub name: String,
    /// The owner's uid.
    pub uid: String,
    /// True when the owner is the managing controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<bool>,
    /// True when the owner cannot be deleted before this object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_owner_deletion: Option<bool>,
}

/// Kubernetes' `metav1.LabelSelector`, the `matchLabels` form and `matchExpressions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector")]
pub struct LabelSelector {
    /// Every pair must be present.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    /// Every expression must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One `matchExpressions` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement")]
pub struct LabelSelectorRequirement {
    /// The label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: String,
    /// The values for `In` and `NotIn`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub values: Vec<String>,
}

impl LabelSelector {
    /// True when `labels` satisfy the selector. An empty selector matches everything.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let labels_ok = self.match_labels.iter().all(|(k, v)| labels.get(k) == Some(v));
        labels_ok
            && self.match_expressions.iter().all(|e| {
                let value = labels.get(&e.key);
                match e.operator.as_str() {
                    "In" => value.is_some_and(|v| e.values.contains(v)),
                    "NotIn" => value.is_none_or(|v| !e.values.contains(v)),
                    "Exists" => value.is_some(),
                    "DoesNotExist" => value.is_none(),
                    _ => false,
                }
            })
    }
}

/// Parses a kubectl-style selector `k=v,k2=v2` (also `k==v` and `k!=v`) into a matcher.
///
/// Returns the selector, or a message naming the bad term.
pub fn parse_label_selector(text: &str) -> Result<LabelSelector, String> {
    let mut sel = LabelSelector::default();
    for term in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        if let Some((k, v)) = term.split_once("!=") {
            sel.match_expressions.push(LabelSelectorRequirement {
                key: k.trim().to_string(),
                operator: "NotIn".into(),
                values: vec![v.trim().to_string()],
            });
        } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
            sel.match_labels.insert(k.trim().to_string(), v.trim().to_string());
        } else if let Some(k) = term.strip_prefix('!') {
            sel.match_expressions.push(LabelSelectorRequirement {
                key: k.trim().to_string(),
                operator: "DoesNotExist".into(),
                values: vec![],
            });
        } else if term.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c)) {
            sel.match_expressions.push(LabelSelectorRequirement {
                key: term.to_string(),
                operator: "Exists".into(),
                values: vec![],
            });
        } else {
            return Err(format!("unable to parse requirement: {term:?}"));
        }
    }
    Ok(sel)
}

/// Kubernetes' `metav1.ListMeta`: the `metadata` of a list, and of a `Table`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta")]
pub struct ListMeta {
    /// The store revision the list was read at.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
    /// The token that fetches the next page, when the list was cut short.
    #[serde(rename = "continue", default, skip_serializing_if = "Option::is_none")]
    pub continue_: Option<String>,
    /// How many items the next pages hold, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining_item_count: Option<i64>,
}

/// Kubernetes' core/v1 `Event`, flattened to what `describe` shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// `Normal` or `Warning`.
    #[serde(rename = "type")]
    pub type_: String,
    /// A CamelCase reason such as `SuccessfulCreate`.
    pub reason: String,
    /// A human-readable sentence.
    pub message: String,
    /// The kind of the object the event is about.
    pub involved_kind: String,
    /// The name of the object the event is about.
    pub involved_name: String,
    /// The uid of the object the event is about.
    #[serde(default)]
    pub involved_uid: String,
    /// When the event happened.
    pub timestamp: Time,
}

impl Event {
    /// An event read back from its core/v1 form ([`to_core_v1`](Self::to_core_v1)); `None` if
    /// it lacks a reason or a time.
    pub fn from_core_v1(v: &serde_json::Value) -> Option<Event> {
        let text = |x: &serde_json::Value| x.as_str().unwrap_or_default().to_string();
        let time = v["lastTimestamp"].as_str().or(v["metadata"]["creationTimestamp"].as_str())?;
        Some(Event {
            type_: text(&v["type"]),
            reason: v["reason"].as_str()?.to_string(),
            message: text(&v["message"]),
            involved_kind: text(&v["involvedObject"]["kind"]),
            involved_name: text(&v["involvedObject"]["name"]),
            involved_uid: text(&v["involvedObject"]["uid"]),
            timestamp: DateTime::parse_from_rfc3339(time).ok()?.with_timezone(&Utc),
        })
    }

    /// [`to_core_v1`](Self::to_core_v1), with the event's id in the store as its
    /// `resourceVersion` (ids only grow) and in its `uid`.
    pub fn to_core_v1_with_id(&self, id: i64) -> serde_json::Value {
        let mut v = self.to_core_v1();
        v["metadata"]["resourceVersion"] = id.to_string().into();
        v["metadata"]["uid"] = format!("event-{id}").into();
        v
    }

    /// A `Normal` event.
    pub fn normal(kind: &str, name: &str, uid: &str, reason: &str, message: String, now: Time) -> Event {
        Event::new("Normal", kind, name, uid, reason, message, now)
    }

    /// A `Warning` event.
    pub fn warning(kind: &str, name: &str, uid: &str, reason: &str, message: String, now: Time) -> Event {
        Event::new("Warning", kind, name, uid, reason, message, now)
    }

    /// The event's name as Kubernetes' event recorder forms it: the involved object's name, a
    /// dot, and the time in Unix nanoseconds in hexadecimal (`pi.17c8a3b2f4e1d000`).
    pub fn name(&self) -> String {
        let nanos = self.timestamp.timestamp_nanos_opt().unwrap_or_default();
        format!("{}.{nanos:x}", self.involved_name)
    }

    /// The component that reported the event, as `describe`'s FROM column and the event's
    /// `source.component` name it: `job-controller`, `cronjob-controller`, `worker` (a pod's
    /// events, where Kubernetes says `kubelet`) or `coordinator`.
    pub fn source_component(&self) -> &'static str {
        match self.involved_kind.as_str() {
            "Job" => "job-controller",
            "CronJob" => "cronjob-controller",
            "Pod" => "worker",
            _ => "coordinator",
        }
    }

    /// The event in core/v1's shape (`involvedObject`, `source`, `firstTimestamp`,
    /// `lastTimestamp`, `count`, and a `metadata` with [`Event::name`]), as `kubectl get events`
    /// reads it. A Drover event happens once: both timestamps are its time and `count` is 1.
    pub fn to_core_v1(&self) -> serde_json::Value {
        let at = self.timestamp.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let (api_version, namespaced) = match self.involved_kind.as_str() {
            "Job" | "CronJob" => ("batch/v1", true),
            "Pod" => ("v1", true),
            "Worker" => ("drover.dev/v1", false),
            _ => ("", true),
        };
        let mut involved = serde_json::json!({
            "kind": self.involved_kind,
            "name": self.involved_name,
        });
        if !api_version.is_empty() {
            involved["apiVersion"] = api_version.into();
        }
        if namespaced {
            involved["namespace"] = "default".into();
        }
        if !self.involved_uid.is_empty() {
            involved["uid"] = self.involved_uid.clone().into();
        }
        serde_json::json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": self.name(), "namespace": "default", "creationTimestamp": at},
            "involvedObject": involved,
            "reason": self.reason,
            "message": self.message,
            "type": self.type_,
            "source": {"component": self.source_component()},
            "reportingComponent": self.source_component(),
            "reportingInstance": "",
            "firstTimestamp": at,
            "lastTimestamp": at,
            "count": 1,
            "eventTime": null,
        })
    }

    fn new(
        type_: &str,
        kind: &str,
        name: &str,
        uid: &str,
        reason: &str,
        message: String,
        now: Time,
    ) -> Event {
        Event {
            type_: type_.to_string(),
            reason: reason.to_string(),
            message,
            involved_kind: kind.to_string(),
            involved_name: name.to_string(),
            involved_uid: uid.to_string(),
            timestamp: now,
        }
    }
}

/// The password of a URL's user info (`scheme://user:password@host…`), as written (still
/// percent-encoded), if it has one.
pub fn url_password(url: &str) -> Option<&str> {
    let rest = &url[url.find("://")? + 3..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let (userinfo, _) = authority.rsplit_once('@')?;
    userinfo.split_once(':').map(|(_, password)| password).filter(|p| !p.is_empty())
}

/// `url` with `password` as its user info's password (percent-encoded): `amqp://user@host` gives
/// `amqp://user:PASSWORD@host`, `redis://host` gives `redis://:PASSWORD@host`. A password the
/// URL already has is replaced.
pub fn with_url_password(url: &str, password: &str) -> String {
    let Some(scheme_end) = url.find("://") else { return url.to_string() };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (user, host) = match rest[..authority_end].rsplit_once('@') {
        Some((userinfo, host)) => (userinfo.split_once(':').map_or(userinfo, |(u, _)| u), host),
        None => ("", &rest[..authority_end]),
    };
    let mut encoded = String::with_capacity(password.len());
    for b in password.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("{}{user}:{encoded}@{host}{}", &url[..scheme_end + 3], &rest[authority_end..])
}

/// `text` with the password of every URL in it masked as [`redact_url`] does: for JSON
/// documents, events and messages that may quote a broker URL. Borrows `text` when it holds
/// none.
pub fn redact_urls(text: &str) -> std::borrow::Cow<'_, str> {
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = text[from..].find("://") {
        let start = from + found + 3;
        // The authority ends at the first character no user info or host can hold unescaped.
        let end = text[start..]
            .find(|c: char| {
                matches!(c, '/' | '?' | '#' | '"' | '\\' | '\'' | '<' | '>' | '`') || c.is_whitespace()
            })
            .map_or(text.len(), |i| start + i);
        let authority = &text[start..end];
        if let Some(at) = authority.rfind('@')
            && let Some(colon) = authority[..at].find(':')
            && colon + 1 < at
        {
            let buf = out.get_or_insert_with(|| String::with_capacity(text.len()));
            buf.push_str(&text[copied..start + colon + 1]);
            buf.push_str("***");
            copied = start + at;
        }
        from = end.max(start);
    }
    match out {
        None => std::borrow::Cow::Borrowed(text),
        Some(mut buf) => {
            buf.push_str(&text[copied..]);
            std::borrow::Cow::Owned(buf)
        }
    }
}

/// Hides the password of a URL: `amqp://user:secret@host/` → `amqp://user:***@host/`. Used
/// wherever a broker URL is shown (describe, logs, errors).
pub fn redact_url(url: &str) -> String {
    if let Some(scheme_end) = url.find("://") {
        let rest = &url[scheme_end + 3..];
        let authority_end = rest.find('/').unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            let creds = &rest[..at];
            let masked = match creds.split_once(':') {
                Some((user, _)) => format!("{user}:***"),
                None => "***".to_string(),
            };
            return format!("{}{}{}", &url[..scheme_end + 3], masked, &rest[at..]);
        }
    }
    url.to_string()
}

/// A credential (an API token): `Debug` and `Display` never show it, so it cannot leak into a
/// log line through a configuration struct.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`; `None` when it is empty.
    pub fn new(value: impl Into<String>) -> Option<Secret> {
        let value = value.into();
        (!value.is_empty()).then_some(Secret(value))
    }

    /// The secret itself, for the one place that sends or compares it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::{redact_urls, url_password, with_url_password};

    #[test]
    fn every_url_password_in_a_text_is_masked() {
        for (name, text, want) in [
            ("no URL", "plain text", "plain text"),
            ("no password", r#"{"url":"redis://redis:6379/0"}"#, r#"{"url":"redis://redis:6379/0"}"#),
            ("user only", "amqp://drover@rabbit:5672/%2f", "amqp://drover@rabbit:5672/%2f"),
            (
                "in JSON",
                r#"{"url":"amqp://guest:guest@rabbit:5672/%2f","n":1}"#,
                r#"{"url":"amqp://guest:***@rabbit:5672/%2f","n":1}"#,
            ),
            ("redis without user", "redis://:s3cr%2Ft@r:6379", "redis://:***@r:6379"),
            (
                "two in a message",
                "from amqp://a:b@h1 to redis://:c@h2/1 done",
                "from amqp://a:***@h1 to redis://:***@h2/1 done",
            ),
            ("at the end", "url=amqp://u:p@h", "url=amqp://u:***@h"),
            ("an @ after the path is not user info", "http://h/x?mail=a:b@c", "http://h/x?mail=a:b@c"),
        ] {
            assert_eq!(redact_urls(text), want, "{name}");
        }
    }

    #[test]
    fn a_password_from_elsewhere_goes_into_the_url_percent_encoded() {
        for (name, url, password, want) in [
            ("user, no password", "amqp://drover@rabbit:5672/%2f", "pw", "amqp://drover:pw@rabbit:5672/%2f"),
            ("no user", "redis://redis:6379/2", "pw", "redis://:pw@redis:6379/2"),
            ("special characters", "amqp://u@h", "p@ss:w/rd %", "amqp://u:p%40ss%3Aw%2Frd%20%25@h"),
            ("replaces one given", "amqp://u:old@h", "new", "amqp://u:new@h"),
        ] {
            let got = with_url_password(url, password);
            assert_eq!(got, want, "{name}");
            assert!(url_password(&got).is_some(), "{name}");
        }
        assert_eq!(url_password("amqp://u@h"), None);
        assert_eq!(url_password("amqp://u:@h"), None);
        assert_eq!(url_password("redis://:x@h/0"), Some("x"));
    }
}
