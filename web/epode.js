// epode.js: log in to Epode from a web page, keep a roster, chat, and
// signal WebRTC calls with the JSON messages of docs/protocol.md.
//
// An ES module on top of Strophe.js (5.x), which the page loads first as a
// classic script (the global `Strophe`, `$iq`, `$pres`, `$msg`). No build
// step, no other dependency. The API is described in docs/web.md.
//
//   import {Epode} from './epode.js';
//   const ep = await Epode.connect({service: 'https://webrtc.example.com', jid, password});
//   const channel = new ep.SignalingChannel('bob@webrtc.example.com/phone');
//   channel.onmessage = ({data: {desc, candidate}}) => { ... };
//   await channel.send({desc: pc.localDescription});

const NS_ROSTER = 'jabber:iq:roster';
const NS_JSON = 'urn:xmpp:json:0';
const NS_EXTDISCO = 'urn:xmpp:extdisco:2';
const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
const NS_PING = 'urn:xmpp:ping';
const NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info';
const NS_JINGLE_ERRORS = 'urn:xmpp:jingle:errors:1';

// The members a signaling message may carry, exactly one per message.
const KINDS = ['desc', 'candidate', 'ring', 'accept', 'reject', 'bye'];
const SID_RE = /^[A-Za-z0-9._~-]{1,256}$/;
// Sessions closed on this side: late messages for them are refused rather
// than announced as new calls. Bounded: the oldest are forgotten.
const CLOSED_SIDS_MAX = 256;
const IQ_TIMEOUT_MS = 15000;
// Messages of one channel kept while it has no onmessage handler.
const PENDING_MAX = 512;

function lib() {
  const g = globalThis;
  if (!g.Strophe || !g.Strophe.Connection || !g.$iq) {
    throw new Error('epode.js needs Strophe.js loaded first (<script src="vendor/strophe.umd.min.js">)');
  }
  return {Strophe: g.Strophe, $iq: g.$iq, $pres: g.$pres, $msg: g.$msg};
}

function bare(jid) {
  const s = String(jid || '');
  const i = s.indexOf('/');
  return i < 0 ? s : s.slice(0, i);
}

function randomSid() {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

// The WebSocket and BOSH URLs for a service: a ws(s):// URL is the
// WebSocket endpoint itself (BOSH is /http-bind next to it); an http(s)://
// URL is a base under which both live.
function endpoints(service) {
  const u = new URL(service, globalThis.location ? globalThis.location.href : undefined);
  const secure = u.protocol === 'https:' || u.protocol === 'wss:';
  if (u.protocol === 'ws:' || u.protocol === 'wss:') {
    const dir = u.pathname.replace(/\/xmpp-websocket\/?$/, '').replace(/\/$/, '');
    return {websocket: u.href, bosh: `${secure ? 'https' : 'http'}://${u.host}${dir}/http-bind`};
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`service: unsupported URL ${service}`);
  const dir = u.pathname.replace(/\/$/, '');
  return {websocket: `${secure ? 'wss' : 'ws'}://${u.host}${dir}/xmpp-websocket`, bosh: `${u.origin}${dir}/http-bind`};
}

// An Error for a failed iq: condition and text from its <error/>, or the
// condition 'timeout' when no answer came.
function iqError(stanza, what) {
  if (!stanza) {
    const e = new Error(`${what}: no answer (timeout)`);
    e.condition = 'timeout';
    return e;
  }
  const err = stanza.getElementsByTagName('error')[0];
  let condition = 'undefined-condition';
  let text = '';
  if (err) {
    for (const c of Array.from(err.children)) {
      if (c.namespaceURI !== NS_STANZAS) continue;
      if (c.localName === 'text') text = c.textContent;
      else condition = c.localName;
    }
  }
  const e = new Error(`${what}: ${condition}${text ? `: ${text}` : ''}`);
  e.condition = condition;
  e.text = text;
  e.type = err ? err.getAttribute('type') : null;
  e.stanza = stanza;
  return e;
}

// The JSON form of one outgoing message; throws a TypeError on a message
// that is not one of docs/protocol.md's shapes.
function wireMessage(sid, msg) {
  if (!msg || typeof msg !== 'object') throw new TypeError('send: a message object is required');
  const kinds = KINDS.filter((k) => msg[k] !== undefined);
  if (kinds.length !== 1) throw new TypeError(`send: exactly one of ${KINDS.join(', ')} expected`);
  const k = kinds[0];
  const v = msg[k];
  const out = {sid};
  if (k === 'desc') {
    if (!v || typeof v.type !== 'string' || typeof v.sdp !== 'string') throw new TypeError('send: desc needs type and sdp');
    out.desc = {type: v.type, sdp: v.sdp};
  } else if (k === 'candidate') {
    // An RTCIceCandidate (or its init dictionary) as RTCIceCandidateInit;
    // null (or a candidate with no candidate line) is the end of candidates.
    if (v === null || v.candidate === null) {
      out.candidate = null;
    } else {
      out.candidate = {candidate: String(v.candidate), sdpMid: v.sdpMid ?? null, sdpMLineIndex: v.sdpMLineIndex ?? null};
    }
  } else {
    if (v === null || typeof v !== 'object') throw new TypeError(`send: ${k} must be an object`);
    out[k] = v;
  }
  return out;
}

// A parsed incoming message: {sid, data} or {error} (a text for bad-request).
function parseMessage(text) {
  let obj;
  try {
    obj = JSON.parse(text);
  } catch {
    return {error: 'the <json/> payload is not JSON'};
  }
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) return {error: 'the JSON payload is not an object'};
  if (typeof obj.sid !== 'string' || !SID_RE.test(obj.sid)) return {error: 'sid missing or not 1 to 256 of [A-Za-z0-9._~-]'};
  const kinds = KINDS.filter((k) => Object.prototype.hasOwnProperty.call(obj, k));
  if (kinds.length !== 1) return {error: `exactly one of ${KINDS.join(', ')} expected`};
  const data = {};
  data[kinds[0]] = obj[kinds[0]];
  return {sid: obj.sid, kind: kinds[0], data};
}

// One call's signaling with one peer (see docs/web.md). Created by the page
// with `new ep.SignalingChannel(peerJid, {sid})`, or by Epode for an
// incoming call (the 'call' event).
class SignalingChannel {
  constructor(ep, peer, {sid} = {}) {
    if (!peer) throw new TypeError('SignalingChannel: peer JID required');
    if (sid !== undefined && !SID_RE.test(String(sid))) throw new TypeError('SignalingChannel: sid must be 1 to 256 of [A-Za-z0-9._~-]');
    this.sid = sid === undefined ? randomSid() : String(sid);
    if (ep._channels.has(this.sid)) throw new Error(`SignalingChannel: sid ${this.sid} already in use`);
    this.peer = peer;
    this.closed = false;
    this._ep = ep;
    this._onmessage = null;
    this._pending = [];
    ep._channels.set(this.sid, this);
  }

  // Messages that arrive before a handler is set wait for it, in order.
  get onmessage() { return this._onmessage; }
  set onmessage(fn) {
    this._onmessage = fn;
    while (fn && this._pending.length && !this.closed) this._deliver(this._pending.shift());
  }

  _deliver(ev) {
    if (!this._onmessage) {
      this._pending.push(ev);
      return;
    }
    try {
      const r = this._onmessage(ev);
      if (r && typeof r.catch === 'function') r.catch((e) => console.error('epode: onmessage:', e));
    } catch (e) {
      console.error('epode: onmessage:', e);
    }
  }

  // Sends one message ({desc}, {candidate}, {ring}, {accept}, {reject},
  // {bye}) as an iq set to the peer. Resolves when the peer (or Epode)
  // answers with result; rejects with an Error carrying .condition and
  // .text when it answers with an error or not at all.
  send(msg) {
    if (this.closed) return Promise.reject(new Error('send: the channel is closed'));
    let wire;
    try {
      wire = wireMessage(this.sid, msg);
    } catch (e) {
      return Promise.reject(e);
    }
    const {$iq} = lib();
    const iq = $iq({type: 'set', to: this.peer}).c('json', {xmlns: NS_JSON}).t(JSON.stringify(wire));
    return this._ep._sendIQ(iq, `signaling ${Object.keys(wire).find((k) => k !== 'sid')} to ${this.peer}`).then(() => undefined);
  }

  // Forgets the channel: later messages with its sid are refused with
  // item-not-found. Sends nothing (send {bye} first to hang up).
  close() {
    if (this.closed) return;
    this.closed = true;
    this._pending = [];
    this._ep._channels.delete(this.sid);
    this._ep._rememberClosed(this.sid);
  }
}

export class Epode {
  // Logs in and resolves with a connected Epode once the roster is fetched
  // and the initial presence sent. Rejects with an Error whose .condition
  // is the SASL failure ('not-authorized') or 'connection-failed'.
  //   service   ws(s)://HOST/xmpp-websocket, or an http(s):// base; default
  //             the page's own origin
  //   jid       user@domain (or a bare domain with no password: ANONYMOUS)
  //   password  the password; null or omitted for ANONYMOUS
  //   transports  ['websocket', 'bosh'] by default: tried in that order,
  //             the next one only if the previous could not be opened
  //   resource  the resource to ask for (optional)
  static async connect({service, jid, password = null, transports = ['websocket', 'bosh'], resource} = {}) {
    if (!jid) throw new TypeError('connect: jid required');
    const urls = endpoints(service || globalThis.location.origin);
    let lastError = null;
    for (const t of transports) {
      if (!urls[t]) throw new TypeError(`connect: unknown transport ${t}`);
      const ep = new Epode();
      try {
        await ep._login(urls[t], t, resource ? `${bare(jid)}/${resource}` : jid, password);
      } catch (e) {
        lastError = e;
        // Only a transport that could not be opened moves on to the next;
        // a refused login is final.
        if (e.condition === 'connection-failed') continue;
        throw e;
      }
      await ep._start();
      return ep;
    }
    throw lastError || new Error('connect: no transport');
  }

  constructor() {
    this.jid = null;
    this.transport = null;
    this._conn = null;
    this._listeners = new Map();
    this._roster = new Map();
    this._presence = new Map();     // bare JID -> Map(full JID -> {show, status})
    this._channels = new Map();     // sid -> SignalingChannel
    this._closedSids = [];
    this._ice = null;               // {servers, until}
    const ep = this;
    this.SignalingChannel = class extends SignalingChannel {
      constructor(peer, opts) { super(ep, peer, opts); }
    };
  }

  _login(url, transport, jid, password) {
    const {Strophe} = lib();
    return new Promise((resolve, reject) => {
      const conn = new Strophe.Connection(url);
      this._conn = conn;
      let reached = false;        // the server answered: not a transport failure
      let settled = false;
      let saslFailure = null;
      conn.addHandler((el) => {
        const c = el.firstElementChild;
        saslFailure = c ? c.localName : 'not-authorized';
        return false;
      }, Strophe.NS.SASL, 'failure');
      conn.connect(jid, password, (status, condition) => {
        const S = Strophe.Status;
        if (status === S.AUTHENTICATING || status === S.AUTHFAIL || status === S.CONNECTED) reached = true;
        if (!settled) {
          if (status === S.CONNECTED) {
            settled = true;
            this.jid = conn.jid;
            this.transport = transport;
            resolve();
          } else if (status === S.AUTHFAIL || ((status === S.DISCONNECTED || status === S.CONNFAIL ||
                     status === S.ERROR || status === S.CONNTIMEOUT) && saslFailure)) {
            settled = true;
            const e = new Error(`login refused: ${saslFailure || condition || 'not-authorized'}`);
            e.condition = saslFailure || 'not-authorized';
            reject(e);
          } else if (status === S.CONNFAIL || status === S.ERROR || status === S.CONNTIMEOUT || status === S.DISCONNECTED) {
            settled = true;
            const e = new Error(`${transport} ${url}: ${condition || 'connection failed'}`);
            e.condition = reached ? (condition || 'disconnected') : 'connection-failed';
            reject(e);
          }
        } else if (status === S.DISCONNECTED) {
          this._emit('disconnected', {condition: condition || null});
        }
      });
    });
  }

  async _start() {
    const {Strophe} = lib();
    const conn = this._conn;
    conn.addHandler((iq) => this._onRosterPush(iq), NS_ROSTER, 'iq', 'set');
    conn.addHandler((p) => this._onPresence(p), null, 'presence');
    conn.addHandler((m) => this._onMessage(m), null, 'message');
    conn.addHandler((iq) => this._onIq(iq), null, 'iq');
    // Anonymous guests have an empty roster that cannot change.
    if (Strophe.getNodeFromJid(this.jid)) {
      const res = await this._sendIQ(lib().$iq({type: 'get'}).c('query', {xmlns: NS_ROSTER}), 'roster get');
      for (const it of res.getElementsByTagName('item')) this._setItem(it);
    }
    conn.send(lib().$pres());
  }

  // ---- events

  // Registers fn for an event: 'roster' (items), 'presence' ({jid, bare,
  // show, status, available}), 'subscribe' ({jid}), 'message' ({from, body,
  // type}), 'call' (channel, firstMessage), 'disconnected' ({condition}).
  on(name, fn) {
    if (!this._listeners.has(name)) this._listeners.set(name, new Set());
    this._listeners.get(name).add(fn);
    return this;
  }

  off(name, fn) {
    const s = this._listeners.get(name);
    if (s) s.delete(fn);
    return this;
  }

  _emit(name, ...args) {
    const s = this._listeners.get(name);
    if (!s) return 0;
    for (const fn of Array.from(s)) {
      try {
        fn(...args);
      } catch (e) {
        console.error(`epode: '${name}' listener:`, e);
      }
    }
    return s.size;
  }

  // ---- roster and presence

  // The roster: [{jid, name, subscription, ask, groups}].
  roster() {
    return Array.from(this._roster.values(), (it) => ({...it, groups: [...it.groups]}));
  }

  // The available resources of a bare JID: [{jid, show, status}].
  resources(bareJid) {
    const m = this._presence.get(bare(bareJid));
    return m ? Array.from(m, ([jid, p]) => ({jid, show: p.show, status: p.status})) : [];
  }

  // Adds jid to the roster (with an optional name) and asks for its
  // presence. Resolves when the roster set is acknowledged.
  async addContact(jid, name) {
    const {$iq, $pres} = lib();
    const item = {jid: bare(jid)};
    if (name) item.name = name;
    await this._sendIQ($iq({type: 'set'}).c('query', {xmlns: NS_ROSTER}).c('item', item), 'roster set');
    this._conn.send($pres({to: bare(jid), type: 'subscribe'}));
  }

  // Lets jid see our presence (answers its subscription request, or
  // approves it in advance).
  approve(jid) {
    this._conn.send(lib().$pres({to: bare(jid), type: 'subscribed'}));
  }

  // Refuses a subscription request (or cancels a granted one).
  deny(jid) {
    this._conn.send(lib().$pres({to: bare(jid), type: 'unsubscribed'}));
  }

  // Removes jid from the roster (which cancels both subscriptions).
  async removeContact(jid) {
    const {$iq} = lib();
    await this._sendIQ($iq({type: 'set'}).c('query', {xmlns: NS_ROSTER}).c('item', {jid: bare(jid), subscription: 'remove'}), 'roster remove');
  }

  // Sends a chat message.
  sendMessage(jid, body) {
    this._conn.send(lib().$msg({to: jid, type: 'chat'}).c('body').t(String(body)));
  }

  _setItem(el) {
    const jid = el.getAttribute('jid');
    if (!jid) return;
    if (el.getAttribute('subscription') === 'remove') {
      this._roster.delete(jid);
      return;
    }
    this._roster.set(jid, {
      jid,
      name: el.getAttribute('name') || '',
      subscription: el.getAttribute('subscription') || 'none',
      ask: el.getAttribute('ask') || null,
      groups: Array.from(el.getElementsByTagName('group'), (g) => g.textContent),
    });
  }

  _onRosterPush(iq) {
    // RFC 6121 2.1.6: pushes come from our own account only.
    const from = iq.getAttribute('from');
    if (from && from !== bare(this.jid)) return true;
    for (const it of iq.getElementsByTagName('item')) this._setItem(it);
    this._conn.send(lib().$iq({type: 'result', id: iq.getAttribute('id')}));
    this._emit('roster', this.roster());
    return true;
  }

  _onPresence(p) {
    const from = p.getAttribute('from');
    if (!from) return true;
    const type = p.getAttribute('type');
    if (type === 'subscribe') {
      this._emit('subscribe', {jid: bare(from)});
      return true;
    }
    if (type && type !== 'unavailable') return true;
    const b = bare(from);
    const child = (n) => {
      const e = Array.from(p.children).find((c) => c.localName === n);
      return e ? e.textContent : null;
    };
    const available = type !== 'unavailable';
    let m = this._presence.get(b);
    if (available) {
      if (!m) this._presence.set(b, m = new Map());
      m.set(from, {show: child('show'), status: child('status')});
    } else if (m) {
      // Unavailable from a bare JID: every resource of it is gone.
      if (from === b) m.clear(); else m.delete(from);
      if (!m.size) this._presence.delete(b);
    }
    this._emit('presence', {jid: from, bare: b, show: available ? child('show') : null,
      status: child('status'), available});
    return true;
  }

  _onMessage(m) {
    const body = Array.from(m.children).find((c) => c.localName === 'body');
    if (body && m.getAttribute('type') !== 'error') {
      this._emit('message', {from: m.getAttribute('from'), body: body.textContent, type: m.getAttribute('type') || 'normal'});
    }
    return true;
  }

  // ---- iqs

  _sendIQ(iq, what) {
    return new Promise((resolve, reject) => {
      if (!this._conn || !this._conn.connected) {
        const e = new Error(`${what}: not connected`);
        e.condition = 'not-connected';
        reject(e);
        return;
      }
      this._conn.sendIQ(iq, resolve, (err) => reject(iqError(err, what)), IQ_TIMEOUT_MS);
    });
  }

  _reply(iq) {
    this._conn.send(lib().$iq({type: 'result', id: iq.getAttribute('id'), to: iq.getAttribute('from')}));
  }

  _replyError(iq, type, condition, text, appCondition) {
    const e = lib().$iq({type: 'error', id: iq.getAttribute('id'), to: iq.getAttribute('from')})
      .c('error', {type}).c(condition, {xmlns: NS_STANZAS}).up();
    if (text) e.c('text', {xmlns: NS_STANZAS}).t(text).up();
    if (appCondition) e.c(appCondition.name, {xmlns: appCondition.ns});
    this._conn.send(e);
  }

  _rememberClosed(sid) {
    this._closedSids.push(sid);
    if (this._closedSids.length > CLOSED_SIDS_MAX) this._closedSids.shift();
  }

  // Every iq get or set not handled elsewhere is answered (RFC 6120 8.2.3):
  // signaling, ping, disco#info; anything else service-unavailable.
  _onIq(iq) {
    const type = iq.getAttribute('type');
    if (type !== 'get' && type !== 'set') return true;
    const child = iq.firstElementChild;
    const ns = child ? child.namespaceURI || child.getAttribute('xmlns') : null;
    if (ns === NS_ROSTER) return true;
    if (type === 'set' && ns === NS_JSON && child.localName === 'json') {
      this._onSignaling(iq, child);
    } else if (type === 'get' && ns === NS_PING) {
      this._reply(iq);
    } else if (type === 'get' && ns === NS_DISCO_INFO && !child.getAttribute('node')) {
      const r = lib().$iq({type: 'result', id: iq.getAttribute('id'), to: iq.getAttribute('from')})
        .c('query', {xmlns: NS_DISCO_INFO})
        .c('identity', {category: 'client', type: 'web', name: 'epode.js'}).up();
      for (const f of [NS_DISCO_INFO, NS_PING, NS_JSON]) r.c('feature', {var: f}).up();
      this._conn.send(r);
    } else {
      this._replyError(iq, 'cancel', 'service-unavailable');
    }
    return true;
  }

  _onSignaling(iq, json) {
    const from = iq.getAttribute('from');
    const msg = parseMessage(json.textContent);
    if (msg.error) {
      this._replyError(iq, 'modify', 'bad-request', msg.error);
      return;
    }
    const unknown = () => this._replyError(iq, 'cancel', 'item-not-found', 'no such session',
      {name: 'unknown-session', ns: NS_JINGLE_ERRORS});
    let ch = this._channels.get(msg.sid);
    if (ch) {
      // A channel to a bare JID learns the full JID of the device that
      // answers; only the peer may act on the call.
      if (ch.peer === bare(ch.peer) && bare(from) === ch.peer) ch.peer = from;
      if (from !== ch.peer && from !== bare(ch.peer)) {
        unknown();
        return;
      }
      // Messages wait for a handler in a bounded queue: a page that never
      // sets onmessage does not collect a peer's messages without end.
      if (!ch._onmessage && ch._pending.length >= PENDING_MAX) {
        this._replyError(iq, 'wait', 'resource-constraint', 'too many messages waiting for this call');
        return;
      }
      this._reply(iq);
      ch._deliver({data: msg.data, from, sid: msg.sid});
      return;
    }
    if (this._closedSids.includes(msg.sid)) {
      unknown();
      return;
    }
    // A new sid is a new call, announced only to a page that listens.
    const listeners = this._listeners.get('call');
    if (!listeners || !listeners.size) {
      this._replyError(iq, 'cancel', 'service-unavailable', 'this client does not take calls');
      return;
    }
    ch = new this.SignalingChannel(from, {sid: msg.sid});
    this._reply(iq);
    this._emit('call', ch, msg.data);
  }

  // ---- ICE servers (XEP-0215)

  // RTCConfiguration.iceServers from Epode's STUN and TURN servers
  // (XEP-0215 on the user's domain), cached until the first TURN
  // credential is a minute from expiry. Resolves with [] when the domain
  // offers none or does not answer the request.
  async iceServers() {
    if (this._ice && Date.now() < this._ice.until) return this._ice.servers.map((s) => ({...s}));
    const {$iq, Strophe} = lib();
    let res;
    try {
      res = await this._sendIQ($iq({type: 'get', to: Strophe.getDomainFromJid(this.jid)}).c('services', {xmlns: NS_EXTDISCO}), 'external services');
    } catch (e) {
      if (e.condition === 'not-connected') throw e;
      return [];
    }
    const servers = [];
    let until = Date.now() + 3600 * 1000;
    for (const s of res.getElementsByTagName('service')) {
      const type = s.getAttribute('type');
      if (type !== 'stun' && type !== 'turn' && type !== 'turns') continue;
      let host = s.getAttribute('host');
      if (!host) continue;
      if (host.includes(':') && !host.startsWith('[')) host = `[${host}]`;
      const port = s.getAttribute('port');
      const transport = s.getAttribute('transport');
      let url = `${type}:${host}${port ? `:${port}` : ''}`;
      if (type !== 'stun' && transport) url += `?transport=${transport}`;
      const entry = {urls: url};
      if (s.getAttribute('username')) entry.username = s.getAttribute('username');
      if (s.getAttribute('password')) entry.credential = s.getAttribute('password');
      const expires = Date.parse(s.getAttribute('expires') || '');
      if (!Number.isNaN(expires)) until = Math.min(until, expires - 60 * 1000);
      servers.push(entry);
    }
    this._ice = {servers, until};
    return servers.map((s) => ({...s}));
  }

  // Ends the session (unavailable presence, stream close). Resolves when
  // the transport is closed, or after 5 s.
  disconnect() {
    return new Promise((resolve) => {
      if (!this._conn || !this._conn.connected) {
        resolve();
        return;
      }
      const t = setTimeout(resolve, 5000);
      this.on('disconnected', () => {
        clearTimeout(t);
        resolve();
      });
      this._conn.disconnect('logout');
    });
  }
}

export default Epode;
