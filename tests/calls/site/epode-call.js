// The browser side of the call tests: web/epode.js (served by Epode from
// its web root, as in production) logged in to Epode over WebSocket or
// BOSH, making and taking calls with the JSON signaling of
// docs/protocol.md. The runner drives it through window.E. Every signaling
// message sent and received is recorded with its outcome, so that a
// stanza error from Epode is reported with its condition and text.
import {Epode} from './epode.js';

const t0 = performance.now();
const E = {
  ep: null,
  calls: new Map(),       // sid -> call (see newCall)
  events: [],
  // How an incoming call is answered: sendAccept follows the docs/web.md
  // flow (accept, then the answer) as web/demo.js does.
  autoAnswer: {sendAccept: true},
};
window.E = E;
const now = () => Math.round(performance.now() - t0);
const note = (text) => {
  E.events.push([now(), text]);
  console.log(`E: ${text}`);
};

E.login = async ({jid, password, transports, resource}) => {
  const ep = await Epode.connect({jid, password, transports, resource});
  E.ep = ep;
  ep.on('call', (channel, first) => onIncoming(channel, first));
  ep.on('disconnected', ({condition}) => note(`disconnected (${condition})`));
  // Stanzas both ways in the console, as the browser tests do.
  const conn = ep._conn;
  conn.xmlInput = (el) => console.log(`IN ${new XMLSerializer().serializeToString(el)}`);
  conn.xmlOutput = (el) => console.log(`OUT ${new XMLSerializer().serializeToString(el)}`);
  note(`logged in as ${ep.jid} over ${ep.transport}`);
  return {jid: ep.jid, transport: ep.transport};
};

function newCall(channel, role) {
  const c = {
    sid: channel.sid, peer: channel.peer, role, channel, pc: null, dc: null,
    started: performance.now(), connectedMs: null,
    sent: [], received: [], candidates: [], offer: null, dcMessages: [],
    ended: null, chain: Promise.resolve(), error: null, tracks: [],
  };
  E.calls.set(c.sid, c);
  channel.onmessage = ({data}) => {
    const kind = Object.keys(data)[0];
    c.received.push({at: now(), kind, value: kind === 'desc' ? {type: data.desc.type} : data[kind]});
    c.chain = c.chain.then(() => onSignal(c, data)).catch((e) => {
      c.error = `handling ${kind}: ${e && e.message}`;
      note(`${c.sid}: ${c.error}`);
    });
  };
  return c;
}

// Sends one message and records the outcome: {kind, ok} or {kind, error}.
async function send(c, msg) {
  const kind = Object.keys(msg)[0];
  const rec = {at: now(), kind, detail: kind === 'candidate' ? (msg.candidate ? 'candidate' : null) : undefined};
  c.sent.push(rec);
  try {
    await c.channel.send(msg);
    rec.ok = true;
  } catch (e) {
    rec.error = `${e.condition || e.name}${e.text ? `: ${e.text}` : `: ${e.message}`}`;
    note(`${c.sid}: ${kind} refused: ${rec.error}`);
  }
  return rec;
}

function newPeerConnection(c) {
  const pc = new RTCPeerConnection({iceServers: []});
  c.pc = pc;
  pc.onicecandidate = ({candidate}) => { send(c, {candidate}); };
  pc.onconnectionstatechange = () => {
    note(`${c.sid}: connectionState ${pc.connectionState}`);
    if (pc.connectionState === 'connected' && c.connectedMs === null) c.connectedMs = Math.round(performance.now() - c.started);
  };
  pc.ondatachannel = (e) => useChannel(c, e.channel);
  // What a page shows: web/demo.js plays streams[0] of the track event.
  pc.ontrack = (e) => c.tracks.push({kind: e.track.kind, streams: e.streams.length});
  return pc;
}

function useChannel(c, dc) {
  c.dc = dc;
  dc.onopen = () => note(`${c.sid}: data channel open`);
  dc.onmessage = (m) => {
    c.dcMessages.push(String(m.data));
    note(`${c.sid}: data channel got ${m.data}`);
    if (!String(m.data).startsWith('echo:')) dc.send(`echo:${m.data}`);
  };
}

async function onSignal(c, {desc, candidate, ring, accept, reject, bye}) {
  if (bye || reject) {
    c.ended = {by: 'peer', reason: (bye || reject).reason || null, kind: bye ? 'bye' : 'reject', at: now()};
    if (c.pc) c.pc.close();
    c.channel.close();
  } else if (desc && desc.type === 'offer') {
    c.offer = desc;
    await answer(c);
  } else if (desc && desc.type === 'answer') {
    await c.pc.setRemoteDescription(desc);
  } else if (candidate !== undefined) {
    if (c.pc && c.pc.remoteDescription) await c.pc.addIceCandidate(candidate === null ? undefined : candidate);
    else c.candidates.push(candidate);
  } else if (ring) {
    // an incoming call: take it at once, as web/demo.js does when the user
    // clicks accept. For an XEP-0353 call the offer only comes after this.
    if (E.autoAnswer.sendAccept && !c.acceptSent) {
      c.acceptSent = true;
      await send(c, {accept: {}});
    }
  } else if (accept) {
    // the callee took the call
  }
}

function onIncoming(channel, first) {
  const c = newCall(channel, 'callee');
  note(`${c.sid}: incoming call from ${channel.peer}`);
  channel.onmessage({data: first});
}

async function answer(c) {
  if (c.pc) {
    // A re-offer during the call (the peer's ICE restart): same connection.
    c.reoffers = (c.reoffers || 0) + 1;
    await c.pc.setRemoteDescription(c.offer);
    await c.pc.setLocalDescription();
    await send(c, {desc: c.pc.localDescription});
    return;
  }
  if (E.autoAnswer.sendAccept && !c.acceptSent) {
    c.acceptSent = true;
    await send(c, {accept: {}});
  }
  const pc = newPeerConnection(c);
  const kinds = ['audio', 'video'].filter((k) => new RegExp(`^m=${k} `, 'm').test(c.offer.sdp));
  if (kinds.length) {
    const stream = await M.stream(kinds);
    for (const t of stream.getTracks()) pc.addTrack(t, stream);
  }
  await pc.setRemoteDescription(c.offer);
  for (const cand of c.candidates.splice(0)) await pc.addIceCandidate(cand === null ? undefined : cand);
  await pc.setLocalDescription();
  await send(c, {desc: pc.localDescription});
}

// Calls `peer`: {media: ['audio', 'video']} or {media: [], data: true};
// ring: send {ring} first, as web/demo.js does. Resolves with the sid once
// the offer is sent.
E.call = async (peer, {media = ['audio', 'video'], data = false, ring = false} = {}) => {
  const channel = new E.ep.SignalingChannel(peer);
  const c = newCall(channel, 'caller');
  const pc = newPeerConnection(c);
  if (media.length) {
    const stream = await M.stream(media);
    for (const t of stream.getTracks()) pc.addTrack(t, stream);
  }
  if (data) useChannel(c, pc.createDataChannel('chat'));
  if (ring) await send(c, {ring: {media: media.length ? media : ['data']}});
  await pc.setLocalDescription();
  await send(c, {desc: pc.localDescription});
  return c.sid;
};

E.hangup = async (sid, reason = 'success') => {
  const c = E.calls.get(sid);
  const r = await send(c, {bye: {reason}});
  c.ended = {by: 'self', reason, at: now()};
  c.pc.close();
  c.channel.close();
  return r;
};

// After Epode restarted: log in again with the same resource and hang up
// the call through a new channel with the call's sid.
E.hangupAfterRelogin = async (sid, login) => {
  const old = E.calls.get(sid);
  const r = await E.login(login);
  const channel = new E.ep.SignalingChannel(old.peer, {sid});
  old.channel = channel;
  const rec = await send(old, {bye: {reason: 'success'}});
  old.ended = {by: 'self', reason: 'success', at: now()};
  old.pc.close();
  channel.close();
  return {login: r, bye: rec};
};

// ICE restart from this side: a re-offer with new credentials.
E.restartIce = async (sid) => {
  const c = E.calls.get(sid);
  c.pc.restartIce();
  await c.pc.setLocalDescription();
  return send(c, {desc: c.pc.localDescription});
};

E.send = (sid, text) => E.calls.get(sid).dc.send(text);

// The ICE ufrag of a description; null once closed (Firefox throws on
// reading the descriptions of a closed connection).
function ufrag(pc, which) {
  if (!pc || pc.signalingState === 'closed' || !pc[which]) return null;
  return (pc[which].sdp.match(/a=ice-ufrag:(\S+)/) || [])[1] || null;
}

E.info = (sid) => {
  const c = E.calls.get(sid);
  if (!c) return null;
  return {
    sid: c.sid, peer: c.channel.peer, role: c.role, connectedMs: c.connectedMs, sent: c.sent, received: c.received,
    ended: c.ended, error: c.error, dcMessages: c.dcMessages, dcState: c.dc ? c.dc.readyState : null,
    tracks: c.tracks, reoffers: c.reoffers || 0,
    localUfrag: ufrag(c.pc, 'localDescription'),
    remoteUfrag: ufrag(c.pc, 'remoteDescription'),
    connectionState: c.pc ? c.pc.connectionState : null, offerSdp: c.offer ? c.offer.sdp : null,
  };
};
E.sids = () => Array.from(E.calls.keys());
E.stats = (sid) => M.stats(E.calls.get(sid).pc);
E.ready = true;
