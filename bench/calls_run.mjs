// The measuring side of bench/calls: call set-up latency through Epode and,
// in the same process and the same run, the same exchange relayed between
// two clients of ejabberd alone.
//
// Three XMPP-over-WebSocket (RFC 7395) clients of our own, on the `ws`
// package, each a few lines of string handling so that the clients cost the
// same in both paths and every timestamp is taken when the frame arrives,
// before anything is parsed:
//   browser  a hosted user of Epode ("alice"): sends the XEP-0335 JSON offer
//            of docs/protocol.md and gets the JSON answer back;
//   callee   a Jingle client on ejabberd ("bob"): answers every
//            session-initiate with an iq result and at once a session-accept
//            built from the answer SDP; it serves both paths;
//   caller   a second Jingle client on ejabberd ("carol"): sends bob the
//            session-initiate that Epode would have sent (the same
//            translation of the same offer, by epode-translate) and gets the
//            session-accept.
// t1 = offer sent -> session-initiate received by bob; t2 = offer sent ->
// answer received by the caller. After every call the caller hangs up (bye or
// session-terminate) and waits for that to be acknowledged: not measured.
//
// With --stanza, the callee and the baseline caller are StanzaJS 12 clients
// instead (timestamps in their stanza events, so their XML parsing counts),
// the browser stays the raw client: a second table, for the issue's
// "two StanzaJS clients".
//
// Usage: node calls_run.mjs --config FILE.json
// The config (written by bench/calls) names the endpoints, the users, the
// SDP files, the Jingle templates, the counts and the output file.
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const WebSocket = require('ws');

const NS_FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing';
const NS_JINGLE = 'urn:xmpp:jingle:1';

function die(msg) {
  console.error(`calls_run: ERROR: ${msg}`);
  process.exit(1);
}
function log(msg) {
  console.error(`calls_run: ${msg}`);
}

const args = process.argv.slice(2);
if (args[0] !== '--config' || !args[1]) die('usage: calls_run.mjs --config FILE.json');
const cfg = JSON.parse(fs.readFileSync(args[1], 'utf8'));

// ------------------------------------------------------------ XML bits
function xmlEscape(s) {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}
function xmlUnescape(s) {
  return s.replace(/&(lt|gt|quot|apos|amp|#x[0-9a-fA-F]+|#[0-9]+);/g, (m, e) => {
    switch (e) {
      case 'lt': return '<';
      case 'gt': return '>';
      case 'quot': return '"';
      case 'apos': return "'";
      case 'amp': return '&';
      default: return String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    }
  });
}
// The value of attribute NAME in the first start tag of TEXT whose name is
// TAG (either quote style), or null.
function attrOf(text, tag, name) {
  const start = text.indexOf(`<${tag}`);
  if (start < 0) return null;
  const end = text.indexOf('>', start);
  const head = text.slice(start, end < 0 ? undefined : end);
  const m = head.match(new RegExp(`\\s${name}=(?:"([^"]*)"|'([^']*)')`));
  return m ? xmlUnescape(m[1] ?? m[2]) : null;
}
function topName(text) {
  const m = text.match(/^\s*<([A-Za-z0-9:_-]+)/);
  return m ? m[1] : '';
}

// ------------------------------------------------------------ raw client
// One XMPP session over WebSocket: SASL PLAIN, bind, initial presence.
// onFrame(text, t) gets every stanza after login, t = performance.now() at
// arrival.
class RawClient {
  constructor(name, url, domain, user, password, resource) {
    Object.assign(this, { name, url, domain, user, password, resource });
    this.jid = null;
    this.onFrame = null;
    this.waiters = [];
    this.nextId = 0;
  }

  send(text) {
    this.ws.send(text);
  }

  // Resolves with the next frame for which pred(text) holds (during login).
  next(pred, what, ms = 10000) {
    return new Promise((resolve, reject) => {
      const w = { pred, resolve };
      w.timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`${this.name}: no ${what} within ${ms} ms`));
      }, ms);
      this.waiters.push(w);
    });
  }

  dispatch(text, t) {
    for (const w of this.waiters) {
      if (w.pred(text)) {
        clearTimeout(w.timer);
        this.waiters = this.waiters.filter((x) => x !== w);
        w.resolve(text);
        return;
      }
    }
    if (this.onFrame) this.onFrame(text, t);
  }

  async open() {
    this.send(`<open xmlns="${NS_FRAMING}" to="${this.domain}" version="1.0"/>`);
    const feats = await this.next((s) => topName(s).endsWith('features'), 'stream features');
    return feats;
  }

  async login() {
    this.ws = new WebSocket(this.url, 'xmpp', { perMessageDeflate: false });
    this.ws.on('message', (data) => {
      const t = performance.now();
      this.dispatch(data.toString(), t);
    });
    this.closed = new Promise((resolve) => this.ws.on('close', (code) => resolve(code)));
    this.ws.on('error', (e) => log(`${this.name}: websocket error: ${e.message}`));
    await new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('error', reject);
      this.ws.once('unexpected-response', (req, res) => reject(new Error(`${this.name}: HTTP ${res.statusCode}`)));
    });
    const feats = await this.open();
    if (!/>PLAIN</.test(feats)) throw new Error(`${this.name}: PLAIN not offered: ${feats.slice(0, 300)}`);
    const cred = Buffer.from(`\0${this.user}\0${this.password}`).toString('base64');
    this.send(`<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">${cred}</auth>`);
    const res = await this.next((s) => /^(success|failure)$/.test(topName(s)), 'SASL outcome');
    if (topName(res) !== 'success') throw new Error(`${this.name}: login failed: ${res}`);
    await this.open();
    this.send(`<iq xmlns="jabber:client" type="set" id="bind1"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind">` +
      `<resource>${this.resource}</resource></bind></iq>`);
    const b = await this.next((s) => topName(s) === 'iq' && attrOf(s, 'iq', 'id') === 'bind1', 'bind result');
    const m = b.match(/<jid>([^<]+)<\/jid>/);
    if (!m) throw new Error(`${this.name}: bind failed: ${b}`);
    this.jid = xmlUnescape(m[1]);
    this.send('<presence xmlns="jabber:client"/>');
    return this.jid;
  }

  async close() {
    try {
      this.send(`<close xmlns="${NS_FRAMING}"/>`);
    } catch {
      // already gone
    }
    const t = setTimeout(() => this.ws.terminate(), 2000);
    await this.closed;
    clearTimeout(t);
  }
}

// ------------------------------------------------------------ templates
// Jingle templates from epode-translate with placeholders: SID_X, INIT_X
// (initiator), RESP_X (responder), replaced per call.
const initiateTpl = fs.readFileSync(cfg.initiate_template, 'utf8').trim();
const acceptTpl = fs.readFileSync(cfg.accept_template, 'utf8').trim();
const offerSdp = fs.readFileSync(cfg.offer, 'utf8');
const mlines = (sdp) => (String(sdp).match(/^m=/gm) || []).length;
const answerMlines = mlines(fs.readFileSync(cfg.answer, 'utf8'));
function fill(tpl, sid, init, resp) {
  return tpl.split('SID_X').join(sid).split('INIT_X').join(xmlEscape(init)).split('RESP_X').join(xmlEscape(resp));
}

// ------------------------------------------------------------ one call
// Every call in flight, by sid: { t0, t1, t2, done(), path }.
const inflight = new Map();
const errors = {};
function countError(what) {
  errors[what] = (errors[what] || 0) + 1;
}

let idSeq = 0;
const nextId = (p) => `${p}${(idSeq++).toString(36)}`;

// Callee (raw): every session-initiate gets a result and a session-accept.
function rawCalleeFrame(callee) {
  return (text, t) => {
    if (topName(text) !== 'iq') return;
    const type = attrOf(text, 'iq', 'type');
    if (type !== 'set') return;
    const id = attrOf(text, 'iq', 'id');
    const from = attrOf(text, 'iq', 'from');
    const action = attrOf(text, 'jingle', 'action');
    const sid = attrOf(text, 'jingle', 'sid');
    callee.send(`<iq xmlns="jabber:client" type="result" id="${xmlEscape(id)}" to="${xmlEscape(from)}"/>`);
    if (action === 'session-initiate') {
      const c = inflight.get(sid);
      if (c) {
        c.t1 = t;
        c.initiateBytes = Buffer.byteLength(text);
      } else {
        countError('session-initiate for an unknown sid');
      }
      const initiator = attrOf(text, 'jingle', 'initiator') || from;
      callee.send(`<iq xmlns="jabber:client" type="set" id="${nextId('a')}" to="${xmlEscape(from)}">` +
        `${fill(acceptTpl, sid, initiator, callee.jid)}</iq>`);
    }
  };
}

// The browser on Epode: JSON answers in, results for our sets.
function browserFrame(browser) {
  return (text, t) => {
    if (topName(text) !== 'iq') return;
    const type = attrOf(text, 'iq', 'type');
    const id = attrOf(text, 'iq', 'id');
    if (type === 'set') {
      const from = attrOf(text, 'iq', 'from');
      browser.send(`<iq xmlns="jabber:client" type="result" id="${xmlEscape(id)}" to="${xmlEscape(from)}"/>`);
      const m = text.match(/<json[^>]*>([\s\S]*)<\/json>/);
      let msg = null;
      try {
        msg = m ? JSON.parse(xmlUnescape(m[1])) : null;
      } catch {
        msg = null;
      }
      if (!msg) {
        countError('browser: an iq set without JSON');
        return;
      }
      const c = inflight.get(msg.sid);
      if (!c) {
        countError('browser: JSON for an unknown sid');
        return;
      }
      if (msg.desc && msg.desc.type === 'answer') {
        if (mlines(msg.desc.sdp) !== answerMlines) countError('browser: the answer lost or gained m-lines');
        c.t2 = t;
        c.answerBytes = Buffer.byteLength(text);
        c.step();
      }
      return;
    }
    const c = pendingIq.get(id);
    if (c) {
      pendingIq.delete(id);
      c.onResult(type, text);
    }
  };
}

// The baseline caller on ejabberd: session-accept in, results for our sets.
function rawCallerFrame(caller) {
  return (text, t) => {
    if (topName(text) !== 'iq') return;
    const type = attrOf(text, 'iq', 'type');
    const id = attrOf(text, 'iq', 'id');
    if (type === 'set') {
      const from = attrOf(text, 'iq', 'from');
      caller.send(`<iq xmlns="jabber:client" type="result" id="${xmlEscape(id)}" to="${xmlEscape(from)}"/>`);
      if (attrOf(text, 'jingle', 'action') === 'session-accept') {
        const c = inflight.get(attrOf(text, 'jingle', 'sid'));
        if (!c) {
          countError('caller: session-accept for an unknown sid');
          return;
        }
        c.t2 = t;
        c.answerBytes = Buffer.byteLength(text);
        c.step();
      }
      return;
    }
    const c = pendingIq.get(id);
    if (c) {
      pendingIq.delete(id);
      c.onResult(type, text);
    }
  };
}

const pendingIq = new Map();
let sidSeq = 0;

// One call on PATH ("epode" or "direct"); resolves with {t1, t2} in ms or
// null on failure (counted in errors).
function oneCall(path, ctx) {
  const sid = `b${process.pid.toString(36)}x${(sidSeq++).toString(36)}`;
  return new Promise((resolve) => {
    const c = { path, t0: 0, t1: 0, t2: 0, stage: 'offer' };
    const timer = setTimeout(() => {
      countError(`${path}: no answer within ${cfg.call_timeout_ms} ms (stage ${c.stage})`);
      finish(null);
    }, cfg.call_timeout_ms);
    function finish(r) {
      clearTimeout(timer);
      inflight.delete(sid);
      resolve(r);
    }
    // Hang up once the answer is in; the call counts once that is taken.
    c.step = () => {
      if (c.stage !== 'offer') return;
      c.stage = 'hangup';
      if (!c.t1) countError(`${path}: answer before session-initiate was seen`);
      const id = nextId('h');
      pendingIq.set(id, {
        onResult(type, text) {
          if (type !== 'result') {
            countError(`${path}: hang-up refused: ${text.slice(0, 200)}`);
            finish(null);
            return;
          }
          finish({ t1: c.t1 - c.t0, t2: c.t2 - c.t0, si: c.initiateBytes, ans: c.answerBytes });
        },
      });
      if (path === 'epode') {
        ctx.browser.send(jsonIq(id, ctx.calleeJid, { sid, bye: { reason: 'success' } }));
      } else {
        ctx.callerSend(`<iq xmlns="jabber:client" type="set" id="${id}" to="${xmlEscape(ctx.calleeJid)}">` +
          `<jingle xmlns="${NS_JINGLE}" action="session-terminate" sid="${sid}"><reason><success/></reason></jingle></iq>`);
      }
    };
    inflight.set(sid, c);
    const id = nextId('o');
    pendingIq.set(id, {
      onResult(type, text) {
        if (type !== 'result') {
          countError(`${path}: offer refused: ${text.slice(0, 300)}`);
          finish(null);
        }
      },
    });
    if (path === 'epode') {
      const text = jsonIq(id, ctx.calleeJid, { sid, desc: { type: 'offer', sdp: offerSdp } });
      c.t0 = performance.now();
      ctx.browser.send(text);
    } else {
      const text = `<iq xmlns="jabber:client" type="set" id="${id}" to="${xmlEscape(ctx.calleeJid)}">` +
        `${fill(initiateTpl, sid, ctx.callerJid, '')}</iq>`;
      c.t0 = performance.now();
      ctx.callerSend(text);
    }
  });
}

function jsonIq(id, to, payload) {
  return `<iq xmlns="jabber:client" type="set" id="${id}" to="${xmlEscape(to)}">` +
    `<json xmlns="urn:xmpp:json:0">${xmlEscape(JSON.stringify(payload))}</json></iq>`;
}

// ------------------------------------------------------------ StanzaJS
// The callee and the baseline caller as StanzaJS clients. The session-
// initiate and session-accept go out as the same text as the raw clients'
// (StanzaJS would otherwise rebuild them from its own model: another
// payload); what comes in is parsed by StanzaJS before its event fires.
async function stanzaClient(name, url, domain, user, password, resource) {
  const XMPP = require('stanza');
  const client = XMPP.createClient({
    jid: `${user}@${domain}`,
    password,
    resource,
    transports: { websocket: url, bosh: false },
    sasl: ['PLAIN'],
  });
  const ready = new Promise((resolve, reject) => {
    client.once('session:started', resolve);
    client.once('auth:failed', () => reject(new Error(`${name}: StanzaJS login failed`)));
    setTimeout(() => reject(new Error(`${name}: StanzaJS login timed out`)), 10000);
  });
  client.connect();
  await ready;
  client.sendPresence();
  // Our own Jingle handling below: StanzaJS's session manager must not
  // answer (it would refuse sessions it has no media for).
  client.removeAllListeners('iq:set:jingle');
  return client;
}

// Raw text through StanzaJS's transport (the stream is an RFC 7395 socket).
function stanzaSendRaw(client, text) {
  client.transport.socket.send(text);
}

function stanzaCalleeSetup(client, myJid) {
  // Jingle iqs come as 'iq:set:jingle' once StanzaJS has parsed them.
  client.on('iq:set:jingle', (iq) => {
    const t = performance.now();
    const j = iq.jingle;
    client.sendIQResult(iq);
    if (j.action === 'session-initiate') {
      const c = inflight.get(j.sid);
      if (c) c.t1 = t;
      else countError('session-initiate for an unknown sid');
      stanzaSendRaw(client, `<iq xmlns="jabber:client" type="set" id="${nextId('a')}" to="${xmlEscape(iq.from)}">` +
        `${fill(acceptTpl, j.sid, j.initiator || iq.from, myJid)}</iq>`);
    }
  });
}

function stanzaCallerSetup(client) {
  client.on('iq:set:jingle', (iq) => {
    const t = performance.now();
    client.sendIQResult(iq);
    if (iq.jingle.action === 'session-accept') {
      const c = inflight.get(iq.jingle.sid);
      if (!c) {
        countError('caller: session-accept for an unknown sid');
        return;
      }
      c.t2 = t;
      c.step();
    }
  });
  // Results for our raw sets: StanzaJS sees them as iqs it did not send.
  client.on('iq', (iq) => {
    if (iq.type !== 'result' && iq.type !== 'error') return;
    const c = pendingIq.get(iq.id);
    if (c) {
      pendingIq.delete(iq.id);
      c.onResult(iq.type, iq.type === 'error' ? JSON.stringify(iq.error) : '');
    }
  });
}

// ------------------------------------------------------------ statistics
function stats(xs) {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
  return {
    n: s.length, mean: s.reduce((a, b) => a + b, 0) / s.length,
    p50: q(0.5), p90: q(0.9), p99: q(0.99), max: s[s.length - 1], min: s[0],
  };
}

// Runs N calls on each path, interleaved so that whatever else the machine
// does falls on both alike: sequentially (one call at a time, alternating
// paths) or with P calls in flight (blocks of P*5 calls per path, in turn).
async function measure(ctx, n, parallel, label) {
  const res = { epode: [], direct: [] };
  const started = performance.now();
  if (parallel <= 1) {
    for (let i = 0; i < n; i++) {
      for (const path of i % 2 ? ['direct', 'epode'] : ['epode', 'direct']) {
        const r = await oneCall(path, ctx);
        if (r) res[path].push(r);
      }
    }
  } else {
    const block = parallel * 5;
    let done = { epode: 0, direct: 0 };
    let turn = 0;
    while (done.epode < n || done.direct < n) {
      const path = turn++ % 2 ? 'direct' : 'epode';
      const want = Math.min(block, n - done[path]);
      if (want <= 0) continue;
      let left = want;
      const worker = async () => {
        while (left > 0) {
          left--;
          const r = await oneCall(path, ctx);
          if (r) res[path].push(r);
        }
      };
      await Promise.all(Array.from({ length: Math.min(parallel, want) }, worker));
      done[path] += want;
    }
  }
  const wall = (performance.now() - started) / 1000;
  const out = { label, calls: n, parallel, wall_s: wall };
  for (const path of ['epode', 'direct']) {
    out[path] = {
      ok: res[path].length,
      t1: stats(res[path].map((r) => r.t1)),
      t2: stats(res[path].map((r) => r.t2)),
      // the way back alone: session-initiate received -> answer received
      back: stats(res[path].map((r) => r.t2 - r.t1)),
      initiate_bytes: res[path][0]?.si ?? null,
      answer_bytes: res[path][0]?.ans ?? null,
    };
  }
  log(`${label}: ${out.epode.ok}+${out.direct.ok}/${2 * n} calls in ${wall.toFixed(1)} s; ` +
    `t2 p50 epode ${out.epode.t2?.p50.toFixed(3)} ms, direct ${out.direct.t2?.p50.toFixed(3)} ms`);
  return out;
}

// ------------------------------------------------------------ main
async function setup(kind) {
  const browser = new RawClient('browser', cfg.epode_ws, cfg.epode_domain, cfg.browser_user, cfg.browser_password,
    `bench-${kind}`);
  await browser.login();
  browser.onFrame = browserFrame(browser);
  let callee;
  let caller;
  let calleeJid;
  let callerJid;
  if (kind === 'raw') {
    callee = new RawClient('callee', cfg.server_ws, cfg.server_domain, cfg.callee_user, cfg.callee_password, 'callee-raw');
    caller = new RawClient('caller', cfg.server_ws, cfg.server_domain, cfg.caller_user, cfg.caller_password, 'caller-raw');
    calleeJid = await callee.login();
    callerJid = await caller.login();
    callee.onFrame = rawCalleeFrame(callee);
    caller.onFrame = rawCallerFrame(caller);
  } else {
    callee = await stanzaClient('callee', cfg.server_ws, cfg.server_domain, cfg.callee_user, cfg.callee_password,
      'callee-stanza');
    caller = await stanzaClient('caller', cfg.server_ws, cfg.server_domain, cfg.caller_user, cfg.caller_password,
      'caller-stanza');
    calleeJid = callee.jid;
    callerJid = caller.jid;
    stanzaCalleeSetup(callee, calleeJid);
    stanzaCallerSetup(caller);
  }
  // Raw text from the baseline caller (StanzaJS's own send() stays as it is:
  // its iq results go through it).
  const callerSend = kind === 'raw' ? (t) => caller.send(t) : (t) => stanzaSendRaw(caller, t);
  return { kind, browser, callee, caller, calleeJid, callerJid, callerSend };
}

async function teardown(ctx) {
  await ctx.browser.close();
  if (ctx.kind === 'raw') {
    await ctx.callee.close();
    await ctx.caller.close();
  } else {
    for (const c of [ctx.callee, ctx.caller]) {
      const gone = new Promise((resolve) => c.once('disconnected', resolve));
      c.disconnect();
      await Promise.race([gone, new Promise((r) => setTimeout(r, 2000))]);
    }
  }
}

const result = {
  offer: cfg.offer, answer: cfg.answer, warmup: cfg.warmup, calls: cfg.calls, parallel: cfg.parallel,
  node: process.version, runs: [], errors,
};
const hard = setTimeout(() => die(`the whole run took over ${cfg.max_seconds} s`), cfg.max_seconds * 1000);
try {
  for (const kind of cfg.clients) {
    const ctx = await setup(kind);
    log(`${kind}: browser ${ctx.browser.jid}, callee ${ctx.calleeJid}, caller ${ctx.callerJid}`);
    // Warm-up: JIT, ejabberd's routes and Epode's caches; not kept.
    if (cfg.warmup > 0) await measure(ctx, cfg.warmup, 1, `${kind} warm-up`);
    result.runs.push({ clients: kind, ...(await measure(ctx, cfg.calls, 1, `${kind} sequential`)) });
    if (cfg.parallel > 1) {
      result.runs.push({ clients: kind, ...(await measure(ctx, cfg.calls, cfg.parallel, `${kind} ${cfg.parallel} in parallel`)) });
    }
    await teardown(ctx);
  }
} catch (e) {
  clearTimeout(hard);
  die(e.stack || String(e));
}
clearTimeout(hard);
fs.writeFileSync(cfg.out, JSON.stringify(result, null, 1));
const failed = Object.values(errors).reduce((a, b) => a + b, 0);
if (failed) log(`errors: ${JSON.stringify(errors)}`);
process.exit(0);
