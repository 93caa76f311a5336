// Real JavaScript XMPP clients (Strophe.js, converse.js, StanzaJS) in
// headless Chromium, driven by playwright-core, against a server's BOSH and
// WebSocket endpoints (Epode's, or Prosody's own to check this harness),
// befriending and chatting with a contact on the real XMPP server played by
// contact_bot.py (slixmpp).
//
//   node run.mjs prepare SITE_DIR
//       copies the test pages (site/) and the client libraries into
//       SITE_DIR, and bundles StanzaJS for the browser with esbuild.
//   node run.mjs run [options] SCENARIO...
//       runs the scenarios; prints one line per check, "ok   - ..." or
//       "FAIL - ...", then "N passed, N failed"; exit 1 on any failure.
//
// Options of run (all required unless a default is shown):
//   --site DIR            what prepare made
//   --page-base URL       where the pages are loaded from, e.g.
//                         http://localhost:17290/ (Epode's web_root)
//   --static-port N       serve DIR on 127.0.0.1:N too (for --page-base,
//                         --app-origin or --evil-origin pointing there)
//   --bosh URL --ws URL   the endpoints
//   --domain D            the hosted users' domain
//   --anon-domain D       the domain for SASL ANONYMOUS (default: --domain)
//   --users a:p,b:q,...   hosted users, in scenario order (below)
//   --contact JID --contact-password P --contact-server HOST:PORT
//                         the contact on the real server (the bot logs in)
//   --app-origin URL      an origin in the server's allowed origins: the
//                         cross-origin scenarios load their page from it
//                         (http://localhost:N with --static-port N)
//   --evil-origin URL     an origin the server does not allow
//                         (http://127.0.0.1:N with --static-port N)
//   --logs DIR            per-scenario browser console (the XML both ways)
//                         and the bot's events go there
//   --step-timeout MS     default 10000
//
// Scenarios (user = the Nth of --users):
//   strophe-bosh (1) strophe-ws (2) converse-bosh (3, from --app-origin)
//   converse-ws (4) stanza-ws (5): log in, roster, add the contact,
//       subscription both ways, presence both ways, chat both ways, log out
//   again-ws (1): after a restart of the server: user 1 logs in again over
//       WebSocket and finds the contact in the roster with subscription
//       both, sees their presence, is seen, chats
//   bad-password-bosh, bad-password-ws (2): SASL failure not-authorized
//   anonymous: SASL ANONYMOUS over WebSocket binds a JID of the domain
//   evil-origin: a page from --evil-origin gets no WebSocket session and no
//       BOSH session (after a page from --app-origin got both)
//   same-origin: a page from --page-base gets a WebSocket stream and a BOSH
//       session (its Origin is the server's own)
import {spawn} from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');

// ------------------------------------------------------------------ prepare
async function prepare(dir) {
  const lib = path.join(dir, 'lib');
  fs.mkdirSync(lib, {recursive: true});
  for (const f of fs.readdirSync(path.join(here, 'site'))) {
    fs.copyFileSync(path.join(here, 'site', f), path.join(dir, f));
  }
  const nm = path.join(repo, 'node_modules');
  fs.copyFileSync(path.join(nm, 'strophe.js/dist/strophe.umd.min.js'), path.join(lib, 'strophe.umd.min.js'));
  // converse.js loads its chunks, styles, fonts and images relative to its
  // module: the whole dist, copied (a web root refuses symbolic links out).
  fs.cpSync(path.join(nm, 'converse.js/dist'), path.join(lib, 'converse'), {recursive: true});
  const esbuild = await import('esbuild');
  await esbuild.build({
    stdin: {contents: "import * as XMPP from 'stanza'; window.XMPP = XMPP;", resolveDir: repo},
    bundle: true, platform: 'browser', format: 'iife', target: 'chrome120', minify: true,
    outfile: path.join(lib, 'stanza.bundle.js'), logLevel: 'warning',
    define: {'process.env.NODE_ENV': '"production"', global: 'globalThis'},
  });
}

// ---------------------------------------------------------------- the bot
class Bot {
  constructor({jid, password, server, logFile}) {
    this.events = [];
    this.log = fs.createWriteStream(logFile, {flags: 'a'});
    this.proc = spawn('/usr/bin/python3', [path.join(here, 'contact_bot.py'), '--jid', jid,
      '--password', password, '--server', server], {stdio: ['pipe', 'pipe', 'pipe']});
    let buf = '';
    this.proc.stdout.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        this.log.write(line + '\n');
        try { this.events.push(JSON.parse(line)); } catch { /* not ours */ }
      }
    });
    this.proc.stderr.on('data', (d) => this.log.write(`stderr: ${d}`));
    this.exited = new Promise((r) => this.proc.on('exit', (code) => { this.code = code; r(code); }));
  }

  // The first event (after index `from`) for which pred() is true.
  async wait(pred, ms, what, from = 0) {
    const t0 = Date.now();
    for (;;) {
      const ev = this.events.slice(from).find(pred);
      if (ev) return ev;
      if (this.code !== undefined) throw new Error(`the contact bot exited (${this.code}) waiting for ${what}`);
      if (Date.now() - t0 > ms) throw new Error(`timeout: the contact did not see ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  cmd(obj) { this.proc.stdin.write(JSON.stringify(obj) + '\n'); }

  async quit() {
    if (this.code === undefined) {
      this.cmd({cmd: 'quit'});
      await Promise.race([this.exited, new Promise((r) => setTimeout(r, 4000))]);
      if (this.code === undefined) this.proc.kill('SIGKILL');
    }
    this.log.end();
  }
}

// ---------------------------------------------------------------- checks
let passed = 0;
let failed = 0;
const ok = (what) => { passed++; console.log(`ok   - ${what}`); };
const ko = (what) => { failed++; console.log(`FAIL - ${what}`); };

// A scenario is a list of steps [what, fn, ms]; the first that throws or
// takes longer than ms (default: the step timeout plus 5 s, for the waits
// inside a step) fails the scenario. The remaining steps are reported as
// not run, and count as failures: a scenario that does not finish does not
// pass.
let stepLimit = 15000;
function limit(promise, ms, what) {
  let timer;
  return Promise.race([promise, new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`step timeout: no outcome for "${what}" within ${ms / 1000} s`)), ms);
  })]).finally(() => clearTimeout(timer));
}
async function scenario(name, steps, onFail) {
  let i = 0;
  try {
    for (; i < steps.length; i++) {
      const [what, fn, ms] = steps[i];
      const detail = await limit(fn(), ms || stepLimit, what);
      ok(`${name}: ${what}${detail ? ` (${detail})` : ''}`);
    }
  } catch (e) {
    ko(`${name}: ${steps[i][0]}: ${String(e && e.message || e).replace(/\s+/g, ' ').slice(0, 600)}`);
    if (i + 1 < steps.length) ko(`${name}: ${steps.length - i - 1} later step(s) not run: ${steps.slice(i + 1).map((s) => s[0]).join('; ')}`);
    if (onFail) await onFail().catch(() => {});
  }
}

// ---------------------------------------------------------------- run
function parseArgs(argv) {
  const o = {scenarios: [], stepTimeout: 10000, staticPort: 0};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => { if (i + 1 >= argv.length) throw new Error(`${a} needs a value`); return argv[++i]; };
    switch (a) {
      case '--site': o.site = val(); break;
      case '--page-base': o.pageBase = val(); break;
      case '--static-port': o.staticPort = Number(val()); break;
      case '--bosh': o.bosh = val(); break;
      case '--ws': o.ws = val(); break;
      case '--domain': o.domain = val(); break;
      case '--anon-domain': o.anonDomain = val(); break;
      case '--users': o.users = val().split(',').map((u) => { const k = u.indexOf(':'); return {name: u.slice(0, k), password: u.slice(k + 1)}; }); break;
      case '--contact': o.contact = val(); break;
      case '--contact-password': o.contactPassword = val(); break;
      case '--contact-server': o.contactServer = val(); break;
      case '--app-origin': o.appOrigin = val().replace(/\/$/, ''); break;
      case '--evil-origin': o.evilOrigin = val().replace(/\/$/, ''); break;
      case '--logs': o.logs = val(); break;
      case '--step-timeout': o.stepTimeout = Number(val()); break;
      default:
        if (a.startsWith('-')) throw new Error(`unknown option ${a}`);
        o.scenarios.push(a);
    }
  }
  for (const k of ['site', 'pageBase', 'bosh', 'ws', 'domain', 'users', 'contact', 'contactPassword', 'contactServer', 'logs']) {
    if (!o[k]) throw new Error(`--${k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())} is required`);
  }
  return o;
}

const CONTENT_TYPES = {'.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css',
  '.json': 'application/json', '.wasm': 'application/wasm', '.svg': 'image/svg+xml', '.png': 'image/png',
  '.woff': 'font/woff', '.woff2': 'font/woff2', '.ttf': 'font/ttf', '.map': 'application/json',
  '.mp3': 'audio/mpeg', '.ogg': 'audio/ogg'};

// The site directory over HTTP on 127.0.0.1:port, for pages whose origin
// is not the server under test (Prosody has no such pages; cross-origin
// pages). A real server on loopback rather than the browser's request
// interception: Chromium's Local Network Access checks block requests from
// an intercepted page to a loopback server.
function staticServer(dir, port) {
  const root = path.resolve(dir);
  const server = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://x');
    const rel = decodeURIComponent(u.pathname).replace(/^\/+/, '') || 'index.html';
    const file = path.resolve(root, rel);
    if (!file.startsWith(root + path.sep) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      res.writeHead(404, {'Content-Type': 'text/plain'});
      return res.end('not found');
    }
    res.writeHead(200, {'Content-Type': CONTENT_TYPES[path.extname(file)] || 'application/octet-stream'});
    res.end(fs.readFileSync(file));
  });
  return new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

async function run(o) {
  const {chromium} = await import('playwright-core');
  fs.mkdirSync(o.logs, {recursive: true});
  const T = o.stepTimeout;
  stepLimit = T + 5000;
  const site = o.staticPort ? await staticServer(o.site, o.staticPort) : null;
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      // converse.js fetches logos and such from the internet: every name
      // but localhost fails at once. localhost is 127.0.0.1, where the
      // servers listen (not ::1).
      '--host-resolver-rules=MAP localhost 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'],
  });
  let bot = null;
  const userN = (n) => {
    const u = o.users[n - 1];
    if (!u) throw new Error(`--users has no user ${n}`);
    return {jid: `${u.name}@${o.domain}`, password: u.password, name: u.name};
  };

  // A fresh browser context (no storage shared between scenarios) with
  // one page from `base` (default: --page-base), its console in the log.
  async function open(name, file, base = o.pageBase) {
    const context = await browser.newContext();
    const logFile = fs.createWriteStream(path.join(o.logs, `${name}.log`));
    const page = await context.newPage();
    const consoleLines = [];
    page.on('console', (m) => {
      consoleLines.push(m.text());
      logFile.write(`${new Date().toISOString().slice(11, 23)} ${m.text()}\n`);
    });
    page.on('pageerror', (e) => logFile.write(`PAGE ERROR ${e.message}\n`));
    page.on('requestfailed', (r) => logFile.write(`REQUEST FAILED ${r.method()} ${r.url()} ${r.failure() && r.failure().errorText}\n`));
    page.on('websocket', (ws) => {
      logFile.write(`WEBSOCKET ${ws.url()}\n`);
      ws.on('close', () => logFile.write(`WEBSOCKET CLOSED ${ws.url()}\n`));
      ws.on('socketerror', (e) => logFile.write(`WEBSOCKET ERROR ${e}\n`));
    });
    const resp = await page.goto(new URL(file, base).href, {waitUntil: 'load', timeout: T});
    if (!resp || !resp.ok()) throw new Error(`GET ${file}: ${resp ? resp.status() : 'no response'}`);
    await page.waitForFunction(() => window.client && window.T, null, {timeout: T});
    const close = async () => { await context.close().catch(() => {}); logFile.end(); };
    return {page, close, logFile, consoleText: () => consoleLines.join('\n')};
  }

  const ev = (page, fn, arg) => page.evaluate(fn, arg);
  const waitIn = (page, fn, arg, what) => page.waitForFunction(fn, arg, {timeout: T, polling: 50})
    .catch((e) => { throw new Error(`timeout: ${what}${/Timeout/.test(e.message) ? '' : ': ' + e.message}`); });

  async function ensureBot() {
    if (!bot) {
      bot = new Bot({jid: o.contact, password: o.contactPassword, server: o.contactServer,
        logFile: path.join(o.logs, 'contact-bot.log')});
      await bot.wait((e) => e.event === 'ready', 20000, 'its own login');
    }
    return bot;
  }

  const hygiene = (pgf) => ['every stanza received was qualified by jabber:client', async () => {
    const v = await ev(pgf().page, () => T.state.violations);
    if (v.length) throw new Error(`${v.length}${v.length >= 20 ? '+' : ''} stanza(s), first: ${v[0]}`);
  }];

  // ---- the main scenario: a hosted user and the contact become friends
  async function friends(name, file, url, user, base) {
    const contact = o.contact;
    const c = await ensureBot();
    const mark = c.events.length;
    let pg = null;
    let bound = null;
    const steps = [
      ['load the page', async () => { pg = await open(name, file, base); return new URL(file, base || o.pageBase).origin; }],
      [`log in as ${user.jid}`, async () => {
        const r = await ev(pg.page, (a) => client.connect(a), {url, jid: user.jid, password: user.password});
        bound = r.jid;
        if (T_bare(bound) !== user.jid) throw new Error(`bound ${bound}`);
        return `bound ${bound}`;
      }],
      ['roster fetched, the contact not in it yet', async () => {
        const items = await ev(pg.page, () => client.roster());
        if (items.some((i) => i.jid === contact)) throw new Error(`already there: ${JSON.stringify(items)}`);
        return `${items.length} item(s)`;
      }],
      ['initial presence', async () => { await ev(pg.page, () => client.online()); }],
      [`add ${contact} and ask to subscribe`, async () => {
        await ev(pg.page, (j) => client.add(j), contact);
        await waitIn(pg.page, (j) => T.state.roster[j], contact, 'a roster push with the contact');
        const it = await ev(pg.page, (j) => T.state.roster[j], contact);
        return `roster push: subscription=${it.subscription} ask=${it.ask}`;
      }],
      ['the contact gets the subscription request', async () => {
        await c.wait((e) => e.event === 'presence' && e.type === 'subscribe' && T_bare(e.from) === user.jid, T,
          `a subscribe from ${user.jid}`, mark);
      }],
      ['the contact approves and subscribes back; the request reaches the page', async () => {
        await waitIn(pg.page, (j) => T.state.subscribeRequests.includes(j), contact, `a subscribe from ${contact}`);
      }],
      ['approve the contact', async () => { await ev(pg.page, (j) => client.approve(j), contact); }],
      ['subscription is both on the roster', async () => {
        await waitIn(pg.page, (j) => (T.state.roster[j] || {}).subscription === 'both', contact, 'subscription both')
          .catch(async (e) => { throw new Error(`${e.message}; roster item: ${JSON.stringify(await ev(pg.page, (j) => T.state.roster[j], contact))}`); });
      }],
      ['the contact is subscribed to the user too (its roster says both)', async () => {
        await c.wait((e) => e.event === 'roster' && e.jid === user.jid && e.subscription === 'both', T,
          `its roster item for ${user.jid} at both`, mark);
      }],
      ['the page sees the contact available', async () => {
        await waitIn(pg.page, (j) => T.available(j), contact, `available presence from ${contact}`);
      }],
      ['the contact sees the user available', async () => {
        const e = await c.wait((e) => e.event === 'presence' && e.type === 'available' && T_bare(e.from) === user.jid, T,
          `available presence from ${user.jid}`, mark);
        return `from ${e.from}`;
      }],
      ...(file === 'converse.html' ? [['converse shows the contact in its roster (DOM)', async () => {
        await waitIn(pg.page, () => /Contact/.test(client.rosterText()), null, 'the contact in <converse-roster>');
      }]] : []),
      ...chat(name, () => pg, c, user, () => bound, mark),
      hygiene(() => pg),
      ['log out', async () => {
        const r = await ev(pg.page, () => client.disconnect());
        if (!r.clean) throw new Error('no clean end of the session within 5 s');
      }],
      ['the contact sees the user go offline', async () => {
        await c.wait((e) => e.event === 'presence' && e.type === 'unavailable' && e.from === bound, T,
          `unavailable presence from ${bound}`, mark);
      }],
    ];
    await scenario(name, steps, async () => { await dumpTail(name); });
    if (pg) await pg.close();
  }

  // Chat both ways: a fresh message from the contact first, then the
  // user's message and the contact's echo.
  function chat(name, pgf, c, user, boundf, mark) {
    const hello = `hello ${user.name} from the contact (${name})`;
    const ping = `ping from ${user.name} (${name})`;
    return [
      ['a message from the contact arrives', async () => {
        c.cmd({cmd: 'send', to: user.jid, body: hello});
        await waitIn(pgf().page, (a) => T.state.messages.some((m) => T.bare(m.from) === a.from && m.body === a.body),
          {from: o.contact, body: hello}, `the message "${hello}"`);
      }],
      ['a message to the contact arrives', async () => {
        await ev(pgf().page, (a) => client.send(a.to, a.body), {to: o.contact, body: ping});
        const e = await c.wait((e) => e.event === 'message' && T_bare(e.from) === user.jid && e.body === ping, T,
          `the message "${ping}"`, mark);
        return `from ${e.from}`;
      }],
      ['the contact\'s echo comes back', async () => {
        await waitIn(pgf().page, (a) => T.state.messages.some((m) => T.bare(m.from) === a.from && m.body === a.body),
          {from: o.contact, body: `echo: ${ping}`}, `the echo "echo: ${ping}"`);
      }],
    ];
  }

  // After a restart: the roster and the subscriptions are still there.
  async function again(name, user) {
    const c = await ensureBot();
    const mark = c.events.length;
    let pg = null;
    let bound = null;
    await scenario(name, [
      ['load the page', async () => { pg = await open(name, 'strophe.html'); }],
      [`log in as ${user.jid} over WebSocket`, async () => {
        bound = (await ev(pg.page, (a) => client.connect(a), {url: o.ws, jid: user.jid, password: user.password})).jid;
        return `bound ${bound}`;
      }],
      [`the roster still has ${o.contact} with subscription both`, async () => {
        const items = await ev(pg.page, () => client.roster());
        const it = items.find((i) => i.jid === o.contact);
        if (!it || it.subscription !== 'both') throw new Error(`roster: ${JSON.stringify(items)}`);
      }],
      ['initial presence', async () => { await ev(pg.page, () => client.online()); }],
      ['the page sees the contact available (probe answered)', async () => {
        await waitIn(pg.page, (j) => T.available(j), o.contact, `available presence from ${o.contact}`);
      }],
      ['the contact sees the user available', async () => {
        await c.wait((e) => e.event === 'presence' && e.type === 'available' && e.from === bound, T,
          `available presence from ${bound}`, mark);
      }],
      ...chat(name, () => pg, c, user, () => bound, mark),
      hygiene(() => pg),
      ['log out', async () => {
        const r = await ev(pg.page, () => client.disconnect());
        if (!r.clean) throw new Error('no clean end of the session within 5 s');
      }],
    ], async () => { await dumpTail(name); });
    if (pg) await pg.close();
  }

  async function badPassword(name, url, user) {
    let pg = null;
    await scenario(name, [
      ['load the page', async () => { pg = await open(name, 'strophe.html'); }],
      [`a wrong password for ${user.jid} gets SASL failure not-authorized`, async () => {
        const r = await ev(pg.page, (a) => client.connect(a).then((x) => `logged in as ${x.jid}`, (e) => e.message),
          {url, jid: user.jid, password: `${user.password}-wrong`});
        if (r !== 'auth-failed: not-authorized') throw new Error(r);
      }],
    ], async () => { await dumpTail(name); });
    if (pg) await pg.close();
  }

  async function anonymous(name) {
    let pg = null;
    await scenario(name, [
      ['load the page', async () => { pg = await open(name, 'strophe.html'); }],
      ['SASL ANONYMOUS over WebSocket binds a JID of the domain', async () => {
        const domain = o.anonDomain || o.domain;
        const r = await ev(pg.page, (a) => client.connect(a), {url: o.ws, jid: domain, password: null});
        const m = /^([^@/]+)@([^/]+)\/.+$/.exec(r.jid);
        if (!m || m[2] !== domain) throw new Error(`bound ${r.jid}`);
        if (!await ev(pg.page, () => T.sent(/<auth[^>]*mechanism="ANONYMOUS"/))) throw new Error('not through ANONYMOUS');
        return `bound ${r.jid}`;
      }],
      ['roster of an anonymous user is empty', async () => {
        const items = await ev(pg.page, () => client.roster());
        if (items.length) throw new Error(JSON.stringify(items));
      }],
      ['log out', async () => {
        const r = await ev(pg.page, () => client.disconnect());
        if (!r.clean) throw new Error('no clean end of the session within 5 s');
      }],
    ], async () => { await dumpTail(name); });
    if (pg) await pg.close();
  }

  // A page served by the server itself (--page-base): a browser sends its
  // Origin on a POST and on a WebSocket upgrade even to the same origin,
  // and the same origin must be allowed without being listed.
  async function sameOrigin(name) {
    let pg = null;
    const arg = (url) => ({url, domain: o.domain});
    await scenario(name, [
      ['load a page from the server itself', async () => { pg = await open(name, 'strophe.html'); return new URL(o.pageBase).origin; }],
      ['from the same origin, the WebSocket opens a stream', async () => {
        const r = await ev(pg.page, (a) => T.probeWebSocket(a.url, a.domain), arg(o.ws));
        if (!r.got.some((t) => /<stream:features|<features/.test(t))) {
          const http = pg.consoleText().match(/Unexpected response code: (\d+)/);
          throw new Error(`opened=${r.opened}${http ? ` handshake answered HTTP ${http[1]}` : ''} close=${r.code} received=${JSON.stringify(r.got).slice(0, 300)}`);
        }
      }],
      ['from the same origin, BOSH creates a session', async () => {
        const r = await ev(pg.page, (a) => T.probeBosh(a.url, a.domain), arg(o.bosh));
        if (!/^HTTP 200 .*\ssid=/.test(r)) throw new Error(r.slice(0, 300));
      }],
    ], async () => { await dumpTail(name); });
    if (pg) await pg.close();
  }

  // A page from an origin the server does not allow, after the same
  // requests from an allowed origin (--app-origin) worked: the refusal is
  // about the origin, not an endpoint that does not work at all.
  async function evilOrigin(name) {
    if (!o.evilOrigin || !o.appOrigin) throw new Error('--evil-origin and --app-origin are required for evil-origin');
    let app = null;
    let evil = null;
    const arg = (url) => ({url, domain: o.domain});
    const sessionOpened = (r) => r.got.some((t) => /<open\b|<stream:features|<features/.test(t));
    await scenario(name, [
      ['load a page from the allowed origin', async () => { app = await open(`${name}-allowed`, 'strophe.html', `${o.appOrigin}/`); return o.appOrigin; }],
      ['from the allowed origin, the WebSocket opens a stream', async () => {
        const r = await ev(app.page, (a) => T.probeWebSocket(a.url, a.domain), arg(o.ws));
        if (!sessionOpened(r)) throw new Error(`opened=${r.opened} close=${r.code} received=${JSON.stringify(r.got).slice(0, 300)}`);
      }],
      ['from the allowed origin, BOSH creates a session', async () => {
        const r = await ev(app.page, (a) => T.probeBosh(a.url, a.domain), arg(o.bosh));
        if (!/^HTTP 200 .*\ssid=/.test(r)) throw new Error(r.slice(0, 300));
      }],
      ['load a page from the unknown origin', async () => { evil = await open(name, 'strophe.html', `${o.evilOrigin}/`); return o.evilOrigin; }],
      ['the WebSocket is refused: no stream is opened', async () => {
        const r = await ev(evil.page, (a) => T.probeWebSocket(a.url, a.domain), arg(o.ws));
        if (sessionOpened(r) || r.opened) {
          throw new Error(`opened=${r.opened} close=${r.code} received=${JSON.stringify(r.got).slice(0, 300)}`);
        }
        const http = evil.consoleText().match(/Unexpected response code: (\d+)/);
        return `handshake refused${http ? ` with HTTP ${http[1]}` : ''}, close code ${r.code}`;
      }],
      ['a BOSH session creation request from it is refused', async () => {
        const r = await ev(evil.page, (a) => T.probeBosh(a.url, a.domain), arg(o.bosh));
        if (!r.startsWith('refused')) throw new Error(r.slice(0, 300));
        return r;
      }],
    ], async () => { await dumpTail(name); });
    if (app) await app.close();
    if (evil) await evil.close();
  }

  // On failure, the end of that page's log on stdout (as # comments).
  async function dumpTail(name) {
    await new Promise((r) => setTimeout(r, 200));
    const f = path.join(o.logs, `${name}.log`);
    if (!fs.existsSync(f)) return;
    const lines = fs.readFileSync(f, 'utf8').trimEnd().split('\n').slice(-12);
    for (const l of lines) console.log(`#   ${l.slice(0, 400)}`);
    console.log(`#   (whole log: ${f})`);
  }

  const table = {
    'strophe-bosh': () => friends('strophe-bosh', 'strophe.html', o.bosh, userN(1)),
    'strophe-ws': () => friends('strophe-ws', 'strophe.html', o.ws, userN(2)),
    'converse-bosh': () => friends('converse-bosh', 'converse.html', o.bosh, userN(3), o.appOrigin ? `${o.appOrigin}/` : undefined),
    'converse-ws': () => friends('converse-ws', 'converse.html', o.ws, userN(4)),
    'stanza-ws': () => friends('stanza-ws', 'stanza.html', o.ws, userN(5)),
    'again-ws': () => again('again-ws', userN(1)),
    'bad-password-bosh': () => badPassword('bad-password-bosh', o.bosh, userN(2)),
    'bad-password-ws': () => badPassword('bad-password-ws', o.ws, userN(2)),
    'anonymous': () => anonymous('anonymous'),
    'evil-origin': () => evilOrigin('evil-origin'),
    'same-origin': () => sameOrigin('same-origin'),
  };
  try {
    for (const s of o.scenarios) {
      if (!table[s]) { ko(`unknown scenario ${s}`); continue; }
      const t0 = Date.now();
      await table[s]().catch((e) => ko(`${s}: ${e.message}`));
      console.log(`# ${s}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
  } finally {
    if (bot) await bot.quit();
    await browser.close();
    if (site) site.close();
  }
}

function T_bare(jid) {
  return String(jid).split('/')[0];
}

const [cmd, ...rest] = process.argv.slice(2);
try {
  if (cmd === 'prepare' && rest.length === 1) {
    await prepare(rest[0]);
  } else if (cmd === 'run') {
    await run(parseArgs(rest));
    console.log(`${passed} passed, ${failed} failed`);
    process.exitCode = failed ? 1 : 0;
  } else {
    console.error('usage: node run.mjs prepare SITE_DIR | node run.mjs run [options] SCENARIO...');
    process.exitCode = 2;
  }
} catch (e) {
  console.log(`FAIL - ${e.message}`);
  console.log(`${passed} passed, ${failed + 1} failed`);
  process.exitCode = 1;
}
