// window.client (see common.js) on Strophe.js 5: BOSH for an http(s) URL,
// WebSocket for a ws(s) URL, as Strophe decides by itself.
'use strict';

(() => {
  // The UMD build's exports object is window.Strophe until the library sets
  // window.Strophe (and $iq, $msg, $pres) to its own namespace objects.
  const lib = window.Strophe.Strophe ? window.Strophe : window;
  const {Strophe, $iq, $pres, $msg} = lib.Strophe === window.Strophe ? window : lib;
  const NS_ROSTER = 'jabber:iq:roster';
  let conn = null;

  const statusName = (s) => Object.keys(Strophe.Status).find((k) => Strophe.Status[k] === s) || String(s);

  function rosterItems(iq) {
    return Array.from(iq.getElementsByTagName('item')).map((it) => ({
      jid: it.getAttribute('jid'),
      subscription: it.getAttribute('subscription') || 'none',
      ask: it.getAttribute('ask'),
    }));
  }

  function sendIQ(iq, ms = 10000) {
    return new Promise((resolve, reject) => {
      conn.sendIQ(iq, resolve, (err) => reject(new Error(
        err ? `iq error: ${new XMLSerializer().serializeToString(err)}` : 'iq timeout')), ms);
    });
  }

  function handlers() {
    conn.addHandler((iq) => {
      // RFC 6121 2.1.6: a push from anyone but our own server is ignored.
      const from = iq.getAttribute('from');
      if (from && from !== T.bare(conn.jid) && from !== Strophe.getDomainFromJid(conn.jid)) return true;
      for (const it of rosterItems(iq)) {
        if (it.subscription === 'remove') T.removeRosterItem(it.jid);
        else T.setRosterItem(it.jid, it.subscription, it.ask);
      }
      conn.send($iq({type: 'result', id: iq.getAttribute('id')}));
      return true;
    }, NS_ROSTER, 'iq', 'set');
    conn.addHandler((p) => {
      const from = p.getAttribute('from');
      const type = p.getAttribute('type') || 'available';
      if (type === 'subscribe') T.subscribeRequest(from);
      else if (type === 'available' || type === 'unavailable') T.setPresence(from, type);
      return true;
    }, null, 'presence');
    conn.addHandler((m) => {
      const body = m.getElementsByTagName('body')[0];
      T.addMessage(m.getAttribute('from'), m.getAttribute('type'), body ? body.textContent : null);
      return true;
    }, null, 'message');
    // Any other iq get/set: an error, as RFC 6120 8.4 wants.
    conn.addHandler((iq) => {
      const type = iq.getAttribute('type');
      const child = iq.firstElementChild;
      if ((type === 'get' || type === 'set') && !(child && child.namespaceURI === NS_ROSTER)) {
        conn.send($iq({type: 'error', id: iq.getAttribute('id'), to: iq.getAttribute('from') || ''})
          .c('error', {type: 'cancel'})
          .c('service-unavailable', {xmlns: 'urn:ietf:params:xml:ns:xmpp-stanzas'}));
      }
      return true;
    }, null, 'iq');
  }

  window.client = {
    library: 'strophe.js',

    connect({url, jid, password}) {
      return new Promise((resolve, reject) => {
        conn = new Strophe.Connection(url);
        conn.xmlInput = (el) => T.log('IN', el);
        conn.xmlOutput = (el) => T.log('OUT', el);
        handlers();
        let settled = false;
        conn.connect(jid, password, (status, condition) => {
          console.log(`status ${statusName(status)}${condition ? ' ' + condition : ''}`);
          if (settled) return;
          if (status === Strophe.Status.CONNECTED) {
            settled = true;
            resolve({jid: conn.jid});
          } else if (status === Strophe.Status.AUTHFAIL) {
            settled = true;
            reject(new Error(`auth-failed: ${T.state.saslFailure || condition || 'unknown'}`));
          } else if ([Strophe.Status.CONNFAIL, Strophe.Status.ERROR, Strophe.Status.CONNTIMEOUT,
                      Strophe.Status.DISCONNECTED].includes(status)) {
            settled = true;
            reject(new Error(`connection failed: ${statusName(status)} ${condition || ''}`));
          }
        });
      });
    },

    async roster() {
      const res = await sendIQ($iq({type: 'get'}).c('query', {xmlns: NS_ROSTER}));
      const items = rosterItems(res);
      for (const it of items) T.setRosterItem(it.jid, it.subscription, it.ask);
      return items;
    },

    async online() {
      conn.send($pres());
    },

    async add(jid) {
      await sendIQ($iq({type: 'set'}).c('query', {xmlns: NS_ROSTER}).c('item', {jid, name: 'Contact'}));
      conn.send($pres({to: jid, type: 'subscribe'}));
    },

    async approve(jid) {
      conn.send($pres({to: jid, type: 'subscribed'}));
    },

    async send(to, body) {
      conn.send($msg({to, type: 'chat'}).c('body').t(body));
    },

    disconnect() {
      return new Promise((resolve) => {
        const t = setTimeout(() => resolve({clean: false}), 5000);
        const prev = conn.connect_callback;
        conn.connect_callback = (status, cond) => {
          if (prev) prev(status, cond);
          if (status === Strophe.Status.DISCONNECTED) {
            clearTimeout(t);
            resolve({clean: true});
          }
        };
        conn.disconnect('test done');
      });
    },
  };
})();
