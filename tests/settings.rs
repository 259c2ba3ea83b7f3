//! Settings are defined once (`src/settings.rs`); this test fails when the command line, the
//! default policy file (`quarantine policy --print-default`) or the README disagree with the
//! table. `BLESS=1 cargo test --release --test settings` rewrites the generated parts (the
//! `[limits]` block of `src/policy/default.toml` and the README's table of limits).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks fail by panicking"
)]

mod common;

use quarantine::settings::{self, OTHER};

/// The default policy as the binary prints it.
fn printed_default() -> String {
    let output = common::bin()
        .args(["policy", "--print-default"])
        .output()
        .expect("run quarantine");
    assert!(output.status.success());
    String::from_utf8(output.stdout).expect("utf-8")
}

/// `quarantine scan --help`, one entry per option: the flag and its help, white space folded.
fn scan_help() -> Vec<(String, String)> {
    let output = common::bin()
        .args(["scan", "--help"])
        .output()
        .expect("run quarantine");
    let text = String::from_utf8(output.stdout).expect("utf-8");
    let mut options: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        let flag = trimmed
            .split([' ', ','])
            .find(|w| w.starts_with("--"))
            .filter(|_| trimmed.starts_with('-') && line.len() - trimmed.len() <= 6);
        match flag {
            Some(flag) => options.push((flag.to_owned(), trimmed.to_owned())),
            // A heading ends the option before it.
            None if !line.is_empty() && !line.starts_with(' ') => {
                options.push((String::new(), String::new()));
            }
            None => {
                if let Some((_, help)) = options.last_mut() {
                    help.push(' ');
                    help.push_str(trimmed);
                }
            }
        }
    }
    for (_, help) in &mut options {
        *help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    }
    options
}

#[test]
fn the_default_policy_limits_are_the_table() {
    let path = common::repo().join("src/policy/default.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let start = text.find("[limits]\n").expect("[limits] in default.toml");
    let end = text
        .find("[signatures]\n")
        .expect("[signatures] in default.toml");
    let generated = settings::policy_toml();
    if std::env::var_os("BLESS").is_some() {
        let updated = format!("{}{}{}", &text[..start], generated, &text[end..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    assert!(
        text[start..end] == generated,
        "src/policy/default.toml's [limits] is stale: run `BLESS=1 cargo test --release --test settings`"
    );
    assert_eq!(
        printed_default(),
        text,
        "--print-default prints default.toml"
    );
}

#[test]
fn the_readme_table_of_limits_is_the_table() {
    common::readme_part_is(
        "settings",
        &settings::markdown(),
        "cargo test --release --test settings",
    );
}

#[test]
fn every_limit_is_a_flag_with_its_default_and_every_limit_flag_is_in_the_table() {
    let help = scan_help();
    let rows = settings::rows();
    for row in &rows {
        let flag = row.flag();
        let (_, text) = help
            .iter()
            .find(|(f, _)| *f == flag)
            .unwrap_or_else(|| panic!("{flag} is not in `scan --help`"));
        assert!(
            text.ends_with(&format!("[default: {}]", row.default)),
            "{flag}: {text}"
        );
    }
    for (flag, _) in &help {
        if flag.starts_with("--max-") && flag != "--max-download-bytes" {
            assert!(
                rows.iter().any(|r| r.flag() == *flag),
                "{flag} is a limit flag outside the settings table"
            );
        }
    }
}

#[test]
fn every_other_setting_is_where_the_table_says() {
    let help = scan_help();
    let readme = std::fs::read_to_string(common::repo().join("README.md")).unwrap();
    let text = printed_default();
    let policy: toml::Table = toml::from_str(&text).unwrap();
    for other in OTHER {
        if let Some(flag) = other.flag {
            assert!(
                help.iter().any(|(f, _)| f == flag),
                "{flag} is not in `scan --help`"
            );
            assert!(
                readme.contains(&format!("`{flag}")),
                "{flag} is not in the README"
            );
        } else {
            assert!(
                !other.why.is_empty(),
                "{}: say why it has no flag",
                other.field
            );
        }
        let Some(key) = other.key else {
            assert!(
                !other.why.is_empty(),
                "{}: say why it has no key",
                other.field
            );
            continue;
        };
        let (section, leaf) = key.split_once('.').expect("section.key");
        match other.default {
            Some(default) => {
                let want: toml::Table = toml::from_str(&format!("v = {default}")).unwrap();
                let got = policy.get(section).and_then(|s| s.get(leaf));
                assert_eq!(got, want.get("v"), "{key} in the default policy");
            }
            None => assert!(
                text.contains(&format!("# {leaf} = ")),
                "{key}: unset by default, shown commented out in the default policy"
            ),
        }
    }
    // And nothing else in the default policy claims to be a setting of the scan.
    let policy_only = [
        "fail_on",
        "exclude",
        "include",
        "rules.disabled",
        "rules.severity",
        "signatures.dirs",
        "log.checkpoint_every",
    ];
    for (section, value) in &policy {
        let keys: Vec<String> = match value.as_table() {
            Some(table) => table.keys().map(|k| format!("{section}.{k}")).collect(),
            None => vec![section.clone()],
        };
        for key in keys {
            let known = policy_only.contains(&key.as_str())
                || OTHER.iter().any(|o| o.key == Some(key.as_str()))
                || key
                    .strip_prefix("limits.")
                    .is_some_and(|k| settings::rows().iter().any(|r| r.key == k));
            assert!(
                known,
                "`{key}` of the default policy is not in the settings table"
            );
        }
    }
}
