//! Structural mutation of JSON fixtures for the parsers' property tests: replace, remove or
//! duplicate one node of the tree, chosen by index, so every parser is fed payloads that are
//! almost, but not quite, what the carrier sends.

use serde_json::Value;

/// Every node of a JSON tree, as the path of keys and indices leading to it.
fn paths(value: &Value, prefix: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    out.push(prefix.clone());
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                prefix.push(Value::String(key.clone()));
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                prefix.push(Value::from(index));
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn node_mut<'a>(mut value: &'a mut Value, path: &[Value]) -> Option<&'a mut Value> {
    for step in path {
        value = match step {
            Value::String(key) => value.get_mut(key.as_str())?,
            other => value.get_mut(usize::try_from(other.as_u64()?).ok()?)?,
        };
    }
    Some(value)
}

/// Replaces, removes or duplicates the `pick`-th node of the tree.
pub fn mutate(root: &mut Value, pick: usize, op: u8, replacement: Value) {
    let mut all = Vec::new();
    paths(root, &mut Vec::new(), &mut all);
    let path = &all[pick % all.len()];
    let Some((last, parent_path)) = path.split_last() else {
        *root = replacement;
        return;
    };
    let Some(parent) = node_mut(root, parent_path) else {
        return;
    };
    match (op % 3, parent, last) {
        (0, parent, _) => {
            if let Some(node) = node_mut(parent, std::slice::from_ref(last)) {
                *node = replacement;
            }
        }
        (1, Value::Object(map), Value::String(key)) => {
            map.remove(key);
        }
        (1, Value::Array(items), index) => {
            if let Some(index) = index.as_u64().and_then(|i| usize::try_from(i).ok()) {
                if index < items.len() {
                    items.remove(index);
                }
            }
        }
        (_, Value::Array(items), index) => {
            if let Some(copy) = index.as_u64().and_then(|i| items.get(i as usize)).cloned() {
                items.push(copy);
            }
        }
        _ => {}
    }
}
