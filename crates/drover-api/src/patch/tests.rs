use chrono::TimeZone;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::meta::Time;

// === Request bodies captured from kubectl 1.32.4 (`kubectl -v=9` against a recording server) ===

/// `kubectl apply -f examples/pi-job.yaml` again with `parallelism: 2` added: client-side apply's
/// three-way patch (the last-applied annotation, the file, the live object).
const KUBECTL_APPLY_PARALLELISM: &str = r#"{"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"annotations\":{},\"name\":\"pi\",\"namespace\":\"default\"},\"spec\":{\"backoffLimit\":4,\"parallelism\":2,\"template\":{\"spec\":{\"containers\":[{\"command\":[\"sh\",\"-c\",\"echo 'scale=1000; 4*a(1)' | bc -l\"],\"image\":\"perl:5.34.0\",\"name\":\"pi\"}],\"restartPolicy\":\"Never\"}}}}\n"}},"spec":{"parallelism":2}}"#;

/// The same apply of a file that adds a label and a `sidecar` container before `pi`, changes
/// `pi`'s image, gives it an env var and drops `backoffLimit`.
const KUBECTL_APPLY_CONTAINERS: &str = r#"{"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"annotations\":{},\"labels\":{\"team\":\"a\"},\"name\":\"pi\",\"namespace\":\"default\"},\"spec\":{\"parallelism\":2,\"template\":{\"spec\":{\"containers\":[{\"image\":\"busybox\",\"name\":\"sidecar\"},{\"command\":[\"sh\",\"-c\",\"echo 'scale=1000; 4*a(1)' | bc -l\"],\"env\":[{\"name\":\"A\",\"value\":\"1\"}],\"image\":\"perl:5.36\",\"name\":\"pi\"}],\"restartPolicy\":\"Never\"}}}}\n"},"labels":{"team":"a"}},"spec":{"backoffLimit":null,"parallelism":2,"template":{"spec":{"$setElementOrder/containers":[{"name":"sidecar"},{"name":"pi"}],"containers":[{"image":"busybox","name":"sidecar"},{"env":[{"name":"A","value":"1"}],"image":"perl:5.36","name":"pi"}]}}}}"#;

/// `kubectl apply --server-side -f` of the pi Job with `parallelism: 2` (field manager `kubectl`).
const KUBECTL_SSA_BODY: &str = "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"name\":\"pi\",\"namespace\":\"default\"},\"spec\":{\"backoffLimit\":4,\"parallelism\":2,\"template\":{\"spec\":{\"containers\":[{\"command\":[\"sh\",\"-c\",\"echo 'scale=1000; 4*a(1)' | bc -l\"],\"image\":\"perl:5.34.0\",\"name\":\"pi\"}],\"restartPolicy\":\"Never\"}}}}\n";

/// The annotation client-side apply of `examples/pi-job.yaml` creates the Job with.
const PI_LAST_APPLIED: &str = "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"annotations\":{},\"name\":\"pi\",\"namespace\":\"default\"},\"spec\":{\"backoffLimit\":4,\"template\":{\"spec\":{\"containers\":[{\"command\":[\"sh\",\"-c\",\"echo 'scale=1000; 4*a(1)' | bc -l\"],\"image\":\"perl:5.34.0\",\"name\":\"pi\"}],\"restartPolicy\":\"Never\"}}}}\n";

const PI_COMMAND: &str = "echo 'scale=1000; 4*a(1)' | bc -l";

/// The pi Job as stored after `kubectl apply` created it: the annotation, server metadata and
/// defaults.
fn live_pi_job() -> Value {
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "pi",
            "namespace": "default",
            "uid": "u-1",
            "resourceVersion": "7",
            "generation": 1,
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "annotations": {LAST_APPLIED_ANNOTATION: PI_LAST_APPLIED},
            "labels": {"batch.kubernetes.io/job-name": "pi"}
        },
        "spec": {
            "parallelism": 1,
            "completions": 1,
            "backoffLimit": 4,
            "completionMode": "NonIndexed",
            "template": {
                "metadata": {"labels": {"batch.kubernetes.io/job-name": "pi"}},
                "spec": {
                    "containers": [{
                        "name": "pi",
                        "image": "perl:5.34.0",
                        "command": ["sh", "-c", PI_COMMAND],
                        "imagePullPolicy": "IfNotPresent",
                        "terminationMessagePath": "/dev/termination-log"
                    }],
                    "restartPolicy": "Never"
                }
            }
        },
        "status": {"active": 1}
    })
}

fn at(seconds: i64) -> Time {
    chrono::Utc.timestamp_opt(1_767_225_600 + seconds, 0).unwrap()
}

/// `value` with `new` at `pointer`, whose parent must exist.
fn with(mut value: Value, pointer: &str, new: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    match value.pointer_mut(parent).unwrap_or_else(|| panic!("no {parent}")) {
        Value::Object(map) => {
            map.insert(key.replace("~1", "/").replace("~0", "~"), new);
        }
        Value::Array(items) => items[key.parse::<usize>().unwrap()] = new,
        other => panic!("{parent} is {other}"),
    }
    value
}

fn without(mut value: Value, pointer: &str) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let key = key.replace("~1", "/").replace("~0", "~");
    value.pointer_mut(parent).and_then(Value::as_object_mut).unwrap().remove(&key).unwrap();
    value
}

// === RFC 7386 ===

#[test]
fn merge_patch_follows_rfc7386_appendix_a() {
    for (name, target, patch, want) in [
        ("replace a member", json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
        ("add a member", json!({"a": "b"}), json!({"b": "c"}), json!({"a": "b", "b": "c"})),
        ("null removes", json!({"a": "b"}), json!({"a": null}), json!({})),
        ("null removes one of two", json!({"a": "b", "b": "c"}), json!({"a": null}), json!({"b": "c"})),
        ("a scalar replaces a list", json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
        ("a list replaces a scalar", json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
        ("nested", json!({"a": {"b": "c"}}), json!({"a": {"b": "d", "c": null}}), json!({"a": {"b": "d"}})),
        ("lists are replaced whole", json!({"a": [{"b": "c"}]}), json!({"a": [1]}), json!({"a": [1]})),
        ("a list patch replaces a list", json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
        ("a list patch replaces an object", json!({"a": "b"}), json!(["c"]), json!(["c"])),
        ("a null patch replaces", json!({"a": "foo"}), json!(null), json!(null)),
        ("a string patch replaces", json!({"a": "foo"}), json!("bar"), json!("bar")),
        ("nulls in the target stay", json!({"e": null}), json!({"a": 1}), json!({"e": null, "a": 1})),
        ("an object patch replaces a list", json!([1, 2]), json!({"a": "b", "c": null}), json!({"a": "b"})),
        (
            "nulls in added objects go",
            json!({}),
            json!({"a": {"bb": {"ccc": null}}}),
            json!({"a": {"bb": {}}}),
        ),
        (
            "kubectl label",
            live_pi_job(),
            json!({"metadata": {"labels": {"x": "y"}}}),
            with(live_pi_job(), "/metadata/labels/x", json!("y")),
        ),
        (
            "kubectl label x-",
            with(live_pi_job(), "/metadata/labels/x", json!("y")),
            json!({"metadata": {"labels": {"x": null}}}),
            live_pi_job(),
        ),
        (
            "kubectl annotate",
            live_pi_job(),
            json!({"metadata": {"annotations": {"note": "hi"}}}),
            with(live_pi_job(), "/metadata/annotations/note", json!("hi")),
        ),
    ] {
        let mut got = target;
        merge_patch(&mut got, &patch);
        assert_eq!(got, want, "{name}");
    }
}

// === RFC 6902 ===

#[test]
fn json_patch_follows_rfc6902() {
    for (name, target, patch, want) in [
        (
            "add a member",
            json!({"foo": "bar"}),
            json!([{"op": "add", "path": "/baz", "value": "qux"}]),
            json!({"foo": "bar", "baz": "qux"}),
        ),
        (
            "insert into a list",
            json!({"foo": ["bar", "baz"]}),
            json!([{"op": "add", "path": "/foo/1", "value": "qux"}]),
            json!({"foo": ["bar", "qux", "baz"]}),
        ),
        (
            "append with -",
            json!({"foo": [1]}),
            json!([{"op": "add", "path": "/foo/-", "value": 2}]),
            json!({"foo": [1, 2]}),
        ),
        (
            "remove a member",
            json!({"baz": "qux", "foo": "bar"}),
            json!([{"op": "remove", "path": "/baz"}]),
            json!({"foo": "bar"}),
        ),
        (
            "remove an item",
            json!({"foo": ["bar", "qux", "baz"]}),
            json!([{"op": "remove", "path": "/foo/1"}]),
            json!({"foo": ["bar", "baz"]}),
        ),
        (
            "replace",
            json!({"baz": "qux"}),
            json!([{"op": "replace", "path": "/baz", "value": "boo"}]),
            json!({"baz": "boo"}),
        ),
        (
            "move",
            json!({"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}}),
            json!([{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}]),
            json!({"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}),
        ),
        (
            "copy",
            json!({"a": {"b": 1}}),
            json!([{"op": "copy", "from": "/a", "path": "/c"}]),
            json!({"a": {"b": 1}, "c": {"b": 1}}),
        ),
        (
            "test then replace",
            json!({"a": 1}),
            json!([{"op": "test", "path": "/a", "value": 1.0}, {"op": "replace", "path": "/a", "value": 2}]),
            json!({"a": 2}),
        ),
        (
            "escaped tokens",
            json!({"a/b": {"m~n": 1}}),
            json!([{"op": "replace", "path": "/a~1b/m~0n", "value": 2}]),
            json!({"a/b": {"m~n": 2}}),
        ),
        ("the root", json!({"a": 1}), json!([{"op": "add", "path": "", "value": [1]}]), json!([1])),
        (
            "kubectl patch --type json on a Job",
            live_pi_job(),
            json!([{"op": "replace", "path": "/spec/parallelism", "value": 3}]),
            with(live_pi_job(), "/spec/parallelism", json!(3)),
        ),
    ] {
        let mut got = target;
        json_patch(&mut got, &patch).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn a_failed_json_patch_changes_nothing() {
    for (name, patch, message) in [
        (
            "a failed test",
            json!([{"op": "add", "path": "/b", "value": 1}, {"op": "test", "path": "/a", "value": 2}]),
            "json patch operation 1: test of /a failed",
        ),
        (
            "a missing parent",
            json!([{"op": "add", "path": "/x/y", "value": 1}]),
            "json patch operation 0: no value at /x",
        ),
        (
            "a missing member",
            json!([{"op": "remove", "path": "/nope"}]),
            "json patch operation 0: no value at /nope",
        ),
        (
            "replace needs the member",
            json!([{"op": "replace", "path": "/nope", "value": 1}]),
            "json patch operation 0: no value at /nope",
        ),
        (
            "an index past the end",
            json!([{"op": "add", "path": "/l/5", "value": 1}]),
            "json patch operation 0: /l/5 is not an index of the list",
        ),
        (
            "a leading zero",
            json!([{"op": "add", "path": "/l/01", "value": 1}]),
            "json patch operation 0: /l/01 is not an index of the list",
        ),
        (
            "move into a child",
            json!([{"op": "move", "from": "/l", "path": "/l/0"}]),
            "json patch operation 0: cannot move a value into one of its own children",
        ),
        (
            "an unknown op",
            json!([{"op": "frob", "path": "/a"}]),
            "json patch operation 0: unknown operation \"frob\"",
        ),
        ("no value", json!([{"op": "add", "path": "/a"}]), "json patch operation 0: missing \"value\""),
        (
            "a bad pointer",
            json!([{"op": "remove", "path": "a"}]),
            "json patch operation 0: the path \"a\" must be empty or start with \"/\"",
        ),
    ] {
        let mut target = json!({"a": 1, "l": [0]});
        let err = json_patch(&mut target, &patch).unwrap_err();
        assert_eq!(err.to_string(), message, "{name}");
        assert_eq!(target, json!({"a": 1, "l": [0]}), "{name}");
    }
    assert_eq!(
        json_patch(&mut json!({}), &json!({"op": "add"})).unwrap_err(),
        PatchError::WrongType { expected: "array", found: "object" }
    );
}

// === Strategic merge patch ===

fn container(name: &str, image: &str) -> Value {
    json!({"name": name, "image": image})
}

fn job_with_containers(containers: Value) -> Value {
    with(live_pi_job(), "/spec/template/spec/containers", containers)
}

#[test]
fn kubectl_client_side_apply_patches_apply() {
    let parallelism: Value = serde_json::from_str(KUBECTL_APPLY_PARALLELISM).unwrap();
    let containers: Value = serde_json::from_str(KUBECTL_APPLY_CONTAINERS).unwrap();
    let annotation = |patch: &Value| patch["metadata"]["annotations"][LAST_APPLIED_ANNOTATION].clone();

    let mut want_parallelism = with(live_pi_job(), "/spec/parallelism", json!(2));
    want_parallelism["metadata"]["annotations"][LAST_APPLIED_ANNOTATION] = annotation(&parallelism);

    let mut want_containers =
        without(with(live_pi_job(), "/spec/parallelism", json!(2)), "/spec/backoffLimit");
    want_containers["metadata"]["annotations"][LAST_APPLIED_ANNOTATION] = annotation(&containers);
    want_containers["metadata"]["labels"]["team"] = json!("a");
    want_containers["spec"]["template"]["spec"]["containers"] = json!([
        {"name": "sidecar", "image": "busybox"},
        {
            "name": "pi",
            "image": "perl:5.36",
            "command": ["sh", "-c", PI_COMMAND],
            "env": [{"name": "A", "value": "1"}],
            "imagePullPolicy": "IfNotPresent",
            "terminationMessagePath": "/dev/termination-log"
        }
    ]);

    for (name, patch, want) in [
        ("only parallelism changed", parallelism, want_parallelism),
        ("a container added before, one changed, a field dropped", containers, want_containers),
    ] {
        let mut got = live_pi_job();
        strategic_merge_patch(&mut got, &patch, PatchKind::Job).unwrap();
        assert_eq!(got, want, "{name}");
        // The annotation now holds the file the next three-way patch starts from.
        let last: Value =
            serde_json::from_str(got["metadata"]["annotations"][LAST_APPLIED_ANNOTATION].as_str().unwrap())
                .unwrap();
        assert_eq!(last["spec"]["parallelism"], json!(2), "{name}");
    }
}

#[test]
fn strategic_merge_patch_on_a_job() {
    let two = || job_with_containers(json!([container("a", "x:1"), container("b", "y:1")]));
    for (name, target, patch, want) in [
        (
            "kubectl patch of one container merges by name",
            live_pi_job(),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "pi", "image": "perl:6"}]}}}}),
            with(live_pi_job(), "/spec/template/spec/containers/0/image", json!("perl:6")),
        ),
        (
            "a new container goes first, as in Kubernetes",
            two(),
            json!({"spec": {"template": {"spec": {"containers": [container("c", "z:1")]}}}}),
            job_with_containers(json!([container("c", "z:1"), container("a", "x:1"), container("b", "y:1")])),
        ),
        (
            "env merges by name inside its container",
            job_with_containers(
                json!([{"name": "a", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]}]),
            ),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "env": [{"name": "Y", "value": "3"}]}]}}}}),
            job_with_containers(
                json!([{"name": "a", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "3"}]}]),
            ),
        ),
        (
            "$patch: delete removes a container",
            two(),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}}}),
            job_with_containers(json!([container("b", "y:1")])),
        ),
        (
            "$patch: replace makes the patch list the list",
            two(),
            json!({"spec": {"template": {"spec": {"containers": [{"$patch": "replace"}, container("c", "z:1")]}}}}),
            job_with_containers(json!([container("c", "z:1")])),
        ),
        (
            "$setElementOrder reorders",
            two(),
            json!({"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}}}}),
            job_with_containers(json!([container("b", "y:1"), container("a", "x:1")])),
        ),
        (
            "$setElementOrder with a changed item",
            two(),
            json!({"spec": {"template": {"spec": {
                "$setElementOrder/containers": [{"name": "b"}, {"name": "c"}, {"name": "a"}],
                "containers": [container("c", "z:1"), {"name": "a", "image": "x:2"}]
            }}}}),
            job_with_containers(json!([container("b", "y:1"), container("c", "z:1"), container("a", "x:2")])),
        ),
        (
            "ports merge by containerPort",
            job_with_containers(json!([{"name": "a", "ports": [{"containerPort": 80, "name": "http"}]}])),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 81}]}]}}}}),
            job_with_containers(
                json!([{"name": "a", "ports": [{"containerPort": 80, "name": "http", "protocol": "TCP"}, {"containerPort": 81}]}]),
            ),
        ),
        (
            "command and args are atomic",
            job_with_containers(json!([{"name": "a", "command": ["sh", "-c", "x"], "args": ["1", "2"]}])),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "command": ["true"], "args": ["3"]}]}}}}),
            job_with_containers(json!([{"name": "a", "command": ["true"], "args": ["3"]}])),
        ),
        (
            "tolerations are atomic",
            with(live_pi_job(), "/spec/template/spec/tolerations", json!([{"key": "a"}, {"key": "b"}])),
            json!({"spec": {"template": {"spec": {"tolerations": [{"key": "c"}]}}}}),
            with(live_pi_job(), "/spec/template/spec/tolerations", json!([{"key": "c"}])),
        ),
        (
            "$retainKeys switches a volume's source",
            with(live_pi_job(), "/spec/template/spec/volumes", json!([{"name": "data", "emptyDir": {}}])),
            json!({"spec": {"template": {"spec": {"volumes": [
                {"name": "data", "$retainKeys": ["name", "hostPath"], "hostPath": {"path": "/srv"}}
            ]}}}}),
            with(
                live_pi_job(),
                "/spec/template/spec/volumes",
                json!([{"name": "data", "hostPath": {"path": "/srv"}}]),
            ),
        ),
        (
            "null deletes a map key",
            live_pi_job(),
            json!({"metadata": {"labels": {"batch.kubernetes.io/job-name": null}}, "spec": {"completionMode": null}}),
            without(
                without(live_pi_job(), "/metadata/labels/batch.kubernetes.io~1job-name"),
                "/spec/completionMode",
            ),
        ),
        (
            "null of an absent key is ignored, as are nulls in added maps",
            live_pi_job(),
            json!({"spec": {"nope": null, "podFailurePolicy": {"rules": [], "x": null}}}),
            with(live_pi_job(), "/spec/podFailurePolicy", json!({"rules": []})),
        ),
        (
            "$patch: replace of a map",
            live_pi_job(),
            json!({"spec": {"template": {"metadata": {"$patch": "replace", "labels": {"a": "b"}}}}}),
            with(live_pi_job(), "/spec/template/metadata", json!({"labels": {"a": "b"}})),
        ),
        (
            "$patch: delete of a map empties it",
            live_pi_job(),
            json!({"spec": {"template": {"metadata": {"$patch": "delete"}}}}),
            with(live_pi_job(), "/spec/template/metadata", json!({})),
        ),
        (
            "$patch: merge is the default",
            live_pi_job(),
            json!({"metadata": {"$patch": "merge", "labels": {"a": "b"}}}),
            with(live_pi_job(), "/metadata/labels/a", json!("b")),
        ),
        (
            "finalizers merge as a set",
            with(live_pi_job(), "/metadata/finalizers", json!(["a", "b"])),
            json!({"metadata": {"finalizers": ["b", "c"]}}),
            with(live_pi_job(), "/metadata/finalizers", json!(["a", "b", "c"])),
        ),
        (
            "$deleteFromPrimitiveList/finalizers",
            with(live_pi_job(), "/metadata/finalizers", json!(["a", "b", "c"])),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b", "x"]}}),
            with(live_pi_job(), "/metadata/finalizers", json!(["a", "c"])),
        ),
        (
            "ownerReferences merge by uid",
            with(live_pi_job(), "/metadata/ownerReferences", json!([{"uid": "1", "name": "a"}])),
            json!({"metadata": {"ownerReferences": [{"uid": "1", "controller": true}, {"uid": "2", "name": "b"}]}}),
            with(
                live_pi_job(),
                "/metadata/ownerReferences",
                json!([{"uid": "1", "name": "a", "controller": true}, {"uid": "2", "name": "b"}]),
            ),
        ),
        (
            "status conditions merge by type",
            with(live_pi_job(), "/status/conditions", json!([{"type": "Suspended", "status": "True"}])),
            json!({"status": {"conditions": [{"type": "Suspended", "status": "False"}, {"type": "Complete", "status": "True"}]}}),
            with(
                live_pi_job(),
                "/status/conditions",
                json!([{"type": "Suspended", "status": "False"}, {"type": "Complete", "status": "True"}]),
            ),
        ),
        ("an empty patch changes nothing", live_pi_job(), json!({}), live_pi_job()),
    ] {
        let mut got = target;
        strategic_merge_patch(&mut got, &patch, PatchKind::Job).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, want, "{name}");
    }
}

fn cronjob(containers: Value) -> Value {
    json!({
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "c"},
        "spec": {
            "schedule": "* * * * *",
            "jobTemplate": {"spec": {"template": {"spec": {"containers": containers, "restartPolicy": "Never"}}}}
        }
    })
}

#[test]
fn each_kind_finds_its_lists_under_its_own_paths() {
    let cron_patch = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "x:2"}]}}}}}});
    let pod = |containers: Value| json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": containers}});
    let worker = json!({"apiVersion": "drover.dev/v1", "kind": "Worker", "metadata": {"name": "w", "finalizers": ["a"]}, "spec": {"labels": ["x"]}});
    for (name, kind, target, patch, want) in [
        (
            "CronJob: containers under spec.jobTemplate merge by name",
            PatchKind::CronJob,
            cronjob(json!([container("a", "x:1"), container("b", "y:1")])),
            cron_patch.clone(),
            cronjob(json!([container("a", "x:2"), container("b", "y:1")])),
        ),
        (
            "the Job table does not know the CronJob's paths, so the list is replaced",
            PatchKind::Job,
            cronjob(json!([container("a", "x:1"), container("b", "y:1")])),
            cron_patch,
            cronjob(json!([container("a", "x:2")])),
        ),
        (
            "Pod: spec.containers merge by name",
            PatchKind::Pod,
            pod(json!([container("a", "x:1"), container("b", "y:1")])),
            json!({"spec": {"containers": [{"name": "b", "image": "y:2"}]}}),
            pod(json!([container("a", "x:1"), container("b", "y:2")])),
        ),
        (
            "Worker: metadata merges (a new finalizer goes first, as in Kubernetes), spec lists are replaced",
            PatchKind::Worker,
            worker.clone(),
            json!({"metadata": {"finalizers": ["b"]}, "spec": {"labels": ["y"]}}),
            with(with(worker, "/metadata/finalizers", json!(["b", "a"])), "/spec/labels", json!(["y"])),
        ),
    ] {
        let mut got = target;
        strategic_merge_patch(&mut got, &patch, kind).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn bad_strategic_merge_patches_are_refused_and_change_nothing() {
    let containers = |items: Value| json!({"spec": {"template": {"spec": {"containers": items}}}});
    for (name, patch, message) in [
        ("not an object", json!([1]), "the patch must be a JSON object, not array"),
        (
            "an item without its merge key",
            containers(json!([{"image": "x"}])),
            "spec.template.spec.containers[0]: the item has no merge key \"name\"",
        ),
        (
            "a delete without its merge key",
            containers(json!([{"$patch": "delete"}])),
            "spec.template.spec.containers[0]: the item has no merge key \"name\"",
        ),
        (
            "an unknown $patch",
            json!({"spec": {"$patch": "bogus"}}),
            "spec: unknown patch directive $patch: \"bogus\"",
        ),
        ("an unknown $ key", json!({"metadata": {"$frob": 1}}), "metadata: unknown patch directive $frob"),
        (
            "a list item that is not an object",
            containers(json!(["pi"])),
            "spec.template.spec.containers[0]: expected an object with the merge key \"name\"",
        ),
        (
            "$setElementOrder in another order than the patch list",
            json!({"spec": {"template": {"spec": {
                "$setElementOrder/containers": [{"name": "pi"}, {"name": "b"}],
                "containers": [{"name": "b"}, {"name": "pi"}]
            }}}}),
            "spec.template.spec.containers: the order of the patch list does not match its $setElementOrder list",
        ),
        (
            "$retainKeys that omits a field the patch sets",
            json!({"spec": {"$retainKeys": ["template"], "parallelism": 2}}),
            "spec.$retainKeys: the patch sets \"parallelism\", which the list does not retain",
        ),
        (
            "a $deleteFromPrimitiveList that is not a list",
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}),
            "metadata.$deleteFromPrimitiveList/finalizers: expected a list of values to delete",
        ),
    ] {
        let mut target = live_pi_job();
        let err = strategic_merge_patch(&mut target, &patch, PatchKind::Job).unwrap_err();
        assert_eq!(err.to_string(), message, "{name}");
        assert_eq!(target, live_pi_job(), "{name}");
    }
}

// === Server-side apply ===

/// The pi Job as `kubectl apply --server-side` sends it, with `parallelism` as given.
fn applied_pi(parallelism: Option<i64>) -> Value {
    let mut body = parse_apply_body(KUBECTL_SSA_BODY.as_bytes()).unwrap();
    match parallelism {
        Some(n) => body["spec"]["parallelism"] = json!(n),
        None => body = without(body, "/spec/parallelism"),
    }
    body
}

fn managed(object: &Value) -> Vec<Value> {
    object["metadata"]["managedFields"].as_array().cloned().unwrap_or_default()
}

fn entry<'o>(object: &'o Value, manager: &str) -> &'o Value {
    object["metadata"]["managedFields"]
        .as_array()
        .and_then(|entries| entries.iter().find(|e| e["manager"] == manager))
        .unwrap_or_else(|| panic!("no entry for {manager} in {object}"))
}

fn apply_ok(live: Option<&Value>, applied: &Value, manager: &str, force: bool, now: Time) -> Value {
    server_side_apply(live, applied, manager, force, now).unwrap_or_else(|e| panic!("{manager}: {e}"))
}

#[test]
fn apply_on_create_records_the_fields_in_fieldsv1() {
    let got = apply_ok(None, &applied_pi(None), "kubectl", false, at(0));
    assert_eq!(
        got["metadata"]["managedFields"],
        json!([{
            "manager": "kubectl",
            "operation": "Apply",
            "apiVersion": "batch/v1",
            "time": "2026-01-01T00:00:00Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": {
                "f:backoffLimit": {},
                "f:template": {"f:spec": {
                    "f:containers": {"k:{\"name\":\"pi\"}": {".": {}, "f:command": {}, "f:image": {}, "f:name": {}}},
                    "f:restartPolicy": {}
                }}
            }}
        }])
    );
    let mut object = got;
    object["metadata"].as_object_mut().unwrap().remove("managedFields");
    assert_eq!(object, applied_pi(None));
}

#[test]
fn fieldsv1_keys_for_each_list_type() {
    let applied = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "finalizers": ["f"], "labels": {"app": "x"}, "annotations": {}},
        "spec": {
            "containers": [{"name": "c", "ports": [{"containerPort": 80}], "args": ["a"], "resources": {}}],
            "tolerations": [{"key": "k"}]
        },
        "status": {"phase": "Running"}
    });
    let got = apply_ok(None, &applied, "m", false, at(0));
    assert_eq!(
        entry(&got, "m")["fieldsV1"],
        json!({
            "f:metadata": {"f:annotations": {}, "f:finalizers": {"v:\"f\"": {}}, "f:labels": {"f:app": {}}},
            "f:spec": {
                "f:containers": {"k:{\"name\":\"c\"}": {
                    ".": {},
                    "f:args": {},
                    "f:name": {},
                    "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}},
                    "f:resources": {}
                }},
                "f:tolerations": {}
            }
        })
    );
    assert!(got.get("status").is_none(), "status is not applied: {got}");
}

#[test]
fn reapplying_updates_values_time_and_field_set() {
    let first = apply_ok(None, &applied_pi(None), "kubectl", false, at(0));

    let same = apply_ok(Some(&first), &applied_pi(None), "kubectl", false, at(60));
    assert_eq!(same, first, "an unchanged apply changes nothing, not even the time");

    let second = apply_ok(Some(&first), &applied_pi(Some(2)), "kubectl", false, at(60));
    assert_eq!(second["spec"]["parallelism"], json!(2));
    assert_eq!(entry(&second, "kubectl")["time"], json!("2026-01-01T00:01:00Z"));
    assert_eq!(entry(&second, "kubectl")["fieldsV1"]["f:spec"]["f:parallelism"], json!({}));
    assert_eq!(managed(&second).len(), 1);

    let changed_image =
        with(applied_pi(Some(2)), "/spec/template/spec/containers/0/image", json!("perl:5.36"));
    let third = apply_ok(Some(&second), &changed_image, "kubectl", false, at(120));
    assert_eq!(third["spec"]["template"]["spec"]["containers"][0]["image"], json!("perl:5.36"));
}

#[test]
fn fields_dropped_from_the_configuration_are_removed_unless_owned_elsewhere() {
    let two_containers = with(
        applied_pi(Some(2)),
        "/spec/template/spec/containers",
        json!([{"name": "pi", "image": "perl:5.34.0"}, {"name": "side", "image": "busybox", "env": [{"name": "A", "value": "1"}]}]),
    );
    let first = apply_ok(None, &two_containers, "kubectl", false, at(0));

    let dropped = without(
        with(
            applied_pi(None),
            "/spec/template/spec/containers",
            json!([{"name": "pi", "image": "perl:5.34.0"}]),
        ),
        "/spec/backoffLimit",
    );
    let got = apply_ok(Some(&first), &dropped, "kubectl", false, at(60));
    assert_eq!(got["spec"].get("parallelism"), None, "{got}");
    assert_eq!(got["spec"].get("backoffLimit"), None, "{got}");
    assert_eq!(
        got["spec"]["template"]["spec"]["containers"],
        json!([{"name": "pi", "image": "perl:5.34.0"}])
    );

    // Another manager that applied parallelism keeps it when kubectl drops it.
    let other = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi"}, "spec": {"parallelism": 2}});
    let shared = apply_ok(Some(&first), &other, "other", false, at(30));
    let got = apply_ok(Some(&shared), &dropped, "kubectl", false, at(60));
    assert_eq!(got["spec"]["parallelism"], json!(2), "{got}");
    assert_eq!(got["spec"].get("backoffLimit"), None, "{got}");

    // Fields no manager applied (server defaults, other writers) are never pruned.
    let mut live = first.clone();
    live["spec"]["completions"] = json!(1);
    let got = apply_ok(Some(&live), &dropped, "kubectl", false, at(60));
    assert_eq!(got["spec"]["completions"], json!(1));
}

#[test]
fn a_field_another_applier_owns_conflicts_unless_forced() {
    let first = apply_ok(None, &applied_pi(Some(2)), "kubectl", false, at(0));
    let other = |n: i64| json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi"}, "spec": {"parallelism": n}});

    // The same value: no conflict, both own the field.
    let shared = apply_ok(Some(&first), &other(2), "other", false, at(10));
    assert_eq!(entry(&shared, "other")["fieldsV1"], json!({"f:spec": {"f:parallelism": {}}}));
    assert_eq!(entry(&shared, "kubectl")["fieldsV1"]["f:spec"]["f:parallelism"], json!({}));

    // Another value: a conflict with the Kubernetes message.
    let err = server_side_apply(Some(&shared), &other(3), "other", false, at(20)).unwrap_err();
    assert_eq!(
        err,
        ApplyError::Conflict(vec![Conflict { manager: "kubectl".into(), field: ".spec.parallelism".into() }])
    );
    assert_eq!(err.to_string(), "Apply failed with 1 conflict: conflict with \"kubectl\": .spec.parallelism");

    // Forced: the value changes and the field leaves kubectl's set.
    let forced = apply_ok(Some(&shared), &other(3), "other", true, at(20));
    assert_eq!(forced["spec"]["parallelism"], json!(3));
    assert_eq!(entry(&forced, "kubectl")["fieldsV1"]["f:spec"].get("f:parallelism"), None);
    assert_eq!(entry(&forced, "kubectl")["time"], json!("2026-01-01T00:00:00Z"), "the loser's time stays");
    // kubectl no longer owns it, so its next apply of another value conflicts the other way.
    let err = server_side_apply(Some(&forced), &applied_pi(Some(2)), "kubectl", false, at(30)).unwrap_err();
    assert_eq!(err.to_string(), "Apply failed with 1 conflict: conflict with \"other\": .spec.parallelism");
}

#[test]
fn several_conflicts_are_grouped_by_manager() {
    let first = apply_ok(None, &applied_pi(Some(2)), "a", false, at(0));
    let b =
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi", "labels": {"x": "1"}}});
    let second = apply_ok(Some(&first), &b, "b", false, at(1));
    let mut c = with(applied_pi(Some(3)), "/spec/template/spec/containers/0/image", json!("perl:6"));
    c["metadata"]["labels"] = json!({"x": "2"});
    let err = server_side_apply(Some(&second), &c, "c", false, at(2)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 3 conflicts: conflicts with \"a\":\n\
         - .spec.parallelism\n\
         - .spec.template.spec.containers[name=\"pi\"].image\n\
         conflicts with \"b\":\n\
         - .metadata.labels.x"
    );
}

#[test]
fn update_managers_never_conflict_and_are_kept() {
    let mut live = live_pi_job();
    let update = json!({
        "manager": "kubectl-client-side-apply",
        "operation": "Update",
        "apiVersion": "batch/v1",
        "time": "2025-12-31T00:00:00Z",
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:spec": {"f:parallelism": {}, "f:backoffLimit": {}}}
    });
    live["metadata"]["managedFields"] = json!([update]);
    let got = apply_ok(Some(&live), &applied_pi(Some(5)), "kubectl", false, at(0));
    assert_eq!(got["spec"]["parallelism"], json!(5));
    assert_eq!(managed(&got)[0], update);
    assert_eq!(entry(&got, "kubectl")["operation"], json!("Apply"));
}

/// kubectl 1.32's `apply --server-side` on an object `kubectl apply` created: the apply, then
/// kubectl's follow-up apply of the annotation alone by `kubectl-last-applied`.
#[test]
fn server_side_apply_after_client_side_apply() {
    let live = live_pi_job();
    let applied = parse_apply_body(KUBECTL_SSA_BODY.as_bytes()).unwrap();
    let got = apply_ok(Some(&live), &applied, "kubectl", false, at(0));

    let mut want = with(live_pi_job(), "/spec/parallelism", json!(2));
    // The kubectl manager keeps the annotation in step with what it applies.
    want["metadata"]["annotations"][LAST_APPLIED_ANNOTATION] = json!(KUBECTL_SSA_BODY);
    want["metadata"]["managedFields"] = got["metadata"]["managedFields"].clone();
    assert_eq!(got, want);
    assert_eq!(entry(&got, "kubectl")["fieldsV1"]["f:spec"]["f:parallelism"], json!({}));

    let annotation_only = json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "pi", "namespace": "default", "annotations": {LAST_APPLIED_ANNOTATION: KUBECTL_SSA_BODY}}
    });
    let after = apply_ok(Some(&got), &annotation_only, "kubectl-last-applied", false, at(1));
    assert_eq!(
        entry(&after, "kubectl-last-applied")["fieldsV1"],
        json!({"f:metadata": {"f:annotations": {"f:kubectl.kubernetes.io/last-applied-configuration": {}}}})
    );
    let mut unchanged = after.clone();
    unchanged["metadata"]["managedFields"] = got["metadata"]["managedFields"].clone();
    assert_eq!(unchanged, got, "the follow-up apply changes no field");

    // And the next server-side apply by kubectl, with another value, still goes through.
    let again = apply_ok(Some(&after), &applied_pi(Some(3)), "kubectl", false, at(2));
    assert_eq!(again["spec"]["parallelism"], json!(3));
    let last: Value =
        serde_json::from_str(again["metadata"]["annotations"][LAST_APPLIED_ANNOTATION].as_str().unwrap())
            .unwrap();
    assert_eq!(last["spec"]["parallelism"], json!(3));
}

#[test]
fn server_metadata_and_status_keep_their_live_values() {
    let live = live_pi_job();
    let mut applied = applied_pi(Some(2));
    applied["metadata"]["uid"] = json!("other");
    applied["metadata"]["resourceVersion"] = json!("1");
    applied["status"] = json!({"succeeded": 9});
    let got = apply_ok(Some(&live), &applied, "m", false, at(0));
    assert_eq!(got["metadata"]["uid"], json!("u-1"));
    assert_eq!(got["metadata"]["resourceVersion"], json!("7"));
    assert_eq!(got["status"], json!({"active": 1}));
    assert_eq!(entry(&got, "m")["fieldsV1"].get("f:status"), None);
}

#[test]
fn associative_lists_merge_by_key_in_the_applied_order() {
    let base = apply_ok(
        None,
        &with(
            applied_pi(None),
            "/spec/template/spec/containers",
            json!([{"name": "a", "image": "1"}, {"name": "b", "image": "1"}]),
        ),
        "one",
        false,
        at(0),
    );
    let mut live = base.clone();
    live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = json!("Always");
    let other = with(
        applied_pi(None),
        "/spec/template/spec/containers",
        json!([{"name": "c", "image": "1"}, {"name": "a", "image": "1"}]),
    );
    let got = apply_ok(Some(&live), &other, "two", false, at(1));
    assert_eq!(
        got["spec"]["template"]["spec"]["containers"],
        json!([
            {"name": "c", "image": "1"},
            {"name": "a", "image": "1", "imagePullPolicy": "Always"},
            {"name": "b", "image": "1"}
        ])
    );
}

#[test]
fn bad_applies_are_refused() {
    let mut with_managed = applied_pi(None);
    with_managed["metadata"]["managedFields"] = json!([]);
    let duplicate =
        with(applied_pi(None), "/spec/template/spec/containers", json!([{"name": "a"}, {"name": "a"}]));
    let keyless = with(applied_pi(None), "/spec/template/spec/containers", json!([{"image": "a"}]));
    for (name, applied, manager, message) in [
        ("no manager", applied_pi(None), "", "fieldManager: Required value: is required for apply patch"),
        (
            "no kind",
            without(applied_pi(None), "/kind"),
            "m",
            "apiVersion and kind must be set in an applied configuration",
        ),
        (
            "an unknown kind",
            json!({"apiVersion": "apps/v1", "kind": "Deployment"}),
            "m",
            "no matches for kind \"Deployment\" in version \"apps/v1\"",
        ),
        ("managedFields", with_managed, "m", "metadata.managedFields must be nil"),
        (
            "a duplicate key",
            duplicate,
            "m",
            ".spec.template.spec.containers: duplicate entries for key [name=\"a\"]",
        ),
        (
            "a missing key",
            keyless,
            "m",
            ".spec.template.spec.containers: an item of an associative list lacks a key field (name)",
        ),
        ("not an object", json!([]), "m", "the applied configuration must be an object, not array"),
    ] {
        let err = server_side_apply(Some(&live_pi_job()), &applied, manager, false, at(0)).unwrap_err();
        assert_eq!(err.to_string(), message, "{name}");
    }
}

#[test]
fn apply_bodies_parse_as_yaml_or_json() {
    let yaml = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: pi\n  labels: {on: yes}\nspec:\n  parallelism: 2\n";
    for (name, body, want) in [
        (
            "yaml",
            yaml,
            Ok(
                json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi", "labels": {"on": "yes"}}, "spec": {"parallelism": 2}}),
            ),
        ),
        ("kubectl's json", KUBECTL_SSA_BODY, Ok(applied_pi(Some(2)))),
        ("json with a byte order mark", "\u{feff}{\"a\": 1}", Ok(json!({"a": 1}))),
        (
            "two documents",
            "a: 1\n---\nb: 2\n",
            Err("cannot parse the body: an apply patch holds one object, not 2 documents".to_string()),
        ),
        ("a list", "- 1\n", Err("the patch must be a JSON object, not array".to_string())),
        (
            "empty",
            "",
            Err("cannot parse the body: an apply patch holds one object, not 0 documents".to_string()),
        ),
    ] {
        assert_eq!(parse_apply_body(body.as_bytes()).map_err(|e| e.to_string()), want, "{name}");
    }
    assert!(matches!(parse_apply_body(b"{\"a\": "), Err(PatchError::Syntax { .. })));
    assert!(matches!(parse_apply_body(&[0xff, 0xfe]), Err(PatchError::Syntax { .. })));
}

#[test]
fn managed_fields_round_trip_through_the_typed_job() {
    let got = apply_ok(None, &applied_pi(Some(2)), "kubectl", false, at(0));
    let job: crate::Job = serde_json::from_value(got.clone()).unwrap();
    assert_eq!(job.metadata.managed_fields.len(), 1);
    let back = serde_json::to_value(&job).unwrap();
    assert_eq!(back["metadata"]["managedFields"], got["metadata"]["managedFields"]);
}

// === Laws ===

/// A JSON value of a few keys and small scalars; `nulls` allows `null` leaves.
fn arb_json(nulls: bool) -> impl Strategy<Value = Value> {
    let scalar = prop_oneof![
        any::<bool>().prop_map(Value::from),
        (-3i64..4).prop_map(Value::from),
        "[ab]{0,2}".prop_map(Value::from),
    ];
    let leaf = if nulls { prop_oneof![scalar, Just(Value::Null)].boxed() } else { scalar.boxed() };
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
            prop::collection::btree_map("[a-d]", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn arb_object(nulls: bool) -> impl Strategy<Value = Value> {
    prop::collection::btree_map("[a-d]", arb_json(nulls), 0..4)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

/// The merge patch that turns `from` into `to` (RFC 7386 section 1's generation rule).
fn diff(from: &Value, to: &Value) -> Value {
    match (from, to) {
        (Value::Object(from), Value::Object(to)) => {
            let mut patch = serde_json::Map::new();
            for key in from.keys().filter(|k| !to.contains_key(*k)) {
                patch.insert(key.clone(), Value::Null);
            }
            for (key, value) in to {
                match from.get(key) {
                    Some(old) if old == value => {}
                    Some(old) => {
                        patch.insert(key.clone(), diff(old, value));
                    }
                    None => {
                        patch.insert(key.clone(), diff(&Value::Null, value));
                    }
                }
            }
            Value::Object(patch)
        }
        (_, to) => to.clone(),
    }
}

proptest! {
    #[test]
    fn a_merge_patch_diff_turns_one_object_into_another(from in arb_object(true), to in arb_object(false)) {
        let mut got = from.clone();
        merge_patch(&mut got, &diff(&from, &to));
        prop_assert_eq!(got, to);
    }

    #[test]
    fn merge_patches_are_idempotent(target in arb_json(true), patch in arb_json(true)) {
        let mut once = target;
        merge_patch(&mut once, &patch);
        let mut twice = once.clone();
        merge_patch(&mut twice, &patch);
        prop_assert_eq!(twice, once);
    }

    /// Without lists or directives a strategic merge patch is a JSON merge patch.
    #[test]
    fn a_strategic_patch_without_lists_is_a_merge_patch(target in arb_object(true), patch in arb_object(true)) {
        fn has_list(v: &Value) -> bool {
            match v {
                Value::Array(_) => true,
                Value::Object(m) => m.values().any(has_list),
                _ => false,
            }
        }
        prop_assume!(!has_list(&patch));
        let mut want = target.clone();
        merge_patch(&mut want, &patch);
        let mut got = target;
        strategic_merge_patch(&mut got, &patch, PatchKind::Worker).unwrap();
        prop_assert_eq!(got, want);
    }

    /// Applying a configuration twice gives what applying it once gave.
    #[test]
    fn server_side_apply_is_idempotent(spec in arb_object(false)) {
        let applied = json!({"apiVersion": "drover.dev/v1", "kind": "Worker", "metadata": {"name": "w"}, "spec": spec});
        let once = apply_ok(None, &applied, "m", false, at(0));
        let twice = apply_ok(Some(&once), &applied, "m", false, at(1));
        prop_assert_eq!(twice, once);
    }
}
