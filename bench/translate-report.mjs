// Runs Epode's bench_translate and the Node peers (translate-peers.mjs) on the
// same SDP files, one after the other on this machine, and prints the
// figures side by side with ratios and the targets of the translation issue.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const [ours, ...files] = process.argv.slice(2);
if (!ours || files.length === 0) {
  console.error('usage: translate-report.mjs BENCH_TRANSLATE FILE...');
  process.exit(2);
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, env: process.env });
  if (r.status !== 0) {
    console.error(`${cmd} failed (${r.status}):\n${r.stderr}`);
    process.exit(1);
  }
  const rows = {};
  for (const line of r.stdout.split('\n')) {
    if (!line.trim()) continue;
    const o = JSON.parse(line);
    rows[o.file] ??= {};
    rows[o.file][o.op] = o;
  }
  return rows;
}

const a = run(ours, files);
const b = run('node', [path.join(here, 'translate-peers.mjs'), ...files]);

const us = (rows, f, op) => rows[f]?.[op]?.us;
const fmt = (x, d = 1) => (x === undefined || Number.isNaN(x) ? '-' : x.toFixed(d));
const cols = [
  ['file', 40], ['sdp B', 6], ['jingle B', 8],
  ['ours s2j', 9], ['stz s2j', 9], ['x', 6],
  ['ours j2s', 9], ['stz j2s', 9], ['x', 6],
  ['stanza2s', 9], ['expat', 8], ['j2s/exp', 7], ['stz/exp', 7],
  ['sjj s2j', 8], ['x', 6],
];
const line = (vals) => vals.map((v, i) => String(v).padStart(cols[i][1])).join(' ');
console.log('microseconds per translation; x = how many times faster Epode is');
console.log('s2j: SDP text -> Jingle XML text; j2s: Jingle XML text -> SDP text;');
console.log('stanza2s: libstrophe stanza already parsed -> SDP; expat: bare expat parse of the same Jingle text;');
console.log('stz: StanzaJS 12 (its SDP parser, converter and XML); sjj: sdp-jingle-json (SDP -> its JSON, no XML)');
console.log(line(cols.map((c) => c[0])));

const ratios = { s2j: [], j2s: [], textFloor: [], stanzaFloor: [], sjj: [] };
let misses = [];
for (const f of Object.keys(a).sort()) {
  const sizes = a[f].sizes ?? {};
  const o_s2j = us(a, f, 'sdp2jingle'), s_s2j = us(b, f, 'stanzajs_sdp2jingle');
  const o_j2s = us(a, f, 'jingle2sdp'), s_j2s = us(b, f, 'stanzajs_jingle2sdp');
  const st = us(a, f, 'stanza2sdp'), ex = us(a, f, 'expat_bare');
  const sjj = us(b, f, 'sdpjinglejson_sdp2json');
  const r1 = s_s2j / o_s2j, r2 = s_j2s / o_j2s, r3 = o_j2s / ex, r4 = st / ex, r5 = sjj / o_s2j;
  ratios.s2j.push(r1); ratios.j2s.push(r2); ratios.textFloor.push(r3); ratios.stanzaFloor.push(r4); ratios.sjj.push(r5);
  if (!(r1 >= 100)) misses.push(`${f}: SDP -> Jingle ${fmt(r1)}x StanzaJS (target >= 100x)`);
  if (!(r3 <= 1.5)) misses.push(`${f}: Jingle text -> SDP ${fmt(r3, 2)}x the bare expat parse (target <= 1.5x)`);
  if (!(r4 <= 0.2)) misses.push(`${f}: stanza -> SDP ${fmt(r4, 2)}x the bare expat parse (target <= 0.2x)`);
  console.log(line([f.slice(0, 40), sizes.sdp_bytes ?? '-', sizes.jingle_bytes ?? '-',
    fmt(o_s2j), fmt(s_s2j), fmt(r1, 0), fmt(o_j2s), fmt(s_j2s), fmt(r2, 1),
    fmt(st), fmt(ex), fmt(r3, 2), fmt(r4, 2), fmt(sjj), fmt(r5, 1)]));
}

const stat = (xs) => {
  const v = xs.filter((x) => Number.isFinite(x)).sort((p, q) => p - q);
  if (!v.length) return '-';
  return `min ${fmt(v[0], 2)}  median ${fmt(v[Math.floor(v.length / 2)], 2)}  max ${fmt(v[v.length - 1], 2)}`;
};
const big = Object.keys(a).sort((p, q) => (a[q].sizes?.sdp_bytes ?? 0) - (a[p].sizes?.sdp_bytes ?? 0))[0];
console.log('');
console.log(`files: ${Object.keys(a).length}`);
console.log(`SDP -> Jingle, StanzaJS / Epode:            ${stat(ratios.s2j)}`);
console.log(`Jingle -> SDP, StanzaJS / Epode:            ${stat(ratios.j2s)}`);
console.log(`SDP -> JSON sdp-jingle-json / Epode's XML:  ${stat(ratios.sjj)}`);
console.log(`Jingle text -> SDP, Epode / bare expat:     ${stat(ratios.textFloor)}`);
console.log(`parsed stanza -> SDP, Epode / bare expat:   ${stat(ratios.stanzaFloor)}`);
if (big) {
  const o = us(a, big, 'sdp2jingle'), j = us(a, big, 'jingle2sdp'), s = us(a, big, 'stanza2sdp');
  console.log(`translations per second on ${big}: SDP -> Jingle ${fmt(1e6 / o, 0)}, Jingle text -> SDP ${fmt(1e6 / j, 0)}, stanza -> SDP ${fmt(1e6 / s, 0)}`);
  console.log(`libstrophe on that Jingle: xmpp_stanza_new_from_string ${fmt(us(a, big, 'strophe_parse'))} us, xmpp_stanza_to_text ${fmt(us(a, big, 'strophe_to_text'))} us`);
}
console.log('');
if (misses.length) {
  console.log(`targets missed (${misses.length}):`);
  for (const m of misses) console.log(`  ${m}`);
} else {
  console.log('every target met on every file');
}
