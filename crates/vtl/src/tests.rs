//! The engine against the API Gateway developer guide's templates with their documented
//! outputs (`testdata/vtl`), and the directives and functions one by one.

use super::*;
use serde_json::json;

mod aws;
mod no_panic;

fn render(t: &str, inputs: &Inputs<'_>) -> String {
    Template::compile(t)
        .unwrap_or_else(|e| panic!("compile {t:?}: {e}"))
        .render(inputs)
        .unwrap_or_else(|e| panic!("render {t:?}: {e}"))
        .body
}

/// Renders each template of `cases` and checks its output.
fn check(inputs: &Inputs<'_>, cases: &[(&str, &str)]) {
    for (t, want) in cases {
        assert_eq!(render(t, inputs), *want, "{t}");
    }
}

fn with_body(body: &[u8]) -> Inputs<'_> {
    Inputs {
        body,
        ..Inputs::default()
    }
}

fn guide() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/vtl/aws-docs-mapping-templates.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn model_mapping_examples_of_the_guide_give_the_documented_data() {
    let doc = guide();
    let examples = doc["docs_model_mapping_examples"].as_array().unwrap();
    assert_eq!(examples.len(), 5);
    for ex in examples {
        let id = ex["id"].as_str().unwrap();
        let original = serde_json::to_vec(&ex["original_data"]).unwrap();
        let out = render(
            ex["output_mapping_template"].as_str().unwrap(),
            &with_body(&original),
        );
        let got: Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{id}: not JSON ({e}):\n{out}"));
        assert_eq!(got, ex["transformed_data"], "{id} output mapping");
        if let Some(t) = ex["input_mapping_template"].as_str() {
            let out = render(t, &with_body(&original));
            let got: Value = serde_json::from_str(&out)
                .unwrap_or_else(|e| panic!("{id}: not JSON ({e}):\n{out}"));
            assert_eq!(got, ex["original_data"], "{id} input mapping");
        }
    }
}

fn reference(id: &str) -> Value {
    guide()["docs_reference_examples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id)
        .unwrap_or_else(|| panic!("no example {id}"))
        .clone()
}

#[test]
fn reference_examples_give_the_documented_text() {
    for id in ["ref-parseJson", "ref-path-count"] {
        let ex = reference(id);
        let body = ex["request"]["body"].as_str().unwrap();
        let out = render(
            ex["template"].as_str().unwrap(),
            &with_body(body.as_bytes()),
        );
        assert_eq!(out, ex["documented_output_text"].as_str().unwrap(), "{id}");
    }
    // `id` and `count` are reliable in this one (see the file's caveat on `things`).
    let ex = reference("ref-things-input-functions");
    let mut inputs = with_body(ex["request"]["body"].as_str().unwrap().as_bytes());
    let path = [("id".into(), "abc".into())];
    inputs.path = &path;
    let out = render(ex["template"].as_str().unwrap(), &inputs);
    assert!(out.contains("\"id\" : \"abc\""), "{out}");
    assert!(out.contains("\"count\" : \"3\""), "{out}");
    assert!(out.contains(r#"{\"1\":{},\"2\":{},\"3\":{}}"#), "{out}");

    let ex = reference("ref-authorizer-context-stringify");
    let context = json!({ "authorizer": ex["authorizer_context"] });
    let inputs = Inputs {
        context: &context,
        ..with_body(b"")
    };
    for case in ex["cases"].as_array().unwrap() {
        let out = render(case["template"].as_str().unwrap(), &inputs);
        assert_eq!(out, case["documented_output_text"].as_str().unwrap());
    }
}

#[test]
fn response_override_and_request_header_override_examples() {
    let ex = reference("override-status-if-error");
    let body = serde_json::to_vec(&ex["integration_response_body"]).unwrap();
    let r = Template::compile(ex["template"].as_str().unwrap())
        .unwrap()
        .render(&with_body(&body))
        .unwrap();
    assert_eq!(r.status_override(), Some(400));
    let got: Value = serde_json::from_str(r.body.trim()).unwrap();
    assert_eq!(got, ex["documented_result"]["body_json"]);

    let ex = reference("override-request-headers");
    let mut inputs = with_body(b"{}");
    let header = [
        ("header1".into(), "header1Val".into()),
        ("header2".into(), "header2Val".into()),
    ];
    inputs.header = &header;
    let r = Template::compile(ex["template"].as_str().unwrap())
        .unwrap()
        .render(&inputs)
        .unwrap();
    let headers = r.header_overrides("requestOverride");
    let want = &ex["documented_endpoint_request_headers_subset"];
    for (k, v) in &headers {
        assert_eq!(want[k.as_str()], v.as_str(), "{k}");
    }
    assert_eq!(headers.len(), 3);
}

#[test]
fn all_params_foreach_lists_path_querystring_and_header() {
    let ex = reference("ref-all-params-foreach");
    let mut inputs = with_body(b"");
    let path = [("path_name".into(), "path_value".into())];
    let querystring = [("querystring_name".into(), "querystring_value".into())];
    let header = [("header_name".into(), "header_value".into())];
    inputs.path = &path;
    inputs.querystring = &querystring;
    inputs.header = &header;
    let out = render(ex["template"].as_str().unwrap(), &inputs);
    let got: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(got, ex["documented_output_shape"]);
}

#[test]
fn directives_branch_loop_and_set() {
    let i = with_body(br#"{"n": 3, "items": ["a", "b", "c"], "flag": false}"#);
    let t = "#set($n = $input.path('$.n'))\n#if($n > 5)big#elseif($n == 3)three#{else}small#end";
    assert_eq!(render(t, &i), "three");
    let t = "#foreach($x in $input.path('$.items'))$velocityCount:$x#if($foreach.hasNext),#end#end";
    assert_eq!(render(t, &i), "1:a,2:b,3:c");
    let t = "#foreach($x in [1..5])#if($x == 3)#break#end$x#end";
    assert_eq!(render(t, &i), "12");
    let t = "#if(!$input.path('$.flag') && $input.path('$.n') >= 3)yes#end";
    assert_eq!(render(t, &i), "yes");
    let t = "#set($m = {\"k\": \"v\", \"n\": 2})$m.k $m.get('n') $m.keySet()";
    // `keySet()` prints as Java's `Set`.
    assert_eq!(render(t, &i), "v 2 [k, n]");
    let t = "#set($s = \"n is $input.path('$.n')\")$s.toUpperCase() ${s}!";
    assert_eq!(render(t, &i), "N IS 3 n is 3!");
    let t = "## a comment\n#* a\nblock *#$math #set($x = 7 * 6 - 2 / 2 + 10 % 4)$x";
    assert_eq!(render(t, &i), " 43");
    assert_eq!(render("$!nothing|$input.path('$.missing')|", &i), "||");
    assert_eq!(render("price: \\$5", &i), "price: $5");
}

#[test]
fn directive_lines_leave_no_blank_lines() {
    let t = "[\n  #foreach($x in [1, 2])\n  $x\n  #end\n]";
    assert_eq!(render(t, &with_body(b"")), "[\n  1\n  2\n]");
}

#[test]
fn util_functions_match_java() {
    let mut i = with_body(b"");
    let querystring = [("q".into(), "it's a \"q\" / é\n".into())];
    i.querystring = &querystring;
    assert_eq!(
        render("$util.escapeJavaScript($input.params('q'))", &i),
        r#"it\'s a \"q\" \/ \u00E9\n"#
    );
    assert_eq!(
        render("$util.urlEncode('a b&c=d/é')", &i),
        "a+b%26c%3Dd%2F%C3%A9"
    );
    assert_eq!(render("$util.urlDecode('a+b%26c')", &i), "a b&c");
    assert_eq!(render("$util.base64Encode('hello')", &i), "aGVsbG8=");
    assert_eq!(render("$util.base64Decode('aGVsbG8=')", &i), "hello");
    assert_eq!(render("$util.parseJson('{\"a\":[1,2]}').a[1]", &i), "2");
    // The guide's advice for single quotes; string literals take no escapes, as in Velocity.
    assert_eq!(
        render(
            "$util.escapeJavaScript($input.params('q')).replaceAll(\"\\\\'\",\"'\")",
            &i
        ),
        r#"it's a \"q\" \/ \u00E9\n"#
    );
}

#[test]
fn input_functions_read_body_params_and_context() {
    let mut i = with_body(br#"{"pet": {"name": "rex", "tags": ["a"]}}"#);
    let path = [("id".into(), "7".into())];
    let querystring = [("q".into(), "x".into())];
    let header = [("X-Trace".into(), "t1".into())];
    let context = json!({"stage": "prod", "identity": {"sourceIp": "127.0.0.1"}});
    let stage_variables = json!({"env": "test"});
    i.path = &path;
    i.querystring = &querystring;
    i.header = &header;
    i.context = &context;
    i.stage_variables = &stage_variables;
    assert_eq!(
        render("$input.json('$.pet')", &i),
        r#"{"name":"rex","tags":["a"]}"#
    );
    assert_eq!(render("$input.json('$.pet.name')", &i), r#""rex""#);
    assert_eq!(render("$input.path('$.pet.tags').size()", &i), "1");
    assert_eq!(
        render("$input.body", &i),
        r#"{"pet": {"name": "rex", "tags": ["a"]}}"#
    );
    assert_eq!(
        render(
            "$input.params('id') $input.params('q') $input.params('x-trace') [$input.params('no')]",
            &i
        ),
        "7 x t1 []"
    );
    assert_eq!(
        render(
            "$context.stage $context.identity.sourceIp $stageVariables.env",
            &i
        ),
        "prod 127.0.0.1 test"
    );
}

#[test]
fn errors_name_the_position_and_never_panic() {
    for (t, want) in [
        ("#if($x)", "#if without #end"),
        ("#end", "without an opening directive"),
        ("#set($x 1)", "expected `=`"),
        ("#foreach($x [1])#end", "expected `in`"),
        ("${x", "expected `}`"),
        ("#set($x = 'open)", "closing quote"),
    ] {
        let e = Template::compile(t).unwrap_err();
        assert!(e.contains(want), "{t}: {e}");
        assert!(e.starts_with("line 1, column"), "{t}: {e}");
    }
    let i = with_body(b"not json");
    for (t, want) in [
        (
            "$input.json('$.a')",
            "Could not parse request body into json",
        ),
        ("$util.nope('x')", "is not known"),
        ("#set($x = 1 / 0)", "division by zero"),
        ("#foreach($x in [1..5000])#end", "more than 1000"),
    ] {
        let e = Template::compile(t).unwrap().render(&i).unwrap_err();
        assert!(e.contains(want), "{t}: {e}");
    }
    let i = with_body(b"{}");
    for (t, want) in [
        ("$input.path('a.b')", "must start with"),
        ("$input.path('$').nope()", "no method"),
    ] {
        let e = Template::compile(t).unwrap().render(&i).unwrap_err();
        assert!(e.contains(want), "{t}: {e}");
    }
    // Deep nesting is refused at compile, not a stack overflow.
    let deep = "#if(true)".repeat(200) + &"#end".repeat(200);
    assert!(Template::compile(&deep).unwrap_err().contains("too deeply"));
    let deep_expr = "$x(".repeat(0) + &"(".repeat(500) + "1" + &")".repeat(500);
    assert!(Template::compile(&format!("#set($x = {deep_expr})")).is_err());
}
