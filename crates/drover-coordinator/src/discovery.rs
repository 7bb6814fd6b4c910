//! Kubernetes' discovery documents (`/version`, `/api`, `/apis`, `/api/v1`, `/apis/{group}`,
//! `/apis/{group}/{version}`), made from [`drover_api::resource::ALL`], so that kubectl and the
//! client libraries find the kinds Drover serves. These are the unaggregated documents; kubectl
//! asks for the aggregated ones first and falls back to these when given plain JSON.

use drover_api::resource::{ALL, ResourceInfo};
use serde_json::{Value, json};

/// The Kubernetes minor version whose batch/v1 rules Drover follows.
pub const KUBERNETES_MINOR: &str = "32";

/// `/version`: the Kubernetes version whose API Drover serves, and Drover's own in `gitVersion`.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": KUBERNETES_MINOR,
        "gitVersion": format!("v1.{KUBERNETES_MINOR}.0+drover-{}", env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "",
        "goVersion": "",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, go_arch()),
    })
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// `/api`: the core group's versions.
pub fn core_versions() -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
}

/// The named groups, in the order of [`ALL`].
fn groups() -> Vec<&'static str> {
    let mut groups: Vec<&str> = Vec::new();
    for r in ALL.iter().filter(|r| !r.group.is_empty()) {
        if !groups.contains(&r.group) {
            groups.push(r.group);
        }
    }
    groups
}

fn group_doc(group: &str) -> Value {
    let gv = |v: &str| json!({"groupVersion": format!("{group}/{v}"), "version": v});
    let mut versions: Vec<&str> = Vec::new();
    for r in ALL.iter().filter(|r| r.group == group) {
        if !versions.contains(&r.version) {
            versions.push(r.version);
        }
    }
    json!({
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": versions.iter().map(|v| gv(v)).collect::<Vec<_>>(),
        "preferredVersion": gv(versions[0]),
    })
}

/// `/apis`: every named group.
pub fn group_list() -> Value {
    let groups: Vec<Value> = groups().into_iter().map(group_doc).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/{group}`, if Drover serves that group.
pub fn group(group: &str) -> Option<Value> {
    groups().contains(&group).then(|| group_doc(group))
}

fn resource_entries(r: &ResourceInfo) -> Vec<Value> {
    let mut entries = vec![json!({
        "name": r.plural,
        "singularName": r.singular,
        "namespaced": r.namespaced,
        "kind": r.kind,
        "verbs": r.verbs,
        "shortNames": r.short_names,
        "categories": r.categories,
    })];
    for (sub, verbs) in r.subresources {
        entries.push(json!({
            "name": format!("{}/{sub}", r.plural),
            "singularName": "",
            "namespaced": r.namespaced,
            "kind": if *sub == "log" { "Pod" } else { r.kind },
            "verbs": verbs,
        }));
    }
    entries
}

/// `/api/v1` (group `""`) or `/apis/{group}/{version}`: the resources of one group version.
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let resources: Vec<Value> =
        ALL.iter().filter(|r| r.group == group && r.version == version).flat_map(resource_entries).collect();
    if resources.is_empty() {
        return None;
    }
    let group_version = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_groups_and_their_resources() {
        let groups = group_list();
        let names: Vec<&str> =
            groups["groups"].as_array().unwrap().iter().map(|g| g["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["batch", "drover.dev"]);
        let batch = resource_list("batch", "v1").unwrap();
        let batch_names: Vec<&str> =
            batch["resources"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
        assert_eq!(batch_names, ["jobs", "jobs/status", "cronjobs", "cronjobs/status"]);
        let core = resource_list("", "v1").unwrap();
        assert_eq!(core["groupVersion"], "v1");
        let log = core["resources"].as_array().unwrap().iter().find(|r| r["name"] == "pods/log").unwrap();
        assert_eq!(log["verbs"], json!(["get"]));
        assert!(resource_list("apps", "v1").is_none());
        assert!(group("apps").is_none());
        assert_eq!(group("drover.dev").unwrap()["preferredVersion"]["groupVersion"], "drover.dev/v1");
        assert_eq!(version()["minor"], KUBERNETES_MINOR);
    }
}
