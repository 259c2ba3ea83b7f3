//! The audit log: one JSON object per line, hash-chained, with signed checkpoints.
//!
//! Every line carries `v` (format version), `seq` (1, 2, …), `prev` (hex SHA-256 of the
//! previous line's bytes, without its newline; 64 zeros for the first line), `time` and
//! `event` (`scan`, `admit`, `verify`, `checkpoint`, …) and the event's fields. A `checkpoint`
//! line adds `every` (the interval in force), `key` (the signer's key hint) and `sig`: base64
//! DER ECDSA P-256 over `quarantine-log-checkpoint/v1\n{seq}\n{prev}`, which commits to every
//! line before it. Appends hold an exclusive `flock` on the file from reading the last line to
//! writing the new one, so concurrent writers never fork the chain.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value, json};

use super::keys::{PrivateKey, PublicKey};
use crate::zone::digest::sha256_hex;

pub const VERSION: u64 = 1;
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
pub const DEFAULT_EVERY: u64 = 100;
/// A line longer than this is refused when reading back (a real line is a few KB).
const MAX_LINE: usize = 64 << 20;

/// Where and how a run appends.
pub struct AuditLog {
    pub path: PathBuf,
    /// Signs a checkpoint every `every` lines when present.
    pub key: Option<PrivateKey>,
    pub every: u64,
}

/// The line a checkpoint signs.
fn checkpoint_message(seq: u64, prev: &str) -> Vec<u8> {
    format!("quarantine-log-checkpoint/v1\n{seq}\n{prev}").into_bytes()
}

impl AuditLog {
    /// Appends one `event` line (fields from `fields`, an object), then a signed checkpoint
    /// when one is due. Returns the new head (hash of the last line written).
    pub fn append(&self, event: &str, fields: Value) -> Result<String> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&self.path)
            .with_context(|| format!("cannot open log {}", self.path.display()))?;
        file.lock()
            .with_context(|| format!("cannot lock log {}", self.path.display()))?;
        let result = self.append_locked(&mut file, event, fields);
        let _ = file.unlock();
        result
    }

    /// Appends a signed checkpoint now (needs a key).
    pub fn checkpoint(&self) -> Result<String> {
        if self.key.is_none() {
            bail!(
                "a checkpoint needs a signing key (--key or {})",
                super::keys::SIGNING_KEY_ENV
            );
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&self.path)
            .with_context(|| format!("cannot open log {}", self.path.display()))?;
        file.lock()?;
        let result = (|| {
            let (seq, prev) = last(&mut file, &self.path)?;
            self.write_checkpoint(&mut file, seq + 1, &prev)
        })();
        let _ = file.unlock();
        result
    }

    fn append_locked(&self, file: &mut File, event: &str, fields: Value) -> Result<String> {
        let (seq, prev) = last(file, &self.path)?;
        let seq = seq + 1;
        let mut line = Map::new();
        line.insert("v".into(), json!(VERSION));
        line.insert("seq".into(), json!(seq));
        line.insert("prev".into(), json!(prev));
        line.insert("time".into(), json!(super::now()));
        line.insert("event".into(), json!(event));
        if let Value::Object(fields) = fields {
            for (k, v) in fields {
                line.entry(k).or_insert(v);
            }
        }
        let mut head = write_line(file, &Value::Object(line))?;
        if self.key.is_some() && self.every > 0 && (seq + 1).is_multiple_of(self.every) {
            head = self.write_checkpoint(file, seq + 1, &head)?;
        }
        Ok(head)
    }

    fn write_checkpoint(&self, file: &mut File, seq: u64, prev: &str) -> Result<String> {
        let Some(key) = &self.key else {
            bail!("no key for a checkpoint");
        };
        let line = json!({
            "v": VERSION,
            "seq": seq,
            "prev": prev,
            "time": super::now(),
            "event": "checkpoint",
            "every": self.every,
            "key": key.public().hint(),
            "sig": B64.encode(key.sign(&checkpoint_message(seq, prev))),
        });
        write_line(file, &line)
    }
}

fn write_line(file: &mut File, line: &Value) -> Result<String> {
    let text = serde_json::to_string(line)?;
    let mut bytes = text.clone().into_bytes();
    bytes.push(b'\n');
    file.write_all(&bytes)?;
    file.sync_data()?;
    Ok(sha256_hex(text.as_bytes()))
}

/// The last line's sequence number and hash (0 and the genesis hash for an empty log).
fn last(file: &mut File, path: &Path) -> Result<(u64, String)> {
    let len = file.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok((0, GENESIS.to_owned()));
    }
    // Read backwards until the newline before the last line.
    let mut tail = Vec::new();
    let mut pos = len;
    loop {
        let step = (64 * 1024u64).min(pos);
        pos -= step;
        file.seek(SeekFrom::Start(pos))?;
        let mut chunk = vec![0; step as usize];
        file.read_exact(&mut chunk)?;
        chunk.extend_from_slice(&tail);
        tail = chunk;
        if tail.last() != Some(&b'\n') {
            bail!(
                "log {} ends in a partial line (an interrupted write?); check it with \
                 `quarantine log verify` before appending",
                path.display()
            );
        }
        let body = &tail[..tail.len() - 1];
        if let Some(nl) = body.iter().rposition(|&b| b == b'\n') {
            tail = body[nl + 1..].to_vec();
            break;
        }
        if pos == 0 {
            tail = body.to_vec();
            break;
        }
        if tail.len() > MAX_LINE {
            bail!(
                "log {}: last line longer than {MAX_LINE} bytes",
                path.display()
            );
        }
    }
    let value: Value = serde_json::from_slice(&tail)
        .with_context(|| format!("log {}: the last line is not JSON", path.display()))?;
    let Some(seq) = value["seq"].as_u64() else {
        bail!(
            "log {}: the last line has no sequence number",
            path.display()
        );
    };
    Ok((seq, sha256_hex(&tail)))
}

/// The outcome of `log verify`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Check {
    pub lines: u64,
    pub checkpoints: u64,
    pub head: String,
    /// The first problem: 1-based line number and what is wrong.
    pub first_bad: Option<(u64, String)>,
    /// Problems that are not about one line (a cut tail, a head that does not match).
    pub problems: Vec<String>,
    pub notes: Vec<String>,
}

impl Check {
    pub fn ok(&self) -> bool {
        self.first_bad.is_none() && self.problems.is_empty()
    }
}

/// Checks the chain line by line; with `key`, every checkpoint's signature; with `expect_head`,
/// that the log ends at that hash (so a cut tail is seen).
pub fn verify(path: &Path, key: Option<&PublicKey>, expect_head: Option<&str>) -> Result<Check> {
    let file = File::open(path).with_context(|| format!("cannot read log {}", path.display()))?;
    verify_reader(BufReader::new(file), key, expect_head)
}

/// [`verify`] over any reader.
pub fn verify_reader(
    mut reader: impl BufRead,
    key: Option<&PublicKey>,
    expect_head: Option<&str>,
) -> Result<Check> {
    let mut check = Check {
        head: GENESIS.to_owned(),
        ..Check::default()
    };
    let mut line = Vec::new();
    let mut number = 0u64;
    let mut last_checkpoint: Option<u64> = None;
    let mut every: Option<u64> = None;
    loop {
        line.clear();
        let n = (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        number += 1;
        let complete = line.last() == Some(&b'\n');
        let text = if complete {
            &line[..line.len() - 1]
        } else {
            &line[..]
        };
        if let Some(problem) = check_line(text, number, &check.head, complete) {
            check.first_bad = Some((number, problem));
            break;
        }
        let value: Value = serde_json::from_slice(text).unwrap_or(Value::Null);
        if value["event"] == "checkpoint" {
            check.checkpoints += 1;
            last_checkpoint = Some(number);
            every = value["every"].as_u64().filter(|e| *e > 0).or(every);
            if let Some(key) = key {
                let sig = value["sig"].as_str().and_then(|s| B64.decode(s).ok());
                let message = checkpoint_message(number, &check.head);
                if !sig.is_some_and(|s| key.verify(&message, &s)) {
                    check.first_bad = Some((
                        number,
                        "checkpoint signature does not verify with the key given (forged, or \
                         signed by another key)"
                            .to_owned(),
                    ));
                    break;
                }
            }
        }
        check.head = sha256_hex(text);
        check.lines = number;
    }
    if check.first_bad.is_some() {
        return Ok(check);
    }
    if let Some(every) = every {
        let since = check.lines - last_checkpoint.unwrap_or(0);
        if since >= every {
            check.problems.push(format!(
                "{since} lines after the last checkpoint (line {}), but one is signed every \
                 {every}: the log was cut and written again after it, or appended without the key",
                last_checkpoint.unwrap_or(0)
            ));
        }
    } else if key.is_some() {
        check
            .notes
            .push("no checkpoint in the log: only the chain was checked".to_owned());
    }
    if let Some(expected) = expect_head
        && !expected.eq_ignore_ascii_case(&check.head)
    {
        check.problems.push(format!(
            "the log ends at {} (line {}), not at the expected head {expected}: lines were cut \
             from the end, or the head belongs to another log",
            check.head, check.lines
        ));
    }
    Ok(check)
}

/// What is wrong with line `number`, if anything, given the hash of the line before it.
fn check_line(text: &[u8], number: u64, prev: &str, complete: bool) -> Option<String> {
    if !complete {
        return Some("a partial last line (no newline): an interrupted or cut write".to_owned());
    }
    let value: Value = match serde_json::from_slice(text) {
        Ok(v @ Value::Object(_)) => v,
        _ => return Some("not a JSON object: the line was edited or corrupted".to_owned()),
    };
    let Some(seq) = value["seq"].as_u64() else {
        return Some("no sequence number".to_owned());
    };
    if seq != number {
        let what = if seq > number {
            "a line before it was deleted"
        } else {
            "a line was inserted or lines were reordered"
        };
        return Some(format!("sequence number {seq}, expected {number}: {what}"));
    }
    if value["prev"].as_str() != Some(prev) {
        let what = if number == 1 {
            "the log's first lines were removed, or this line was edited".to_owned()
        } else {
            format!("line {} was edited, or this line was", number - 1)
        };
        return Some(format!(
            "does not chain to line {}: {what} (prev {}, expected {prev})",
            number.saturating_sub(1),
            value["prev"].as_str().unwrap_or("missing")
        ));
    }
    None
}

/// The head hash of a log (hash of its last line), to keep elsewhere for `--expect-head`.
pub fn head(path: &Path) -> Result<(u64, String)> {
    let mut file =
        File::open(path).with_context(|| format!("cannot read log {}", path.display()))?;
    last(&mut file, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(dir: &Path, key: Option<PrivateKey>, every: u64) -> AuditLog {
        AuditLog {
            path: dir.join("audit.jsonl"),
            key,
            every,
        }
    }

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn write(path: &Path, lines: &[String]) {
        std::fs::write(
            path,
            lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
        )
        .unwrap();
    }

    #[test]
    fn intact_log_verifies_and_tampering_names_the_first_bad_line() {
        let dir = tempfile::tempdir().unwrap();
        let key = PrivateKey::generate().unwrap();
        let public = key.public();
        let audit = log(dir.path(), Some(key), 4);
        for i in 0..10 {
            audit.append("scan", json!({"n": i})).unwrap();
        }
        let original = lines(&audit.path);
        // 10 entries plus checkpoints at 4, 8, 12.
        assert_eq!(original.len(), 13);
        let check = verify(&audit.path, Some(&public), None).unwrap();
        assert!(check.ok(), "{check:?}");
        assert_eq!(check.checkpoints, 3);
        let expected = check.head.clone();
        assert_eq!(head(&audit.path).unwrap().1, expected);

        // Edited line 5: line 6 no longer chains to it.
        let mut edited = original.clone();
        edited[4] = edited[4].replace("\"n\":3", "\"n\":33");
        write(&audit.path, &edited);
        let check = verify(&audit.path, Some(&public), None).unwrap();
        let (line, why) = check.first_bad.unwrap();
        assert_eq!(line, 6, "{why}");
        assert!(why.contains("line 5 was edited"), "{why}");

        // Deleted line 3.
        let mut deleted = original.clone();
        deleted.remove(2);
        write(&audit.path, &deleted);
        let (line, why) = verify(&audit.path, None, None).unwrap().first_bad.unwrap();
        assert_eq!(line, 3);
        assert!(why.contains("deleted"), "{why}");

        // Reordered lines 2 and 3.
        let mut reordered = original.clone();
        reordered.swap(1, 2);
        write(&audit.path, &reordered);
        let (line, why) = verify(&audit.path, None, None).unwrap().first_bad.unwrap();
        assert_eq!(line, 2, "{why}");

        // Inserted line (a copy of line 2 after it).
        let mut inserted = original.clone();
        inserted.insert(2, original[1].clone());
        write(&audit.path, &inserted);
        let (line, _) = verify(&audit.path, None, None).unwrap().first_bad.unwrap();
        assert_eq!(line, 3);

        // Cut tail: the chain is intact, the expected head is not reached.
        write(&audit.path, &original[..11]);
        let check = verify(&audit.path, Some(&public), Some(&expected)).unwrap();
        assert!(check.first_bad.is_none());
        assert!(check.problems[0].contains("cut"), "{:?}", check.problems);

        // Cut past a checkpoint and re-appended without a key: the missing checkpoint shows.
        write(&audit.path, &original[..9]);
        let unsigned = log(dir.path(), None, 4);
        for i in 0..5 {
            unsigned.append("scan", json!({"n": 100 + i})).unwrap();
        }
        let check = verify(&audit.path, Some(&public), None).unwrap();
        assert!(
            check.problems.iter().any(|p| p.contains("checkpoint")),
            "{check:?}"
        );

        // A checkpoint signed by another key.
        write(&audit.path, &original);
        let other = PrivateKey::generate().unwrap().public();
        let (line, why) = verify(&audit.path, Some(&other), None)
            .unwrap()
            .first_bad
            .unwrap();
        assert_eq!(line, 4);
        assert!(why.contains("checkpoint"), "{why}");
    }

    #[test]
    fn a_partial_last_line_stops_appends() {
        let dir = tempfile::tempdir().unwrap();
        let audit = log(dir.path(), None, 0);
        audit.append("scan", json!({})).unwrap();
        let mut f = OpenOptions::new().append(true).open(&audit.path).unwrap();
        f.write_all(b"{\"v\":1,").unwrap();
        assert!(audit.append("scan", json!({})).is_err());
        let (line, _) = verify(&audit.path, None, None).unwrap().first_bad.unwrap();
        assert_eq!(line, 2);
    }

    #[test]
    fn threads_appending_at_once_keep_one_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        std::thread::scope(|s| {
            for t in 0..4 {
                let path = path.clone();
                s.spawn(move || {
                    let audit = AuditLog {
                        path,
                        key: None,
                        every: 0,
                    };
                    for i in 0..25 {
                        audit.append("scan", json!({"t": t, "i": i})).unwrap();
                    }
                });
            }
        });
        let check = verify(&path, None, None).unwrap();
        assert!(check.ok(), "{check:?}");
        assert_eq!(check.lines, 100);
    }
}
