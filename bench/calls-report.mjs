// The report of bench/calls: reads calls.json and meta.json from the results
// directory, prints the table (t1, t2 through Epode and direct, p50/p99/
// mean, what Epode adds and the ratio), checks the issue's target (Epode
// adds under 1 ms at p99) and writes report.md and summary.json next to the
// figures. Exit status 0 whether or not the target is met: a benchmark
// reports, it does not assert; 1 only when figures are missing.
import fs from 'node:fs';
import path from 'node:path';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: calls-report.mjs RESULTS_DIR');
  process.exit(2);
}
const meta = JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8'));
const res = JSON.parse(fs.readFileSync(path.join(dir, 'calls.json'), 'utf8'));

const f = (x, d = 3) => (x === null || x === undefined || Number.isNaN(x) ? '-' : x.toFixed(d));
const out = [];
const p = (s = '') => out.push(s);
const TARGET_MS = 1;

p('# Call set-up latency: through Epode vs direct on ejabberd');
p();
p(`Offer ${path.basename(res.offer)}, answer ${path.basename(res.answer)}; ${res.calls} calls per path and mode ` +
  `after ${res.warmup} warm-up calls; sequential calls alternate the paths, parallel ones run ${res.parallel} in ` +
  `flight in alternating blocks. Commit ${meta.commit}` +
  (meta.uncommitted_files ? ` plus uncommitted changes in ${meta.uncommitted_files} tracked files (the working tree was built)` : '') +
  `, ${meta.date}, ${meta.cpus} CPUs shared by the clients (Node ${res.node}), ejabberd and Epode; ` +
  `load average before ${meta.loadavg_before}, after ${meta.loadavg_after ?? '?'}. Epode log level ` +
  `${meta.epode_log_level}, its SQLite store on ${meta.db_fs}; Epode used ${f(meta.epode_cpu_user_s, 1)} s of user and ${f(meta.epode_cpu_sys_s, 1)} s of system CPU ` +
  `over all ${res.runs.reduce((n, r) => n + r.epode.ok, 0)} calls measured plus the warm-up ones ` +
  `(${f(1000 * (meta.epode_cpu_user_s + meta.epode_cpu_sys_s) / Math.max(1, res.runs.reduce((n, r) => n + r.epode.ok, 0) + res.warmup * res.runs.filter((r) => r.parallel <= 1).length), 2)} ms a call).`);
p();
p('t1: offer sent -> session-initiate received by the Jingle client. t2: offer sent -> answer received by the ' +
  'caller (the Jingle client sends session-accept as soon as it has session-initiate). back: t2 - t1 of each call, ' +
  'the way back alone. Through Epode the caller is a browser on Epode\'s WebSocket sending JSON; direct, a client ' +
  'of ejabberd sending the same Jingle. "added" is Epode minus direct at the same percentile (percentiles do not ' +
  'add up: t1 and back p99 need not sum to t2 p99); "ratio" is Epode / direct. Milliseconds.');
p();
p('Clients "raw": the three clients are the same few lines of string handling, stamps taken as a frame arrives. ' +
  'Clients "stanza": the Jingle client and the direct caller are StanzaJS 12 and stamp in its stanza events, after ' +
  'its XML parsing; the browser stays raw, so the direct path then also pays StanzaJS parsing the session-accept ' +
  'that the browser does not, and "added" for t2 and back reads low by that much.');
p();
const cols = ['clients', 'mode', 'what', 'calls ok', 'Epode p50', 'Epode p99', 'Epode mean',
  'direct p50', 'direct p99', 'direct mean', 'added p50', 'added p99', 'ratio p50', 'ratio p99'];
p(`| ${cols.join(' | ')} |`);
p(`|${cols.map(() => '---').join('|')}|`);
const summary = { meta, rows: [], target_ms: TARGET_MS, errors: res.errors };
let worstAdded = null;
for (const r of res.runs) {
  const mode = r.parallel > 1 ? `${r.parallel} in parallel` : 'sequential';
  for (const what of ['t1', 'back', 't2']) {
    const e = r.epode[what];
    const d = r.direct[what];
    if (!e || !d) {
      p(`| ${r.clients} | ${mode} | ${what} | ${r.epode.ok}/${r.direct.ok} | no figures |||||||||`);
      continue;
    }
    const row = {
      clients: r.clients, mode, what, calls: r.calls, epode_ok: r.epode.ok, direct_ok: r.direct.ok,
      epode: e, direct: d, added_p50: e.p50 - d.p50, added_p99: e.p99 - d.p99, added_mean: e.mean - d.mean,
      ratio_p50: e.p50 / d.p50, ratio_p99: e.p99 / d.p99,
    };
    summary.rows.push(row);
    if (what === 't2' && (worstAdded === null || row.added_p99 > worstAdded.added_p99)) worstAdded = row;
    p(`| ${r.clients} | ${mode} | ${what} | ${r.epode.ok}+${r.direct.ok}/${2 * r.calls} | ${f(e.p50)} | ${f(e.p99)} | ` +
      `${f(e.mean)} | ${f(d.p50)} | ${f(d.p99)} | ${f(d.mean)} | ${f(row.added_p50)} | ${f(row.added_p99)} | ` +
      `${f(row.ratio_p50, 2)} | ${f(row.ratio_p99, 2)} |`);
  }
}
p();
const sizes = res.runs.find((r) => r.clients === 'raw');
if (sizes) {
  p(`Bytes on the wire as received (raw clients): session-initiate through Epode ${sizes.epode.initiate_bytes}, ` +
    `direct ${sizes.direct.initiate_bytes}; answer to the caller through Epode (JSON) ${sizes.epode.answer_bytes}, ` +
    `direct (Jingle) ${sizes.direct.answer_bytes}.`);
  p();
}
const errs = Object.entries(res.errors || {});
p(`Errors: ${errs.length ? errs.map(([k, v]) => `${k}: ${v}`).join('; ') : 'none'}.`);
p();
if (worstAdded) {
  const met = worstAdded.added_p99 < TARGET_MS;
  summary.target_met = met;
  p(`Target (Epode adds under ${TARGET_MS} ms at p99, offer to answer): ${met ? 'met' : 'NOT met'}; ` +
    `the largest t2 p99 difference is ${f(worstAdded.added_p99)} ms (${worstAdded.clients}, ${worstAdded.mode}).`);
}
const text = out.join('\n') + '\n';
fs.writeFileSync(path.join(dir, 'report.md'), text);
fs.writeFileSync(path.join(dir, 'summary.json'), JSON.stringify(summary, null, 1));
process.stdout.write(text);
if (!summary.rows.length) process.exit(1);
