//! Rendering as Amazon API Gateway does, each case with the record or document it follows.
//!
//! "Recorded" cases quote LocalStack's AWS-validated snapshot tests (responses recorded
//! against real API Gateway): `tests/aws/services/apigateway/test_apigateway_common.py`,
//! `test_input_path_template_formatting` (recorded 18-06-2025) and
//! `test_input_body_formatting` (recorded 19-03-2025), snapshot in
//! `test_apigateway_common.snapshot.json`.

use super::{check, render, with_body};
use crate::{Inputs, Limits, Template};

fn render_err(t: &str, inputs: &Inputs<'_>) -> String {
    match Template::compile(t) {
        Ok(t) => t.render(inputs).err().unwrap_or_default(),
        Err(e) => e,
    }
}

#[test]
fn input_path_results_print_as_aws_prints_them() {
    // Recorded: `#set($result = $input.path("$.json"))$result` and its variants, with the
    // body in `json`. A JSON object prints as Java's `{key=value}`, a JSON array as compact
    // JSON (json-smart's JSONArray), with whatever it holds as JSON too.
    let path = "#set($result = $input.path('$.json'))$result";
    let nested = "#set($result = $input.path('$.json'))$result.nested";
    let first = "#set($result = $input.path('$.json'))$result[0]";
    let to_string = "#set($result = $input.path('$.json'))$result.toString()";
    for (t, body, want) in [
        (path, r#"{"foo": "bar"}"#, "{foo=bar}"),
        (path, r#"[{"foo": "bar"}]"#, r#"[{"foo":"bar"}]"#),
        (nested, r#"{"nested": {"foo": "bar"}}"#, "{foo=bar}"),
        (
            nested,
            r#"{"nested": [{"foo": "bar"}]}"#,
            r#"[{"foo":"bar"}]"#,
        ),
        (first, r#"[{"foo": "bar"}]"#, "{foo=bar}"),
        (first, r#"[[{"foo": "bar"}]]"#, r#"[{"foo":"bar"}]"#),
        (
            path,
            r#"{"foo": [{"nested": "bar"}]}"#,
            r#"{foo=[{"nested":"bar"}]}"#,
        ),
        (
            path,
            r#"{"bigger": "dict", "to": "test", "with": "separators"}"#,
            "{bigger=dict, to=test, with=separators}",
        ),
        (to_string, r#"{"foo": "bar"}"#, "{foo=bar}"),
        (
            to_string,
            r#"{"list": [{"foo": "bar"}]}"#,
            r#"{list=[{"foo":"bar"}]}"#,
        ),
        // Numbers, booleans and nulls inside: Java's `toString` of each.
        (
            path,
            r#"{"n": 1, "x": 2.5, "t": true, "z": null}"#,
            "{n=1, x=2.5, t=true, z=null}",
        ),
    ] {
        let body = format!(r#"{{"json": {body}}}"#);
        assert_eq!(
            render(t, &with_body(body.as_bytes())),
            want,
            "{t} over {body}"
        );
    }
    // `$input.json` stays JSON (the guide: "returns a JSON string").
    let i = with_body(br#"{"a": {"b": [1, "x"]}}"#);
    assert_eq!(render("$input.json('$.a')", &i), r#"{"b":[1,"x"]}"#);
    assert_eq!(render("$input.path('$.a.b')", &i), r#"[1,"x"]"#);
}

#[test]
fn a_missing_value_renders_as_nothing_and_equals_the_empty_string() {
    // Recorded: `{"body": $result, "nested": $result.nested, "isNull": #if( $result == $null
    // )"true"#else"false"#end, "isEmptyString": #if( $result == "" )"true"#else"false"#end}`.
    let t = r##"#set($result = $input.path("$.json.listValue")){"body": $result, "nested": $result.nested, "isNull": #if( $result == $null )"true"#else"false"#end, "isEmptyString": #if( $result == "" )"true"#else"false"#end}"##;
    let none = r#"{"body": , "nested": , "isNull": "true", "isEmptyString": "true"}"#;
    for body in [&b"{}"[..], br#"{"json": {"listValue": null}}"#] {
        assert_eq!(render(t, &with_body(body)), none);
    }
    assert_eq!(
        render(t, &with_body(br#"{"json": {"listValue": []}}"#)),
        r#"{"body": [], "nested": , "isNull": "false", "isEmptyString": "false"}"#
    );
    // An unset variable alike, quiet or not (LocalStack, whose APIGW rendering is checked
    // against AWS: "Apigateway does not return None but returns an empty string instead").
    let i = with_body(b"{}");
    assert_eq!(
        render("[$nothing|$!nothing|$nothing.deeper|${nothing}]", &i),
        "[|||]"
    );
    check(
        &i,
        &[
            // Velocity's `#if`: null and false are false; anything else, "" too, is true.
            ("#if($nothing)y#{else}n#end", "n"),
            ("#if('')y#{else}n#end", "y"),
            ("#if($nothing == 0)y#{else}n#end", "n"),
            ("#if($nothing != 'x')y#{else}n#end", "y"),
            // Ordering with a null is false rather than an error (Velocity logs and answers false).
            ("#if($nothing < 1 || $nothing >= 1)y#{else}n#end", "n"),
        ],
    );
    // `#set` to a null leaves the variable null.
    assert_eq!(render("#set($a = 1)#set($a = $nothing)[$a]", &i), "[]");
    // `$input.params(name)` of an absent name is "" (LocalStack's `params`).
    assert_eq!(
        render("#if($input.params('x') == '')empty#end", &i),
        "empty"
    );
}

#[test]
fn an_empty_body_reads_as_an_empty_object() {
    // Recorded `test_input_body_formatting`: `$input.body` of an empty body is `{}` and
    // `$util.urlEncode($input.body)` `%7B%7D`, `$util.urlEncode($input.body.testAccess)`
    // nothing ("EncodedBody=%7B%7D&EncodedBodyAccess=").
    let i = with_body(b"");
    assert_eq!(render("$input.body", &i), "{}");
    assert_eq!(
        render(
            "EncodedBody=$util.urlEncode($input.body)&EncodedBodyAccess=$util.urlEncode($input.body.testAccess)",
            &i
        ),
        "EncodedBody=%7B%7D&EncodedBodyAccess="
    );
    assert_eq!(
        render(
            "$input.json('$')|$input.path('$')|$input.path('$').size()",
            &i
        ),
        "{}|{}|0"
    );
    // A path with no match: nothing from `$input.path`, `""` from `$input.json` (LocalStack
    // #12774, checked in the AWS console).
    assert_eq!(
        render("[$input.path('$.myVar')][$input.json('$.myVar')]", &i),
        r#"[][""]"#
    );
    // A body that is not JSON fails as API Gateway's "Could not parse request body into json".
    let e = render_err("$input.path('$.a')", &with_body(b"a=1&b=2"));
    assert!(e.contains("Could not parse request body into json"), "{e}");
}

#[test]
fn template_values_print_as_java_collections() {
    // Velocity's list and map literals are `ArrayList` / `LinkedHashMap`, printed by their
    // `toString`; `$input.params().path` prints `{arg=value}` on AWS (serverless#1014).
    let path = [("arg".to_string(), "value".to_string())];
    let i = Inputs {
        path: &path,
        ..with_body(b"{}")
    };
    assert_eq!(render("$input.params().path", &i), "{arg=value}");
    assert_eq!(
        render("$input.params()", &i),
        "{path={arg=value}, querystring={}, header={}}"
    );
    let t = r#"#set($l = ["a", 1, 2.0, true, {"k": "v"}, [3]])$l"#;
    assert_eq!(render(t, &i), "[a, 1, 2.0, true, {k=v}, [3]]");
    let t = "#set($m = {'a': 1, 'b': [1, 2]})$m $m.keySet() $m.values() $m.entrySet()";
    assert_eq!(
        render(t, &i),
        "{a=1, b=[1, 2]} [a, b] [1, [1, 2]] [a=1, b=[1, 2]]"
    );
}

#[test]
fn map_methods_change_the_map_every_alias_sees() {
    let i = with_body(br#"{"pet": {"name": "rex"}}"#);
    check(
        &i,
        &[
            // Java's `Map.put` returns the previous value: null (nothing) the first time.
            ("#set($m = {})$m.put('a', 1)|$m.put('a', 2)|$m", "|1|{a=2}"),
            ("#set($m = {})#set($alias = $m)#set($ignored = $alias.put('k', 'v'))$m.get('k') $m.k $m.containsKey('k') $m.containsKey('x')", "v v true false"),
            ("#set($m = {'a': 1})#set($ignored = $m.putAll({'b': 2, 'a': 3}))$m $m.size() $m.isEmpty() $m.remove('a') $m", "{a=3, b=2} 2 false 3 {b=2}"),
            ("#foreach($e in $input.path('$.pet').entrySet())$e.key=$e.value;$e.getKey()#end", "name=rex;name"),
            // A body object is a map like any other.
            ("#set($p = $input.path('$.pet'))#set($ignored = $p.put('age', 3))$p", "{name=rex, age=3}"),
            // A map that holds itself equals itself (Java's identity check comes first).
            ("#set($m = {})#set($ignored = $m.put('me', $m))#if($m == $m)same#end", "same"),
            // `#set` on a property puts into the map.
            ("#set($m = {})#set($m.a.b = 1)$m", "{a={b=1}}"),
        ],
    );
}

#[test]
fn list_methods_match_java() {
    let i = with_body(br#"{"items": ["a", "b"]}"#);
    check(
        &i,
        &[
            ("#set($l = [])$l.add('x')|$l.isEmpty() $l.size()#set($ignored = $l.add(0, 'w'))|$l|$l.get(1) $l.contains('x') $l.indexOf('x') $l.indexOf('q')", "true|false 1|[w, x]|x true 1 -1"),
            // `remove(int)` for an integer, `remove(Object)` otherwise, as Velocity picks overloads.
            ("#set($l = ['a', 'b', 'c'])$l.remove(0) $l.remove('c') $l.remove('q') $l", "a true false [b]"),
            ("#set($l = $input.path('$.items'))#set($ignored = $l.add('c'))$l $l.size()", r#"["a","b","c"] 3"#),
            // `$foreach` and `$velocityCount`; a map is walked by its values.
            ("#foreach($v in {'x': 1, 'y': 2})$foreach.index$foreach.count$velocityCount$v#if($foreach.hasNext),#end#end", "0111,1222"),
        ],
    );
}

#[test]
fn string_methods_and_literals_match_java_and_velocity() {
    let i = with_body(b"{}");
    check(
        &i,
        &[
            ("#set($s = ' Hello World ')$s.trim().length()", "11"),
            (
                "#set($s = 'Hello')$s.substring(1, 3) $s.substring(3)",
                "el lo",
            ),
            (
                "#set($s = 'Hello')$s.indexOf('l') $s.lastIndexOf('l') $s.indexOf('z')",
                "2 3 -1",
            ),
            (
                "#set($s = 'Hello')$s.toLowerCase() $s.toUpperCase()",
                "hello HELLO",
            ),
            (
                "#set($s = 'a.b.c')$s.replace('.', '-') $s.replaceAll('\\.', '/')",
                "a-b-c a/b/c",
            ),
            (
                "#set($s = 'John Smith')$s.replaceAll('(\\w+) (\\w+)', '$2, $1')",
                "Smith, John",
            ),
            (
                "#set($s = 'a1')$s.matches('[a-z]\\d') $s.matches('\\d')",
                "true false",
            ),
            (
                "#set($p = 'a,b,,c,,')$p.split(',') $p.split(',').size()",
                "[a, b, , c] 4",
            ),
            (
                "#set($s = 'abc')$s.startsWith('ab') $s.endsWith('bc') $s.contains('x')",
                "true true false",
            ),
            (
                "#set($s = 'abc')$s.equals('abc') $s.equalsIgnoreCase('ABC') $s.isEmpty()",
                "true true false",
            ),
            // Velocity's literals: a doubled quote is one quote; a backslash stays as written.
            (r#"#set($s = "say ""hi""")$s"#, r#"say "hi""#),
            ("#set($s = 'it''s')$s", "it's"),
            (r#"#set($s = "a \"b\"")$s"#, r#"a \"b\""#),
            // A dynamic pattern, compiled once per rendering.
            (
                "#set($re = '[0-9]+')#foreach($x in ['a1', 'b22'])$x.replaceAll($re, '#')#end",
                "a#b#",
            ),
        ],
    );
}

#[test]
fn every_failure_is_an_error_never_a_panic() {
    let i = with_body(br#"{"a": [1]}"#);
    for (t, want) in [
        ("$input.path('$.a').get(5)", "out of bounds"),
        ("$input.path('$.a')[3]", "out of bounds"),
        ("#set($s = 'abc')$s.substring(2, 1)", "substring(2, 1)"),
        ("#set($s = 'abc')$s.charAt(9)", "out of bounds"),
        ("#set($re = '(')$re.matches($re)", "bad regular expression"),
        (
            "#set($m = {})$m.put('a')",
            "no method `put` with 1 arguments",
        ),
        (
            "#set($m = {})#set($ignored = $m.put('me', $m))$m",
            "nested too deeply",
        ),
        (
            "#set($a = {})#set($b = {})#set($i = $a.put('x', $b))#set($i = $b.put('x', $a))#if($a == $b)#end",
            "to compare",
        ),
        ("#set($x = 'a' - 1)", "arithmetic needs numbers"),
        ("#set($x = 1.5 % 0)", "division by zero"),
        ("#set($input = 1)", "cannot be set"),
        ("$util.qr($m)", "AppSync"),
        ("$input.nope", "is not known"),
        ("$util.parseJson('{')", "parseJson"),
        ("$util.base64Decode('***')", "base64Decode"),
        (
            "#set($s = 'x')$s.replaceAll('x', '$')",
            "illegal group reference",
        ),
    ] {
        let e = render_err(t, &i);
        assert!(e.contains(want), "{t}: {e:?}");
        assert!(e.starts_with("line "), "{t}: {e}");
    }
    // A literal pattern is compiled, and refused, when the template is.
    let e = Template::compile("$s.replaceAll('(', '')").unwrap_err();
    assert!(e.contains("bad regular expression"), "{e}");
}

#[test]
fn every_way_to_grow_work_is_capped() {
    let i = with_body(br#"{"big": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}"#);
    check(
        &i,
        &[
        // One loop: API Gateway's 1,000 iterations.
        ("#foreach($x in [1..1000])#end#foreach($x in $input.path('$.big'))#end", ""),
        ("#set($l = [])#foreach($x in [1..1000])#set($ignored = $l.add($x))#end#foreach($x in $l)#end$l.size()", "1000"),
        ],
    );
    let small = Limits {
        max_output: 1000,
        max_iterations: 100,
        max_total_iterations: 500,
        max_range: 200,
        max_string: 4096,
        max_values: 2000,
        max_work: 10_000,
    };
    for (t, want) in [
        (
            "#foreach($x in [1..100])xxxxxxxxxxx#end",
            "output over 1000 bytes",
        ),
        (
            "#set($l = [])#foreach($x in [1..150])#set($i = $l.add($x))#end#foreach($x in $l)#end",
            "at most 100",
        ),
        (
            "#foreach($a in [1..30])#foreach($b in [1..30])#end#end",
            "more than 500 #foreach iterations",
        ),
        ("#foreach($x in [1..201])#end", "a range of more than 200"),
        (
            "#set($s = 'xx')#foreach($i in [1..20])#set($s = $s + $s)#end",
            "more than 4096 bytes",
        ),
        (
            "#set($s = 'xx')#foreach($i in [1..20])#set($s = \"$s$s\")#end",
            "output over 4096 bytes",
        ),
        (
            "#set($s = 'xx')#foreach($i in [1..20])#set($s = $s.concat($s))#end",
            "more than 4096 bytes",
        ),
        (
            "#foreach($i in [1..100])#foreach($j in [1..3])#set($x = $input.path('$'))#end#end",
            "more than 2000 values",
        ),
        (
            "#set($l = [])#foreach($i in [1..50])#set($x = $l.add($i))#end#foreach($i in [1..10])#foreach($j in [1..40])#if($l.contains(999))#end#end#end",
            "more than 10000 units of work",
        ),
    ] {
        let e = Template::compile(t)
            .unwrap_or_else(|e| panic!("{t}: {e}"))
            .with_limits(small)
            .render(&i)
            .err()
            .unwrap_or_else(|| panic!("{t} rendered"));
        assert!(e.contains(want), "{t}: {e}");
    }
    assert_eq!(Template::compile("").unwrap().limits(), Limits::default());
}
