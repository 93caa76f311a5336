// window.client (see common.js) on converse.js 14, its full UI included.
// converse.js does by itself what the other pages do by hand: it fetches the
// roster and sends initial presence after login, and authorizes a contact
// it asked to subscribe to when that contact subscribes back. So roster()
// reads converse's roster, online() and approve() only check that converse
// did its part. A plugin (whitelisted) reaches its API.
import converse from './lib/converse/converse.min.js';

let api = null;
let ready = null;

converse.plugins.add('epode-test', {
  initialize() {
    api = this._converse.api;
    api.listen.on('connectionInitialized', () => {
      const c = api.connection.get();
      c.xmlInput = (el) => T.log('IN', el);
      c.xmlOutput = (el) => T.log('OUT', el);
    });
    api.listen.on('contactRequest', (contact) => T.subscribeRequest(contact.get('jid')));
    api.listen.on('message', (data) => {
      const a = data.attrs || {};
      if (a.body) T.addMessage(a.from, a.type, a.body);
    });
    // Raw presence too: converse folds contact requests it answers by itself
    // into its roster without an event.
    api.listen.on('connected', () => {
      api.connection.get().addHandler((p) => {
        const type = p.getAttribute('type') || 'available';
        const from = p.getAttribute('from');
        if (type === 'subscribe') T.subscribeRequest(from);
        else if (type === 'available' || type === 'unavailable') T.setPresence(from, type);
        return true;
      }, null, 'presence');
      if (ready) ready.resolve({jid: api.connection.get().jid});
    });
    api.listen.on('disconnected', () => {
      if (ready) ready.reject(new Error(`disconnected: ${T.state.saslFailure ? 'auth-failed: ' + T.state.saslFailure : 'before login'}`));
    });
  },
});

async function contacts() {
  const list = await api.contacts.get();
  return list.map((c) => ({jid: c.get('jid'), subscription: c.get('subscription') || 'none', ask: c.get('ask') || null,
                           presence: c.presence ? c.presence.get('presence') : null}));
}

window.client = {
  library: 'converse.js',

  connect({url, jid, password}) {
    const ws = /^wss?:/.test(url);
    let resolve, reject;
    const p = new Promise((res, rej) => { resolve = res; reject = rej; });
    ready = {resolve: (v) => { ready = null; resolve(v); }, reject: (e) => { ready = null; reject(e); }};
    converse.initialize({
      ...(ws ? {websocket_url: url} : {bosh_service_url: url}),
      jid, password,
      auto_login: true,
      auto_reconnect: false,
      discover_connection_methods: false,
      whitelisted_plugins: ['epode-test'],
      view_mode: 'fullscreen',
      loglevel: 'info',
      play_sounds: false,
      show_desktop_notifications: false,
      persistent_store: 'sessionStorage',
      i18n: 'en',
    });
    return p;
  },

  async roster() {
    await api.waitUntil('rosterContactsFetched');
    const list = await contacts();
    for (const c of list) T.setRosterItem(c.jid, c.subscription, c.ask);
    // From now on, follow converse's roster as it changes.
    setInterval(async () => {
      for (const c of await contacts()) T.setRosterItem(c.jid, c.subscription, c.ask);
    }, 100);
    return list;
  },

  async online() {
    // converse sends its initial presence by itself after the roster.
    await T.until(() => T.sent(/<presence(?![^>]*\s(?:to|type)=)[\s>\/]/), 10000, 'converse sends initial presence');
  },

  async add(jid) {
    await api.contacts.add({jid, nickname: 'Contact'});
  },

  async approve(jid) {
    // converse authorizes a contact it asked to by itself: wait to see it.
    const re = new RegExp(`<presence[^>]*\\sto="${jid.replace(/[.]/g, '\\.')}"[^>]*type="subscribed"|<presence[^>]*type="subscribed"[^>]*\\sto="${jid.replace(/[.]/g, '\\.')}"`);
    await T.until(() => T.sent(re), 10000, 'converse sends subscribed');
  },

  async send(to, body) {
    const chat = await api.chats.open(to);
    await chat.sendMessage({body});
  },

  // The contact as converse shows it in its roster (the DOM).
  rosterText() {
    const el = document.querySelector('converse-roster');
    return el ? el.textContent.replace(/\s+/g, ' ') : '';
  },

  async disconnect() {
    const t0 = Date.now();
    await Promise.race([api.user.logout(), new Promise((r) => setTimeout(r, 5000))]);
    return {clean: Date.now() - t0 < 5000};
  },
};
