//! Whether what a network call fetches reaches a process or `exec` call: the link between the
//! two halves of "download and run". Utility code that downloads in one place and starts an
//! unrelated process in another (`requests.head(url)` in `is_url`, `subprocess.run(["uv",
//! "-V"])` in `check_uv`) has both calls without one feeding the other.
//!
//! A light data flow, read in statement order per function body (and the module body), never
//! run: a name assigned (`=`, `with … as`, `for … in`) from an expression that holds a network
//! call or a fed name is fed; a file whose handle is written with fed data (`open(p,
//! 'wb').write(data)`, `with open(p, 'wb') as f: f.write(data)`), or that a network call
//! downloads to (`urlretrieve(url, p)`), makes the names of its path fed. Across the file's
//! functions: a function that returns fed data is a source wherever it is called, and one whose
//! parameter reaches a process or exec call is a sink, fed when called with fed arguments
//! (a few rounds, so chains of helpers are followed).

use std::collections::{HashMap, HashSet};

use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, Expr, Stmt};
use ruff_text_size::Ranged;

use super::{Behaviour, Call};

/// Programs that run what they are given: a script path, `-c` code, or standard input.
const INTERPRETERS: &[&str] = &[
    "sh",
    "bash",
    "zsh",
    "dash",
    "ksh",
    "fish",
    "csh",
    "tcsh",
    "busybox",
    "env",
    "perl",
    "ruby",
    "node",
    "nodejs",
    "php",
    "lua",
    "powershell",
    "cmd",
    "osascript",
    "source",
    "exec",
    "xargs",
    "sudo",
    "nohup",
    "setsid",
    "timeout",
    "nice",
];

/// Rounds of the fixpoint over the file's functions (a helper chain this long is followed).
const ROUNDS: usize = 4;

/// One body: a function's (with its parameters) or the module's.
struct Body<'a> {
    name: Option<&'a str>,
    params: Vec<&'a str>,
    stmts: &'a [Stmt],
}

fn bodies<'a>(suite: &'a [Stmt], out: &mut Vec<Body<'a>>) {
    struct Collect<'a, 'o> {
        out: &'o mut Vec<Body<'a>>,
    }
    impl<'a> Visitor<'a> for Collect<'a, '_> {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            if let Stmt::FunctionDef(f) = stmt
                && self.out.len() < 4096
            {
                let p = &f.parameters;
                let params = p
                    .posonlyargs
                    .iter()
                    .chain(&p.args)
                    .chain(&p.kwonlyargs)
                    .map(|a| a.parameter.name.as_str())
                    .chain(p.vararg.iter().map(|a| a.name.as_str()))
                    .chain(p.kwarg.iter().map(|a| a.name.as_str()))
                    .collect();
                self.out.push(Body {
                    name: Some(f.name.as_str()),
                    params,
                    stmts: &f.body,
                });
            }
            visitor::walk_stmt(self, stmt);
        }
        fn visit_expr(&mut self, _: &'a Expr) {}
    }
    out.push(Body {
        name: None,
        params: Vec::new(),
        stmts: suite,
    });
    let mut c = Collect { out };
    for s in suite {
        c.visit_stmt(s);
    }
}

/// What the file's functions are, as far as the flow is concerned.
#[derive(Default, PartialEq, Eq)]
struct Functions {
    /// Return fed data.
    sources: HashSet<String>,
    /// A parameter reaches a process or exec call: the offsets of those calls.
    sinks: HashMap<String, Vec<u64>>,
}

/// The name a call is made by, when it is a plain or `self.`/`cls.` name.
fn local_name(func: &Expr) -> Option<&str> {
    match func {
        Expr::Name(n) => Some(n.id.as_str()),
        Expr::Attribute(a) => match &*a.value {
            Expr::Name(n) if matches!(n.id.as_str(), "self" | "cls") => Some(a.attr.as_str()),
            _ => None,
        },
        _ => None,
    }
}

struct Flow<'f> {
    network: &'f HashSet<u64>,
    runs: &'f HashMap<u64, Behaviour>,
    functions: &'f Functions,
    /// Names holding fetched data (or a path it was written to).
    fed: HashSet<String>,
    /// Names holding a parameter's value (for sinks).
    from_param: HashSet<String>,
    /// File handles opened by `with open(path) as f`: handle → names in the path.
    handles: HashMap<String, Vec<String>>,
    /// Out: run calls fed by the network.
    fed_runs: Vec<u64>,
    /// Out: run calls fed by a parameter; whether a return is fed.
    param_runs: Vec<u64>,
    returns_fed: bool,
}

/// Names mentioned anywhere in an expression.
fn names_in(e: &Expr, out: &mut Vec<String>) {
    struct N<'o> {
        out: &'o mut Vec<String>,
    }
    impl<'a> Visitor<'a> for N<'_> {
        fn visit_expr(&mut self, e: &'a Expr) {
            if let Expr::Name(n) = e
                && self.out.len() < 256
            {
                self.out.push(n.id.to_string());
            }
            visitor::walk_expr(self, e);
        }
    }
    N { out }.visit_expr(e);
}

/// Names a target binds (`a`, `a, b`, `[a, *b]`).
fn bound(target: &Expr, out: &mut Vec<String>) {
    match target {
        Expr::Name(n) => out.push(n.id.to_string()),
        Expr::Tuple(t) => t.elts.iter().for_each(|e| bound(e, out)),
        Expr::List(l) => l.elts.iter().for_each(|e| bound(e, out)),
        Expr::Starred(s) => bound(&s.value, out),
        _ => {}
    }
}

impl Flow<'_> {
    /// (holds fetched data, holds a parameter's value).
    fn taint(&self, e: &Expr) -> (bool, bool) {
        struct T<'t, 'f> {
            flow: &'t Flow<'f>,
            fed: bool,
            param: bool,
        }
        impl<'a> Visitor<'a> for T<'_, '_> {
            fn visit_expr(&mut self, e: &'a Expr) {
                match e {
                    Expr::Name(n) => {
                        self.fed |= self.flow.fed.contains(n.id.as_str());
                        self.param |= self.flow.from_param.contains(n.id.as_str());
                    }
                    Expr::Call(c) => {
                        let at = e.range().start().to_usize() as u64;
                        self.fed |= self.flow.network.contains(&at)
                            || local_name(&c.func)
                                .is_some_and(|f| self.flow.functions.sources.contains(f));
                    }
                    _ => {}
                }
                if !(self.fed && self.param) {
                    visitor::walk_expr(self, e);
                }
            }
        }
        let mut t = T {
            flow: self,
            fed: false,
            param: false,
        };
        t.visit_expr(e);
        (t.fed, t.param)
    }

    /// A process started from an argument list (`subprocess.run(["curl", url, "-o", f])`):
    /// what runs is the program, so fetched data matters only as the program itself, or as
    /// anything handed to a shell or interpreter (`["sh", path]`, `["bash", "-c", cmd]`,
    /// `input=code`). `None` when the first argument is not a literal list (a command string
    /// is run by a shell: any fetched part counts).
    fn process_taint(&self, c: &ast::ExprCall) -> Option<(bool, bool)> {
        let argv = c.arguments.args.first().or_else(|| {
            c.arguments
                .keywords
                .iter()
                .find(|k| k.arg.as_ref().is_some_and(|a| a.as_str() == "args"))
                .map(|k| &k.value)
        })?;
        let elts = match argv {
            Expr::List(l) => &l.elts,
            Expr::Tuple(t) => &t.elts,
            _ => return None,
        };
        let program = elts.first()?;
        let (fed, param) = self.taint(program);
        let interpreter = match program {
            Expr::StringLiteral(s) => {
                let text = s.value.to_str();
                let base = text.rsplit(['/', '\\']).next().unwrap_or(text);
                let base = base.trim_end_matches(".exe");
                INTERPRETERS.contains(&base)
                    || base.starts_with("python")
                    || base.starts_with("pwsh")
            }
            _ => true,
        };
        if !interpreter {
            return Some((fed, param));
        }
        // Handed to an interpreter: every argument counts.
        let (mut all_fed, mut all_param) = (fed, param);
        for a in elts
            .iter()
            .chain(c.arguments.args.iter().skip(1))
            .chain(c.arguments.keywords.iter().map(|k| &k.value))
        {
            let (f, p) = self.taint(a);
            all_fed |= f;
            all_param |= p;
        }
        Some((all_fed, all_param))
    }

    fn bind(&mut self, target: &Expr, (fed, param): (bool, bool)) {
        let mut names = Vec::new();
        bound(target, &mut names);
        for n in names {
            if fed {
                self.fed.insert(n.clone());
            }
            if param {
                self.from_param.insert(n);
            }
        }
    }

    /// The calls of one statement's expressions, in source order: run calls fed, sinks called
    /// with fed arguments, writes of fed data into files, downloads to a path.
    fn calls_in(&mut self, e: &Expr) {
        let mut calls: Vec<&Expr> = Vec::new();
        struct C<'a, 'o> {
            out: &'o mut Vec<&'a Expr>,
        }
        impl<'a> Visitor<'a> for C<'a, '_> {
            fn visit_expr(&mut self, e: &'a Expr) {
                if matches!(e, Expr::Call(_)) && self.out.len() < 1024 {
                    self.out.push(e);
                }
                visitor::walk_expr(self, e);
            }
        }
        C { out: &mut calls }.visit_expr(e);
        for e in calls {
            let Expr::Call(c) = e else { continue };
            let at = e.range().start().to_usize() as u64;
            let (mut fed, mut param) = (false, false);
            for a in c
                .arguments
                .args
                .iter()
                .chain(c.arguments.keywords.iter().map(|k| &k.value))
            {
                let (f, p) = self.taint(a);
                fed |= f;
                param |= p;
            }
            if let Some(&behaviour) = self.runs.get(&at) {
                let (run_fed, run_param) = if behaviour == Behaviour::Process {
                    self.process_taint(c).unwrap_or((fed, param))
                } else {
                    (fed, param)
                };
                if run_fed {
                    self.fed_runs.push(at);
                }
                if run_param {
                    self.param_runs.push(at);
                }
            }
            if fed && let Some(sink) = local_name(&c.func).and_then(|f| self.functions.sinks.get(f))
            {
                self.fed_runs.extend(sink.iter().copied());
            }
            // A download to a path: the names of its other arguments hold the fetched file.
            if self.network.contains(&at) {
                let mut names = Vec::new();
                for a in c.arguments.args.iter().skip(1) {
                    names_in(a, &mut names);
                }
                for k in &c.arguments.keywords {
                    if k.arg.as_ref().is_some_and(|a| {
                        matches!(a.as_str(), "filename" | "out" | "path" | "dest" | "output")
                    }) {
                        names_in(&k.value, &mut names);
                    }
                }
                self.fed.extend(names);
            }
            // Fed data written through a file: `open(p, 'wb').write(d)`, `f.write(d)`.
            if fed
                && let Expr::Attribute(a) = &*c.func
                && matches!(
                    a.attr.as_str(),
                    "write" | "writelines" | "write_bytes" | "write_text"
                )
            {
                let mut names = Vec::new();
                names_in(&a.value, &mut names);
                for n in names {
                    if let Some(path) = self.handles.get(&n) {
                        self.fed.extend(path.iter().cloned());
                    }
                    self.fed.insert(n);
                }
            }
        }
    }

    fn stmts(&mut self, stmts: &[Stmt]) {
        for s in stmts {
            self.stmt(s);
        }
    }

    fn stmt(&mut self, s: &Stmt) {
        match s {
            Stmt::FunctionDef(_) | Stmt::ClassDef(_) => {}
            Stmt::Assign(a) => {
                self.calls_in(&a.value);
                let t = self.taint(&a.value);
                for target in &a.targets {
                    self.bind(target, t);
                }
            }
            Stmt::AnnAssign(a) => {
                if let Some(v) = &a.value {
                    self.calls_in(v);
                    let t = self.taint(v);
                    self.bind(&a.target, t);
                }
            }
            Stmt::AugAssign(a) => {
                self.calls_in(&a.value);
                let t = self.taint(&a.value);
                self.bind(&a.target, t);
            }
            Stmt::Expr(e) => self.calls_in(&e.value),
            Stmt::Return(r) => {
                if let Some(v) = &r.value {
                    self.calls_in(v);
                    self.returns_fed |= self.taint(v).0;
                }
            }
            Stmt::With(w) => {
                for item in &w.items {
                    self.calls_in(&item.context_expr);
                    if let Some(v) = &item.optional_vars {
                        let t = self.taint(&item.context_expr);
                        self.bind(v, t);
                        if let (Expr::Name(h), Expr::Call(c)) = (&**v, &item.context_expr)
                            && matches!(&*c.func, Expr::Name(n) if n.id.as_str() == "open")
                            && let Some(path) = c.arguments.args.first()
                        {
                            let mut names = Vec::new();
                            names_in(path, &mut names);
                            self.handles.insert(h.id.to_string(), names);
                        }
                    }
                }
                self.stmts(&w.body);
            }
            Stmt::For(f) => {
                self.calls_in(&f.iter);
                let t = self.taint(&f.iter);
                self.bind(&f.target, t);
                self.stmts(&f.body);
                self.stmts(&f.orelse);
            }
            Stmt::While(w) => {
                self.calls_in(&w.test);
                self.stmts(&w.body);
                self.stmts(&w.orelse);
            }
            Stmt::If(i) => {
                self.calls_in(&i.test);
                self.stmts(&i.body);
                for clause in &i.elif_else_clauses {
                    if let Some(t) = &clause.test {
                        self.calls_in(t);
                    }
                    self.stmts(&clause.body);
                }
            }
            Stmt::Try(t) => {
                self.stmts(&t.body);
                for h in &t.handlers {
                    let ast::ExceptHandler::ExceptHandler(h) = h;
                    self.stmts(&h.body);
                }
                self.stmts(&t.orelse);
                self.stmts(&t.finalbody);
            }
            Stmt::Match(m) => {
                self.calls_in(&m.subject);
                for case in &m.cases {
                    self.stmts(&case.body);
                }
            }
            _ => {
                // Anything else (raise, assert, del, …): its calls still count.
                struct E<'a, 'o> {
                    out: &'o mut Vec<&'a Expr>,
                }
                impl<'a> Visitor<'a> for E<'a, '_> {
                    fn visit_expr(&mut self, e: &'a Expr) {
                        if self.out.len() < 64 {
                            self.out.push(e);
                        }
                    }
                }
                let mut exprs = Vec::new();
                let mut v = E { out: &mut exprs };
                visitor::walk_stmt(&mut v, s);
                for e in exprs {
                    self.calls_in(e);
                }
            }
        }
    }
}

/// The offsets of the process and exec calls (among `calls`) whose arguments hold what a
/// network call fetched, in the module `suite`.
pub(super) fn fed_by_network(suite: &[Stmt], calls: &[Call]) -> HashSet<u64> {
    let network: HashSet<u64> = calls
        .iter()
        .filter(|c| c.behaviour == Behaviour::Network)
        .map(|c| c.offset)
        .collect();
    let runs: HashMap<u64, Behaviour> = calls
        .iter()
        .filter(|c| matches!(c.behaviour, Behaviour::Exec | Behaviour::Process))
        .map(|c| (c.offset, c.behaviour))
        .collect();
    let mut out = HashSet::new();
    if network.is_empty() || runs.is_empty() {
        return out;
    }
    let mut all = Vec::new();
    bodies(suite, &mut all);
    let mut functions = Functions::default();
    for _ in 0..ROUNDS {
        let mut next = Functions::default();
        for body in &all {
            let mut flow = Flow {
                network: &network,
                runs: &runs,
                functions: &functions,
                fed: HashSet::new(),
                from_param: body.params.iter().map(|p| (*p).to_owned()).collect(),
                handles: HashMap::new(),
                fed_runs: Vec::new(),
                param_runs: Vec::new(),
                returns_fed: false,
            };
            flow.stmts(body.stmts);
            out.extend(flow.fed_runs.iter().copied());
            if let Some(name) = body.name {
                if flow.returns_fed {
                    next.sources.insert(name.to_owned());
                }
                if !flow.param_runs.is_empty() {
                    next.sinks
                        .entry(name.to_owned())
                        .or_default()
                        .extend(flow.param_runs);
                }
            }
        }
        if next == functions {
            break;
        }
        functions = next;
    }
    out
}
