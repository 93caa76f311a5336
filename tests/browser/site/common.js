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
  },

  log(direction, text) {
    const s = typeof text === 'string' ? text : new XMLSerializer().serializeToString(text);
    console.log(`${direction} ${s}`);
    if (direction === 'OUT') T.state.out.push(s);
    // The SASL failure condition, whatever the library makes of it.
    const m = /<failure[^>]*urn:ietf:params:xml:ns:xmpp-sasl[^>]*>\s*<([a-z-]+)/.exec(s);
    if (direction === 'IN' && m) T.state.saslFailure = m[1];
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
