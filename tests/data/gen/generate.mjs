#!/usr/bin/env node
// Regenerates tests/data/sdp/: real SDP offers and answers produced by headless
// Chromium (playwright-core) and Firefox ESR (puppeteer-core, WebDriver BiDi).
//
// Run it through generate.sh, which creates the network namespace WebRTC needs
// (WebRTC ignores loopback; Firefox also wants a default route):
//
//   tests/data/gen/generate.sh            # as root; writes tests/data/sdp/
//   tests/data/gen/generate.sh --out DIR  # writes somewhere else
//
// Every call is verified before anything is written: ICE/DTLS connected, RTP
// sent and received on every media kind on both sides, data channels open, and
// after an ICE restart a candidate pair on the new credentials succeeded.
// Nothing is written unless every scenario succeeds; then the old *.sdp and
// *.json files and README.md in the output directory are replaced.

import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import puppeteer from 'puppeteer-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const STEP_MS = 30_000;          // any single browser step
const TOTAL_MS = 15 * 60_000;    // the whole run
const ATTEMPTS = 3;              // per scenario

const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
];
const FIREFOX_PREFS = {
  'media.navigator.streams.fake': true,
  'media.navigator.permission.disabled': true,
  'media.peerconnection.ice.obfuscate_host_addresses': false,
};

// What pc1 (the offerer) sends; pc2 (the answerer) mirrors it (sends the same kinds).
const SCENARIOS = {
  audio: { audio: true },
  av: { audio: true, video: true },
  data: { data: true },
  avd: { audio: true, video: true, data: true },
  simulcast: { audio: true, video: true, simulcast: true },
  restart: { audio: true, video: true, restart: true },
  // Run on browsers launched with their default host-address privacy (see launch*).
  'data-mdns': { data: true, privacy: true },
};

// ---------------------------------------------------------------- the page
// Installed into the page as an inline script; Node drives it with
// page.evaluate(([m, a]) => window.E[m](...a)). Each step awaits at most `ms`.
function pageLib() {
  const peers = new Map();
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  async function until(pred, ms, what) {
    const t0 = performance.now();
    for (;;) {
      const v = await pred();
      if (v) return v;
      if (performance.now() - t0 > ms) {
        throw new Error(`timed out waiting for ${typeof what === 'function' ? what() : what}`);
      }
      await sleep(50);
    }
  }
  const peer = (name) => {
    const p = peers.get(name);
    if (!p) throw new Error(`no peer ${name}`);
    return p;
  };
  const ufragOf = (sdp) => (/^a=ice-ufrag:(\S+)/m.exec(sdp) || [])[1];

  async function statsOf(pc) {
    const out = [];
    (await pc.getStats()).forEach((s) => out.push(s));
    return out;
  }

  window.E = {
    async create(name, opts) {
      const pc = new RTCPeerConnection();
      const p = { name, pc, opts, cands: [], gathered: false, channels: [], stream: null,
                  tracksAdded: false, log: [] };
      pc.onicecandidate = (e) => {
        p.cands.push(e.candidate ? e.candidate.toJSON() : null);
        if (!e.candidate) p.gathered = true;
      };
      pc.ondatachannel = (e) => p.channels.push(e.channel);
      pc.onconnectionstatechange = () => p.log.push(`connection ${pc.connectionState}`);
      pc.oniceconnectionstatechange = () => p.log.push(`ice ${pc.iceConnectionState}`);
      if (opts.audio || opts.video) {
        p.stream = await navigator.mediaDevices.getUserMedia({ audio: !!opts.audio, video: !!opts.video });
      }
      peers.set(name, p);
      return true;
    },

    // pc1: add media and data channel (first time), createOffer, setLocalDescription.
    async offer(name, { restart = false } = {}) {
      const p = peer(name), pc = p.pc;
      if (!p.tracksAdded) {
        p.tracksAdded = true;
        const o = p.opts;
        if (p.stream) {
          for (const t of p.stream.getAudioTracks()) pc.addTrack(t, p.stream);
          for (const t of p.stream.getVideoTracks()) {
            if (o.simulcast) {
              pc.addTransceiver(t, {
                direction: 'sendrecv', streams: [p.stream],
                sendEncodings: [
                  { rid: 'h' },
                  { rid: 'm', scaleResolutionDownBy: 2 },
                  { rid: 'l', scaleResolutionDownBy: 4 },
                ],
              });
            } else {
              pc.addTrack(t, p.stream);
            }
          }
        }
        if (o.data) p.channels.push(pc.createDataChannel('epode'));
      }
      p.cands = [];
      p.gathered = false;
      if (restart) pc.restartIce();
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      return pc.localDescription.sdp;
    },

    // pc2: setRemoteDescription(offer), add its own tracks (first time), answer.
    async answer(name, sdp) {
      const p = peer(name), pc = p.pc;
      await pc.setRemoteDescription({ type: 'offer', sdp });
      if (!p.tracksAdded) {
        p.tracksAdded = true;
        // addTrack reuses the recvonly transceivers setRemoteDescription created.
        if (p.stream) for (const t of p.stream.getTracks()) pc.addTrack(t, p.stream);
      }
      p.cands = [];
      p.gathered = false;
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      return pc.localDescription.sdp;
    },

    async applyAnswer(name, sdp) {
      await peer(name).pc.setRemoteDescription({ type: 'answer', sdp });
      return true;
    },

    // Wait for the final null candidate; return every candidate and the
    // local description as it now stands.
    async gathered(name, ms) {
      const p = peer(name);
      await until(() => p.gathered && p.pc.iceGatheringState === 'complete', ms, `${name} gathering`);
      await sleep(100); // nothing should follow the null event; make sure
      return { cands: p.cands.slice(), sdp: p.pc.localDescription.sdp,
               gatheringState: p.pc.iceGatheringState };
    },

    async addCandidates(name, cands) {
      const pc = peer(name).pc, errors = [];
      for (const c of cands) {
        if (c === null) continue; // the null event is local only
        try { await pc.addIceCandidate(c); } catch (e) { errors.push(`${JSON.stringify(c)}: ${e}`); }
      }
      return errors;
    },

    // Connected, RTP sent and received on every media kind, data channels
    // open, a succeeded pair on the current local ufrag; all within totalMs.
    async verify(name, totalMs) {
      const p = peer(name), pc = p.pc, o = p.opts;
      const deadline = performance.now() + totalMs;
      const left = () => Math.max(0, deadline - performance.now());
      await until(() => pc.connectionState === 'connected', left(),
        () => `${name} connectionState connected (now ${pc.connectionState}; ${p.log.join(', ')})`);
      if (o.data) {
        await until(() => p.channels.length > 0 && p.channels.every((c) => c.readyState === 'open'),
          left(), `${name} data channel open`);
      }
      const kinds = [];
      if (o.audio) kinds.push('audio');
      if (o.video) kinds.push('video');
      for (const kind of kinds) {
        await until(async () => (await statsOf(pc)).some((s) => s.type === 'inbound-rtp'
          && (s.kind || s.mediaType) === kind && s.packetsReceived > 0), left(), `${name} ${kind} RTP received`);
        await until(async () => (await statsOf(pc)).some((s) => s.type === 'outbound-rtp'
          && (s.kind || s.mediaType) === kind && s.packetsSent > 0), left(), `${name} ${kind} RTP sent`);
      }
      // The selected pair must have succeeded and, after an ICE restart, use
      // the current local ufrag (both browsers report usernameFragment in
      // candidate stats; if one does not, that part is skipped). Chromium's
      // controlled side may go on reporting the old selected pair (seen for
      // 27 s and more) while its checks on the new credentials succeed, so a
      // succeeded pair on the new ufrag is accepted too: connectivity checks
      // with the restarted credentials went through.
      const ufrag = ufragOf(pc.localDescription.sdp);
      const describe = (c) => c && `${c.protocol} ${c.address || c.ip}:${c.port} ${c.candidateType}`;
      let selected = null, pairsSeen = [];
      try {
        await until(async () => {
          const st = await statsOf(pc);
          const byId = new Map(st.map((s) => [s.id, s]));
          let pair = null;
          const tr = st.find((s) => s.type === 'transport' && s.selectedCandidatePairId);
          if (tr) pair = byId.get(tr.selectedCandidatePairId);
          if (!pair) pair = st.find((s) => s.type === 'candidate-pair' && s.selected);
          const pairs = st.filter((s) => s.type === 'candidate-pair');
          pairsSeen = pairs.map((q) => {
            const l = byId.get(q.localCandidateId), r = byId.get(q.remoteCandidateId);
            return `${describe(l)} [${l && l.usernameFragment}] -> ${describe(r)} ${q.state}`
              + `${q.nominated ? ' nominated' : ''}${q === pair ? ' selected' : ''}`;
          });
          if (!pair || pair.state !== 'succeeded') return false;
          const lc = byId.get(pair.localCandidateId), rc = byId.get(pair.remoteCandidateId);
          selected = { local: describe(lc), remote: describe(rc), localUfrag: lc && lc.usernameFragment };
          if (!lc || !lc.usernameFragment || lc.usernameFragment === ufrag) return true;
          return pairs.some((q) => q.state === 'succeeded'
            && (byId.get(q.localCandidateId) || {}).usernameFragment === ufrag);
        }, left(), `${name} a succeeded pair with ufrag ${ufrag}`);
      } catch (e) {
        throw new Error(`${e.message}; candidate pairs: ${pairsSeen.join('; ')}`);
      }
      const outbound = (await statsOf(pc)).filter((s) => s.type === 'outbound-rtp')
        .map((s) => `${s.kind || s.mediaType}${s.rid ? ` rid=${s.rid}` : ''} packets=${s.packetsSent}`);
      return { connectionState: pc.connectionState, iceConnectionState: pc.iceConnectionState,
               selected, outbound, channels: p.channels.map((c) => `${c.label}:${c.readyState}`) };
    },

    close() {
      for (const p of peers.values()) {
        p.pc.close();
        if (p.stream) p.stream.getTracks().forEach((t) => t.stop());
      }
      peers.clear();
      return true;
    },
  };
}

const PAGE = `<!doctype html><meta charset="utf-8"><title>epode sdp corpus</title>
<script>(${pageLib.toString()})();</script>`;

// ---------------------------------------------------------------- node side
function log(...a) { console.log(new Date().toISOString().slice(11, 23), ...a); }

function step(label, promise, ms = STEP_MS) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${label}: timed out after ${ms} ms`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

// The in-page wait gets a little less than the Node-side step, so its own
// (more descriptive) error wins.
const INNER_MS = STEP_MS - 3_000;
function call(side, method, ...args) {
  return step(`${side.b.name} ${method}`, side.page.evaluate(([m, a]) => window.E[m](...a), [method, args]));
}

function startServer() {
  return new Promise((resolve, reject) => {
    const srv = http.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(PAGE);
    });
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve(srv));
  });
}

// privacy: true keeps each browser's default host-address obfuscation (mDNS
// .local candidates): Chromium without --use-fake-ui-for-media-stream, Firefox
// without the obfuscate_host_addresses=false pref.
async function launchChromium({ privacy = false } = {}) {
  const args = privacy ? CHROMIUM_ARGS.filter((a) => a !== '--use-fake-ui-for-media-stream') : CHROMIUM_ARGS;
  const browser = await step('chromium launch', chromium.launch({
    executablePath: '/usr/bin/chromium', headless: true, args, timeout: STEP_MS,
  }));
  const ctx = await step('chromium context', browser.newContext());
  return {
    name: 'chromium', version: browser.version(),
    newPage: () => ctx.newPage(),
    close: () => step('chromium close', browser.close(), 10_000),
  };
}

async function launchFirefox({ privacy = false } = {}) {
  // Headless Firefox ESR hangs at start unless its profile directory exists.
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'epode-firefox-'));
  const prefs = { ...FIREFOX_PREFS };
  if (privacy) delete prefs['media.peerconnection.ice.obfuscate_host_addresses'];
  const browser = await step('firefox launch', puppeteer.launch({
    browser: 'firefox', executablePath: '/usr/bin/firefox-esr', headless: true,
    userDataDir: profile, extraPrefsFirefox: prefs, timeout: STEP_MS,
  }));
  return {
    name: 'firefox', version: await step('firefox version', browser.version()),
    newPage: () => browser.newPage(),
    close: async () => {
      try { await step('firefox close', browser.close(), 10_000); } catch (e) {
        browser.process()?.kill('SIGKILL');
        throw e;
      } finally { fs.rmSync(profile, { recursive: true, force: true }); }
    },
  };
}

async function openSide(b, url) {
  const page = await step(`${b.name} newPage`, b.newPage());
  page.on('console', (m) => log(`[${b.name} console] ${m.text()}`));
  page.on('pageerror', (e) => log(`[${b.name} pageerror] ${e}`));
  await step(`${b.name} goto`, page.goto(url));
  return { b, page };
}

async function closeSide(side) {
  try { await step(`${side.b.name} E.close`, side.page.evaluate(() => window.E.close()), 5_000); } catch { /* page may be gone */ }
  try { await step(`${side.b.name} page.close`, side.page.close(), 5_000); } catch (e) { log(`warning: ${e.message}`); }
}

const hasCandidateLines = (sdp) => /^a=candidate:/m.test(sdp);

// One offer/answer round between A's pc1 and B's pc2, non-trickle order so the
// "complete" descriptions are what a non-trickle application would send:
// pc1 offers and gathers, pc2 answers the bare offer and gathers, pc1 applies
// the bare answer, then each side gets the other's candidates.
async function round(A, B, { restart = false } = {}) {
  const r = {};
  r.offer = await call(A, 'offer', 'pc1', { restart });
  if (hasCandidateLines(r.offer)) throw new Error('offer already had candidates right after setLocalDescription');
  const og = await call(A, 'gathered', 'pc1', INNER_MS);
  r.offerCandidates = og.cands;
  r.offerComplete = og.sdp;

  r.answer = await call(B, 'answer', 'pc2', r.offer);
  if (hasCandidateLines(r.answer)) throw new Error('answer already had candidates right after setLocalDescription');
  const ag = await call(B, 'gathered', 'pc2', INNER_MS);
  r.answerCandidates = ag.cands;
  r.answerComplete = ag.sdp;

  await call(A, 'applyAnswer', 'pc1', r.answer);
  const e2 = await call(B, 'addCandidates', 'pc2', r.offerCandidates);
  const e1 = await call(A, 'addCandidates', 'pc1', r.answerCandidates);
  for (const e of [...e2, ...e1]) log(`  addIceCandidate error (kept going): ${e}`);

  r.verify1 = await call(A, 'verify', 'pc1', INNER_MS);
  r.verify2 = await call(B, 'verify', 'pc2', INNER_MS);
  for (const [n, v] of [['pc1', r.verify1], ['pc2', r.verify2]]) {
    log(`  ${n} ${A === B || n === 'pc1' ? A.b.name : B.b.name}: ${v.connectionState}/${v.iceConnectionState}`
      + ` pair ${v.selected?.local} -> ${v.selected?.remote}`
      + `${v.selected?.localUfrag ? ` ufrag ${v.selected.localUfrag}` : ''}`
      + `${v.outbound.length ? ` out [${v.outbound.join(', ')}]` : ''}`
      + `${v.channels.length ? ` dc [${v.channels.join(', ')}]` : ''}`);
  }
  return r;
}

function addRound(files, prefix, r) {
  files.set(`${prefix}-offer.sdp`, r.offer);
  files.set(`${prefix}-offer-candidates.json`, `${JSON.stringify(r.offerCandidates, null, 2)}\n`);
  files.set(`${prefix}-offer-complete.sdp`, r.offerComplete);
  files.set(`${prefix}-answer.sdp`, r.answer);
  files.set(`${prefix}-answer-candidates.json`, `${JSON.stringify(r.answerCandidates, null, 2)}\n`);
  files.set(`${prefix}-answer-complete.sdp`, r.answerComplete);
}

async function withAttempts(label, fn) {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (e) {
      log(`${label}: attempt ${i} failed: ${e.message}`);
      if (i >= ATTEMPTS) throw new Error(`${label}: failed ${ATTEMPTS} times; last: ${e.message}`);
    }
  }
}

// pc1 on browser a, pc2 on browser b (the same page when a === b).
async function scenario(files, a, b, name, url, only) {
  const opts = SCENARIOS[name];
  const prefix = a === b ? `${a.name}-${name}` : `${a.name}-offer-${b.name}-answer-${name}`;
  if (only && !only.test(prefix)) return;
  await withAttempts(prefix, async () => {
    log(`${prefix}`);
    const A = await openSide(a, url);
    let B = null;
    try {
      B = a === b ? A : await openSide(b, url);
      await call(A, 'create', 'pc1', opts);
      await call(B, 'create', 'pc2', opts);
      let r = await round(A, B);
      if (opts.restart) {
        const first = r;
        log(`  restartIce`);
        r = await round(A, B, { restart: true });
        const uf = (s) => (/^a=ice-ufrag:(\S+)/m.exec(s) || [])[1];
        if (uf(first.offer) === uf(r.offer) || uf(first.answer) === uf(r.answer)) {
          throw new Error('ICE restart kept the old ufrag');
        }
        files.set(`${prefix}-initial-offer.sdp`, first.offer);
        files.set(`${prefix}-initial-answer.sdp`, first.answer);
      }
      addRound(files, prefix, r);
    } finally {
      if (B && B !== A) await closeSide(B);
      await closeSide(A);
    }
  });
}

// `chromium --version`, `firefox-esr --version` and the drivers' versions.
function toolVersions() {
  const cli = (cmd) => execFileSync(cmd, ['--version'], { stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 })
    .toString().trim();
  const require = createRequire(import.meta.url);
  const npm = (name) => `${name} ${require(`${name}/package.json`).version}`;
  return [`\`chromium --version\`: ${cli('/usr/bin/chromium')}`,
          `\`firefox-esr --version\`: ${cli('/usr/bin/firefox-esr')}`,
          `drivers: ${npm('playwright-core')}, ${npm('puppeteer-core')}, Node ${process.version}`];
}

// README.md of the output directory, rewritten with every run.
function readme(versions, names) {
  const list = names.map((n) => `- \`${n}\``).join('\n');
  return `# Real WebRTC SDP from Chromium and Firefox ESR

Generated by \`tests/data/gen/generate.mjs\`; do not edit these files by hand.
Every \`.sdp\` file holds the exact bytes the browser returned (CRLF line
endings; \`.gitattributes\` keeps git from converting them).

## Regenerate

As root, from the repository root (needs \`npm ci\` and the Debian packages
\`chromium\` and \`firefox-esr\`):

    tests/data/gen/generate.sh

It runs in a private network namespace (veth pair, 198.51.100.1/24 on v0, default
route via v0: WebRTC ignores loopback and Firefox gathers nothing without a default
route), writes nothing unless every call succeeded, then replaces every \`*.sdp\`
and \`*.json\` here and this README. \`--out DIR\` writes elsewhere; \`--only REGEX\`
(with \`--out\`) runs the scenarios whose file prefix matches, for debugging.
Each browser step times out after ${STEP_MS / 1000} s, the whole run after ${TOTAL_MS / 60000} min.

## Browsers

${versions.map((v) => `- ${v}`).join('\n')}

Chromium through playwright-core with \`${CHROMIUM_ARGS.join(' ')}\`;
Firefox ESR through puppeteer-core (WebDriver BiDi) with the prefs
${Object.entries(FIREFOX_PREFS).map(([k, v]) => `\`${k}=${v}\``).join(', ')}.
Both use fake capture devices. The \`data-mdns\` scenario runs on a second
pair of browsers that keep their default host-address privacy: Chromium
without \`--use-fake-ui-for-media-stream\`, Firefox without the
\`obfuscate_host_addresses\` pref, so host candidates are \`<uuid>.local\`.

## What each call is

Two RTCPeerConnections with the default configuration (no STUN/TURN, bundlePolicy
\`balanced\`, rtcpMuxPolicy \`require\`) in one page: pc1 offers, pc2 answers
and sends back the same media kinds (so audio/video are \`sendrecv\`). For the
cross-browser pairs, pc1 and pc2 are in different browsers and Node carries
the SDP and candidates between them.

| scenario | pc1 sends |
|---|---|
| \`audio\` | one audio track |
| \`av\` | audio + video track |
| \`data\` | one data channel (\`epode\`), no media, no getUserMedia |
| \`avd\` | audio + video + data channel, all in one BUNDLE group |
| \`simulcast\` | audio + video through \`addTransceiver(track, {direction: 'sendrecv', sendEncodings: [{rid: 'h'}, {rid: 'm', scaleResolutionDownBy: 2}, {rid: 'l', scaleResolutionDownBy: 4}]})\` |
| \`restart\` | audio + video; after the first call connected, \`pc1.restartIce()\` and a second offer/answer |
| \`data-mdns\` | as \`data\`, with default host-address privacy (mDNS candidates) |

The order is non-trickle friendly: pc1 creates its offer and gathers to the end;
pc2 gets the bare offer, answers and gathers to the end; pc1 gets the bare
answer; then each side is given the other's candidates (\`addIceCandidate\`).
Before anything is written, each side must reach \`connectionState\`
\`connected\`, receive and send RTP of every media kind, have its data channels
open, and after an ICE restart have a succeeded candidate pair on the new ufrag
(Chromium's answering side sometimes keeps reporting the old selected pair).

## Files

For \`<browser>-<scenario>\` (browser \`chromium\` or \`firefox\`) and for the
cross-browser pairs \`chromium-offer-firefox-answer-av\` and
\`firefox-offer-chromium-answer-av\`:

| suffix | content |
|---|---|
| \`-offer.sdp\` | \`pc1.localDescription.sdp\` right after \`setLocalDescription(offer)\`: no candidates (what a trickle-ICE application sends) |
| \`-offer-candidates.json\` | every \`icecandidate\` event of pc1, in order, as \`candidate.toJSON()\`; \`null\` for the final null event; Firefox's \`""\` end-of-candidates candidates kept |
| \`-offer-complete.sdp\` | \`pc1.localDescription.sdp\` once gathering completed, before the answer was applied (what a non-trickle application sends) |
| \`-answer.sdp\`, \`-answer-candidates.json\`, \`-answer-complete.sdp\` | the same for pc2's answer |

For \`restart\`, these six files are the second offer/answer (after
\`restartIce()\`); \`-restart-initial-offer.sdp\` and \`-restart-initial-answer.sdp\`
are the first round's bare offer and answer of the same two connections.

${list}

## Observed (Chromium 156, Firefox ESR 153, when this corpus was first made)

Check these again after regenerating with other versions.

- Chromium: session-level \`a=group:BUNDLE\`, \`a=extmap-allow-mixed\`,
  \`a=msid-semantic: WMS <stream id>\` (\`a=msid-semantic: WMS\` with nothing after
  it when there is no stream); \`a=ice-ufrag\`/\`a=ice-pwd\`/\`a=ice-options:trickle\`/
  \`a=fingerprint\`/\`a=setup\` repeated in every m-line; \`o=- <id> 2 IN IP4 127.0.0.1\`.
  The offerer's audio/video \`a=ssrc\` lines carry both \`cname\` and \`msid\`, the
  answerer's only \`cname\` (its msid is in the media-level \`a=msid\`).
- Firefox: session-level \`a=fingerprint\`, \`a=ice-options:trickle\`, \`a=sendrecv\`,
  \`a=msid-semantic:WMS *\`; media-level \`a=extmap-allow-mixed\`; \`a=ice-ufrag\`/
  \`a=ice-pwd\`/\`a=setup\` per m-line; \`o=mozilla...THIS_IS_SDPARTA-99.0 ...\`;
  msid and cname values in braces; extmap directions (\`a=extmap:2/recvonly\`);
  \`a=fmtp:101 0-15\`; \`a=max-message-size:1073741823\` (Chromium 262144). No H264
  (Debian's Firefox has no OpenH264 plugin); AV1, VP8, VP9.
- Offers gather per m-line (bundlePolicy \`balanced\`): every m-line of a complete
  offer has its own candidates and port. Answers gather only for the first m-line
  of the BUNDLE group; in a complete answer Chromium leaves the other m-lines at
  port 9 and \`c=IN IP4 0.0.0.0\`, Firefox gives them the bundle's port and address
  (without candidates).
- \`a=extmap-allow-mixed\`: Chromium offers it at session level, Firefox in every
  m-line; each answerer mirrors the offer (Firefox answering Chromium writes it at
  session level and in every m-line).
- Firefox offers also gather RTCP component 2 candidates (and \`a=rtcp:<port>\`)
  despite rtcp-mux; its answers do not. After an ICE restart, Firefox's re-offer
  gathers per m-line again, component 2 included; Chromium's re-offer only on the
  BUNDLE transport, and without a TCP candidate (in every run so far; its restart
  answer sometimes has one).
- \`a=end-of-candidates\`: Firefox writes it in every m-line that carries candidates
  in a complete description (so only the first m-line of a BUNDLE answer); Chromium
  never writes it.
- Candidates: both gather a UDP host candidate and a TCP \`tcptype active\` candidate
  on port 9. Chromium: \`generation N network-id 1\` (and \`network-cost 999\` on mDNS
  candidates); the candidate string in the JSON also carries \`ufrag X\`, which the
  SDP's \`a=candidate\` lines leave out. Firefox: \`UDP\`/\`TCP\` in upper case,
  foundations \`0\`/\`1\`, no generation, a \`""\` end-of-candidates candidate per
  gathered m-line before the final null. No IPv6 (only link-local on the veth).
- Host candidates are raw IPs in Chromium with \`--use-fake-ui-for-media-stream\`
  even in a data-only page that never called getUserMedia. Without that flag
  (\`data-mdns\`) Chromium gathers one \`<uuid>.local\` UDP candidate with priority
  2113937151 and no TCP candidate; Firefox with its default pref gathers
  \`<uuid>.local\` UDP and TCP candidates. The complete descriptions then keep
  \`m=... 9\` and \`c=IN IP4 0.0.0.0\`. Both calls connect (mDNS resolves inside the
  namespace).
- Simulcast: both offers carry \`a=rid:h send\`, \`a=rid:m send\`, \`a=rid:l send\`,
  \`a=simulcast:send h;m;l\`; Chromium's offer has no video \`a=ssrc\`, Firefox's has
  three FID pairs. Neither browser accepts simulcast as answerer: the answers have no
  \`a=rid\`/\`a=simulcast\` (an SFU's answer would carry \`recv\`), so Chromium then
  sends only rid \`h\` (its stats keep three outbound streams) and Firefox one stream.
- ICE restart: new \`a=ice-ufrag\`/\`a=ice-pwd\` in every m-line, the same fingerprint,
  the \`o=\` version incremented; Chromium's candidates say \`generation 1\`.
`;
}

function parseArgs(argv) {
  const o = { out: path.resolve(HERE, '../sdp'), only: null };
  let outGiven = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out' && i + 1 < argv.length) { o.out = path.resolve(argv[++i]); outGiven = true; }
    else if (argv[i] === '--only' && i + 1 < argv.length) o.only = new RegExp(argv[++i]);
    else throw new Error('usage: generate.mjs [--out DIR] [--only REGEX (with --out; for debugging)]');
  }
  // A partial run must not replace the corpus.
  if (o.only && !outGiven) throw new Error('--only needs --out DIR');
  return o;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const srv = await startServer();
  const url = `http://localhost:${srv.address().port}/`;
  let browsers = [];
  const files = new Map();
  const closeAll = async () => {
    for (const b of browsers.reverse()) {
      try { await b.close(); } catch (e) { log(`warning: closing ${b.name}: ${e.message}`); }
    }
    browsers = [];
  };
  const launch = async (fn, opts) => {
    const b = await fn(opts);
    browsers.push(b);
    log(`  ${b.name} ${b.version}${opts.privacy ? ' (default host-address privacy)' : ''}`);
    return b;
  };
  try {
    for (const privacy of [false, true]) {
      const names = Object.keys(SCENARIOS).filter((n) => !!SCENARIOS[n].privacy === privacy);
      log(`launching chromium and firefox${privacy ? ' with default privacy settings' : ''}`);
      const cr = await launch(launchChromium, { privacy });
      const ff = await launch(launchFirefox, { privacy });
      for (const b of [cr, ff]) {
        for (const name of names) await scenario(files, b, b, name, url, args.only);
      }
      if (!privacy) {
        await scenario(files, cr, ff, 'av', url, args.only);
        await scenario(files, ff, cr, 'av', url, args.only);
      }
      await closeAll();
    }

    fs.mkdirSync(args.out, { recursive: true });
    for (const f of fs.readdirSync(args.out)) {
      if (/\.(sdp|json)$/.test(f)) fs.rmSync(path.join(args.out, f));
    }
    for (const [f, data] of [...files].sort()) fs.writeFileSync(path.join(args.out, f), data);
    fs.writeFileSync(path.join(args.out, 'README.md'), readme(toolVersions(), [...files.keys()].sort()));
    log(`wrote ${files.size} files and README.md to ${args.out}`);
  } finally {
    await closeAll();
    srv.close();
  }
}

const watchdog = setTimeout(() => {
  log(`FAILED: whole run exceeded ${TOTAL_MS} ms`);
  process.exit(2);
}, TOTAL_MS);
watchdog.unref();

main().then(() => process.exit(0), (e) => {
  log(`FAILED: ${e.stack || e}`);
  process.exit(1);
});
