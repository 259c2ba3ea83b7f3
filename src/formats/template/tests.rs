use super::*;

fn escapes(source: &str) -> Vec<(String, String)> {
    analyse_source(source).expect(source).escapes
}

fn is_escape(source: &str) -> bool {
    let a = analyse_source(source).expect(source);
    !a.escapes.is_empty()
        || (a.dynamic_attribute && (!a.gadgets.is_empty() || !a.dunder_strings.is_empty()))
}

#[test]
fn plain_and_obfuscated_escapes_are_found() {
    let malicious = [
        "{{ self.__init__.__globals__.__builtins__.__import__('os').popen('id').read() }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "{{ joiner.__init__.__globals__['os'] }}",
        "{{ lipsum.__globals__['os'].popen('id') }}",
        "{{ namespace.__init__.__globals__.os }}",
        "{{ range.__init__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler|attr('__in' ~ 'it__')|attr('__glo' + 'bals__') }}",
        "{{ cycler|attr('\\x5f\\x5finit\\x5f\\x5f') }}",
        "{{ cycler|attr('\\u005f\\u005finit\\u005f\\u005f') }}",
        "{{ cycler|attr('\\137\\137init\\137\\137') }}",
        "{{ lipsum|attr(['__glo', 'bals__']|join) }}",
        "{{ lipsum|attr('%c%cglobals%c%c'|format(95, 95, 95, 95)) }}",
        "{{ lipsum|attr('{}{}'.format('__glo', 'bals__')) }}",
        "{{ lipsum|attr(('__slabolg__')|reverse) }}",
        "{{ lipsum|attr('__slabolg__'[::-1]) }}",
        "{{ lipsum|attr('X__GLOBALS__X'[1:-1]|lower) }}",
        "{{ lipsum|attr(dict(__globals__=1)|list|first) }}",
        "{{ lipsum|attr('_' * 2 ~ 'globals' ~ '_' * 2) }}",
        "{% set a = '__glo' %}{% set b = a ~ 'bals__' %}{{ lipsum|attr(b) }}",
        "{% set ns = namespace(x='__glo') %}{% set ns.x = ns.x ~ 'bals__' %}{{ lipsum|attr(ns.x) }}",
        "{% set n %}__globals__{% endset %}{{ lipsum|attr(n) }}",
        "{% macro n() %}__globals__{% endmacro %}{{ lipsum|attr(n()) }}",
        "{% set ns = namespace(n='') %}{% for c in '__globals__' %}{% set ns.n = ns.n ~ c %}{% endfor %}{{ lipsum|attr(ns.n) }}",
        "{{ lipsum[('__glo' ~ 'bals__')] }}",
        "{{ ([lipsum]|map(attribute='__globals__')|first).os }}",
        "{{ [lipsum]|map('attr', '__globals__')|list }}",
        "{{ messages|selectattr('__class__') }}",
        "{{ '{0.__class__.__base__}'.format(messages) }}",
        "{{ getattr(x, '__cl' ~ 'ass__') }}",
        "{% for x in ().__class__.__base__.__subclasses__() %}{% if 'warning' in x.__name__ %}{{ x()._module.__builtins__['__import__']('os').popen('id') }}{% endif %}{% endfor %}",
        "{{ self._TemplateReference__context }}",
        "{{ x.gi_frame.f_back.f_globals }}",
        "{{ lipsum|attr(request.args.a) }}",
        "{{ lipsum|attr((lipsum|string|list)[18] * 2 ~ 'globals') }}",
        "{% set x = [lipsum] %}{{ x|map('at' ~ 'tr', '__glo' ~ 'bals__')|first }}",
        "{{ lipsum|attr('%s%s' % ('__glo', 'bals__')) }}",
        "{%- generation -%}{{ cycler.__init__ }}{%- endgeneration -%}",
        // Calls right after filters (Jinja2 parses them; minijinja needs the parentheses).
        "{{ lipsum|attr('__glo' ~ 'bals__')|attr('get')('os') }}",
        "{{ self|attr('_TemplateReference__context')|attr('cycler')('x') }}",
        "{% for m in messages %}{{ (lipsum|attr(g))['os']|attr('popen')('id')|attr('read')() }}{% endfor %}",
    ];
    for source in malicious {
        assert!(is_escape(source), "not caught: {source}");
    }
}

#[test]
fn evidence_shows_the_folded_path() {
    let found = escapes(
        "{{ ((cycler|attr('__in' ~ 'it__')|attr('\\x5f\\x5fglobals\\x5f\\x5f')|attr('__getitem__'))('o' ~ 's')|attr('po' + 'pen'))('id') }}",
    );
    let (what, evidence) = &found[0];
    assert!(
        evidence.contains("cycler.__init__.__globals__.__getitem__"),
        "{evidence}"
    );
    assert!(
        what.contains("`__globals__`") && what.contains("`popen`"),
        "{what}"
    );
}

#[test]
fn ordinary_template_idioms_are_clean() {
    let benign = [
        "{% for message in messages %}{{ message['role'] ~ ': ' ~ message.content|trim }}{% endfor %}",
        "{%- set ns = namespace(found=false) -%}{%- for m in messages -%}{%- if m.role == 'system' -%}{%- set ns.found = true -%}{%- endif -%}{%- endfor -%}",
        "{{ messages|selectattr('role', 'equalto', 'user')|list|length }}",
        "{{ tools|map(attribute='function')|map('tojson')|join('\\n') }}",
        "{% for k, v in tool.items() if k != 'return' %}{{ k }}={{ v|tojson(indent=4) }}{% endfor %}",
        "{{ raise_exception('roles must alternate') if messages[0].role != 'user' }}",
        "{{ strftime_now('%d %b %Y') }}{{ messages[-1].content[:10] }}",
        "{% for i in range(messages|length) %}{{ loop.index0 }}{% break %}{% endfor %}",
        "{%- generation %}{{ message.content }}{% endgeneration -%}",
        "{{ '_' ~ message.name }}{{ message['__private'] if false }}",
        "{% macro render(m) %}{{ m.content }}{% endmacro %}{{ render(messages[0]) }}",
        "{{ cycler('odd', 'even').next() }}",
    ];
    for source in benign {
        let a = analyse_source(source).expect(source);
        assert!(
            a.escapes.is_empty() && a.suspicious.is_empty() && !a.dynamic_attribute,
            "{source}: {a:?}"
        );
    }
}

#[test]
fn suspicious_constructs_are_named() {
    for (source, what) in [
        ("{{ x|attr(y) }}", "computed at render time"),
        ("{{ config.items() }}", "web-framework object"),
        ("{% include 'other.jinja' %}", "includes another template"),
        ("{{ cycler.foo }}", "documented use"),
        ("{{ lipsum|string }}", "into text"),
    ] {
        let a = analyse_source(source).expect(source);
        assert!(a.escapes.is_empty(), "{source}");
        assert!(
            a.suspicious.iter().any(|(w, _)| w.contains(what)),
            "{source}: {a:?}"
        );
    }
}

#[test]
fn unparseable_templates_say_why_and_bombs_do_not_crash() {
    assert!(analyse_source("{% for m in messages %}{{ m }").is_err());
    assert!(analyse_source("{% if x %}").is_err());
    let deep = "{{ ".to_owned() + &"(".repeat(5000) + "1" + &")".repeat(5000) + " }}";
    assert!(analyse_source(&deep).is_err());
    let wide = "{{ '_' * 99999999999 }}".repeat(100);
    assert!(analyse_source(&wide).is_ok());
    let loops = "{% for a in range(200) %}{% for b in range(200) %}{% for c in range(200) %}{% set x = a %}{% endfor %}{% endfor %}{% endfor %}";
    assert!(analyse_source(loops).is_ok());
}

#[test]
fn calls_after_filters_are_parenthesised_as_jinja2_reads_them() {
    let repaired = |s: &str| parenthesise_filter_calls(s);
    assert_eq!(
        repaired("{{ x|attr('a')('b') }}").as_deref(),
        Some("{{ (x|attr('a'))('b') }}")
    );
    assert_eq!(
        repaired("{{ a.b[0]|f(1)|g(2)(3)|h(4)(5) }}").as_deref(),
        Some("{{ ((a.b[0]|f(1)|g(2))(3)|h(4))(5) }}")
    );
    assert_eq!(
        repaired("{% for c in x|f(1)(2) %}{% endfor %}").as_deref(),
        Some("{% for c in (x|f(1))(2) %}{% endfor %}")
    );
    assert_eq!(
        repaired("{{ 'a' ~ x|f(1)(2) }}").as_deref(),
        Some("{{ 'a' ~ (x|f(1))(2) }}")
    );
    // Filter arguments are not calls; nothing else is touched.
    assert_eq!(repaired("{{ x|attr('a') }}{{ f(1)(2) }}"), None);
    let chained = "{{ x".to_owned() + &"|f(1)(2)".repeat(3000) + " }}";
    let _ = analyse_source(&chained);
}

#[test]
fn generation_tags_are_rewritten_in_place() {
    // A tag-length byte offset inside a multi-byte character is no char boundary.
    assert!(analyse_source("{% endif %}{{'<｜Assistant｜>'}}").is_err());
    assert!(analyse_source("{%｜generation｜%}").is_err());
    let source = "{%- generation -%}x{% endgeneration %}";
    let rewritten = rewrite_extensions(source);
    assert_eq!(rewritten.len(), source.len());
    assert!(rewritten.contains("if true") && rewritten.contains("endif"));
    assert_eq!(rewrite_extensions("{% generations %}"), "{% generations %}");
}

#[test]
fn json_templates_in_both_shapes() {
    let v: Json = serde_json::from_str(
        r#"{"chat_template":[{"name":"default","template":"a"},{"name":"rag","template":"b"}]}"#,
    )
    .unwrap();
    let found = json_templates(&v);
    assert_eq!(found.len(), 2);
    assert!(found[1].0.contains("rag"));
    let v: Json = serde_json::from_str(r#"{"chat_template":"x"}"#).unwrap();
    assert_eq!(json_templates(&v)[0].1, "x");
    // transformers' dict of named templates: every entry.
    let v: Json =
        serde_json::from_str(r#"{"chat_template":{"default":"d","tool_use":"t"}}"#).unwrap();
    let found = json_templates(&v);
    assert_eq!(found.len(), 2);
    assert!(found[0].0.contains("default") && found[0].1 == "d");
}

/// Jinja2 decodes string literals with Python's unicode-escape: `\N{…}`, `\U…`, octal and
/// `\`-newline spell the same names as plain text.
#[test]
fn jinja2_string_escapes_are_decoded_as_python_does() {
    for us in [
        r"\N{LOW LINE}",
        r"\N{low line}",
        r"\U0000005f",
        r"\137",
        r"\x5f",
        r"\u005f",
    ] {
        let name = |n: &str| n.replace('_', us);
        let t = format!(
            "{{{{ cycler|attr('{}')|attr('{}')|attr('{}')('os')|attr('popen')('id') }}}}",
            name("__init__"),
            name("__globals__"),
            name("__getitem__")
        );
        assert!(is_escape(&t), "{t}");
    }
    assert!(is_escape("{{ cycler.__init__|attr('__glo\\\nbals__') }}"));
    // A name outside the table: the string is reported, not dropped.
    let a = analyse_source("{{ x|attr('\\N{LATIN SMALL LETTER O WITH DIAERESIS}') }}").unwrap();
    assert!(a.suspicious.iter().any(|(_, e)| e.contains("DIAERESIS")));
}

/// Jinja2 syntax minijinja refuses is rewritten to what Jinja2 reads.
#[test]
fn jinja2_only_syntax_is_read() {
    assert!(is_escape(
        "x{{ bos_token, '' }}{{ cycler.__init__.__globals__.os.popen('id') }}"
    ));
    assert!(is_escape(
        "{{\u{b}cycler.__init__.__globals__.os.popen('id') }}"
    ));
    assert!(is_escape(
        "{%\u{a0}if x %}{{ cycler.__init__.__globals__ }}{% endif %}"
    ));
}

/// A cheap stand-in for the fuzz target where cargo-fuzz is not installed: every collected real
/// template, cut at many places and with escape fragments spliced in, never panics.
#[test]
fn cut_and_spliced_real_templates_never_panic() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/templates");
    let mut stack = vec![root];
    let mut files = Vec::new();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "jinja") {
                files.push(path);
            }
        }
    }
    assert!(!files.is_empty());
    const SPLICES: &[&str] = &[
        "{{",
        "{%",
        "}}",
        "|attr('__x__')(",
        ")(",
        "|",
        "'",
        "{% generation %}",
        "｜",
    ];
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let cuts: Vec<usize> = text
            .char_indices()
            .map(|(i, _)| i)
            .step_by((text.len() / 40).max(1))
            .collect();
        for &at in &cuts {
            let _ = analyse_source(&text[..at]);
            for splice in SPLICES {
                let spliced = format!("{}{splice}{}", &text[..at], &text[at..]);
                let _ = analyse_source(&spliced);
            }
        }
    }
}
