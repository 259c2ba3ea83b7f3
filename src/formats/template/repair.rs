//! Template text made parseable before minijinja reads it: transformers' extension tags, and
//! calls right after filters, both rewritten to what Jinja2 itself reads.

use minijinja::syntax::SyntaxConfig;

/// Rewrites transformers' `{% generation %}` / `{% endgeneration %}` (its `AssistantTracker`
/// extension) to `{% if true %}` / `{% endif %}` of the same length, so offsets stay put.
pub(super) fn rewrite_extensions(source: &str) -> String {
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
pub(super) fn parenthesise_filter_calls(source: &str) -> Option<String> {
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
