//! `drover_api::protobuf::decode`: real kubectl 1.32 bodies (captured from `kubectl create` against
//! a coordinator, in `tests/data/*.pb`), and a table of hand-built bodies for the wire decoder.

use drover_api::protobuf::{ProtobufErrorKind, decode};
use serde_json::{Value, json};

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn kubectl_create_job_with_an_image() {
    // kubectl create job hi --image=busybox -- echo hi
    let expected = json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "hi", "namespace": "default", "creationTimestamp": null},
        "spec": {
            "template": {
                "metadata": {"creationTimestamp": null},
                "spec": {
                    "containers": [{"name": "hi", "image": "busybox", "command": ["echo", "hi"], "resources": {}}],
                    "restartPolicy": "Never"
                }
            }
        },
        "status": {}
    });
    assert_eq!(decode(&fixture("job-image.pb")).unwrap(), expected);
}

#[test]
fn kubectl_create_job_from_a_cronjob() {
    // kubectl create job manual --from=cronjob/hello, hello being examples/cronjob-hello.yaml at
    // batch/v1 as the coordinator answered it.
    let expected = json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "manual",
            "namespace": "default",
            "creationTimestamp": null,
            "annotations": {"cronjob.kubernetes.io/instantiate": "manual"},
            "ownerReferences": [{
                "apiVersion": "batch/v1",
                "kind": "CronJob",
                "name": "hello",
                "uid": "06bb70e6-990e-4918-9a81-e9ad0e9142b9",
                "controller": true
            }]
        },
        "spec": {
            "template": {
                "metadata": {"creationTimestamp": null},
                "spec": {
                    "containers": [{
                        "name": "hello",
                        "image": "busybox",
                        "args": ["/bin/sh", "-c", "date; echo Hello from the Kubernetes cluster"],
                        "resources": {}
                    }],
                    "restartPolicy": "OnFailure"
                }
            }
        },
        "status": {}
    });
    let decoded = decode(&fixture("job-from-cronjob.pb")).unwrap();
    assert_eq!(decoded, expected);
    // Admissible as Drover's Job.
    let job: drover_api::Job = serde_json::from_value(decoded).unwrap();
    assert_eq!(job.metadata.owner_references[0].controller, Some(true));
    assert_eq!(job.spec.template.spec.containers[0].args.len(), 3);
}

#[test]
fn kubectl_create_cronjob() {
    // kubectl create cronjob nightly --image=busybox --schedule="0 0 * * *" -- echo hi
    let expected = json!({
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly", "namespace": "default", "creationTimestamp": null},
        "spec": {
            "schedule": "0 0 * * *",
            "jobTemplate": {
                "metadata": {"name": "nightly", "creationTimestamp": null},
                "spec": {
                    "template": {
                        "metadata": {"creationTimestamp": null},
                        "spec": {
                            "containers": [{
                                "name": "nightly",
                                "image": "busybox",
                                "command": ["echo", "hi"],
                                "resources": {}
                            }],
                            "restartPolicy": "OnFailure"
                        }
                    }
                }
            }
        },
        "status": {}
    });
    let decoded = decode(&fixture("cronjob.pb")).unwrap();
    assert_eq!(decoded, expected);
    let cronjob: drover_api::CronJob = serde_json::from_value(decoded).unwrap();
    assert_eq!(cronjob.spec.schedule, "0 0 * * *");
}

// === a tiny encoder for hand-built bodies ===

fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

fn key(field: u64, wire_type: u64) -> Vec<u8> {
    varint(field << 3 | wire_type)
}

/// A varint field.
fn vi(field: u64, v: u64) -> Vec<u8> {
    [key(field, 0), varint(v)].concat()
}

/// A length-delimited field.
fn ld(field: u64, bytes: &[u8]) -> Vec<u8> {
    [key(field, 2), varint(bytes.len() as u64), bytes.to_vec()].concat()
}

fn s(field: u64, text: &str) -> Vec<u8> {
    ld(field, text.as_bytes())
}

/// `k8s\0` + `runtime.Unknown{typeMeta{apiVersion, kind}, raw}`.
fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let type_meta = [s(1, api_version), s(2, kind)].concat();
    [b"k8s\0".to_vec(), ld(1, &type_meta), ld(2, raw), s(3, ""), s(4, "")].concat()
}

fn job(raw: &[u8]) -> Vec<u8> {
    envelope("batch/v1", "Job", raw)
}

/// A Job whose `spec` (field 2) is `spec`.
fn job_spec(spec: &[u8]) -> Vec<u8> {
    job(&ld(2, spec))
}

/// A Job whose `spec.template.spec` (JobSpec 6, PodTemplateSpec 2) is `pod_spec`.
fn pod_spec(pod_spec: &[u8]) -> Vec<u8> {
    job_spec(&ld(6, &ld(2, pod_spec)))
}

/// A Job whose only container (PodSpec 2) is `container`.
fn container(container: &[u8]) -> Vec<u8> {
    pod_spec(&ld(2, container))
}

fn job_json(spec: Value) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job", "spec": spec})
}

fn container_json(container: Value) -> Value {
    job_json(json!({"template": {"spec": {"containers": [container]}}}))
}

#[test]
fn the_wire_decoder() {
    let minus_one = u64::MAX; // a negative int32 is sign-extended to ten bytes
    let cases: Vec<(&str, Vec<u8>, Result<Value, &str>)> = vec![
        ("an empty Job", job(&[]), Ok(json!({"apiVersion": "batch/v1", "kind": "Job"}))),
        ("a one-byte varint", job_spec(&vi(7, 6)), Ok(job_json(json!({"backoffLimit": 6})))),
        ("a multi-byte varint", job_spec(&vi(7, 300)), Ok(job_json(json!({"backoffLimit": 300})))),
        (
            "a negative int32, ten bytes",
            job_spec(&vi(1, minus_one)),
            Ok(job_json(json!({"parallelism": -1}))),
        ),
        (
            "an int64 past 32 bits",
            job_spec(&vi(3, 1 << 40)),
            Ok(job_json(json!({"activeDeadlineSeconds": 1_099_511_627_776_i64}))),
        ),
        ("a pointer bool false is kept", job_spec(&vi(10, 0)), Ok(job_json(json!({"suspend": false})))),
        ("a pointer int 0 is kept", job_spec(&vi(8, 0)), Ok(job_json(json!({"ttlSecondsAfterFinished": 0})))),
        (
            "omitempty drops an empty string and a false bool",
            container(&[s(1, "c"), s(2, ""), vi(16, 0), vi(18, 1)].concat()),
            Ok(container_json(json!({"name": "c", "tty": true}))),
        ),
        ("a required empty string is kept", container(&s(1, "")), Ok(container_json(json!({"name": ""})))),
        (
            "a value struct is always written",
            container(&[s(1, "c"), ld(8, &[])].concat()),
            Ok(container_json(json!({"name": "c", "resources": {}}))),
        ),
        (
            "unpacked repeated strings",
            container(&[s(1, "c"), s(3, "echo"), s(3, "hi")].concat()),
            Ok(container_json(json!({"name": "c", "command": ["echo", "hi"]}))),
        ),
        (
            "repeated messages",
            pod_spec(&[ld(2, &s(1, "a")), ld(2, &s(1, "b"))].concat()),
            Ok(job_json(json!({"template": {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}}))),
        ),
        (
            "packed and unpacked repeated int32, mixed",
            job_spec(&ld(
                11,
                &ld(1, &ld(2, &[s(2, "In"), ld(3, &[varint(1), varint(300)].concat()), vi(3, 42)].concat())),
            )),
            Ok(job_json(
                json!({"podFailurePolicy": {"rules": [{"onExitCodes": {"operator": "In", "values": [1, 300, 42]}}]}}),
            )),
        ),
        (
            "maps, the last of a repeated key wins",
            job(&ld(
                1,
                &[
                    ld(11, &[s(1, "a"), s(2, "1")].concat()),
                    ld(11, &[s(1, "b"), s(2, "2")].concat()),
                    ld(11, &[s(1, "a"), s(2, "3")].concat()),
                ]
                .concat(),
            )),
            Ok(
                json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"labels": {"a": "3", "b": "2"}}}),
            ),
        ),
        (
            "a map entry without a value",
            job(&ld(1, &ld(12, &s(1, "note")))),
            Ok(json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"annotations": {"note": ""}}})),
        ),
        (
            "a LabelSelector with matchExpressions",
            job_spec(&ld(
                4,
                &[
                    ld(1, &[s(1, "app"), s(2, "x")].concat()),
                    ld(2, &[s(1, "tier"), s(2, "In"), s(3, "a"), s(3, "b")].concat()),
                ]
                .concat(),
            )),
            Ok(job_json(json!({"selector": {
                "matchLabels": {"app": "x"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]
            }}))),
        ),
        (
            "a scalar given twice keeps the last",
            job_spec(&[vi(7, 1), vi(7, 2)].concat()),
            Ok(job_json(json!({"backoffLimit": 2}))),
        ),
        (
            "a message given twice is merged",
            job(&[ld(2, &vi(7, 1)), ld(2, &vi(2, 3))].concat()),
            Ok(job_json(json!({"backoffLimit": 1, "completions": 3}))),
        ),
        (
            "times: empty is null, nanos are dropped",
            job(&[
                ld(1, &ld(8, &[])),
                ld(3, &[ld(2, &[vi(1, 1_700_000_000), vi(2, 999)].concat())].concat()),
            ]
            .concat()),
            Ok(json!({
                "apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"creationTimestamp": null},
                "status": {"startTime": "2023-11-14T22:13:20Z"}
            })),
        ),
        (
            "Quantities in resource maps",
            container(
                &[
                    s(1, "c"),
                    ld(
                        8,
                        &[
                            ld(1, &[s(1, "cpu"), ld(2, &s(1, "500m"))].concat()),
                            ld(2, &[s(1, "memory"), ld(2, &[])].concat()),
                        ]
                        .concat(),
                    ),
                ]
                .concat(),
            ),
            Ok(container_json(
                json!({"name": "c", "resources": {"limits": {"cpu": "500m"}, "requests": {"memory": "0"}}}),
            )),
        ),
        (
            "an inline ProbeHandler and IntOrStrings",
            container(
                &[
                    s(1, "c"),
                    ld(
                        10,
                        &[ld(1, &ld(2, &ld(2, &[vi(1, 0), vi(2, 8080), s(3, "")].concat()))), vi(4, 5)]
                            .concat(),
                    ),
                    ld(11, &ld(1, &ld(3, &ld(1, &[vi(1, 1), vi(2, 0), s(3, "http")].concat())))),
                ]
                .concat(),
            ),
            Ok(container_json(json!({
                "name": "c",
                "livenessProbe": {"httpGet": {"port": 8080}, "periodSeconds": 5},
                "readinessProbe": {"tcpSocket": {"port": "http"}}
            }))),
        ),
        (
            "env valueFrom with an inline LocalObjectReference",
            container(
                &[
                    s(1, "c"),
                    ld(
                        7,
                        &[s(1, "A"), s(2, ""), ld(3, &ld(3, &[ld(1, &s(1, "cm")), s(2, "k")].concat()))]
                            .concat(),
                    ),
                ]
                .concat(),
            ),
            Ok(container_json(
                json!({"name": "c", "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}}]}),
            )),
        ),
        (
            "managedFields with FieldsV1",
            job(&ld(
                1,
                &ld(
                    17,
                    &[s(1, "kubectl"), s(2, "Update"), s(6, "FieldsV1"), ld(7, &s(1, r#"{"f:spec":{}}"#))]
                        .concat(),
                ),
            )),
            Ok(json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"managedFields": [
                {"manager": "kubectl", "operation": "Update", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}
            ]}})),
        ),
        (
            "bad magic",
            b"k8s\x01".to_vec(),
            Err("the body does not start with the Kubernetes protobuf magic bytes \"k8s\\x00\""),
        ),
        (
            "JSON is not protobuf",
            br#"{"kind":"Job"}"#.to_vec(),
            Err("the body does not start with the Kubernetes protobuf magic bytes \"k8s\\x00\""),
        ),
        ("no object", b"k8s\0".to_vec(), Err("the object has no apiVersion")),
        ("no kind", envelope("batch/v1", "", &[]), Err("the object has no kind")),
        (
            "another kind",
            envelope("v1", "Pod", &[]),
            Err(
                "Pod of apiVersion v1 cannot be sent as protobuf to Drover (batch/v1 Job and CronJob can); send JSON",
            ),
        ),
        (
            "a content encoding",
            [b"k8s\0".to_vec(), ld(1, &[s(1, "batch/v1"), s(2, "Job")].concat()), s(3, "gzip")].concat(),
            Err("content encoding \"gzip\" is not supported"),
        ),
        (
            "an unknown envelope field",
            [job(&[]), s(9, "x")].concat(),
            Err("unknown field 9 in k8s.io.apimachinery.pkg.runtime.Unknown"),
        ),
        (
            "an unknown field",
            job_spec(&vi(99, 1)),
            Err("unknown field 99 in k8s.io.api.batch.v1.JobSpec (at spec)"),
        ),
        (
            "an unknown field deep down",
            container(&[s(1, "c"), vi(42, 1)].concat()),
            Err("unknown field 42 in k8s.io.api.core.v1.Container (at spec.template.spec.containers[0])"),
        ),
        (
            "an unknown field in a map entry",
            job(&ld(1, &ld(11, &[s(1, "a"), vi(3, 1)].concat()))),
            Err(
                "unknown field 3 in k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta.LabelsEntry (at metadata.labels)",
            ),
        ),
        (
            "a wrong wire type",
            job_spec(&s(7, "six")),
            Err(
                "field 7 (backoffLimit) of k8s.io.api.batch.v1.JobSpec has wire type 2, expected 0 (at spec.backoffLimit)",
            ),
        ),
        (
            "a string sent as a varint",
            container(&vi(1, 5)),
            Err(
                "field 1 (name) of k8s.io.api.core.v1.Container has wire type 0, expected 2 (at spec.template.spec.containers[0].name)",
            ),
        ),
        (
            "a truncated length",
            [job(&[]), key(5, 2), varint(10), b"abc".to_vec()].concat(),
            Err("truncated protobuf: a length-delimited value runs past the end of its message"),
        ),
        (
            "a truncated varint",
            [job(&[]), key(5, 0), vec![0x80]].concat(),
            Err("truncated protobuf: a varint runs past the end of its message"),
        ),
        (
            "a truncated fixed64",
            job_spec(&[key(3, 1), vec![1, 2, 3]].concat()),
            Err("truncated protobuf: a 64-bit value runs past the end of its message (at spec)"),
        ),
        (
            "a varint over 64 bits",
            job_spec(&[key(7, 0), vec![0xff; 9], vec![0x02]].concat()),
            Err("a varint does not fit in 64 bits (at spec)"),
        ),
        (
            "a fixed32 where a varint belongs",
            job_spec(&[key(7, 5), vec![1, 0, 0, 0]].concat()),
            Err(
                "field 7 (backoffLimit) of k8s.io.api.batch.v1.JobSpec has wire type 5, expected 0 (at spec.backoffLimit)",
            ),
        ),
        ("a group", job_spec(&key(7, 3)), Err("unsupported wire type 3 (at spec)")),
        ("field number 0", job_spec(&[0x00, 0x01]), Err("invalid field number 0 (at spec)")),
        (
            "a string that is not UTF-8",
            job(&ld(1, &ld(1, &[0xff, 0xfe]))),
            Err(
                "field 1 (name) of k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta is not valid UTF-8 (at metadata.name)",
            ),
        ),
        (
            "an emptyDir volume: its source inlined, as in JSON",
            pod_spec(&ld(1, &[s(1, "input"), ld(2, &ld(2, &s(1, "Memory")))].concat())),
            Ok(job_json(
                json!({"template": {"spec": {"volumes": [{"name": "input", "emptyDir": {"medium": "Memory"}}]}}}),
            )),
        ),
        (
            "a volume source Drover does not have is refused by name",
            pod_spec(&ld(1, &[s(1, "data"), ld(2, &ld(1, &s(1, "/srv")))].concat())),
            Err(
                "field 1 (hostPath) of k8s.io.api.core.v1.VolumeSource: hostPath volumes are not supported by Drover (at spec.template.spec.volumes[0].hostPath)",
            ),
        ),
        (
            "an IntOrString of type 2",
            container(&[s(1, "c"), ld(10, &ld(1, &ld(3, &ld(1, &vi(1, 2)))))].concat()),
            Err(
                "IntOrString has impossible type 2 (at spec.template.spec.containers[0].livenessProbe.tcpSocket.port)",
            ),
        ),
        (
            "a time past year 9999",
            job(&ld(1, &ld(8, &vi(1, 253_402_300_800)))),
            Err("time 253402300800s since the epoch is out of range (at metadata.creationTimestamp)"),
        ),
        (
            "FieldsV1 that is not JSON",
            job(&ld(1, &ld(17, &ld(7, &s(1, "{"))))),
            Err(
                "fieldsV1 is not valid JSON: EOF while parsing an object at line 1 column 1 (at metadata.managedFields[0].fieldsV1)",
            ),
        ),
    ];
    for (name, body, expected) in cases {
        let got = decode(&body).map_err(|e| e.to_string());
        assert_eq!(got.as_ref().map_err(String::as_str), expected.as_ref().map_err(|e| *e), "{name}");
    }
}

#[test]
fn a_cronjob_with_its_status() {
    let last = vi(1, 1_767_225_600); // 2026-01-01T00:00:00Z
    let raw = [
        ld(
            2,
            &[
                s(1, "*/5 * * * *"),
                s(8, "Europe/Paris"),
                s(3, "Forbid"),
                vi(4, 1),
                vi(6, 3),
                vi(7, 1),
                ld(5, &ld(2, &vi(7, 0))),
            ]
            .concat(),
        ),
        ld(
            3,
            &[
                ld(
                    1,
                    &[
                        s(1, "Job"),
                        s(2, "default"),
                        s(3, "hello-1"),
                        s(4, "u1"),
                        s(5, "batch/v1"),
                        s(6, ""),
                        s(7, ""),
                    ]
                    .concat(),
                ),
                ld(4, &last),
                ld(5, &last),
            ]
            .concat(),
        ),
    ]
    .concat();
    let expected = json!({
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "spec": {
            "schedule": "*/5 * * * *",
            "timeZone": "Europe/Paris",
            "concurrencyPolicy": "Forbid",
            "suspend": true,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 1,
            "jobTemplate": {"spec": {"backoffLimit": 0}}
        },
        "status": {
            "active": [{"kind": "Job", "namespace": "default", "name": "hello-1", "uid": "u1", "apiVersion": "batch/v1"}],
            "lastScheduleTime": "2026-01-01T00:00:00Z",
            "lastSuccessfulTime": "2026-01-01T00:00:00Z"
        }
    });
    assert_eq!(decode(&envelope("batch/v1", "CronJob", &raw)).unwrap(), expected);
}

#[test]
fn errors_carry_their_kind_and_path() {
    let err = decode(&container(&[s(1, "c"), vi(42, 1)].concat())).unwrap_err();
    assert_eq!(
        err.kind,
        ProtobufErrorKind::UnknownField { message: "k8s.io.api.core.v1.Container".into(), field: 42 }
    );
    assert_eq!(err.path, "spec.template.spec.containers[0]");
}
