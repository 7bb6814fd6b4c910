//! `create -f` parsing: the Kubernetes docs' manifests, every refusal semantics.md names, and
//! the input shapes kubectl accepts (multi-document YAML, JSON, Lists).

use drover_api::manifest::{ManifestErrorKind, Object, expand_template, parse_documents, parse_each};
use drover_api::validation::FieldErrorKind;

/// The docs' `pi` Job (concepts/workloads/controllers/job.md), verbatim.
const PI_JOB: &str = r#"apiVersion: batch/v1
kind: Job
metadata:
  name: pi
spec:
  template:
    spec:
      containers:
      - name: pi
        image: perl:5.34.0
        command: ["perl",  "-Mbignum=bpi", "-wle", "print bpi(2000)"]
      restartPolicy: Never
  backoffLimit: 4
"#;

/// The docs' `job-tmpl.yaml` ("Parallel Processing using Expansions"), verbatim.
const JOB_TMPL: &str = r#"apiVersion: batch/v1
kind: Job
metadata:
  name: process-item-$ITEM
  labels:
    jobgroup: jobexample
spec:
  template:
    metadata:
      name: jobexample
      labels:
        jobgroup: jobexample
    spec:
      containers:
      - name: c
        image: busybox:1.28
        command: ["sh", "-c", "echo Processing item $ITEM && sleep 5"]
      restartPolicy: Never
"#;

/// The docs' RabbitMQ work-queue Job (examples/application/job/rabbitmq/job.yaml), verbatim.
/// It relies on the image's entrypoint, which Drover does not run.
const RABBITMQ_JOB_VERBATIM: &str = r#"apiVersion: batch/v1
kind: Job
metadata:
  name: job-wq-1
spec:
  completions: 8
  parallelism: 2
  template:
    metadata:
      name: job-wq-1
    spec:
      containers:
      - name: c
        image: gcr.io/<project>/job-wq-1
        env:
        - name: BROKER_URL
          value: amqp://guest:guest@rabbitmq-service:5672
        - name: QUEUE
          value: job1
      restartPolicy: OnFailure
"#;

/// The same Job with the image's command (from the docs' Dockerfile) spelled out, as Drover
/// needs it.
const RABBITMQ_JOB: &str = r#"apiVersion: batch/v1
kind: Job
metadata:
  name: job-wq-1
spec:
  completions: 8
  parallelism: 2
  template:
    metadata:
      name: job-wq-1
    spec:
      containers:
      - name: c
        image: gcr.io/<project>/job-wq-1
        command: ["sh", "-c", "/usr/bin/amqp-consume --url=$BROKER_URL -q $QUEUE -c 1 cat && echo"]
        env:
        - name: BROKER_URL
          value: amqp://guest:guest@rabbitmq-service:5672
        - name: QUEUE
          value: job1
      restartPolicy: OnFailure
"#;

fn one_job(text: &str) -> drover_api::Job {
    let objects = parse_documents(text, "job.yaml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(objects.len(), 1);
    let Some(Object::Job(job)) = objects.into_iter().next() else { panic!("expected a Job") };
    job
}

fn refusal(text: &str) -> String {
    parse_documents(text, "job.yaml").unwrap_err().to_string()
}

fn pi_with(from: &str, to: &str) -> String {
    assert!(PI_JOB.contains(from), "{from:?} not in the pi Job");
    PI_JOB.replacen(from, to, 1)
}

fn items(names: &[&str]) -> Vec<(String, String)> {
    names.iter().map(|n| ("ITEM".to_string(), n.to_string())).collect()
}

// === The docs' manifests ===

#[test]
fn pi_job_parses_as_written() {
    let job = one_job(PI_JOB);
    assert_eq!(job.api_version, "batch/v1");
    assert_eq!(job.kind, "Job");
    assert_eq!(job.metadata.name, "pi");
    assert_eq!(job.spec.backoff_limit, Some(4));
    let container = &job.spec.template.spec.containers[0];
    assert_eq!(container.name, "pi");
    assert_eq!(container.image.as_deref(), Some("perl:5.34.0"));
    assert_eq!(container.command, ["perl", "-Mbignum=bpi", "-wle", "print bpi(2000)"]);
    assert_eq!(job.spec.template.spec.restart_policy.as_deref(), Some("Never"));
    // Defaults are the caller's job.
    assert_eq!(job.spec.parallelism, None);
    assert_eq!(job.spec.completions, None);
}

#[test]
fn pi_job_defaults_after_parse() {
    let Object::Job(mut job) = parse_documents(PI_JOB, "job.yaml").unwrap().remove(0) else {
        panic!("expected a Job")
    };
    job.apply_defaults();
    assert_eq!(job.spec.completions, Some(1));
    assert_eq!(job.spec.parallelism, Some(1));
    assert_eq!(job.spec.backoff_limit, Some(4));
}

#[test]
fn job_template_expands_per_item() {
    let expanded = expand_template(JOB_TMPL, &items(&["apple"]));
    let job = one_job(&expanded);
    assert_eq!(job.metadata.name, "process-item-apple");
    assert_eq!(job.metadata.labels["jobgroup"], "jobexample");
    assert_eq!(job.spec.template.metadata.labels["jobgroup"], "jobexample");
    // The template's metadata.name is accepted (and, as in Kubernetes, not used).
    assert_eq!(job.spec.template.metadata.name, "jobexample");
    assert_eq!(
        job.spec.template.spec.containers[0].command,
        ["sh", "-c", "echo Processing item apple && sleep 5"]
    );
}

#[test]
fn job_template_unexpanded_is_an_invalid_name() {
    assert_eq!(
        refusal(JOB_TMPL),
        "The Job \"process-item-$ITEM\" is invalid: metadata.name: Invalid value: \
         \"process-item-$ITEM\": a lowercase RFC 1123 subdomain must consist of lower case \
         alphanumeric characters, '-' or '.', and must start and end with an alphanumeric \
         character"
    );
}

#[test]
fn expansions_as_one_multi_document_file() {
    // What `for i in apple banana cherry; do sed "s/\$ITEM/$i/" job-tmpl.yaml; echo ---; done`
    // produces, with a trailing empty document.
    let text: String = ["apple", "banana", "cherry"]
        .iter()
        .map(|item| format!("{}---\n", expand_template(JOB_TMPL, &items(&[item]))))
        .collect();
    let names: Vec<String> =
        parse_documents(&text, "jobs.yaml").unwrap().iter().map(|o| o.name().to_string()).collect();
    assert_eq!(names, ["process-item-apple", "process-item-banana", "process-item-cherry"]);
}

#[test]
fn expand_template_leaves_other_dollars_alone() {
    let text = r#"command: ["sh", "-c", "for i in 1 2; do echo $i $ITEM ${ITEM} $HOME; done"]"#;
    assert_eq!(
        expand_template(text, &items(&["x"])),
        r#"command: ["sh", "-c", "for i in 1 2; do echo $i x x $HOME; done"]"#
    );
}

#[test]
fn rabbitmq_work_queue_job() {
    let job = one_job(RABBITMQ_JOB);
    assert_eq!(job.metadata.name, "job-wq-1");
    assert_eq!(job.spec.completions, Some(8));
    assert_eq!(job.spec.parallelism, Some(2));
    assert_eq!(job.spec.template.metadata.name, "job-wq-1");
    assert_eq!(job.spec.template.spec.restart_policy.as_deref(), Some("OnFailure"));
    let env = &job.spec.template.spec.containers[0].env;
    assert_eq!(env.len(), 2);
    assert_eq!(env[0].name, "BROKER_URL");
    assert_eq!(env[0].value, "amqp://guest:guest@rabbitmq-service:5672");
    assert_eq!(env[1].name, "QUEUE");
    assert_eq!(env[1].value, "job1");
}

#[test]
fn rabbitmq_job_verbatim_needs_a_command() {
    assert_eq!(
        refusal(RABBITMQ_JOB_VERBATIM),
        "The Job \"job-wq-1\" is invalid: spec.template.spec.containers[0].command: Required \
         value: Drover runs the command on the worker's host and does not run the image's \
         entrypoint"
    );
}

// === Each refusal in semantics.md §1.3 ===

#[test]
fn negative_parallelism() {
    assert_eq!(
        refusal(&pi_with("  backoffLimit: 4", "  backoffLimit: 4\n  parallelism: -1")),
        "The Job \"pi\" is invalid: spec.parallelism: Invalid value: -1: must be greater than or \
         equal to 0"
    );
}

#[test]
fn restart_policy_always() {
    assert_eq!(
        refusal(&pi_with("restartPolicy: Never", "restartPolicy: Always")),
        "The Job \"pi\" is invalid: spec.template.spec.restartPolicy: Required value: valid \
         values: \"OnFailure\", \"Never\""
    );
}

#[test]
fn restart_policy_missing() {
    assert_eq!(
        refusal(&pi_with("      restartPolicy: Never\n", "")),
        "The Job \"pi\" is invalid: spec.template.spec.restartPolicy: Required value: valid \
         values: \"OnFailure\", \"Never\""
    );
}

#[test]
fn restart_policy_unknown() {
    assert_eq!(
        refusal(&pi_with("restartPolicy: Never", "restartPolicy: Sometimes")),
        "The Job \"pi\" is invalid: spec.template.spec.restartPolicy: Unsupported value: \
         \"Sometimes\": supported values: \"OnFailure\", \"Never\""
    );
}

#[test]
fn missing_template() {
    let text = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: pi\nspec:\n  backoffLimit: 4\n";
    assert_eq!(
        refusal(text),
        "The Job \"pi\" is invalid: \n\
         * spec.template.spec.containers: Required value\n\
         * spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\""
    );
}

#[test]
fn unknown_field_is_reported_with_its_path() {
    let err = parse_documents(&pi_with("image: perl", "imagee: perl"), "job.yaml").unwrap_err();
    assert_eq!(err.reason, ManifestErrorKind::Invalid);
    assert_eq!(
        err.to_string(),
        "The Job \"pi\" is invalid: unknown field \"spec.template.spec.containers[0].imagee\""
    );
    assert_eq!(err.field_errors[0].kind, FieldErrorKind::UnknownField);
    assert_eq!(err.field_errors[0].path, "spec.template.spec.containers[0].imagee");
}

/// Unknown fields come in path order (keys sorted within each object).
#[test]
fn every_unknown_field_is_reported() {
    let text = pi_with("image: perl", "imagee: perl")
        .replace("  backoffLimit: 4", "  backofflimit: 4\n  foo: {bar: 1}")
        .replace("  name: pi\nspec", "  name: pi\n  nmae: x\nspec");
    let err = parse_documents(&text, "job.yaml").unwrap_err();
    assert_eq!(
        err.messages,
        [
            "unknown field \"metadata.nmae\"",
            "unknown field \"spec.backofflimit\"",
            "unknown field \"spec.foo\"",
            "unknown field \"spec.template.spec.containers[0].imagee\"",
        ]
    );
}

#[test]
fn invalid_name() {
    assert_eq!(
        refusal(&pi_with("name: pi\n", "name: Bad_Name\n")),
        "The Job \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase \
         RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and \
         must start and end with an alphanumeric character"
    );
}

#[test]
fn name_of_64_characters_is_too_long() {
    let name = "a".repeat(64);
    assert_eq!(
        refusal(&pi_with("name: pi\n", &format!("name: {name}\n"))),
        format!(
            "The Job \"{name}\" is invalid: metadata.name: Invalid value: \"{name}\": must be no \
             more than 63 characters"
        )
    );
    let name = "a".repeat(63);
    assert_eq!(one_job(&pi_with("name: pi\n", &format!("name: {name}\n"))).metadata.name, name);
}

#[test]
fn malformed_yaml_names_the_source_and_position() {
    let text = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: pi\n   labels: x\n";
    let err = parse_documents(text, "job.yaml").unwrap_err();
    assert_eq!(err.reason, ManifestErrorKind::Syntax { line: Some(5), column: Some(10) });
    assert_eq!(
        err.to_string(),
        "error: error parsing job.yaml: yaml: line 5, column 10: mapping values are not allowed \
         in this context"
    );
    let err = parse_documents("a: [1, 2\n", "<stdin>").unwrap_err();
    assert!(err.to_string().starts_with("error: error parsing <stdin>: yaml: line "), "{err}");
}

#[test]
fn duplicate_key_is_a_syntax_error() {
    let err =
        parse_documents(&pi_with("  backoffLimit: 4", "  backoffLimit: 4\n  backoffLimit: 5"), "job.yaml")
            .unwrap_err();
    assert_eq!(
        err.to_string(),
        "error: error parsing job.yaml: yaml: line 14, column 3: key \"backoffLimit\" already set \
         in map"
    );
}

#[test]
fn every_error_is_reported() {
    let text = pi_with("  backoffLimit: 4", "  backoffLimit: 4\n  parallelism: -1\n  foo: 1");
    let err = parse_documents(&text, "job.yaml").unwrap_err();
    assert_eq!(
        err.to_string(),
        "The Job \"pi\" is invalid: \n\
         * unknown field \"spec.foo\"\n\
         * spec.parallelism: Invalid value: -1: must be greater than or equal to 0"
    );
    assert_eq!(err.kind.as_deref(), Some("Job"));
    assert_eq!(err.name.as_deref(), Some("pi"));
    assert_eq!(err.source_name, "job.yaml");
    assert_eq!(err.document, Some(0));
}

#[test]
fn many_validation_errors_at_once() {
    let text = r#"apiVersion: batch/v1
kind: Job
metadata:
  name: Bad_Name
  namespace: prod
spec:
  parallelism: -1
  completions: -2
  backoffLimit: -3
  activeDeadlineSeconds: -4
  ttlSecondsAfterFinished: -5
  completionMode: Sparse
  podReplacementPolicy: Sometimes
  template:
    spec:
      containers:
      - name: c
        command: [sh]
      restartPolicy: Always
"#;
    let err = parse_documents(text, "job.yaml").unwrap_err();
    assert_eq!(
        err.messages,
        [
            "metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must \
             consist of lower case alphanumeric characters, '-' or '.', and must start and end \
             with an alphanumeric character",
            "metadata.namespace: Invalid value: \"prod\": Drover has a single namespace, \"default\"",
            "spec.parallelism: Invalid value: -1: must be greater than or equal to 0",
            "spec.completions: Invalid value: -2: must be greater than or equal to 0",
            "spec.activeDeadlineSeconds: Invalid value: -4: must be greater than or equal to 0",
            "spec.backoffLimit: Invalid value: -3: must be greater than or equal to 0",
            "spec.ttlSecondsAfterFinished: Invalid value: -5: must be greater than or equal to 0",
            "spec.completionMode: Unsupported value: \"Sparse\": supported values: \"NonIndexed\", \
             \"Indexed\"",
            "spec.podReplacementPolicy: Unsupported value: \"Sometimes\": supported values: \
             \"TerminatingOrFailed\", \"Failed\"",
            "spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\"",
        ]
    );
}

#[test]
fn type_errors_carry_their_path() {
    let text = pi_with("  backoffLimit: 4", "  backoffLimit: 4\n  parallelism: two");
    assert_eq!(
        refusal(&text),
        "The Job \"pi\" is invalid: spec.parallelism: Invalid value: \"two\": expected a 32-bit \
         integer"
    );
}

#[test]
fn type_errors_and_unknown_fields_together() {
    // A string command (a common slip) is one error, not also a missing command.
    let text = pi_with(
        r#"command: ["perl",  "-Mbignum=bpi", "-wle", "print bpi(2000)"]"#,
        "command: perl -v\n        imagee: x",
    )
    .replace("backoffLimit: 4", "backoffLimit: 3000000000");
    let err = parse_documents(&text, "job.yaml").unwrap_err();
    assert_eq!(
        err.messages,
        [
            "unknown field \"spec.template.spec.containers[0].imagee\"",
            "spec.backoffLimit: Invalid value: 3000000000: expected a 32-bit integer",
            "spec.template.spec.containers[0].command: Invalid value: \"perl -v\": expected a list",
        ]
    );
}

#[test]
fn missing_required_field_in_a_list_item() {
    let text = RABBITMQ_JOB.replace("        - name: QUEUE\n          value", "        - value");
    assert_eq!(
        refusal(&text),
        "The Job \"job-wq-1\" is invalid: spec.template.spec.containers[0].env[1].name: Required \
         value"
    );
}

// === Input shapes ===

#[test]
fn multi_document_yaml_skips_empty_documents() {
    let text = format!("---\n# a comment\n---\n{PI_JOB}---\n---\n{RABBITMQ_JOB}\n...\n");
    let objects = parse_documents(&text, "all.yaml").unwrap();
    let names: Vec<&str> = objects.iter().map(Object::name).collect();
    assert_eq!(names, ["pi", "job-wq-1"]);
}

#[test]
fn error_in_second_document_names_it() {
    let text = format!("{PI_JOB}---\n{}", RABBITMQ_JOB.replace("parallelism: 2", "parallelism: -2"));
    let err = parse_documents(&text, "all.yaml").unwrap_err();
    assert_eq!(err.document, Some(1));
    assert_eq!(err.name.as_deref(), Some("job-wq-1"));
    assert_eq!(
        err.to_string(),
        "The Job \"job-wq-1\" is invalid: spec.parallelism: Invalid value: -2: must be greater \
         than or equal to 0"
    );
}

#[test]
fn parse_each_keeps_the_good_documents() {
    let text = format!("{PI_JOB}---\n{}", PI_JOB.replace("name: pi\n", "name: Pi\n"));
    let results = parse_each(&text, "all.yaml").unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].as_ref().unwrap().name(), "pi");
    assert_eq!(results[1].as_ref().unwrap_err().document, Some(1));
}

#[test]
fn json_object() {
    let text = r#"{
  "apiVersion": "batch/v1",
  "kind": "Job",
  "metadata": {"name": "pi"},
  "spec": {
    "backoffLimit": 4,
    "template": {"spec": {
      "containers": [{"name": "pi", "image": "perl:5.34.0",
                      "command": ["perl", "-Mbignum=bpi", "-wle", "print bpi(2000)"]}],
      "restartPolicy": "Never"
    }}
  }
}"#;
    let job = one_job(text);
    assert_eq!(job, one_job(PI_JOB));
}

#[test]
fn json_syntax_error() {
    let err = parse_documents("{\"apiVersion\": \"batch/v1\",\n \"kind\": }", "job.json").unwrap_err();
    assert_eq!(err.reason, ManifestErrorKind::Syntax { line: Some(2), column: Some(10) });
    assert_eq!(err.to_string(), "error: error parsing job.json: json: line 2, column 10: expected value");
}

#[test]
fn json_list() {
    let pi = serde_json::to_value(one_job(PI_JOB)).unwrap();
    let wq = serde_json::to_value(one_job(RABBITMQ_JOB)).unwrap();
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [pi, wq]});
    let objects = parse_documents(&list.to_string(), "list.json").unwrap();
    let names: Vec<&str> = objects.iter().map(Object::name).collect();
    assert_eq!(names, ["pi", "job-wq-1"]);
}

#[test]
fn yaml_list_reports_the_bad_item() {
    let text = r#"apiVersion: v1
kind: List
items:
- apiVersion: batch/v1
  kind: Job
  metadata: {name: a}
  spec:
    template:
      spec:
        containers: [{name: c, command: ["true"]}]
        restartPolicy: Never
- apiVersion: batch/v1
  kind: Job
  metadata: {name: b}
  spec:
    template:
      spec:
        containers: [{name: c, command: ["true"]}]
        restartPolicy: Always
"#;
    let results = parse_each(text, "list.yaml").unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].as_ref().unwrap().name(), "a");
    let err = results[1].as_ref().unwrap_err();
    assert_eq!((err.document, err.item), (Some(0), Some(1)));
    assert_eq!(err.position(), "document 1, item 2");
    assert_eq!(
        err.to_string(),
        "The Job \"b\" is invalid: spec.template.spec.restartPolicy: Required value: valid \
         values: \"OnFailure\", \"Never\""
    );
}

#[test]
fn typed_list_items_inherit_kind() {
    let text = r#"apiVersion: batch/v1
kind: JobList
items:
- metadata: {name: a}
  spec:
    template:
      spec:
        containers: [{name: c, command: ["true"]}]
        restartPolicy: Never
"#;
    let objects = parse_documents(text, "list.yaml").unwrap();
    assert_eq!(objects[0].kind(), "Job");
    assert_eq!(objects[0].name(), "a");
}

#[test]
fn unknown_kind() {
    let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n";
    let err = parse_documents(text, "deploy.yaml").unwrap_err();
    assert_eq!(err.reason, ManifestErrorKind::NoMatch);
    assert_eq!(
        err.to_string(),
        "error: resource mapping not found for name: \"web\" namespace: \"\" from \
         \"deploy.yaml\": no matches for kind \"Deployment\" in version \"apps/v1\""
    );
}

#[test]
fn job_in_another_version_is_unknown() {
    let err = parse_documents(&PI_JOB.replace("batch/v1", "batch/v1beta1"), "job.yaml").unwrap_err();
    assert_eq!(err.messages, ["no matches for kind \"Job\" in version \"batch/v1beta1\""]);
}

#[test]
fn missing_api_version_and_kind() {
    let err = parse_documents("metadata:\n  name: pi\n", "job.yaml").unwrap_err();
    assert_eq!(err.reason, ManifestErrorKind::Malformed);
    assert_eq!(
        err.to_string(),
        "error: error validating \"job.yaml\": error validating data: [apiVersion not set, kind \
         not set]"
    );
    let text = format!("{PI_JOB}---\napiVersion: batch/v1\nmetadata:\n  name: x\n");
    assert_eq!(
        parse_documents(&text, "job.yaml").unwrap_err().to_string(),
        "error: error validating \"job.yaml\" (document 2): error validating data: kind not set"
    );
}

#[test]
fn a_document_must_be_an_object() {
    let err = parse_documents("- a\n- b\n", "job.yaml").unwrap_err();
    assert_eq!(
        err.to_string(),
        "error: error validating \"job.yaml\": error validating data: expected an object, got a list"
    );
}

#[test]
fn empty_input_has_no_objects() {
    assert_eq!(parse_documents("", "<stdin>").unwrap(), []);
    assert_eq!(parse_documents("# nothing\n---\n", "<stdin>").unwrap(), []);
}

#[test]
fn null_fields_are_absent() {
    let text = pi_with("  name: pi\n", "  name: pi\n  labels:\n  annotations: ~\n");
    assert!(one_job(&text).metadata.labels.is_empty());
}

#[test]
fn yes_and_on_stay_strings() {
    let text = RABBITMQ_JOB.replace("value: job1", "value: yes");
    assert_eq!(one_job(&text).spec.template.spec.containers[0].env[1].value, "yes");
}

#[test]
fn windows_line_endings() {
    let text = PI_JOB.replace('\n', "\r\n");
    assert_eq!(one_job(&text), one_job(PI_JOB));
}

#[test]
fn generate_name_only() {
    let text = pi_with("  name: pi\n", "  generateName: pi-\n");
    let objects = parse_documents(&text, "job.yaml").unwrap();
    assert_eq!(objects[0].name(), "");
    assert_eq!(objects[0].metadata().generate_name.as_deref(), Some("pi-"));
    let bad = text.replace("parallelism", "x").replace("  backoffLimit: 4", "  backoffLimit: -4");
    assert_eq!(
        refusal(&bad),
        "The Job \"\" is invalid: spec.backoffLimit: Invalid value: -4: must be greater than or \
         equal to 0"
    );
}
