//! Hydra/NeMo configurations written by hand, shaped like NeMo's model_config.yaml.

use crate::testing::{codes, scan};

const CONFIG: &str = "\
sample_rate: 16000
target: nemo.collections.asr.models.ctc_models.EncDecCTCModel
preprocessor:
  _target_: nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor
  normalize: per_feature
encoder:
  _target_: nemo.collections.asr.modules.ConvASREncoder
  jasper:
  - filters: 32
optim:
  name: adam
  sched:
    _target_: torch.optim.lr_scheduler.CosineAnnealingLR
    T_max: 10
";

fn with_preprocessor(block: &str) -> Vec<u8> {
    let start = CONFIG.find("preprocessor:\n").unwrap();
    let end = CONFIG.find("encoder:\n").unwrap();
    format!("{}{block}{}", &CONFIG[..start], &CONFIG[end..]).into_bytes()
}

#[test]
fn an_ordinary_config_is_clean() {
    let report = scan(CONFIG.as_bytes());
    assert!(report.findings.is_empty(), "{:?}", report.findings);
}

#[test]
fn denied_targets_are_malicious_with_the_call() {
    for (block, what) in [
        (
            "preprocessor:\n  _target_: os.system\n  command: echo quarantine-sample\n",
            "os.system(command=\"echo quarantine-sample\")",
        ),
        (
            "preprocessor:\n  _target_: subprocess.run\n  _partial_: true\n  _args_:\n  - [sh, -c, id]\n",
            "functools.partial(subprocess.run, [\"sh\", \"-c\", \"id\"])",
        ),
        (
            "preprocessor:\n  _target_: builtins.exec\n  _args_: [\"print(1)\"]\n",
            "builtins.exec(\"print(1)\")",
        ),
    ] {
        let report = scan(&with_preprocessor(block));
        assert_eq!(codes(&report), ["NEM001"], "{block}");
        let evidence = report.findings[0].evidence.as_deref().unwrap();
        assert!(evidence.contains(what), "{evidence}");
        assert!(evidence.contains("preprocessor._target_"), "{evidence}");
    }
}

#[test]
fn nemo_root_target_is_judged_too() {
    let text = CONFIG.replace(
        "nemo.collections.asr.models.ctc_models.EncDecCTCModel",
        "subprocess.Popen",
    );
    let report = scan(text.as_bytes());
    assert_eq!(codes(&report), ["NEM001"]);
}

fn scan_named(data: &[u8], name: &str) -> crate::model::finding::ArtifactReport {
    crate::scan::scan_bytes(
        data,
        std::path::Path::new(name),
        name,
        &crate::config::Config::default(),
    )
}

#[test]
fn unknown_targets_are_suspicious() {
    let report = scan_named(
        &with_preprocessor("preprocessor:\n  _target_: mypkg.layers.Custom\n"),
        "model_config.yaml",
    );
    assert_eq!(codes(&report), ["NEM002"]);
    // A private name under an allowed package is not vouched for.
    let report = scan_named(
        &with_preprocessor("preprocessor:\n  _target_: nemo.collections._private.thing\n"),
        "model_config.yaml",
    );
    assert_eq!(codes(&report), ["NEM002"]);
}

/// A loose Hydra config (a project's `config.yaml`, saved with `OmegaConf.save`) is instantiated
/// only by the project's own code: an unknown target is an info note there (NEM004), while a
/// denied one is NEM001 as everywhere, and `model_config.yaml` or any archive member (a `.nemo`)
/// keeps NEM002.
#[test]
fn loose_configs_note_unknown_targets_and_deny_dangerous_ones() {
    let project = "model:\n  _target_: transformers.AutoModelForCausalLM.from_pretrained\n  pretrained_model_name_or_path: org/model\ndata:\n  _target_: my_project.data.DataModule\n  batch_size: 8\n";
    let report = scan_named(project.as_bytes(), "config.yaml");
    assert_eq!(
        codes(&report),
        ["NEM004", "NEM004"],
        "{:?}",
        report.findings
    );
    assert_eq!(report.verdict, crate::model::finding::Verdict::Clean);
    for target in [
        "os.system",
        "subprocess.Popen",
        "builtins.eval",
        "posix.system",
    ] {
        let text = format!("run:\n  _target_: {target}\n  _args_: ['echo quarantine-sample']\n");
        let report = scan_named(text.as_bytes(), "config.yaml");
        assert_eq!(codes(&report), ["NEM001"], "{target}");
        assert_eq!(
            report.verdict,
            crate::model::finding::Verdict::Malicious,
            "{target}"
        );
    }
    let report = scan_named(project.as_bytes(), "model_config.yaml");
    assert_eq!(codes(&report), ["NEM002", "NEM002"]);
}

#[test]
fn tags_alias_bombs_and_broken_yaml_fail_closed() {
    let report = scan(&with_preprocessor(
        "preprocessor: !!python/object/apply:os.system ['id']\n",
    ));
    assert!(codes(&report).contains(&"NEM003"), "{:?}", report.findings);
    let mut bomb = String::from("_target_: torch.nn.Linear\na0: &a0 [x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        bomb.push_str(&format!(
            "a{i}: &a{i} [{}]\n",
            vec![format!("*a{}", i - 1); 9].join(", ")
        ));
    }
    let report = scan(bomb.as_bytes());
    assert_eq!(codes(&report), ["NEM003"]);
    assert!(report.findings[0].message.contains("alias"));
    // Broken YAML: the `_target_` lines are still judged.
    let report = scan(b"a: [unclosed\n_target_: os.system\n");
    let c = codes(&report);
    assert!(c.contains(&"NEM001") && c.contains(&"NEM003"), "{c:?}");
}

#[test]
fn other_yaml_and_text_are_left_alone() {
    for text in [
        &b"name: ci\non: [push]\njobs:\n  build:\n    runs-on: ubuntu-latest\n"[..],
        b"just some notes about _target_ keys\n",
        b"target: 0.5\n",
    ] {
        let report = scan(text);
        assert!(
            !codes(&report).iter().any(|c| c.starts_with("NEM")),
            "{:?}",
            report.findings
        );
    }
}

/// The generated target list (`signatures/hydra-targets.tsv`): a class by its defining module
/// and by a package re-export is accepted, a function only from the reviewed modules, and a
/// name under `nemo.collections` that no known release defines is unknown.
#[test]
fn targets_are_judged_by_the_generated_list() {
    for target in [
        "nemo.collections.asr.models.ctc_models.EncDecCTCModel",
        "nemo.collections.asr.models.EncDecCTCModel",
        "nemo.collections.asr.modules.audio_preprocessing.AudioToMelSpectrogramPreprocessor",
        "lightning.pytorch.callbacks.ModelCheckpoint",
        "torch.nn.functional.silu",
    ] {
        let block = format!("preprocessor:\n  _target_: {target}\n");
        let report = scan_named(&with_preprocessor(&block), "model_config.yaml");
        assert!(
            report.findings.is_empty(),
            "{target}: {:?}",
            report.findings
        );
    }
    for target in [
        "nemo.collections.asr.modules.NotARealModule",
        "nemo.collections.asr.models.ctc_models.ASRModel",
        "nemo.collections.nlp.data.language_modeling.megatron.dataset_utils.compile_helper",
    ] {
        let block = format!("preprocessor:\n  _target_: {target}\n");
        let report = scan_named(&with_preprocessor(&block), "model_config.yaml");
        assert_eq!(codes(&report), ["NEM002"], "{target}");
        let message = &report.findings[0].message;
        assert!(
            message.contains("under `nemo.collections` but not"),
            "{message}"
        );
    }
}

/// A user's `--deny-global` of a class's home covers the re-export paths the list knows.
#[test]
fn a_denied_home_denies_its_re_exports() {
    let config = crate::config::Config {
        deny_globals: vec!["nemo.collections.asr.models.ctc_models.EncDecCTCModel".to_owned()],
        ..crate::config::Config::default()
    };
    let block = "preprocessor:\n  _target_: nemo.collections.asr.models.EncDecCTCModel\n";
    let report = crate::scan::scan_bytes(
        &with_preprocessor(block),
        std::path::Path::new("model_config.yaml"),
        "model_config.yaml",
        &config,
    );
    // The root `target` names the class by its home, the preprocessor by a re-export.
    assert_eq!(
        codes(&report),
        ["NEM001", "NEM001"],
        "{:?}",
        report.findings
    );
    let message = &report.findings[1].message;
    assert!(
        message.contains("`nemo.collections.asr.models.EncDecCTCModel`, denied by"),
        "{message}"
    );
}
