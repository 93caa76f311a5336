// Calls between a browser on Epode and a StanzaJS Jingle client on the real
// server. Started by test_calls.sh inside a network namespace, with the
// server running and the hosted users made; this runner prepares Epode's
// web root, starts Epode (and restarts it in scenario 7), drives the pages
// and prints one line per check ("ok   - ..." / "FAIL - ..."), then
// "N passed, N failed".
//
// Pages (Epode serves them from WORK/site): epode.html is web/epode.js
// (window.E, site/epode-call.js), jingle.html is StanzaJS (window.J,
// site/jingle-call.js). A call passes only when getStats() shows audio
// and video bytes, sent and received, growing over 3 s on both sides (a
// data-only call: a message and its echo both ways).
//
//   1 the browser (WebSocket) calls StanzaJS's full JID, rings first as
//     docs/web.md shows; the browser hangs up
//   2 the same over BOSH; StanzaJS hangs up
//   3 the browser calls the bare JID (XEP-0353). StanzaJS has no
//     jingle-message support; the test page answers propose with proceed
//     itself, StanzaJS then takes the session-initiate
//   4 StanzaJS calls the browser's full JID; the browser gets ring and the
//     offer, sends accept (as web/demo.js does) and its answer
//   5 data channel only (browser to StanzaJS): a message each way, echoed
//   6 trickle: Epode's log has transport-info before session-accept (calls
//     1 and 4), and the browser's candidates went out before the answer
//   7 Epode restarted (SIGTERM, start) mid-call: media keeps flowing, the
//     browser logs in again with the same resource and its bye still ends
//     the StanzaJS session
//   8 Firefox ESR (puppeteer-core, WebDriver BiDi) on Epode calls StanzaJS
//   9 ICE restart (XEP-0176) mid-call, once from each side: the new
//     credentials reach the other side and the selected pair uses them
//
//   node run.mjs --server S --work DIR --epode BIN --config FILE --base URL
//                --xmpp-ws URL --users JID:PASS,... --jingle JID:PASS [--only 1,4]
import fs from 'node:fs';
import path from 'node:path';
import {spawn} from 'node:child_process';
import {fileURLToPath} from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const o = {};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) o[argv[i].replace(/^--/, '')] = argv[i + 1];
for (const k of ['server', 'work', 'epode', 'config', 'base', 'xmpp-ws', 'users', 'jingle']) {
  if (!o[k]) {
    console.log(`FAIL - --${k} is required`);
    process.exit(2);
  }
}
const cred = (s) => ({jid: s.slice(0, s.lastIndexOf(':')), password: s.slice(s.lastIndexOf(':') + 1)});
const users = o.users.split(',').map(cred);
const bob = cred(o.jingle);
const only = new Set((o.only || '').split(',').filter(Boolean).map(Number));
const want = (n) => !only.size || only.has(n);
const logs = path.join(o.work, 'logs');
const site = path.join(o.work, 'site');
const epodeLog = path.join(o.work, 'epode.log');
const T = 15000;

let passed = 0;
let failed = 0;
const ok = (what) => { passed++; console.log(`ok   - ${what}`); };
const ko = (what) => { failed++; console.log(`FAIL - ${what}`); };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const oneLine = (e) => String(e && e.message || e).replace(/\s+/g, ' ').slice(0, 900);

// Steps [what, fn, ms]: the first that throws or overruns fails and the
// rest of its scenario is not run (counted as one more failure).
function limit(promise, ms, what) {
  let timer;
  return Promise.race([promise, new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`step timeout: "${what}" took over ${ms / 1000} s`)), ms);
  })]).finally(() => clearTimeout(timer));
}
async function steps(name, list) {
  let i = 0;
  try {
    for (; i < list.length; i++) {
      const [what, fn, ms] = list[i];
      const detail = await limit(fn(), ms || T + 5000, what);
      ok(`${name}: ${what}${detail ? ` (${detail})` : ''}`);
    }
    return true;
  } catch (e) {
    ko(`${name}: ${list[i][0]}: ${oneLine(e)}`);
    if (i + 1 < list.length) ko(`${name}: ${list.length - i - 1} later step(s) not run: ${list.slice(i + 1).map((s) => s[0]).join('; ')}`);
    return false;
  }
}

// ------------------------------------------------------------ web root
async function prepare() {
  fs.mkdirSync(path.join(site, 'lib'), {recursive: true});
  fs.cpSync(path.join(repo, 'web'), site, {recursive: true});
  for (const f of fs.readdirSync(path.join(here, 'site'))) fs.copyFileSync(path.join(here, 'site', f), path.join(site, f));
  const esbuild = await import('esbuild');
  await esbuild.build({
    stdin: {contents: "import * as XMPP from 'stanza'; window.XMPP = XMPP;", resolveDir: repo},
    bundle: true, platform: 'browser', format: 'iife', target: 'chrome120', minify: true,
    outfile: path.join(site, 'lib', 'stanza.bundle.js'), logLevel: 'warning',
    define: {'process.env.NODE_ENV': '"production"', global: 'globalThis'},
  });
}

// ------------------------------------------------------------ Epode
let epode = null;
const logText = () => (fs.existsSync(epodeLog) ? fs.readFileSync(epodeLog, 'utf8') : '');
const count = (re) => (logText().match(re) || []).length;

async function startEpode() {
  const before = count(/link: connected/g);
  const out = fs.openSync(epodeLog, 'a');
  const p = spawn(o.epode, ['--config', o.config], {stdio: ['ignore', out, out]});
  fs.closeSync(out);
  const exited = new Promise((resolve) => p.on('exit', (code, signal) => resolve({code, signal})));
  epode = {p, exited};
  const t = Date.now();
  while (count(/link: connected/g) <= before) {
    if (p.exitCode !== null || Date.now() - t > 15000) throw new Error(`epode did not connect: ${logText().split('\n').slice(-5).join(' | ')}`);
    await sleep(50);
  }
  return Date.now() - t;
}

async function stopEpode() {
  const e = epode;
  epode = null;
  e.p.kill('SIGTERM');
  const r = await Promise.race([e.exited, sleep(10000).then(() => null)]);
  if (!r) {
    e.p.kill('SIGKILL');
    throw new Error('epode did not exit within 10 s of SIGTERM');
  }
  return r;
}

// ------------------------------------------------------------ browsers
const chromeArgs = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
  '--host-resolver-rules=MAP localhost 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'];
let chromium = null;
let firefox = null;
const pages = [];

// A page of either browser (playwright or puppeteer: both have
// evaluate(fn, arg), 'console' and 'pageerror').
async function open(file, logName, browser = 'chromium') {
  let page;
  let close;
  if (browser === 'firefox') {
    page = await firefox.newPage();
    close = () => page.close();
  } else {
    const context = await chromium.newContext();
    page = await context.newPage();
    close = () => context.close();
  }
  const log = fs.createWriteStream(path.join(logs, `${logName}.log`));
  page.on('console', (m) => log.write(`${new Date().toISOString().slice(11, 23)} ${m.type()} ${m.text()}\n`));
  page.on('pageerror', (e) => log.write(`PAGE ERROR ${e.message}\n`));
  const resp = await page.goto(new URL(file, o.base).href, {waitUntil: 'load', timeout: T});
  if (!resp || !resp.ok()) throw new Error(`GET ${file}: ${resp ? resp.status() : 'no response'}`);
  const pg = {page, log, close: async () => { await close().catch(() => {}); log.end(); }};
  pages.push(pg);
  await waitIn(pg, () => !!(window.E && window.E.ready) || !!(window.J && window.M), null, `${file} ready`);
  return pg;
}

const ev = (pg, fn, arg) => pg.page.evaluate(fn, arg);
async function waitIn(pg, fn, arg, what, ms = T) {
  const t = Date.now();
  let last;
  for (;;) {
    try {
      last = await pg.page.evaluate(fn, arg);
    } catch (e) {
      last = `evaluate: ${e.message}`;
    }
    if (last === true) return Date.now() - t;
    if (Date.now() - t > ms) throw new Error(`timeout after ${ms / 1000} s: ${what}${typeof last === 'string' ? ` (${last})` : ''}`);
    await sleep(100);
  }
}

async function closeAll() {
  for (const pg of pages.splice(0)) await pg.close();
}

// ------------------------------------------------------------ helpers
async function jingleLogin(resource) {
  const j = await open('jingle.html', `${current}-jingle`);
  const jid = await ev(j, (a) => window.J.connect(a), {url: o['xmpp-ws'], jid: bob.jid, password: bob.password, resource});
  return {j, jid};
}
async function epodeLogin(n, transports, browser = 'chromium', resource) {
  const u = users[n - 1];
  const e = await open('epode.html', `${current}-epode`, browser);
  const r = await ev(e, (a) => window.E.login(a), {jid: u.jid, password: u.password, transports, resource});
  return {e, jid: r.jid, transport: r.transport, user: u};
}

// Both sides' byte counters over 3 s; every one of the eight must grow.
// And the browser's remote tracks come with a MediaStream (a=msid), which
// is what a page plays (web/demo.js: streams[0]).
async function mediaFlows(e, esid, j, jsid) {
  const read = async () => ({b: await ev(e, (s) => window.E.stats(s), esid), j: await ev(j, (s) => window.J.stats(s), jsid)});
  const before = await read();
  await sleep(3000);
  const after = await read();
  const bad = [];
  const fig = [];
  for (const side of ['b', 'j']) {
    for (const kind of ['audio', 'video']) {
      for (const dir of ['sent', 'received']) {
        const d = after[side][kind][dir] - before[side][kind][dir];
        fig.push(`${side === 'b' ? 'browser' : 'stanza'} ${kind} ${dir} +${d}`);
        if (!(d > 0)) bad.push(`${side === 'b' ? 'browser' : 'stanza'} ${kind} ${dir}: ${before[side][kind][dir]} -> ${after[side][kind][dir]}`);
      }
    }
  }
  const tracks = (await ev(e, (s) => window.E.info(s), esid)).tracks;
  for (const kind of ['audio', 'video']) {
    if (!tracks.some((t) => t.kind === kind && t.streams > 0)) bad.push(`browser: no remote ${kind} track with a MediaStream (${JSON.stringify(tracks)})`);
  }
  if (bad.length) throw new Error(bad.join('; '));
  return `${fig.join(', ')} in 3 s; path ${after.b.pair}; the browser's remote audio and video tracks come in a MediaStream`;
}

// Both peer connections connected; the set-up times each side measured
// (from its start of the call).
async function connected(e, esid, j, jsid, ms = 30000) {
  await waitIn(e, (s) => { const i = window.E.info(s); return !!i && i.connectionState === 'connected' || (i ? `browser: ${i.connectionState}${i.error ? `, ${i.error}` : ''}` : 'no call'); }, esid, 'browser connected', ms);
  await waitIn(j, (s) => { const i = window.J.info(s); return !!i && i.connectionState === 'connected' || (i ? `stanza: ${i.connectionState}` : 'no session'); }, jsid, 'StanzaJS connected', ms);
  const bi = await ev(e, (s) => window.E.info(s), esid);
  const ji = await ev(j, (s) => window.J.info(s), jsid);
  times.push({scenario: current, server: o.server, browser: bi.connectedMs, stanza: ji.connectedMs});
  return `set-up: browser ${bi.connectedMs} ms, StanzaJS ${ji.connectedMs} ms`;
}

// Every message the browser sent was answered with result.
async function allAcked(e, sid, skip = []) {
  const i = await ev(e, (s) => window.E.info(s), sid);
  const bad = i.sent.filter((m) => !m.ok && !skip.includes(m.kind));
  if (bad.length) throw new Error(`refused: ${bad.map((m) => `${m.kind}: ${m.error || 'no answer'}`).join('; ')}`);
  const n = {};
  for (const m of i.sent) n[m.kind] = (n[m.kind] || 0) + 1;
  return Object.entries(n).map(([k, v]) => `${v} ${k}`).join(', ');
}

// The StanzaJS session ended with this reason.
const stanzaEnded = (j, sid, reason) => waitIn(j, ([s, r]) => {
  const i = window.J.info(s);
  if (!i || !i.ended) return i ? `session ${i.sessionState}` : 'no session';
  return i.ended.reason === r || `ended with ${i.ended.reason}`;
}, [sid, reason], `StanzaJS session ${sid} terminated (${reason})`, 10000);

const times = [];
let current = '';
const sidOf = {};

async function scenario(n, name, list) {
  if (!want(n)) return;
  current = `s${n}`;
  const t = Date.now();
  await steps(`${n} ${name} [${o.server}]`, list);
  await closeAll();
  console.log(`# scenario ${n}: ${((Date.now() - t) / 1000).toFixed(1)} s`);
}

// ------------------------------------------------------------ run
fs.mkdirSync(logs, {recursive: true});
try {
  await prepare();
  ok('Epode web root ready: web/ (epode.js, Strophe.js), the test pages, StanzaJS bundled with esbuild');
  const ms = await startEpode();
  ok(`epode started and connected to ${o.server} in ${ms} ms`);
} catch (e) {
  ko(`set-up: ${oneLine(e)}`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(1);
}
const {chromium: pwChromium} = await import('playwright-core');
chromium = await pwChromium.launch({executablePath: '/usr/bin/chromium', args: chromeArgs});

// 1: the browser over WebSocket calls the full JID; the browser hangs up.
{
  let e; let j; let sid; let bobFull;
  await scenario(1, 'browser (WebSocket) calls StanzaJS full JID', [
    ['StanzaJS logs in to the server; the browser logs in to Epode over WebSocket', async () => {
      ({j, jid: bobFull} = await jingleLogin('s1'));
      const b = await epodeLogin(1, ['websocket']);
      e = b.e;
      return `${bobFull}; ${b.jid} over ${b.transport}`;
    }],
    ['the browser rings and offers; StanzaJS gets session-initiate and accepts', async () => {
      sid = await ev(e, ([p]) => window.E.call(p, {ring: true}), [bobFull]);
      sidOf[1] = sid;
      await waitIn(j, (s) => !!(window.J.info(s) && window.J.info(s).accepted) || 'not yet', sid, 'StanzaJS accepted');
      return `sid ${sid}`;
    }],
    ['both peer connections connect', () => connected(e, sid, j, sid), 40000],
    ['audio and video bytes grow both ways on both sides', () => mediaFlows(e, sid, j, sid)],
    ['the browser hangs up: its bye is answered result, StanzaJS gets session-terminate (success)', async () => {
      const r = await ev(e, (s) => window.E.hangup(s), sid);
      if (!r.ok) throw new Error(`bye: ${r.error}`);
      await stanzaEnded(j, sid, 'success');
    }],
    ['every other message the browser sent (offer, candidates) was answered result', () => allAcked(e, sid, ['ring'])],
    ['{ring} to a Jingle peer, the docs/web.md caller flow, is answered result', async () => {
      const i = await ev(e, (s) => window.E.info(s), sid);
      const r = i.sent.find((m) => m.kind === 'ring');
      if (!r.ok) throw new Error(`Epode answered: ${r.error} (web/demo.js sends this first and gives up the call on the error)`);
    }],
  ]);
}

// 2: over BOSH; StanzaJS hangs up.
{
  let e; let j; let sid; let bobFull;
  await scenario(2, 'browser (BOSH) calls StanzaJS full JID', [
    ['StanzaJS logs in; the browser logs in to Epode over BOSH', async () => {
      ({j, jid: bobFull} = await jingleLogin('s2'));
      const b = await epodeLogin(2, ['bosh']);
      e = b.e;
      if (b.transport !== 'bosh') throw new Error(`transport ${b.transport}`);
      return `${b.jid} over ${b.transport}`;
    }],
    ['the browser offers; StanzaJS accepts', async () => {
      sid = await ev(e, ([p]) => window.E.call(p), [bobFull]);
      await waitIn(j, (s) => !!(window.J.info(s) && window.J.info(s).accepted) || 'not yet', sid, 'StanzaJS accepted');
      return `sid ${sid}`;
    }],
    ['both peer connections connect', () => connected(e, sid, j, sid), 40000],
    ['audio and video bytes grow both ways on both sides', () => mediaFlows(e, sid, j, sid)],
    ['StanzaJS hangs up: the browser gets {bye: {reason: success}}', async () => {
      await ev(j, (s) => window.J.hangup(s), sid);
      await waitIn(e, (s) => { const i = window.E.info(s); return !!(i.ended && i.ended.by === 'peer' && i.ended.kind === 'bye' && i.ended.reason === 'success') || JSON.stringify(i.ended); }, sid, 'browser got bye');
    }],
    ['every message the browser sent was answered result', () => allAcked(e, sid)],
  ]);
}

// 3: bare JID, XEP-0353.
{
  let e; let j; let sid;
  await scenario(3, 'browser calls StanzaJS bare JID (XEP-0353)', [
    ['StanzaJS logs in (available, so the server delivers to the bare JID); the browser logs in', async () => {
      ({j} = await jingleLogin('s3'));
      await ev(j, () => { window.J.jmi = true; });
      const b = await epodeLogin(3, ['websocket']);
      e = b.e;
      return 'StanzaJS 12 has no XEP-0353 (only the namespace constant): the test page answers propose with proceed';
    }],
    ['the browser offers to the bare JID; StanzaJS gets a propose with the sid', async () => {
      sid = await ev(e, ([p]) => window.E.call(p), [bob.jid]);
      await waitIn(j, (s) => window.J.proposes.some((p) => p.id === s) || JSON.stringify(window.J.proposes), sid, 'propose received');
      return `sid ${sid}`;
    }],
    ['after proceed: session-initiate to StanzaJS, which accepts; the browser gets accept', async () => {
      await waitIn(j, (s) => !!(window.J.info(s) && window.J.info(s).accepted) || 'no session-initiate yet', sid, 'StanzaJS accepted');
      await waitIn(e, (s) => window.E.info(s).received.some((m) => m.kind === 'accept') || JSON.stringify(window.E.info(s).received.map((m) => m.kind)), sid, 'browser got accept');
      return `the browser's channel now talks to ${await ev(e, (s) => window.E.info(s).peer, sid)}`;
    }],
    ['both peer connections connect', () => connected(e, sid, j, sid), 40000],
    ['audio and video bytes grow both ways on both sides', () => mediaFlows(e, sid, j, sid)],
    ['the browser hangs up; StanzaJS session ends (success)', async () => {
      const r = await ev(e, (s) => window.E.hangup(s), sid);
      if (!r.ok) throw new Error(`bye: ${r.error}`);
      await stanzaEnded(j, sid, 'success');
    }],
    ['every message the browser sent was answered result', () => allAcked(e, sid)],
  ]);
}

// 4: StanzaJS calls the browser's full JID.
{
  let e; let j; let sid; let aliceFull;
  await scenario(4, 'StanzaJS calls the browser full JID', [
    ['StanzaJS logs in; the browser logs in to Epode', async () => {
      ({j} = await jingleLogin('s4'));
      const b = await epodeLogin(4, ['websocket']);
      e = b.e;
      aliceFull = b.jid;
      return aliceFull;
    }],
    ['StanzaJS sends session-initiate; the browser gets ring, then the offer', async () => {
      sid = await ev(j, ([p]) => window.J.call(p), [aliceFull]);
      sidOf[4] = sid;
      await waitIn(e, (s) => { const i = window.E.info(s); return !!i && i.received.some((m) => m.kind === 'desc') || (i ? JSON.stringify(i.received.map((m) => m.kind)) : 'no call'); }, sid, 'browser got the offer');
      const i = await ev(e, (s) => window.E.info(s), sid);
      const kinds = i.received.map((m) => m.kind);
      if (kinds[0] !== 'ring' || kinds.indexOf('desc') < 0) throw new Error(`received ${kinds.join(', ')}`);
      return `received: ${kinds.slice(0, 3).join(', ')}${kinds.length > 3 ? ', ...' : ''}`;
    }],
    ['the browser answers; both peer connections connect', () => connected(e, sid, j, sid), 40000],
    ['audio and video bytes grow both ways on both sides', () => mediaFlows(e, sid, j, sid)],
    ['the browser hangs up; StanzaJS session ends (success)', async () => {
      const r = await ev(e, (s) => window.E.hangup(s), sid);
      if (!r.ok) throw new Error(`bye: ${r.error}`);
      await stanzaEnded(j, sid, 'success');
    }],
    ['the answer and candidates were answered result', () => allAcked(e, sid, ['accept'])],
    ['{accept} for an incoming Jingle call, the docs/web.md callee flow, is answered result', async () => {
      const i = await ev(e, (s) => window.E.info(s), sid);
      const r = i.sent.find((m) => m.kind === 'accept');
      if (!r.ok) throw new Error(`Epode answered: ${r.error} (web/demo.js sends this on the accept button and hangs up on the error)`);
    }],
  ]);
}

// 5: data channel only.
{
  let e; let j; let sid; let sid2; let bobFull; let aliceFull;
  await scenario(5, 'data channel only', [
    ['StanzaJS logs in; the browser logs in', async () => {
      ({j, jid: bobFull} = await jingleLogin('s5'));
      ({e, jid: aliceFull} = await epodeLogin(5, ['websocket']));
    }],
    ['the browser offers a data channel only; StanzaJS accepts', async () => {
      sid = await ev(e, ([p]) => window.E.call(p, {media: [], data: true}), [bobFull]);
      await waitIn(j, (s) => !!(window.J.info(s) && window.J.info(s).accepted) || 'not yet', sid, 'StanzaJS accepted');
      const sdp = await ev(j, (s) => window.J.info(s).remoteSdp, sid);
      return `StanzaJS's remote SDP: ${(sdp.match(/^m=.*$/mg) || []).join(' | ')}`;
    }],
    ['both data channels open', async () => {
      await waitIn(e, (s) => window.E.info(s).dcState === 'open' || `browser: ${window.E.info(s).dcState}, ${window.E.info(s).connectionState}`, sid, 'browser data channel open', 30000);
      await waitIn(j, (s) => window.J.info(s).dcState === 'open' || `stanza: ${window.J.info(s).dcState}, ${window.J.info(s).connectionState}`, sid, 'StanzaJS data channel open', 30000);
      const bi = await ev(e, (s) => window.E.info(s), sid);
      return `browser connected in ${bi.connectedMs} ms`;
    }, 40000],
    ['a message each way, and each echoed back', async () => {
      await ev(e, (s) => window.E.send(s, 'hello-from-browser'), sid);
      await ev(j, (s) => window.J.send(s, 'hello-from-stanza'), sid);
      await waitIn(e, (s) => { const m = window.E.info(s).dcMessages; return (m.includes('hello-from-stanza') && m.includes('echo:hello-from-browser')) || JSON.stringify(m); }, sid, 'browser got both');
      await waitIn(j, (s) => { const m = window.J.info(s).dcMessages; return (m.includes('hello-from-browser') && m.includes('echo:hello-from-stanza')) || JSON.stringify(m); }, sid, 'StanzaJS got both');
    }],
    ['the browser hangs up; StanzaJS session ends', async () => {
      const r = await ev(e, (s) => window.E.hangup(s), sid);
      if (!r.ok) throw new Error(`bye: ${r.error}`);
      await stanzaEnded(j, sid, 'success');
    }],
    ['every message the browser sent was answered result', () => allAcked(e, sid)],
    ['the other way: StanzaJS offers a data channel only to the browser, which answers', async () => {
      sid2 = await ev(j, ([p]) => window.J.call(p, {media: [], data: true}), [aliceFull]);
      await waitIn(e, (s) => !!(window.E.info(s) && window.E.info(s).dcState === 'open') || (window.E.info(s) ? `browser: ${window.E.info(s).dcState}, ${window.E.info(s).connectionState}${window.E.info(s).error ? `, ${window.E.info(s).error}` : ''}` : 'no call'), sid2, 'browser data channel open', 30000);
      await waitIn(j, (s) => window.J.info(s).dcState === 'open' || `stanza: ${window.J.info(s).dcState}`, sid2, 'StanzaJS data channel open', 30000);
      const sdp = await ev(e, (s) => window.E.info(s).offerSdp, sid2);
      return `the browser's offer from Epode: ${(sdp.match(/^m=.*$/mg) || []).join(' | ')}`;
    }, 40000],
    ['a message each way on it, each echoed back; StanzaJS hangs up and the browser gets bye', async () => {
      await ev(e, (s) => window.E.send(s, 'hello-from-browser'), sid2);
      await ev(j, (s) => window.J.send(s, 'hello-from-stanza'), sid2);
      await waitIn(e, (s) => { const m = window.E.info(s).dcMessages; return (m.includes('hello-from-stanza') && m.includes('echo:hello-from-browser')) || JSON.stringify(m); }, sid2, 'browser got both');
      await waitIn(j, (s) => { const m = window.J.info(s).dcMessages; return (m.includes('hello-from-browser') && m.includes('echo:hello-from-stanza')) || JSON.stringify(m); }, sid2, 'StanzaJS got both');
      await ev(j, (s) => window.J.hangup(s), sid2);
      await waitIn(e, (s) => !!(window.E.info(s).ended && window.E.info(s).ended.kind === 'bye') || JSON.stringify(window.E.info(s).ended), sid2, 'browser got bye');
    }],
  ]);
}

// 6: trickle order, from Epode's debug log (libstrophe's SENT/RECV lines).
// Call 1: the browser's transport-info go out before StanzaJS's
// session-accept comes in; call 4: StanzaJS's come in before the
// browser's answer goes out as session-accept.
if (want(6)) {
  current = 's6';
  await steps(`6 candidates before the answer [${o.server}]`, [
    ['Epode\'s log: transport-info before session-accept (calls of scenarios 1 and 4)', async () => {
      const lines = logText().split('\n').filter((l) => /(SENT|RECV): .*urn:xmpp:jingle:1/.test(l));
      const fig = [];
      let good = 0;
      for (const [n, ti, sa] of [[1, 'SENT', 'RECV'], [4, 'RECV', 'SENT']]) {
        const sid = sidOf[n];
        if (!sid) continue;
        const mine = lines.filter((l) => l.includes(`sid="${sid}"`) || l.includes(`sid='${sid}'`));
        const accept = mine.findIndex((l) => l.includes(`${sa}: `) && /action=["']session-accept["']/.test(l));
        const before = mine.slice(0, accept < 0 ? 0 : accept).filter((l) => l.includes(`${ti}: `) && /action=["']transport-info["']/.test(l)).length;
        fig.push(`call ${n}: ${before} transport-info ${ti === 'SENT' ? 'sent' : 'received'} before session-accept ${sa === 'SENT' ? 'sent' : 'received'}${accept < 0 ? ' (no session-accept found)' : ''}`);
        if (accept >= 0 && before > 0) good++;
      }
      if (!good) throw new Error(fig.length ? fig.join('; ') : 'scenarios 1 and 4 did not run');
      return fig.join('; ');
    }],
  ]);
}

// 7: Epode restarts mid-call.
{
  let e; let j; let sid; let bobFull; let login;
  await scenario(7, 'Epode restarted mid-call', [
    ['StanzaJS logs in; the browser logs in with resource restart7', async () => {
      ({j, jid: bobFull} = await jingleLogin('s7'));
      const b = await epodeLogin(7, ['websocket'], 'chromium', 'restart7');
      e = b.e;
      login = {jid: b.user.jid, password: b.user.password, transports: ['websocket'], resource: 'restart7'};
      if (!b.jid.endsWith('/restart7')) throw new Error(`bound ${b.jid}`);
      return b.jid;
    }],
    ['call set up (browser to StanzaJS)', async () => {
      sid = await ev(e, ([p]) => window.E.call(p), [bobFull]);
      await waitIn(j, (s) => !!(window.J.info(s) && window.J.info(s).accepted) || 'not yet', sid, 'StanzaJS accepted');
      return connected(e, sid, j, sid);
    }, 40000],
    ['media flows before the restart', () => mediaFlows(e, sid, j, sid)],
    ['Epode stops on SIGTERM (exit 0) and starts again with the same config and store', async () => {
      const r = await stopEpode();
      if (r.code !== 0) throw new Error(`exit ${JSON.stringify(r)}`);
      const ms = await startEpode();
      return `reconnected to ${o.server} in ${ms} ms`;
    }],
    ['media still flows both ways (peer to peer)', () => mediaFlows(e, sid, j, sid)],
    ['the StanzaJS session is still up', async () => {
      const i = await ev(j, (s) => window.J.info(s), sid);
      if (i.ended || i.connectionState !== 'connected') throw new Error(JSON.stringify({ended: i.ended, state: i.connectionState}));
    }],
    ['the browser logs in again (same resource) and hangs up: bye answered result, StanzaJS session ends', async () => {
      const r = await ev(e, ([s, l]) => window.E.hangupAfterRelogin(s, l), [sid, login]);
      if (!r.bye.ok) throw new Error(`bye: ${r.bye.error}`);
      await stanzaEnded(j, sid, 'success');
      return `as ${r.login.jid}`;
    }],
    ['Epode\'s log: the call was restored from the store', async () => {
      if (!logText().includes(`sid=${sid}: restored from the store`)) throw new Error('no "restored from the store" line for the sid');
    }],
  ]);
}

// 8: Firefox on Epode.
if (want(8)) {
  let e; let j; let sid; let bobFull;
  const profile = path.join(o.work, 'firefox-profile');
  await scenario(8, 'Firefox ESR on Epode calls StanzaJS', [
    ['Firefox ESR starts (puppeteer-core, WebDriver BiDi)', async () => {
      fs.mkdirSync(profile, {recursive: true});
      const puppeteer = (await import('puppeteer-core')).default;
      firefox = await puppeteer.launch({
        browser: 'firefox', executablePath: '/usr/bin/firefox-esr', headless: true, userDataDir: profile,
        extraPrefsFirefox: {
          'media.navigator.streams.fake': true,
          'media.navigator.permission.disabled': true,
          'media.peerconnection.ice.obfuscate_host_addresses': false,
        },
      });
      return await firefox.version();
    }, 40000],
    ['StanzaJS logs in; Firefox logs in to Epode over WebSocket', async () => {
      ({j, jid: bobFull} = await jingleLogin('s8'));
      const b = await epodeLogin(8, ['websocket'], 'firefox');
      e = b.e;
      return `${b.jid} over ${b.transport}`;
    }],
    ['Firefox offers; StanzaJS accepts', async () => {
      sid = await ev(e, ([p]) => window.E.call(p), [bobFull]);
      await waitIn(j, (s) => !!(window.J.info(s) && window.J.info(s).accepted) || 'not yet', sid, 'StanzaJS accepted');
      return `sid ${sid}`;
    }],
    ['both peer connections connect', () => connected(e, sid, j, sid), 40000],
    ['audio and video bytes grow both ways on both sides', () => mediaFlows(e, sid, j, sid)],
    ['Firefox hangs up; StanzaJS session ends (success)', async () => {
      const r = await ev(e, (s) => window.E.hangup(s), sid);
      if (!r.ok) throw new Error(`bye: ${r.error}`);
      await stanzaEnded(j, sid, 'success');
    }],
    ['every message Firefox sent was answered result', () => allAcked(e, sid)],
  ]);
}

// The browser's selected candidate pair runs on its new ICE credentials
// (local ufrag of the pair = the local description's), and media flows.
async function restarted(e, esid, j, jsid) {
  await waitIn(e, async (s) => {
    const [st, i] = [await window.E.stats(s), window.E.info(s)];
    return (st.pairUfrag === i.localUfrag && i.connectionState === 'connected') || `pair ufrag ${st.pairUfrag}, local ${i.localUfrag}, ${i.connectionState}`;
  }, esid, 'the selected pair on the new ufrag', 15000);
  return mediaFlows(e, esid, j, jsid);
}

// 9: ICE restarts (XEP-0176) both ways: the browser restarts in a call
// it made, StanzaJS (which restarts only as initiator) in a call it made.
{
  let e; let j; let sid; let sid2; let bobFull; let aliceFull; let before;
  await scenario(9, 'ICE restart both ways', [
    ['StanzaJS logs in; the browser logs in', async () => {
      ({j, jid: bobFull} = await jingleLogin('s9'));
      ({e, jid: aliceFull} = await epodeLogin(9, ['websocket']));
    }],
    ['call from the browser set up', async () => {
      sid = await ev(e, ([p]) => window.E.call(p), [bobFull]);
      await waitIn(j, (s) => !!(window.J.info(s) && window.J.info(s).accepted) || 'not yet', sid, 'StanzaJS accepted');
      return connected(e, sid, j, sid);
    }, 40000],
    ['the browser restarts ICE: its re-offer is answered result and the answer brings StanzaJS\'s new ufrag', async () => {
      before = {b: await ev(e, (s) => window.E.info(s), sid), j: await ev(j, (s) => window.J.ufrags(s), sid)};
      const r = await ev(e, (s) => window.E.restartIce(s), sid);
      if (!r.ok) throw new Error(`re-offer: ${r.error}`);
      await waitIn(e, ([s, old]) => { const i = window.E.info(s); return i.remoteUfrag !== old || `remote ufrag still ${i.remoteUfrag}`; }, [sid, before.b.remoteUfrag], 'new remote ufrag in the browser');
      await waitIn(j, ([s, old]) => { const u = window.J.ufrags(s); return (u.remote !== old && u.local !== null) || JSON.stringify(u); }, [sid, before.j.remote], 'StanzaJS took the new ufrag');
      const after = await ev(j, (s) => window.J.ufrags(s), sid);
      return `StanzaJS ufrag ${before.j.local} -> ${after.local}, browser ${before.j.remote} -> ${after.remote}`;
    }],
    ['after the restart: the selected pair uses the new credentials, media flows both ways', () => restarted(e, sid, j, sid)],
    ['the browser hangs up', async () => {
      const r = await ev(e, (s) => window.E.hangup(s), sid);
      if (!r.ok) throw new Error(`bye: ${r.error}`);
      await stanzaEnded(j, sid, 'success');
      return allAcked(e, sid);
    }],
    ['call from StanzaJS set up', async () => {
      sid2 = await ev(j, ([p]) => window.J.call(p), [aliceFull]);
      await waitIn(e, (s) => !!window.E.info(s) || 'no call', sid2, 'browser got the call');
      return connected(e, sid2, j, sid2);
    }, 40000],
    ['StanzaJS restarts ICE: the browser gets a re-offer and its answer brings the browser\'s new ufrag back', async () => {
      before = {b: await ev(e, (s) => window.E.info(s), sid2), j: await ev(j, (s) => window.J.ufrags(s), sid2)};
      await ev(j, (s) => window.J.restartIce(s), sid2);
      await waitIn(e, (s) => window.E.info(s).reoffers > 0 || 'no re-offer', sid2, 'browser got a re-offer');
      await waitIn(j, ([s, old]) => { const u = window.J.ufrags(s); return (u.remote !== old && !u.restarting) || JSON.stringify(u); }, [sid2, before.j.remote], 'StanzaJS got the browser\'s new ufrag');
      const after = await ev(j, (s) => window.J.ufrags(s), sid2);
      return `StanzaJS ufrag ${before.j.local} -> ${after.local}, browser ${before.j.remote} -> ${after.remote}`;
    }],
    ['after the restart: the selected pair uses the new credentials, media flows both ways', () => restarted(e, sid2, j, sid2)],
    ['the browser hangs up', async () => {
      const r = await ev(e, (s) => window.E.hangup(s), sid2);
      if (!r.ok) throw new Error(`bye: ${r.error}`);
      await stanzaEnded(j, sid2, 'success');
      return allAcked(e, sid2, ['accept']);
    }],
  ]);
}

// 10: StanzaJS calls the browser's bare JID with XEP-0353 (the page sends
// the propose, StanzaJS the Jingle): ring, accept -> proceed, then the
// session-initiate with the propose's sid.
{
  let e; let j; let sid; let aliceFull; let aliceBare;
  await scenario(10, 'StanzaJS calls the browser bare JID (XEP-0353)', [
    ['StanzaJS logs in; the browser logs in to Epode', async () => {
      ({j} = await jingleLogin('s10'));
      const b = await epodeLogin(10, ['websocket']);
      e = b.e;
      aliceFull = b.jid;
      aliceBare = aliceFull.split('/')[0];
      return aliceFull;
    }],
    ['propose to the bare JID rings the browser; its accept is the proceed; the offer follows', async () => {
      const r = await ev(j, ([p]) => window.J.propose(p), [aliceBare]);
      sid = r.sid;
      if (r.device !== aliceFull) throw new Error(`proceed came from ${r.device}, not ${aliceFull}`);
      await waitIn(e, (s) => { const i = window.E.info(s); return !!i && i.received.some((m) => m.kind === 'desc') || (i ? JSON.stringify(i.received.map((m) => m.kind)) : 'no call'); }, sid, 'browser got the offer');
      const i = await ev(e, (s) => window.E.info(s), sid);
      const kinds = i.received.map((m) => m.kind);
      if (kinds[0] !== 'ring' || kinds.filter((k) => k === 'ring').length !== 1 || kinds.indexOf('desc') < 0)
        throw new Error(`received ${kinds.join(', ')}`);
      return `received: ${kinds.slice(0, 3).join(', ')}${kinds.length > 3 ? ', ...' : ''}`;
    }],
    ['the browser answers; both peer connections connect', () => connected(e, sid, j, sid), 40000],
    ['audio and video bytes grow both ways on both sides', () => mediaFlows(e, sid, j, sid)],
    ['StanzaJS hangs up; the browser gets bye', async () => {
      await ev(j, (s) => window.J.hangup(s), sid);
      await waitIn(e, (s) => { const i = window.E.info(s); return !!(i && i.ended && i.ended.by === 'peer' && i.ended.kind === 'bye') || JSON.stringify(i && i.ended); }, sid, 'browser got bye');
    }],
  ]);
}

await closeAll();
if (firefox) await firefox.close().catch(() => {});
await chromium.close();
if (times.length) console.log(`# set-up times (ms, each side from its start of the call): ${times.map((t) => `${t.scenario} browser ${t.browser} stanza ${t.stanza}`).join('; ')}`);
if (epode) {
  const r = await stopEpode().catch((e) => ({error: e.message}));
  if (r.code === 0) ok('epode stops on SIGTERM, exit 0');
  else ko(`epode on SIGTERM: ${JSON.stringify(r)}`);
}
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed ? 1 : 0;
