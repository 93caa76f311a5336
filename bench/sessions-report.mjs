// The report of bench/sessions: reads the results directory (meta.json and
// one TARGET-TRANSPORT.json per measurement, written by sessions_load),
// prints a table and the ratios Epode/ejabberd and Epode/Prosody, checks the
// issue's targets, and writes report.md and summary.json next to the figures.
import fs from 'node:fs';
import path from 'node:path';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: sessions-report.mjs RESULTS_DIR');
  process.exit(2);
}
const meta = JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8'));
const targets = ['epode', 'ejabberd', 'prosody'];
const transports = ['websocket', 'bosh'];
const runs = {};
for (const t of targets) {
  for (const tr of transports) {
    const f = path.join(dir, `${t}-${tr}.json`);
    if (fs.existsSync(f)) runs[`${t}-${tr}`] = JSON.parse(fs.readFileSync(f, 'utf8'));
  }
}

const num = (x, d = 1) => (x === null || x === undefined || Number.isNaN(x) ? '-' : x.toFixed(d));
const kb = (r) => (r?.server?.bytes_per_session ?? null) === null ? null : r.server.bytes_per_session / 1024;
const held = (r) => (r.held.checked ? r.held.answered : r.held.at_rss);
const errs = (r) => Object.entries(r.errors).map(([k, v]) => `${k} ${v}`).join(', ');

const out = [];
const p = (s = '') => out.push(s);
p('# Browser sessions: Epode, ejabberd and Prosody');
p();
p(`${meta.sessions} sessions per target and transport (SASL ANONYMOUS, ` +
  `${meta.presence ? 'bind then initial presence' : 'bind, no presence'}), ` +
  `${meta.concurrency} set-ups in flight, ${meta.sources} source addresses; ` +
  `after ${meta.idle} s idle every session sends an iq ping (held = sessions that answered); ` +
  `then ${meta.pairs} pairs play message ping-pong for ${meta.duration} s (one message in flight per pair). ` +
  `Commit ${meta.commit}` +
  (meta.uncommitted_files ? ` plus uncommitted changes in ${meta.uncommitted_files} tracked files (the working tree was built)` : '') +
  `, ${meta.date}, ${meta.cpus} CPUs shared by the client, the server and whatever else runs ` +
  `(load averages before each measurement: ${Object.entries(runs).map(([k, r]) => `${k} ${r.loadavg_before}`).join('; ')}).`);
if (meta.epode_note) p(`\nEpode: ${meta.epode_note}`);
p();
const cols = ['target', 'transport', 'held', 'failed', 'open s (all/99%)', 'sessions/s (all/99%)', 'set-up p50/p99 ms',
  'kB/session', 'server CPU s (open)', 'msg/s', 'RTT p50 ms', 'RTT p99 ms', 'lost', 'close s', 'server CPU s (close)'];
p(`| ${cols.join(' | ')} |`);
p(`|${cols.map(() => '---').join('|')}|`);
for (const tr of transports) {
  for (const t of targets) {
    const r = runs[`${t}-${tr}`];
    if (!r) continue;
    const probe = r.sessions !== meta.sessions;
    p(`| ${t} | ${tr} | ${held(r)}/${r.sessions}${probe ? ' (probe)' : ''} | ${r.open.failed + r.held.dropped} | ` +
      `${num(r.open.wall_s)}/${num(r.open.wall_99_s)} | ${num(r.open.rate_per_s, 0)}/${num(r.open.rate_99_per_s, 0)} | ` +
      `${num(r.open.setup_ms_p50, 0)}/${num(r.open.setup_ms_p99, 0)} | ` +
      `${num(kb(r))} | ${num(r.server.cpu_s_open)} | ${num(r.pingpong.messages_per_s, 0)} | ` +
      `${num(r.pingpong.rtt_ms_p50, 2)} | ${num(r.pingpong.rtt_ms_p99, 2)} | ${r.pingpong.lost} | ${num(r.close.wall_s)} | ` +
      `${num(r.server.cpu_s_close)} |`);
  }
}
p();
p('open: until every session is set up (all; one that waits for its 30 s set-up timeout counts) and until 99% are. ' +
  'kB/session: the server\'s VmRSS after every session is set up (3 s later) minus before, divided by the sessions held then. ' +
  'failed: set-ups that failed plus sessions the server dropped. msg/s: messages delivered by the server ' +
  '(two per round trip). close: every session closed, at most 500 at once (WebSocket <close/>, BOSH terminate on a ' +
  'second connection); its CPU includes 2 s of quiet after. Errors, when any:');
p();
let anyErr = false;
for (const [k, r] of Object.entries(runs)) {
  if (Object.keys(r.errors).length) {
    p(`- ${k}: ${errs(r)}`);
    anyErr = true;
  }
}
if (!anyErr) p('- none');

const ratio = (a, b) => (a === null || b === null || a === undefined || b === undefined || !b ? null : a / b);
const summary = { meta, runs, ratios: {}, targets: [] };
p();
p('## Ratios (Epode / the other server; memory and RTT: lower is better; rates: higher is better)');
p();
p('| transport | vs | memory | set-up rate (all) | set-up rate (99%) | msg/s | RTT p50 | RTT p99 |');
p('|---|---|---|---|---|---|---|---|');
for (const tr of transports) {
  const e = runs[`epode-${tr}`];
  for (const o of ['ejabberd', 'prosody']) {
    const r = runs[`${o}-${tr}`];
    if (!e || !r || e.sessions !== meta.sessions || r.sessions !== meta.sessions) continue;
    const x = {
      memory: ratio(kb(e), kb(r)),
      setup_rate: ratio(e.open.rate_per_s, r.open.rate_per_s),
      setup_rate_99: ratio(e.open.rate_99_per_s, r.open.rate_99_per_s),
      messages_per_s: ratio(e.pingpong.messages_per_s, r.pingpong.messages_per_s),
      rtt_p50: ratio(e.pingpong.rtt_ms_p50, r.pingpong.rtt_ms_p50),
      rtt_p99: ratio(e.pingpong.rtt_ms_p99, r.pingpong.rtt_ms_p99),
    };
    summary.ratios[`${tr}:${o}`] = x;
    p(`| ${tr} | ${o} | ${num(x.memory, 2)} | ${num(x.setup_rate, 2)} | ${num(x.setup_rate_99, 2)} | ${num(x.messages_per_s, 2)} | ` +
      `${num(x.rtt_p50, 2)} | ${num(x.rtt_p99, 2)} |`);
  }
}

p();
p('## Targets of the issue');
p();
for (const tr of transports) {
  const e = runs[`epode-${tr}`];
  if (!e) {
    p(`- ${tr}: Epode not measured`);
    continue;
  }
  const full = e.sessions === meta.sessions;
  const check = (name, ok, detail) => {
    summary.targets.push({ transport: tr, name, ok, detail });
    p(`- ${ok ? 'met' : 'NOT met'}: ${tr}, ${name} (${detail})`);
  };
  if (!full) {
    check('endpoint works', false, `probe: ${errs(e) || 'no session opened'}`);
    continue;
  }
  check('at most 8 kB per idle session', kb(e) !== null && kb(e) <= 8, `${num(kb(e))} kB`);
  const ej = runs[`ejabberd-${tr}`];
  if (ej && ej.sessions === meta.sessions) {
    const x = ratio(e.open.rate_per_s, ej.open.rate_per_s);
    const x99 = ratio(e.open.rate_99_per_s, ej.open.rate_99_per_s);
    check('opening at least twice as fast as ejabberd', x !== null && x >= 2 && x99 !== null && x99 >= 2,
      `all N: ${num(e.open.rate_per_s, 0)}/s vs ${num(ej.open.rate_per_s, 0)}/s, ${num(x, 2)}x; ` +
      `first 99%: ${num(e.open.rate_99_per_s, 0)}/s vs ${num(ej.open.rate_99_per_s, 0)}/s, ${num(x99, 2)}x`);
  }
  check(`every session held (${meta.sessions})`, held(e) === meta.sessions && e.open.failed === 0,
    `${held(e)} answered, ${e.open.failed} failed, ${e.held.dropped} dropped`);
}

const text = out.join('\n') + '\n';
fs.writeFileSync(path.join(dir, 'report.md'), text);
fs.writeFileSync(path.join(dir, 'summary.json'), JSON.stringify(summary, null, 1) + '\n');
process.stdout.write(text);
process.stdout.write(`\n(report.md and summary.json in ${dir})\n`);
