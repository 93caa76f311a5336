#!/usr/bin/env node
// Cross-checks Epode's SDP <-> Jingle translator (the epode-translate CLI) against
// StanzaJS 12's own conversion, on every real browser SDP in tests/data/sdp/.
//
//   node tests/crosscheck/stanza-crosscheck.mjs [EPODE_TRANSLATE] [--verbose] [--only REGEX]
//
// The CLI is taken from the first argument, else $EPODE_TRANSLATE, else
// build/tools/epode-translate. --verbose also prints every difference the
// allow-list accepted; --only runs the checks whose name matches REGEX. The last
// line is "N passed, M failed"; the exit status is 1 if anything failed.
//
// For every *.sdp (offers as initiator/session-initiate, answers as
// responder/session-accept, bare and -complete, so candidates are compared too):
//
//   jingle       Ours (CLI sdp2jingle) and StanzaJS's (importFromSDP +
//                convertIntermediateToRequest with the ICE-UDP namespace, then its
//                JXT registry to XML) are both parsed back with StanzaJS's registry
//                and compared field by field, per content.
//   facts        Each Jingle is turned back into SDP by its own translator (ours:
//                CLI jingle2sdp; StanzaJS: convertRequestToIntermediate +
//                exportToSDP) and both are compared with the original, fact by fact
//                (sdp-transform): a fact StanzaJS keeps and we lose fails; a fact
//                StanzaJS loses and we keep must be in the allow-list (so every
//                difference is documented); a fact we lose or invent fails.
//   to-stanza    Our Jingle through StanzaJS's Jingle -> SDP must keep every fact of
//                the original that StanzaJS keeps from its own Jingle.
//   from-stanza  StanzaJS's Jingle through our jingle2sdp must keep every fact of the
//                original that StanzaJS's Jingle carries (= what StanzaJS's own round
//                trip keeps), and invent nothing.
//
// For every bare offer/answer, StanzaJS's MediaSession is also driven as
// tests/data/gen/stanza-jingle.mjs does (it adds msid to the first <source> on
// session-initiate): `session` checks that Jingle through our jingle2sdp.
// For every *-candidates.json, `trickle` compares each candidate's transport-info
// (ours: CLI `candidate`; StanzaJS: MediaSession.onIceCandidate /
// onIceEndOfCandidates) in all three ways. `fixtures` checks that
// tests/data/jingle/stanzajs-*.xml are what the generator makes from today's SDPs.
//
// Every accepted difference is matched by a rule of ALLOW below (field + reason +
// a precise predicate); anything else fails.
//
// Normalisations (not differences): payload-type channels absent = 1 (XEP-0167
// default; sdp's rtpmap "/1" likewise); <content senders> absent = both;
// rtp-hdrext senders absent = both; candidate protocol compared in lower case;
// ICE credentials, fingerprint, setup and ice-options are compared per m-line after
// session-level inheritance; order is ignored for rtcp-fb, header extensions,
// sources, ssrc-groups, streams, fingerprints and candidates, and kept for
// payload types and group mids. m-line port, c= and a=rtcp are not compared: they
// are transport addresses that Jingle carries in candidates (StanzaJS writes
// 9 / 0.0.0.0 constants). sdp-transform 3.0 stops parsing a candidate at "ufrag",
// so candidate lines are split here with the grammar of RFC 8839 instead.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import sdpTransform from 'sdp-transform';
import * as JXT from 'stanza/jxt/index.js';
import ProtocolModule from 'stanza/protocol/index.js';
import MediaSessionModule from 'stanza/jingle/MediaSession.js';
import * as Intermediate from 'stanza/jingle/sdp/Intermediate.js';
import * as SdpProtocol from 'stanza/jingle/sdp/Protocol.js';
import SDPUtilsModule from 'sdp';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const SDP_DIR = path.join(ROOT, 'tests/data/sdp');
const JINGLE_DIR = path.join(ROOT, 'tests/data/jingle');
const GENERATOR = path.join(ROOT, 'tests/data/gen/stanza-jingle.mjs');
const NS_ICE_UDP = 'urn:xmpp:jingle:transports:ice-udp:1';
const NS_RTP = 'urn:xmpp:jingle:apps:rtp:1';
const EPODE_EXT_EOC = /<line>a=end-of-candidates<\/line>/;

const Protocol = ProtocolModule.default ?? ProtocolModule;
const MediaSession = MediaSessionModule.default ?? MediaSessionModule;
const SDPUtils = SDPUtilsModule.default ?? SDPUtilsModule;

const registry = new JXT.Registry();
registry.define(Protocol);

// ---------------------------------------------------------------- arguments

const opts = { cli: null, verbose: false, only: null };
{
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--verbose' || argv[i] === '-v') opts.verbose = true;
    else if (argv[i] === '--only') opts.only = new RegExp(argv[++i]);
    else if (!argv[i].startsWith('-') && !opts.cli) opts.cli = argv[i];
    else {
      console.error('usage: stanza-crosscheck.mjs [EPODE_TRANSLATE] [--verbose] [--only REGEX]');
      process.exit(2);
    }
  }
  opts.cli = path.resolve(opts.cli || process.env.EPODE_TRANSLATE ||
    path.join(ROOT, 'build/tools/epode-translate'));
  if (!fs.existsSync(opts.cli)) {
    console.error(`stanza-crosscheck: no epode-translate at ${opts.cli} (build it, or pass its path / set EPODE_TRANSLATE)`);
    process.exit(2);
  }
}

function cli(args, input) {
  const r = spawnSync(opts.cli, args, { input, encoding: 'utf8' });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    throw new Error(`epode-translate ${args.join(' ')} exited ${r.status}: ${r.stderr.trim()}`);
  }
  return r.stdout;
}

// ---------------------------------------------------------------- the allow-list
//
// Each rule: id, stages it applies to, the field, why we differ, and a predicate
// over one difference `d` and its context `ctx`. Stages and difference shapes:
//   jingle:      {path: [...], ours, stanza}     (parsed Jingle, normalised)
//   facts:       {kind: 'stanza-lost'|'ours-lost'|'ours-extra', fact}
//   to-stanza:   {kind: 'missing'|'extra', fact}
//   from-stanza: {kind: 'missing'|'extra', fact}   (also `session`, `trickle`)
// A fact is {scope, cat, text, key}; scope is 'session' or 'm=<mid>'.

const last = (p, n = 1) => p[p.length - n];
const isCandPath = (p, field) => p[0] === 'contents' && p[2] === 'transport' &&
  p[3] === 'candidates' && p.length === 6 && p[5] === field;

// StanzaJS (sdp's parseFmtp) turns a bare fmtp value into {value: undefined};
// ours arrives from the registry as {undefined: value} (a nameless <parameter>).
function stanzaParamsAsNameless(params) {
  const out = {};
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined) out.undefined = k; else out[k] = v;
  }
  return out;
}

const ALLOW = [
  // ---- candidate attributes StanzaJS does not write
  {
    id: 'candidate-id', stages: ['jingle'], field: '<candidate id>',
    reason: 'XEP-0176 makes id REQUIRED; StanzaJS sets it undefined (Protocol.js ' +
      'convertIntermediateToCandidate). We write one, as Conversations, Dino and Gajim do.',
    match: (d) => isCandPath(d.path, 'id') && d.stanza === undefined &&
      typeof d.ours === 'string' && d.ours.length > 0,
  },
  {
    id: 'candidate-generation', stages: ['jingle'], field: '<candidate generation>',
    reason: 'XEP-0176 makes generation REQUIRED and it tells ICE generations apart ' +
      '(Chromium says generation 1 after a restart); StanzaJS drops it. We copy the ' +
      'SDP line\'s value.',
    match: (d, ctx) => isCandPath(d.path, 'generation') && d.stanza === undefined &&
      ctx.candidate(d.path)?.generation === String(d.ours),
  },
  {
    id: 'candidate-network', stages: ['jingle'], field: '<candidate network>',
    reason: 'XEP-0176 network = the SDP line\'s network-id; StanzaJS drops it.',
    match: (d, ctx) => isCandPath(d.path, 'network') && d.stanza === undefined &&
      ctx.candidate(d.path)?.['network-id'] === String(d.ours),
  },
  {
    id: 'candidate-attrs-stanza-lost', stages: ['facts'],
    field: 'a=candidate generation / network-id / network-cost',
    reason: 'StanzaJS\'s Jingle has no generation/network and no network-cost at all; ' +
      'we carry generation and network-id as XEP-0176 attributes and network-cost in ' +
      'urn:epode:sdp:0.',
    match: (d) => d.kind === 'stanza-lost' &&
      ['candidate-generation', 'candidate-network-id', 'candidate-network-cost'].includes(d.fact.cat),
  },
  // ---- fmtp without key=value
  {
    id: 'bare-fmtp-jingle', stages: ['jingle'], field: '<payload-type><parameter> for a bare fmtp value',
    reason: 'RED "111/111" and telephone-event "0-15" are not key=value. StanzaJS writes ' +
      '<parameter name="0-15"/> with no value, which Conversations\' parser throws on; we ' +
      'write the nameless <parameter value="0-15"/> that Conversations maps back to ' +
      '"a=fmtp:<pt> 0-15" (SHAPES.md, LAB.md).',
    match: (d, ctx) => d.path[3] === 'codecs' && d.path.length === 6 && last(d.path) === 'parameters' &&
      JSON.stringify(sortObj(stanzaParamsAsNameless(d.stanza))) === JSON.stringify(sortObj(d.ours)) &&
      ctx.bareFmtp(d.path[1], d.path[4], d.ours.undefined),
  },
  {
    id: 'bare-fmtp-stanza-reads-undefined', stages: ['to-stanza'],
    field: 'a=fmtp:<pt> <bare value> as StanzaJS reads our nameless <parameter>',
    reason: 'StanzaJS\'s parameterMap keys a nameless <parameter value="V"/> as "undefined", ' +
      'so its SDP says "a=fmtp:<pt> undefined=V" instead of "a=fmtp:<pt> V". A StanzaJS ' +
      'limitation we accept for Conversations\' sake (see bare-fmtp-jingle).',
    match: (d, ctx) => d.fact.cat === 'fmtp' && (
      (d.kind === 'missing' && !d.fact.text.includes('=') &&
        ctx.actual.has(d.fact.key.replace(/ (\S+) (\S+)$/, ' $1 undefined=$2'))) ||
      (d.kind === 'extra' && /^\S+ undefined=/.test(d.fact.text) &&
        ctx.expected.has(d.fact.key.replace(/ undefined=/, ' ')))),
  },
  // ---- sources
  {
    id: 'all-ssrcs', stages: ['jingle'], field: '<source> (XEP-0339)',
    reason: 'StanzaJS keeps only the first a=ssrc that has a cname, with its cname ' +
      '(sdp parseRtcpParameters); XEP-0339 maps every a=ssrc line, so we carry every ' +
      'source (the rtx ssrc too) with all its attributes (cname, msid).',
    match: (d, ctx) => {
      const p = d.path;
      if (p[2] !== 'application' || p[3] !== 'sources' || d.stanza !== undefined) return false;
      const want = ctx.ssrcAttrs(p[1], p[4]);
      if (!want) return false;
      if (p.length === 5) return JSON.stringify(sortObj(d.ours)) === JSON.stringify(sortObj(want));
      return p.length === 6 && want[p[5]] === d.ours;
    },
  },
  {
    id: 'all-ssrcs-facts', stages: ['facts'], field: 'a=ssrc lines beyond the first cname',
    reason: 'StanzaJS keeps only the first cname ssrc (and, through its description ssrc ' +
      'attribute, the FID rtx ssrc\'s cname); its Jingle has no a=ssrc msid. We carry every ' +
      'a=ssrc line as <source><parameter>.',
    match: (d) => d.kind === 'stanza-lost' && d.fact.cat === 'ssrc',
  },
  {
    id: 'all-ssrc-groups', stages: ['jingle', 'facts'], field: '<ssrc-group> beyond the first FID',
    reason: 'StanzaJS keeps one FID group, and only when its first ssrc is the first cname ' +
      'ssrc (sdp parseRtpEncodingParameters); Firefox\'s simulcast offer has three. We map ' +
      'every a=ssrc-group (XEP-0339).',
    match: (d, ctx) => (d.path && d.path[2] === 'application' && d.path[3] === 'sourceGroups' &&
      d.path.length === 5 && d.ours === true && d.stanza === undefined &&
      ctx.hasSsrcGroup(d.path[1], d.path[4])) ||
      (d.kind === 'stanza-lost' && d.fact.cat === 'ssrc-group'),
  },
  {
    id: 'session-msid-compat', stages: ['session'], field: 'a=ssrc:<ssrc> msid:<stream> <track>',
    reason: 'StanzaJS\'s MediaSession copies media-level a=msid into the first <source> as ' +
      'an msid parameter on session-initiate (applyStreamsCompatibility), and adds the rtx ' +
      'source; we write <source> parameters back as a=ssrc lines (XEP-0339), so the msid ' +
      'shows up per ssrc although the browser only wrote media-level a=msid.',
    match: (d, ctx) => d.kind === 'extra' && d.fact.cat === 'ssrc' &&
      / msid:/.test(d.fact.text) &&
      ctx.expected.has(`${d.fact.scope} msid ${d.fact.text.replace(/^\S+ msid:/, '')}`),
  },
  // ---- what StanzaJS drops and we carry in urn:epode:sdp:0 (or our own elements)
  {
    id: 'rid-simulcast', stages: ['facts'], field: 'a=rid, a=simulcast',
    reason: 'StanzaJS maps no a=rid/a=simulcast (nor does any client in SHAPES.md); we ' +
      'carry the lines in urn:epode:sdp:0.',
    match: (d) => d.kind === 'stanza-lost' && ['rid', 'simulcast'].includes(d.fact.cat),
  },
  {
    id: 'extmap-allow-mixed', stages: ['facts'], field: 'a=extmap-allow-mixed',
    reason: 'StanzaJS drops it; we write <extmap-allow-mixed xmlns=rtp-hdrext:0/> (as ' +
      'Conversations does) and keep its SDP level in urn:epode:sdp:0.',
    match: (d) => d.kind === 'stanza-lost' && d.fact.cat === 'extmap-allow-mixed',
  },
  {
    id: 'end-of-candidates', stages: ['facts'], field: 'a=end-of-candidates',
    reason: 'StanzaJS\'s importFromSDP ignores it ("TODO: what about end-of-candidates?"); ' +
      'we carry it in urn:epode:sdp:0.',
    match: (d) => d.kind === 'stanza-lost' && d.fact.cat === 'end-of-candidates',
  },
  {
    id: 'end-of-candidates-trickle', stages: ['jingle', 'to-stanza'],
    field: 'end-of-candidates transport-info',
    reason: 'StanzaJS signals end-of-candidates with <gathering-complete/>, an XEP-0371 ' +
      '(ICE, not ICE-UDP) element, and reads only that; we write a=end-of-candidates in ' +
      'urn:epode:sdp:0 (and read <gathering-complete/>).',
    match: (d, ctx) => ctx.eoc && ctx.oursEoc && (
      (d.path && d.path[2] === 'transport' && last(d.path) === 'gatheringComplete' &&
        d.ours === false && d.stanza === true) ||
      // StanzaJS then sees a transport-info without candidates: the whole event is lost
      (d.kind === 'missing' && ['end-of-candidates', 'mid', 'ufrag'].includes(d.fact.cat))),
  },
  {
    id: 'max-message-size', stages: ['facts'], field: 'a=max-message-size',
    reason: 'XEP-0343\'s <sctpmap> has no max-message-size; StanzaJS loses it (its ' +
      'exportToSDP writes none); we carry the line in urn:epode:sdp:0 (Firefox says ' +
      '1073741823, Chromium 262144).',
    match: (d) => d.kind === 'stanza-lost' && d.fact.cat === 'max-message-size',
  },
  {
    id: 'rtcp-xr', stages: ['facts'], field: 'a=rtcp-xr',
    reason: 'StanzaJS maps no a=rtcp-xr (Chromium\'s rcvr-rtt=all); we carry the line in ' +
      'urn:epode:sdp:0.',
    match: (d) => d.kind === 'stanza-lost' && d.fact.cat === 'other' && /^rtcp-xr:/.test(d.fact.text),
  },
  {
    id: 'session-level-constants', stages: ['facts'], field: 'a=msid-semantic, a=ice-options',
    reason: 'StanzaJS writes the constant "a=msid-semantic:WMS *" and no ice-options; the ' +
      'browser\'s values (Chromium\'s "WMS <stream id>", "a=ice-options:trickle") are ' +
      'carried by us in urn:epode:sdp:0.',
    match: (d) => d.kind === 'stanza-lost' && ['msid-semantic', 'ice-options'].includes(d.fact.cat),
  },
  {
    id: 'trickle-ufrag-from-event', stages: ['jingle', 'facts'], field: 'transport-info <transport ufrag>',
    reason: 'StanzaJS takes the ufrag only from the candidate line, where Firefox puts none; ' +
      'our caller passes RTCIceCandidate.usernameFragment (--ufrag), which identifies the ' +
      'ICE generation.',
    match: (d, ctx) => ctx.event && !/ ufrag /.test(ctx.event.candidate || '') && (
      (d.path && d.path[2] === 'transport' && last(d.path) === 'ufrag' && d.path.length === 4 &&
        d.stanza === undefined && d.ours === ctx.event.usernameFragment) ||
      (d.kind === 'stanza-lost' && d.fact.cat === 'ufrag' && d.fact.text === ctx.event.usernameFragment)),
  },
];

// ---------------------------------------------------------------- helpers

function sortObj(o) {
  if (Array.isArray(o)) return o.map(sortObj);
  if (o && typeof o === 'object') {
    const out = {};
    for (const k of Object.keys(o).sort()) out[k] = sortObj(o[k]);
    return out;
  }
  return o;
}

function show(v) {
  return JSON.stringify(v, (_k, x) => (x === undefined ? '<absent>' : x));
}

function readSdp(name) { return fs.readFileSync(path.join(SDP_DIR, name), 'utf8'); }

// ---------------------------------------------------------------- StanzaJS side

function stanzaRequest(sdp, role) {
  return SdpProtocol.convertIntermediateToRequest(Intermediate.importFromSDP(sdp), role, NS_ICE_UDP);
}

function stanzaXml(jingle, id = 'stanza') {
  return registry.export('iq', { type: 'set', id, jingle }).toString();
}

function importIq(xml) {
  const iq = registry.import(JXT.parse(xml));
  if (!iq || !iq.jingle) throw new Error('StanzaJS registry found no <jingle> in the iq');
  return iq.jingle;
}

// StanzaJS's own Jingle -> SDP, as MediaSession/ICESession do on receipt (role = the
// sender's role).
function stanzaToSdp(jingle, senderRole) {
  return Intermediate.exportToSDP(SdpProtocol.convertRequestToIntermediate(jingle, senderRole));
}

// StanzaJS's reading of a transport-info: ICESession.onTransportInfo hands
// addIceCandidate({sdpMid, candidate: writeCandidate(convertCandidateToIntermediate(c))})
// for each candidate, and {sdpMid, candidate: ''} for <gathering-complete/>.
function stanzaReadTransportInfo(jingle) {
  const out = [];
  for (const c of jingle.contents || []) {
    if (c.transport?.gatheringComplete) { out.push({ sdpMid: c.name, candidate: '' }); continue; }
    for (const cand of c.transport?.candidates || []) {
      out.push({
        sdpMid: c.name,
        candidate: SDPUtils.writeCandidate(SdpProtocol.convertCandidateToIntermediate(cand)),
      });
    }
  }
  return out;
}

// A MediaSession driven with a stub RTCPeerConnection, as tests/data/gen/stanza-jingle.mjs
// does: returns {main, signal} where signal(event|null) returns the iq it sends.
async function stanzaSession(sdp, kind, sid) {
  const sent = [];
  const offer = kind === 'offer';
  const pc = {
    localDescription: null,
    iceConnectionState: 'new',
    async createOffer() { return { type: kind, sdp }; },
    async createAnswer() { return { type: kind, sdp }; },
    async setLocalDescription(d) { this.localDescription = d; },
    addEventListener() {},
    getReceivers() { return []; },
    getSenders() { return []; },
    close() {},
  };
  const parent = {
    emit() {},
    createPeerConnection: () => pc,
    signal: (_s, data) => sent.push(data),
    forgetSession() {},
  };
  const session = new MediaSession({
    parent, sid, initiator: offer,
    peerID: offer ? 'juliet@capulet.example/stanzajs' : 'romeo@montague.example/stanzajs',
  });
  if (offer) await session.start({}); else await session.accept({});
  if (sent.length !== 1) throw new Error(`StanzaJS MediaSession sent ${sent.length} iqs, not 1`);
  const main = sent[0];
  const signal = (event) => {
    const before = sent.length;
    if (event === null) session.onIceEndOfCandidates();
    else session.onIceCandidate({ candidate: event });
    return sent.length > before ? sent[sent.length - 1] : null;
  };
  return { main, signal };
}

// ---------------------------------------------------------------- Jingle meaning

function candKeyOf(c) {
  return `${c.component}/${c.foundation}/${String(c.protocol || '').toLowerCase()}/${c.ip}/${c.port}`;
}

function normJingle(j) {
  const out = { action: j.action, sid: j.sid, contentOrder: '', contents: {}, groups: {} };
  out.contentOrder = (j.contents || []).map((c) => c.name).join(' ');
  for (const c of j.contents || []) {
    out.contents[c.name] = {
      creator: c.creator,
      senders: c.senders || 'both',
      application: normApplication(c.application),
      transport: normTransport(c.transport),
    };
  }
  for (const g of j.groups || []) out.groups[g.semantics] = (g.contents || []).join(' ');
  return out;
}

function fbList(list) {
  return (list || []).map((f) => `${f.type}${f.parameter ? ' ' + f.parameter : ''}`).sort();
}

function normApplication(a) {
  if (!a) return undefined;
  if (a.applicationType !== NS_RTP) return { applicationType: a.applicationType };
  const codecs = {};
  for (const p of a.codecs || []) {
    codecs[p.id] = {
      name: p.name,
      clockRate: p.clockRate,
      channels: p.channels ?? 1,
      ptime: p.ptime,
      maxptime: p.maxptime,
      parameters: { ...(p.parameters || {}) },
      rtcpFeedback: fbList(p.rtcpFeedback),
    };
  }
  const hdr = {};
  for (const h of a.headerExtensions || []) hdr[h.id] = `${h.uri} senders=${h.senders || 'both'}`;
  const sources = {};
  for (const s of a.sources || []) sources[s.ssrc] = { ...(s.parameters || {}) };
  const groups = {};
  for (const g of a.sourceGroups || []) groups[`${g.semantics} ${(g.sources || []).join(' ')}`] = true;
  const streams = {};
  for (const s of a.streams || []) streams[`${s.id} ${s.track}`] = true;
  return {
    media: a.media,
    ssrc: a.ssrc,
    rtcpMux: !!a.rtcpMux,
    rtcpReducedSize: !!a.rtcpReducedSize,
    codecOrder: (a.codecs || []).map((p) => p.id).join(' '),
    codecs,
    rtcpFeedback: fbList(a.rtcpFeedback),
    headerExtensions: hdr,
    sources,
    sourceGroups: groups,
    streams,
    encryption: a.encryption ? JSON.stringify(sortObj(a.encryption)) : undefined,
  };
}

function normTransport(t) {
  if (!t) return undefined;
  const fps = {};
  for (const f of t.fingerprints || []) fps[`${f.algorithm} ${f.value}`] = `setup=${f.setup}`;
  const cands = {};
  for (const c of t.candidates || []) {
    cands[candKeyOf(c)] = {
      priority: c.priority,
      type: c.type,
      relatedAddress: c.relatedAddress,
      relatedPort: c.relatedPort === undefined ? undefined : String(c.relatedPort),
      tcpType: c.tcpType,
      generation: c.generation,
      network: c.network,
      id: c.id,
    };
  }
  return {
    transportType: t.transportType,
    ufrag: t.usernameFragment,
    pwd: t.password,
    iceLite: !!t.iceLite,
    gatheringComplete: !!t.gatheringComplete,
    fingerprints: fps,
    candidates: cands,
    sctp: t.sctp ? `port=${t.sctp.port} protocol=${t.sctp.protocol} streams=${t.sctp.streams}` : undefined,
  };
}

const ATOMIC = new Set(['parameters']);
function isObj(x) { return x && typeof x === 'object' && !Array.isArray(x); }

function diffJingle(a, b, p = [], out = []) {
  if (isObj(a) && isObj(b) && !ATOMIC.has(last(p))) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) diffJingle(a[k], b[k], [...p, k], out);
  } else if (JSON.stringify(sortObj(a)) !== JSON.stringify(sortObj(b))) {
    out.push({ path: p, ours: a, stanza: b });
  }
  return out;
}

// ---------------------------------------------------------------- SDP facts

// A candidate line ("a=candidate:..." / "candidate:..."), RFC 8839 grammar.
function parseCandidate(line) {
  const p = line.replace(/^a=/, '').replace(/^candidate:/, '').trim().split(/\s+/);
  const c = {
    foundation: p[0], component: p[1], transport: (p[2] || '').toLowerCase(),
    priority: p[3], ip: p[4], port: p[5], type: p[7],
  };
  for (let i = 8; i + 1 < p.length; i += 2) c[p[i]] = p[i + 1];
  return c;
}
const candKey = (c) => `${c.component}/${c.foundation}/${c.transport}/${c.ip}/${c.port}`;

function addCandidateFacts(add, scope, c) {
  const k = candKey(c);
  add(scope, 'candidate', `${k} priority=${c.priority} typ=${c.type}` +
    (c.raddr !== undefined ? ` raddr=${c.raddr} rport=${c.rport}` : ''));
  for (const a of ['tcptype', 'generation', 'network-id', 'network-cost']) {
    if (c[a] !== undefined) add(scope, `candidate-${a}`, `${k} ${c[a]}`);
  }
}

class Facts extends Map {
  add(scope, cat, text) {
    const key = `${scope} ${cat} ${text}`;
    this.set(key, { scope, cat, text, key });
  }
}

function mediaSectionsRaw(text) {
  const sections = [];
  for (const line of text.split(/\r?\n/)) {
    if (line.startsWith('m=')) sections.push([]);
    else if (sections.length) sections[sections.length - 1].push(line);
  }
  return sections;
}

function midOf(m, i) { return m.mid !== undefined ? String(m.mid) : `#${i}`; }

function sdpFacts(text) {
  const s = sdpTransform.parse(text);
  const f = new Facts();
  const add = f.add.bind(f);
  for (const g of s.groups || []) add('session', 'group', `${g.type} ${g.mids}`);
  if (s.extmapAllowMixed) add('session', 'extmap-allow-mixed', '');
  if (s.msidSemantic) add('session', 'msid-semantic', `${s.msidSemantic.semantic} ${s.msidSemantic.token ?? ''}`.trim());
  if (s.icelite) add('session', 'ice-lite', '');
  for (const inv of s.invalid || []) add('session', 'other', inv.value);
  const raw = mediaSectionsRaw(text);
  (s.media || []).forEach((m, i) => {
    const P = `m=${midOf(m, i)}`;
    add(P, 'kind', m.type);
    add(P, 'protocol', m.protocol);
    if (m.rtp?.length) add(P, 'payloads', String(m.payloads));
    add(P, 'direction', m.direction || s.direction || 'sendrecv');
    for (const r of m.rtp || []) add(P, 'rtpmap', `${r.payload} ${r.codec}/${r.rate}/${r.encoding ?? 1}`);
    for (const fm of m.fmtp || []) {
      for (const part of String(fm.config).split(';')) {
        const t = part.trim();
        if (!t) continue;
        const eq = t.indexOf('=');
        add(P, 'fmtp', eq < 0 ? `${fm.payload} ${t}` : `${fm.payload} ${t.slice(0, eq).trim()}=${t.slice(eq + 1).trim()}`);
      }
    }
    for (const fb of m.rtcpFb || []) add(P, 'rtcp-fb', `${fb.payload} ${fb.type}${fb.subtype ? ' ' + fb.subtype : ''}`);
    for (const e of m.ext || []) add(P, 'extmap', `${e.value} ${e.direction || 'sendrecv'} ${e.uri}${e.config ? ' ' + e.config : ''}`);
    if (m.extmapAllowMixed) add(P, 'extmap-allow-mixed', '');
    for (const x of m.ssrcs || []) add(P, 'ssrc', `${x.id} ${x.attribute}${x.value !== undefined ? ':' + x.value : ''}`);
    for (const g of m.ssrcGroups || []) add(P, 'ssrc-group', `${g.semantics} ${g.ssrcs}`);
    for (const ms of Array.isArray(m.msid) ? m.msid : m.msid ? [m.msid] : []) {
      add(P, 'msid', typeof ms === 'string' ? ms : `${ms.id} ${ms.appdata}`);
    }
    for (const inv of m.invalid || []) {
      if (inv.value.startsWith('msid:')) add(P, 'msid', inv.value.slice(5));
      else add(P, 'other', inv.value);
    }
    if (m.rtcpMux) add(P, 'rtcp-mux', '');
    if (m.rtcpRsize) add(P, 'rtcp-rsize', '');
    const ufrag = m.iceUfrag ?? s.iceUfrag;
    const pwd = m.icePwd ?? s.icePwd;
    if (ufrag !== undefined) add(P, 'ice-ufrag', ufrag);
    if (pwd !== undefined) add(P, 'ice-pwd', pwd);
    const iceOptions = m.iceOptions ?? s.iceOptions;
    if (iceOptions) add(P, 'ice-options', iceOptions);
    const fp = m.fingerprint ?? s.fingerprint;
    if (fp) add(P, 'fingerprint', `${fp.type} ${fp.hash}`);
    const setup = m.setup ?? s.setup;
    if (setup) add(P, 'setup', setup);
    for (const line of raw[i] || []) {
      if (line.startsWith('a=candidate:')) addCandidateFacts(add, P, parseCandidate(line));
    }
    if (m.endOfCandidates) add(P, 'end-of-candidates', '');
    if (m.sctpPort !== undefined) add(P, 'sctp-port', String(m.sctpPort));
    if (m.maxMessageSize !== undefined) add(P, 'max-message-size', String(m.maxMessageSize));
    if (m.sctpmap) add(P, 'sctpmap', `${m.sctpmap.sctpmapNumber} ${m.sctpmap.app} ${m.sctpmap.maxMessageSize ?? ''}`.trim());
    for (const r of m.rids || []) add(P, 'rid', `${r.id} ${r.direction}${r.params ? ' ' + r.params : ''}`);
    if (m.simulcast) {
      const sc = m.simulcast;
      add(P, 'simulcast', `${sc.dir1} ${sc.list1}${sc.dir2 ? ` ${sc.dir2} ${sc.list2}` : ''}`);
    }
    for (const b of m.bandwidth || []) add(P, 'bandwidth', `${b.type}:${b.limit}`);
    if (m.crypto) for (const c of m.crypto) add(P, 'crypto', `${c.id} ${c.suite} ${c.config}`);
  });
  return f;
}

// Facts of one trickled candidate as a browser hands it to addIceCandidate().
function eventFacts(ev) {
  const f = new Facts();
  if (!ev) return f;
  const P = `m=${ev.sdpMid}`;
  f.add(P, 'mid', String(ev.sdpMid));
  if (!ev.candidate) {
    f.add(P, 'end-of-candidates', '');
  } else {
    const c = parseCandidate(ev.candidate);
    addCandidateFacts(f.add.bind(f), P, c);
    if (c.ufrag !== undefined) f.add(P, 'ufrag', c.ufrag);
  }
  if (ev.usernameFragment) f.add(P, 'ufrag', ev.usernameFragment);
  return f;
}

function minus(a, ...bs) {
  return [...a.values()].filter((x) => !bs.some((b) => b.has(x.key)));
}
function intersect(a, b) {
  const out = new Facts();
  for (const [k, v] of a) if (b.has(k)) out.set(k, v);
  return out;
}

// ---------------------------------------------------------------- checks

const results = [];
const allowedCount = new Map();

class Check {
  constructor(name) { this.name = name; this.problems = []; this.allowed = []; this.notes = []; }
  note(text) { this.notes.push(text); }
  // Records a difference: accepted if a rule of `stage` matches it, else a problem.
  diff(stage, d, ctx, text) {
    const rule = ALLOW.find((r) => r.stages.includes(stage) && safeMatch(r, d, ctx));
    if (rule) {
      this.allowed.push(`[${rule.id}] ${text}`);
      allowedCount.set(rule.id, (allowedCount.get(rule.id) || 0) + 1);
    } else {
      this.problems.push(text);
    }
  }
  fail(text) { this.problems.push(text); }
}

function safeMatch(rule, d, ctx) {
  try { return !!rule.match(d, ctx); } catch { return false; }
}

async function runCheck(name, fn) {
  if (opts.only && !opts.only.test(name)) return;
  const c = new Check(name);
  try {
    await fn(c);
  } catch (e) {
    c.fail(`exception: ${e.stack || e.message}`);
  }
  results.push(c);
}

// Context used by rules: looks facts up in the original SDP (or trickle event).
function makeCtx(origText, extra = {}) {
  const parsed = origText ? sdpTransform.parse(origText) : { media: [] };
  const raw = origText ? mediaSectionsRaw(origText) : [];
  const byMid = new Map();
  parsed.media.forEach((m, i) => byMid.set(midOf(m, i), { m, raw: raw[i] || [] }));
  const ctx = {
    candidate(p) {
      // p = ['contents', mid, 'transport', 'candidates', key, field]
      if (ctx.event && ctx.event.candidate) {
        const c = parseCandidate(ctx.event.candidate);
        return candKeyOf({ ...c, protocol: c.transport }) === p[4] ? c : undefined;
      }
      const sec = byMid.get(p[1]);
      for (const line of sec?.raw || []) {
        if (!line.startsWith('a=candidate:')) continue;
        const c = parseCandidate(line);
        if (candKeyOf({ ...c, protocol: c.transport }) === p[4]) return c;
      }
      return undefined;
    },
    ssrcAttrs(mid, ssrc) {
      const sec = byMid.get(mid);
      const lines = (sec?.m.ssrcs || []).filter((x) => String(x.id) === String(ssrc));
      if (!lines.length) return undefined;
      const o = {};
      for (const x of lines) o[x.attribute] = x.value;
      return o;
    },
    hasSsrcGroup(mid, text) {
      const sec = byMid.get(mid);
      return (sec?.m.ssrcGroups || []).some((g) => `${g.semantics} ${g.ssrcs}` === text);
    },
    bareFmtp(mid, pt, value) {
      const sec = byMid.get(mid);
      return (sec?.m.fmtp || []).some((f) => String(f.payload) === String(pt) &&
        String(f.config).split(';').map((t) => t.trim()).includes(value));
    },
    ...extra,
  };
  return ctx;
}

function compareJingle(check, oursJ, stanzaJ, ctx) {
  const a = normJingle(oursJ);
  const b = normJingle(stanzaJ);
  check.note(`jingle: contents ours [${a.contentOrder}], StanzaJS [${b.contentOrder}]`);
  delete a.action; delete b.action; delete a.sid; delete b.sid;
  for (const d of diffJingle(a, b)) {
    check.diff('jingle', d, ctx, `jingle ${d.path.join('/')}: ours ${show(d.ours)}, StanzaJS ${show(d.stanza)}`);
  }
}

function compareFacts(check, stage, expected, actual, extraAllowedFrom, ctxBase, label) {
  const ctx = { ...ctxBase, expected, actual };
  check.note(`${label}: ${expected.size} facts expected, ${actual.size} produced`);
  for (const f of minus(expected, actual)) {
    check.diff(stage, { kind: 'missing', fact: f }, ctx, `${label}: lost ${f.key}`);
  }
  for (const f of minus(actual, expected, ...extraAllowedFrom)) {
    check.diff(stage, { kind: 'extra', fact: f }, ctx, `${label}: invented ${f.key}`);
  }
}

// Categories StanzaJS's exportToSDP writes as constants, whatever its Jingle says:
// not facts its Jingle carries.
const STANZA_CONSTANT_CATS = new Set(['msid-semantic']);
function stanzaCarried(orig, stanzaSelf) {
  const c = intersect(orig, stanzaSelf);
  for (const [k, v] of c) if (STANZA_CONSTANT_CATS.has(v.cat)) c.delete(k);
  return c;
}

function roleOf(kind) { return kind === 'offer' ? 'initiator' : 'responder'; }
function actionOf(kind) { return kind === 'offer' ? 'session-initiate' : 'session-accept'; }
function kindOf(file) { return /-offer(-complete)?\.sdp$/.test(file) ? 'offer' : 'answer'; }
function offerFor(file) {
  // The offer an answer answers: X-answer[-complete].sdp -> X-offer.sdp.
  const o = file.replace(/-answer(-complete)?\.sdp$/, '-offer.sdp');
  return fs.existsSync(path.join(SDP_DIR, o)) ? path.join(SDP_DIR, o) : null;
}
function ourJingle2Sdp(xml, kind, file) {
  const args = ['jingle2sdp'];
  const offer = kind === 'answer' ? offerFor(file) : null;
  if (offer) args.push('--offer', offer);
  return cli(args, xml);
}

async function checkSdp(file) {
  const kind = kindOf(file);
  const role = roleOf(kind);
  const action = actionOf(kind);
  const sid = `crosscheck-${file.replace(/\.sdp$/, '')}`;
  const sdp = readSdp(file);
  const ctx = makeCtx(sdp);

  // 1. both translations of the same SDP
  let oursXml, stanzaXmlText, oursJ, stanzaJ;
  const prep = () => {
    if (oursXml) return;
    oursXml = cli(['sdp2jingle', '--action', action, '--sid', sid, '--role', role], sdp);
    stanzaXmlText = stanzaXml({ ...stanzaRequest(sdp, role), sid, action });
    oursJ = importIq(oursXml);
    stanzaJ = importIq(stanzaXmlText);
  };
  const orig = sdpFacts(sdp);

  // 2. Jingle meaning
  await runCheck(`jingle ${file}`, (c) => { prep(); compareJingle(c, oursJ, stanzaJ, ctx); });

  // Fact-level: each side's own round trip against the original.
  await runCheck(`facts ${file}`, (c) => {
    prep();
    const ourRT = sdpFacts(ourJingle2Sdp(oursXml, kind, file));
    const stRT = sdpFacts(stanzaToSdp(stanzaJ, role));
    const fctx = { ...ctx, expected: orig, actual: ourRT };
    c.note(`original ${orig.size} facts, our round trip ${ourRT.size}, StanzaJS's ${stRT.size}`);
    for (const f of minus(orig, ourRT)) {
      const kindOfLoss = stRT.has(f.key) ? 'kept by StanzaJS, lost by us' : 'lost by us and by StanzaJS';
      c.diff('facts', { kind: 'ours-lost', fact: f }, fctx, `facts: ${kindOfLoss}: ${f.key}`);
    }
    for (const f of minus(ourRT, orig)) {
      c.diff('facts', { kind: 'ours-extra', fact: f }, fctx, `facts: our round trip invents ${f.key}`);
    }
    for (const f of minus(orig, stRT)) {
      if (!ourRT.has(f.key)) continue; // already reported above
      c.diff('facts', { kind: 'stanza-lost', fact: f }, fctx, `facts: StanzaJS loses, we keep: ${f.key}`);
    }
  });

  // 3a. our Jingle -> StanzaJS's Jingle->SDP
  await runCheck(`to-stanza ${file}`, (c) => {
    prep();
    const stSelf = sdpFacts(stanzaToSdp(stanzaJ, role));
    const carried = stanzaCarried(orig, stSelf);
    const fromOurs = sdpFacts(stanzaToSdp(oursJ, role));
    compareFacts(c, 'to-stanza', carried, fromOurs, [stSelf, orig], ctx, 'StanzaJS reading our Jingle');
  });

  // 3b. StanzaJS's Jingle -> our jingle2sdp
  await runCheck(`from-stanza ${file}`, (c) => {
    prep();
    const stSelf = sdpFacts(stanzaToSdp(stanzaJ, role));
    const carried = stanzaCarried(orig, stSelf);
    const ours = sdpFacts(ourJingle2Sdp(stanzaXmlText, kind, file));
    compareFacts(c, 'from-stanza', carried, ours, [stSelf, orig], ctx, 'our jingle2sdp of StanzaJS\'s Jingle');
  });
}

// StanzaJS's MediaSession (what a StanzaJS client really sends) for a bare SDP, its
// transport-infos for the matching *-candidates.json, through our translator.
async function checkSession(file) {
  const kind = kindOf(file);
  const role = roleOf(kind);
  const sid = `crosscheck-${file.replace(/\.sdp$/, '')}`;
  const sdp = readSdp(file);
  const ctx = makeCtx(sdp);
  const orig = sdpFacts(sdp);
  const base = file.replace(/\.sdp$/, '');
  const candFile = path.join(SDP_DIR, `${base}-candidates.json`);

  let st;
  const prep = async () => { if (!st) st = await stanzaSession(sdp, kind, sid); };

  await runCheck(`session ${file}`, async (c) => {
    await prep();
    const xml = registry.export('iq', { ...st.main, id: 'session' }).toString();
    const stanzaJ = importIq(xml);
    const stSelf = sdpFacts(stanzaToSdp(stanzaJ, role));
    const carried = stanzaCarried(orig, stSelf);
    const ours = sdpFacts(ourJingle2Sdp(xml, kind, file));
    compareFacts(c, 'session', carried, ours, [stSelf, orig], ctx, 'our jingle2sdp of StanzaJS\'s session Jingle');
  });

  if (!fs.existsSync(candFile)) return;
  await runCheck(`trickle ${base}-candidates.json`, async (c) => {
    await prep();
    const events = JSON.parse(fs.readFileSync(candFile, 'utf8'));
    const first = sdpTransform.parse(sdp).media[0];
    const readEvents = (jingle, xmlOfUs) => {
      // What a browser would be handed: StanzaJS's reading, or our jingle2sdp's.
      const f = new Facts();
      const evs = xmlOfUs === undefined
        ? stanzaReadTransportInfo(jingle).map((e) => ({ ...e, usernameFragment: jingle.contents?.[0]?.transport?.usernameFragment }))
        : cli(['jingle2sdp'], xmlOfUs).split('\n').filter(Boolean).map((l) => JSON.parse(l));
      for (const e of evs) for (const [k, v] of eventFacts(e)) f.set(k, v);
      return f;
    };
    let n = 0;
    for (const ev of events) {
      n++;
      const eoc = !ev || !ev.candidate;
      const label = ev === null ? `#${n} null (end of gathering)`
        : ev.candidate ? `#${n} ${ev.candidate}` : `#${n} "" (end of candidates, mid ${ev.sdpMid})`;
      const before = c.problems.length;
      // Ours: the CLI's `candidate`, given what RTCPeerConnection's icecandidate event
      // gives (for the final null: the first m-line, as StanzaJS does).
      const mid = ev ? ev.sdpMid : String(first.mid);
      const ufrag = ev ? ev.usernameFragment : first.iceUfrag;
      const args = ['candidate', '--sid', sid, '--mid', String(mid)];
      if (ufrag) args.push('--ufrag', ufrag);
      const ourXml = cli(args, ev && ev.candidate ? `${ev.candidate}\n` : '\n');
      const ourJ = importIq(ourXml);
      const origEv = ev || { sdpMid: mid, candidate: '', usernameFragment: ufrag };
      const orig = eventFacts(origEv);
      const tctx = makeCtx(null, { event: ev, eoc, oursEoc: EPODE_EXT_EOC.test(ourXml) });
      // StanzaJS: onIceCandidate / onIceEndOfCandidates (nothing for Firefox's "").
      const stIq = ev && !ev.candidate ? null : st.signal(ev);
      if (!stIq && !(ev && !ev.candidate)) c.fail(`${label}: StanzaJS sent no transport-info`);
      const stXml = stIq ? registry.export('iq', { ...stIq, id: 'stanza-ti' }).toString() : null;
      const stJ = stXml ? importIq(stXml) : null;
      const stSelf = stJ ? readEvents(stJ) : new Facts();
      // facts: our own round trip must give the browser's event back
      const ourRT = readEvents(null, ourXml);
      const fctx = { ...tctx, expected: orig, actual: ourRT };
      for (const f of minus(orig, ourRT)) c.diff('facts', { kind: 'ours-lost', fact: f }, fctx, `${label}: our round trip loses ${f.key}`);
      for (const f of minus(ourRT, orig)) c.diff('facts', { kind: 'ours-extra', fact: f }, fctx, `${label}: our round trip invents ${f.key}`);
      if (stJ) {
        for (const f of minus(orig, stSelf)) {
          if (ourRT.has(f.key)) c.diff('facts', { kind: 'stanza-lost', fact: f }, fctx, `${label}: StanzaJS loses, we keep: ${f.key}`);
        }
        // 2. meaning
        compareJingle(c, ourJ, stJ, tctx);
        const carried = ev ? intersect(orig, stSelf) : stSelf;
        // 3a. ours read by StanzaJS
        compareFacts(c, 'to-stanza', carried, readEvents(ourJ), [stSelf, orig], tctx, `${label}: StanzaJS reading our transport-info`);
        // 3b. StanzaJS's read by us
        compareFacts(c, 'trickle', carried, readEvents(null, stXml), [stSelf, orig], tctx, `${label}: our jingle2sdp of StanzaJS's transport-info`);
      }
      if (c.problems.length > before) c.problems.splice(before, 0, `${label}:`);
    }
  });
}

// tests/data/jingle/stanzajs-*.xml must be what the generator makes from today's SDPs.
async function checkFixtures() {
  await runCheck('fixtures tests/data/jingle/stanzajs-*.xml match tests/data/sdp', (c) => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'stanza-crosscheck-'));
    try {
      const r = spawnSync(process.execPath, [GENERATOR, '--sdp', SDP_DIR, '--out', tmp], { encoding: 'utf8' });
      if (r.status !== 0) { c.fail(`generator failed: ${r.stderr.trim()}`); return; }
      const fresh = fs.readdirSync(tmp).sort();
      const have = fs.readdirSync(JINGLE_DIR).filter((f) => /^stanzajs-.*\.xml$/.test(f)).sort();
      const stale = [];
      for (const f of fresh) {
        const p = path.join(JINGLE_DIR, f);
        if (!fs.existsSync(p)) stale.push(`${f} (missing)`);
        else if (fs.readFileSync(p, 'utf8') !== fs.readFileSync(path.join(tmp, f), 'utf8')) stale.push(f);
      }
      for (const f of have) if (!fresh.includes(f)) stale.push(`${f} (no longer generated)`);
      if (stale.length) {
        c.fail(`${stale.length} of ${fresh.length} stanzajs-*.xml differ from what ` +
          `\`node tests/data/gen/stanza-jingle.mjs\` makes from today's SDPs (regenerate them): ` +
          stale.slice(0, 8).join(', ') + (stale.length > 8 ? ', ...' : ''));
      }
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
}

// ---------------------------------------------------------------- main

async function main() {
  const t0 = Date.now();
  const files = fs.readdirSync(SDP_DIR).filter((f) => f.endsWith('.sdp')).sort();
  if (!files.length) throw new Error(`no SDP in ${SDP_DIR}`);
  for (const f of files) await checkSdp(f);
  for (const f of files.filter((x) => !x.endsWith('-complete.sdp'))) await checkSession(f);
  await checkFixtures();

  let passed = 0;
  let failed = 0;
  results.forEach((r, i) => {
    const ok = r.problems.length === 0;
    if (ok) passed++; else failed++;
    console.log(`${ok ? 'ok' : 'not ok'} ${i + 1} - ${r.name}`);
    for (const p of r.problems) console.log(`    ${p}`);
    if (opts.verbose) {
      for (const n of r.notes) console.log(`    note ${n}`);
      for (const a of r.allowed) console.log(`    allowed ${a}`);
    }
  });
  console.log('# allowed differences (rule: count):');
  for (const r of ALLOW) console.log(`#   ${r.id}: ${allowedCount.get(r.id) || 0}`);
  console.log(`# ${((Date.now() - t0) / 1000).toFixed(1)} s, epode-translate = ${opts.cli}`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

main().catch((e) => {
  console.error(`stanza-crosscheck: ${e.stack || e.message}`);
  console.log('0 passed, 1 failed');
  process.exit(1);
});
