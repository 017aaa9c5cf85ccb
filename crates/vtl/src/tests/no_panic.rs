//! Templates stitched at random from pieces that matter (mutation, self-reference, loops,
//! regexes, JSONPath): each compiles or not and renders or not, but never panics, since a
//! render failure must reach the caller as an error (API Gateway's 500).

use crate::{Inputs, Template};

#[test]
fn random_templates_never_panic() {
    let pieces = [
        "#set($m = {})",
        "#set($l = [])",
        "$m.put('a', $m)",
        "$l.add($l)",
        "$l.add($m)",
        "#foreach($x in $input.path('$.a'))",
        "#foreach($y in [1..3])",
        "#end",
        "$x",
        "$m",
        "$l",
        "$input.path('$')",
        "$input.json('$.a')",
        "#if($x == $m)",
        "#if($l)",
        "#else",
        "$l.get(0)",
        "$l.remove(0)",
        "$m.entrySet()",
        "$x.b.split(',')",
        "$l[-1]",
        "$m.get('a').get('a')",
        "#set($s = \"$m$l\")",
        "$s.replaceAll('a', '$0$0')",
        "#set($l[0] = $m)",
        "#set($m.k.z = $l)",
        "$util.parseJson($input.json('$'))",
        "$m.putAll($m)",
        "$l.addAll($l)",
        "#break",
        "$",
        "!",
        "{",
        "}",
        "(",
        ")",
        "[",
        "]",
        "#",
        "set",
        "if",
        "foreach",
        "end",
        "else",
        "'",
        "\"",
        "\\",
        ".",
        ",",
        "=",
        "==",
        "..",
        "1",
        "-1",
        "a",
        "m",
        "put",
        "get",
        "size",
        "substring",
        "split",
        "replaceAll",
        "matches",
        "input",
        "path",
        "json",
        "util",
        "parseJson",
        "context",
        " in ",
        "é",
        "\n",
        "*",
        "+",
        "/",
        "%",
        ":",
        "break",
        "$foreach",
        "keySet",
        "entrySet",
        "add",
        "remove",
    ];
    let mut seed: u64 = 0x1234_5678;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let body = br#"{"a": [1, {"b": "c"}], "s": "x,y"}"#;
    for _ in 0..5_000 {
        let n = (next() % 12) as usize;
        let t: String = (0..n)
            .map(|_| pieces[(next() % pieces.len() as u64) as usize])
            .collect();
        let r = std::panic::catch_unwind(|| {
            if let Ok(tpl) = Template::compile(&t) {
                let _ = tpl.render(&Inputs {
                    body,
                    ..Inputs::default()
                });
            }
        });
        assert!(r.is_ok(), "panic on {t:?}");
    }
}
