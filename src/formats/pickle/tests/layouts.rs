//! Layouts around and inside streams: several streams, truncated and trailing data, joblib
//! inline arrays, legacy PyTorch storages, and analysis limits.

use super::*;

#[test]
fn every_stream_is_analysed() {
    let mut data = P::proto(4).op(b']').memoize().stop();
    data.extend(
        P::proto(4)
            .sg("os", "system")
            .s("id")
            .tuple1()
            .reduce()
            .stop(),
    );
    let r = scan(&data);
    assert_eq!(codes(&r), vec!["PKL001"]);
    // Protocol-0 streams back to back.
    let r = scan(b"(lp0\nS'a'\np1\na.cos\nsystem\n(S'id'\ntR.");
    assert_eq!(codes(&r), vec!["PKL001"]);
}

#[test]
fn payload_before_a_truncated_tail() {
    let r = scan(b"cos\nsystem\n(S'id'\ntRX\xff\xff\x00\x00abc");
    assert_eq!(r.verdict, Verdict::Malicious);
    assert_eq!(codes(&r), vec!["PKL001", "PKL003"]);
    let r = scan(b"\x80\x02cos\nsystem\n(S'id'\ntR\xfe");
    assert!(codes(&r).contains(&"PKL003"));
    assert!(
        find(&r, RuleId::PickleMalformed)
            .message
            .contains("unknown opcode 0xfe")
    );
}

#[test]
fn trailing_data_and_padding() {
    let mut data = P::proto(2).op(b'N').stop();
    data.extend_from_slice(b"\xde\xad\xbe\xef\x01\x02\x03");
    let r = scan(&data);
    assert!(codes(&r).contains(&"PKL004"), "{:?}", codes(&r));
    assert_eq!(
        find(&r, RuleId::PickleTrailingData).location.offset,
        Some(4)
    );
    // Content detection runs on what follows: an appended zip is found.
    let mut data = P::proto(2).op(b'N').stop();
    data.extend_from_slice(b"PK\x03\x04rest of a zip");
    let r = scan(&data);
    assert!(
        r.members
            .iter()
            .any(|m| m.member == "trailing data@4" && m.format == "zip")
    );
    // Newline and NUL padding is not a finding.
    let mut data = P::proto(2).op(b'N').stop();
    data.extend_from_slice(b"\n\n\0\0\t");
    assert_eq!(scan(&data).verdict, Verdict::Clean);
}

#[test]
fn limits() {
    let mut config = Config::default();
    config.pickle.max_stack = 4;
    let r = scan_with(&P::proto(2).k(1).k(2).k(3).k(4).k(5).stop(), &config);
    assert!(codes(&r).contains(&"PKL005"));
    let mut config = Config::default();
    config.pickle.max_opcodes = 3;
    let r = scan_with(
        &P::proto(2).k(1).op(b'0').k(1).op(b'0').k(1).stop(),
        &config,
    );
    assert!(codes(&r).contains(&"PKL005"));
    let mut config = Config::default();
    config.pickle.max_memo = 2;
    let r = scan_with(
        &P::proto(4).k(1).memoize().memoize().memoize().stop(),
        &config,
    );
    assert!(codes(&r).contains(&"PKL005"));
    // Findings before the limit are kept.
    let mut config = Config::default();
    config.pickle.max_opcodes = 8;
    let data = P::proto(4)
        .sg("os", "system")
        .k(1)
        .op(b'0')
        .k(1)
        .op(b'0')
        .k(1)
        .op(b'0')
        .stop();
    let r = scan_with(&data, &config);
    assert!(codes(&r).contains(&"PKL001") && codes(&r).contains(&"PKL005"));
}

/// `n` tuples `('key', i)` appended to a list, then `tail` (which finds the list on the
/// stack and leaves it there).
fn data_then(n: u8, tail: P) -> Vec<u8> {
    let mut p = P::proto(4).op(b']').op(b'(');
    for i in 0..n {
        p = p.s("key").k(i).op(0x86);
    }
    let mut p = p.op(b'e');
    p.0.extend_from_slice(&tail.0);
    p.stop()
}

#[test]
fn memory_budget_keeps_judging() {
    // A budget of 4 KiB: a quarter of it (1 KiB) for nodes and for container items.
    let mut config = Config::default();
    config.pickle.max_memory = 4096;
    // Data past the budget is counted, not kept, and is no finding; allowed calls past it are
    // fine too.
    let ordered = P::default()
        .sg("collections", "OrderedDict")
        .memoize()
        .op(b')')
        .reduce()
        .op(b'a');
    let mut tail = ordered;
    for _ in 0..100 {
        tail = tail.binget(0).op(b')').reduce().op(b'a');
    }
    let r = scan_with(&data_then(200, tail), &config);
    assert_eq!(r.verdict, Verdict::Clean, "{:#?}", r.findings);
    // A denied call past the budget is still denied, its arguments (built right before it)
    // shown whole.
    let payload = P::default()
        .sg("posix", "system")
        .s("echo hi")
        .tuple1()
        .reduce()
        .op(b'a');
    let r = scan_with(&data_then(200, payload), &config);
    assert_eq!(r.verdict, Verdict::Malicious, "{:#?}", r.findings);
    assert_eq!(denied(&r, "posix.system"), "posix.system('echo hi')");
    // A call judged by its arguments gets them back whole, and is judged.
    let fresh = P::default()
        .sg("builtins", "getattr")
        .sg("builtins", "str")
        .s("lower")
        .op(0x86)
        .reduce()
        .op(b'a');
    let r = scan_with(&data_then(200, fresh), &config);
    assert_eq!(r.verdict, Verdict::Clean, "{:#?}", r.findings);
    // Arguments made long before the call are not kept: a limit, neither clean nor denied.
    let mut early = P::default()
        .sg("builtins", "str")
        .s("lower")
        .op(0x86)
        .memoize()
        .op(b'a');
    for i in 0..8 {
        early = early.k(i).tuple1().op(b'a');
    }
    let early = early.sg("builtins", "getattr").binget(0).reduce().op(b'a');
    let r = scan_with(&data_then(200, early), &config);
    assert_eq!(r.verdict, Verdict::Suspicious, "{:#?}", r.findings);
    let limit = find(&r, RuleId::PickleLimitExceeded);
    assert!(
        limit
            .message
            .contains("`builtins.getattr` is judged by its arguments"),
        "{}",
        limit.message
    );
    // A joblib array wrapper past the budget keeps its state whole, so that the array bytes
    // after it are skipped as joblib reads them.
    let wrapper = joblib_wrapper("f8", 3, true);
    let array = P(wrapper.0[2..].to_vec())
        .op(2)
        .raw(&[0xff, 0xff])
        .raw(&[0xfe; 24])
        .op(b'a');
    let r = scan_with(&data_then(200, array), &config);
    assert_eq!(r.verdict, Verdict::Clean, "{:#?}", r.findings);
    // The memo takes up to half of the budget; past it, the stream is read for imports only.
    // (The call makes the stream more than plain data, which needs no machine.)
    let mut p = P::proto(4)
        .sg("collections", "OrderedDict")
        .op(b')')
        .reduce()
        .op(b'0');
    for _ in 0..200 {
        p = p.k(1).memoize().op(b'0');
    }
    let r = scan_with(&p.op(b'N').stop(), &config);
    assert!(
        find(&r, RuleId::PickleLimitExceeded)
            .message
            .contains("memo")
    );
}

#[test]
fn salvage_shares_tuples_nested_through_the_memo() {
    // After an unknown opcode, 40 levels of `t = (t, t)` through the memo: copied at each
    // level, they would double to 2^40 items; shared, the scan ends at once.
    let mut p = P::proto(4).op(b']').memoize().k(1).k(2).op(b'\xff');
    p = p.s("a").memoize();
    for level in 1..=40 {
        p = p.binget(level).binget(level).op(0x86).memoize();
    }
    let r = scan(&p.stop());
    assert!(codes(&r).contains(&"PKL003"), "{:#?}", r.findings);
}

/// A `NumpyArrayWrapper` for a float64 array of `n` elements, as joblib pickles it.
fn joblib_wrapper(dtype: &str, n: u8, aligned: bool) -> P {
    joblib_wrapper_flags(dtype, n, aligned, 0)
}

/// The same, with the dtype's pickled flags (bit 0: the dtype holds objects).
fn joblib_wrapper_flags(dtype: &str, n: u8, aligned: bool, flags: u8) -> P {
    let mut p = P::proto(4)
        .sg("joblib.numpy_pickle", "NumpyArrayWrapper")
        .op(b')')
        .op(0x81)
        .op(b'}')
        .op(b'(')
        .s("subclass")
        .sg("numpy", "ndarray")
        .s("shape")
        .k(n)
        .tuple1()
        .s("order")
        .s("C")
        .s("dtype")
        .sg("numpy", "dtype")
        .s(dtype)
        .op(0x89)
        .op(0x88)
        .op(0x87)
        .reduce()
        .op(b'(')
        .k(3)
        .s("<")
        .op(b'N')
        .op(b'N')
        .op(b'N')
        .op(b'J')
        .raw(&(-1i32).to_le_bytes())
        .op(b'J')
        .raw(&(-1i32).to_le_bytes())
        .k(flags)
        .op(b't')
        .op(b'b')
        .s("allow_mmap")
        .op(0x89);
    if aligned {
        p = p.s("numpy_array_alignment_bytes").k(16);
    }
    p.op(b'u').op(b'b')
}

#[test]
fn joblib_inline_arrays_are_skipped() {
    // Raw array bytes that are not valid opcodes, then a payload in the same stream.
    let data = joblib_wrapper("f8", 3, true)
        .op(2)
        .raw(&[0xff, 0xff])
        .raw(&[0xfe; 24])
        .op(b'0')
        .sg("os", "system")
        .s("id")
        .tuple1()
        .reduce()
        .stop();
    let r = scan(&data);
    assert_eq!(codes(&r), vec!["PKL001"], "{:#?}", r.findings);
    // Older joblib: no alignment padding.
    let data = joblib_wrapper("i4", 2, false).raw(&[0xfe; 8]).stop();
    let r = scan(&data);
    assert_eq!(r.verdict, Verdict::Clean, "{:#?}", r.findings);
    // Object arrays are a whole pickle after the wrapper; the outer stream continues after it.
    let inner = P::proto(4)
        .sg("posix", "system")
        .s("inner")
        .tuple1()
        .reduce()
        .stop();
    let data = joblib_wrapper("O8", 1, true)
        .raw(&inner)
        .op(b'0')
        .sg("os", "system")
        .s("outer")
        .tuple1()
        .reduce()
        .stop();
    let r = scan(&data);
    assert_eq!(denied(&r, "posix.system"), "posix.system('inner')");
    assert_eq!(denied(&r, "os.system"), "os.system('outer')");
    assert!(!codes(&r).contains(&"PKL003"));
    // Array data running past the end is malformed.
    let r = scan(&joblib_wrapper("f8", 200, false).raw(&[0; 16]).0);
    assert!(codes(&r).contains(&"PKL003"));
}

fn legacy_torch(storage_bytes: &[u8]) -> Vec<u8> {
    let magic = 0x1950_a86a_20f9_469c_fc6cu128.to_le_bytes();
    let mut data = P::proto(2).op(0x8a).op(10).raw(&magic[..10]).stop();
    data.extend(P::proto(2).op(b'M').raw(&1001u16.to_le_bytes()).stop());
    data.extend(
        P::proto(2)
            .op(b'}')
            .u("protocol_version")
            .op(b'M')
            .raw(&1001u16.to_le_bytes())
            .op(b's')
            .stop(),
    );
    data.extend(torch_state_dict().stop());
    data.extend(P::proto(2).op(b']').u("0").op(b'a').stop());
    data.extend_from_slice(&4u64.to_le_bytes());
    data.extend_from_slice(storage_bytes);
    data
}

#[test]
fn legacy_torch_layout() {
    // Storage bytes that look like a pickle header must be skipped, not parsed.
    let storage = b"\x80\x02cos\nsystem\n.\xff\xff";
    assert_eq!(storage.len(), 16);
    let r = scan(&legacy_torch(storage));
    assert_eq!(r.verdict, Verdict::Clean, "{:#?}", r.findings);
    let mut data = legacy_torch(storage);
    data.extend_from_slice(b"\xde\xad\xbe\xef");
    let r = scan(&data);
    assert!(codes(&r).contains(&"TRC001"), "{:#?}", r.findings);
    let r = scan(&legacy_torch(&storage[..12]));
    assert!(codes(&r).contains(&"TRC001"), "{:#?}", r.findings);
    // Without the magic number the same streams are plain pickles and the storage is trailing data.
    let mut data = P::proto(2).k(1).stop();
    data.extend(P::proto(2).op(b']').u("0").op(b'a').stop());
    data.extend_from_slice(&[0xfe; 24]);
    assert!(codes(&scan(&data)).contains(&"PKL004"));
}

#[test]
fn joblib_dtype_flags_decide_object_arrays() {
    // numpy takes hasobject from the pickled flags: a "float" dtype flagged as holding objects
    // makes joblib read a pickle, not raw bytes.
    let inner = P::proto(4)
        .sg("posix", "system")
        .s("flagged")
        .tuple1()
        .reduce()
        .stop();
    let data = joblib_wrapper_flags("f8", 1, true, 1)
        .raw(&inner)
        .op(b'0')
        .op(b'N')
        .stop();
    let r = scan(&data);
    assert_eq!(denied(&r, "posix.system"), "posix.system('flagged')");
    assert!(!codes(&r).contains(&"PKL003"), "{:#?}", r.findings);
}

#[test]
fn array_bytes_read_as_opcodes_by_plain_pickle_load() {
    // Under joblib these bytes are a uint8 array; under pickle.load they are opcodes that pop
    // the wrapper and call os.system. Both readings are analysed.
    let hidden = b"0cos\nsystem\n(S'id'\ntR0";
    let data = joblib_wrapper("u1", u8::try_from(hidden.len()).unwrap(), false)
        .raw(hidden)
        .stop();
    let r = scan(&data);
    assert_eq!(r.verdict, Verdict::Malicious, "{:#?}", r.findings);
    assert_eq!(denied(&r, "os.system"), "os.system('id')");
    // The plain reading of a benign file (it breaks off at the array bytes) adds nothing.
    let data = joblib_wrapper("f8", 3, true).op(2).raw(&[0xff; 26]).stop();
    assert_eq!(scan(&data).verdict, Verdict::Clean);
}
