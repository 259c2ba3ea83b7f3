//! The import policy's red-team fixes, end to end: names judged by what they resolve to,
//! wildcards that vouch for classes (not for arbitrary functions), the gadgets added to the
//! deny list, torch.fx's reduce_graph_module judged by its source, and scikit-learn's
//! `functools.partial(check_array, …)`.

use super::*;

fn call(module: &str, name: &str, arg: &str) -> Vec<u8> {
    P::proto(4).sg(module, name).s(arg).tuple1().reduce().stop()
}

fn verdict(data: &[u8]) -> Verdict {
    scan(data).verdict
}

#[test]
fn a_reexport_is_judged_by_its_home() {
    // `from functools import reduce` in a module the names table does not enumerate.
    let r = scan(&call(
        "torch.distributed._shard.sharded_tensor.api",
        "reduce",
        "x",
    ));
    assert_eq!(r.verdict, Verdict::Malicious, "{:#?}", r.findings);
    let f = find(&r, RuleId::PickleDeniedGlobal);
    assert!(
        f.evidence
            .as_deref()
            .unwrap_or("")
            .contains("functools.reduce"),
        "{f:#?}"
    );
    // ... and in one it enumerates (transformers.trainer_utils imports functools.partial):
    // the partial check applies, so binding a denied function is malicious,
    for module in ["transformers.trainer_utils", "torch.optim.lr_scheduler"] {
        let data = P::proto(4)
            .sg(module, "partial")
            .sg("posix", "system")
            .s("echo quarantine-sample")
            .op(0x86)
            .reduce()
            .op(b')')
            .reduce()
            .stop();
        let r = scan(&data);
        assert_eq!(r.verdict, Verdict::Malicious, "{module}");
        assert!(
            r.findings
                .iter()
                .any(|f| f.message.contains(&format!("`{module}.partial`"))),
            "{module}: {:#?}",
            r.findings
        );
        // while binding an allowed one is clean.
        let data = P::proto(4)
            .sg(module, "partial")
            .sg("builtins", "int")
            .tuple1()
            .reduce()
            .stop();
        assert_eq!(verdict(&data), Verdict::Clean, "{module}");
    }
}

#[test]
fn wildcards_vouch_for_classes_not_for_arbitrary_functions() {
    // A function of an enumerated module under a package wildcard: not vouched for.
    let r = scan(&call("transformers.trainer_utils", "set_seed", "1"));
    assert_eq!(r.verdict, Verdict::Suspicious, "{:#?}", r.findings);
    assert!(codes(&r).contains(&"PKL002"));
    // The one that deletes directories is denied.
    let r = scan(&call(
        "transformers.trainer_utils",
        "rotate_checkpoints",
        "/srv/models",
    ));
    assert_eq!(r.verdict, Verdict::Malicious);
    // Classes (enumerations) of the same module stay clean.
    for (m, n) in [
        ("transformers.trainer_utils", "IntervalStrategy"),
        ("transformers.trainer_utils", "SchedulerType"),
        ("transformers.training_args", "TrainingArguments"),
        ("transformers.training_args", "OptimizerNames"),
    ] {
        assert_eq!(verdict(&call(m, n, "steps")), Verdict::Clean, "{m}.{n}");
    }
    // A module the table does not enumerate: CapWords passes, a lowercase name does not.
    assert_eq!(
        verdict(&call("torch.optim.adam", "Adam", "x")),
        Verdict::Clean
    );
    assert_eq!(
        verdict(&call("torch.optim.adam", "adam", "x")),
        Verdict::Suspicious
    );
    // Functions of the packages known harmless still pass their wildcard.
    let data = P::proto(4)
        .sg("sklearn.metrics._classification", "f1_score")
        .stop();
    assert_eq!(verdict(&data), Verdict::Clean);
}

#[test]
fn private_classes_defined_in_a_package_are_clean() {
    for (m, n) in [
        (
            "sklearn.ensemble._hist_gradient_boosting.binning",
            "_BinMapper",
        ),
        ("sklearn.calibration", "_CalibratedClassifier"),
        ("sklearn.calibration", "_SigmoidCalibration"),
        (
            "sklearn.gaussian_process._gpc",
            "_BinaryGaussianProcessClassifierLaplace",
        ),
        ("sklearn.cluster._birch", "_CFNode"),
        ("sklearn.cluster._birch", "_CFSubcluster"),
        ("sklearn.impute._iterative", "_ImputerTriplet"),
        ("scipy.interpolate._bsplines", "BSpline"),
        ("numpy", "record"),
    ] {
        let data = P::proto(4).sg(m, n).op(b')').reduce().stop();
        let r = scan(&data);
        assert_eq!(r.verdict, Verdict::Clean, "{m}.{n}: {:#?}", r.findings);
    }
    // A private function of the same packages is not vouched for.
    let data = P::proto(4)
        .sg("sklearn.cluster._birch", "_iterate_sparse_X")
        .stop();
    assert_eq!(verdict(&data), Verdict::Suspicious);
}

#[test]
fn partial_is_judged_as_the_function_it_binds() {
    // functools.partial(check_array) with its state, as HistGradientBoosting pickles it.
    let data = P::proto(4)
        .sg("functools", "partial")
        .sg("sklearn.utils.validation", "check_array")
        .memoize()
        .tuple1()
        .reduce()
        .op(b'(')
        .binget(0)
        .op(b')')
        .op(b'}')
        .s("ensure_all_finite")
        .op(0x89)
        .op(b's')
        .op(b'N')
        .op(b't')
        .op(b'b')
        .stop();
    let r = scan(&data);
    assert_eq!(r.verdict, Verdict::Clean, "{:#?}", r.findings);
    // An unknown bound function is reported as unknown (PKL002), not as a denied partial.
    let data = P::proto(4)
        .sg("functools", "partial")
        .sg("mypkg.prep", "clean")
        .tuple1()
        .reduce()
        .stop();
    let r = scan(&data);
    assert_eq!(r.verdict, Verdict::Suspicious, "{:#?}", r.findings);
    assert_eq!(codes(&r), vec!["PKL002"]);
}

#[test]
fn red_team_gadgets_are_denied() {
    for (m, n) in [
        ("uuid", "_find_mac_near_keyword"),
        ("uuid", "_find_mac_under_heading"),
        ("uuid", "_ip_getnode"),
        ("uuid", "getnode"),
        ("_bootsubprocess", "check_output"),
        ("pipes", "Template"),
        ("platform", "_syscmd_file"),
        ("torch.fx.graph_module", "_exec_with_source"),
        ("torch.testing._internal.common_utils", "shell"),
        ("torch.distributed.run", "main"),
        ("torch.distributed.launch", "main"),
        ("_winapi", "CreateProcess"),
        ("_imp", "create_dynamic"),
        ("_frozen_importlib", "_gcd_import"),
        ("_frozen_importlib_external", "SourceFileLoader"),
        ("unittest.loader", "TestLoader"),
        ("tkinter", "Tcl"),
        ("Tkinter", "Tcl"),
        ("string", "Formatter"),
        ("joblib.numpy_pickle_compat", "load_compatibility"),
        ("joblib.numpy_pickle", "load_temporary_memmap"),
        ("_pyio", "open"),
        ("codecs", "open"),
        ("_sqlite3", "connect"),
        ("gzip", "open"),
        ("numpy", "genfromtxt"),
        ("numpy", "loadtxt"),
        ("numpy.lib.format", "read_array"),
        ("xml.sax", "parse"),
    ] {
        let r = scan(&call(m, n, "echo quarantine-sample"));
        assert_eq!(r.verdict, Verdict::Malicious, "{m}.{n}: {:#?}", r.findings);
        assert!(codes(&r).contains(&"PKL001"), "{m}.{n}");
    }
    // Siblings that real pickles hold stay clean.
    for (m, n) in [("uuid", "UUID"), ("codecs", "encode")] {
        assert_eq!(verdict(&call(m, n, "x")), Verdict::Clean, "{m}.{n}");
    }
}

fn graph_module(code: &str) -> Vec<u8> {
    P::proto(4)
        .sg("torch.fx.graph_module", "reduce_graph_module")
        .op(b'}')
        .op(b'(')
        .s("_code")
        .u(code)
        .s("_graphmodule_cls_name")
        .s("GraphModule")
        .op(b'u')
        .s("\nimport torch\nfrom math import inf\n")
        .op(0x86)
        .reduce()
        .stop()
}

#[test]
fn fx_graph_modules_are_judged_by_their_source() {
    let plain = graph_module(
        "\n\n\ndef forward(self, x):\n    relu = torch.relu(x);  x = None\n    return relu\n    ",
    );
    let r = scan(&plain);
    assert_eq!(r.verdict, Verdict::Suspicious, "{:#?}", r.findings);
    assert_eq!(codes(&r), vec!["PKL010"]);
    let host = graph_module(
        "\n\n\ndef forward(self, x):\n    import os\n    os.system('echo quarantine-sample')\n    return x\n",
    );
    let r = scan(&host);
    assert_eq!(r.verdict, Verdict::Malicious, "{:#?}", r.findings);
    assert!(codes(&r).contains(&"PKL011"), "{:#?}", r.findings);
    assert!(evidence(&r, RuleId::PickleRebuiltCodeHostCall).contains("os.system"));
    // Without a readable `_code` the call is refused (fail closed).
    let data = P::proto(4)
        .sg("torch.fx.graph_module", "reduce_graph_module")
        .op(b'}')
        .s("")
        .op(0x86)
        .reduce()
        .stop();
    assert_eq!(verdict(&data), Verdict::Malicious);
    // Named without being called, it is the deny entry that speaks.
    let data = P::proto(4)
        .sg("torch.fx.graph_module", "reduce_graph_module")
        .stop();
    assert_eq!(verdict(&data), Verdict::Malicious);
}

/// A pickled function signature (fastai's `learn.export()` keeps one per transform) is data:
/// `inspect.Signature`, `Parameter`, `_ParameterKind` and `_empty` are exempt from the deny
/// entry of `inspect`; everything else there, and attributes reached through them, stay denied.
#[test]
fn pickled_signatures_are_data_the_rest_of_inspect_is_not() {
    // inspect.Signature((inspect.Parameter('args', inspect._ParameterKind(2)),), return_annotation=inspect._empty)
    let signature = P::proto(4)
        .sg("inspect", "Signature")
        .sg("inspect", "Parameter")
        .s("args")
        .sg("inspect", "_ParameterKind")
        .k(2)
        .tuple1()
        .reduce()
        .op(0x86)
        .reduce()
        .tuple1()
        .tuple1()
        .reduce()
        .op(b'N')
        .op(b'}')
        .s("_return_annotation")
        .sg("inspect", "_empty")
        .op(b's')
        .op(0x86)
        .op(b'b')
        .stop();
    let r = scan(&signature);
    assert_eq!(r.verdict, Verdict::Clean, "{:#?}", r.findings);
    for (m, n) in [
        ("inspect", "getsource"),
        ("inspect", "currentframe"),
        ("inspect", "Signature.from_callable"),
        ("inspect", "_empty.__init__.__globals__"),
        ("logging", "inspect.getsource"),
        ("logging", "inspect.Signature.from_callable"),
    ] {
        let r = scan(&call(m, n, "echo quarantine-sample"));
        assert_eq!(r.verdict, Verdict::Malicious, "{m}.{n}: {:#?}", r.findings);
    }
}

/// dill pickles every ndarray as `_create_array(_reconstruct, (ndarray, (0,), b'b'), state)`,
/// which calls its first argument with the second: clean when that is numpy's reconstructor on
/// an allowed array type, refused when it is anything else.
#[test]
fn dill_create_array_is_judged_by_what_it_calls() {
    // (f, args, state, npdict) as one tuple: MARK … TUPLE.
    let make = |f: (&str, &str), subtype: (&str, &str)| {
        P::proto(4)
            .sg("dill._dill", "_create_array")
            .op(b'(')
            .sg(f.0, f.1)
            .sg(subtype.0, subtype.1)
            .k(0)
            .tuple1()
            .b(b"b")
            .op(0x87)
            .k(1)
            .op(b'N')
            .op(b't')
            .reduce()
            .stop()
    };
    let clean = make(
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
    );
    let r = scan(&clean);
    assert_eq!(r.verdict, Verdict::Clean, "{:#?}", r.findings);
    let legacy = make(
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
    );
    assert_eq!(verdict(&legacy), Verdict::Clean);
    for (f, subtype) in [
        (("posix", "system"), ("numpy", "ndarray")),
        (("builtins", "print"), ("numpy", "ndarray")),
        (
            ("numpy._core.multiarray", "_reconstruct"),
            ("mypkg", "Evil"),
        ),
        (
            ("numpy._core.multiarray", "_reconstruct"),
            ("posix", "system"),
        ),
    ] {
        let r = scan(&make(f, subtype));
        assert_eq!(
            r.verdict,
            Verdict::Malicious,
            "{f:?} {subtype:?}: {:#?}",
            r.findings
        );
        let m = &find(&r, RuleId::PickleDeniedGlobal).message;
        assert!(
            m.contains("_create_array") || m.contains("posix.system"),
            "{m}"
        );
    }
    // The helpers that rebuild code are judged as before.
    let r = scan(&call("dill._dill", "_create_code", "x"));
    assert_ne!(r.verdict, Verdict::Clean);
}
