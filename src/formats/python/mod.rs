//! Python source, read with Ruff's parser (`ruff_python_parser`) and never run: which calls
//! the code makes that matter for a scanner (processes, network, file writes, `exec`/`eval`/
//! `compile`, native libraries, dynamic imports, decoders), resolved through the file's imports
//! (`import subprocess as sp` … `sp.run` is `subprocess.run`), where they sit (module level,
//! class body, which method), and which behaviour classes they add up to (shelling out,
//! download-and-run, exec of decoded data, reverse shell, credential theft).
//!
//! Used for Hugging Face remote code (`auto_map` modules, see [`crate::formats::hf`]) and for
//! any other Python file met as text (scripts next to a model), with different verdicts.

use std::collections::{HashMap, HashSet};

use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, Expr, Stmt};
use ruff_text_size::Ranged;

mod flow;
mod fold;
pub use fold::{Names, Plain, dotted_name, fold_string};

/// Files larger than this are not parsed.
pub const MAX_SOURCE: usize = 4 << 20;

/// What a call does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Behaviour {
    /// Starts a process or a shell (`os.system`, `subprocess.*`, `pty.spawn`).
    Process,
    /// Opens a connection or fetches a URL.
    Network,
    /// Writes, moves or deletes files.
    FileWrite,
    /// Runs code from a string or code object (`exec`, `eval`, `compile`, `runpy`).
    Exec,
    /// Loads a native library (`ctypes`, `cffi`).
    Native,
    /// Imports a module whose name is computed (`importlib.import_module(x)`, `__import__(x)`).
    DynamicImport,
    /// Decodes or decompresses data (`base64.b64decode`, `zlib.decompress`, `marshal.loads`).
    Decode,
    /// Duplicates file descriptors onto a socket (`os.dup2`): the core of a reverse shell.
    Dup,
    /// Reads the whole environment or well-known credential files.
    Secrets,
}

impl Behaviour {
    pub fn describe(self) -> &'static str {
        match self {
            Behaviour::Process => "starts a process",
            Behaviour::Network => "opens a network connection",
            Behaviour::FileWrite => "writes or deletes files",
            Behaviour::Exec => "runs code built at run time",
            Behaviour::Native => "loads a native library",
            Behaviour::DynamicImport => "imports a module by a computed name",
            Behaviour::Decode => "decodes data",
            Behaviour::Dup => "redirects file descriptors",
            Behaviour::Secrets => "reads credentials or the whole environment",
        }
    }
}

/// Where a call sits: `class` and `function` are `None` at module level.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    pub class: Option<String>,
    pub function: Option<String>,
}

impl Scope {
    /// Code that runs when the module is imported or its classes are instantiated: module
    /// level, class bodies, `__init__`/`__new__`/`__init_subclass__`/`__set_name__`.
    pub fn runs_on_load(&self) -> bool {
        match self.function.as_deref() {
            None => true,
            Some(f) => matches!(
                f,
                "__init__" | "__new__" | "__init_subclass__" | "__set_name__"
            ),
        }
    }

    pub fn describe(&self) -> String {
        match (&self.class, &self.function) {
            (None, None) => "at module level".to_owned(),
            (Some(c), None) => format!("in the body of class `{c}`"),
            (None, Some(f)) => format!("in function `{f}`"),
            (Some(c), Some(f)) => format!("in `{c}.{f}`"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Call {
    pub behaviour: Behaviour,
    /// What the call resolves to through the imports (`subprocess.run`).
    pub target: String,
    /// The call's source text, shortened.
    pub text: String,
    pub line: usize,
    pub offset: u64,
    pub scope: Scope,
    /// For [`Behaviour::Exec`]: its argument decodes data, or is not a constant.
    pub decoded_argument: bool,
    pub constant_argument: bool,
}

#[derive(Debug, Default)]
pub struct Analysis {
    pub calls: Vec<Call>,
    /// `from .x import y` / `from . import x`: modules of the same package that run on import.
    pub relative_imports: Vec<String>,
    pub classes: Vec<String>,
    /// Statements with at least one import, def or class: the text is Python code.
    pub code_statements: usize,
    /// Calls of plain names (`_setup()`, `asyncio.run(_main())`): where they were made, and the
    /// name, so that a function called while the module loads counts as load-time code too.
    pub local_calls: Vec<(Scope, String)>,
    /// Offsets of the process and exec calls whose arguments hold what a network call fetched
    /// (`flow`): the link that makes two calls "download and run".
    pub fed_by_network: HashSet<u64>,
}

/// Local calls followed from one function into another before stopping (a call graph of
/// hostile size).
const MAX_LOCAL_CALLS: usize = 4096;

impl Analysis {
    /// Whether code in `scope` runs while the module loads: load-time code itself
    /// ([`Scope::runs_on_load`], or one of the `entry_points` a loader calls, such as a TorchServe
    /// handler's `initialize`), or a function of the file that such code calls by name, directly
    /// or through other functions. The closure over the file's local calls is computed once per
    /// file, in time linear in the calls, so judging each call costs a lookup.
    pub fn load_time<'s>(&'s self, entry_points: &'s [&'s str]) -> impl Fn(&Scope) -> bool + 's {
        let entry = move |s: &Scope| {
            s.runs_on_load()
                || s.function
                    .as_deref()
                    .is_some_and(|f| entry_points.contains(&f))
        };
        let mut callees: HashMap<&str, Vec<&str>> = HashMap::new();
        let mut pending: Vec<&str> = Vec::new();
        for (caller, callee) in &self.local_calls {
            if entry(caller) {
                pending.push(callee);
            } else if let Some(f) = caller.function.as_deref() {
                callees.entry(f).or_default().push(callee);
            }
        }
        let mut called: HashSet<&str> = HashSet::new();
        while let Some(f) = pending.pop() {
            if called.insert(f) {
                pending.extend(callees.get(f).into_iter().flatten());
            }
        }
        move |scope: &Scope| {
            entry(scope)
                || scope
                    .function
                    .as_deref()
                    .is_some_and(|f| called.contains(f))
        }
    }
}

/// A behaviour class that the calls add up to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// `true` for what only malware does (reverse shell, download-and-run, exec of decoded
    /// data, credential theft, shelling out from model code).
    pub clearly_malicious: bool,
    pub what: String,
    pub evidence: String,
    pub line: usize,
}

/// Parses `source`. `Err` holds the parser's first error.
pub fn analyse(source: &str) -> Result<Analysis, String> {
    if source.len() > MAX_SOURCE {
        return Err(format!(
            "{} bytes, over the {MAX_SOURCE}-byte limit",
            source.len()
        ));
    }
    on_deep_stack(source, |source| {
        let parsed = ruff_python_parser::parse_module(source).map_err(|e| e.to_string())?;
        Ok(walk(source, &parsed))
    })?
}

/// Nesting the analysis follows. CPython compiles no expression nested much deeper (3.11 raises
/// `RecursionError` near 3,000 levels) and no block deeper than 100 indents, so a source past
/// this cannot run, and is reported as not analysed rather than parsed.
const MAX_NESTING: usize = 10_000;
/// Stack for the analysis: a base, and a generous amount per level of nesting (the parser, the
/// tree's visitor and its drop each recurse once per level; about 1 KiB per level is used).
const STACK_BASE: usize = 16 << 20;
const STACK_PER_LEVEL: usize = 4 << 10;

/// An upper bound on how deep `source`'s syntax tree nests, from its tokens alone (no
/// recursion): within one comma-separated item of one bracket, every token that is not an atom
/// (an operator, a dot, a keyword, an opening bracket) can add a level, and so can every indent.
fn nesting_bound(source: &str) -> usize {
    use ruff_python_ast::token::TokenKind as T;
    let mut lexer = ruff_python_parser::lexer::lex(source, ruff_python_parser::Mode::Module);
    // Per open bracket: the count when it opened, and the count of its current item.
    let mut open: Vec<(usize, usize)> = vec![(0, 0)];
    let (mut indent, mut deepest_indent, mut deepest) = (0usize, 0usize, 0usize);
    loop {
        let kind = lexer.next_token();
        let depth = open.len();
        let Some(top) = open.last_mut() else { break };
        match kind {
            T::EndOfFile => break,
            T::Indent => {
                indent += 1;
                deepest_indent = deepest_indent.max(indent);
            }
            T::Dedent => indent = indent.saturating_sub(1),
            T::Newline | T::Semi => open = vec![(0, 0)],
            T::Lpar | T::Lsqb | T::Lbrace | T::FStringStart | T::TStringStart => {
                let count = top.1 + 1;
                deepest = deepest.max(count);
                open.push((count, count));
            }
            T::Rpar | T::Rsqb | T::Rbrace | T::FStringEnd | T::TStringEnd => {
                if depth > 1 {
                    open.pop();
                }
            }
            T::Comma | T::Colon => top.1 = top.0,
            T::Name
            | T::Int
            | T::Float
            | T::Complex
            | T::String
            | T::FStringMiddle
            | T::TStringMiddle
            | T::Comment
            | T::NonLogicalNewline => {}
            _ => {
                top.1 += 1;
                deepest = deepest.max(top.1);
            }
        }
    }
    deepest.saturating_add(deepest_indent)
}

/// Runs `work` (parse, walk, drop the tree) on a thread whose stack fits the source's nesting:
/// the parser, the tree's visitor and its drop recurse once per level, and a hostile file can
/// nest far deeper than any thread's default stack. A source nested past [`MAX_NESTING`] is
/// refused.
pub fn on_deep_stack<T: Send>(
    source: &str,
    work: impl FnOnce(&str) -> T + Send,
) -> Result<T, String> {
    let nesting = nesting_bound(source);
    if nesting > MAX_NESTING {
        return Err(format!(
            "it nests up to {nesting} levels deep, more than CPython compiles (the analysis stops at {MAX_NESTING})"
        ));
    }
    let stack = STACK_BASE + nesting * STACK_PER_LEVEL;
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("python-source".to_owned())
            .stack_size(stack)
            .spawn_scoped(scope, || work(source))
            .map_err(|e| format!("no thread for the source's analysis: {e}"))?
            .join()
            .map_err(|_| "the source's analysis failed".to_owned())
    })
}

fn walk(source: &str, parsed: &ruff_python_parser::Parsed<ast::ModModule>) -> Analysis {
    let mut walker = Walker {
        source,
        aliases: HashMap::new(),
        constants: HashMap::new(),
        scope: Scope::default(),
        out: Analysis::default(),
        line_starts: line_starts(source),
        depth: 0,
    };
    for stmt in parsed.suite() {
        walker.visit_stmt(stmt);
    }
    let mut out = walker.out;
    out.fed_by_network = flow::fed_by_network(parsed.suite(), &out.calls);
    out
}

/// How deep code passed to `exec`/`eval` as a constant string is read as code in its turn.
const MAX_EXEC_DEPTH: u32 = 3;

fn line_starts(source: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(source.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

/// Qualified names of the calls that matter, by prefix (`subprocess.` matches every function of
/// the module).
const CALLS: &[(&str, Behaviour)] = &[
    ("os.system", Behaviour::Process),
    ("os.popen", Behaviour::Process),
    ("os.exec", Behaviour::Process),
    ("os.spawn", Behaviour::Process),
    ("os.posix_spawn", Behaviour::Process),
    ("os.fork", Behaviour::Process),
    ("posix.system", Behaviour::Process),
    ("subprocess.", Behaviour::Process),
    ("pty.spawn", Behaviour::Process),
    ("commands.", Behaviour::Process),
    ("platform.popen", Behaviour::Process),
    ("asyncio.create_subprocess_", Behaviour::Process),
    ("socket.socket", Behaviour::Network),
    ("socket.create_connection", Behaviour::Network),
    ("urllib.request.urlopen", Behaviour::Network),
    ("urllib.request.urlretrieve", Behaviour::Network),
    ("urllib.request.Request", Behaviour::Network),
    ("urllib.urlopen", Behaviour::Network),
    ("urllib.urlretrieve", Behaviour::Network),
    ("urllib2.urlopen", Behaviour::Network),
    ("requests.", Behaviour::Network),
    ("httpx.", Behaviour::Network),
    ("http.client.HTTP", Behaviour::Network),
    ("ftplib.", Behaviour::Network),
    ("telnetlib.", Behaviour::Network),
    ("smtplib.", Behaviour::Network),
    ("paramiko.", Behaviour::Network),
    ("aiohttp.", Behaviour::Network),
    ("wget.download", Behaviour::Network),
    ("os.remove", Behaviour::FileWrite),
    ("os.unlink", Behaviour::FileWrite),
    ("os.rename", Behaviour::FileWrite),
    ("os.replace", Behaviour::FileWrite),
    ("os.chmod", Behaviour::FileWrite),
    ("shutil.rmtree", Behaviour::FileWrite),
    ("shutil.move", Behaviour::FileWrite),
    ("shutil.copy", Behaviour::FileWrite),
    ("exec", Behaviour::Exec),
    ("eval", Behaviour::Exec),
    ("compile", Behaviour::Exec),
    ("builtins.exec", Behaviour::Exec),
    ("builtins.eval", Behaviour::Exec),
    ("builtins.compile", Behaviour::Exec),
    ("runpy.", Behaviour::Exec),
    ("types.FunctionType", Behaviour::Exec),
    ("types.CodeType", Behaviour::Exec),
    ("ctypes.", Behaviour::Native),
    ("cffi.", Behaviour::Native),
    ("__import__", Behaviour::DynamicImport),
    ("builtins.__import__", Behaviour::DynamicImport),
    ("importlib.import_module", Behaviour::DynamicImport),
    ("importlib.__import__", Behaviour::DynamicImport),
    (
        "importlib.util.spec_from_file_location",
        Behaviour::DynamicImport,
    ),
    (
        "importlib.machinery.SourceFileLoader",
        Behaviour::DynamicImport,
    ),
    ("base64.", Behaviour::Decode),
    ("codecs.decode", Behaviour::Decode),
    ("zlib.decompress", Behaviour::Decode),
    ("bz2.decompress", Behaviour::Decode),
    ("lzma.decompress", Behaviour::Decode),
    ("gzip.decompress", Behaviour::Decode),
    ("binascii.", Behaviour::Decode),
    ("marshal.loads", Behaviour::Decode),
    ("bytes.fromhex", Behaviour::Decode),
    ("bytearray.fromhex", Behaviour::Decode),
    ("chr", Behaviour::Decode),
    ("os.dup2", Behaviour::Dup),
    // The same functions under their C module's name, and what else runs code or fetches.
    ("posix.popen", Behaviour::Process),
    ("posix.posix_spawn", Behaviour::Process),
    ("posix.posix_spawnp", Behaviour::Process),
    ("posix.fork", Behaviour::Process),
    ("posix.exec", Behaviour::Process),
    ("posix.spawn", Behaviour::Process),
    ("os.posix_spawnp", Behaviour::Process),
    ("nt.system", Behaviour::Process),
    ("timeit.", Behaviour::Exec),
    ("cProfile.run", Behaviour::Exec),
    ("cProfile.runctx", Behaviour::Exec),
    ("profile.run", Behaviour::Exec),
    ("profile.runctx", Behaviour::Exec),
    ("code.interact", Behaviour::Exec),
    ("code.InteractiveInterpreter", Behaviour::Exec),
    ("asyncio.open_connection", Behaviour::Network),
    ("asyncio.start_server", Behaviour::Network),
    ("xmlrpc.client.", Behaviour::Network),
    ("xmlrpclib.", Behaviour::Network),
    ("urllib3.", Behaviour::Network),
    ("_posixsubprocess.fork_exec", Behaviour::Process),
    ("pty.fork", Behaviour::Process),
    ("pickle.loads", Behaviour::Exec),
    ("_pickle.loads", Behaviour::Exec),
    ("cPickle.loads", Behaviour::Exec),
    ("dill.loads", Behaviour::Exec),
    ("cloudpickle.loads", Behaviour::Exec),
];

/// The calls of [`CALLS`] that unpickle bytes: what they run is named by the data, so a
/// constant argument is no excuse. (`pickle.load` of a file is left out: remote code that
/// reads a vocabulary pickle in `__init__` exists, and the file itself is scanned.)
const UNPICKLERS: &[&str] = &[
    "pickle.loads",
    "_pickle.loads",
    "cPickle.loads",
    "dill.loads",
    "cloudpickle.loads",
];

/// Strings that name credentials a payload steals.
const SECRET_PATHS: &[&str] = &[
    ".ssh/id_",
    ".ssh/authorized_keys",
    ".aws/credentials",
    ".netrc",
    ".git-credentials",
    ".docker/config.json",
    ".kube/config",
    ".huggingface/token",
    ".cache/huggingface/token",
    "169.254.169.254",
    "/etc/shadow",
];

fn classify(target: &str) -> Option<Behaviour> {
    CALLS
        .iter()
        .find(|(name, _)| {
            if let Some(prefix) = name.strip_suffix('.') {
                target
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with('.'))
            } else if name.ends_with('_')
                || matches!(*name, "os.exec" | "os.spawn" | "posix.exec" | "posix.spawn")
            {
                target.starts_with(name)
            } else {
                target == *name
            }
        })
        .map(|&(_, b)| b)
}

struct Walker<'s> {
    source: &'s str,
    /// Local name → qualified name, from the imports and assignments seen so far
    /// (`import subprocess as sp`, `m = __import__('os')`, `run = os.system`).
    aliases: HashMap<String, String>,
    /// Local name → the string last assigned to it, when that was built from constants.
    constants: HashMap<String, String>,
    scope: Scope,
    out: Analysis,
    line_starts: Vec<usize>,
    /// Nesting of `exec`'d constant strings being read.
    depth: u32,
}

impl Names for Walker<'_> {
    fn resolve(&self, id: &str) -> String {
        self.aliases
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_owned())
    }

    fn constant(&self, id: &str) -> Option<String> {
        self.constants.get(id).cloned()
    }
}

impl Walker<'_> {
    fn line(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&s| s <= offset)
    }

    fn text(&self, e: &Expr) -> String {
        let range = e.range();
        let text = self
            .source
            .get(range.start().to_usize()..range.end().to_usize())
            .unwrap_or("?");
        let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if one_line.chars().count() > 160 {
            one_line.chars().take(160).collect::<String>() + "…"
        } else {
            one_line
        }
    }

    /// The qualified name an expression names (`sp.run` → `subprocess.run`).
    fn qualified(&self, e: &Expr) -> Option<String> {
        dotted_name(e, self)
    }

    /// `name = <expr>`: what the name stands for from here on (a module, a function, or a
    /// constant string), so that `m = __import__('o'+'s'); m.system(...)` reads as
    /// `os.system`.
    fn assign(&mut self, target: &Expr, value: &Expr) {
        let Expr::Name(n) = target else { return };
        let name = n.id.as_str().to_owned();
        match fold_string(value, self) {
            Some(text) => {
                self.constants.insert(name.clone(), text);
            }
            None => {
                self.constants.remove(&name);
            }
        }
        if matches!(
            value,
            Expr::Name(_) | Expr::Attribute(_) | Expr::Call(_) | Expr::Subscript(_)
        ) && let Some(qualified) = self.qualified(value)
        {
            self.aliases.insert(name, qualified);
        }
    }

    /// Code passed to `exec`/`eval` as a string built from constants is read as code too, and
    /// its calls count as made here.
    fn exec_constant(&mut self, code: &str, whole: &Expr) {
        // The nested code runs on this thread's stack: only shallow code is read.
        if self.depth >= MAX_EXEC_DEPTH || code.len() > MAX_SOURCE || nesting_bound(code) > 256 {
            return;
        }
        let Ok(parsed) = ruff_python_parser::parse_module(code) else {
            return;
        };
        let start = whole.range().start().to_usize();
        let mut inner = Walker {
            source: code,
            aliases: self.aliases.clone(),
            constants: self.constants.clone(),
            scope: self.scope.clone(),
            out: Analysis::default(),
            line_starts: line_starts(code),
            depth: self.depth + 1,
        };
        for stmt in parsed.suite() {
            inner.visit_stmt(stmt);
        }
        let line = self.line(start);
        for mut call in inner.out.calls {
            if self.out.calls.len() >= 4096 {
                break;
            }
            call.text = format!("{} (run by {})", call.text, self.text(whole));
            call.line = line;
            call.offset = start as u64;
            call.scope = self.scope.clone();
            self.out.calls.push(call);
        }
    }

    fn import(&mut self, stmt: &Stmt) {
        match stmt {
            Stmt::Import(i) => {
                for alias in &i.names {
                    let name = alias.name.as_str();
                    match &alias.asname {
                        Some(asname) => {
                            self.aliases
                                .insert(asname.as_str().to_owned(), name.to_owned());
                        }
                        None => {
                            let top = name.split('.').next().unwrap_or(name);
                            self.aliases.insert(top.to_owned(), top.to_owned());
                        }
                    }
                }
            }
            Stmt::ImportFrom(i) => {
                let module = i.module.as_ref().map(|m| m.as_str()).unwrap_or("");
                if i.level > 0 {
                    if module.is_empty() {
                        for alias in &i.names {
                            self.out
                                .relative_imports
                                .push(alias.name.as_str().to_owned());
                        }
                    } else {
                        self.out.relative_imports.push(module.to_owned());
                    }
                    return;
                }
                for alias in &i.names {
                    let name = alias.name.as_str();
                    let local = alias.asname.as_ref().map_or(name, |a| a.as_str());
                    self.aliases
                        .insert(local.to_owned(), format!("{module}.{name}"));
                }
            }
            _ => {}
        }
    }

    fn call(&mut self, c: &ast::ExprCall, whole: &Expr) {
        if let Expr::Name(name) = &*c.func
            && self.out.local_calls.len() < MAX_LOCAL_CALLS
        {
            self.out
                .local_calls
                .push((self.scope.clone(), name.id.as_str().to_owned()));
        }
        let Some(target) = self.qualified(&c.func) else {
            // `open(...).write(...)` and `Path(...).write_text(...)`: writes by method name.
            if let Expr::Attribute(a) = &*c.func
                && matches!(a.attr.as_str(), "write_text" | "write_bytes")
            {
                self.push(
                    Behaviour::FileWrite,
                    a.attr.as_str().to_owned(),
                    whole,
                    false,
                    false,
                );
            }
            return;
        };
        let behaviour = classify(&target).or_else(|| {
            let method = target.rsplit('.').next().unwrap_or("");
            match method {
                "write_text" | "write_bytes" => Some(Behaviour::FileWrite),
                _ if target == "open" => open_mode_writes(c).then_some(Behaviour::FileWrite),
                _ if target == "os.environ.copy" || target == "dict" && environ_arg(self, c) => {
                    Some(Behaviour::Secrets)
                }
                _ if matches!(method, "dumps" | "dump") && environ_arg(self, c) => {
                    Some(Behaviour::Secrets)
                }
                _ => None,
            }
        });
        let Some(behaviour) = behaviour else { return };
        let first = c.arguments.args.first();
        let folded = first.and_then(|a| fold_string(a, self));
        let constant_argument = folded.is_some();
        let decoded_argument = first.is_some_and(|a| self.decodes(a));
        if behaviour == Behaviour::Exec
            && let Some(code) = &folded
        {
            self.exec_constant(code, whole);
        }
        self.push(
            behaviour,
            target,
            whole,
            decoded_argument,
            constant_argument,
        );
    }

    fn push(
        &mut self,
        behaviour: Behaviour,
        target: String,
        whole: &Expr,
        decoded_argument: bool,
        constant_argument: bool,
    ) {
        let start = whole.range().start().to_usize();
        if self.out.calls.len() >= 4096 {
            return;
        }
        self.out.calls.push(Call {
            behaviour,
            target,
            text: self.text(whole),
            line: self.line(start),
            offset: start as u64,
            scope: self.scope.clone(),
            decoded_argument,
            constant_argument,
        });
    }

    /// Whether an expression decodes data somewhere inside (`b64decode(...)`, `''.join(map(chr,
    /// ...))`, `bytes.fromhex(...)`, `.decode('hex')`).
    fn decodes(&self, e: &Expr) -> bool {
        struct Finder<'w, 's> {
            walker: &'w Walker<'s>,
            found: bool,
        }
        impl<'a> Visitor<'a> for Finder<'_, '_> {
            fn visit_expr(&mut self, e: &'a Expr) {
                if self.found {
                    return;
                }
                match e {
                    Expr::Call(c) => {
                        if let Some(t) = self.walker.qualified(&c.func)
                            && classify(&t) == Some(Behaviour::Decode)
                        {
                            self.found = true;
                            return;
                        }
                        if let Expr::Attribute(a) = &*c.func
                            && matches!(a.attr.as_str(), "decode" | "fromhex" | "decompress")
                        {
                            self.found = true;
                            return;
                        }
                    }
                    Expr::Name(n) if n.id.as_str() == "chr" => {
                        self.found = true;
                        return;
                    }
                    _ => {}
                }
                visitor::walk_expr(self, e);
            }
        }
        let mut finder = Finder {
            walker: self,
            found: false,
        };
        finder.visit_expr(e);
        finder.found
    }
}

/// `open(path, 'w')` and friends: a mode that writes.
fn open_mode_writes(c: &ast::ExprCall) -> bool {
    let mode = c.arguments.args.get(1).or_else(|| {
        c.arguments
            .keywords
            .iter()
            .find(|k| k.arg.as_ref().is_some_and(|a| a.as_str() == "mode"))
            .map(|k| &k.value)
    });
    match mode {
        Some(Expr::StringLiteral(s)) => s.value.to_str().contains(['w', 'a', 'x', '+']),
        _ => false,
    }
}

/// Whether a call's first argument is `os.environ` (the whole environment).
fn environ_arg(w: &Walker<'_>, c: &ast::ExprCall) -> bool {
    c.arguments
        .args
        .first()
        .and_then(|a| w.qualified(a))
        .is_some_and(|q| q == "os.environ")
}

impl<'a> Visitor<'a> for Walker<'_> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::Import(_) | Stmt::ImportFrom(_) => {
                self.out.code_statements += 1;
                self.import(stmt);
            }
            Stmt::ClassDef(c) => {
                self.out.code_statements += 1;
                self.out.classes.push(c.name.as_str().to_owned());
                let saved = std::mem::replace(
                    &mut self.scope,
                    Scope {
                        class: Some(c.name.as_str().to_owned()),
                        function: None,
                    },
                );
                visitor::walk_stmt(self, stmt);
                self.scope = saved;
            }
            Stmt::FunctionDef(f) => {
                self.out.code_statements += 1;
                let saved = self.scope.clone();
                if self.scope.function.is_none() {
                    self.scope.function = Some(f.name.as_str().to_owned());
                }
                visitor::walk_stmt(self, stmt);
                self.scope = saved;
            }
            Stmt::Assign(a) => {
                visitor::walk_stmt(self, stmt);
                for target in &a.targets {
                    self.assign(target, &a.value);
                }
            }
            Stmt::AnnAssign(a) => {
                visitor::walk_stmt(self, stmt);
                if let Some(value) = &a.value {
                    self.assign(&a.target, value);
                }
            }
            _ => visitor::walk_stmt(self, stmt),
        }
    }

    fn visit_expr(&mut self, e: &'a Expr) {
        match e {
            Expr::Call(c) => self.call(c, e),
            Expr::StringLiteral(s) => {
                let text = s.value.to_str();
                if SECRET_PATHS.iter().any(|p| text.contains(p)) {
                    self.push(Behaviour::Secrets, format!("{text:?}"), e, false, true);
                }
            }
            _ => {}
        }
        visitor::walk_expr(self, e);
    }
}

/// What the calls of a file add up to. `model_code`: the file runs when a model or tokenizer
/// is loaded (remote code), so shelling out and code run at load time count as well.
pub fn judge(analysis: &Analysis, model_code: bool) -> Vec<Verdict> {
    judge_with(analysis, model_code, &[])
}

/// [`judge`] for model code whose loader also calls the functions or methods named in
/// `entry_points` when it serves the model (a TorchServe handler's `initialize` and `handle`):
/// what they do counts as done at load time.
pub fn judge_with(analysis: &Analysis, model_code: bool, entry_points: &[&str]) -> Vec<Verdict> {
    let mut out = Vec::new();
    let calls = &analysis.calls;
    let any = |b: Behaviour| calls.iter().find(|c| c.behaviour == b);
    let evidence = |c: &Call| format!("{} (line {}, {})", c.text, c.line, c.scope.describe());
    let mut push = |clearly: bool, what: String, c: &Call| {
        out.push(Verdict {
            clearly_malicious: clearly,
            what,
            evidence: evidence(c),
            line: c.line,
        });
    };
    // Exec of decoded data: the classic obfuscated payload.
    if let Some(c) = calls
        .iter()
        .find(|c| c.behaviour == Behaviour::Exec && c.decoded_argument)
    {
        push(true, format!("runs decoded data with `{}`", c.target), c);
    }
    // Reverse shell: a socket whose descriptors become a shell's.
    if let (Some(_), Some(dup)) = (
        calls
            .iter()
            .find(|c| c.behaviour == Behaviour::Network && c.target.starts_with("socket.")),
        any(Behaviour::Dup),
    ) {
        push(
            true,
            "connects a socket and duplicates it onto the standard streams (a reverse shell)"
                .to_owned(),
            dup,
        );
    }
    // Download and run: runs code or a process on what a network call fetched (`flow`), not
    // merely a download here and an unrelated process there.
    if let Some(net) = any(Behaviour::Network) {
        let runs = calls.iter().find(|c| {
            matches!(c.behaviour, Behaviour::Exec | Behaviour::Process)
                && analysis.fed_by_network.contains(&c.offset)
        });
        if let Some(run) = runs {
            push(
                true,
                format!(
                    "fetches over the network (`{}`, line {}) and runs what it gets with `{}`",
                    net.target, net.line, run.target
                ),
                run,
            );
        }
    }
    // Credential theft: reads secrets and has a way to send them.
    if let (Some(secret), Some(net)) = (any(Behaviour::Secrets), any(Behaviour::Network)) {
        push(
            true,
            format!(
                "reads credentials or the environment and opens a connection (`{}`, line {})",
                net.target, net.line
            ),
            secret,
        );
    }
    if !model_code {
        return out;
    }
    // Model code that shells out: loading a model never needs a process.
    for c in calls.iter().filter(|c| c.behaviour == Behaviour::Process) {
        push(true, format!("starts a process with `{}`", c.target), c);
    }
    let runs_on_load = analysis.load_time(entry_points);
    for c in calls.iter().filter(|c| runs_on_load(&c.scope)) {
        let (clearly, what) = match c.behaviour {
            // A pickle runs whatever it names: one written into the code is a payload; one
            // read from elsewhere is unknown.
            Behaviour::Exec if UNPICKLERS.contains(&c.target.as_str()) => {
                if c.constant_argument || c.decoded_argument {
                    (true, "unpickles data written into the code at load time")
                } else {
                    (false, "unpickles data at load time")
                }
            }
            Behaviour::Exec if !c.constant_argument => (true, "runs code built at load time"),
            Behaviour::Native => (true, "loads a native library at load time"),
            Behaviour::Network => (true, "opens a network connection at load time"),
            Behaviour::Secrets => (true, "reads credentials or the environment at load time"),
            Behaviour::DynamicImport if !c.constant_argument => {
                (false, "imports a module by a computed name at load time")
            }
            Behaviour::FileWrite => (false, "writes or deletes files at load time"),
            _ => continue,
        };
        push(clearly, format!("{what} with `{}`", c.target), c);
    }
    out
}

#[cfg(test)]
mod tests;
