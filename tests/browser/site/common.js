// What every test page shares: the state a client library's events fill
// in, read by the runner (tests/browser/run.mjs) through page.evaluate, and
// a log of the XML each side sent, printed to the console (the runner keeps
// the console of each page in a file).
//
// A page defines window.client with the same async methods whatever the
// library underneath:
//   connect({url, jid, password})  -> {jid}   full JID bound; rejects with
//        Error('auth-failed: CONDITION') when SASL fails, or another Error
//   roster()        -> [{jid, subscription, ask}]   after a roster get
//   online()        initial presence
//   add(jid)        roster set, then presence subscribe
//   approve(jid)    presence subscribed
//   send(to, body)  chat message
//   disconnect()
'use strict';

window.T = {
  state: {
    roster: {},            // bare JID -> {subscription, ask}
    presence: {},          // bare JID -> {full JID -> 'available'|'unavailable'}
    messages: [],          // {from, type, body}
    subscribeRequests: [], // bare JIDs that asked to subscribe
    saslFailure: null,     // the condition of a SASL <failure/>, if any
    out: [],               // everything sent, as text
    violations: [],        // stanzas received not qualified as RFC 6120 says
  },

  log(direction, text) {
    const s = typeof text === 'string' ? text : new XMLSerializer().serializeToString(text);
    console.log(`${direction} ${s}`);
    if (direction === 'OUT') T.state.out.push(s);
    if (direction === 'IN') T.inspect(text);
    // The SASL failure condition, whatever the library makes of it.
    const m = /<failure[^>]*urn:ietf:params:xml:ns:xmpp-sasl[^>]*>\s*<([a-z-]+)/.exec(s);
    if (direction === 'IN' && m) T.state.saslFailure = m[1];
  },

  // Checks the namespaces of what the server sent (an element, or the text
  // of one WebSocket frame or BOSH body): a stanza must be qualified by
  // jabber:client (RFC 6120 4.8.3; RFC 7395 3.3.3: each WebSocket message is
  // a document of its own; XEP-0206 for stanzas inside a BOSH body), and so
  // must the children of message and presence defined there (body,
  // subject, thread, show, status, priority); xml:lang keeps its prefix.
  // Clients differ in how much of this they forgive: StanzaJS drops a
  // stanza in no namespace. Violations are collected, not thrown.
  inspect(x) {
    let el = x;
    if (typeof x === 'string') {
      if (!/^\s*</.test(x) || /^\s*<(open|close)\b/.test(x)) return;
      el = new DOMParser().parseFromString(x, 'text/xml').documentElement;
      if (!el || el.getElementsByTagName('parsererror').length) return;
    }
    const stanzas = el.localName === 'body' && el.namespaceURI === 'http://jabber.org/protocol/httpbind'
      ? Array.from(el.children) : [el];
    const CLIENT = 'jabber:client';
    for (const st of stanzas) {
      if (!['message', 'presence', 'iq'].includes(st.localName)) continue;
      const text = new XMLSerializer().serializeToString(st).slice(0, 300);
      const bad = [];
      if (st.namespaceURI !== CLIENT) bad.push(`<${st.localName}/> in namespace ${st.namespaceURI || '(none)'}`);
      if (st.hasAttribute('lang')) bad.push('a "lang" attribute (xml:lang without its prefix)');
      if (st.localName !== 'iq') {
        for (const c of st.children) {
          if (['body', 'subject', 'thread', 'show', 'status', 'priority'].includes(c.localName) && c.namespaceURI !== CLIENT) {
            bad.push(`<${c.localName}/> in namespace ${c.namespaceURI || '(none)'}`);
          }
        }
      }
      if (bad.length && T.state.violations.length < 20) T.state.violations.push(`${bad.join(', ')}: ${text}`);
    }
  },

  // Did the page send something that matches re?
  sent(re) {
    return T.state.out.some((s) => re.test(s));
  },

  bare(jid) {
    return String(jid).split('/')[0];
  },

  setRosterItem(jid, subscription, ask) {
    T.state.roster[T.bare(jid)] = {subscription: subscription || 'none', ask: ask || null};
  },

  removeRosterItem(jid) {
    delete T.state.roster[T.bare(jid)];
  },

  setPresence(from, type) {
    const b = T.bare(from);
    (T.state.presence[b] = T.state.presence[b] || {})[from] = type;
  },

  addMessage(from, type, body) {
    T.state.messages.push({from: String(from), type: type || 'normal', body});
  },

  subscribeRequest(from) {
    T.state.subscribeRequests.push(T.bare(from));
  },

  // Is any resource of `bare` available?
  available(bare) {
    const p = T.state.presence[bare] || {};
    return Object.values(p).includes('available');
  },

  // Opens an XMPP WebSocket (RFC 7395) to url and sends <open/> for domain;
  // resolves with what happened within 5 s: {opened, code, got: [frames]}.
  probeWebSocket(url, domain) {
    return new Promise((resolve) => {
      const got = [];
      let opened = false;
      const ws = new WebSocket(url, 'xmpp');
      const done = (code) => { resolve({opened, code, got}); try { ws.close(); } catch (e) { /* closed */ } };
      ws.onopen = () => {
        opened = true;
        ws.send(`<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='${domain}' version='1.0'/>`);
      };
      ws.onmessage = (m) => {
        got.push(String(m.data));
        if (/<stream:features|<features/.test(String(m.data))) done('features received');
      };
      ws.onclose = (c) => done(c.code);
      setTimeout(() => done('still open after 5 s'), 5000);
    });
  },

  // Sends a BOSH session creation request (XEP-0206) to url; when a session
  // is created, terminates it. Resolves with 'refused: ...' when the
  // browser refused the request (CORS), else 'HTTP status body'.
  async probeBosh(url, domain) {
    const post = (body) => fetch(url, {method: 'POST', headers: {'Content-Type': 'text/xml; charset=utf-8'}, body});
    let res;
    try {
      res = await post(`<body xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh' rid='1000' to='${domain}' wait='10' hold='1' ver='1.6' xmpp:version='1.0'/>`);
    } catch (e) {
      return `refused: ${e.message}`;
    }
    const text = await res.text();
    const sid = /\ssid=['"]([^'"]+)/.exec(text);
    if (sid) {
      await post(`<body xmlns='http://jabber.org/protocol/httpbind' rid='1001' sid='${sid[1]}' type='terminate'/>`).catch(() => {});
    }
    return `HTTP ${res.status} ${text}`;
  },

  // Resolves when fn() is truthy, rejects after ms with `what`.
  until(fn, ms, what) {
    return new Promise((resolve, reject) => {
      const t0 = Date.now();
      const tick = () => {
        let v;
        try { v = fn(); } catch (e) { return reject(e); }
        if (v) return resolve(v);
        if (Date.now() - t0 > ms) return reject(new Error(`timeout: ${what}`));
        setTimeout(tick, 50);
      };
      tick();
    });
  },
};
