//! The rule format: parsing, validation messages that name the field, the JSON Schema kept
//! equal to the types, and the examples in `schema/examples/` all valid.

use zk_router::Rule;

fn err(json: &str) -> String {
    Rule::parse(json.as_bytes()).unwrap_err().to_string()
}

#[test]
fn a_full_rule_parses() {
    let rule = Rule::parse(
        br#"{"routes": [
          {"name": "beta", "match": {"method": {"exact": "GetOrder"}, "path": {"prefix": "/orders"},
             "headers": [{"name": "x-group", "exact": "beta"}, {"name": "x-debug", "present": true, "invert": true}],
             "caller_tags": ["internal"]},
           "destinations": [{"subset": {"version": "2.0", "zone": "z1", "tags": ["canary"], "metadata": {"team": "a"}}, "weight": 10},
                            {"subset": {"version": "1.0"}, "weight": 90}],
           "fallback": "next_route", "policy": {"type": "consistent_hash", "header": "x-user"}},
          {"destinations": [{}], "policy": {"type": "least_request"}, "fallback": "any_instance"}
        ]}"#,
    )
    .unwrap();
    assert_eq!(rule.routes.len(), 2);
    assert_eq!(rule.routes[1].destinations[0].weight, 1);
}

#[test]
fn bad_rules_are_refused_with_the_field_at_fault() {
    let cases = [
        (
            r#"{"routes": [{"destinations": []}]}"#,
            "routes[0].destinations must not be empty",
        ),
        (
            r#"{"routes": [{"destinations": [{}]}, {"destinations": [{}, {"weight": 0}]}]}"#,
            "routes[1].destinations[1].weight must be > 0",
        ),
        (
            r#"{"routes": [{"match": {"headers": [{"name": "x", "exact": "a", "prefix": "b"}]}, "destinations": [{}]}]}"#,
            "routes[0].match.headers[0] must give exactly one of exact, prefix, regex, present",
        ),
        (
            r#"{"routes": [{"match": {"path": {"regex": "(unclosed"}}, "destinations": [{}]}]}"#,
            "routes[0].match.path.regex is not a valid regular expression",
        ),
        (
            r#"{"routes": [{"match": {"headers": [{"name": " ", "exact": "a"}]}, "destinations": [{}]}]}"#,
            "routes[0].match.headers[0].name must not be empty",
        ),
        (
            r#"{"routes": [{"match": {"method": {}}, "destinations": [{}]}]}"#,
            "routes[0].match.method must give exactly one of",
        ),
    ];
    for (json, want) in cases {
        let got = err(json);
        assert!(
            got.starts_with(want),
            "for {json}\n  got: {got}\n want: {want}"
        );
    }
    // Serde-level problems name the position and the unknown or wrong thing.
    assert!(err(r#"{"routes": [{"destinations": [{}], "polcy": {}}]}"#)
        .contains("unknown field `polcy`"));
    assert!(
        err(r#"{"routes": [{"destinations": [{}], "policy": {"type": "fastest"}}]}"#)
            .contains("unknown variant `fastest`")
    );
    // A misspelt option of a policy without options is refused, not silently ignored.
    assert_eq!(
        err(
            r#"{"routes": [{"destinations": [{}], "policy": {"type": "round_robin", "headr": "x"}}]}"#
        ),
        "routes[0].policy.headr is not an option of policy round_robin"
    );
    assert!(err(r#"{"routes": [{"destinations": [{"weight": -1}]}]}"#).contains("line 1"));
    assert!(err("not json").contains("rule (line 1"));
    assert!(err("").contains("rule"));
}

#[test]
fn borderline_rules_are_accepted() {
    // No routes at all: default routing.
    assert!(Rule::parse(br#"{"routes": []}"#).unwrap().routes.is_empty());
    // A destination with an empty subset means every instance.
    Rule::parse(br#"{"routes": [{"destinations": [{"subset": {}}]}]}"#).unwrap();
    // present:false with invert is legal, if odd.
    Rule::parse(br#"{"routes": [{"match": {"headers": [{"name": "a", "present": false, "invert": true}]}, "destinations": [{}]}]}"#)
        .unwrap();
}

#[test]
fn the_checked_in_schema_matches_the_types() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/route-rule.schema.json");
    let generated = zk_router::rule::json_schema();
    if std::env::var_os("ZKMESH_WRITE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "schema/route-rule.schema.json is stale: rerun this test with ZKMESH_WRITE_SCHEMA=1"
    );
}

#[test]
fn the_examples_are_valid_rules() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/examples");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        Rule::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        n += 1;
    }
    assert!(n >= 3);
}
