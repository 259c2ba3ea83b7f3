//! The walk over a parsed template: every lookup, call and filter judged with names folded to
//! constants, and what the template reaches recorded in an [`Analysis`].

use minijinja::machinery::ast::{self, CallArg, Expr, Stmt};

use super::Analysis;
use super::fold::{self, Env, Val};

/// `{% for %}` loops over constant lists are unrolled (for the variables they set) up to this
/// many items.
const MAX_UNROLL: usize = 256;
/// Statements visited per template, unrolled loops included.
const MAX_STEPS: usize = 200_000;

/// Walks `tree` (parsed from `source`) and returns what it reaches.
pub(super) fn analyse(source: &str, tree: &Stmt<'_>) -> Analysis {
    let mut walker = Walker {
        source,
        env: Env::default(),
        out: Analysis::default(),
    };
    walker.stmt(tree);
    walker.out.gadgets.sort();
    walker.out.gadgets.dedup();
    walker.out.dunder_strings.sort();
    walker.out.dunder_strings.dedup();
    walker.out
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
