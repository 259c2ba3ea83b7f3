//! Issue 12: CPython parsing parity, salvage after a halt, canonical names, checked calls and
//! denial by behaviour. Streams are written byte by byte; nothing is unpickled.

use super::*;
use crate::config::PickleLimits;

const P0_SYSTEM: &[u8] = b"cposix\nsystem\n(S'echo hi'\ntR.";

fn p0(prefix: &[u8]) -> Vec<u8> {
    [prefix, P0_SYSTEM].concat()
}

fn has(report: &ArtifactReport, rule: RuleId) -> bool {
    report.findings.iter().any(|f| f.rule_id == rule)
}

#[test]
fn text_operands_parse_like_cpython() {
    for prefix in [
        &b"I0x10\n0"[..],
        b"I010\n0",
        b"I0o17\n0",
        b"I0b101\n0",
        b"I1_000\n0",
        b"I 42\n0",
        b"I7\x00 ignored\n0",
        b"L12L\n0",
        b"L0x1fL\n0",
        b"L-3\n0",
        b"F1.5\x00junk\n0",
        b"S'\\x41\\101'\n0",
        b"Np007\n0",
    ] {
        let r = scan(&p0(prefix));
        assert_eq!(
            r.verdict,
            Verdict::Malicious,
            "{prefix:?}: {:#?}",
            r.findings
        );
        assert_eq!(
            denied(&r, "posix.system"),
            "posix.system('echo hi')",
            "{prefix:?}"
        );
        assert!(
            !has(&r, RuleId::PickleMalformed),
            "{prefix:?}: {:#?}",
            r.findings
        );
    }
}

#[test]
fn memo_is_one_table_as_in_cpython() {
    // PUT far away (sparse), grow the memo past it, read it back.
    let data = P::proto(4)
        .s("posix")
        .raw(b"r\xd0\x07\x00\x00")
        .op(b'0')
        .op(b'N')
        .raw(b"r\xe8\x03\x00\x00")
        .op(b'0')
        .op(b'N')
        .raw(b"r\xd1\x07\x00\x00")
        .op(b'0')
        .raw(b"j\xd0\x07\x00\x00")
        .s("system")
        .op(0x93)
        .s("echo hi")
        .tuple1()
        .reduce()
        .stop();
    let r = scan(&data);
    assert_eq!(denied(&r, "posix.system"), "posix.system('echo hi')");
    // MEMOIZE writes at the memo's length: one PUT at 5 makes the next MEMOIZE index 1.
    let data = P::proto(4)
        .s("posix")
        .binput(5)
        .op(b'0')
        .s("system")
        .memoize()
        .op(b'0')
        .binget(5)
        .binget(1)
        .op(0x93)
        .s("echo hi")
        .tuple1()
        .reduce()
        .stop();
    assert_eq!(
        denied(&scan(&data), "posix.system"),
        "posix.system('echo hi')"
    );
    // A re-PUT overwrites without growing: the MEMOIZE after it still writes index 1.
    let data = P::proto(4)
        .s("x")
        .binput(0)
        .op(b'0')
        .s("posix")
        .binput(0)
        .op(b'0')
        .s("system")
        .memoize()
        .op(b'0')
        .binget(0)
        .binget(1)
        .op(0x93)
        .s("echo hi")
        .tuple1()
        .reduce()
        .stop();
    assert_eq!(
        denied(&scan(&data), "posix.system"),
        "posix.system('echo hi')"
    );
}

fn small_limits() -> Config {
    Config {
        pickle: PickleLimits {
            max_stack: 16,
            max_memo: 8,
            ..PickleLimits::default()
        },
        ..Config::default()
    }
}

#[test]
fn salvage_after_a_limit_reports_the_real_rule() {
    // 20 pushes pass the stack limit; the payload after them is still found.
    let mut p = P::proto(4).op(b'(');
    for _ in 0..20 {
        p = p.op(b'N');
    }
    let data = p
        .op(b'1')
        .sg("posix", "system")
        .s("echo hi")
        .tuple1()
        .reduce()
        .stop();
    let r = scan_with(&data, &small_limits());
    assert!(has(&r, RuleId::PickleLimitExceeded), "{:#?}", r.findings);
    assert_eq!(r.verdict, Verdict::Malicious, "{:#?}", r.findings);
    let f = find(&r, RuleId::PickleDeniedGlobal);
    assert!(f.message.contains("approximate"), "{}", f.message);
    assert_eq!(f.evidence.as_deref(), Some("posix.system('echo hi')"));
    // Memo limit, then a payload through memoized strings.
    let mut p = P::proto(4);
    for _ in 0..10 {
        p = p.op(b'N').memoize().op(b'0');
    }
    let data = p
        .s("posix")
        .memoize()
        .s("system")
        .memoize()
        .op(0x93)
        .s("echo hi")
        .tuple1()
        .reduce()
        .stop();
    let r = scan_with(&data, &small_limits());
    assert!(has(&r, RuleId::PickleLimitExceeded));
    assert_eq!(denied(&r, "posix.system"), "posix.system('echo hi')");
}

#[test]
fn salvage_reads_on_into_later_pickles() {
    let mut data = Vec::new();
    let mut p = P::proto(2).op(b'(');
    for _ in 0..20 {
        p = p.op(b'N');
    }
    data.extend(p.op(b'l').stop());
    data.extend(
        P::proto(2)
            .global("subprocess", "getoutput")
            .u("echo hi")
            .tuple1()
            .reduce()
            .stop(),
    );
    let r = scan_with(&data, &small_limits());
    assert_eq!(
        denied(&r, "subprocess.getoutput"),
        "subprocess.getoutput('echo hi')"
    );
}

#[test]
fn getattr_is_judged_call_by_call() {
    let clean = P::proto(4)
        .sg("builtins", "getattr")
        .sg("builtins", "str")
        .s("lower")
        .op(0x86)
        .reduce()
        .stop();
    let r = scan(&clean);
    assert_eq!(r.verdict, Verdict::Clean, "{:#?}", r.findings);
    // zoneinfo: the getattr result is called.
    let zone = P::proto(4)
        .sg("builtins", "getattr")
        .sg("zoneinfo", "ZoneInfo")
        .s("_unpickle")
        .op(0x86)
        .reduce()
        .s("UTC")
        .k(1)
        .op(0x86)
        .reduce()
        .stop();
    let r = scan(&zone);
    assert_eq!(r.verdict, Verdict::Clean, "{:#?}", r.findings);
    // Not called, but reaching internals or a denied name: refused all the same.
    for (target, name) in [
        (("builtins", "str"), "__class__"),
        (("random", "_os"), "system"),
        (("mypkg", "Thing"), "system"),
        (("mypkg", "Thing"), "__globals__"),
        (("sklearn.base", "BaseEstimator"), "popen"),
        (("pathlib", "PosixPath"), "write_text"),
    ] {
        let data = P::proto(4)
            .sg("builtins", "getattr")
            .sg(target.0, target.1)
            .s(name)
            .op(0x86)
            .reduce()
            .stop();
        let r = scan(&data);
        assert_eq!(r.verdict, Verdict::Malicious, "{target:?}.{name}");
        let ev = denied(&r, "builtins.getattr");
        assert!(ev.contains(name), "{ev}");
    }
    // A getattr value kept in the memo and used elsewhere is denied even after a safe call.
    let data = P::proto(4)
        .sg("builtins", "getattr")
        .memoize()
        .sg("builtins", "str")
        .s("lower")
        .op(0x86)
        .reduce()
        .op(b'0')
        .sg("copyreg", "_reconstructor")
        .binget(0)
        .sg("builtins", "object")
        .op(b'N')
        .op(0x87)
        .reduce()
        .stop();
    let r = scan(&data);
    assert_eq!(r.verdict, Verdict::Malicious, "{:#?}", r.findings);
}

/// `getattr(C, 'm')` whose result the pickle never uses as code is how pickle reduces a method
/// reference (fastai's `learn.export()` holds `MethodType(getattr(FilteredBase, 'dataloaders'),
/// obj)`): data, judged as the global `C.m` would be. Calling it, calling a method bound around
/// it, BUILD or item opcodes on it, or handing it to a helper that calls it refuses it again.
#[test]
fn getattr_kept_as_data() {
    let fetch = |p: P, target: (&str, &str), name: &str| {
        p.sg("builtins", "getattr")
            .sg(target.0, target.1)
            .s(name)
            .op(0x86)
            .reduce()
    };
    type Use = (&'static str, fn(P) -> P);
    let uses: [Use; 6] = [
        ("called", |p| {
            p.s("echo quarantine-sample").tuple1().reduce()
        }),
        ("called later", |p| {
            p.memoize()
                .op(b'0')
                .binget(0)
                .s("echo quarantine-sample")
                .tuple1()
                .reduce()
        }),
        ("built", |p| p.op(b'}').op(b'b')),
        ("extended", |p| p.op(b'(').k(1).op(b'e')),
        ("reconstructed", |p| {
            p.memoize()
                .op(b'0')
                .sg("copyreg", "_reconstructor")
                .binget(0)
                .sg("builtins", "object")
                .op(b'N')
                .op(0x87)
                .reduce()
        }),
        ("bound and called", |p| {
            p.memoize()
                .op(b'0')
                .sg("cloudpickle.cloudpickle", "_builtin_type")
                .s("MethodType")
                .tuple1()
                .reduce()
                .binget(0)
                .s("echo quarantine-sample")
                .op(0x86)
                .reduce()
                .op(b')')
                .reduce()
        }),
    ];
    for (target, name, data_verdict) in [
        (("zoneinfo", "ZoneInfo"), "from_file", Verdict::Suspicious),
        (("mypkg", "Thing"), "lower", Verdict::Suspicious),
        (
            ("fastai.data.core", "FilteredBase"),
            "dataloaders",
            Verdict::Suspicious,
        ),
    ] {
        // Kept as data: in a dict, and bound into a method that is never called.
        let data = fetch(P::proto(4).op(b'}').s("m"), target, name)
            .op(b's')
            .stop();
        let r = scan(&data);
        assert_eq!(
            r.verdict, data_verdict,
            "{target:?}.{name}: {:#?}",
            r.findings
        );
        assert!(!codes(&r).contains(&"PKL001"), "{:#?}", r.findings);
        let bound = fetch(
            P::proto(4)
                .sg("cloudpickle.cloudpickle", "_builtin_type")
                .s("MethodType")
                .tuple1()
                .reduce(),
            target,
            name,
        )
        .sg("builtins", "object")
        .op(b')')
        .op(0x81)
        .op(0x86)
        .reduce()
        .stop();
        let r = scan(&bound);
        assert_eq!(
            r.verdict, data_verdict,
            "{target:?}.{name}: {:#?}",
            r.findings
        );
        // The same getattr used as code.
        for (how, used) in &uses {
            let data = used(fetch(P::proto(4), target, name)).stop();
            let r = scan(&data);
            assert_eq!(
                r.verdict,
                Verdict::Malicious,
                "{target:?}.{name} {how}: {:#?}",
                r.findings
            );
            let ev = denied(&r, "builtins.getattr");
            assert!(ev.contains(name), "{how}: {ev}");
        }
    }
    // An allowed class and a listed method: clean when kept, clean when called.
    let data = fetch(P::proto(4).op(b']'), ("builtins", "str"), "lower")
        .op(b'a')
        .stop();
    assert_eq!(scan(&data).verdict, Verdict::Clean);
}

#[test]
fn partial_is_as_safe_as_its_function() {
    let clean = P::proto(4)
        .sg("functools", "partial")
        .sg("builtins", "int")
        .memoize()
        .tuple1()
        .reduce()
        .op(b'(')
        .binget(0)
        .op(b')')
        .op(b'}')
        .s("base")
        .k(2)
        .op(b's')
        .op(b'N')
        .op(b't')
        .op(b'b')
        .stop();
    let r = scan(&clean);
    assert_eq!(r.verdict, Verdict::Clean, "{:#?}", r.findings);
    // The state rebinds the function: judged as the function it rebinds to.
    let rebind = |module: &str, name: &str| {
        P::proto(4)
            .sg("functools", "partial")
            .sg("builtins", "int")
            .tuple1()
            .reduce()
            .op(b'(')
            .sg(module, name)
            .op(b')')
            .op(b'N')
            .op(b'N')
            .op(b't')
            .op(b'b')
            .stop()
    };
    let r = scan(&rebind("posix", "system"));
    assert!(denied(&r, "functools.partial").contains("functools.partial"));
    // An unknown function: the partial is as unknown as it (PKL002 on the function).
    let r = scan(&rebind("mypkg", "run"));
    assert_eq!(r.verdict, Verdict::Suspicious, "{:#?}", r.findings);
    assert_eq!(codes(&r), vec!["PKL002"]);
}

#[test]
fn ufunc_reconstruct_is_judged_by_what_it_imports() {
    let ok = b"\x80\x02cnumpy.core\n_ufunc_reconstruct\nX\x05\x00\x00\x00numpyX\x03\x00\x00\x00add\x86R.";
    let r = scan(ok);
    assert_eq!(r.verdict, Verdict::Clean, "{:#?}", r.findings);
    let bad = b"\x80\x02cnumpy.core\n_ufunc_reconstruct\nX\x05\x00\x00\x00posixX\x06\x00\x00\x00system\x86R.";
    let r = scan(bad);
    assert_eq!(
        denied(&r, "numpy.core._ufunc_reconstruct"),
        "numpy.core._ufunc_reconstruct('posix', 'system')"
    );
}

#[test]
fn names_resolve_to_their_home() {
    // A module object under an innocent name.
    let r = scan(&P::proto(4).sg("enum", "bltns").stop());
    assert_eq!(r.verdict, Verdict::Malicious, "{:#?}", r.findings);
    // A private alias of os, alone and as a path.
    let r = scan(&P::proto(4).sg("random", "_os").stop());
    assert!(denied(&r, "random._os").contains("os"));
    let r = scan(
        &P::proto(4)
            .sg("random", "_os.system")
            .s("id")
            .tuple1()
            .reduce()
            .stop(),
    );
    assert_eq!(
        denied(&r, "random._os.system"),
        "random._os.system('id') (resolved: os.system)"
    );
    // A re-export of a denied helper under an allowed package.
    let r = scan(&P::proto(4).sg("pandas.core.common", "builtins").stop());
    assert_eq!(r.verdict, Verdict::Malicious, "{:#?}", r.findings);
    // Dunders anywhere in the name.
    let r = scan(&P::proto(4).sg("collections", "__loader__").stop());
    assert_eq!(r.verdict, Verdict::Malicious, "{:#?}", r.findings);
    // Code-execution routes named by behaviour.
    for (m, n) in [
        ("typing", "_eval_type"),
        ("_xxsubinterpreters", "run_string"),
        ("_interpreters", "exec"),
        ("builtins", "__dict__.__getitem__"),
    ] {
        let r = scan(&P::proto(4).sg(m, n).stop());
        assert_eq!(r.verdict, Verdict::Malicious, "{m}.{n}: {:#?}", r.findings);
    }
    // Ordinary names stay clean.
    for (m, n) in [
        ("pathlib._local", "PosixPath"),
        ("sklearn.metrics._scorer", "_Scorer"),
        ("numpy", "add"),
        ("scipy.sparse._csr", "csr_matrix"),
        ("pyarrow.lib", "_restore_array"),
        ("pandas._libs.internals", "_unpickle_block"),
        ("numpy.ma.core", "MaskedArray"),
    ] {
        let r = scan(&P::proto(4).sg(m, n).stop());
        assert_eq!(r.verdict, Verdict::Clean, "{m}.{n}: {:#?}", r.findings);
    }
}
