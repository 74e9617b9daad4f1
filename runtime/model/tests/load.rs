//! Loading workflow files: every problem at once, each with a code and a place.

use monstrum_model::{Diagnostic, load_workflow};

fn problems(text: &str) -> Vec<Diagnostic> {
    load_workflow(text).diagnostics
}

fn codes_at(text: &str) -> Vec<(String, usize, usize)> {
    problems(text)
        .into_iter()
        .map(|d| {
            let l = d.location.expect("every problem has a location");
            (d.code.to_string(), l.line, l.column)
        })
        .collect()
}

#[test]
fn a_good_workflow_has_no_problem() {
    let text = r#"
name: ok
inputs:
  service: { type: string, default: app }
  channels: { type: array, default: [a, b] }
steps:
  - id: logs
    tool: core.echo
    with: { command: "tail {{ inputs.service }}" }
    timeout: 30s
    retry: { attempts: 3, backoff: 2s }
  - id: gate
    needs: [logs]
    approval: { message: "ok? {{ steps.logs.output.command }}", self_approval: false, timeout: 30m }
  - id: notify
    needs: [gate]
    if: steps.gate.approved
    for_each: inputs.channels
    tool: core.echo
    with: { channel: "{{ item }}", n: "{{ index }}" }
    on_error: continue
outputs:
  said: "{{ steps.logs.output.command }}"
"#;
    let loaded = load_workflow(text);
    assert_eq!(loaded.diagnostics, vec![]);
    let wf = loaded.value.expect("loaded");
    assert_eq!(wf.steps.len(), 3);
    assert_eq!(wf.steps[0].retry.as_ref().unwrap().attempts, 3);
    assert_eq!(wf.steps[0].timeout.unwrap().get().as_secs(), 30);
}

#[test]
fn every_problem_is_reported_at_once_with_line_and_column() {
    let text = "name: bad
steps:
  - id: a
    tool: core.echo
  - id: b
    needs: [a, nope]
    tool: core.echo
  - id: a
    tool: core.echo
  - id: c
    tool: core.echo
    llm: { prompt: hi }
  - id: d
    needs: [e]
    tool: core.echo
  - id: e
    needs: [d]
    if: \"steps.a.status ==\"
    tool: core.echo
  - id: f
  - id: g
    tool: core.echo
    colour: red
";
    let found = codes_at(text);
    assert_eq!(
        found,
        vec![
            ("E004".into(), 6, 16), // unknown need `nope`
            ("E003".into(), 8, 9),  // duplicate id `a`
            ("E007".into(), 12, 5), // two kinds
            ("E005".into(), 14, 5), // cycle d -> e -> d
            ("E006".into(), 18, 9), // bad expression
            ("E007".into(), 20, 5), // no kind
            ("E012".into(), 23, 5), // unknown key `colour`
        ],
        "{:#?}",
        problems(text)
    );
    let cycle = problems(text).into_iter().find(|d| d.code == "E005").unwrap();
    assert!(cycle.message.contains("d -> e -> d"), "{}", cycle.message);
    let unknown = problems(text).into_iter().find(|d| d.code == "E012").unwrap();
    assert!(unknown.message.contains("colour"), "{}", unknown.message);
}

#[test]
fn malformed_yaml_names_the_place() {
    let found = codes_at("name: x\nsteps:\n  - id: a\n    tool: [core.echo\n");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, "E001");
    assert!(found[0].1 >= 4, "{found:?}");
}

#[test]
fn references_are_checked() {
    let text = r#"
name: refs
inputs: { who: { type: string } }
steps:
  - id: a
    tool: core.echo
    with: { x: "{{ inputs.whom }}", y: "{{ steps.b.output }}", z: "{{ item }}" }
  - id: b
    tool: core.echo
    with: { x: "{{ steps.zz.output }} {{ secret }}" }
outputs:
  o: "{{ steps.b.output }}"
"#;
    let msgs: Vec<String> = problems(text).into_iter().map(|d| format!("{} {}", d.code, d.message)).collect();
    assert!(msgs.iter().any(|m| m.contains("unknown input `whom`")), "{msgs:?}");
    assert!(msgs.iter().any(|m| m.contains("does not need `b`")), "{msgs:?}");
    assert!(msgs.iter().any(|m| m.contains("`item` exists only")), "{msgs:?}");
    assert!(msgs.iter().any(|m| m.contains("unknown step `zz`")), "{msgs:?}");
    assert!(msgs.iter().any(|m| m.contains("unknown variable `secret`")), "{msgs:?}");
    assert_eq!(msgs.len(), 5, "{msgs:?}");
}

#[test]
fn bad_values_are_reported_where_they_are() {
    let text = "name: v\nsteps:\n  - id: a\n    tool: core.echo\n    timeout: soon\n  - id: b\n    tool: core.nope\n  - id: c\n    tool: core.echo\n    retry: { attempts: 0 }\n";
    let found = codes_at(text);
    assert_eq!(
        found,
        vec![("E002".into(), 5, 14), ("E010".into(), 7, 11), ("E009".into(), 10, 24)],
        "{:#?}",
        problems(text)
    );
}

#[test]
fn a_long_chain_loads_without_exhausting_the_stack() {
    // A recursive cycle check overflowed a 2 MiB test-thread stack at about 22,000 steps.
    let mut text = String::from("name: long\nsteps:\n  - { id: s0, tool: core.echo }\n");
    for i in 1..30_000 {
        text.push_str(&format!("  - {{ id: s{i}, needs: [s{}], tool: core.echo }}\n", i - 1));
    }
    text.push_str("  - { id: back, needs: [s29999], tool: core.echo }\n");
    let loaded = load_workflow(&text);
    assert_eq!(loaded.diagnostics, vec![]);
    assert_eq!(loaded.value.unwrap().steps.len(), 30_001);
    // And a cycle through all of it is found and named.
    let cyclic = text.replacen("{ id: s0, tool: core.echo }", "{ id: s0, needs: [back], tool: core.echo }", 1);
    let found = problems(&cyclic);
    assert_eq!(found.len(), 1, "{:?}", found.iter().map(|d| &d.message).collect::<Vec<_>>());
    assert!(
        found[0].message.starts_with("cycle in needs: s0 -> back -> s29999 -> s29998"),
        "{}",
        &found[0].message[..60]
    );
}
