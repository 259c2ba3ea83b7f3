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
            // `cls.__new__(cls)` or the constructor, which builds the template from shapes it
            // checks are identifiers; what BUILD executes is judged in `check_argparser_state`.
            Check::ScipyArgparser => Ok(()),
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
        // A scipy.stats discrete distribution keeps `vecentropy`, its own `_entropy` method
        // (scipy's `__getstate__` does not drop it), so the pickle fetches it from the
        // instance it is rebuilding.
        if name == "_entropy" && self.scipy_distribution(target) {
            return Ok(());
        }
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

    /// An instance of a scipy.stats distribution class the pickle builds.
    fn scipy_distribution(&self, value: Value<'a>) -> bool {
        self.arena
            .call(value)
            .is_some_and(|call| self.scipy_class_of(call.callable, call.args).is_some())
    }

    /// The scipy.stats distribution class (its import) an instance is built from: called
    /// itself (`cls.__new__(cls)` by NEWOBJ, or the constructor), or handed to copyreg's
    /// reconstructors (`copyreg._reconstructor(cls, object, None)`, what protocols 0 and 1
    /// write; `copyreg.__newobj__(cls)`, `copyreg.__newobj_ex__(cls, …)`).
    fn scipy_class_of(&self, callable: Value<'a>, args: Value<'a>) -> Option<usize> {
        let is_dist = |i: usize| {
            self.imports.list.get(i).and_then(|i| i.class.check) == Some(Check::ScipyArgparser)
        };
        let index = self.global_index(callable)?;
        if is_dist(index) {
            return Some(index);
        }
        let import = self.imports.list.get(index)?;
        let reconstructor = matches!(import.module.as_str(), "copyreg" | "copy_reg")
            && matches!(
                import.name.as_str(),
                "_reconstructor" | "__newobj__" | "__newobj_ex__"
            );
        if !reconstructor {
            return None;
        }
        let class = self.global_index(*self.arena.seq(args)?.first()?)?;
        is_dist(class).then_some(class)
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
                let calls = host_calls(&analysis);
                Err((
                    RuleId::PickleRebuiltCodeHostCall,
                    format!("executes Python source whose code calls {}", calls),
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

    /// BUILD on an instance of a `scipy.stats` distribution class: `rv_generic.__setstate__`
    /// does `self.__dict__.update(state)` and then `exec(self._parse_arg_template, ns)`
    /// (`_attach_argparser_methods`). The source scipy writes there is its argument-parser
    /// template filled in with shape names; anything else is code the pickle runs on load.
    pub(super) fn check_argparser_state(
        &mut self,
        call: NodeId,
        (callable, args): (Value<'a>, Value<'a>),
        state: Value<'a>,
        pos: usize,
    ) {
        let Some(index) = self.scipy_class_of(callable, args) else {
            return;
        };
        let Err((rule, why, evidence)) = self.judge_argparser_state(state) else {
            return;
        };
        let class = self
            .imports
            .list
            .get(index)
            .map(|i| i.written())
            .unwrap_or_default();
        let evidence = evidence.unwrap_or_else(|| self.render_value(Value::Node(call)));
        self.emit(
            rule,
            Some(pos as u64),
            format!("rebuilds a `{class}` distribution: {why}"),
            Some(evidence),
        );
    }

    #[allow(clippy::type_complexity)]
    fn judge_argparser_state(
        &self,
        state: Value<'a>,
    ) -> Result<(), (RuleId, String, Option<String>)> {
        const EXEC: &str = "its BUILD state goes to `rv_generic.__setstate__`, which runs `exec(self._parse_arg_template)`";
        // `dict.update` takes a mapping or a sequence of pairs: the last `_parse_arg_template`
        // wins either way.
        let template = match self.arena.node(state) {
            Some(Node::Dict(_)) => self.arena.dict_get(state, "_parse_arg_template"),
            Some(Node::Tuple(items) | Node::List(items)) => self
                .arena
                .values(items)
                .filter_map(|item| match self.arena.seq(item) {
                    Some(&[k, v]) if k.str_text().as_deref() == Some("_parse_arg_template") => {
                        Some(v)
                    }
                    _ => None,
                })
                .last(),
            _ => {
                return Err((
                    RuleId::PickleDeniedGlobal,
                    format!(
                        "{EXEC}, and the state is {} the scanner cannot read",
                        super::globals::describe(&self.arena, state)
                    ),
                    None,
                ));
            }
        };
        // Without the attribute `exec` fails before running anything (scipy < 1.6 pickles
        // carry `(_ctor_param, random_state)`, which `__init__` rebuilds from).
        let Some(template) = template else {
            return Ok(());
        };
        let Some(source) = template.str_text() else {
            return Err((
                RuleId::PickleDeniedGlobal,
                format!(
                    "{EXEC} on {}, which the scanner cannot read as source",
                    super::globals::describe(&self.arena, template)
                ),
                Some(format!("exec({})", self.render_value(template))),
            ));
        };
        if is_scipy_argparser_template(&source) {
            return Ok(());
        }
        let shown: String = source.chars().take(400).collect();
        let evidence = Some(format!("exec({shown:?})"));
        match crate::formats::python::analyse(&source) {
            Ok(analysis) if !analysis.calls.is_empty() => {
                let calls = host_calls(&analysis);
                Err((
                    RuleId::PickleRebuiltCodeHostCall,
                    format!(
                        "{EXEC} on source that is not scipy's argument-parser template and calls {}",
                        calls
                    ),
                    evidence,
                ))
            }
            Ok(_) => Err((
                RuleId::PickleRebuildsCode,
                format!(
                    "{EXEC} on source that is not scipy's argument-parser template (no call reaching the host found)"
                ),
                evidence,
            )),
            Err(error) => Err((
                RuleId::PickleRebuildsCode,
                format!(
                    "{EXEC} on source that is not scipy's argument-parser template and that the scanner cannot parse ({error})"
                ),
                evidence,
            )),
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

/// Whether `source` is what `rv_generic._construct_argparser` writes: scipy's
/// `parse_arg_template` filled in with shape names (identifiers joined by `, `, each followed by
/// `, `) and the continuous (`loc=0, scale=1` / `loc, scale`) or discrete (`loc=0` / `loc, 1`)
/// location and scale arguments.
pub(super) fn is_scipy_argparser_template(source: &str) -> bool {
    const HEAD: &str = "\ndef _parse_args(self, ";
    let Some(rest) = source.strip_prefix(HEAD) else {
        return false;
    };
    [("loc=0, scale=1", "loc, scale"), ("loc=0", "loc, 1")]
        .iter()
        .any(|&(input, output)| {
            let Some(at) = rest.find(&format!(" {input}):\n")) else {
                return false;
            };
            let shapes = rest.get(..at).unwrap_or_default();
            let names_ok = shapes.is_empty()
                || shapes.strip_suffix(", ").is_some_and(|names| {
                    names.split(", ").all(|n| {
                        let mut chars = n.chars();
                        chars
                            .next()
                            .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
                            && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
                    })
                });
            names_ok
                && source
                    == format!(
                        "\ndef _parse_args(self, {shapes} {input}):\n    return ({shapes}), {output}\n\n\
                         def _parse_args_rvs(self, {shapes} {input}, size=None):\n    return self._argcheck_rvs({shapes} {output}, size=size)\n\n\
                         def _parse_args_stats(self, {shapes} {input}, moments='mv'):\n    return ({shapes}), {output}, moments\n"
                    )
        })
}

/// The first calls reaching the host that a Python analysis found, for a finding's message.
fn host_calls(analysis: &crate::formats::python::Analysis) -> String {
    analysis
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
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::is_scipy_argparser_template;

    const TEMPLATE: &str = "\ndef _parse_args(self, %S %I):\n    return (%S), %O\n\ndef _parse_args_rvs(self, %S %I, size=None):\n    return self._argcheck_rvs(%S %O, size=size)\n\ndef _parse_args_stats(self, %S %I, moments='mv'):\n    return (%S), %O, moments\n";

    fn fill(shapes: &str, input: &str, output: &str) -> String {
        TEMPLATE
            .replace("%S", shapes)
            .replace("%I", input)
            .replace("%O", output)
    }

    #[test]
    fn scipy_template_is_recognised_and_nothing_else() {
        for (shapes, input, output) in [
            ("", "loc=0, scale=1", "loc, scale"),
            ("a, b, ", "loc=0, scale=1", "loc, scale"),
            ("mu, ", "loc=0", "loc, 1"),
            ("_n, p2, ", "loc=0", "loc, 1"),
        ] {
            assert!(is_scipy_argparser_template(&fill(shapes, input, output)));
        }
        for bad in [
            fill(
                "a=__import__('os').system('id'), ",
                "loc=0, scale=1",
                "loc, scale",
            ),
            fill("a, ", "loc=0, scale=1", "loc, scale") + "import os\n",
            format!("import os\n{}", fill("", "loc=0", "loc, 1")),
            fill("a b, ", "loc=0", "loc, 1"),
            fill("", "loc=0", "loc, scale"),
            String::new(),
        ] {
            assert!(!is_scipy_argparser_template(&bad), "{bad}");
        }
    }
}
