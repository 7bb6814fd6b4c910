//! One typed description of each kind Drover serves: its names, its API group and version,
//! whether it lives in a namespace, its verbs and subresources. The coordinator's routes and
//! discovery documents, the client's paths and the CLI's resource names all come from here
//! (kube-core's `Resource` is the model).
//!
//! Drover has one namespace, [`DEFAULT_NAMESPACE`]: namespaced objects live in `default`, and a
//! path naming another namespace is answered as Kubernetes answers for a namespace that does
//! not exist.

/// The one namespace Drover has.
pub const DEFAULT_NAMESPACE: &str = "default";

/// A kind as the API serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceInfo {
    /// `Job`.
    pub kind: &'static str,
    /// `jobs`: the path segment.
    pub plural: &'static str,
    /// `job`.
    pub singular: &'static str,
    /// `kubectl get` abbreviations (`cj` for cronjobs).
    pub short_names: &'static [&'static str],
    /// `batch`; empty for the core group.
    pub group: &'static str,
    /// `v1`.
    pub version: &'static str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// The verbs on the resource, as discovery lists them.
    pub verbs: &'static [&'static str],
    /// Subresources (`status`, `log`) and their verbs.
    pub subresources: &'static [(&'static str, &'static [&'static str])],
    /// Discovery categories (`all`).
    pub categories: &'static [&'static str],
}

/// The verbs of a kind users create and change.
const FULL_VERBS: &[&str] = &["create", "delete", "get", "list", "patch", "update", "watch"];

/// batch/v1 Job.
pub const JOBS: ResourceInfo = ResourceInfo {
    kind: "Job",
    plural: "jobs",
    singular: "job",
    short_names: &[],
    group: "batch",
    version: "v1",
    namespaced: true,
    verbs: FULL_VERBS,
    subresources: &[("status", &["get", "patch", "update"])],
    categories: &["all"],
};

/// batch/v1 CronJob.
pub const CRONJOBS: ResourceInfo = ResourceInfo {
    kind: "CronJob",
    plural: "cronjobs",
    singular: "cronjob",
    short_names: &["cj"],
    group: "batch",
    version: "v1",
    namespaced: true,
    verbs: FULL_VERBS,
    subresources: &[("status", &["get", "patch", "update"])],
    categories: &["all"],
};

/// core/v1 Pod: created by the Job controller, not by users.
pub const PODS: ResourceInfo = ResourceInfo {
    kind: "Pod",
    plural: "pods",
    singular: "pod",
    short_names: &["po"],
    group: "",
    version: "v1",
    namespaced: true,
    // No delete yet: a pod ends with its Job (or its Job's suspension or deadline).
    verbs: &["get", "list", "watch"],
    subresources: &[("log", &["get"]), ("status", &["get", "update"])],
    categories: &["all"],
};

/// core/v1 Event: written by the controllers.
pub const EVENTS: ResourceInfo = ResourceInfo {
    kind: "Event",
    plural: "events",
    singular: "event",
    short_names: &["ev"],
    group: "",
    version: "v1",
    namespaced: true,
    verbs: &["list"],
    subresources: &[],
    categories: &[],
};

/// core/v1 Namespace: only `default`.
pub const NAMESPACES: ResourceInfo = ResourceInfo {
    kind: "Namespace",
    plural: "namespaces",
    singular: "namespace",
    short_names: &["ns"],
    group: "",
    version: "v1",
    namespaced: false,
    verbs: &["get", "list"],
    subresources: &[],
    categories: &[],
};

/// drover.dev/v1 Worker: a process that runs pods (a node, in Kubernetes' terms).
pub const WORKERS: ResourceInfo = ResourceInfo {
    kind: "Worker",
    plural: "workers",
    singular: "worker",
    short_names: &["wk"],
    group: "drover.dev",
    version: "v1",
    namespaced: false,
    verbs: &["create", "delete", "get", "list", "watch"],
    subresources: &[
        ("assignments", &["get"]),
        ("cordon", &["create"]),
        ("drain", &["create"]),
        ("heartbeat", &["create"]),
        ("status", &["create"]),
        ("tasks", &["create"]),
        ("uncordon", &["create"]),
    ],
    categories: &[],
};

/// Every kind served, in discovery order.
pub const ALL: &[ResourceInfo] = &[JOBS, CRONJOBS, PODS, EVENTS, NAMESPACES, WORKERS];

impl ResourceInfo {
    /// `batch/v1`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `/apis/batch/v1`, or `/api/v1` for the core group.
    pub fn group_version_path(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }

    /// The collection's path: in `namespace` for a namespaced kind (all namespaces with
    /// `None`), else cluster-wide.
    pub fn collection_path(&self, namespace: Option<&str>) -> String {
        match namespace {
            Some(ns) if self.namespaced => {
                format!("{}/namespaces/{ns}/{}", self.group_version_path(), self.plural)
            }
            _ => format!("{}/{}", self.group_version_path(), self.plural),
        }
    }

    /// One object's path (a namespaced kind's in [`DEFAULT_NAMESPACE`]).
    pub fn object_path(&self, name: &str) -> String {
        let ns = self.namespaced.then_some(DEFAULT_NAMESPACE);
        format!("{}/{name}", self.collection_path(ns))
    }

    /// `jobs.batch`: how Kubernetes names the resource in messages (`jobs.batch "pi" not
    /// found`); the core group's are bare (`pods`).
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// Whether `name` (any case) is one of this kind's names: plural, singular, short name or
    /// kind, optionally qualified by its group (`jobs.batch`).
    pub fn is_called(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        let bare = match name.strip_suffix(&format!(".{}", self.group)) {
            Some(bare) if !self.group.is_empty() => bare.to_string(),
            _ => name,
        };
        bare == self.plural
            || bare == self.singular
            || bare == self.kind.to_ascii_lowercase()
            || self.short_names.contains(&bare.as_str())
    }
}

/// The kind called `name` (`jobs`, `job`, `cj`, `jobs.batch`, …).
pub fn lookup(name: &str) -> Option<&'static ResourceInfo> {
    ALL.iter().find(|r| r.is_called(name))
}

/// The kind whose `apiVersion` and `kind` these are.
pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static ResourceInfo> {
    ALL.iter().find(|r| r.kind == kind && r.api_version() == api_version)
}

/// A type served as one of these kinds.
pub trait Resource {
    /// Its description.
    const INFO: ResourceInfo;
}

impl Resource for crate::Job {
    const INFO: ResourceInfo = JOBS;
}

impl Resource for crate::CronJob {
    const INFO: ResourceInfo = CRONJOBS;
}

impl Resource for crate::Pod {
    const INFO: ResourceInfo = PODS;
}

impl Resource for crate::Worker {
    const INFO: ResourceInfo = WORKERS;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_kubernetes_conventions() {
        let cases: &[(&str, String, &str)] = &[
            (
                "namespaced collection",
                JOBS.collection_path(Some("default")),
                "/apis/batch/v1/namespaces/default/jobs",
            ),
            ("all namespaces", JOBS.collection_path(None), "/apis/batch/v1/jobs"),
            ("core group object", PODS.object_path("pi-abc"), "/api/v1/namespaces/default/pods/pi-abc"),
            (
                "cluster-scoped ignores the namespace",
                WORKERS.collection_path(Some("default")),
                "/apis/drover.dev/v1/workers",
            ),
            ("cluster-scoped object", WORKERS.object_path("w1"), "/apis/drover.dev/v1/workers/w1"),
            ("namespaces", NAMESPACES.object_path("default"), "/api/v1/namespaces/default"),
        ];
        for (case, got, want) in cases {
            assert_eq!(got, want, "{case}");
        }
    }

    #[test]
    fn names_resolve_like_kubectl() {
        let cases = [
            ("jobs", Some("Job")),
            ("job", Some("Job")),
            ("Job", Some("Job")),
            ("jobs.batch", Some("Job")),
            ("cj", Some("CronJob")),
            ("cronjob.batch", Some("CronJob")),
            ("po", Some("Pod")),
            ("pods", Some("Pod")),
            ("ev", Some("Event")),
            ("ns", Some("Namespace")),
            ("workers", Some("Worker")),
            ("workers.drover.dev", Some("Worker")),
            ("pods.batch", None),
            ("deployments", None),
        ];
        for (name, want) in cases {
            assert_eq!(lookup(name).map(|r| r.kind), want, "{name}");
        }
    }

    #[test]
    fn api_versions_and_qualified_names() {
        assert_eq!(JOBS.api_version(), crate::job::API_VERSION);
        assert_eq!(CRONJOBS.api_version(), crate::cronjob::API_VERSION);
        assert_eq!(PODS.api_version(), crate::pod::API_VERSION);
        assert_eq!(WORKERS.api_version(), crate::worker::API_VERSION);
        assert_eq!(JOBS.qualified(), "jobs.batch");
        assert_eq!(PODS.qualified(), "pods");
        assert_eq!(by_kind("batch/v1", "CronJob"), Some(&CRONJOBS));
        assert_eq!(by_kind("batch/v1beta1", "CronJob"), None);
    }
}
