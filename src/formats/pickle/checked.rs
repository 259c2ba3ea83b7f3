//! Callables judged call by call, and allowed helpers that call their arguments.
//!
//! A few globals are dangerous in general but ordinary in one shape of call, because CPython's
//! own reduce idioms produce them: `getattr(str, 'lower')` is how a method descriptor pickles,
//! `functools.partial(f, …)` binds arguments to `f`, numpy's `_ufunc_reconstruct('numpy',
//! 'add')` imports a ufunc. Such a global (`imports::Check`) is allowed only when *every* use of
//! its value is a call of the allowed shape: each time the value is put on the stack (GLOBAL,
//! a memo GET, DUP) is counted, each call judged safe consumes one, and any call judged unsafe
//! or any use left over reports the global with its real rule.
//!
//! Allowed helpers that call one of their arguments (`imports` `[invokes]`: numpy's random-state
//! constructors, pandas' `pipe`) are as dangerous as what they call: a call result or an
//! unknown value in such a position is a dynamic call (PKL007), and a checked global passed
//! there is a use that no safe call consumes.

use crate::model::rules::RuleId;

use super::imports::{self, Check, Class};
use super::render::Renderer;
use super::value::{Node, NodeId, Value};
use super::vm::Machine;

impl<'a> Machine<'a, '_, '_> {
    /// Counts a use of a checked global's value (a memo GET, DUP).
    #[inline]
    pub(super) fn note_use(&mut self, value: Value<'a>) {
        if self.checked_nodes.is_empty() {
            return;
        }
        if let Value::Node(id) = value
            && self.checked_nodes.contains(&id)
            && let Some(Node::Global(i)) = self.arena.get(id)
            && let Some(import) = self.imports.list.get_mut(*i as usize)
        {
            import.refs = import.refs.saturating_add(1);
        }
    }

    /// The import behind a value that is a plain global.
    fn global_index(&self, value: Value<'a>) -> Option<usize> {
        match self.arena.node(value)? {
            Node::Global(i) => Some(*i as usize),
            _ => None,
        }
    }

    /// A plain global that the policy allows outright (not itself checked).
    fn allowed_global(&self, value: Value<'a>) -> Option<&super::globals::Import> {
        let import = self.imports.list.get(self.global_index(value)?)?;
        (import.class.class == Class::Allowed && import.class.check.is_none()).then_some(import)
    }

    /// A plain global that `functools.partial` may bind and be judged as: one the policy does
    /// not deny and that is not itself judged call by call. An allowed one makes the partial
    /// clean; an unknown one is reported on its own (PKL002), as the partial would call it.
    fn bindable_global(&self, value: Value<'a>) -> bool {
        self.global_index(value)
            .and_then(|i| self.imports.list.get(i))
            .is_some_and(|import| {
                !matches!(import.class.class, Class::Denied(_))
                    && import.class.check.is_none()
                    && super::rebuild::role(&import.module, &import.name).is_none()
            })
    }

    fn render_value(&self, value: Value<'a>) -> String {
        Renderer::render(&self.arena, &self.imports, value)
    }

    /// Judges a call of the checked global `index` with `args`.
    pub(super) fn check_call(&mut self, index: usize, call: NodeId, args: Value<'a>, pos: usize) {
        let Some(check) = self.imports.list.get(index).and_then(|i| i.class.check) else {
            return;
        };
        let items: Vec<Value<'a>> = self.arena.seq(args).map(<[_]>::to_vec).unwrap_or_default();
        let verdict: Result<(), (RuleId, String)> = match check {
            Check::Getattr => match self.judge_getattr(&items) {
                Err((_, why)) if let Some(reached) = self.data_getattr(&items) => {
                    // Kept as data until the pickle uses its result as code.
                    self.data_getattrs.insert(call, (index, why));
                    if let Some(import) = self.imports.list.get_mut(index) {
                        import.safe_calls = import.safe_calls.saturating_add(1);
                    }
                    if let Some(reached) = reached {
                        self.emit(
                            RuleId::PickleUnknownGlobal,
                            Some(pos as u64),
                            format!(
                                "fetches `{reached}` with `getattr` (never called by the pickle, so kept as data), which is on neither the allow list nor the deny list"
                            ),
                            Some(self.render_value(Value::Node(call))),
                        );
                    }
                    return;
                }
                verdict => verdict,
            },
            Check::Partial => match items.first() {
                // Judged as the function it binds: that global has its own verdict.
                Some(&f) if self.bindable_global(f) => Ok(()),
                Some(&f) => Err((
                    RuleId::PickleDeniedGlobal,
                    format!(
                        "binds {}, which is not an allowed callable",
                        self.render_value(f)
                    ),
                )),
                None => Err((
                    RuleId::PickleDeniedGlobal,
                    "binds nothing the scanner can name".to_owned(),
                )),
            },
            Check::Resolve => self.judge_resolve(&items),
            Check::FxCode => self.judge_fx_code(&items, pos),
        };
        let Some(import) = self.imports.list.get_mut(index) else {
            return;
        };
        match verdict {
            Ok(()) => {
                import.safe_calls = import.safe_calls.saturating_add(1);
                if check == Check::Getattr {
                    self.safe_getattrs.insert(call);
                }
            }
            Err((rule, why)) => {
                if import.unsafe_call.is_none() {
                    import.unsafe_call = Some((call, pos, why, rule));
                }
            }
        }
    }

    /// `getattr(X, 'name')`: X an allowed class, `name` a constant on its list of
    /// side-effect-free methods.
    fn judge_getattr(&self, items: &[Value<'a>]) -> Result<(), (RuleId, String)> {
        let deny = |why: String| Err((RuleId::PickleDeniedGlobal, why));
        let (Some(&target), Some(&name)) = (items.first(), items.get(1)) else {
            return deny("takes other than an object and an attribute name".to_owned());
        };
        if items.len() > 2 {
            return deny("takes a default value".to_owned());
        }
        let Some(name) = name.str_text() else {
            return deny(format!(
                "takes its attribute name from {}",
                super::globals::describe(&self.arena, name)
            ));
        };
        let Some(import) = self.allowed_global(target) else {
            return deny(format!(
                "reaches `{name}` on {}, which is not an allowed class",
                self.render_value(target)
            ));
        };
        if imports::safe_method(&import.class.canonical, &name) {
            Ok(())
        } else {
            deny(format!(
                "reaches `{}.{name}`, which is not on the list of side-effect-free methods",
                import.class.canonical
            ))
        }
    }

    /// `getattr(C, 'name')` that is data until its result is used as code: `C` a global the
    /// policy does not deny (an unknown one is reported on its own), `name` a constant plain
    /// identifier that the policy would not deny as `C.name` (no dunder, no usual name of a
    /// denied function: `system`, `popen`, …), no default. This is how pickle reduces a method
    /// reference (`copyreg` pickles `C.m` as `getattr(C, 'm')`); fetching an attribute of a
    /// class runs nothing. Calling the result, binding it into a method that is called, or
    /// applying BUILD or item opcodes to it makes it code again (`use_as_code`).
    ///
    /// `None`: not data. `Some(None)`: data, nothing more to say. `Some(Some(path))`: data
    /// that reaches `C.name` of an allowed class that the policy does not allow as such (an
    /// unknown `C` is reported on its own).
    fn data_getattr(&self, items: &[Value<'a>]) -> Option<Option<String>> {
        let [target, name] = items else {
            return None;
        };
        let index = self.global_index(*target)?;
        let name = name.str_text()?;
        let plain = !name.is_empty()
            && name.len() <= 64
            && !name.starts_with("__")
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        let import = self.imports.list.get(index)?;
        if !plain
            || matches!(import.class.class, Class::Denied(_))
            || import.class.check.is_some()
            || import.class.kind == Some(imports::Kind::Module)
            || super::rebuild::role(&import.module, &import.name).is_some()
        {
            return None;
        }
        // As the global `C.name` the policy would judge it: a denied attribute stays denied.
        let path = format!("{}.{name}", import.class.canonical);
        match imports::classify(&import.class.canonical, &name, self.ctx.config()).class {
            Class::Denied(_) => None,
            Class::Unknown if import.class.class == Class::Allowed => Some(Some(path)),
            _ => Some(None),
        }
    }

    /// The pickle uses `value` as code (`how`: calls it, BUILDs it, …): a getattr kept as
    /// data (or a method bound around one) is refused after all, with the reason its call was
    /// refused.
    pub(super) fn use_as_code(&mut self, value: Value<'a>, how: &str, pos: usize) {
        if self.data_getattrs.is_empty() {
            return;
        }
        let Value::Node(mut id) = value else { return };
        if let Some(&inner) = self.bound_getattrs.get(&id) {
            id = inner;
        }
        let Some((index, why)) = self.data_getattrs.remove(&id) else {
            return;
        };
        let Some(import) = self.imports.list.get_mut(index) else {
            return;
        };
        import.safe_calls = import.safe_calls.saturating_sub(1);
        if import.unsafe_call.is_none() {
            import.unsafe_call = Some((
                id,
                pos,
                format!("{why}, and the pickle {how} what it returns"),
                RuleId::PickleDeniedGlobal,
            ));
        }
    }

    /// `MethodType(f, obj)` (dill's and cloudpickle's way to rebuild a bound method): when `f`
    /// is a getattr kept as data, calling the method calls it.
    pub(super) fn note_bound_method(&mut self, method: NodeId, args: Value<'a>) {
        if self.data_getattrs.is_empty() {
            return;
        }
        if let Some(Value::Node(f)) = self.arena.seq(args).and_then(|s| s.first().copied())
            && self.data_getattrs.contains_key(&f)
        {
            self.bound_getattrs.insert(method, f);
        }
    }

    /// `_ufunc_reconstruct(module, name)` imports `module.name`: judged as that global.
    fn judge_resolve(&self, items: &[Value<'a>]) -> Result<(), (RuleId, String)> {
        let (Some(module), Some(name)) = (
            items.first().and_then(|v| v.str_text()),
            items.get(1).and_then(|v| v.str_text()),
        ) else {
            return Err((
                RuleId::PickleDeniedGlobal,
                "imports a global whose name the scanner cannot determine".to_owned(),
            ));
        };
        let class = imports::classify(&module, &name, self.ctx.config());
        match class.class {
            Class::Allowed if class.check.is_none() => Ok(()),
            Class::Denied(d) => Err((
                RuleId::PickleDeniedGlobal,
                format!(
                    "imports `{module}.{name}`, denied by `{}`: {}",
                    d.pattern, d.reason
                ),
            )),
            _ => Err((
                RuleId::PickleUnknownGlobal,
                format!(
                    "imports `{module}.{name}`, which is on neither the allow list nor the deny list"
                ),
            )),
        }
    }

    /// `reduce_graph_module(body, import_block)` runs `exec(import_block + body['_code'])`
    /// (every pickled `torch.fx.GraphModule` is written this way): the source is read with the
    /// Python analysis, never run. Calls that reach the host make it malicious (PKL011);
    /// ordinary generated code is reported as rebuilt code (PKL010).
    fn judge_fx_code(&mut self, items: &[Value<'a>], pos: usize) -> Result<(), (RuleId, String)> {
        let body = items.first().copied();
        let code = body.and_then(|b| {
            self.arena
                .dict_get(b, "_code")
                .or_else(|| self.arena.dict_get(b, "code"))
                .and_then(|v| v.str_text())
        });
        let import_block = items.get(1).and_then(|v| v.str_text());
        let (Some(code), Some(import_block)) = (code, import_block) else {
            return Err((
                RuleId::PickleDeniedGlobal,
                "executes source the scanner cannot read (no string `_code` in its body, or no import block)".to_owned(),
            ));
        };
        let source = format!("{import_block}{code}");
        let shown: String = source.chars().take(400).collect();
        match crate::formats::python::analyse(&source) {
            Ok(analysis) if !analysis.calls.is_empty() => {
                let calls: Vec<String> = analysis
                    .calls
                    .iter()
                    .take(8)
                    .map(|c| {
                        format!(
                            "`{}` ({}, line {}, {})",
                            c.text,
                            c.behaviour.describe(),
                            c.line,
                            c.scope.describe()
                        )
                    })
                    .collect();
                Err((
                    RuleId::PickleRebuiltCodeHostCall,
                    format!(
                        "executes Python source whose code calls {}",
                        calls.join(", ")
                    ),
                ))
            }
            Ok(_) => {
                self.emit(
                    RuleId::PickleRebuildsCode,
                    Some(pos as u64),
                    "rebuilds a torch.fx GraphModule by executing its generated Python source (`torch.fx.graph_module.reduce_graph_module`); the source calls nothing that reaches the host".to_owned(),
                    Some(shown),
                );
                Ok(())
            }
            Err(error) => {
                self.emit(
                    RuleId::PickleRebuildsCode,
                    Some(pos as u64),
                    format!(
                        "rebuilds a torch.fx GraphModule by executing Python source the scanner cannot parse ({error})"
                    ),
                    Some(shown),
                );
                Ok(())
            }
        }
    }

    /// BUILD on a `functools.partial(f)` result: the state replaces the bound callable.
    pub(super) fn check_partial_state(
        &mut self,
        call: NodeId,
        callable: Value<'a>,
        state: Value<'a>,
        pos: usize,
    ) {
        let Some(index) = self.global_index(callable) else {
            return;
        };
        if self.imports.list.get(index).and_then(|i| i.class.check) != Some(Check::Partial) {
            return;
        }
        let func = self.arena.seq(state).and_then(|s| s.first().copied());
        let ok = func.is_some_and(|f| self.bindable_global(f));
        if !ok {
            let why = format!(
                "its state {} rebinds it to a callable that is not allowed",
                self.render_value(state)
            );
            if let Some(import) = self.imports.list.get_mut(index) {
                import.safe_calls = import.safe_calls.saturating_sub(1);
                if import.unsafe_call.is_none() {
                    import.unsafe_call = Some((call, pos, why, RuleId::PickleDeniedGlobal));
                }
            }
        }
    }

    /// An allowed helper that calls its argument at `positions`: what it would call.
    pub(super) fn check_invoked(
        &mut self,
        helper: &str,
        args: Value<'a>,
        positions: &[usize],
        pos: usize,
    ) {
        let items: Vec<Value<'a>> = self.arena.seq(args).map(<[_]>::to_vec).unwrap_or_default();
        for &at in positions {
            let Some(&arg) = items.get(at) else { continue };
            self.use_as_code(arg, &format!("passes to `{helper}`, which calls,"), pos);
            let dynamic = match arg {
                Value::Node(id) => match self.arena.get(id) {
                    Some(Node::Call(_)) => !self.safe_getattrs.contains(&id),
                    Some(Node::Global(_) | Node::Unresolved(_)) => false,
                    _ => true,
                },
                Value::Unknown | Value::Dropped(..) => true,
                _ => false,
            };
            if dynamic && self.counts.dynamic.admit() {
                let evidence = self.render_value(arg);
                self.emit(
                    RuleId::PickleDynamicCall,
                    Some(pos as u64),
                    format!(
                        "`{helper}` calls its argument {at}, which is {}",
                        super::globals::describe(&self.arena, arg)
                    ),
                    Some(evidence),
                );
            }
        }
    }
}
