// The demo page (index.html): log in, contacts with presence, and calls
// between browsers, signaled with epode.js. The call logic is the W3C
// webrtc-pc "simple peer-to-peer example" without perfect negotiation: the
// caller rings and offers, the callee accepts and answers.
import {Epode} from './epode.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

let ep = null;
let call = null;        // {channel, peer, role, pc, local, offer, candidates, accepted, connected, chain}
const requests = new Set();

function status(text, error = false) {
  $('status').textContent = text;
  $('status').classList.toggle('error', error);
}

// ---- log in and out

async function login(jid, password) {
  const service = $('service').value.trim() || location.origin;
  status(`Connecting to ${service} ...`);
  for (const b of document.querySelectorAll('#login-form button')) b.disabled = true;
  try {
    ep = await Epode.connect({service, jid, password});
  } catch (e) {
    status(`Login failed: ${e.message}`, true);
    for (const b of document.querySelectorAll('#login-form button')) b.disabled = false;
    return;
  }
  ep.on('roster', renderContacts);
  ep.on('presence', renderContacts);
  ep.on('subscribe', ({jid: from}) => {
    requests.add(from);
    renderContacts();
  });
  ep.on('message', ({from, body}) => status(`${from}: ${body}`));
  ep.on('call', onIncomingCall);
  const session = ep;
  ep.on('disconnected', ({condition}) => {
    if (ep !== session) return;   // logged out on purpose
    endCall();
    showLogin();
    status(`Disconnected${condition ? `: ${condition}` : ''}`, true);
  });
  $('me').textContent = ep.jid;
  $('login').hidden = true;
  $('session').hidden = false;
  renderContacts();
  status(`Logged in as ${ep.jid} (${ep.transport === 'websocket' ? 'WebSocket' : 'BOSH'})`);
}

function showLogin() {
  ep = null;
  requests.clear();
  $('session').hidden = true;
  $('login').hidden = false;
  for (const b of document.querySelectorAll('#login-form button')) b.disabled = false;
}

$('login-form').addEventListener('submit', (e) => {
  e.preventDefault();
  login($('jid').value.trim(), $('password').value);
});

$('guest-button').addEventListener('click', () => {
  // A guest logs in to a bare domain: the one typed, or the page's host.
  const typed = $('jid').value.trim();
  const domain = typed ? typed.replace(/^.*@/, '').replace(/\/.*$/, '') : (params.get('domain') || location.hostname);
  login(domain, null);
});

$('logout').addEventListener('click', async () => {
  if (call) hangUp();
  const old = ep;
  showLogin();
  if (old) await old.disconnect();
  status('Logged out.');
});

// ---- contacts

function renderContacts() {
  if (!ep) return;
  const ul = $('contacts');
  ul.textContent = '';
  const items = ep.roster().filter((it) => it.jid !== ep.jid.split('/')[0]);
  items.sort((a, b) => (a.name || a.jid).localeCompare(b.name || b.jid));
  for (const it of items) {
    const res = ep.resources(it.jid);
    const li = document.createElement('li');
    li.dataset.jid = it.jid;
    const dot = document.createElement('span');
    const away = res.length && res.every((r) => r.show && r.show !== 'chat');
    dot.className = `dot${res.length ? (away ? ' away' : ' online') : ''}`;
    dot.title = res.length ? (away ? 'away' : 'online') : 'offline';
    const who = document.createElement('span');
    who.className = 'who';
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = it.name || it.jid;
    const sub = document.createElement('span');
    sub.className = 'sub';
    const statusText = res.map((r) => r.status).find(Boolean);
    sub.textContent = it.subscription === 'both' || it.subscription === 'to'
      ? (statusText || (it.name ? it.jid : (res.length ? 'online' : 'offline')))
      : (it.ask === 'subscribe' ? 'waiting for approval' : `subscription: ${it.subscription}`);
    who.append(name, sub);
    li.append(dot, who);
    for (const r of res) {
      const b = document.createElement('button');
      b.className = 'call';
      b.dataset.jid = r.jid;
      b.textContent = res.length > 1 ? `Call ${r.jid.slice(r.jid.indexOf('/') + 1).slice(0, 10)}` : 'Call';
      b.title = `Call ${r.jid}`;
      b.disabled = Boolean(call);
      b.addEventListener('click', () => startCall(r.jid));
      li.append(b);
    }
    ul.append(li);
  }
  $('no-contacts').hidden = items.length > 0;

  const rq = $('requests');
  rq.textContent = '';
  for (const jid of requests) {
    const li = document.createElement('li');
    li.dataset.jid = jid;
    const text = document.createElement('span');
    text.className = 'who';
    text.textContent = `${jid} wants to be your contact`;
    const yes = document.createElement('button');
    yes.className = 'approve';
    yes.textContent = 'Accept';
    yes.addEventListener('click', async () => {
      requests.delete(jid);
      ep.approve(jid);
      // Accepting also asks for their presence, unless we have it already.
      const it = ep.roster().find((i) => i.jid === jid);
      if (!it || !(it.subscription === 'to' || it.subscription === 'both' || it.ask === 'subscribe')) {
        await ep.addContact(jid).catch((e) => status(e.message, true));
      }
      renderContacts();
    });
    const no = document.createElement('button');
    no.className = 'deny secondary';
    no.textContent = 'Deny';
    no.addEventListener('click', () => {
      requests.delete(jid);
      ep.deny(jid);
      renderContacts();
    });
    li.append(text, yes, no);
    rq.append(li);
  }
}

$('add-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const jid = $('add-jid').value.trim();
  try {
    await ep.addContact(jid, $('add-name').value.trim());
    $('add-jid').value = '';
    $('add-name').value = '';
    status(`Asked ${jid} to share their presence.`);
  } catch (err) {
    status(`Could not add ${jid}: ${err.message}`, true);
  }
});

// ---- calls

async function newPeerConnection() {
  const pc = new RTCPeerConnection({iceServers: await ep.iceServers()});
  pc.onicecandidate = ({candidate}) => {
    if (call && call.pc === pc) call.channel.send({candidate}).catch((e) => console.warn('candidate not taken:', e.message));
  };
  pc.ontrack = ({track, streams}) => {
    const v = $('remote-video');
    if (streams[0]) {
      v.srcObject = streams[0];
    } else {
      if (!v.srcObject) v.srcObject = new MediaStream();
      v.srcObject.addTrack(track);
    }
  };
  pc.onconnectionstatechange = () => {
    if (!call || call.pc !== pc) return;
    if (pc.connectionState === 'connected') {
      call.connected = true;
      status(`In a call with ${call.peer}`);
    } else if (pc.connectionState === 'failed') {
      status(`The call with ${call.peer} failed (no network path)`, true);
      hangUp('connectivity-error');
    }
  };
  return pc;
}

async function addLocalMedia(pc) {
  const local = await navigator.mediaDevices.getUserMedia({audio: true, video: true});
  $('local-video').srcObject = local;
  for (const t of local.getTracks()) pc.addTrack(t, local);
  return local;
}

function callUi(peer) {
  $('call-peer').textContent = peer ? `Call with ${peer}` : 'No call';
  $('hangup').disabled = !peer;
  for (const b of document.querySelectorAll('#contacts button.call')) b.disabled = Boolean(peer);
}

// Messages of one call are handled one at a time, in order: a candidate
// must not be added while the description it belongs to is being set.
function onSignal({data}) {
  const c = call;
  if (!c) return;
  c.chain = c.chain.then(() => handleSignal(c, data)).catch((e) => {
    console.error('signaling:', e);
    if (call === c) {
      status(`Call error: ${e.message}`, true);
      hangUp('general-error');
    }
  });
}

async function handleSignal(c, {desc, candidate, ring, accept, reject, bye}) {
  if (call !== c) return;
  if (bye) {
    status(`${c.peer} hung up${bye.reason && bye.reason !== 'success' ? ` (${bye.reason})` : ''}.`);
    endCall();
  } else if (reject) {
    status(`${c.peer} declined the call${reject.reason ? ` (${reject.reason})` : ''}.`);
    endCall();
  } else if (accept) {
    status(`${c.peer} accepted, connecting ...`);
  } else if (ring) {
    askUser(c);
  } else if (desc) {
    if (desc.type === 'offer') {
      c.offer = desc;
      if (c.accepted) await answer(c);
      else askUser(c);
    } else if (desc.type === 'answer' && c.pc) {
      await c.pc.setRemoteDescription(desc);
    }
  } else if (candidate !== undefined) {
    if (c.pc && c.pc.remoteDescription) await c.pc.addIceCandidate(candidate === null ? undefined : candidate);
    else c.candidates.push(candidate);
  }
}

async function startCall(peer) {
  if (call) return;
  const channel = new ep.SignalingChannel(peer);
  const c = {channel, peer, role: 'caller', pc: null, local: null, candidates: [], accepted: true, chain: Promise.resolve()};
  call = c;
  channel.onmessage = onSignal;
  callUi(peer);
  status(`Calling ${peer} ...`);
  try {
    c.pc = await newPeerConnection();
    c.local = await addLocalMedia(c.pc);
    if (call !== c) return;
    await channel.send({ring: {media: ['audio', 'video']}});
    await c.pc.setLocalDescription();
    await channel.send({desc: c.pc.localDescription});
    if (call === c) status(`Ringing ${peer} ...`);
  } catch (e) {
    if (call === c) {
      status(`Call to ${peer} failed: ${e.message}`, true);
      endCall();
    }
  }
}

function onIncomingCall(channel, first) {
  if (call) {
    channel.send({reject: {reason: 'busy'}}).catch(() => {});
    channel.close();
    return;
  }
  call = {channel, peer: channel.peer, role: 'callee', pc: null, local: null, offer: null, candidates: [],
    accepted: false, chain: Promise.resolve()};
  channel.onmessage = onSignal;
  callUi(channel.peer);
  onSignal({data: first});
}

function askUser(c) {
  if (c.accepted || c.asked) return;
  c.asked = true;
  $('incoming-text').textContent = `Incoming call from ${c.peer}`;
  $('incoming').hidden = false;
  status(`${c.peer} is calling.`);
}

async function answer(c) {
  if (!c.pc) {
    c.pc = await newPeerConnection();
    c.local = await addLocalMedia(c.pc);
  }
  await c.pc.setRemoteDescription(c.offer);
  for (const cand of c.candidates.splice(0)) await c.pc.addIceCandidate(cand === null ? undefined : cand);
  await c.pc.setLocalDescription();
  await c.channel.send({desc: c.pc.localDescription});
  status(`Answering ${c.peer} ...`);
}

$('incoming-accept').addEventListener('click', () => {
  const c = call;
  $('incoming').hidden = true;
  if (!c || c.accepted) return;
  c.accepted = true;
  status(`Accepting the call from ${c.peer} ...`);
  c.chain = c.chain.then(async () => {
    await c.channel.send({accept: {}});
    if (c.offer) await answer(c);
  }).catch((e) => {
    if (call === c) {
      status(`Could not accept: ${e.message}`, true);
      hangUp('general-error');
    }
  });
});

$('incoming-reject').addEventListener('click', () => {
  const c = call;
  $('incoming').hidden = true;
  if (!c) return;
  c.channel.send({reject: {reason: 'decline'}}).catch(() => {});
  endCall();
  status(`Declined the call from ${c.peer}.`);
});

function hangUp(reason) {
  const c = call;
  if (!c) return;
  const why = reason || (c.connected || c.role === 'callee' ? 'success' : 'cancel');
  c.channel.send({bye: {reason: why}}).catch(() => {});
  endCall();
  status(`Hung up${why !== 'success' ? ` (${why})` : ''}.`);
}

$('hangup').addEventListener('click', () => hangUp());

function endCall() {
  const c = call;
  if (!c) return;
  call = null;
  $('incoming').hidden = true;
  if (c.pc) c.pc.close();
  if (c.local) for (const t of c.local.getTracks()) t.stop();
  c.channel.close();
  $('local-video').srcObject = null;
  $('remote-video').srcObject = null;
  callUi(null);
}

addEventListener('beforeunload', () => {
  if (call) hangUp('gone');
});

// ---- for tests and the curious: the state, and media counters

window.demo = {
  get ep() { return ep; },
  get call() { return call; },
  // Bytes sent and received per kind, from the call's getStats().
  async stats() {
    const r = {audio: {sent: 0, received: 0}, video: {sent: 0, received: 0}, state: null};
    if (!call || !call.pc) return r;
    r.state = call.pc.connectionState;
    for (const s of (await call.pc.getStats()).values()) {
      if (s.type === 'outbound-rtp' && r[s.kind]) r[s.kind].sent += s.bytesSent || 0;
      if (s.type === 'inbound-rtp' && r[s.kind]) r[s.kind].received += s.bytesReceived || 0;
    }
    return r;
  },
};

if (params.get('jid')) $('jid').value = params.get('jid');
if (params.get('service')) $('service').value = params.get('service');
