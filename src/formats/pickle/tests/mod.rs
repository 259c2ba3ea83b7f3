//! End-to-end tests of the pickle analyser on hand-built streams, through `scan::scan_file`.
//! Every pickle here is written byte by byte; nothing is ever unpickled.

use crate::config::Config;
use crate::model::finding::{ArtifactReport, Finding, Verdict};
use crate::model::rules::RuleId;
use crate::scan::scan_file;

mod layouts;
mod parity;
mod policy;

/// A pickle under construction.
#[derive(Default, Clone)]
struct P(Vec<u8>);

impl P {
    fn proto(n: u8) -> P {
        P(vec![0x80, n])
    }
    fn raw(mut self, bytes: &[u8]) -> P {
        self.0.extend_from_slice(bytes);
        self
    }
    fn op(self, byte: u8) -> P {
        self.raw(&[byte])
    }
    /// SHORT_BINUNICODE
    fn s(self, text: &str) -> P {
        let len = u8::try_from(text.len()).unwrap();
        self.op(0x8c).op(len).raw(text.as_bytes())
    }
    /// BINUNICODE
    fn u(self, text: &str) -> P {
        let len = u32::try_from(text.len()).unwrap().to_le_bytes();
        self.op(b'X').raw(&len).raw(text.as_bytes())
    }
    /// SHORT_BINBYTES
    fn b(self, bytes: &[u8]) -> P {
        let len = u8::try_from(bytes.len()).unwrap();
        self.op(b'C').op(len).raw(bytes)
    }
    /// BININT1
    fn k(self, n: u8) -> P {
        self.op(b'K').op(n)
    }
    /// GLOBAL
    fn global(self, module: &str, name: &str) -> P {
        self.op(b'c').raw(format!("{module}\n{name}\n").as_bytes())
    }
    /// STACK_GLOBAL over two SHORT_BINUNICODE strings.
    fn sg(self, module: &str, name: &str) -> P {
        self.s(module).s(name).op(0x93)
    }
    fn memoize(self) -> P {
        self.op(0x94)
    }
    fn binput(self, i: u8) -> P {
        self.op(b'q').op(i)
    }
    fn binget(self, i: u8) -> P {
        self.op(b'h').op(i)
    }
    fn tuple1(self) -> P {
        self.op(0x85)
    }
    fn reduce(self) -> P {
        self.op(b'R')
    }
    fn stop(self) -> Vec<u8> {
        self.op(b'.').0
    }
}

fn scan_with(data: &[u8], config: &Config) -> ArtifactReport {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.pkl");
    std::fs::write(&path, data).unwrap();
    scan_file(&path, "model.pkl", config)
}

fn scan(data: &[u8]) -> ArtifactReport {
    scan_with(data, &Config::default())
}

fn codes(report: &ArtifactReport) -> Vec<&str> {
    report.findings.iter().map(|f| f.rule_id.code()).collect()
}

fn find(report: &ArtifactReport, rule: RuleId) -> &Finding {
    report
        .findings
        .iter()
        .find(|f| f.rule_id == rule)
        .unwrap_or_else(|| panic!("no {rule} in {:#?}", report.findings))
}

fn evidence(report: &ArtifactReport, rule: RuleId) -> &str {
    find(report, rule).evidence.as_deref().unwrap_or_default()
}

/// The evidence of the PKL001 finding whose message names `global`.
fn denied(report: &ArtifactReport, global: &str) -> String {
    report
        .findings
        .iter()
        .find(|f| {
            f.rule_id == RuleId::PickleDeniedGlobal && f.message.contains(&format!("`{global}`"))
        })
        .and_then(|f| f.evidence.clone())
        .unwrap_or_else(|| panic!("{global} not denied in {:#?}", report.findings))
}

#[test]
fn global_protocol_0() {
    let r = scan(b"cos\nsystem\n(S'echo hi'\ntR.");
    assert_eq!(r.verdict, Verdict::Malicious);
    assert_eq!(denied(&r, "os.system"), "os.system('echo hi')");
    let r = scan(b"cposix\nsystem\n(S'echo hi'\ntR.");
    assert_eq!(denied(&r, "posix.system"), "posix.system('echo hi')");
    let f = find(&r, RuleId::PickleDeniedGlobal);
    assert_eq!(
        f.location.offset,
        Some(27),
        "offset of the REDUCE that called it"
    );
}

#[test]
fn builtins_render_bare_and_py2_names_resolve() {
    let r = scan(b"c__builtin__\neval\n(S'1+1'\ntR.");
    assert_eq!(denied(&r, "__builtin__.eval"), "eval('1+1')");
    let r = scan(b"chttplib\nHTTPSConnection\n(S'example.invalid'\ntR.");
    assert_eq!(
        denied(&r, "httplib.HTTPSConnection"),
        "httplib.HTTPSConnection('example.invalid') (resolved: http.client.HTTPSConnection)"
    );
}

#[test]
fn inst_and_obj() {
    let r = scan(b"(S'echo hi'\nios\nsystem\n.");
    assert_eq!(denied(&r, "os.system"), "os.system('echo hi')");
    let r = scan(b"(cos\nsystem\nS'id'\no.");
    assert_eq!(denied(&r, "os.system"), "os.system('id')");
}

#[test]
fn newobj_and_newobj_ex() {
    let r = scan(&P::proto(2).global("bdb", "Bdb").op(b')').op(0x81).stop());
    assert_eq!(denied(&r, "bdb.Bdb"), "bdb.Bdb.__new__(bdb.Bdb)");
    let data = P::proto(4)
        .sg("os", "system")
        .s("id")
        .tuple1()
        .op(b'}')
        .s("x")
        .s("y")
        .op(b's')
        .op(0x92)
        .stop();
    let r = scan(&data);
    assert_eq!(
        denied(&r, "os.system"),
        "os.system.__new__(os.system, 'id', x='y')"
    );
}

#[test]
fn stack_global_routes() {
    // SHORT_BINUNICODE operands.
    let data = P::proto(4)
        .s("posix")
        .memoize()
        .s("system")
        .memoize()
        .op(0x93)
        .memoize()
        .s("echo hi")
        .memoize()
        .tuple1()
        .memoize()
        .reduce()
        .memoize()
        .stop();
    assert_eq!(
        denied(&scan(&data), "posix.system"),
        "posix.system('echo hi')"
    );
    // Operands from the memo through several PUT/GET hops and MEMOIZE.
    let data = P::proto(2)
        .u("os")
        .memoize()
        .op(b'0')
        .u("system")
        .binput(5)
        .op(b'0')
        .binget(0)
        .binput(7)
        .op(b'0')
        .op(b'g')
        .raw(b"7\n")
        .op(b'p')
        .raw(b"9\n")
        .op(b'0')
        .binget(9)
        .op(b'j')
        .raw(&5u32.to_le_bytes())
        .op(0x93)
        .s("id")
        .tuple1()
        .reduce()
        .stop();
    let r = scan(&data);
    assert_eq!(denied(&r, "os.system"), "os.system('id')");
    // Protocol-0 STRING operands, no PROTO header.
    let r = scan(b"S'os'\nS'system'\n\x93S'ls'\n\x85R.");
    assert_eq!(denied(&r, "os.system"), "os.system('ls')");
    // UNICODE and BINSTRING operands.
    let r = scan(b"Vos\nT\x06\x00\x00\x00system\x93S'ls'\n\x85R.");
    assert_eq!(denied(&r, "os.system"), "os.system('ls')");
}

#[test]
fn dotted_name_through_an_innocent_module() {
    let r = scan(
        &P::proto(4)
            .sg("logging", "os.system")
            .s("id")
            .tuple1()
            .reduce()
            .stop(),
    );
    assert_eq!(r.verdict, Verdict::Malicious);
    assert_eq!(
        denied(&r, "logging.os.system"),
        "logging.os.system('id') (resolved: os.system)"
    );
    let r = scan(&P::proto(4).sg("logging", "os.system").stop());
    assert_eq!(
        denied(&r, "logging.os.system"),
        "logging.os.system (resolved: os.system)"
    );
    let r = scan(&P::proto(4).sg("bdb", "Bdb.run").stop());
    assert_eq!(r.verdict, Verdict::Malicious);
}

#[test]
fn calls_on_call_results() {
    let data = P::proto(4)
        .sg("builtins", "getattr")
        .sg("builtins", "__import__")
        .s("os")
        .tuple1()
        .reduce()
        .s("system")
        .op(0x86)
        .reduce()
        .s("id")
        .tuple1()
        .reduce()
        .stop();
    let r = scan(&data);
    assert_eq!(
        denied(&r, "builtins.getattr"),
        "getattr(__import__('os'), 'system')('id')"
    );
    assert_eq!(denied(&r, "builtins.__import__"), "__import__('os')");
    let data = P::proto(4)
        .sg("operator", "attrgetter")
        .s("system")
        .tuple1()
        .reduce()
        .sg("builtins", "__import__")
        .s("os")
        .tuple1()
        .reduce()
        .tuple1()
        .reduce()
        .s("id")
        .tuple1()
        .reduce()
        .stop();
    let r = scan(&data);
    assert_eq!(
        denied(&r, "operator.attrgetter"),
        "operator.attrgetter('system')(__import__('os'))('id')"
    );
    // Calling the result of an unknown global's call is a dynamic call.
    let data = P::proto(4)
        .sg("mypkg", "factory")
        .op(b')')
        .reduce()
        .op(b')')
        .reduce()
        .stop();
    let r = scan(&data);
    assert_eq!(evidence(&r, RuleId::PickleDynamicCall), "mypkg.factory()()");
}

#[test]
fn functools_partial_shows_its_bound_arguments() {
    let data = P::proto(4)
        .sg("functools", "partial")
        .sg("torch.serialization", "load")
        .memoize()
        .tuple1()
        .reduce()
        .op(b'(')
        .binget(0)
        .s("other.bin")
        .tuple1()
        .op(b'}')
        .s("weights_only")
        .op(0x89)
        .op(b's')
        .op(b'N')
        .op(b't')
        .op(b'b')
        .op(b')')
        .reduce()
        .stop();
    let r = scan(&data);
    assert_eq!(
        denied(&r, "functools.partial"),
        "functools.partial(torch.serialization.load, 'other.bin', weights_only=False)()"
    );
}

#[test]
fn imported_but_never_called_is_still_reported() {
    let r = scan(b"\x80\x02cos\nsystem\n.");
    assert_eq!(denied(&r, "os.system"), "os.system");
    assert_eq!(
        find(&r, RuleId::PickleDeniedGlobal).location.offset,
        Some(2)
    );
}

#[test]
fn build_on_a_module_global() {
    // BUILD plants builtins/eval behind torch._utils._rebuild_tensor; the later lookups resolve
    // to builtins.eval.
    let data = P::proto(4)
        .s("torch._utils")
        .memoize()
        .s("_rebuild_tensor")
        .memoize()
        .op(0x93)
        .op(b'0')
        .sg("torch", "_utils")
        .memoize()
        .op(b'0')
        .binget(2)
        .op(b'}')
        .binget(1)
        .s("builtins")
        .op(b's')
        .op(b'b')
        .op(b'0')
        .binget(0)
        .binget(1)
        .op(0x93)
        .binget(2)
        .op(b'}')
        .binget(1)
        .s("eval")
        .op(b's')
        .op(b'b')
        .op(b'0')
        .binget(0)
        .binget(1)
        .op(0x93)
        .op(0x93)
        .s("1+1")
        .tuple1()
        .reduce()
        .stop();
    let r = scan(&data);
    assert_eq!(r.verdict, Verdict::Malicious);
    assert_eq!(
        evidence(&r, RuleId::PickleGlobalMutation),
        "torch._utils._rebuild_tensor = 'builtins'"
    );
    assert_eq!(denied(&r, "builtins.eval"), "eval('1+1')");
    // SETITEM on a global is a mutation too.
    let r = scan(
        &P::proto(4)
            .sg("mypkg", "REGISTRY")
            .s("k")
            .s("v")
            .op(b's')
            .stop(),
    );
    assert_eq!(
        evidence(&r, RuleId::PickleGlobalMutation),
        "mypkg.REGISTRY['k'] = 'v'"
    );
}

#[test]
fn unresolvable_stack_global_keeps_earlier_findings_and_continues() {
    let head = P::proto(4)
        .global("os", "system")
        .s("id")
        .tuple1()
        .reduce()
        .op(b'0');
    // Module operand is an int.
    let data = head
        .clone()
        .op(b'J')
        .raw(&42i32.to_le_bytes())
        .memoize()
        .s("os")
        .memoize()
        .binget(0)
        .binget(1)
        .op(0x93)
        .k(1)
        .stop();
    let r = scan(&data);
    assert_eq!(denied(&r, "os.system"), "os.system('id')");
    assert_eq!(
        evidence(&r, RuleId::PickleUnresolvableImport),
        "STACK_GLOBAL(42, 'os')"
    );
    // Module operand from a memo key never stored; analysis goes on to a later payload.
    let data = head
        .s("os")
        .memoize()
        .binget(3)
        .binget(0)
        .op(0x93)
        .op(b'0')
        .sg("posix", "system")
        .s("later")
        .tuple1()
        .reduce()
        .stop();
    let r = scan(&data);
    assert_eq!(denied(&r, "os.system"), "os.system('id')");
    assert_eq!(denied(&r, "posix.system"), "posix.system('later')");
    assert!(codes(&r).contains(&"PKL008"));
    assert!(codes(&r).contains(&"PKL003"));
}

#[test]
fn denied_module_with_an_unresolvable_name() {
    let data = P::proto(4).s("os").k(7).op(0x93).op(b')').reduce().stop();
    let r = scan(&data);
    assert_eq!(r.verdict, Verdict::Malicious);
    assert_eq!(
        evidence(&r, RuleId::PickleUnresolvableImport),
        "STACK_GLOBAL('os', 7)"
    );
    assert!(
        find(&r, RuleId::PickleDeniedGlobal)
            .message
            .contains("imports from `os`")
    );
    // Calling what it produced is a dynamic call.
    assert!(codes(&r).contains(&"PKL007"));
}

#[test]
fn extension_codes() {
    let r = scan(&P::proto(2).op(0x82).op(1).op(b')').reduce().stop());
    assert_eq!(r.verdict, Verdict::Suspicious);
    assert!(codes(&r).contains(&"PKL009"));
}

#[test]
fn nested_pickle_in_loads_argument() {
    let inner = P::proto(4)
        .sg("posix", "system")
        .s("echo hi")
        .tuple1()
        .reduce()
        .stop();
    let data = P::proto(4)
        .sg("_pickle", "loads")
        .b(&inner)
        .tuple1()
        .reduce()
        .stop();
    let r = scan(&data);
    let offset = 2 + 9 + 7 + 1 + 2;
    let member = format!("_pickle.loads argument@{offset}");
    let nested: Vec<&Finding> = r
        .findings
        .iter()
        .filter(|f| f.location.member.as_deref() == Some(member.as_str()))
        .collect();
    assert_eq!(nested.len(), 1, "{:#?}", r.findings);
    assert_eq!(
        nested[0].evidence.as_deref(),
        Some("posix.system('echo hi')")
    );
    // A pickle passed as text through _codecs.encode, protocol 0.
    let data = b"cpickle\nloads\n(c_codecs\nencode\n(Vcos\\u000asystem\\u000a(S'id'\\u000atR.\nVlatin1\ntRtR.";
    let r = scan(data);
    assert!(
        r.findings.iter().any(
            |f| f.location.member.is_some() && f.evidence.as_deref() == Some("os.system('id')")
        ),
        "{:#?}",
        r.findings
    );
}

/// `OrderedDict` of one tensor, as `torch.save` writes in a zip's data.pkl (protocol 2).
fn torch_state_dict() -> P {
    P::proto(2)
        .global("collections", "OrderedDict")
        .binput(0)
        .op(b')')
        .reduce()
        .binput(1)
        .op(b'(')
        .u("weight")
        .global("torch._utils", "_rebuild_tensor_v2")
        .op(b'(')
        .op(b'(')
        .u("storage")
        .global("torch", "FloatStorage")
        .u("0")
        .u("cpu")
        .k(4)
        .op(b'N')
        .op(b't')
        .op(b'Q')
        .k(0)
        .k(2)
        .k(2)
        .op(0x86)
        .k(2)
        .k(1)
        .op(0x86)
        .op(0x89)
        .binget(0)
        .op(b')')
        .reduce()
        .op(b't')
        .reduce()
        .op(b'u')
}

#[test]
fn torch_checkpoint_is_clean() {
    let r = scan(&torch_state_dict().stop());
    assert_eq!(r.verdict, Verdict::Clean, "{:#?}", r.findings);
    assert!(r.findings.is_empty());
}

#[test]
fn unknown_global() {
    let r = scan(
        &P::proto(4)
            .sg("mypkg.models", "Net")
            .op(b')')
            .op(0x81)
            .stop(),
    );
    assert_eq!(r.verdict, Verdict::Suspicious);
    assert_eq!(
        evidence(&r, RuleId::PickleUnknownGlobal),
        "mypkg.models.Net.__new__(mypkg.models.Net)"
    );
    let config = Config {
        allow_globals: vec!["mypkg.*".into()],
        ..Config::default()
    };
    let r = scan_with(
        &P::proto(4)
            .sg("mypkg.models", "Net")
            .op(b')')
            .op(0x81)
            .stop(),
        &config,
    );
    assert_eq!(r.verdict, Verdict::Clean);
}

#[test]
fn long_arguments_are_cut() {
    let long = "a".repeat(12000);
    let r = scan(
        &P::proto(4)
            .sg("os", "system")
            .u(&long)
            .tuple1()
            .reduce()
            .stop(),
    );
    let e = denied(&r, "os.system");
    assert!(e.starts_with("os.system('aaaa"), "{e}");
    assert!(e.ends_with("…' (12000 bytes))"), "{e}");
}

#[test]
fn hostile_inputs_do_not_panic() {
    let cases: Vec<Vec<u8>> = vec![
        b"\x80\x04".to_vec(),
        b"\x80\x05\x95\xff\xff\xff\xff\xff\xff\xff\xff".to_vec(),
        b"\x80\x04R0112tdel.".to_vec(),
        b"\x80\x04((((((((ubs.".to_vec(),
        b"\x80\x04}\x94h\x00h\x00s.".to_vec(),
        b"\x80\x04]\x94h\x00a.".to_vec(),
        b"\x80\x04\x93\x93\x93\x81\x92R.".to_vec(),
        b"\x80\x02\x8a\xff\xff.".to_vec(),
        b"\x80\x02\x8b\xff\xff\xff\x7f.".to_vec(),
        b"\x80\x02I99999999999999999999999\n.".to_vec(),
        b"\x80\x02Fnan\n.".to_vec(),
        b"\x80\x02r\xff\xff\xff\xffj\xff\xff\xff\xff.".to_vec(),
        b"\x80\x02p-1\n.".to_vec(),
        b"\x80\x02N\x97\x98b.".to_vec(),
    ];
    for data in cases {
        let _ = scan(&data);
    }
    // A deeply nested list built from the memo, appended into itself.
    let mut p = P::proto(4).op(b']').memoize();
    for _ in 0..10_000 {
        p = p.op(b']').memoize().binget(0).op(b'a');
    }
    p = p.binget(0).binget(0).op(b'a');
    let _ = scan(&p.stop());
}

#[test]
fn config_entries_are_validated() {
    let bad = Config {
        deny_globals: vec!["not a global".into()],
        ..Config::default()
    };
    let err = super::validate_config(&bad).unwrap_err();
    assert!(err.to_string().contains("`not a global`"));
    assert!(super::validate_config(&Config::default()).is_ok());
}
