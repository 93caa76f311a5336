// The demo page in two headless Chromium pages (driven by playwright-core,
// launched as run.mjs does, plus the fake camera and microphone): two
// hosted users log in, become contacts and call each other through Epode.
// Started by test_calls_demo.sh inside a network namespace; prints one line
// per check ("ok   - ..." / "FAIL - ..."), then "N passed, N failed".
//
//   node test_calls_demo.mjs --base URL --domain D --alice JID:PASS --bob JID:PASS
//                            --logs DIR [--screenshot FILE.png]
import fs from 'node:fs';
import path from 'node:path';

const o = {};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) o[argv[i].replace(/^--/, '')] = argv[i + 1];
for (const k of ['base', 'domain', 'alice', 'bob', 'logs']) {
  if (!o[k]) {
    console.log(`FAIL - --${k} is required`);
    process.exit(2);
  }
}
const user = (s) => ({jid: s.slice(0, s.lastIndexOf(':')), password: s.slice(s.lastIndexOf(':') + 1)});
const alice = user(o.alice);
const bob = user(o.bob);
const T = 15000;

let passed = 0;
let failed = 0;
const ok = (what) => { passed++; console.log(`ok   - ${what}`); };
const ko = (what) => { failed++; console.log(`FAIL - ${what}`); };

// Steps [what, fn, ms]: the first that throws or overruns fails, and the
// steps after it count as failures too (not run).
function limit(promise, ms, what) {
  let timer;
  return Promise.race([promise, new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`step timeout: "${what}" took over ${ms / 1000} s`)), ms);
  })]).finally(() => clearTimeout(timer));
}
async function steps(list) {
  let i = 0;
  try {
    for (; i < list.length; i++) {
      const [what, fn, ms] = list[i];
      const detail = await limit(fn(), ms || T + 5000, what);
      ok(`${what}${detail ? ` (${detail})` : ''}`);
    }
  } catch (e) {
    ko(`${list[i][0]}: ${String(e && e.message || e).replace(/\s+/g, ' ').slice(0, 600)}`);
    if (i + 1 < list.length) ko(`${list.length - i - 1} later step(s) not run: ${list.slice(i + 1).map((s) => s[0]).join('; ')}`);
  }
}

const {chromium} = await import('playwright-core');
fs.mkdirSync(o.logs, {recursive: true});
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
    '--host-resolver-rules=MAP localhost 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'],
});

async function open(name) {
  const context = await browser.newContext({viewport: {width: 1100, height: 600}});
  const page = await context.newPage();
  const log = fs.createWriteStream(path.join(o.logs, `${name}.log`));
  page.on('console', (m) => log.write(`${new Date().toISOString().slice(11, 23)} ${m.type()} ${m.text()}\n`));
  page.on('pageerror', (e) => log.write(`PAGE ERROR ${e.message}\n`));
  page.on('requestfailed', (r) => log.write(`REQUEST FAILED ${r.url()} ${r.failure() && r.failure().errorText}\n`));
  const resp = await page.goto(o.base, {waitUntil: 'load', timeout: T});
  if (!resp || !resp.ok()) throw new Error(`GET ${o.base}: ${resp ? resp.status() : 'no response'}`);
  await page.waitForFunction(() => window.demo, null, {timeout: T});
  return {page, context, log};
}

const waitIn = (page, fn, arg, what, ms = T) => page.waitForFunction(fn, arg, {timeout: ms, polling: 100})
  .catch(async (e) => {
    const st = await page.textContent('#status').catch(() => '?');
    throw new Error(`timeout: ${what}${/Timeout/.test(e.message) ? '' : `: ${e.message}`} (status line: "${st}")`);
  });

async function login(pg, u) {
  await pg.page.fill('#jid', u.jid);
  await pg.page.fill('#password', u.password);
  await pg.page.click('#login-button');
  await waitIn(pg.page, () => window.demo.ep && !document.getElementById('session').hidden, null, `${u.jid} logged in`);
  return pg.page.evaluate(() => `${window.demo.ep.jid} over ${window.demo.ep.transport}`);
}

const stats = (pg) => pg.page.evaluate(() => window.demo.stats());

let a = null;
let b = null;
let g = null;
let bobFull = null;
let before = null;
await steps([
  ['the demo page loads from Epode (alice)', async () => { a = await open('alice'); return o.base; }],
  ['the demo page loads from Epode (bob)', async () => { b = await open('bob'); }],
  ['alice logs in with the form', () => login(a, alice)],
  ['bob logs in with the form', () => login(b, bob)],
  ['ep.iceServers(): a STUN and a TURN server with time-limited credentials (XEP-0215)', async () => {
    const s = await a.page.evaluate(() => window.demo.ep.iceServers());
    const stun = s.find((x) => /^stun:127\.0\.0\.2:3478$/.test(x.urls));
    const turn = s.find((x) => /^turn:127\.0\.0\.2:3478\?transport=udp$/.test(x.urls));
    if (!stun || !turn || !/^\d+:alice@/.test(turn.username || '') || !turn.credential) throw new Error(JSON.stringify(s));
    // The RTCPeerConnection constructor validates the list.
    await a.page.evaluate((servers) => new RTCPeerConnection({iceServers: servers}).close(), s);
    return `${s.length} servers, TURN user ${turn.username}`;
  }],
  ['alice adds bob with the add-contact form', async () => {
    await a.page.fill('#add-jid', bob.jid);
    await a.page.fill('#add-name', 'Bob');
    await a.page.click('#add-form button[type=submit]');
    await waitIn(a.page, (j) => window.demo.ep.roster().some((i) => i.jid === j), bob.jid, 'bob in alice\'s roster');
  }],
  ['bob sees the request and accepts it (which asks alice back)', async () => {
    const sel = `#requests li[data-jid="${alice.jid}"] button.approve`;
    await b.page.waitForSelector(sel, {timeout: T});
    await b.page.click(sel);
  }],
  ['alice sees bob\'s request and accepts it', async () => {
    const sel = `#requests li[data-jid="${bob.jid}"] button.approve`;
    await a.page.waitForSelector(sel, {timeout: T});
    await a.page.click(sel);
  }],
  ['both rosters at subscription both', async () => {
    await waitIn(a.page, (j) => window.demo.ep.roster().some((i) => i.jid === j && i.subscription === 'both'), bob.jid, 'bob at both');
    await waitIn(b.page, (j) => window.demo.ep.roster().some((i) => i.jid === j && i.subscription === 'both'), alice.jid, 'alice at both');
  }],
  ['alice sees bob online (green dot) with a call button for his full JID', async () => {
    bobFull = await b.page.evaluate(() => window.demo.ep.jid);
    await a.page.waitForSelector(`#contacts li[data-jid="${bob.jid}"] .dot.online`, {timeout: T});
    await a.page.waitForSelector(`#contacts button.call[data-jid="${bobFull}"]`, {timeout: T});
    return bobFull;
  }],
  ['a signaling iq to an offline resource rejects with the stanza error', async () => {
    const r = await a.page.evaluate(async (to) => {
      const ch = new window.demo.ep.SignalingChannel(to);
      try {
        await ch.send({ring: {media: ['audio']}});
        return 'resolved';
      } catch (e) {
        return `${e.condition}`;
      } finally {
        ch.close();
      }
    }, `${bob.jid}/nobody-here`);
    if (r !== 'service-unavailable') throw new Error(`got ${r}`);
    return r;
  }],
  ['alice clicks call; bob gets the incoming-call prompt', async () => {
    // Keep the JSON payloads each page sends, for the wire check below.
    for (const pg of [a, b]) {
      await pg.page.evaluate(() => {
        window.sentJson = [];
        const conn = window.demo.ep._conn;
        const prev = conn.xmlOutput;
        conn.xmlOutput = (el) => {
          for (const j of el.getElementsByTagName('json')) window.sentJson.push(j.textContent);
          if (prev) prev.call(conn, el);
        };
      });
    }
    await a.page.click(`#contacts button.call[data-jid="${bobFull}"]`);
    await b.page.waitForSelector('#incoming:not([hidden])', {timeout: T});
    const text = await b.page.textContent('#incoming-text');
    if (!text.includes(alice.jid)) throw new Error(`prompt says "${text}"`);
    return text;
  }],
  ['bob accepts; both peer connections connect', async () => {
    await b.page.click('#incoming-accept');
    for (const pg of [a, b]) {
      await waitIn(pg.page, () => window.demo.call && window.demo.call.pc && window.demo.call.pc.connectionState === 'connected',
        null, 'connectionState connected', 30000);
    }
    return await a.page.textContent('#status');
  }, 40000],
  ['audio and video bytes flow both ways (getStats on both pages, growing over 3 s)', async () => {
    await new Promise((r) => setTimeout(r, 1500));
    before = {a: await stats(a), b: await stats(b)};
    await new Promise((r) => setTimeout(r, 3000));
    const after = {a: await stats(a), b: await stats(b)};
    const bad = [];
    const fig = [];
    for (const side of ['a', 'b']) {
      for (const kind of ['audio', 'video']) {
        for (const dir of ['sent', 'received']) {
          const d = after[side][kind][dir] - before[side][kind][dir];
          fig.push(`${side === 'a' ? 'alice' : 'bob'} ${kind} ${dir} +${d}`);
          if (!(d > 0)) bad.push(`${side} ${kind} ${dir}: ${before[side][kind][dir]} -> ${after[side][kind][dir]}`);
        }
      }
    }
    if (bad.length) throw new Error(bad.join('; '));
    return fig.join(', ');
  }, 20000],
  ['on the wire: ring, desc, candidates as RTCIceCandidateInit, end of candidates as null', async () => {
    const fig = [];
    for (const [who, pg] of [['alice', a], ['bob', b]]) {
      const msgs = (await pg.page.evaluate(() => window.sentJson)).map((t) => JSON.parse(t));
      const sids = new Set(msgs.map((m) => m.sid));
      if (sids.size !== 1 || !/^[A-Za-z0-9._~-]{1,256}$/.test([...sids][0])) throw new Error(`${who}: sids ${[...sids]}`);
      const cands = msgs.filter((m) => m.candidate);
      const bad = cands.find((m) => Object.keys(m.candidate).sort().join() !== 'candidate,sdpMLineIndex,sdpMid' ||
        !/^candidate:/.test(m.candidate.candidate) || typeof m.candidate.sdpMLineIndex !== 'number');
      if (!cands.length || bad) throw new Error(`${who}: candidates ${JSON.stringify(bad || cands)}`);
      if (!msgs.some((m) => m.candidate === null && Object.keys(m).length === 2)) throw new Error(`${who}: no {"candidate": null}`);
      const desc = msgs.find((m) => m.desc);
      const want = who === 'alice' ? 'offer' : 'answer';
      if (!desc || desc.desc.type !== want || !desc.desc.sdp.startsWith('v=0')) throw new Error(`${who}: no ${want}`);
      if (who === 'alice' && !msgs[0].ring) throw new Error('alice did not ring first');
      if (who === 'bob' && !msgs[0].accept) throw new Error('bob did not send accept first');
      fig.push(`${who}: ${msgs.length} messages, ${cands.length} candidates`);
    }
    return fig.join('; ');
  }],
  ['the remote video plays on both pages', async () => {
    for (const pg of [a, b]) {
      await waitIn(pg.page, () => {
        const v = document.getElementById('remote-video');
        return v.srcObject && v.videoWidth > 0 && v.currentTime > 0;
      }, null, 'remote video playing');
    }
    return await b.page.evaluate(() => `${document.getElementById('remote-video').videoWidth}x${document.getElementById('remote-video').videoHeight}`);
  }],
  ['screenshot of bob\'s page mid-call', async () => {
    if (!o.screenshot) return 'not asked';
    await b.page.screenshot({path: o.screenshot});
    return o.screenshot;
  }],
  ['alice hangs up; both calls end and bob is told', async () => {
    await a.page.click('#hangup');
    for (const pg of [a, b]) await waitIn(pg.page, () => window.demo.call === null, null, 'call ended');
    const st = await b.page.textContent('#status');
    if (!/hung up/.test(st)) throw new Error(`bob's status: ${st}`);
    const dis = await a.page.evaluate(() => document.getElementById('hangup').disabled);
    if (!dis) throw new Error('the hang-up button is still enabled');
    return `bob: "${st}"`;
  }],
  ['a guest whose WebSocket cannot open falls back to BOSH (ANONYMOUS)', async () => {
    g = await open('guest');
    const r = await g.page.evaluate(async (domain) => {
      // A WebSocket that fails at once, as behind a proxy that drops upgrades.
      window.WebSocket = class extends EventTarget {
        constructor() {
          super();
          this.readyState = 0;
          setTimeout(() => {
            this.readyState = 3;
            const err = new Event('error');
            if (this.onerror) this.onerror(err);
            const close = Object.assign(new Event('close'), {code: 1006, reason: ''});
            if (this.onclose) this.onclose(close);
          }, 10);
        }
        send() {}
        close() {}
      };
      const {Epode} = await import('/epode.js');
      const ep = await Epode.connect({service: location.origin, jid: domain});
      const out = {jid: ep.jid, transport: ep.transport, roster: ep.roster().length};
      await ep.disconnect();
      return out;
    }, o.domain);
    if (r.transport !== 'bosh' || !new RegExp(`^[^@/]+@${o.domain.replace(/\./g, '\\.')}/`).test(r.jid)) throw new Error(JSON.stringify(r));
    return `${r.jid} over ${r.transport}`;
  }, 30000],
  ['a wrong password is refused with not-authorized', async () => {
    const r = await g.page.evaluate(async (u) => {
      const {Epode} = await import('/epode.js');
      try {
        await Epode.connect({jid: u.jid, password: `${u.password}-wrong`, transports: ['bosh']});
        return 'logged in';
      } catch (e) {
        return e.condition;
      }
    }, bob);
    if (r !== 'not-authorized') throw new Error(r);
    return r;
  }],
]);

for (const pg of [a, b, g]) {
  if (pg) {
    await pg.context.close().catch(() => {});
    pg.log.end();
  }
}
await browser.close();
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed ? 1 : 0;
