//! The HTML report: one self-contained file (inline CSS and a little vanilla JavaScript, nothing
//! fetched from the network) for people triaging a scan by looking rather than reading.
//!
//! The top of the page (run verdict, counts, the verdict chart and the most frequent rules) is
//! written as HTML, every string escaped. The artifact table is drawn by the script from a JSON
//! block, one page of rows at a time, so a report of 10,000 artifacts opens as fast as one of
//! ten: only the visible rows and the findings a reader expands ever become DOM nodes. The
//! script puts every string into the page with `textContent`, never as markup, and the JSON
//! block has `<`, `>` and `&` escaped, so artifact names and evidence (which an attacker
//! chooses) stay text.
//!
//! The URL fragment sets the view, so a link can share one: `#q=TEXT` filters by path, format
//! and rule, `v=malicious` by verdict, `sort=size-desc`, `open=all` expands the visible rows
//! (`#v=malicious&q=pickle&open=all`).

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;
use serde_json::Value;

use super::{RunInfo, Scanned, Tally, top_finding};
use crate::model::finding::{Finding, Location, Verdict};

/// How many rules the rules chart shows.
const CHART_RULES: usize = 12;

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// JSON made safe inside a `<script>` element: no `<`, `>` or `&` (they only occur inside JSON
/// strings, where `\u003c` means the same), so `</script>` and `<!--` cannot appear.
fn script_json(value: &impl Serialize) -> io::Result<String> {
    let json = serde_json::to_string(value)?;
    Ok(json
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029"))
}

#[derive(Serialize)]
struct Data<'a> {
    artifacts: Vec<Row<'a>>,
    /// Explanation and fix of every built-in rule that fired, once.
    rules: BTreeMap<String, RuleText>,
}

/// One artifact, with short keys: a report of 10,000 artifacts carries this 10,000 times.
#[derive(Serialize)]
struct Row<'a> {
    /// Path as scanned.
    p: &'a str,
    /// Format.
    f: String,
    /// Size in bytes.
    s: u64,
    /// Verdict.
    v: Verdict,
    /// SHA-256.
    #[serde(skip_serializing_if = "Option::is_none")]
    h: Option<&'a str>,
    /// Why the scan could not finish.
    #[serde(skip_serializing_if = "Option::is_none")]
    e: Option<&'a str>,
    /// Top rule: the finding that decides the verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    t: Option<String>,
    /// Findings.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    n: Vec<FindingRow<'a>>,
    /// Robustness figures, as in the JSON report.
    #[serde(skip_serializing_if = "Option::is_none")]
    r: Option<Value>,
    /// Taken from the cache.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    c: bool,
}

#[derive(Serialize)]
struct FindingRow<'a> {
    id: String,
    sev: &'static str,
    v: &'static str,
    msg: &'a str,
    loc: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    ev: Option<&'a str>,
    /// The fix, when it differs from the rule's.
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<&'a str>,
    /// Accepted by the policy: who, until when, why (and whether it is a malicious finding).
    #[serde(skip_serializing_if = "Option::is_none")]
    acc: Option<String>,
}

#[derive(Serialize)]
struct RuleText {
    name: &'static str,
    explanation: &'static str,
    fix: &'static str,
}

/// `path › member › inner @ 0x1c (line 3)`.
fn location_text(location: &Location) -> String {
    let mut text = location.path.clone();
    if !location.member_chain.is_empty() {
        for member in &location.member_chain {
            text.push_str(" › ");
            text.push_str(member);
        }
    } else if let Some(member) = &location.member {
        text.push_str(" › ");
        text.push_str(member);
    }
    if let Some(offset) = location.offset {
        text.push_str(&format!(" @ offset {offset}"));
    }
    if let Some(line) = location.line {
        text.push_str(&format!(" line {line}"));
    }
    text
}

fn finding_row<'a>(finding: &'a Finding, rules: &mut BTreeMap<String, RuleText>) -> FindingRow<'a> {
    let id = finding.rule_id.to_string();
    let mut fix = Some(finding.remediation.as_str());
    if let Some(builtin) = finding.rule_id.builtin() {
        let info = builtin.info();
        rules.entry(id.clone()).or_insert(RuleText {
            name: info.name,
            explanation: info.explanation,
            fix: info.remediation,
        });
        if info.remediation == finding.remediation {
            fix = None;
        }
    }
    FindingRow {
        id,
        sev: finding.severity.as_str(),
        v: Verdict::from(finding.verdict).as_str(),
        msg: &finding.message,
        loc: location_text(&finding.location),
        ev: finding.evidence.as_deref(),
        fix,
        acc: finding.accepted.as_ref().map(|a| {
            format!(
                "{}by {} until {} (policy entry {}): {}",
                if a.allow_malicious {
                    "ACCEPTED MALICIOUS FINDING (allow_malicious = true), "
                } else {
                    ""
                },
                a.by,
                a.expires,
                a.entry,
                a.reason
            )
        }),
    }
}

fn verdict_colour(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Clean => "#2e7d32",
        Verdict::Suspicious => "#e08a00",
        Verdict::Malicious => "#c62828",
        Verdict::Error => "#6a1b9a",
    }
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

pub fn write(
    out: &mut dyn Write,
    items: &[Scanned],
    info: &RunInfo,
    tally: &Tally,
) -> io::Result<()> {
    let (data, probed) = table_data(items)?;
    let summary = tally.summary;
    let verdict = summary.verdict();
    write_header(out, info, verdict, summary.artifacts)?;
    let counts = write_counts(out, tally, verdict)?;
    write_verdict_chart(out, &counts, summary.artifacts)?;
    write_rules_chart(out, tally)?;
    write_probe_chart(out, &probed)?;
    writeln!(out, "</section>")?;
    write_table(out, &data)?;
    out.flush()
}

/// The artifact table as the script's JSON, and how many artifacts the probe graded each way.
fn table_data(items: &[Scanned]) -> io::Result<(String, BTreeMap<&'static str, usize>)> {
    let mut rules = BTreeMap::new();
    let mut probed = BTreeMap::<&'static str, usize>::new();
    let artifacts: Vec<Row> = items
        .iter()
        .map(|item| {
            let report = &item.report;
            if let Some(r) = &report.robustness {
                *probed.entry(r.grade.as_str()).or_default() += 1;
            }
            Row {
                p: &report.path,
                f: report.format.to_string(),
                s: report.size,
                v: report.verdict,
                h: report.sha256.as_deref(),
                e: report.error.as_deref(),
                t: top_finding(report).map(|f| f.rule_id.to_string()),
                n: report
                    .findings
                    .iter()
                    .map(|f| finding_row(f, &mut rules))
                    .collect(),
                r: report
                    .robustness
                    .as_ref()
                    .and_then(|r| serde_json::to_value(r).ok()),
                c: item.cached,
            }
        })
        .collect();
    let data = script_json(&Data { artifacts, rules })?;
    Ok((data, probed))
}

/// The document head and the page header (scanner, policy, shard).
fn write_header(
    out: &mut dyn Write,
    info: &RunInfo,
    verdict: Verdict,
    artifacts: usize,
) -> io::Result<()> {
    let scanner = super::json::Scanner::this();
    writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\
         <title>quarantine: {} ({} artifacts)</title><style>{CSS}</style></head><body>",
        verdict.as_str(),
        artifacts
    )?;
    writeln!(
        out,
        "<header><h1>quarantine report</h1><p class=\"meta\">{} {}",
        escape(&scanner.name),
        escape(&scanner.version)
    )?;
    if let Some(policy) = &info.policy {
        write!(out, " · policy <code>{}</code>", escape(&policy.path))?;
    }
    if let Some(shard) = &info.shard {
        write!(out, " · shard {}", escape(&shard.to_string()))?;
    }
    if let Some(baseline) = &info.baseline {
        write!(
            out,
            " · baseline <code>{}</code>: {} known findings left out",
            escape(&baseline.path),
            baseline.findings
        )?;
    }
    writeln!(out, "</p></header>")?;

    Ok(())
}

/// One count: its name, the number, its colour.
type Count = (&'static str, usize, &'static str);

/// The run's verdict and the counts beside it; the counts, for the verdict chart.
fn write_counts(out: &mut dyn Write, tally: &Tally, verdict: Verdict) -> io::Result<[Count; 5]> {
    let summary = tally.summary;
    writeln!(
        out,
        "<section class=\"top\"><div id=\"verdict\" class=\"verdict\" data-verdict=\"{v}\" \
         style=\"background:{c}\">{v}</div><div class=\"counts\">",
        v = verdict.as_str(),
        c = verdict_colour(verdict)
    )?;
    let counts = [
        ("artifacts", summary.artifacts, "#37474f"),
        ("clean", summary.clean, verdict_colour(Verdict::Clean)),
        (
            "suspicious",
            summary.suspicious,
            verdict_colour(Verdict::Suspicious),
        ),
        (
            "malicious",
            summary.malicious,
            verdict_colour(Verdict::Malicious),
        ),
        ("error", summary.error, verdict_colour(Verdict::Error)),
    ];
    for (name, n, colour) in counts {
        writeln!(
            out,
            "<div class=\"count\" id=\"count-{name}\"><b style=\"color:{colour}\">{n}</b>{name}</div>"
        )?;
    }
    writeln!(
        out,
        "<div class=\"count\"><b>{}</b>scanned{}</div></div></section>",
        escape(&human_size(tally.bytes)),
        if tally.cached > 0 {
            format!(" ({} from cache)", tally.cached)
        } else {
            String::new()
        }
    )?;

    Ok(counts)
}

/// The verdicts as one stacked bar with a legend (`counts[0]` is the total, not drawn).
fn write_verdict_chart(
    out: &mut dyn Write,
    counts: &[Count; 5],
    artifacts: usize,
) -> io::Result<()> {
    writeln!(
        out,
        "<section class=\"charts\"><div class=\"chart\"><h2>Verdicts</h2>"
    )?;
    let total = artifacts.max(1) as f64;
    write!(out, "<div class=\"stack\" id=\"verdict-chart\">")?;
    for (name, n, colour) in &counts[1..] {
        if *n > 0 {
            write!(
                out,
                "<span style=\"width:{:.3}%;background:{colour}\" title=\"{name}: {n}\"></span>",
                *n as f64 * 100.0 / total
            )?;
        }
    }
    writeln!(out, "</div><ul class=\"legend\">")?;
    for (name, n, colour) in &counts[1..] {
        writeln!(
            out,
            "<li><i style=\"background:{colour}\"></i>{name} <b>{n}</b> ({:.1}%)</li>",
            *n as f64 * 100.0 / total
        )?;
    }
    writeln!(out, "</ul></div>")?;
    Ok(())
}

/// The rules that fired in the most artifacts, as bars.
fn write_rules_chart(out: &mut dyn Write, tally: &Tally) -> io::Result<()> {
    let top = tally.top_rules();
    writeln!(
        out,
        "<div class=\"chart\"><h2>Most frequent rules</h2><table class=\"bars\" id=\"rules-chart\">"
    )?;
    if top.is_empty() {
        writeln!(out, "<tr><td>no findings</td></tr>")?;
    }
    let most = top.first().map_or(1, |r| r.artifacts.max(1)) as f64;
    for rule in top.iter().take(CHART_RULES) {
        let name = rule
            .rule_id
            .parse::<crate::RuleId>()
            .map(|id| id.info().name)
            .unwrap_or("");
        writeln!(
            out,
            "<tr><td class=\"rid\"><a href=\"#q={id}\" title=\"{name}\">{id}</a></td>\
             <td class=\"bar\"><span style=\"width:{w:.2}%\"></span></td><td>{n}</td></tr>",
            id = escape(&rule.rule_id),
            name = escape(name),
            w = rule.artifacts as f64 * 100.0 / most,
            n = rule.artifacts
        )?;
    }
    if top.len() > CHART_RULES {
        writeln!(
            out,
            "<tr><td colspan=\"3\" class=\"meta\">and {} more rules</td></tr>",
            top.len() - CHART_RULES
        )?;
    }
    writeln!(out, "</table></div>")?;
    Ok(())
}

/// How many artifacts the robustness probe graded each way, when it ran.
fn write_probe_chart(
    out: &mut dyn Write,
    probed: &BTreeMap<&'static str, usize>,
) -> io::Result<()> {
    if !probed.is_empty() {
        writeln!(
            out,
            "<div class=\"chart\" id=\"robustness\"><h2>Robustness probe</h2><ul class=\"legend\">"
        )?;
        for (grade, n) in probed {
            writeln!(
                out,
                "<li><a href=\"#q=grade:{g}\">{g}</a> <b>{n}</b></li>",
                g = escape(grade)
            )?;
        }
        writeln!(out, "</ul></div>")?;
    }
    Ok(())
}

/// The artifact table's controls and frame, its data, and the script that draws it.
fn write_table(out: &mut dyn Write, data: &str) -> io::Result<()> {
    // The table, drawn by the script.
    writeln!(
        out,
        "<section><div class=\"controls\">\
         <input id=\"filter\" type=\"search\" placeholder=\"filter: path, format, rule, evidence\" \
         aria-label=\"filter\">\
         <select id=\"verdict-filter\" aria-label=\"verdict\"><option value=\"\">all verdicts</option>\
         <option>malicious</option><option>suspicious</option><option>error</option>\
         <option>clean</option><option value=\"!clean\">not clean</option></select>\
         <span id=\"shown\" class=\"meta\"></span>\
         <span class=\"pager\"><button id=\"prev\">‹ prev</button><span id=\"page\"></span>\
         <button id=\"next\">next ›</button></span></div>\
         <table id=\"artifacts\"><thead><tr>\
         <th data-sort=\"v\">verdict</th><th data-sort=\"p\">path</th><th data-sort=\"f\">format</th>\
         <th data-sort=\"s\" class=\"num\">size</th><th data-sort=\"k\" class=\"num\">findings</th>\
         <th data-sort=\"t\">top rule</th></tr></thead><tbody></tbody></table>\
         <noscript><p>The artifact table needs JavaScript; the counts above do not. \
         `--format json` has every detail.</p></noscript></section>"
    )?;
    writeln!(
        out,
        "<script type=\"application/json\" id=\"data\">{data}</script>\n<script>{JS}</script>\n</body></html>"
    )?;
    Ok(())
}

const CSS: &str = r##"
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;padding:0 24px 40px;color:#1c2329;background:#f6f7f9}
header h1{font-size:20px;margin:18px 0 2px}.meta{color:#66717c;font-size:12px}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
.top{display:flex;gap:18px;align-items:stretch;margin:14px 0}
.verdict{color:#fff;font-size:26px;font-weight:700;text-transform:uppercase;padding:14px 22px;border-radius:8px;display:flex;align-items:center}
.counts{display:flex;gap:10px;flex-wrap:wrap}
.count{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:8px 14px;min-width:80px;color:#66717c;font-size:12px}
.count b{display:block;font-size:22px;color:#1c2329}
.charts{display:flex;gap:18px;flex-wrap:wrap;margin-bottom:16px}
.chart{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:10px 14px;flex:1;min-width:280px}
.chart h2{font-size:13px;margin:0 0 8px;color:#37474f;text-transform:uppercase;letter-spacing:.04em}
.stack{display:flex;height:22px;border-radius:4px;overflow:hidden;background:#eceff1}
.stack span{display:block;height:100%}
.legend{list-style:none;padding:0;margin:8px 0 0;display:flex;gap:14px;flex-wrap:wrap}
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px}
.bars{width:100%;border-collapse:collapse;table-layout:fixed}.bars td{padding:2px 4px}
.bars .rid{width:58%;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}.bars td:last-child{width:3em;text-align:right}
.bars .bar{width:auto}.bars .bar span{display:block;height:12px;background:#5c6bc0;border-radius:2px;min-width:2px}
.controls{display:flex;gap:10px;align-items:center;margin:6px 0}
#filter{flex:1;max-width:420px;padding:6px 8px;border:1px solid #c5cbd2;border-radius:6px}
select,button{padding:5px 8px;border:1px solid #c5cbd2;border-radius:6px;background:#fff}
.pager{margin-left:auto;display:flex;gap:6px;align-items:center}
#artifacts{width:100%;border-collapse:collapse;background:#fff;border:1px solid #dde1e6}
#artifacts th{text-align:left;background:#eceff1;cursor:pointer;user-select:none;padding:6px 8px;position:sticky;top:0}
#artifacts th.asc:after{content:" ▲"}#artifacts th.desc:after{content:" ▼"}
#artifacts td{padding:5px 8px;border-top:1px solid #eceff1;vertical-align:top}
#artifacts tr.row{cursor:pointer}#artifacts tr.row:hover{background:#f1f5ff}
.num{text-align:right}.path{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;word-break:break-all}
.v{font-weight:600;font-size:12px;text-transform:uppercase}
.v-clean{color:#2e7d32}.v-suspicious{color:#e08a00}.v-malicious{color:#c62828}.v-error{color:#6a1b9a}
.detail td{background:#fafbfc}
.finding{border-left:3px solid #c5cbd2;padding:4px 10px;margin:6px 0}
.finding.v-malicious{border-color:#c62828}.finding.v-suspicious{border-color:#e08a00}
.finding h3{font-size:13px;margin:0;color:#1c2329}
.finding dl{display:grid;grid-template-columns:90px 1fr;gap:2px 10px;margin:4px 0}
.accepted{font-weight:600;color:#6a1b9a}
.finding dt{color:#66717c}.finding dd{margin:0;white-space:pre-wrap;word-break:break-word}
.evidence{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;background:#fff3f3;padding:2px 4px;border-radius:3px}
.eps{border-collapse:collapse;margin:4px 0}.eps td,.eps th{padding:1px 8px;text-align:right;font-size:12px}
a{color:#3949ab}
"##;

const JS: &str = r##"
(function(){
"use strict";
var D=JSON.parse(document.getElementById("data").textContent);
var A=D.artifacts,R=D.rules,PAGE=100;
var rank={malicious:3,suspicious:2,error:1,clean:0};
var st={q:"",v:"",sort:"",dir:1,page:0,open:false};
var shown=A,openSet={};
function el(tag,cls,text){var e=document.createElement(tag);if(cls)e.className=cls;if(text!=null)e.textContent=String(text);return e;}
function size(b){var u=["B","KiB","MiB","GiB","TiB"],i=0;while(b>=1024&&i<4){b/=1024;i++;}return i?b.toFixed(1)+" "+u[i]:b+" B";}
function hay(a){
  if(a._h===undefined){
    var s=[a.p,a.f,a.v,a.t||"",a.e||"",a.h||""];
    (a.n||[]).forEach(function(f){s.push(f.id,f.msg,f.ev||"",f.loc);if(f.acc)s.push("accepted "+f.acc);});
    if(a.r)s.push("grade:"+a.r.grade);
    a._h=s.join("\n").toLowerCase();
  }
  return a._h;
}
function key(a,k){return k==="v"?rank[a.v]:k==="k"?(a.n?a.n.length:0):k==="s"?a.s:(a[k]||"");}
function apply(){
  var q=st.q.toLowerCase().trim(),terms=q?q.split(/\s+/):[];
  shown=A.map(function(a,i){a._i=i;return a;}).filter(function(a){
    if(st.v==="!clean"){if(a.v==="clean")return false;}else if(st.v&&a.v!==st.v)return false;
    for(var i=0;i<terms.length;i++)if(hay(a).indexOf(terms[i])<0)return false;
    return true;
  });
  if(st.sort){var k=st.sort,d=st.dir;shown.sort(function(x,y){var a=key(x,k),b=key(y,k);return (a<b?-1:a>b?1:x._i-y._i)*d;});}
  var pages=Math.max(1,Math.ceil(shown.length/PAGE));
  if(st.page>=pages)st.page=pages-1;
  draw();
}
function findingBox(f){
  var box=el("div","finding v-"+f.v);
  var h=el("h3");h.appendChild(el("span","v v-"+f.v,f.v));h.appendChild(document.createTextNode(" "+f.id+" ("+f.sev+") "+f.msg));
  box.appendChild(h);
  var dl=el("dl");
  function row(t,v,cls){if(v==null||v==="")return;dl.appendChild(el("dt",null,t));dl.appendChild(el("dd",cls||null,v));}
  row("accepted",f.acc,"accepted");row("location",f.loc,"mono");row("evidence",f.ev,"evidence");
  var r=R[f.id];
  row("explanation",r?r.explanation:"");
  row("fix",f.fix||(r?r.fix:""));
  box.appendChild(dl);return box;
}
function robust(r){
  var box=el("div","finding");
  box.appendChild(el("h3",null,"robustness: "+r.grade+" · "+r.summary));
  if(r.skipped)box.appendChild(el("div","meta",r.skipped));
  var b=r.behaviour;
  if(b&&b.epsilons&&b.epsilons.length){
    box.appendChild(el("div","meta",b.model+" on "+b.inputs));
    var t=el("table","eps"),hr=el("tr");
    ["epsilon","FGSM flips","PGD flips","noise flips"].forEach(function(x){hr.appendChild(el("th",null,x));});t.appendChild(hr);
    b.epsilons.forEach(function(e){var tr=el("tr");[e.label,(e.fgsm_flip_rate*100).toFixed(0)+"%",(e.pgd_flip_rate*100).toFixed(0)+"%",(e.noise_flip_rate*100).toFixed(0)+"%"].forEach(function(x){tr.appendChild(el("td",null,x));});t.appendChild(tr);});
    box.appendChild(t);
  }
  var w=r.weights;
  if(w)box.appendChild(el("div","meta","weights: "+w.tensors+" tensors, "+w.parameters+" parameters, "+w.nan+" NaN, "+w.inf+" Inf"));
  return box;
}
function detail(a){
  var tr=el("tr","detail"),td=el("td");td.colSpan=6;
  if(a.h)td.appendChild(el("div","meta","sha256 "+a.h+(a.c?" · from cache":"")));
  if(a.e)td.appendChild(el("div","finding v-error","error: "+a.e));
  (a.n||[]).forEach(function(f){td.appendChild(findingBox(f));});
  if(a.r)td.appendChild(robust(a.r));
  if(!a.e&&!(a.n&&a.n.length)&&!a.r)td.appendChild(el("div","meta","no findings"));
  tr.appendChild(td);return tr;
}
function draw(){
  var body=document.querySelector("#artifacts tbody");
  var rows=document.createDocumentFragment();
  var start=st.page*PAGE,end=Math.min(shown.length,start+PAGE);
  for(var i=start;i<end;i++){
    var a=shown[i],tr=el("tr","row");tr.dataset.i=a._i;
    tr.appendChild(el("td","v v-"+a.v,a.v));
    tr.appendChild(el("td","path",a.p));
    tr.appendChild(el("td",null,a.f));
    tr.appendChild(el("td","num",size(a.s)));
    tr.appendChild(el("td","num",a.n?a.n.length:0));
    tr.appendChild(el("td","mono",a.t||(a.e?"error":"")));
    rows.appendChild(tr);
    if(openSet[a._i]===true||(st.open&&openSet[a._i]!==false))rows.appendChild(detail(a));
  }
  body.replaceChildren(rows);
  var pages=Math.max(1,Math.ceil(shown.length/PAGE));
  document.getElementById("shown").textContent=shown.length+" of "+A.length+" artifacts";
  document.getElementById("page").textContent="page "+(st.page+1)+" / "+pages;
  document.getElementById("prev").disabled=st.page===0;
  document.getElementById("next").disabled=st.page+1>=pages;
  document.querySelectorAll("#artifacts th").forEach(function(th){th.className=(th.dataset.sort===st.sort?(st.dir>0?"asc":"desc"):"")+(th.classList.contains("num")?" num":"");});
}
function fromHash(){
  var p=new URLSearchParams(location.hash.slice(1));
  st.q=p.get("q")||"";st.v=p.get("v")||"";st.open=p.get("open")==="all";
  var s=(p.get("sort")||"").split("-");st.sort=s[0]||"";st.dir=s[1]==="desc"?-1:1;st.page=0;
  document.getElementById("filter").value=st.q;document.getElementById("verdict-filter").value=st.v;
  apply();
}
document.getElementById("filter").addEventListener("input",function(e){st.q=e.target.value;st.page=0;apply();});
document.getElementById("verdict-filter").addEventListener("change",function(e){st.v=e.target.value;st.page=0;apply();});
document.getElementById("prev").addEventListener("click",function(){st.page--;draw();});
document.getElementById("next").addEventListener("click",function(){st.page++;draw();});
document.querySelectorAll("#artifacts th").forEach(function(th){th.addEventListener("click",function(){var k=th.dataset.sort;if(st.sort===k)st.dir=-st.dir;else{st.sort=k;st.dir=(k==="v"||k==="s"||k==="k")?-1:1;}apply();});});
document.querySelector("#artifacts tbody").addEventListener("click",function(e){
  var tr=e.target.closest("tr.row");if(!tr)return;var i=+tr.dataset.i;
  var next=tr.nextElementSibling;
  if(next&&next.className==="detail"){openSet[i]=false;next.remove();}
  else{openSet[i]=true;tr.after(detail(A[i]));}
});
window.addEventListener("hashchange",fromHash);
fromHash();
document.body.dataset.renderMs=Math.round(performance.now());
})();
"##;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape("<script>\"x\" & 'y'</script>"),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn script_json_cannot_close_the_script() {
        let text = script_json(&vec!["</script><!-- & \u{2028}"]).unwrap();
        assert!(!text.contains('<') && !text.contains('>') && !text.contains('&'));
        let back: Vec<String> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, vec!["</script><!-- & \u{2028}".to_owned()]);
    }
}
