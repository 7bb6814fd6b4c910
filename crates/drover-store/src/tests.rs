use chrono::Utc;
use drover_api::{Event, Job, ObjectMeta, OwnerReference, Pod};

use super::*;

fn job(name: &str) -> Job {
    Job { metadata: ObjectMeta { name: name.into(), ..Default::default() }, ..Default::default() }
}

#[test]
fn create_sets_identity_and_rejects_duplicates() {
    let store = Store::open_in_memory().unwrap();
    let now = Utc::now();
    let (created, changes) = store.write(|t| t.create(job("pi"), now)).unwrap();
    assert!(!created.metadata.uid.is_empty());
    assert_eq!(created.metadata.resource_version, "1");
    assert_eq!(created.metadata.creation_timestamp, Some(now));
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].change, ChangeType::Added);
    let err = store.write(|t| t.create(job("pi"), now)).unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { kind: "Job", .. }), "{err}");
}

#[test]
fn update_is_optimistic_on_resource_version() {
    let store = Store::open_in_memory().unwrap();
    let (created, _) = store.write(|t| t.create(job("pi"), Utc::now())).unwrap();
    let mut a = created.clone();
    a.spec.parallelism = Some(3);
    let (a2, _) = store.write(|t| t.update(a)).unwrap();
    assert_eq!(a2.metadata.resource_version, "2");
    let mut stale = created;
    stale.spec.parallelism = Some(5);
    let err = store.write(|t| t.update(stale)).unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    assert_eq!(store.get::<Job>("pi").unwrap().unwrap().spec.parallelism, Some(3));
}

#[test]
fn failed_transaction_writes_nothing() {
    let store = Store::open_in_memory().unwrap();
    let res: Result<((), _), _> = store.write(|t| {
        t.create(job("a"), Utc::now())?;
        t.create(job("a"), Utc::now())?;
        Ok(())
    });
    assert!(res.is_err());
    assert!(store.get::<Job>("a").unwrap().is_none());
    assert_eq!(store.revision().unwrap(), 0);
}

#[test]
fn generate_name_and_owner_index() {
    let store = Store::open_in_memory().unwrap();
    let owner = OwnerReference {
        api_version: "batch/v1".into(),
        kind: "Job".into(),
        name: "pi".into(),
        uid: "u1".into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    let pod = Pod {
        metadata: ObjectMeta {
            generate_name: Some("pi-".into()),
            owner_references: vec![owner],
            ..Default::default()
        },
        ..Default::default()
    };
    let (p, _) = store.write(|t| t.create(pod.clone(), Utc::now())).unwrap();
    assert!(p.metadata.name.starts_with("pi-") && p.metadata.name.len() == 8, "{}", p.metadata.name);
    store.write(|t| t.create(pod.clone(), Utc::now())).unwrap();
    let owned = store.read(|t| t.list_owned::<Pod>("u1")).unwrap();
    assert_eq!(owned.len(), 2);
    assert!(store.read(|t| t.list_owned::<Pod>("other")).unwrap().is_empty());
}

#[test]
fn survives_reopen_with_everything() {
    let dir = std::env::temp_dir().join(format!("drover-store-test-{}", uuid::Uuid::new_v4()));
    let now = Utc::now();
    {
        let store = Store::open(&dir).unwrap();
        store
            .write(|t| {
                let j = t.create(job("pi"), now)?;
                t.record_event(&Event::normal(
                    "Job",
                    "pi",
                    &j.metadata.uid,
                    "SuccessfulCreate",
                    "Created pod: pi-abcde".into(),
                    now,
                ))?;
                t.set_backoff(&j.metadata.uid, 2, Some(now))?;
                t.append_log("pod-uid", 0, b"hello ")?;
                t.append_log("pod-uid", 6, b"world\n")?;
                Ok(())
            })
            .unwrap();
    }
    let store = Store::open(&dir).unwrap();
    let j: Job = store.get("pi").unwrap().unwrap();
    let (events, backoff, log) = store
        .read(|t| {
            Ok((t.events_for("Job", "pi", None)?, t.backoff(&j.metadata.uid)?, t.read_log("pod-uid", 0)?))
        })
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].reason, "SuccessfulCreate");
    assert_eq!(backoff.0, 2);
    assert_eq!(backoff.1.map(|t| t.timestamp_micros()), Some(now.timestamp_micros()));
    assert_eq!(log, (b"hello world\n".to_vec(), 12));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn log_is_bounded_and_resend_is_idempotent() {
    let store = Store::open_in_memory().unwrap();
    let chunk = vec![b'x'; 256 * 1024];
    store
        .write(|t| {
            for i in 0..8 {
                t.append_log("p", i * chunk.len() as i64, &chunk)?;
            }
            t.append_log("p", 0, b"ignored")?;
            Ok(())
        })
        .unwrap();
    let (bytes, next) = store.read(|t| t.read_log("p", 0)).unwrap();
    assert_eq!(next, 8 * 256 * 1024);
    assert_eq!(bytes.len() as i64, LOG_LIMIT_BYTES);
    let (tail, _) = store.read(|t| t.read_log("p", next - 10)).unwrap();
    assert_eq!(tail.len(), 10);
}

#[test]
fn a_log_chunk_outside_0_to_the_max_offset_is_refused_without_overflow() {
    let store = Store::open_in_memory().unwrap();
    for (offset, len) in [(-1, 1), (MAX_LOG_OFFSET, 1), (MAX_LOG_OFFSET - 1, 2), (i64::MAX, 1), (i64::MIN, 0)]
    {
        let err = store.write(|t| t.append_log("p", offset, &vec![b'x'; len])).unwrap_err();
        assert!(
            matches!(err, StoreError::LogOffset { offset: o, len: l } if o == offset && l == len),
            "{offset}+{len}: {err}"
        );
    }
    // The last byte that fits is taken.
    store.write(|t| t.append_log("p", MAX_LOG_OFFSET - 1, b"z")).unwrap();
    let (bytes, next) = store.read(|t| t.read_log("p", 0)).unwrap();
    assert_eq!((bytes, next), (b"z".to_vec(), MAX_LOG_OFFSET));
}

#[test]
fn delete_reports_the_last_state() {
    let store = Store::open_in_memory().unwrap();
    store.write(|t| t.create(job("pi"), Utc::now())).unwrap();
    let (gone, changes) = store.write(|t| t.delete::<Job>("pi")).unwrap();
    assert_eq!(gone.unwrap().metadata.name, "pi");
    assert_eq!(changes[0].change, ChangeType::Deleted);
    assert!(store.get::<Job>("pi").unwrap().is_none());
    let (none, _) = store.write(|t| t.delete::<Job>("pi")).unwrap();
    assert!(none.is_none());
}

#[test]
fn list_where_filters_on_phase_and_node() {
    let store = Store::open_in_memory().unwrap();
    let mk = |name: &str, phase: &str, node: Option<&str>| {
        let mut p =
            Pod { metadata: ObjectMeta { name: name.into(), ..Default::default() }, ..Default::default() };
        p.status.phase = phase.into();
        p.spec.node_name = node.map(String::from);
        p
    };
    store
        .write(|t| {
            t.create(mk("a", "Pending", None), Utc::now())?;
            t.create(mk("b", "Pending", Some("w1")), Utc::now())?;
            t.create(mk("c", "Running", Some("w1")), Utc::now())?;
            Ok(())
        })
        .unwrap();
    let names = |v: Vec<Pod>| v.into_iter().map(|p| p.metadata.name).collect::<Vec<_>>();
    let unbound = store.read(|t| t.list_where::<Pod>(Some("Pending"), Some(None))).unwrap();
    assert_eq!(names(unbound), ["a"]);
    let on_w1 = store.read(|t| t.list_where::<Pod>(None, Some(Some("w1")))).unwrap();
    assert_eq!(names(on_w1), ["b", "c"]);
    let pending = store.read(|t| t.list_where::<Pod>(Some("Pending"), None)).unwrap();
    assert_eq!(names(pending), ["a", "b"]);
}

#[test]
fn unbound_pods_are_visited_in_creation_order_lazily_and_from_the_index() {
    let store = Store::open_in_memory().unwrap();
    let mk = |name: &str, node: Option<&str>| {
        let mut p =
            Pod { metadata: ObjectMeta { name: name.into(), ..Default::default() }, ..Default::default() };
        p.status.phase = "Pending".into();
        p.spec.node_name = node.map(String::from);
        p
    };
    assert!(!store.read(|t| t.any_unbound_in::<Pod>("Pending")).unwrap());
    store
        .write(|t| {
            // Names out of alphabetical order: the order is creation, not name.
            for name in ["z", "m", "a", "q"] {
                t.create(mk(name, None), Utc::now())?;
            }
            t.create(mk("bound", Some("w1")), Utc::now())?;
            Ok(())
        })
        .unwrap();
    // A later write to a waiting pod does not move it to the back of the line.
    store
        .write(|t| {
            let mut z = t.get::<Pod>("z")?.unwrap();
            z.metadata.labels.insert("touched".into(), "yes".into());
            t.update(z)
        })
        .unwrap();
    assert!(store.read(|t| t.any_unbound_in::<Pod>("Pending")).unwrap());
    assert!(!store.read(|t| t.any_unbound_in::<Pod>("Running")).unwrap());
    let mut all = Vec::new();
    store
        .read(|t| {
            t.visit_unbound_in::<Pod>("Pending", |p| {
                all.push(p.metadata.name);
                true
            })
        })
        .unwrap();
    assert_eq!(all, ["z", "m", "a", "q"]);
    let mut first_two = Vec::new();
    store
        .read(|t| {
            t.visit_unbound_in::<Pod>("Pending", |p| {
                first_two.push(p.metadata.name);
                first_two.len() < 2
            })
        })
        .unwrap();
    assert_eq!(first_two, ["z", "m"], "the visit stops when asked");
}

/// Each ordered walk reads an index in the order it returns, so a walk that stops early reads
/// only what it returned: no sort of the kind's objects, no scan of them.
#[test]
fn the_ordered_walks_read_indexes_in_order() {
    let store = Store::open_in_memory().unwrap();
    for (sql, index) in [
        (VISIT_UNBOUND, "USING INDEX objects_node_phase"),
        (VISIT_ALL, "USING INDEX sqlite_autoindex_objects_1"),
        (VISIT_LABELLED, "SEARCH l USING PRIMARY KEY"),
    ] {
        let plan = store.read(|t| t.query_plan(sql)).unwrap();
        assert!(plan.contains(index), "{sql}: {plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{sql} must not sort: {plan}");
        assert!(!plan.contains("SCAN"), "{sql} must not scan: {plan}");
    }
}

#[test]
fn live_owned_pods_and_node_counts_skip_counted_finished_pods() {
    let store = Store::open_in_memory().unwrap();
    let owner = OwnerReference {
        api_version: "batch/v1".into(),
        kind: "Job".into(),
        name: "j".into(),
        uid: "u".into(),
        controller: Some(true),
        block_owner_deletion: None,
    };
    let mk = |name: &str, phase: &str, tracked: bool| {
        let mut p = Pod {
            metadata: ObjectMeta {
                name: name.into(),
                owner_references: vec![owner.clone()],
                ..Default::default()
            },
            ..Default::default()
        };
        if tracked {
            p.metadata.finalizers.push(drover_api::labels::JOB_TRACKING_FINALIZER.into());
        }
        p.status.phase = phase.into();
        p.spec.node_name = Some("w".into());
        p
    };
    store
        .write(|t| {
            t.create(mk("running", "Running", true), Utc::now())?;
            t.create(mk("done-uncounted", "Succeeded", true), Utc::now())?;
            t.create(mk("done-counted", "Succeeded", false), Utc::now())?;
            Ok(())
        })
        .unwrap();
    let live: Vec<String> =
        store.read(|t| t.list_owned_live::<Pod>("u")).unwrap().into_iter().map(|p| p.metadata.name).collect();
    assert_eq!(live, ["done-uncounted", "running"]);
    // Counting a pod (removing its finalizer) takes it out of the live set.
    let mut p: Pod = store.get("done-uncounted").unwrap().unwrap();
    p.metadata.finalizers.clear();
    store.write(|t| t.update(p)).unwrap();
    assert_eq!(store.read(|t| t.list_owned_live::<Pod>("u")).unwrap().len(), 1);
    let busy = store.read(|t| t.count_on_node_in::<Pod>("w", &["Pending", "Running"])).unwrap();
    assert_eq!(busy, 1);
}

#[test]
fn revisions_grow_by_one_per_write_across_transactions_failures_and_reopen() {
    let dir = std::env::temp_dir().join(format!("drover-store-test-{}", uuid::Uuid::new_v4()));
    let now = Utc::now();
    {
        let store = Store::open(&dir).unwrap();
        let ((a, b), changes) = store
            .write(|t| {
                let a = t.create(job("a"), now)?;
                let b = t.create(job("b"), now)?;
                assert_eq!(t.revision()?, 2, "the transaction sees its own revisions");
                Ok((a, b))
            })
            .unwrap();
        assert_eq!((a.metadata.resource_version.as_str(), b.metadata.resource_version.as_str()), ("1", "2"));
        assert_eq!(changes.iter().map(|c| c.revision).collect::<Vec<_>>(), [1, 2]);
        // A rolled-back transaction hands out nothing.
        let err = store
            .write(|t| {
                t.create(job("c"), now)?;
                t.create(job("a"), now)
            })
            .unwrap_err();
        assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err}");
        assert_eq!(store.revision().unwrap(), 2);
        let (a2, _) = store.write(|t| t.update(a)).unwrap();
        assert_eq!(a2.metadata.resource_version, "3");
        // A transaction that writes no object leaves the revision alone.
        store.write(|t| t.set_backoff("uid", 1, None)).unwrap();
        assert_eq!(store.revision().unwrap(), 3);
    }
    {
        let store = Store::open(&dir).unwrap();
        assert_eq!(store.revision().unwrap(), 3, "the revision survives a reopen");
        let (d, _) = store.write(|t| t.create(job("d"), now)).unwrap();
        assert_eq!(d.metadata.resource_version, "4");
        // Deleting the newest object takes a revision too, and no later write reuses it, even
        // across a reopen where no remaining object carries it.
        let (_, changes) = store.write(|t| t.delete::<Job>("d")).unwrap();
        assert_eq!(changes[0].revision, 5);
    }
    let store = Store::open(&dir).unwrap();
    assert_eq!(store.revision().unwrap(), 5);
    let (e, _) = store.write(|t| t.create(job("e"), now)).unwrap();
    assert_eq!(e.metadata.resource_version, "6");
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_second_store_on_the_same_directory_is_refused_while_the_first_is_open() {
    let dir = std::env::temp_dir().join(format!("drover-store-test-{}", uuid::Uuid::new_v4()));
    let store = Store::open(&dir).unwrap();
    store.write(|t| t.create(job("a"), Utc::now())).unwrap();
    let err = match Store::open(&dir) {
        Ok(_) => panic!("a second store opened on a directory in use"),
        Err(err) => err,
    };
    assert!(matches!(err, StoreError::InUse { .. }), "{err:?}");
    assert!(err.to_string().contains("in use by another coordinator"), "{err}");
    // The first one is unharmed, and the directory opens again once it is closed.
    assert!(store.get::<Job>("a").unwrap().is_some());
    drop(store);
    let again = Store::open(&dir).unwrap();
    assert!(again.get::<Job>("a").unwrap().is_some());
    drop(again);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn schedulable_workers_are_ready_and_not_cordoned() {
    use drover_api::Worker;
    let store = Store::open_in_memory().unwrap();
    let worker = |name: &str, slots: i32, phase: &str, cordoned: bool| {
        let mut w =
            Worker { metadata: ObjectMeta { name: name.into(), ..Default::default() }, ..Default::default() };
        w.spec.slots = slots;
        w.spec.unschedulable = cordoned;
        w.status.phase = phase.into();
        w
    };
    store
        .write(|t| {
            t.create(worker("c", 2, "Ready", false), Utc::now())?;
            t.create(worker("a", 4, "Ready", false), Utc::now())?;
            t.create(worker("b", 8, "Ready", true), Utc::now())?;
            t.create(worker("d", 1, "Lost", false), Utc::now())?;
            t.create(job("not-a-worker"), Utc::now())
        })
        .unwrap();
    let got = store.read(|t| t.schedulable_workers("Ready")).unwrap();
    assert_eq!(got, [("a".to_string(), 4), ("c".to_string(), 2)]);
}

#[test]
fn a_nodes_unfinished_objects_skip_the_finished_ones() {
    let store = Store::open_in_memory().unwrap();
    let pod = |name: &str, node: Option<&str>, phase: &str| {
        let mut p =
            Pod { metadata: ObjectMeta { name: name.into(), ..Default::default() }, ..Default::default() };
        p.spec.node_name = node.map(str::to_string);
        p.status.phase = phase.into();
        p
    };
    store
        .write(|t| {
            t.create(pod("running", Some("w1"), "Running"), Utc::now())?;
            t.create(pod("done", Some("w1"), "Succeeded"), Utc::now())?;
            t.create(pod("failed", Some("w1"), "Failed"), Utc::now())?;
            t.create(pod("pending", Some("w1"), "Pending"), Utc::now())?;
            t.create(pod("elsewhere", Some("w2"), "Running"), Utc::now())?;
            t.create(pod("unbound", None, "Pending"), Utc::now())
        })
        .unwrap();
    let names = |pods: Vec<Pod>| pods.into_iter().map(|p| p.metadata.name).collect::<Vec<_>>();
    let got = store.read(|t| t.list_on_node_not_in::<Pod>("w1", &["Succeeded", "Failed"])).unwrap();
    assert_eq!(names(got), ["running", "pending"], "oldest write first, finished ones left out");
    let got = store.read(|t| t.list_on_node_not_in::<Pod>("w2", &["Succeeded", "Failed"])).unwrap();
    assert_eq!(names(got), ["elsewhere"]);
}

#[test]
fn expired_events_are_removed_oldest_first_in_bounded_batches() {
    let store = Store::open_in_memory().unwrap();
    let now = Utc::now();
    let at = |secs_ago: i64| now - chrono::Duration::seconds(secs_ago);
    store
        .write(|t| {
            for i in 0..5 {
                t.record_event(&Event::normal(
                    "Job",
                    "old",
                    "u1",
                    "SuccessfulCreate",
                    format!("old {i}"),
                    at(7200),
                ))?;
            }
            // Fractional seconds just before and after the cutoff.
            t.record_event(&Event::normal(
                "Job",
                "old",
                "u1",
                "Edge",
                "before".into(),
                at(3600) - chrono::Duration::milliseconds(1),
            ))?;
            t.record_event(&Event::normal(
                "Job",
                "new",
                "u2",
                "Edge",
                "after".into(),
                at(3600) + chrono::Duration::milliseconds(1),
            ))?;
            t.record_event(&Event::normal("Job", "new", "u2", "Completed", "fresh".into(), at(1)))
        })
        .unwrap();
    let cutoff = at(3600);
    // A batch reads at most `limit` rows.
    assert_eq!(store.write(|t| t.delete_events_before(cutoff, 4)).unwrap().0, 4);
    assert_eq!(store.write(|t| t.delete_events_before(cutoff, 4)).unwrap().0, 2);
    assert_eq!(store.write(|t| t.delete_events_before(cutoff, 4)).unwrap().0, 0);
    let (old, new) =
        store.read(|t| Ok((t.events_for("Job", "old", None)?, t.events_for("Job", "new", None)?))).unwrap();
    assert!(old.is_empty(), "{old:?}");
    assert_eq!(new.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(), ["after", "fresh"]);
}

fn ids(tasks: &[&str]) -> Vec<String> {
    tasks.iter().map(|t| t.to_string()).collect()
}

/// `New` as true, an earlier owner as false.
fn firsts(entries: &[LedgerEntry]) -> Vec<bool> {
    entries.iter().map(|e| *e == LedgerEntry::New).collect()
}

#[test]
fn the_task_ledger_keeps_each_task_once_per_job_with_its_owner_and_tallies_duplicates() {
    let store = Store::open_in_memory().unwrap();
    let (j, _) = store.write(|t| t.create(job("q"), Utc::now())).unwrap();
    let uid = j.metadata.uid.clone();
    assert_eq!(store.read(|t| t.task_tally(&uid)).unwrap(), None, "nothing recorded yet");
    let (first, changes) = store.write(|t| t.record_tasks(&uid, "p1", "u1", &ids(&["a", "b"]))).unwrap();
    assert_eq!(firsts(&first), [true, true]);
    assert!(changes.is_empty(), "the ledger changes no object");
    // "a" again from another pod, "c" new, and "c" twice in one call: the repeats name their
    // owner, and count nothing until the caller says what they are.
    let (entries, _) = store.write(|t| t.record_tasks(&uid, "p2", "u2", &ids(&["a", "c", "c"]))).unwrap();
    let owner = |pod: &str, uid: &str| LedgerEntry::Owned { pod: pod.into(), uid: uid.into() };
    assert_eq!(entries, [owner("p1", "u1"), LedgerEntry::New, owner("p2", "u2")]);
    assert_eq!(store.read(|t| t.task_tally(&uid)).unwrap(), Some((3, 0)));
    store.write(|t| t.record_duplicate(&uid, "a", "p2", "u2", false)).unwrap();
    assert_eq!(store.read(|t| t.task_tally(&uid)).unwrap(), Some((3, 1)));
    // A take-over moves the success to the new pod.
    store.write(|t| t.record_duplicate(&uid, "a", "p3", "u3", true)).unwrap();
    let (entries, _) = store.write(|t| t.record_tasks(&uid, "p4", "u4", &ids(&["a"]))).unwrap();
    assert_eq!(entries, [owner("p3", "u3")]);
    assert_eq!(store.read(|t| t.task_tally(&uid)).unwrap(), Some((3, 2)));
    // Another Job's ledger is its own: the same ids are first there.
    let (other, _) = store.write(|t| t.create(job("r"), Utc::now())).unwrap();
    let (first, _) = store.write(|t| t.record_tasks(&other.metadata.uid, "p9", "u9", &ids(&["a"]))).unwrap();
    assert_eq!(firsts(&first), [true]);
    assert_eq!(store.read(|t| t.task_tally(&other.metadata.uid)).unwrap(), Some((1, 0)));
    assert_eq!(store.read(|t| t.task_tally(&uid)).unwrap(), Some((3, 2)));
    // An empty record changes nothing.
    let (first, _) = store.write(|t| t.record_tasks(&uid, "p1", "u1", &[])).unwrap();
    assert!(first.is_empty());
    assert_eq!(store.read(|t| t.task_tally(&uid)).unwrap(), Some((3, 2)));
}

#[test]
fn a_failed_transaction_records_no_task() {
    let store = Store::open_in_memory().unwrap();
    let (j, _) = store.write(|t| t.create(job("q"), Utc::now())).unwrap();
    let uid = j.metadata.uid.clone();
    let res: Result<((), _), _> = store.write(|t| {
        t.record_tasks(&uid, "p", "u", &ids(&["a"]))?;
        t.create(job("q"), Utc::now())?;
        Ok(())
    });
    assert!(res.is_err());
    assert_eq!(store.read(|t| t.task_tally(&uid)).unwrap(), None);
    let (first, _) = store.write(|t| t.record_tasks(&uid, "p", "u", &ids(&["a"]))).unwrap();
    assert_eq!(firsts(&first), [true], "the rolled-back record left no row");
}

#[test]
fn deleting_a_job_removes_its_task_ledger_and_survives_reopen() {
    let dir = std::env::temp_dir().join(format!("drover-store-test-{}", uuid::Uuid::new_v4()));
    let (kept, gone) = {
        let store = Store::open(&dir).unwrap();
        let (uids, _) = store
            .write(|t| {
                let kept = t.create(job("kept"), Utc::now())?.metadata.uid;
                let gone = t.create(job("gone"), Utc::now())?.metadata.uid;
                t.record_tasks(&kept, "p", "u", &ids(&["a", "b", "a"]))?;
                t.record_duplicate(&kept, "a", "q", "v", false)?;
                t.record_tasks(&gone, "p", "u", &ids(&["a", "b"]))?;
                Ok((kept, gone))
            })
            .unwrap();
        store.write(|t| t.delete::<Job>("gone")).unwrap();
        uids
    };
    let store = Store::open(&dir).unwrap();
    assert_eq!(store.read(|t| t.task_tally(&kept)).unwrap(), Some((2, 1)));
    assert_eq!(store.read(|t| t.task_tally(&gone)).unwrap(), None);
    let rows: i64 = store
        .read(|t| {
            Ok(t.tx.query_row("SELECT COUNT(*) FROM task_ledger WHERE job_uid = ?1", [&gone], |r| r.get(0))?)
        })
        .unwrap();
    assert_eq!(rows, 0, "the deleted Job's ledger rows are gone");
    let (first, _) = store.write(|t| t.record_tasks(&kept, "p", "u", &ids(&["b", "c"]))).unwrap();
    assert_eq!(firsts(&first), [false, true], "the kept ledger survived the reopen");
    assert_eq!(store.read(|t| t.uid_of::<Job>("kept")).unwrap(), Some(kept));
    assert_eq!(store.read(|t| t.uid_of::<Job>("gone")).unwrap(), None);
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_on_disk_write_returns_durable_and_concurrent_writers_share_flushes() {
    let dir = std::env::temp_dir().join(format!("drover-store-test-{}", uuid::Uuid::new_v4()));
    let store = std::sync::Arc::new(Store::open(&dir).unwrap());
    let (flushes_before, _) = store.flush_stats().expect("an on-disk store flushes its WAL itself");

    // A deferred commit is not waited for; wait_durable makes it (and what came before) durable.
    let ((), _, ticket) = store.write_deferred(|t| t.create(job("a"), Utc::now()).map(|_| ())).unwrap();
    store.wait_durable(ticket).unwrap();
    let (flushes, durable) = store.flush_stats().unwrap();
    assert!(durable >= ticket, "{durable:?} < {ticket:?}");
    assert_eq!(flushes, flushes_before + 1, "one commit waited for: one flush");
    // Waiting again for a durable commit flushes nothing.
    store.wait_durable(ticket).unwrap();
    assert_eq!(store.flush_stats().unwrap().0, flushes);

    // Eight threads, 40 durable writes each: every write returns durable.
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            std::thread::spawn(move || {
                for j in 0..40 {
                    let ((), _, ticket) = store
                        .write_deferred(|t| t.create(job(&format!("j{i}-{j}")), Utc::now()).map(|_| ()))
                        .unwrap();
                    store.wait_durable(ticket).unwrap();
                    assert!(store.flush_stats().unwrap().1 >= ticket);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let (flushes_after, _) = store.flush_stats().unwrap();
    assert!(flushes_after - flushes <= 320, "at most one flush per commit: {}", flushes_after - flushes);
    drop(store);
    // Everything written is there after reopening.
    let store = Store::open(&dir).unwrap();
    assert_eq!(store.list::<Job>().unwrap().len(), 321);
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_in_memory_store_has_nothing_to_flush() {
    let store = Store::open_in_memory().unwrap();
    assert!(store.flush_stats().is_none());
    let ((), _, ticket) = store.write_deferred(|t| t.create(job("a"), Utc::now()).map(|_| ())).unwrap();
    store.wait_durable(ticket).unwrap();
}

fn labelled_pod(name: &str, labels: &[(&str, &str)]) -> Pod {
    let mut p =
        Pod { metadata: ObjectMeta { name: name.into(), ..Default::default() }, ..Default::default() };
    p.metadata.labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    p
}

fn names_labelled(store: &Store, key: &str, value: &str) -> Vec<String> {
    store.read(|t| t.list_labelled::<Pod>(key, value)).unwrap().into_iter().map(|p| p.metadata.name).collect()
}

#[test]
fn the_label_index_follows_creates_relabels_and_deletes() {
    let store = Store::open_in_memory().unwrap();
    store
        .write(|t| {
            t.create(labelled_pod("b", &[("job-name", "x"), ("tier", "web")]), Utc::now())?;
            t.create(labelled_pod("a", &[("job-name", "x")]), Utc::now())?;
            t.create(labelled_pod("c", &[("job-name", "y")]), Utc::now())?;
            t.create(job("x"), Utc::now())?;
            Ok(())
        })
        .unwrap();
    assert_eq!(names_labelled(&store, "job-name", "x"), ["a", "b"], "by name");
    assert_eq!(names_labelled(&store, "tier", "web"), ["b"]);
    assert!(names_labelled(&store, "job-name", "z").is_empty());
    // Another kind's labels are its own.
    let jobs = store.read(|t| t.list_labelled::<Job>("job-name", "x")).unwrap();
    assert!(jobs.is_empty());
    // A status-only update keeps the index; a relabel moves it.
    store
        .write(|t| {
            let mut b = t.get::<Pod>("b")?.unwrap();
            b.status.phase = "Running".into();
            let mut b = t.update(b)?;
            b.metadata.labels.insert("job-name".into(), "y".into());
            b.metadata.labels.remove("tier");
            t.update(b)
        })
        .unwrap();
    assert_eq!(names_labelled(&store, "job-name", "x"), ["a"]);
    assert_eq!(names_labelled(&store, "job-name", "y"), ["b", "c"]);
    assert!(names_labelled(&store, "tier", "web").is_empty());
    store.write(|t| t.delete::<Pod>("c")).unwrap();
    assert_eq!(names_labelled(&store, "job-name", "y"), ["b"]);
    let rows: i64 =
        store.inner.lock().unwrap().conn.query_row("SELECT COUNT(*) FROM labels", [], |r| r.get(0)).unwrap();
    assert_eq!(rows, 2, "one row per label of a live object, nothing left behind");
}

#[test]
fn a_database_from_before_the_label_index_is_indexed_at_open() {
    let dir = std::env::temp_dir().join(format!("drover-store-test-{}", uuid::Uuid::new_v4()));
    {
        let store = Store::open(&dir).unwrap();
        store
            .write(|t| {
                t.create(labelled_pod("a", &[("job-name", "x")]), Utc::now())?;
                t.create(labelled_pod("b", &[("job-name", "x"), ("k", "v")]), Utc::now())?;
                Ok(())
            })
            .unwrap();
        // As an older coordinator left it: objects, no index, no flag.
        let inner = store.inner.lock().unwrap();
        inner
            .conn
            .execute_batch("DELETE FROM labels; DELETE FROM meta WHERE key = 'labels_indexed';")
            .unwrap();
    }
    let store = Store::open(&dir).unwrap();
    assert_eq!(names_labelled(&store, "job-name", "x"), ["a", "b"]);
    assert_eq!(names_labelled(&store, "k", "v"), ["b"]);
    drop(store);
    std::fs::remove_dir_all(&dir).ok();
}

mod label_index_props {
    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        Create(u8, Vec<(u8, u8)>),
        Relabel(u8, Vec<(u8, u8)>),
        Touch(u8),
        Delete(u8),
    }

    fn labels() -> impl Strategy<Value = Vec<(u8, u8)>> {
        proptest::collection::vec((0u8..3, 0u8..3), 0..4)
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..6, labels()).prop_map(|(n, l)| Op::Create(n, l)),
            (0u8..6, labels()).prop_map(|(n, l)| Op::Relabel(n, l)),
            (0u8..6).prop_map(Op::Touch),
            (0u8..6).prop_map(Op::Delete),
        ]
    }

    fn map(l: &[(u8, u8)]) -> std::collections::BTreeMap<String, String> {
        l.iter().map(|(k, v)| (format!("k{k}"), format!("v{v}"))).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        /// After every step of a random sequence of creates, relabels, status writes and
        /// deletes, a list through the label index returns exactly the objects a full scan
        /// finds with that label.
        #[test]
        fn label_lists_equal_a_scan_after_every_step(ops in proptest::collection::vec(op(), 1..30)) {
            let store = Store::open_in_memory().unwrap();
            for op in ops {
                store.write(|t| {
                    match &op {
                        Op::Create(n, l) => {
                            let mut p = labelled_pod(&format!("p{n}"), &[]);
                            p.metadata.labels = map(l);
                            match t.create(p, Utc::now()) {
                                Ok(_) | Err(StoreError::AlreadyExists { .. }) => {}
                                Err(e) => return Err(e),
                            }
                        }
                        Op::Relabel(n, l) => {
                            if let Some(mut p) = t.get::<Pod>(&format!("p{n}"))? {
                                p.metadata.labels = map(l);
                                t.update(p)?;
                            }
                        }
                        Op::Touch(n) => {
                            if let Some(mut p) = t.get::<Pod>(&format!("p{n}"))? {
                                p.status.message = Some(p.metadata.resource_version.clone());
                                t.update(p)?;
                            }
                        }
                        Op::Delete(n) => {
                            t.delete::<Pod>(&format!("p{n}"))?;
                        }
                    }
                    Ok(())
                }).unwrap();
                let all = store.read(|t| t.list::<Pod>()).unwrap();
                for k in 0..3 {
                    for v in 0..3 {
                        let (key, value) = (format!("k{k}"), format!("v{v}"));
                        let scanned: Vec<String> = all
                            .iter()
                            .filter(|p| p.metadata.labels.get(&key) == Some(&value))
                            .map(|p| p.metadata.name.clone())
                            .collect();
                        prop_assert_eq!(names_labelled(&store, &key, &value), scanned, "{}={} after {:?}", key, value, op);
                    }
                }
                let rows: i64 = store.inner.lock().unwrap().conn
                    .query_row("SELECT COUNT(*) FROM labels", [], |r| r.get(0)).unwrap();
                let expected: usize = all.iter().map(|p| p.metadata.labels.len()).sum();
                prop_assert_eq!(rows as usize, expected, "no stale rows after {:?}", op);
            }
        }
    }
}

#[test]
fn index_backoff_records_are_kept_per_index_and_go_with_their_job() {
    let dir = std::env::temp_dir().join(format!("drover-store-test-{}", uuid::Uuid::new_v4()));
    let now = Utc::now();
    let record =
        |index, failed, at| crate::IndexBackoff { index, failed, ignored: 1, last_failure: at, exponent: 3 };
    let uid = {
        let store = Store::open(&dir).unwrap();
        let (j, _) = store.write(|t| t.create(job("idx"), now)).unwrap();
        store
            .write(|t| {
                t.set_index_backoff(&j.metadata.uid, &record(7, 1, Some(now)))?;
                t.set_index_backoff(&j.metadata.uid, &record(2, 1, None))?;
                // A newer record of an index replaces the old one.
                t.set_index_backoff(&j.metadata.uid, &record(7, 2, Some(now)))?;
                t.set_index_backoff("other-job", &record(0, 5, None))
            })
            .unwrap();
        j.metadata.uid
    };
    // Durable, by index order, only this Job's.
    let store = Store::open(&dir).unwrap();
    let rows = store.read(|t| t.index_backoff(&uid)).unwrap();
    let micros = |r: &crate::IndexBackoff| r.last_failure.map(|t| t.timestamp_micros());
    assert_eq!(
        rows.iter().map(|r| (r.index, r.failed, r.ignored, r.exponent)).collect::<Vec<_>>(),
        vec![(2, 1, 1, 3), (7, 2, 1, 3)]
    );
    assert_eq!((micros(&rows[0]), micros(&rows[1])), (None, Some(now.timestamp_micros())));
    // Deleting the Job deletes its records; another Job's stay.
    store.write(|t| t.delete::<Job>("idx").map(|_| ())).unwrap();
    assert!(store.read(|t| t.index_backoff(&uid)).unwrap().is_empty());
    assert_eq!(store.read(|t| t.index_backoff("other-job")).unwrap().len(), 1);
    store.write(|t| t.clear_index_backoff("other-job")).unwrap();
    assert!(store.read(|t| t.index_backoff("other-job")).unwrap().is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A pod's log and its init containers' logs go with it; another pod's (whose uid shares a
/// prefix) stay.
#[test]
fn a_pods_logs_and_its_init_containers_go_with_it() {
    let store = Store::open_in_memory().unwrap();
    let pod = |name: &str| Pod {
        metadata: ObjectMeta { name: name.into(), ..Default::default() },
        ..Default::default()
    };
    let ((a, b), _) = store
        .write(|t| {
            let a = t.create(pod("a"), Utc::now())?;
            let b = t.create(pod("b"), Utc::now())?;
            Ok((a.metadata.uid, b.metadata.uid))
        })
        .unwrap();
    let keys =
        |uid: &str| vec![uid.to_string(), container_log_key(uid, "input"), container_log_key(uid, "z")];
    let all: Vec<String> = keys(&a).into_iter().chain(keys(&b)).collect();
    store
        .write(|t| {
            for key in &all {
                t.append_log(key, 0, b"x\n")?;
            }
            // A key that sorts right after a's range but is not a's.
            t.append_log(&format!("{a}0"), 0, b"y\n")
        })
        .unwrap();
    store.write(|t| t.delete::<Pod>("a")).unwrap();
    store
        .read(|t| {
            for key in keys(&a) {
                assert_eq!(t.read_log(&key, 0)?.0, b"", "{key}");
            }
            for key in keys(&b) {
                assert_eq!(t.read_log(&key, 0)?.0, b"x\n", "{key}");
            }
            assert_eq!(t.read_log(&format!("{a}0"), 0)?.0, b"y\n");
            Ok(())
        })
        .unwrap();
}
