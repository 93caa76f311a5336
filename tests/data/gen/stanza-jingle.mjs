#!/usr/bin/env node
// Regenerates tests/data/jingle/stanzajs-*.xml: the Jingle iqs StanzaJS 12 sends
// for the real browser SDPs in tests/data/sdp/.
//
//   node tests/data/gen/stanza-jingle.mjs                 # sdp/ -> jingle/
//   node tests/data/gen/stanza-jingle.mjs --sdp DIR --out DIR
//
// For every <name>-offer.sdp and <name>-answer.sdp (never *-complete.sdp) it writes
//   stanzajs-<name>-offer.xml            session-initiate (StanzaJS as initiator)
//   stanzajs-<name>-answer.xml           session-accept   (StanzaJS as responder)
//   stanzajs-<name>-offer-transport-info.xml / -answer-transport-info.xml
//                                        transport-info for the first non-empty
//                                        candidate of <name>-offer-candidates.json
//                                        (or -answer-), when that file exists.
//   stanzajs-session-terminate.xml       the session-terminate (reason success) that
//                                        MediaSession.end() sends, taken from the
//                                        chromium-av offer session (else the first offer).
//
// The conversion is StanzaJS's own code, not a copy of it: a MediaSession from
// stanza/jingle is driven with a stub RTCPeerConnection that returns the stored SDP,
// so start()/accept() run importFromSDP (stanza/jingle/sdp/Intermediate) and
// convertIntermediateToRequest(json, role, 'urn:xmpp:jingle:transports:ice-udp:1')
// (stanza/jingle/sdp/Protocol) plus what MediaSession adds around them (sid, action,
// creator, the a=ssrc msid compatibility on session-initiate); onIceCandidate()
// builds the transport-info. The iq the session hands to its parent's signal() is
// serialised with a JXT Registry holding stanza/protocol's definitions, as a
// StanzaJS client does. Only the iq id (a random uuid in StanzaJS) is made
// deterministic here, so reruns on the same SDPs give the same files. Old
// stanzajs-*.xml files in the output directory are removed first.
//
// StanzaJS is a cross-check, not a specification: its candidates carry no id,
// network or generation, its transport-info carries the ufrag but no pwd, it drops
// a=rid/a=simulcast, a=extmap-allow-mixed and a=rtcp-xr, and it writes RED's
// "a=fmtp:63 111/111" as <parameter name='111/111'/> with no value.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as JXT from 'stanza/jxt/index.js';
import ProtocolModule from 'stanza/protocol/index.js';
import MediaSessionModule from 'stanza/jingle/MediaSession.js';
import { NS_JINGLE_ICE_UDP_1 } from 'stanza/Namespaces.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const Protocol = ProtocolModule.default ?? ProtocolModule;
const MediaSession = MediaSessionModule.default ?? MediaSessionModule;

// The two parties. StanzaJS puts no from on the iq (the server stamps it) and no
// initiator/responder attribute on <jingle>.
const INITIATOR = 'romeo@montague.example/stanzajs';
const RESPONDER = 'juliet@capulet.example/stanzajs';

if (NS_JINGLE_ICE_UDP_1 !== 'urn:xmpp:jingle:transports:ice-udp:1') {
  throw new Error(`unexpected StanzaJS ICE-UDP namespace ${NS_JINGLE_ICE_UDP_1}`);
}

function parseArgs(argv) {
  const o = { sdp: path.resolve(HERE, '../sdp'), out: path.resolve(HERE, '../jingle') };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--sdp') o.sdp = path.resolve(argv[++i]);
    else if (argv[i] === '--out') o.out = path.resolve(argv[++i]);
    else throw new Error('usage: stanza-jingle.mjs [--sdp DIR] [--out DIR]');
  }
  return o;
}

// A stand-in for RTCPeerConnection: just enough for MediaSession.start()/accept().
function stubPeerConnection(sdp, type) {
  return {
    localDescription: null,
    iceConnectionState: 'new',
    async createOffer() { return { type, sdp }; },
    async createAnswer() { return { type, sdp }; },
    async setLocalDescription(d) { this.localDescription = d; },
    addEventListener() {},
    getReceivers() { return []; },
    getSenders() { return []; },
    close() {},
  };
}

// sid: a uuid-shaped value derived from the pair name, shared by <name>-offer and
// <name>-answer so the two files read as one session.
function sessionId(pair) {
  const h = crypto.createHash('sha256').update(pair).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

// Runs one StanzaJS media session over `sdp` (as initiator for an offer, as
// responder for an answer) and returns the iqs it signalled: the session-initiate or
// session-accept, the transport-info for `candidate` if given, and the
// session-terminate if `terminate`.
async function runSession(sdp, kind, sid, candidate, terminate) {
  const sent = [];
  const offer = kind === 'offer';
  const parent = {
    emit() {},
    createPeerConnection: () => stubPeerConnection(sdp, kind),
    signal: (_session, data) => sent.push(data),
    forgetSession() {},
  };
  const session = new MediaSession({
    parent,
    sid,
    peerID: offer ? RESPONDER : INITIATOR,
    initiator: offer,
  });
  if (offer) await session.start({});
  else await session.accept({});
  if (sent.length !== 1) throw new Error(`expected one ${offer ? 'session-initiate' : 'session-accept'}, got ${sent.length}`);
  if (candidate) {
    session.onIceCandidate({ candidate });
    if (sent.length !== 2) throw new Error('onIceCandidate sent no transport-info');
  }
  let ended = null;
  if (terminate) {
    const before = sent.length;
    session.end('success');
    if (sent.length !== before + 1) throw new Error('end() sent no session-terminate');
    ended = sent.pop();
  }
  return { main: sent[0], info: sent[1] || null, ended };
}

function firstCandidate(file) {
  if (!fs.existsSync(file)) return null;
  const list = JSON.parse(fs.readFileSync(file, 'utf8'));
  return list.find((c) => c && typeof c.candidate === 'string' && c.candidate.length > 0) || null;
}

function serialise(registry, iq, id) {
  const xml = registry.export('iq', { ...iq, id }).toString();
  return `${xml}\n`;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (!fs.existsSync(args.sdp)) throw new Error(`no SDP directory ${args.sdp}`);
  const registry = new JXT.Registry();
  registry.define(Protocol);

  const inputs = fs.readdirSync(args.sdp)
    .filter((f) => /-(offer|answer)\.sdp$/.test(f))
    .sort();
  if (inputs.length === 0) throw new Error(`no *-offer.sdp / *-answer.sdp in ${args.sdp}`);

  const offers = inputs.filter((f) => f.endsWith('-offer.sdp'));
  const terminateFrom = offers.includes('chromium-av-offer.sdp') ? 'chromium-av-offer.sdp' : offers[0];

  fs.mkdirSync(args.out, { recursive: true });
  // Only this script's own outputs are replaced; the hand-derived client files stay.
  for (const f of fs.readdirSync(args.out)) {
    if (/^stanzajs-.*\.xml$/.test(f)) fs.rmSync(path.join(args.out, f));
  }
  const written = [];
  for (const f of inputs) {
    const base = f.replace(/\.sdp$/, '');
    const kind = base.endsWith('-offer') ? 'offer' : 'answer';
    const sdp = fs.readFileSync(path.join(args.sdp, f), 'utf8');
    const cand = firstCandidate(path.join(args.sdp, `${base}-candidates.json`));
    const sid = sessionId(base.replace(/-(offer|answer)$/, ''));
    const { main, info, ended } = await runSession(sdp, kind, sid, cand, f === terminateFrom);
    const out = [[`stanzajs-${base}.xml`, main, `${base}-1`]];
    if (info) out.push([`stanzajs-${base}-transport-info.xml`, info, `${base}-2`]);
    if (ended) out.push(['stanzajs-session-terminate.xml', ended, `${base}-3`]);
    for (const [name, iq, id] of out) {
      fs.writeFileSync(path.join(args.out, name), serialise(registry, iq, id));
      written.push(name);
    }
  }
  for (const n of written) console.log(n);
}

main().catch((e) => {
  console.error(`stanza-jingle.mjs: ${e.stack || e.message}`);
  process.exit(1);
});
