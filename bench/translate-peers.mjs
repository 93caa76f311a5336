#!/usr/bin/env node
// The Node half of the side-by-side translation benchmark: how fast the peers'
// own SDP <-> Jingle converters run on the same browser SDPs as Epode.
//
//   node bench/translate-peers.mjs tests/data/sdp/chromium-avd-offer.sdp ...
//   BENCH_SECONDS=0.5 node bench/translate-peers.mjs tests/data/sdp/*.sdp
//
// For each SDP file, in this one process, after a warm-up (a third of
// BENCH_SECONDS, at most 0.1 s), it measures the mean time per operation:
// process.hrtime.bigint around N iterations, run in batches of about a tenth of
// BENCH_SECONDS (default 0.3 s) until that much time has passed:
//
//   stanzajs_sdp2jingle    SDP text -> Jingle iq as XML text, the path a StanzaJS 12
//                          MediaSession runs in start()/accept(): importFromSDP,
//                          convertIntermediateToRequest(json, role,
//                          'urn:xmpp:jingle:transports:ice-udp:1'), sid/action/creator
//                          (plus the a=ssrc msid compatibility on session-initiate),
//                          the iq with a fresh uuid id (Session.send), then the JXT
//                          registry's export('iq', ...).toString().
//   stanzajs_jingle2sdp    that XML text -> SDP text, the path of the receiving
//                          StanzaJS client: jxt parse(), registry import(),
//                          convertRequestToIntermediate(jingle, sender's role)
//                          (plus the legacy-streams default onSessionInitiate adds),
//                          exportToSDP. The input is StanzaJS's own output above.
//   sdpjinglejson_sdp2json sdp-jingle-json toSessionJSON(sdp, {role,
//                          direction: 'outgoing', creators: ['initiator', ...]}):
//                          SDP -> its Jingle-shaped JSON, no XML.
//   sdpjinglejson_json2sdp toSessionSDP(json, ...) back to SDP, as the receiving peer
//                          does it (toIncomingSDPOffer/-Answer: the receiver's role,
//                          direction 'incoming'; same senders mapping as the sender's).
//
// An offer is converted as initiator (session-initiate), an answer as responder
// (session-accept). Which one a file is comes from the last "offer" or "answer" in
// its name, so chromium-offer-firefox-answer-av-offer.sdp is an offer.
//
// Output: one JSON object per line on stdout,
//   {"file": "<basename>", "op": "<name>", "us": <mean µs, 2 decimals>, "iters": N}
// or {"file": ..., "op": ..., "error": "..."} when one file/op fails (the run goes
// on). Exit status 0 if at least one measurement succeeded, else 1.

import fs from 'node:fs';
import path from 'node:path';
import * as JXT from 'stanza/jxt/index.js';
import ProtocolModule from 'stanza/protocol/index.js';
import * as Intermediate from 'stanza/jingle/sdp/Intermediate.js';
import * as SDPProtocol from 'stanza/jingle/sdp/Protocol.js';
import { NS_JINGLE_ICE_UDP_1 } from 'stanza/Namespaces.js';
import { uuid } from 'stanza/Utils.js';
import SJJ from 'sdp-jingle-json';

const Protocol = ProtocolModule.default ?? ProtocolModule;
const { importFromSDP, exportToSDP } = Intermediate;
const { convertIntermediateToRequest, convertRequestToIntermediate } = SDPProtocol;

const ICE_UDP = 'urn:xmpp:jingle:transports:ice-udp:1';
if (NS_JINGLE_ICE_UDP_1 !== ICE_UDP) {
  throw new Error(`unexpected StanzaJS ICE-UDP namespace ${NS_JINGLE_ICE_UDP_1}`);
}

const TARGET_S = (() => {
  const v = process.env.BENCH_SECONDS;
  if (v === undefined || v === '') return 0.3;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) {
    console.error(`translate-peers.mjs: bad BENCH_SECONDS=${v}`);
    process.exit(2);
  }
  return n;
})();
// Warm-up per measurement: a third of the measurement, at most 0.1 s.
const WARMUP_S = Math.min(0.1, TARGET_S / 3);
const MIN_WARMUP_ITERS = 20;
const MIN_ITERS = 10;

// Fixed parties and sid; the iq id is a fresh uuid per operation as in StanzaJS.
const INITIATOR = 'romeo@montague.example/stanzajs';
const RESPONDER = 'juliet@capulet.example/stanzajs';
const SID = '4fa4391a-8329-45b2-a5e0-4de1c01cada6';

const registry = new JXT.Registry();
registry.define(Protocol);

// Results are folded into this so no work can be optimised away.
let sink = 0;

// MediaSession.js's applyStreamsCompatibility (module-private there): on
// session-initiate StanzaJS signals the first stream as a=ssrc:... msid.
function applyStreamsCompatibility(content) {
  const application = content.application;
  if (application && application.streams && application.streams.length &&
      application.sources && application.sources.length) {
    const msid = application.streams[0];
    application.sources[0].parameters.msid = `${msid.id} ${msid.track}`;
    if (application.sourceGroups && application.sourceGroups.length > 0) {
      application.sources.push({
        parameters: {
          cname: application.sources[0].parameters.cname,
          msid: `${msid.id} ${msid.track}`,
        },
        ssrc: application.sourceGroups[0].sources[1],
      });
    }
  }
}

// --- StanzaJS ------------------------------------------------------------------

function stanzaSdpToJingleXml(sdp, offer) {
  const role = offer ? 'initiator' : 'responder';
  const json = importFromSDP(sdp);
  const jingle = convertIntermediateToRequest(json, role, ICE_UDP);
  jingle.sid = SID;
  jingle.action = offer ? 'session-initiate' : 'session-accept';
  for (const content of jingle.contents || []) {
    content.creator = 'initiator';
    if (offer) applyStreamsCompatibility(content);
  }
  const iq = { id: uuid(), jingle, to: offer ? RESPONDER : INITIATOR, type: 'set' };
  return registry.export('iq', iq).toString();
}

function stanzaJingleXmlToSdp(xml, offer) {
  const iq = registry.import(JXT.parse(xml));
  if (!iq || !iq.jingle) throw new Error('registry import gave no jingle');
  // The receiver converts with its peerRole, i.e. the sender's role.
  const json = convertRequestToIntermediate(iq.jingle, offer ? 'initiator' : 'responder');
  if (offer) {
    // MediaSession.onSessionInitiate
    for (const media of json.media) {
      if (!media.streams) media.streams = [{ stream: 'legacy', track: media.kind }];
    }
  }
  return exportToSDP(json);
}

// --- sdp-jingle-json -----------------------------------------------------------

function mediaCount(sdp) {
  return (sdp.match(/(^|\r?\n)m=/g) || []).length;
}

function sjjSdpToJson(sdp, offer, creators) {
  return SJJ.toSessionJSON(sdp, {
    role: offer ? 'initiator' : 'responder',
    direction: 'outgoing',
    creators,
  });
}

function sjjJsonToSdp(json, offer) {
  // The receiving peer: toIncomingSDPOffer / toIncomingSDPAnswer.
  return SJJ.toSessionSDP(json, {
    role: offer ? 'responder' : 'initiator',
    direction: 'incoming',
  });
}

// --- timing --------------------------------------------------------------------

function nowNs() {
  return process.hrtime.bigint();
}

// Runs fn in a warm-up, then in timed batches for TARGET_S; returns {us, iters}.
function measure(fn) {
  const warmNs = BigInt(Math.round(WARMUP_S * 1e9));
  let t0 = nowNs();
  let n = 0;
  let elapsed = 0n;
  // Per-op estimate from the second half of the warm-up (post-JIT).
  let halfAt = -1;
  let halfNs = 0n;
  do {
    const r = fn();
    sink += r.length;
    n++;
    elapsed = nowNs() - t0;
    if (halfAt < 0 && elapsed * 2n >= warmNs && n >= MIN_WARMUP_ITERS / 2) {
      halfAt = n;
      halfNs = elapsed;
    }
  } while (elapsed < warmNs || n < MIN_WARMUP_ITERS);
  let perOpNs;
  if (halfAt > 0 && n > halfAt) perOpNs = Number(elapsed - halfNs) / (n - halfAt);
  else perOpNs = Number(elapsed) / n;
  if (!(perOpNs > 0)) perOpNs = 1;

  // Timed run: batches of about a tenth of the target, until the target is reached
  // (so a warm-up estimate that is off only changes the number of batches).
  const targetNs = BigInt(Math.round(TARGET_S * 1e9));
  const batch = Math.max(1, Math.ceil((TARGET_S * 1e9) / 10 / perOpNs));
  let iters = 0;
  let acc = 0;
  let total;
  t0 = nowNs();
  do {
    for (let i = 0; i < batch; i++) acc += fn().length;
    iters += batch;
    total = nowNs() - t0;
  } while (total < targetNs || iters < MIN_ITERS);
  sink += acc;
  return { us: Math.round(Number(total) / iters / 10) / 100, iters };
}

function emit(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

// --- main ----------------------------------------------------------------------

function kindOf(base) {
  const m = base.match(/(offer|answer)(?!.*(offer|answer))/);
  if (!m) throw new Error('name has neither "offer" nor "answer"');
  return m[1];
}

function main() {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error('usage: translate-peers.mjs FILE.sdp...  (BENCH_SECONDS=0.3 per measurement)');
    process.exit(2);
  }
  let ok = 0;
  const OPS = ['stanzajs_sdp2jingle', 'stanzajs_jingle2sdp',
    'sdpjinglejson_sdp2json', 'sdpjinglejson_json2sdp'];

  for (const file of files) {
    const base = path.basename(file);
    let sdp;
    let offer;
    try {
      sdp = fs.readFileSync(file, 'utf8');
      offer = kindOf(base.replace(/\.sdp$/, '')) === 'offer';
      if (mediaCount(sdp) === 0) throw new Error('no m= line');
    } catch (e) {
      for (const op of OPS) emit({ file: base, op, error: String(e.message || e) });
      continue;
    }

    const run = (op, prepare) => {
      try {
        const fn = prepare();
        const r = measure(fn);
        emit({ file: base, op, us: r.us, iters: r.iters });
        ok++;
      } catch (e) {
        emit({ file: base, op, error: String(e.message || e) });
      }
    };

    // StanzaJS: the XML for the reverse direction is StanzaJS's own output.
    let xml = null;
    run('stanzajs_sdp2jingle', () => {
      xml = stanzaSdpToJingleXml(sdp, offer);
      if (!xml.includes(ICE_UDP)) throw new Error('StanzaJS output carries no ICE-UDP transport');
      return () => stanzaSdpToJingleXml(sdp, offer);
    });
    run('stanzajs_jingle2sdp', () => {
      if (xml === null) {
        xml = stanzaSdpToJingleXml(sdp, offer);
      }
      const back = stanzaJingleXmlToSdp(xml, offer);
      if (!/\r?\nm=/.test(back)) throw new Error('StanzaJS produced an SDP with no m= line');
      return () => stanzaJingleXmlToSdp(xml, offer);
    });

    // sdp-jingle-json: SDP -> JSON, JSON -> SDP.
    const creators = new Array(mediaCount(sdp)).fill('initiator');
    let json = null;
    run('sdpjinglejson_sdp2json', () => {
      json = sjjSdpToJson(sdp, offer, creators);
      if (!json.contents || json.contents.length === 0) throw new Error('no contents');
      // toSessionJSON returns an object: measure a cheap "length" of it.
      return () => sjjSdpToJson(sdp, offer, creators).contents;
    });
    run('sdpjinglejson_json2sdp', () => {
      if (json === null) json = sjjSdpToJson(sdp, offer, creators);
      const back = sjjJsonToSdp(json, offer);
      if (!/\r?\nm=/.test(back)) throw new Error('sdp-jingle-json produced an SDP with no m= line');
      return () => sjjJsonToSdp(json, offer);
    });
  }
  if (sink === -1) console.error('unreachable');
  process.exit(ok > 0 ? 0 : 1);
}

main();
