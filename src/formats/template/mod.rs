//! Jinja2 chat templates, wherever they live: GGUF `tokenizer.chat_template[.<name>]` (handed
//! over by the GGUF analyser), `tokenizer_config.json` / `chat_template.json` /
//! `processor_config.json` (`chat_template` as a string or a list of `{name, template}`), and
//! template text files (`chat_template.jinja`), all recognised by content.
//!
//! Templates are parsed with minijinja's parser (the Jinja2 grammar; transformers'
//! `{% generation %}` tag is rewritten to a plain block first) and the AST is analysed, not
//! the text: every attribute, item and `|attr` lookup, `map(attribute=...)`-style dotted
//! paths and `str.format` fields, with names folded to constants ([`fold`]) so that
//! `'__glo' ~ 'bals__'`, `['po','pen']|join` or `'\x5f\x5f'` escapes are seen as the name
//! Python will look up.

pub mod fold;

use minijinja::machinery::ast::{self, CallArg, Expr, Stmt};
use minijinja::machinery::parse;
use minijinja::syntax::SyntaxConfig;
use serde_json::Value as Json;

use crate::model::rules::RuleId;
use crate::scan::context::{Ctx, Origin};

use fold::{Env, Val};

/// How sure the caller is that the text is a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strictness {
    /// Named as a chat template: a parse error is a finding.
    Template,
    /// Any other string with Jinja markers: analysed if it parses, left alone if not.
    MaybeTemplate,
}

/// Templates longer than this are not parsed (real ones are a few KiB; the longest public
/// tool-use templates about 20 KiB).
const MAX_TEMPLATE: usize = 1 << 20;
/// `{% for %}` loops over constant lists are unrolled (for the variables they set) up to this
/// many items.
const MAX_UNROLL: usize = 256;
/// Statements visited per template, unrolled loops included.
const MAX_STEPS: usize = 200_000;

/// Whether a string looks like Jinja source.
pub fn looks_like_jinja(text: &str) -> bool {
    text.contains("{%") || text.contains("{{")
}

/// What one template does that matters.
#[derive(Debug, Default)]
pub struct Analysis {
    /// Accesses to Python internals: (what, folded rendering of the statement's expression).
    pub escapes: Vec<(String, String)>,
    /// Suspicious constructs: (what, where).
    pub suspicious: Vec<(String, String)>,
    /// Whether an attribute name could not be folded.
    dynamic_attribute: bool,
    /// Gadget or web-framework globals referenced.
    gadgets: Vec<String>,
    /// Folded strings that name Python internals.
    dunder_strings: Vec<String>,
    steps: usize,
}

/// Parses and analyses `source`, reporting findings at `offset` of the current member.
pub fn analyse_template(
    source: &str,
    context: &str,
    offset: Option<u64>,
    strictness: Strictness,
    ctx: &mut Ctx<'_>,
) {
    if source.len() > MAX_TEMPLATE {
        if strictness == Strictness::Template {
            ctx.report(
                RuleId::TemplateUnparseable,
                offset,
                format!(
                    "the chat template ({context}) is {} bytes, over the {MAX_TEMPLATE}-byte limit; it was not parsed",
                    source.len()
                ),
                None,
            );
        }
        return;
    }
    match analyse_source(source) {
        Err(e) => {
            if strictness == Strictness::Template {
                ctx.report(
                    RuleId::TemplateUnparseable,
                    offset,
                    format!("the chat template ({context}) does not parse as Jinja2: {e}"),
                    None,
                );
            }
        }
        Ok(analysis) => report(&analysis, context, offset, ctx),
    }
}

fn report(analysis: &Analysis, context: &str, offset: Option<u64>, ctx: &mut Ctx<'_>) {
    for (what, evidence) in &analysis.escapes {
        ctx.report(
            RuleId::TemplateSandboxEscape,
            offset,
            format!("the chat template ({context}) {what}"),
            Some(evidence.clone()),
        );
    }
    let escalate = analysis.escapes.is_empty()
        && analysis.dynamic_attribute
        && (!analysis.gadgets.is_empty() || !analysis.dunder_strings.is_empty());
    if escalate {
        let mut why = Vec::new();
        if !analysis.gadgets.is_empty() {
            why.push(format!("uses {}", analysis.gadgets.join(", ")));
        }
        if !analysis.dunder_strings.is_empty() {
            why.push(format!(
                "carries strings naming Python internals ({})",
                analysis.dunder_strings.join(", ")
            ));
        }
        let evidence = analysis
            .suspicious
            .iter()
            .map(|(_, e)| e.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        ctx.report(
            RuleId::TemplateSandboxEscape,
            offset,
            format!(
                "the chat template ({context}) looks up attributes by names built at render time and {}: the shape of a sandbox escape whose names are hidden",
                why.join(" and ")
            ),
            Some(evidence),
        );
    }
    for (what, evidence) in &analysis.suspicious {
        ctx.report(
            RuleId::TemplateSuspiciousConstruct,
            offset,
            format!("the chat template ({context}) {what}"),
            Some(evidence.clone()),
        );
    }
    if analysis.escapes.is_empty() && !analysis.dynamic_attribute {
        for s in &analysis.dunder_strings {
            ctx.report(
                RuleId::TemplateSuspiciousConstruct,
                offset,
                format!(
                    "the chat template ({context}) builds the string `{s}`, a Python internal, without a visible lookup"
                ),
                None,
            );
        }
    }
}

/// Rewrites transformers' `{% generation %}` / `{% endgeneration %}` (its `AssistantTracker`
/// extension) to `{% if true %}` / `{% endif %}` of the same length, so offsets stay put.
fn rewrite_extensions(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(at) = rest.find("{%") {
        out.push_str(&rest[..at + 2]);
        rest = &rest[at + 2..];
        let lead = rest
            .char_indices()
            .find(|&(_, c)| !(c == '-' || c == '+' || c.is_whitespace()))
            .map_or(rest.len(), |(i, _)| i);
        out.push_str(&rest[..lead]);
        rest = &rest[lead..];
        for (tag, with) in [("endgeneration", "endif"), ("generation", "if true")] {
            let ends = rest
                .as_bytes()
                .get(tag.len())
                .is_some_and(|&c| c.is_ascii_whitespace() || matches!(c, b'-' | b'+' | b'%'));
            if rest.starts_with(tag) && ends {
                out.push_str(with);
                out.push_str(&" ".repeat(tag.len() - with.len()));
                rest = &rest[tag.len()..];
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Tokens looked at when repairing calls after filters; longer templates are not repaired.
const MAX_REPAIR_TOKENS: usize = 200_000;

/// Jinja2 lets a call follow a filter (`lipsum|attr('__globals__')('os')`: its
/// `parse_filter_expr` loops over `|`, `is` and `(`), minijinja does not. Wraps each such filter
/// chain in parentheses (`(lipsum|attr('__globals__'))('os')`), which is what Jinja2 parses it
/// as, so that the template is analysed rather than only refused. `None` when there is nothing
/// to repair (or the text does not tokenize).
fn parenthesise_filter_calls(source: &str) -> Option<String> {
    use minijinja::machinery::{Token, tokenize};
    let mut tokens = Vec::new();
    for token in tokenize(source, false, SyntaxConfig::default()) {
        tokens.push(token.ok()?);
        if tokens.len() > MAX_REPAIR_TOKENS {
            return None;
        }
    }
    // The bracket that opens each closing bracket (one pass; blocks reset it).
    let mut open_at: Vec<Option<usize>> = vec![None; tokens.len()];
    let mut stack = Vec::new();
    for (i, (token, _)) in tokens.iter().enumerate() {
        match token {
            Token::ParenOpen | Token::BracketOpen | Token::BraceOpen => stack.push(i),
            Token::ParenClose | Token::BracketClose | Token::BraceClose => open_at[i] = stack.pop(),
            Token::VariableStart | Token::BlockStart => stack.clear(),
            _ => {}
        }
    }
    let open_of = |close: usize| open_at[close];
    // Steps walked back over operands, all calls together: past it nothing is repaired.
    let mut budget: usize = 1_000_000;
    let is_atom = |t: &Token<'_>| {
        matches!(
            t,
            Token::Ident(_)
                | Token::Str(_)
                | Token::String(_)
                | Token::Int(_)
                | Token::Int128(_)
                | Token::Float(_)
        )
    };
    let mut inserts: Vec<(usize, char)> = Vec::new();
    for call in 1..tokens.len() {
        if !matches!(tokens[call].0, Token::ParenOpen) {
            continue;
        }
        // The filter right before the call: `| name` or `| name(args)`.
        let end = call - 1;
        // (A filter without arguments followed by `(` takes it as its arguments.)
        let name = match tokens[end].0 {
            Token::ParenClose => match open_of(end).and_then(|o| o.checked_sub(1)) {
                Some(n) => n,
                None => continue,
            },
            _ => continue,
        };
        let Some(pipe) = name.checked_sub(1) else {
            continue;
        };
        if !matches!(tokens[name].0, Token::Ident(_)) || !matches!(tokens[pipe].0, Token::Pipe) {
            continue;
        }
        // Back over the filtered operand: atoms, `.name`, `[…]`, `(…)` and earlier filters.
        let mut start = pipe;
        let mut need_operand = true;
        while let Some(prev) = start.checked_sub(1) {
            budget = budget.checked_sub(1)?;
            let token = &tokens[prev].0;
            if need_operand {
                if matches!(
                    token,
                    Token::ParenClose | Token::BracketClose | Token::BraceClose
                ) {
                    match open_of(prev) {
                        Some(open) => start = open,
                        None => break,
                    }
                } else if is_atom(token) {
                    start = prev;
                } else {
                    break;
                }
                need_operand = false;
            } else if matches!(token, Token::Dot | Token::Pipe) {
                start = prev;
                need_operand = true;
            } else if matches!(tokens[start].0, Token::ParenOpen | Token::BracketOpen)
                && (is_atom(token)
                    && !matches!(
                        token,
                        Token::Ident(
                            "in" | "not"
                                | "and"
                                | "or"
                                | "if"
                                | "else"
                                | "is"
                                | "for"
                                | "set"
                                | "elif"
                                | "print"
                                | "with"
                                | "return"
                        )
                    )
                    || matches!(token, Token::ParenClose | Token::BracketClose))
            {
                // A call or subscript of what comes before.
                need_operand = true;
            } else {
                break;
            }
        }
        if need_operand || start >= pipe {
            continue;
        }
        inserts.push((tokens[start].1.start_offset as usize, '('));
        inserts.push((tokens[end].1.end_offset as usize, ')'));
    }
    if inserts.is_empty() {
        return None;
    }
    // Stable: at one offset, closings (earlier chains) before openings (later ones).
    inserts.sort_by_key(|&(at, c)| (at, c == '('));
    let mut out = String::with_capacity(source.len() + inserts.len());
    let mut last = 0;
    for (at, c) in inserts {
        out.push_str(source.get(last..at)?);
        out.push(c);
        last = at;
    }
    out.push_str(&source[last..]);
    Some(out)
}

fn parse_message(e: &minijinja::Error) -> String {
    let mut message = e.kind().to_string();
    if let Some(detail) = e.detail() {
        message = format!("{message}: {detail}");
    }
    if let Some(line) = e.line() {
        message = format!("{message} (line {line})");
    }
    message
}

/// Parses and analyses a template. `Err` holds the parser's message.
pub fn analyse_source(source: &str) -> Result<Analysis, String> {
    let original = rewrite_extensions(source);
    let repaired;
    let source: &str = match parse(&original, "chat_template", SyntaxConfig::default()) {
        Ok(_) => &original,
        Err(e) => {
            // Calls right after filters are Jinja2 that minijinja refuses: analyse the
            // parenthesised form, which Jinja2 reads the same way.
            let message = parse_message(&e);
            repaired = parenthesise_filter_calls(&original).ok_or_else(|| message.clone())?;
            if parse(&repaired, "chat_template", SyntaxConfig::default()).is_err() {
                return Err(message);
            }
            &repaired
        }
    };
    let tree =
        parse(source, "chat_template", SyntaxConfig::default()).map_err(|e| parse_message(&e))?;
    let mut walker = Walker {
        source,
        env: Env::default(),
        out: Analysis::default(),
    };
    walker.stmt(&tree);
    walker.out.gadgets.sort();
    walker.out.gadgets.dedup();
    walker.out.dunder_strings.sort();
    walker.out.dunder_strings.dedup();
    Ok(walker.out)
}

/// Names that give a template a way out of Jinja into Python: dunders, name-mangled privates
/// (`_TemplateReference__context`), and the frame/function/code internals reachable without
/// dunders.
fn is_internal(name: &str) -> bool {
    let dunder = name.len() > 4 && name.starts_with("__") && name.ends_with("__");
    let mangled = name.starts_with('_') && name[1..].contains("__");
    const INTERNALS: &[&str] = &[
        "mro",
        "func_globals",
        "func_code",
        "func_closure",
        "f_globals",
        "f_locals",
        "f_builtins",
        "f_back",
        "f_code",
        "gi_frame",
        "gi_code",
        "cr_frame",
        "cr_code",
        "ag_frame",
        "ag_code",
        "tb_frame",
        "tb_next",
        "co_code",
        "co_consts",
        "im_func",
        "im_self",
        "im_class",
        "_module",
        "_TemplateReference__context",
    ];
    dunder || mangled || INTERNALS.contains(&name)
}

/// Jinja's own globals whose Python objects are the usual first step of an escape
/// (`cycler.__init__.__globals__`), with the attributes a template may legitimately use.
const JINJA_GADGETS: &[(&str, &[&str])] = &[
    ("cycler", &["next", "reset", "current"]),
    ("joiner", &[]),
    ("lipsum", &[]),
    ("namespace", &[]),
    ("range", &[]),
    ("dict", &[]),
];
/// Flask/web-framework globals, and the template's own reference: nothing a chat template uses.
const FOREIGN_GLOBALS: &[&str] = &[
    "self",
    "config",
    "request",
    "session",
    "g",
    "url_for",
    "get_flashed_messages",
];

/// Attribute and method names that, on a path that already left Jinja, say where it goes.
const REACHES: &[&str] = &[
    "__globals__",
    "__builtins__",
    "__subclasses__",
    "__import__",
    "__mro__",
    "__base__",
    "__bases__",
    "__init__",
    "__class__",
    "os",
    "sys",
    "subprocess",
    "popen",
    "system",
    "import_module",
    "eval",
    "exec",
    "compile",
    "open",
    "check_output",
    "Popen",
    "spawn",
    "read",
];

struct Walker<'s> {
    source: &'s str,
    env: Env,
    out: Analysis,
}

impl Walker<'_> {
    fn stmts(&mut self, stmts: &[Stmt<'_>]) {
        for s in stmts {
            self.stmt(s);
        }
    }

    fn stmt(&mut self, stmt: &Stmt<'_>) {
        self.out.steps += 1;
        if self.out.steps > MAX_STEPS {
            return;
        }
        match stmt {
            Stmt::Template(t) => self.stmts(&t.children),
            Stmt::EmitExpr(e) => self.top(&e.expr),
            Stmt::EmitRaw(_) => {}
            Stmt::ForLoop(f) => {
                self.top(&f.iter);
                let items = match fold::fold(&f.iter, &self.env) {
                    Val::List(items) if items.len() <= MAX_UNROLL => Some(items),
                    Val::Str(s) if s.chars().count() <= MAX_UNROLL => {
                        Some(s.chars().map(|c| Val::Str(c.to_string())).collect())
                    }
                    _ => None,
                };
                match items {
                    Some(items) if !items.is_empty() => {
                        for item in items {
                            self.bind(&f.target, item);
                            if let Some(filter) = &f.filter_expr {
                                self.top(filter);
                            }
                            self.stmts(&f.body);
                        }
                    }
                    _ => {
                        self.bind(&f.target, Val::Unknown);
                        if let Some(filter) = &f.filter_expr {
                            self.top(filter);
                        }
                        self.stmts(&f.body);
                    }
                }
                self.stmts(&f.else_body);
            }
            Stmt::IfCond(i) => {
                self.top(&i.expr);
                self.stmts(&i.true_body);
                self.stmts(&i.false_body);
            }
            Stmt::WithBlock(w) => {
                for (target, value) in &w.assignments {
                    self.top(value);
                    let v = fold::fold(value, &self.env);
                    self.bind(target, v);
                }
                self.stmts(&w.body);
            }
            Stmt::Set(s) => {
                self.top(&s.expr);
                let v = fold::fold(&s.expr, &self.env);
                self.bind(&s.target, v);
            }
            Stmt::SetBlock(s) => {
                if let Some(filter) = &s.filter {
                    self.top(filter);
                }
                self.stmts(&s.body);
                let body = self.fold_body(&s.body);
                let v = match (&s.filter, body) {
                    (Some(Expr::Filter(f)), Val::Str(text)) => {
                        let (pos, kw) = fold::args(&f.args, &self.env);
                        fold::filter(f.name, Val::Str(text), &pos, &kw)
                    }
                    (None, body) => body,
                    _ => Val::Unknown,
                };
                self.bind(&s.target, v);
            }
            Stmt::AutoEscape(a) => {
                self.top(&a.enabled);
                self.stmts(&a.body);
            }
            Stmt::FilterBlock(f) => {
                self.top(&f.filter);
                self.stmts(&f.body);
            }
            Stmt::Block(b) => {
                self.suspicious(format!("defines a block `{}`", b.name), b.name.to_owned());
                self.stmts(&b.body);
            }
            Stmt::Import(i) => {
                self.top(&i.expr);
                self.suspicious("imports another template".to_owned(), self.render(&i.expr));
            }
            Stmt::FromImport(i) => {
                self.top(&i.expr);
                self.suspicious(
                    "imports from another template".to_owned(),
                    self.render(&i.expr),
                );
            }
            Stmt::Extends(e) => {
                self.top(&e.name);
                self.suspicious("extends another template".to_owned(), self.render(&e.name));
            }
            Stmt::Include(i) => {
                self.top(&i.name);
                self.suspicious("includes another template".to_owned(), self.render(&i.name));
            }
            Stmt::Macro(m) => {
                for d in &m.defaults {
                    self.top(d);
                }
                let saved = self.env.clone();
                for arg in &m.args {
                    self.bind(arg, Val::Unknown);
                }
                self.stmts(&m.body);
                let body = self.fold_body(&m.body);
                self.env = saved;
                if m.args.is_empty() {
                    self.env.macros.insert(m.name.to_owned(), body);
                }
            }
            Stmt::CallBlock(c) => {
                self.call_args(&c.call.args);
                self.top(&c.call.expr);
                self.stmt_macro_body(&c.macro_decl);
            }
            Stmt::Continue(_) | Stmt::Break(_) => {}
            Stmt::Do(d) => {
                self.call_args(&d.call.args);
                self.top(&d.call.expr);
            }
        }
    }

    fn stmt_macro_body(&mut self, m: &ast::Macro<'_>) {
        for d in &m.defaults {
            self.top(d);
        }
        self.stmts(&m.body);
    }

    fn call_args(&mut self, args: &[CallArg<'_>]) {
        for a in args {
            match a {
                CallArg::Pos(e)
                | CallArg::Kwarg(_, e)
                | CallArg::PosSplat(e)
                | CallArg::KwargSplat(e) => {
                    self.top(e);
                }
            }
        }
    }

    /// The text a block body renders, when every piece of it is constant.
    fn fold_body(&self, body: &[Stmt<'_>]) -> Val {
        let mut out = String::new();
        for s in body {
            match s {
                Stmt::EmitRaw(r) => out.push_str(r.raw),
                Stmt::EmitExpr(e) => match fold::fold(&e.expr, &self.env).to_text() {
                    Some(t) => out.push_str(&t),
                    None => return Val::Unknown,
                },
                _ => return Val::Unknown,
            }
            if out.len() > fold::MAX_LEN {
                return Val::Unknown;
            }
        }
        Val::Str(out)
    }

    /// Binds an assignment target (`x`, `a, b`, `ns.attr`) to a folded value.
    fn bind(&mut self, target: &Expr<'_>, value: Val) {
        match target {
            Expr::Var(v) => {
                self.env.vars.insert(v.id.to_owned(), value);
            }
            Expr::Tuple(t) => {
                let items = match value {
                    Val::List(items) if items.len() == t.items.len() => items,
                    _ => vec![Val::Unknown; t.items.len()],
                };
                for (target, item) in t.items.iter().zip(items) {
                    self.bind(target, item);
                }
            }
            Expr::GetAttr(g) => {
                if let Expr::Var(v) = &g.expr {
                    let entry = self.env.vars.entry(v.id.to_owned()).or_insert(Val::Unknown);
                    if let Val::Map(m) = entry {
                        m.insert(g.name.to_owned(), value);
                    }
                }
            }
            _ => {}
        }
    }

    /// A statement-level expression: the unit rendered as evidence.
    fn top(&mut self, e: &Expr<'_>) {
        let mut found = Vec::new();
        self.visit(e, &mut found);
        if found.is_empty() {
            return;
        }
        let rendered = self.render(e);
        let reached: Vec<&str> = REACHES
            .iter()
            .copied()
            .filter(|name| contains_name(&rendered, name))
            .collect();
        let names: Vec<String> = found.iter().map(|n| format!("`{n}`")).collect();
        let mut what = format!("looks up {} (Python internals)", names.join(", "));
        if !reached.is_empty() {
            what.push_str(&format!(
                "; the expression reaches {}",
                reached
                    .iter()
                    .map(|r| format!("`{r}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        what.push_str(": rendering it with an unsandboxed Jinja environment runs Python");
        self.out.escapes.push((what, rendered));
    }

    fn suspicious(&mut self, what: String, evidence: String) {
        if !self
            .out
            .suspicious
            .iter()
            .any(|(w, e)| *w == what && *e == evidence)
        {
            self.out.suspicious.push((what, evidence));
        }
    }

    /// Checks a looked-up name (already folded).
    fn name(&mut self, name: &str, found: &mut Vec<String>) {
        if is_internal(name) && !found.iter().any(|n| n == name) {
            found.push(name.to_owned());
        }
    }

    /// Records a folded string that names an internal without being looked up (yet).
    fn note_string(&mut self, v: &Val) {
        if let Val::Str(s) = v
            && s.len() <= 64
        {
            for part in s.split(['.', '[', ']', '\'', '"', ' ', '(', ')']) {
                if is_internal(part) && part.starts_with("__") {
                    self.out.dunder_strings.push(part.to_owned());
                }
            }
        }
    }

    fn dynamic(&mut self, e: &Expr<'_>, how: &str) {
        self.out.dynamic_attribute = true;
        let rendered = self.render(e);
        self.suspicious(
            format!("looks up an attribute whose name is computed at render time ({how})"),
            rendered,
        );
    }

    fn visit(&mut self, e: &Expr<'_>, found: &mut Vec<String>) {
        match e {
            Expr::Var(v) => {
                if FOREIGN_GLOBALS.contains(&v.id) && !self.env.vars.contains_key(v.id) {
                    self.out.gadgets.push(v.id.to_owned());
                    self.suspicious(
                        format!(
                            "uses `{}`, a web-framework object no chat template needs",
                            v.id
                        ),
                        v.id.to_owned(),
                    );
                }
            }
            Expr::Const(c) => self.note_string(&fold::from_const(&c.value)),
            Expr::Slice(s) => {
                self.visit(&s.expr, found);
                for part in [&s.start, &s.stop, &s.step].into_iter().flatten() {
                    self.visit(part, found);
                }
            }
            Expr::UnaryOp(u) => self.visit(&u.expr, found),
            Expr::BinOp(b) => {
                self.visit(&b.left, found);
                self.visit(&b.right, found);
                let v = fold::fold(e, &self.env);
                self.note_string(&v);
            }
            Expr::Compare(c) => {
                self.visit(&c.expr, found);
                for op in &c.ops {
                    self.visit(&op.expr, found);
                }
            }
            Expr::IfExpr(i) => {
                self.visit(&i.test_expr, found);
                self.visit(&i.true_expr, found);
                if let Some(f) = &i.false_expr {
                    self.visit(f, found);
                }
            }
            Expr::Filter(f) => {
                if let Some(target) = &f.expr {
                    self.visit(target, found);
                    self.gadget_stringified(target, f.name);
                }
                self.visit_args(&f.args, found);
                self.filter(f, e, found);
                let v = fold::fold(e, &self.env);
                self.note_string(&v);
            }
            Expr::Test(t) => {
                self.visit(&t.expr, found);
                self.visit_args(&t.args, found);
            }
            Expr::GetAttr(g) => {
                self.visit(&g.expr, found);
                self.name(g.name, found);
                self.gadget_attr(&g.expr, g.name);
            }
            Expr::GetItem(g) => {
                self.visit(&g.expr, found);
                self.visit(&g.subscript_expr, found);
                match fold::fold(&g.subscript_expr, &self.env) {
                    Val::Str(key) => {
                        self.name(&key, found);
                        self.gadget_attr(&g.expr, &key);
                    }
                    Val::Unknown if self.gadget_root(&g.expr).is_some() => {
                        self.dynamic(e, "a computed subscript of a Jinja global");
                    }
                    _ => {}
                }
            }
            Expr::Call(c) => {
                self.visit(&c.expr, found);
                self.visit_args(&c.args, found);
                self.call(c, e, found);
                let v = fold::fold(e, &self.env);
                self.note_string(&v);
            }
            Expr::List(l) => {
                for i in &l.items {
                    self.visit(i, found);
                }
            }
            Expr::Tuple(t) => {
                for i in &t.items {
                    self.visit(i, found);
                }
            }
            Expr::Map(m) => {
                for (k, v) in m.keys.iter().zip(&m.values) {
                    self.visit(k, found);
                    self.visit(v, found);
                }
            }
        }
    }

    fn visit_args(&mut self, args: &[CallArg<'_>], found: &mut Vec<String>) {
        for a in args {
            match a {
                CallArg::Pos(e) | CallArg::PosSplat(e) | CallArg::KwargSplat(e) => {
                    self.visit(e, found);
                }
                CallArg::Kwarg(name, e) => {
                    // `dict(__class__=1)` builds the name from a keyword.
                    if is_internal(name) && name.starts_with("__") {
                        self.out.dunder_strings.push((*name).to_owned());
                    }
                    self.visit(e, found);
                }
            }
        }
    }

    /// `|attr(name)`, and the filters that look up a (dotted) attribute path per item.
    fn filter(&mut self, f: &ast::Filter<'_>, e: &Expr<'_>, found: &mut Vec<String>) {
        let (pos, kw) = fold::args(&f.args, &self.env);
        let path_arg = match f.name {
            "attr" => {
                match pos.first() {
                    Some(Val::Str(name)) => {
                        self.name(name, found);
                        if let Some(target) = &f.expr {
                            self.gadget_attr(target, name);
                        }
                    }
                    _ => self.dynamic(e, "`|attr` with a name that is not a constant"),
                }
                return;
            }
            "map" => match pos.first() {
                // `map('attr', name)` applies the attr filter to every item.
                Some(Val::Str(filter)) if filter == "attr" => pos.get(1).cloned(),
                Some(Val::Str(_)) => None,
                Some(_) => {
                    self.dynamic(e, "`|map` with a filter name that is not a constant");
                    None
                }
                None => kw.get("attribute").cloned(),
            },
            "selectattr" | "rejectattr" | "groupby" => pos
                .first()
                .cloned()
                .or_else(|| kw.get("attribute").cloned()),
            "sort" | "sum" | "unique" | "min" | "max" | "dictsort" | "join" => {
                kw.get("attribute").cloned()
            }
            _ => None,
        };
        match path_arg {
            Some(Val::Str(path)) => {
                for part in path.split('.') {
                    self.name(part, found);
                }
            }
            Some(Val::Int(_)) | None => {}
            Some(_) => self.dynamic(
                e,
                &format!("`|{}` with an attribute that is not a constant", f.name),
            ),
        }
    }

    fn call(&mut self, c: &ast::Call<'_>, e: &Expr<'_>, found: &mut Vec<String>) {
        match c.identify_call() {
            ast::CallType::Method(obj, "format" | "format_map") => {
                // `str.format` fields can look up attributes: `'{0.__class__}'.format(x)`.
                if let Val::Str(fmt) = fold::fold(obj, &self.env) {
                    for field in format_fields(&fmt) {
                        for part in field.split(['.', '[', ']']).skip(1) {
                            self.name(part, found);
                        }
                    }
                }
            }
            ast::CallType::Function("getattr") => {
                let (pos, _) = fold::args(&c.args, &self.env);
                match pos.get(1) {
                    Some(Val::Str(name)) => self.name(name, found),
                    _ => self.dynamic(e, "`getattr` with a name that is not a constant"),
                }
            }
            ast::CallType::Function(
                name @ ("eval" | "exec" | "__import__" | "compile" | "open"),
            ) => {
                self.suspicious(
                    format!("calls `{name}`, a Python builtin no Jinja environment provides unless it was leaked"),
                    self.render(e),
                );
            }
            _ => {}
        }
    }

    /// The gadget global an access chain starts from, if any.
    fn gadget_root<'e>(&self, e: &'e Expr<'_>) -> Option<&'e str> {
        let mut e = e;
        loop {
            match e {
                Expr::Var(v) if !self.env.vars.contains_key(v.id) => {
                    let gadget = JINJA_GADGETS.iter().any(|(g, _)| *g == v.id)
                        || FOREIGN_GLOBALS.contains(&v.id);
                    return gadget.then_some(v.id);
                }
                Expr::GetAttr(g) => e = &g.expr,
                Expr::GetItem(g) => e = &g.expr,
                Expr::Filter(f) => e = f.expr.as_ref()?,
                // A call's result is not the global itself (`range(3)` is a list).
                _ => return None,
            }
        }
    }

    /// An attribute of a Jinja gadget global other than its documented ones.
    fn gadget_attr(&mut self, target: &Expr<'_>, name: &str) {
        let Expr::Var(v) = target else { return };
        if self.env.vars.contains_key(v.id) {
            return;
        }
        if let Some((gadget, allowed)) = JINJA_GADGETS.iter().find(|(g, _)| *g == v.id)
            && !allowed.contains(&name)
        {
            self.out.gadgets.push((*gadget).to_owned());
            self.suspicious(
                format!("looks up `{name}` on the Jinja global `{gadget}`, which is not part of its documented use"),
                format!("{gadget}.{name}"),
            );
        }
    }

    /// `lipsum|string`, `cycler|list`: stringifying a global to pick characters out of it.
    fn gadget_stringified(&mut self, target: &Expr<'_>, filter: &str) {
        if !matches!(
            filter,
            "string" | "list" | "first" | "last" | "join" | "batch" | "slice"
        ) {
            return;
        }
        if let Some(root) = self.gadget_root(target)
            && !matches!(target, Expr::Call(_))
        {
            self.out.gadgets.push(root.to_owned());
            self.suspicious(
                format!("turns the Jinja global `{root}` into text (`|{filter}`), a way to pick characters for names"),
                format!("{root}|{filter}"),
            );
        }
    }

    /// The expression as Jinja source with every foldable part replaced by its constant, so
    /// that the evidence shows the names Python would look up.
    fn render(&self, e: &Expr<'_>) -> String {
        let mut out = String::new();
        self.render_into(e, &mut out, 0);
        if out.len() > 400 {
            let mut cut = 400;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
            out.push('…');
        }
        out
    }

    fn render_into(&self, e: &Expr<'_>, out: &mut String, depth: u32) {
        if out.len() > 600 || depth > 64 {
            return;
        }
        if !matches!(e, Expr::Const(_) | Expr::Var(_))
            && let Val::Str(s) = fold::fold(e, &self.env)
        {
            out.push_str(&format!("{s:?}"));
            return;
        }
        let d = depth + 1;
        match e {
            Expr::Var(v) => out.push_str(v.id),
            Expr::Const(c) => match fold::from_const(&c.value) {
                Val::Str(s) => out.push_str(&format!("{s:?}")),
                _ => out.push_str(&c.value.to_string()),
            },
            Expr::GetAttr(g) => {
                self.render_into(&g.expr, out, d);
                out.push('.');
                out.push_str(g.name);
            }
            Expr::GetItem(g) => {
                self.render_into(&g.expr, out, d);
                match fold::fold(&g.subscript_expr, &self.env) {
                    Val::Str(s)
                        if is_internal(&s)
                            || s.chars().all(|c| c.is_alphanumeric() || c == '_') =>
                    {
                        out.push('.');
                        out.push_str(&s);
                    }
                    _ => {
                        out.push('[');
                        self.render_into(&g.subscript_expr, out, d);
                        out.push(']');
                    }
                }
            }
            Expr::Filter(f) if f.name == "attr" && f.expr.is_some() => {
                if let Some(target) = &f.expr {
                    self.render_into(target, out, d);
                }
                let (pos, _) = fold::args(&f.args, &self.env);
                match pos.first() {
                    Some(Val::Str(name)) => {
                        out.push('.');
                        out.push_str(name);
                    }
                    _ => out.push_str("|attr(?)"),
                }
            }
            Expr::Filter(f) => {
                if let Some(target) = &f.expr {
                    self.render_into(target, out, d);
                }
                out.push('|');
                out.push_str(f.name);
                if !f.args.is_empty() {
                    self.render_args(&f.args, out, d);
                }
            }
            Expr::Call(c) => {
                self.render_into(&c.expr, out, d);
                self.render_args(&c.args, out, d);
            }
            _ => {
                let span = e.span();
                let text = self
                    .source
                    .get(span.start_offset as usize..span.end_offset as usize)
                    .unwrap_or("?");
                out.push_str(text);
            }
        }
    }

    fn render_args(&self, args: &[CallArg<'_>], out: &mut String, d: u32) {
        out.push('(');
        for (i, a) in args.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            match a {
                CallArg::Pos(e) => self.render_into(e, out, d),
                CallArg::Kwarg(n, e) => {
                    out.push_str(n);
                    out.push('=');
                    self.render_into(e, out, d);
                }
                CallArg::PosSplat(e) => {
                    out.push('*');
                    self.render_into(e, out, d);
                }
                CallArg::KwargSplat(e) => {
                    out.push_str("**");
                    self.render_into(e, out, d);
                }
            }
        }
        out.push(')');
    }
}

/// Whether `name` occurs in `text` as a whole identifier.
fn contains_name(text: &str, name: &str) -> bool {
    text.match_indices(name).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + name.len()..].chars().next();
        let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        !ident(before) && !ident(after)
    })
}

/// The field names of a `str.format` string (`{0.__class__}` → `0.__class__`).
fn format_fields(fmt: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = fmt;
    while let Some(i) = rest.find('{') {
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("{{") {
            rest = after;
            continue;
        }
        let Some(end) = tail.find('}') else { break };
        let field = &tail[1..end];
        out.push(field.split([':', '!']).next().unwrap_or(""));
        rest = &tail[end + 1..];
    }
    out
}

/// Where JSON files carry chat templates: `chat_template` as a string, or a list of
/// `{"name", "template"}` (transformers' named templates).
fn json_templates(value: &Json) -> Vec<(String, &str)> {
    let mut out = Vec::new();
    match value.get("chat_template") {
        Some(Json::String(t)) => out.push(("`chat_template`".to_owned(), t.as_str())),
        Some(Json::Array(list)) => {
            for (i, entry) in list.iter().enumerate() {
                let name = entry
                    .get("name")
                    .and_then(Json::as_str)
                    .map_or_else(|| format!("#{i}"), str::to_owned);
                if let Some(t) = entry.get("template").and_then(Json::as_str) {
                    out.push((format!("`chat_template` `{name}`"), t));
                }
            }
        }
        _ => {}
    }
    out
}

/// JSON or template text files: templates in `tokenizer_config.json`-like objects, or a
/// `chat_template.jinja`-like text.
pub fn analyse_text(data: &[u8], ctx: &mut Ctx<'_>) {
    if data.len() > 64 << 20 {
        return;
    }
    let trimmed = data.trim_ascii_start();
    let jinja_start = ["{%", "{{", "{#"]
        .iter()
        .any(|m| trimmed.starts_with(m.as_bytes()));
    if trimmed.starts_with(b"{") && !jinja_start {
        if memchr::memmem::find(data, b"\"chat_template\"").is_none() {
            return;
        }
        let Ok(value) = serde_json::from_slice::<Json>(data) else {
            return;
        };
        for (name, template) in json_templates(&value) {
            analyse_template(template, &name, Some(0), Strictness::Template, ctx);
            ctx.extract(Origin::ChatTemplate, &name, Some(0), template.as_bytes());
        }
        return;
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if !looks_like_jinja(text) {
        return;
    }
    // A text that begins as Jinja and speaks of messages is a chat template; other text with
    // Jinja markers (documentation, scripts) is analysed only if it parses.
    let strictness = if jinja_start && text.contains("message") {
        Strictness::Template
    } else {
        Strictness::MaybeTemplate
    };
    analyse_template(text, "template file", Some(0), strictness, ctx);
}

/// For the fuzz target: extraction and analysis of whatever JSON or text holds.
pub fn analyse_for_fuzzing(text: &str) -> usize {
    let mut n = 0;
    if let Ok(value) = serde_json::from_str::<Json>(text) {
        for (_, t) in json_templates(&value) {
            n += analyse_source(t).map_or(0, |a| a.escapes.len());
        }
    }
    n + analyse_source(text).map_or(0, |a| a.escapes.len() + a.suspicious.len())
}

#[cfg(test)]
mod tests;
