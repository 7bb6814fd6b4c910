//! The strategic merge patch (`application/strategic-merge-patch+json`); see the parent module.

use serde_json::{Map, Value};

use super::{ListRule, PatchError, PatchKind, Rules, SmpList, join, json_eq, type_name};

const PATCH: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";

/// Applies a Kubernetes strategic merge patch to `target`, an object of `kind`, with the merge
/// lists of the kind's table (see the module docs for the directives).
///
/// # Errors
///
/// A patch that is not an object, an unknown directive, a merge-list item without its merge
/// key, a `$setElementOrder` list at odds with the patch list, or a directive of the wrong
/// shape. The target is unchanged then.
pub fn strategic_merge_patch(target: &mut Value, patch: &Value, kind: PatchKind) -> Result<(), PatchError> {
    apply(target, patch, &|path| kind.list_rule(path).copied())
}

/// [`strategic_merge_patch`] with any list table.
pub(super) fn apply(target: &mut Value, patch: &Value, rules: Rules<'_>) -> Result<(), PatchError> {
    let Value::Object(patch) = patch else {
        return Err(PatchError::WrongType { expected: "object", found: type_name(patch) });
    };
    let original = target.as_object().cloned().unwrap_or_default();
    let merged = Merger { rules }.map(original, patch.clone(), &At::default())?;
    *target = Value::Object(merged);
    Ok(())
}

/// Where the merge is: the path for table lookups (field names only) and the one for messages
/// (with list indexes).
#[derive(Debug, Clone, Default)]
struct At {
    schema: String,
    shown: String,
}

impl At {
    fn field(&self, name: &str) -> At {
        At { schema: join(&self.schema, name), shown: join(&self.shown, name) }
    }

    fn item(&self, index: usize) -> At {
        At { schema: self.schema.clone(), shown: format!("{}[{index}]", self.shown) }
    }

    fn shown(&self) -> String {
        if self.shown.is_empty() { "the object".to_string() } else { self.shown.clone() }
    }

    fn invalid(&self, message: impl Into<String>) -> PatchError {
        PatchError::Invalid { path: self.shown(), message: message.into() }
    }
}

struct Merger<'a> {
    rules: Rules<'a>,
}

impl Merger<'_> {
    fn strategy(&self, at: &At) -> SmpList {
        (self.rules)(&at.schema).map_or(SmpList::Atomic, |rule: ListRule| rule.smp)
    }

    /// Merges the map `patch` into the map `original` (Go's `mergeMap`).
    fn map(
        &self,
        mut original: Map<String, Value>,
        mut patch: Map<String, Value>,
        at: &At,
    ) -> Result<Map<String, Value>, PatchError> {
        if let Some(directive) = patch.remove(PATCH) {
            match directive.as_str() {
                Some("replace") => return self.map(Map::new(), patch, at),
                Some("delete") => return Ok(Map::new()),
                Some("merge") => {}
                _ => {
                    return Err(PatchError::UnknownDirective {
                        path: at.shown(),
                        directive: format!("{PATCH}: {directive}"),
                    });
                }
            }
        }
        if let Some(keys) = patch.remove(RETAIN_KEYS) {
            retain_keys(&mut original, &patch, &keys, at)?;
        }

        let orders: Vec<String> =
            patch.keys().filter(|k| k.starts_with(SET_ELEMENT_ORDER)).cloned().collect();
        for directive in orders {
            let order = patch.remove(&directive).unwrap_or_default();
            let field = directive_field(&directive, SET_ELEMENT_ORDER, at)?;
            self.ordered_list(&mut original, &mut patch, field, order, at)?;
        }

        let deletions: Vec<String> =
            patch.keys().filter(|k| k.starts_with(DELETE_FROM_PRIMITIVE_LIST)).cloned().collect();
        for directive in deletions {
            let values = patch.remove(&directive).unwrap_or_default();
            let field = directive_field(&directive, DELETE_FROM_PRIMITIVE_LIST, at)?;
            let Value::Array(values) = values else {
                return Err(at.field(&directive).invalid("expected a list of values to delete"));
            };
            if let Some(Value::Array(items)) = original.get_mut(field) {
                items.retain(|item| !values.iter().any(|v| json_eq(v, item)));
            }
        }

        for (key, value) in patch {
            if key.starts_with('$') {
                return Err(PatchError::UnknownDirective { path: at.shown(), directive: key });
            }
            let at_key = at.field(&key);
            if value.is_null() {
                original.remove(&key);
                continue;
            }
            let merged = match (original.remove(&key), value) {
                (Some(Value::Object(live)), Value::Object(value)) => {
                    Some(Value::Object(self.map(live, value, &at_key)?))
                }
                (Some(Value::Array(live)), Value::Array(value)) => {
                    Some(Value::Array(self.list(live, value, &at_key)?))
                }
                (_, value) => self.fresh(value, &at_key)?,
            };
            if let Some(merged) = merged {
                original.insert(key, merged);
            }
        }
        Ok(original)
    }

    /// A value the patch adds where the target has none (or one of another type): its
    /// directives resolved and its `null`s dropped, as if merged into an empty value.
    fn fresh(&self, value: Value, at: &At) -> Result<Option<Value>, PatchError> {
        Ok(match value {
            Value::Null => None,
            Value::Object(map) if map.get(PATCH).and_then(Value::as_str) == Some("delete") => None,
            Value::Object(map) => Some(Value::Object(self.map(Map::new(), map, at)?)),
            Value::Array(items) => Some(Value::Array(self.list(Vec::new(), items, at)?)),
            scalar => Some(scalar),
        })
    }

    /// Merges the list `patch` into the list `original` by the field's strategy.
    fn list(&self, original: Vec<Value>, patch: Vec<Value>, at: &At) -> Result<Vec<Value>, PatchError> {
        match self.strategy(at) {
            SmpList::Atomic => self.fresh_items(patch, at),
            SmpList::MergePrimitives => merge_primitives(original, patch, at),
            SmpList::MergeKey(key) => Ok(self.merge_keyed(original, patch, key, at)?.0),
        }
    }

    fn fresh_items(&self, items: Vec<Value>, at: &At) -> Result<Vec<Value>, PatchError> {
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            out.extend(self.fresh(item, &at.item(i))?);
        }
        Ok(out)
    }

    /// Go's `mergeSlice` for a list of objects with a merge key. Returns the merged list and
    /// the live order a `$setElementOrder` of the list goes by (see [`GoSliceView`]).
    fn merge_keyed(
        &self,
        mut original: Vec<Value>,
        patch: Vec<Value>,
        key: &str,
        at: &At,
    ) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
        let mut view =
            GoSliceView::new(original.iter().map(|o| o.get(key).cloned().unwrap_or_default()).collect());
        let mut replace = false;
        let mut plain = Vec::with_capacity(patch.len());
        for (i, item) in patch.into_iter().enumerate() {
            let Value::Object(item) = item else {
                return Err(at.item(i).invalid(format!("expected an object with the merge key {key:?}")));
            };
            match item.get(PATCH) {
                None => plain.push((i, item)),
                Some(directive) => match directive.as_str() {
                    Some("delete") => {
                        let value = merge_key(&item, key, &at.item(i))?;
                        original.retain(|o| !o.get(key).is_some_and(|k| json_eq(k, value)));
                        view.delete(value);
                    }
                    Some("replace") => replace = true,
                    Some("merge") => {}
                    _ => {
                        return Err(PatchError::UnknownDirective {
                            path: at.item(i).shown(),
                            directive: format!("{PATCH}: {directive}"),
                        });
                    }
                },
            }
        }
        if replace {
            let items = plain.into_iter().map(|(_, item)| Value::Object(item)).collect();
            return Ok((self.fresh_items(items, at)?, view.visible));
        }

        let server_order: Vec<Value> = original.iter().filter_map(|o| o.get(key).cloned()).collect();
        let mut patch_order = Vec::with_capacity(plain.len());
        for (i, item) in plain {
            let at_item = at.item(i);
            let value = merge_key(&item, key, &at_item)?.clone();
            match original.iter().position(|o| o.get(key).is_some_and(|k| json_eq(k, &value))) {
                Some(pos) => {
                    let live = std::mem::take(&mut original[pos]);
                    original[pos] = match live {
                        Value::Object(live) => Value::Object(self.map(live, item, &at_item)?),
                        _ => Value::Object(self.map(Map::new(), item, &at_item)?),
                    };
                }
                None => {
                    view.append(&value);
                    original.extend(self.fresh(Value::Object(item), &at_item)?);
                }
            }
            patch_order.push(value);
        }
        let ident = |v: &Value| v.get(key).cloned();
        Ok((enforce_order(original, &patch_order, &server_order, &ident), view.visible))
    }

    /// Merges the list `field` and orders it by its `$setElementOrder` list (Go's
    /// `mergePatchIntoOriginal`).
    fn ordered_list(
        &self,
        original: &mut Map<String, Value>,
        patch: &mut Map<String, Value>,
        field: &str,
        order: Value,
        at: &At,
    ) -> Result<(), PatchError> {
        let at_field = at.field(field);
        let key = match self.strategy(&at_field) {
            // An atomic list has no order to keep: the patch list, if any, replaces it.
            SmpList::Atomic => return Ok(()),
            SmpList::MergeKey(key) => Some(key),
            SmpList::MergePrimitives => None,
        };
        let Value::Array(order) = order else {
            return Err(at.field(&format!("{SET_ELEMENT_ORDER}{field}")).invalid("expected a list"));
        };
        let ident = |v: &Value| match key {
            Some(key) => v.get(key).cloned(),
            None => Some(v.clone()),
        };
        if let Some(key) = key
            && let Some(i) = order.iter().position(|item| item.get(key).is_none())
        {
            return Err(PatchError::MissingMergeKey { path: at_field.item(i).shown(), key: key.to_string() });
        }
        let order: Vec<Value> = order.iter().filter_map(ident).collect();

        let patch_list = match patch.remove(field) {
            None => None,
            Some(Value::Array(items)) => Some(items),
            Some(other) => {
                return Err(at_field.invalid(format!("expected a list, not {}", type_name(&other))));
            }
        };
        let original_list = match original.remove(field) {
            None => None,
            Some(Value::Array(items)) => Some(items),
            Some(other) => {
                return Err(
                    at_field.invalid(format!("the live value is a {}, not a list", type_name(&other)))
                );
            }
        };
        if let Some(items) = &patch_list {
            check_order(items, &order, &ident, &at_field)?;
        }
        let mut server_order: Vec<Value> = original_list.iter().flatten().filter_map(ident).collect();
        let merged = match (original_list, patch_list, key) {
            (Some(live), None, _) => live,
            (live, Some(items), Some(key)) => {
                let (merged, visible) = self.merge_keyed(live.unwrap_or_default(), items, key, &at_field)?;
                server_order = visible;
                merged
            }
            (live, Some(items), None) => merge_primitives(live.unwrap_or_default(), items, &at_field)?,
            (None, None, _) => return Ok(()),
        };
        original
            .insert(field.to_string(), Value::Array(enforce_order(merged, &order, &server_order, &ident)));
        Ok(())
    }
}

/// The live order Kubernetes orders a `$setElementOrder` list by, which is not quite the live
/// list: Go's `mergeSlice` deletes items by shifting the rest left inside the live slice's
/// array and appends new items into the room that frees, and `mergePatchIntoOriginal` then
/// reads the live list through its old length. So after `[1, 2, 4]` loses `1` and gains `3`
/// it sees `[2, 4, 3]`, and `3` is ordered after `4`. Kubernetes' own test vectors hold this
/// behaviour ("add map and delete map from merging list"); the API server's live lists have no
/// spare capacity (`ToUnstructured` makes them exact), so appends past the old length land in
/// a new array and are not seen.
struct GoSliceView {
    visible: Vec<Value>,
    len: usize,
    appending: bool,
}

impl GoSliceView {
    fn new(keys: Vec<Value>) -> GoSliceView {
        GoSliceView { len: keys.len(), visible: keys, appending: true }
    }

    /// `deleteMatchingEntries`: every item with the key, shifting the rest left.
    fn delete(&mut self, key: &Value) {
        while let Some(i) = self.visible[..self.len].iter().position(|k| json_eq(k, key)) {
            // The last slot keeps its old value, as Go's `append(s[:i], s[i+1:]...)` leaves it.
            for j in i..self.len - 1 {
                self.visible[j] = self.visible[j + 1].clone();
            }
            self.len -= 1;
        }
    }

    /// `append` of a new item: into the array while it has room, else into a new one.
    fn append(&mut self, key: &Value) {
        if self.appending && self.len < self.visible.len() {
            self.visible[self.len] = key.clone();
            self.len += 1;
        } else {
            self.appending = false;
        }
    }
}

/// The field a `$setElementOrder/` or `$deleteFromPrimitiveList/` directive names.
fn directive_field<'d>(directive: &'d str, prefix: &str, at: &At) -> Result<&'d str, PatchError> {
    match directive.strip_prefix(prefix) {
        Some(field) if !field.is_empty() => Ok(field),
        _ => Err(PatchError::UnknownDirective { path: at.shown(), directive: directive.to_string() }),
    }
}

fn merge_key<'i>(item: &'i Map<String, Value>, key: &str, at: &At) -> Result<&'i Value, PatchError> {
    item.get(key).ok_or_else(|| PatchError::MissingMergeKey { path: at.shown(), key: key.to_string() })
}

/// `$retainKeys`: drops the live keys the list does not name; the patch may set only those.
fn retain_keys(
    original: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    keys: &Value,
    at: &At,
) -> Result<(), PatchError> {
    let keys: Option<Vec<&str>> = keys.as_array().and_then(|keys| keys.iter().map(Value::as_str).collect());
    let Some(keys) = keys else {
        return Err(at.field(RETAIN_KEYS).invalid("expected a list of field names"));
    };
    for (key, value) in patch {
        let directive = key.starts_with(DELETE_FROM_PRIMITIVE_LIST) || key.starts_with(SET_ELEMENT_ORDER);
        if !value.is_null() && !directive && !keys.contains(&key.as_str()) {
            return Err(at
                .field(RETAIN_KEYS)
                .invalid(format!("the patch sets {key:?}, which the list does not retain")));
        }
    }
    original.retain(|key, _| keys.contains(&key.as_str()));
    Ok(())
}

/// A union of two lists of scalars without duplicates (Go's `deduplicateScalars`), in the
/// order [`enforce_order`] gives.
fn merge_primitives(original: Vec<Value>, patch: Vec<Value>, at: &At) -> Result<Vec<Value>, PatchError> {
    if let Some(i) = patch.iter().position(|v| v.is_object() || v.is_array()) {
        return Err(at.item(i).invalid("expected a scalar in a merged list of scalars"));
    }
    let patch: Vec<Value> = patch.into_iter().filter(|v| !v.is_null()).collect();
    let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
    for value in original.iter().chain(&patch) {
        if !merged.iter().any(|m| json_eq(m, value)) {
            merged.push(value.clone());
        }
    }
    Ok(enforce_order(merged, &patch, &original, &|v: &Value| Some(v.clone())))
}

/// Checks that the patch list names its items in the order of the `$setElementOrder` list
/// (Go's `validatePatchWithSetOrderList`).
fn check_order(
    items: &[Value],
    order: &[Value],
    ident: &dyn Fn(&Value) -> Option<Value>,
    at: &At,
) -> Result<(), PatchError> {
    let named: Vec<Value> = items.iter().filter(|item| item.get(PATCH).is_none()).filter_map(ident).collect();
    let mut next = 0;
    for wanted in order {
        if next < named.len() && json_eq(&named[next], wanted) {
            next += 1;
        }
    }
    if next < named.len() && !order.is_empty() {
        return Err(PatchError::OrderMismatch { path: at.shown() });
    }
    Ok(())
}

/// Orders a merged list: the items `patch_order` names come in that order, the others keep
/// their `server_order`, and the two runs interleave by the server order where both are known
/// (Go's `normalizeElementOrder` and `mergeSortedSlice`).
fn enforce_order(
    merged: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    ident: &dyn Fn(&Value) -> Option<Value>,
) -> Vec<Value> {
    let position =
        |list: &[Value], item: &Value| ident(item).and_then(|id| list.iter().position(|v| json_eq(v, &id)));
    let (mut named, mut server_only): (Vec<Value>, Vec<Value>) =
        merged.into_iter().partition(|item| position(patch_order, item).is_some());
    named.sort_by_key(|item| position(patch_order, item));
    server_only.sort_by_key(|item| position(server_order, item).unwrap_or(usize::MAX));

    let mut out = Vec::with_capacity(named.len() + server_only.len());
    let mut named = named.into_iter().peekable();
    let mut server_only = server_only.into_iter().peekable();
    loop {
        let take_server = match (server_only.peek(), named.peek()) {
            (Some(left), Some(right)) => {
                matches!((position(server_order, left), position(server_order, right)), (Some(l), Some(r)) if l < r)
            }
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        out.extend(if take_server { server_only.next() } else { named.next() });
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::{ListRule, SmpList, SsaList};

    /// The list rules of Kubernetes' own strategic-merge-patch tests (`mergingList` by `name`,
    /// `mergingIntList` as scalars) at any depth, to check the algorithm apart from Drover's
    /// table.
    fn test_rules(path: &str) -> Option<ListRule> {
        let smp = match path.rsplit('.').next()? {
            "mergingList" | "retainKeysMergingList" => SmpList::MergeKey("name"),
            "mergingIntList" => SmpList::MergePrimitives,
            _ => return None,
        };
        Some(ListRule { path: "", smp, ssa: SsaList::Atomic })
    }

    fn run(target: Value, patch: Value) -> Result<Value, super::PatchError> {
        let mut target = target;
        super::apply(&mut target, &patch, &test_rules).map(|()| target)
    }

    #[test]
    fn merge_lists_order_like_kubernetes() {
        for (name, target, patch, want) in [
            (
                "a new item goes before the server-only items",
                json!({"mergingList": [{"name": "1"}, {"name": "2"}]}),
                json!({"mergingList": [{"name": "3"}]}),
                json!({"mergingList": [{"name": "3"}, {"name": "1"}, {"name": "2"}]}),
            ),
            (
                "a changed item keeps its place",
                json!({"mergingList": [{"name": "1"}, {"name": "2", "value": "a"}, {"name": "3"}]}),
                json!({"mergingList": [{"name": "2", "value": "b"}]}),
                json!({"mergingList": [{"name": "1"}, {"name": "2", "value": "b"}, {"name": "3"}]}),
            ),
            (
                "$setElementOrder reorders and keeps a server-only item after its live predecessor",
                json!({"mergingList": [{"name": "p", "other": "a"}, {"name": "q"}, {"name": "s"}, {"name": "r"}, {"name": "t"}]}),
                json!({"$setElementOrder/mergingList": [{"name": "q"}, {"name": "p"}, {"name": "t"}, {"name": "r"}]}),
                json!({"mergingList": [{"name": "q"}, {"name": "p", "other": "a"}, {"name": "s"}, {"name": "t"}, {"name": "r"}]}),
            ),
            (
                "$setElementOrder with a new item",
                json!({"mergingList": [{"name": "p"}, {"name": "q"}, {"name": "s"}, {"name": "r"}]}),
                json!({
                    "$setElementOrder/mergingList": [{"name": "q"}, {"name": "p"}, {"name": "n"}, {"name": "r"}],
                    "mergingList": [{"name": "n", "value": "v"}]
                }),
                json!({"mergingList": [{"name": "q"}, {"name": "p"}, {"name": "n", "value": "v"}, {"name": "s"}, {"name": "r"}]}),
            ),
            (
                "a deletion and an addition: the new item lands where Go's slice aliasing puts it",
                json!({"mergingList": [{"name": "x"}, {"name": "y", "other": "b"}, {"name": "z", "other": "c"}]}),
                json!({
                    "$setElementOrder/mergingList": [{"name": "y"}, {"name": "w"}],
                    "mergingList": [{"name": "w"}, {"name": "x", "$patch": "delete"}]
                }),
                json!({"mergingList": [{"name": "y", "other": "b"}, {"name": "z", "other": "c"}, {"name": "w"}]}),
            ),
            (
                "the same without a deletion puts the new item before the server-only one",
                json!({"mergingList": [{"name": "y", "other": "b"}, {"name": "z", "other": "c"}]}),
                json!({"$setElementOrder/mergingList": [{"name": "y"}, {"name": "w"}], "mergingList": [{"name": "w"}]}),
                json!({"mergingList": [{"name": "y", "other": "b"}, {"name": "w"}, {"name": "z", "other": "c"}]}),
            ),
            (
                "$setElementOrder of scalars",
                json!({"mergingIntList": [1, 2, 3]}),
                json!({"$setElementOrder/mergingIntList": [3, 1, 2, 4], "mergingIntList": [4]}),
                json!({"mergingIntList": [3, 1, 2, 4]}),
            ),
            (
                "a nested merge list merges inside its item",
                json!({"mergingList": [{"name": "1", "mergingList": [{"name": "a", "value": "x"}]}]}),
                json!({"mergingList": [{"name": "1", "mergingList": [{"name": "b"}]}]}),
                json!({"mergingList": [{"name": "1", "mergingList": [{"name": "b"}, {"name": "a", "value": "x"}]}]}),
            ),
            (
                "duplicates of scalars collapse",
                json!({"mergingIntList": [1, 1, 2]}),
                json!({"mergingIntList": [2, 3]}),
                json!({"mergingIntList": [1, 2, 3]}),
            ),
        ] {
            assert_eq!(run(target, patch).unwrap(), want, "{name}");
        }
    }

    #[test]
    fn retain_keys_clears_unlisted_fields() {
        for (name, target, patch, want) in [
            (
                "a defaulted field is cleared",
                json!({"retainKeysMap": {"name": "foo", "value": "bar"}}),
                json!({"retainKeysMap": {"$retainKeys": ["name"], "name": "foo"}}),
                json!({"retainKeysMap": {"name": "foo"}}),
            ),
            (
                "a field is switched for another",
                json!({"retainKeysMap": {"name": "foo", "value": "bar"}}),
                json!({"retainKeysMap": {"$retainKeys": ["name", "other"], "other": "x"}}),
                json!({"retainKeysMap": {"name": "foo", "other": "x"}}),
            ),
        ] {
            assert_eq!(run(target, patch).unwrap(), want, "{name}");
        }
        let err = run(json!({"m": {}}), json!({"m": {"$retainKeys": ["a"], "b": 1}})).unwrap_err();
        assert!(err.to_string().contains("\"b\""), "{err}");
    }
}
