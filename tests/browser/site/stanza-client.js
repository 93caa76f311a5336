// window.client (see common.js) on StanzaJS 12 (bundled for the browser by
// run.mjs prepare into lib/stanza.bundle.js, global XMPP), WebSocket or
// BOSH as the URL says.
'use strict';

(() => {
  let client = null;

  function record(items) {
    for (const it of items || []) {
      if (it.subscription === 'remove') T.removeRosterItem(it.jid);
      else T.setRosterItem(it.jid, it.subscription, it.pending === 'out' ? 'subscribe' : null);
    }
  }

  window.client = {
    library: 'stanza',

    connect({url, jid, password}) {
      const ws = /^wss?:/.test(url);
      client = XMPP.createClient({
        jid, password,
        transports: ws ? {websocket: url, bosh: false} : {websocket: false, bosh: url},
      });
      client.on('raw:incoming', (d) => T.log('IN', d));
      client.on('raw:outgoing', (d) => T.log('OUT', d));
      client.on('roster:update', (iq) => record(iq.roster && iq.roster.items));
      client.on('subscribe', (p) => T.subscribeRequest(p.from));
      client.on('available', (p) => T.setPresence(p.from, 'available'));
      client.on('unavailable', (p) => T.setPresence(p.from, 'unavailable'));
      client.on('message', (m) => T.addMessage(m.from, m.type, m.body === undefined ? null : m.body));
      return new Promise((resolve, reject) => {
        client.on('session:started', () => resolve({jid: client.jid}));
        client.on('auth:failed', () => reject(new Error(`auth-failed: ${T.state.saslFailure || 'unknown'}`)));
        client.on('stream:error', (e) => reject(new Error(`stream error: ${e && e.condition}`)));
        client.on('disconnected', () => reject(new Error('disconnected before the session started')));
        client.connect();
      });
    },

    async roster() {
      const res = await client.getRoster();
      record(res.items);
      return (res.items || []).map((it) => ({
        jid: it.jid, subscription: it.subscription || 'none', ask: it.pending === 'out' ? 'subscribe' : null,
      }));
    },

    async online() {
      client.sendPresence();
    },

    async add(jid) {
      await client.updateRosterItem({jid, name: 'Contact'});
      client.subscribe(jid);
    },

    async approve(jid) {
      client.acceptSubscription(jid);
    },

    async send(to, body) {
      client.sendMessage({to, type: 'chat', body});
    },

    disconnect() {
      return new Promise((resolve) => {
        const t = setTimeout(() => resolve({clean: false}), 5000);
        client.on('disconnected', () => { clearTimeout(t); resolve({clean: true}); });
        client.disconnect();
      });
    },
  };
})();
