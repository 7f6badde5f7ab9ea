//! `docs/LINUX_SYSCALLS.md` lists every Linux x86_64 call with its status;
//! this keeps the "implemented" rows and the aarch64 column equal to the
//! personality's two tables.

use std::collections::BTreeMap;

#[test]
fn docs_table_matches_the_call_table() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/LINUX_SYSCALLS.md");
    let text = std::fs::read_to_string(path).expect("docs/LINUX_SYSCALLS.md");
    let mut documented = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("| ")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let Ok(nr) = cells[1].parse::<u64>() else {
            continue;
        };
        let name = cells[2].trim_matches('`');
        let arm: Option<u64> = cells[4].parse().ok();
        assert!(
            documented.insert(nr, (name, cells[3], arm)).is_none(),
            "number {nr} listed twice"
        );
    }
    assert!(documented.len() > 350, "every call is listed");
    for (nr, name, _) in exo_linux::TABLE.calls {
        let Some((doc_name, status, _)) = documented.get(nr) else {
            panic!("{name} ({nr}) missing from the docs table");
        };
        assert_eq!(doc_name, name, "name of call {nr}");
        assert_eq!(*status, "implemented", "{name} ({nr}) is implemented");
    }
    for (nr, (name, status, arm)) in &documented {
        if *status == "implemented" {
            assert!(
                exo_linux::TABLE.lookup(*nr).is_some(),
                "{name} ({nr}) is documented as implemented but is not in the table"
            );
        }
        if let Some(arm) = arm {
            let found = exo_linux::AARCH64.lookup(*arm).map(|(n, _)| n);
            assert_eq!(found, Some(*name), "aarch64 number {arm} of {name}");
        }
    }
    for (arm, name, _) in exo_linux::AARCH64.calls {
        assert!(
            documented
                .values()
                .any(|(n, _, a)| n == name && *a == Some(*arm)),
            "aarch64 {name} ({arm}) missing from the docs table"
        );
    }
}
