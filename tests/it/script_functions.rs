//! The 80-line rule for our own scripts in `assets/`: a small scanner finds each function body
//! of a script and its length. Needs no browser and no other tool.

/// A function found in a script: its name (or what kind it is), the line of the `{` that opens
/// its body and its length in lines, from that line to the line of the closing `}`.
#[derive(Debug, PartialEq)]
struct JsFunction {
    name: String,
    line: usize,
    lines: usize,
}

/// What the scanner in [`js_functions`] remembers of the code before the current position.
#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Word(String),
    Punct(char),
    Arrow,
    /// A literal: string, template, regular expression.
    Literal,
    /// `)`, with the token just before its `(`: `if`, `function`, a function's name...
    Close(Option<Box<Tok>>),
}

/// An open bracket: `(`, `[`, `{` (with the function it opens, if any) or a template's `${`.
enum Open {
    Paren(Option<Tok>),
    Square,
    Brace(Option<(String, usize)>),
    Template,
}

/// Words after which `/` starts a regular expression rather than dividing.
const BEFORE_REGEX: &[&str] = &[
    "return", "typeof", "case", "in", "of", "new", "delete", "void", "throw", "else", "do",
];
/// Words whose `(...)` is followed by a block that is not a function body.
const NOT_FUNCTIONS: &[&str] = &["if", "for", "while", "switch", "catch", "with"];

/// The functions of a JavaScript source, found by a small scanner that knows strings,
/// templates, comments and regular expressions, so that only real braces count. A `{` opens a
/// function body after `=>`, after `function (...)`, after `name(...)` (declarations and
/// methods) unless the name is a statement keyword such as `if`.
fn js_functions(js: &str) -> Vec<JsFunction> {
    let chars: Vec<char> = js.chars().collect();
    let (mut i, mut line) = (0, 1);
    let mut last: Option<Tok> = None;
    let mut stack: Vec<Open> = Vec::new();
    let mut found = Vec::new();
    let mut in_template = false;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if in_template {
            match (c, next) {
                ('\\', _) => i += 1,
                ('`', _) => {
                    in_template = false;
                    last = Some(Tok::Literal);
                }
                ('$', Some('{')) => {
                    stack.push(Open::Template);
                    in_template = false;
                    last = None;
                    i += 1;
                }
                _ => {}
            }
        } else if c == '/' && next == Some('/') {
            while i + 1 < chars.len() && chars[i + 1] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            i += 2;
            while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                line += usize::from(chars[i] == '\n');
                i += 1;
            }
            i += 1;
        } else if c == '/' && regex_may_start(&last) {
            i = skip_regex(&chars, i, line);
            last = Some(Tok::Literal);
        } else if c == '\'' || c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != c {
                assert!(chars[i] != '\n', "line {line}: string not closed");
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            last = Some(Tok::Literal);
        } else if c == '`' {
            in_template = true;
        } else if c.is_alphanumeric() || c == '_' || c == '$' {
            let start = i;
            while chars
                .get(i + 1)
                .is_some_and(|c| c.is_alphanumeric() || *c == '_' || *c == '$')
            {
                i += 1;
            }
            last = Some(Tok::Word(chars[start..=i].iter().collect()));
        } else if c == '=' && next == Some('>') {
            i += 1;
            last = Some(Tok::Arrow);
        } else if !c.is_whitespace() {
            last = bracket(
                c,
                line,
                last.take(),
                &mut stack,
                &mut found,
                &mut in_template,
            );
        }
        line += usize::from(chars[i] == '\n');
        i += 1;
    }
    assert!(stack.is_empty(), "{} brackets not closed", stack.len());
    found
}

/// Whether a `/` after `last` starts a regular expression (rather than dividing).
fn regex_may_start(last: &Option<Tok>) -> bool {
    match last {
        None | Some(Tok::Arrow) => true,
        Some(Tok::Punct(p)) => !matches!(p, ')' | ']' | '}'),
        Some(Tok::Word(w)) => BEFORE_REGEX.contains(&w.as_str()),
        Some(Tok::Literal | Tok::Close(_)) => false,
    }
}

/// The index of the closing `/` of the regular expression that starts at `start` (flags
/// follow as a word). A `/` inside a class `[...]` does not close it.
fn skip_regex(chars: &[char], start: usize, line: usize) -> usize {
    let (mut i, mut class) = (start + 1, false);
    while i < chars.len() && (class || chars[i] != '/') {
        assert!(
            chars[i] != '\n',
            "line {line}: regular expression not closed"
        );
        match chars[i] {
            '\\' => i += 1,
            '[' => class = true,
            ']' => class = false,
            _ => {}
        }
        i += 1;
    }
    i
}

/// Takes punctuation `c` at `line`: opens and closes brackets, records the functions whose
/// bodies close. Returns the token the scanner now remembers.
fn bracket(
    c: char,
    line: usize,
    last: Option<Tok>,
    stack: &mut Vec<Open>,
    found: &mut Vec<JsFunction>,
    in_template: &mut bool,
) -> Option<Tok> {
    let unbalanced = || panic!("line {line}: unbalanced {c:?}");
    match c {
        '(' => stack.push(Open::Paren(last)),
        '[' => stack.push(Open::Square),
        '{' => stack.push(Open::Brace(function_named(last).map(|name| (name, line)))),
        ')' => match stack.pop() {
            Some(Open::Paren(head)) => return Some(Tok::Close(head.map(Box::new))),
            _ => unbalanced(),
        },
        ']' => match stack.pop() {
            Some(Open::Square) => {}
            _ => unbalanced(),
        },
        '}' => match stack.pop() {
            Some(Open::Brace(Some((name, start)))) => found.push(JsFunction {
                name,
                line: start,
                lines: line - start + 1,
            }),
            Some(Open::Brace(None)) => {}
            Some(Open::Template) => {
                *in_template = true;
                return None;
            }
            _ => unbalanced(),
        },
        _ => {}
    }
    Some(Tok::Punct(c))
}

/// If a `{` after `last` opens a function body, what to call the function.
fn function_named(last: Option<Tok>) -> Option<String> {
    match last? {
        Tok::Arrow => Some("(arrow function)".to_string()),
        Tok::Close(Some(head)) => match *head {
            Tok::Word(w) if w == "function" => Some("(anonymous function)".to_string()),
            Tok::Word(w) if !NOT_FUNCTIONS.contains(&w.as_str()) => Some(w),
            _ => None,
        },
        _ => None,
    }
}

#[test]
fn js_functions_known_answers() {
    let js = r#""use strict";
{
  // A comment's { does not count, nor a string's "{" or a regex's /{[/]/.
  function outer(a) {
    if (a) { a = "}"; }
    const re = /[/}]{2}\/x/g;
    const t = `${ { k: "}" }.k } ${a ? `${a}}` : ""}`;
    for (const x of [1, 2]) { a += x / 2; }
    return items.map((x) => {
      return x;
    });
  }
  const obj = {
    get(key) { return key; },
    run: function () {
      /* { */
    },
  };
}
"#;
    let found: Vec<(String, usize, usize)> = js_functions(js)
        .into_iter()
        .map(|f| (f.name, f.line, f.lines))
        .collect();
    let want = [
        ("(arrow function)", 9, 3),
        ("outer", 4, 9),
        ("get", 14, 1),
        ("(anonymous function)", 15, 3),
    ];
    let want: Vec<(String, usize, usize)> = want
        .iter()
        .map(|(n, l, s)| (n.to_string(), *l, *s))
        .collect();
    assert_eq!(found, want);

    let long = format!("function f() {{\n{}}}\n", "  x();\n".repeat(80));
    assert_eq!(
        js_functions(&long),
        [JsFunction {
            name: "f".into(),
            line: 1,
            lines: 82
        }]
    );
}

/// The rule for our own scripts in `assets/`: no function over 80 lines (a function's lines
/// include those of the functions inside it). Prints the longest ones.
#[test]
fn no_function_in_our_scripts_exceeds_80_lines() {
    let assets = concat!(env!("CARGO_MANIFEST_DIR"), "/assets");
    let mut scripts = 0;
    for entry in std::fs::read_dir(assets).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "js") {
            continue;
        }
        scripts += 1;
        let mut functions = js_functions(&std::fs::read_to_string(&path).unwrap());
        functions.sort_by_key(|f| std::cmp::Reverse(f.lines));
        println!("{}: {} functions", path.display(), functions.len());
        for f in functions.iter().take(5) {
            println!("  {} lines: {} (line {})", f.lines, f.name, f.line);
        }
        let long: Vec<&JsFunction> = functions.iter().filter(|f| f.lines > 80).collect();
        assert!(long.is_empty(), "{}: {long:#?}", path.display());
        if path.ends_with("page.js") {
            assert!(
                functions.len() > 40,
                "page.js: the scanner found too little"
            );
        }
    }
    assert!(scripts >= 3, "found only {scripts} scripts in {assets}");
}
