"""The Python `kubernetes` client against a Drover coordinator: create, list, watch and delete a
Job, as tests/kubectl.rs's `the_python_kubernetes_client_works` runs it.

Usage: python3 k8s_client.py KUBECONFIG
Prints one line per step and exits non-zero on the first failure.
"""

import sys

from kubernetes import client, config, watch


def main(kubeconfig):
    config.load_kube_config(config_file=kubeconfig)
    batch = client.BatchV1Api()
    core = client.CoreV1Api()

    job = client.V1Job(
        api_version="batch/v1",
        kind="Job",
        metadata=client.V1ObjectMeta(name="py-job", labels={"made-by": "python"}),
        spec=client.V1JobSpec(
            completions=3,
            parallelism=2,
            backoff_limit=2,
            template=client.V1PodTemplateSpec(
                spec=client.V1PodSpec(
                    restart_policy="Never",
                    containers=[
                        client.V1Container(name="c", image="busybox", command=["sh", "-c", "echo hello from python"])
                    ],
                )
            ),
        ),
    )
    created = batch.create_namespaced_job("default", job)
    assert created.metadata.uid, created
    print("created", created.metadata.name)

    listed = batch.list_namespaced_job("default", label_selector="made-by=python")
    assert [j.metadata.name for j in listed.items] == ["py-job"], listed
    assert listed.metadata.resource_version, listed.metadata
    print("listed", len(listed.items))

    w = watch.Watch()
    seen = []
    for event in w.stream(
        batch.list_namespaced_job, "default", field_selector="metadata.name=py-job", timeout_seconds=120
    ):
        j = event["object"]
        seen.append((event["type"], j.status.succeeded))
        if j.status.succeeded == 3 and any(c.type == "Complete" and c.status == "True" for c in j.status.conditions or []):
            w.stop()
            break
    else:
        raise AssertionError(f"the watch ended before the Job completed: {seen}")
    print("watched", len(seen), "events until Complete")

    pods = core.list_namespaced_pod("default", label_selector="job-name=py-job")
    assert len(pods.items) == 3 and all(p.status.phase == "Succeeded" for p in pods.items), pods
    log = core.read_namespaced_pod_log(pods.items[0].metadata.name, "default")
    assert "hello from python" in log, log
    print("pods", len(pods.items), "succeeded")

    batch.delete_namespaced_job("py-job", "default", propagation_policy="Background")
    try:
        batch.read_namespaced_job("py-job", "default")
        raise AssertionError("the Job is still there after its deletion")
    except client.exceptions.ApiException as e:
        assert e.status == 404, e
    print("deleted")


if __name__ == "__main__":
    main(sys.argv[1])
