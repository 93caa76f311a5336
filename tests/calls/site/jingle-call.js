// The "Jingle IM client" of the call tests: StanzaJS 12 (bundled by run.mjs
// into lib/stanza.bundle.js, global XMPP) logged in to the real ejabberd or
// Prosody over WebSocket, with its own Jingle stack (client.jingle,
// MediaSession on RTCPeerConnection). The runner drives it through
// window.J; every stanza both ways goes to the console (the runner keeps
// the console in logs/SCENARIO-jingle.log).
'use strict';

(() => {
  const NS_JMI = 'urn:xmpp:jingle-message:0';
  const J = {
    client: null,
    jid: null,
    calls: new Map(),   // sid -> record (see track())
    events: [],         // [ms since load, text]
    autoAccept: true,
    jmi: false,         // answer XEP-0353 propose with proceed (the page, not StanzaJS)
    proposes: [],
    proceeds: {},       // sid -> resolve(full JID) for the page's own propose
  };
  window.J = J;
  const t0 = performance.now();
  const note = (text) => {
    J.events.push([Math.round(performance.now() - t0), text]);
    console.log(`J: ${text}`);
  };

  // One record per session, what the runner reads.
  function track(s, role) {
    const rec = {
      sid: s.sid, peer: s.peerID, role, started: performance.now(), connectedMs: null,
      state: 'pending', ended: null, accepted: false, dc: null, dcMessages: [], session: s,
    };
    J.calls.set(s.sid, rec);
    s.pc.addEventListener('connectionstatechange', () => {
      note(`${s.sid}: connectionState ${s.pc.connectionState}`);
      if (s.pc.connectionState === 'connected' && rec.connectedMs === null) {
        rec.connectedMs = Math.round(performance.now() - rec.started);
      }
    });
    s.pc.addEventListener('datachannel', (e) => useChannel(rec, e.channel));
    return rec;
  }

  // Data channel: every message received is kept and echoed back.
  function useChannel(rec, dc) {
    rec.dc = dc;
    dc.onopen = () => note(`${rec.sid}: data channel open`);
    dc.onmessage = (m) => {
      rec.dcMessages.push(String(m.data));
      note(`${rec.sid}: data channel got ${m.data}`);
      if (!String(m.data).startsWith('echo:')) dc.send(`echo:${m.data}`);
    };
  }

  const hasMedia = (pc, kind) => !!(pc.remoteDescription && new RegExp(`^m=${kind} `, 'm').test(pc.remoteDescription.sdp));

  async function onIncoming(s) {
    const rec = track(s, 'responder');
    note(`${s.sid}: incoming from ${s.peerID}`);
    if (!J.autoAccept) return;
    const kinds = ['audio', 'video'].filter((k) => hasMedia(s.pc, k));
    if (kinds.length) {
      const stream = await M.stream(kinds);
      for (const t of stream.getTracks()) await s.addTrack(t, stream);
    }
    await s.accept();
    rec.accepted = true;
    rec.state = 'active';
    note(`${s.sid}: accepted (${kinds.join('+') || 'data only'})`);
  }

  J.connect = ({url, jid, password, resource}) => new Promise((resolve, reject) => {
    const {createClient, Jingle} = XMPP;
    const client = createClient({
      jid, password, resource,
      transports: {websocket: url, bosh: false},
      jingle: {
        hasRTCPeerConnection: true,
        iceServers: [],
        // StanzaJS only makes a MediaSession for RTP contents; a
        // data-channel-only offer (no description) must get one too.
        prepareSession: (opts) => new Jingle.MediaSession(opts),
      },
    });
    J.client = client;
    client.stanzas.define([
      {element: 'propose', namespace: NS_JMI, path: 'message.jmiPropose', fields: {id: XMPP.JXT.attribute('id')}},
      {element: 'proceed', namespace: NS_JMI, path: 'message.jmiProceed', fields: {id: XMPP.JXT.attribute('id')}},
    ]);
    client.on('raw:incoming', (d) => console.log(`IN ${d}`));
    client.on('raw:outgoing', (d) => console.log(`OUT ${d}`));
    client.on('jingle:incoming', (s) => onIncoming(s).catch((e) => note(`${s.sid}: accept failed: ${e && e.message}`)));
    client.on('jingle:accepted', (s) => {
      const rec = J.calls.get(s.sid);
      if (rec) {
        rec.accepted = true;
        rec.state = 'active';
      }
      note(`${s.sid}: session-accept processed`);
    });
    client.on('jingle:terminated', (s, reason) => {
      const rec = J.calls.get(s.sid);
      const r = reason && (reason.condition || reason);
      if (rec) {
        rec.state = 'ended';
        rec.ended = {reason: typeof r === 'string' ? r : JSON.stringify(r || null), at: Math.round(performance.now() - t0)};
      }
      note(`${s.sid}: terminated (${JSON.stringify(reason || null)})`);
    });
    client.jingle.on('log', (level, msg, ...args) => {
      if (level === 'error') console.log(`jingle error: ${msg} ${args.map((a) => String(a && a.message || JSON.stringify(a))).join(' ')}`);
    });
    client.on('message', (m) => {
      if (m.jmiProceed && J.proceeds[m.jmiProceed.id]) {
        note(`proceed ${m.jmiProceed.id} from ${m.from}`);
        J.proceeds[m.jmiProceed.id](m.from);
      }
      if (m.jmiPropose) {
        J.proposes.push({from: m.from, id: m.jmiPropose.id});
        note(`propose ${m.jmiPropose.id} from ${m.from}`);
        if (J.jmi) client.sendMessage({to: m.from, type: 'chat', jmiProceed: {id: m.jmiPropose.id}});
      }
    });
    client.on('session:started', () => {
      J.jid = client.jid;
      client.sendPresence();
      resolve(client.jid);
    });
    client.on('auth:failed', () => reject(new Error('auth failed')));
    client.on('disconnected', () => reject(new Error('disconnected before the session started')));
    client.connect();
  });

  // Calls `peer` (a full JID): audio+video, or a data channel only.
  J.call = async (peer, {media = ['audio', 'video'], data = false} = {}) => {
    const stream = media.length ? await M.stream(media) : undefined;
    const s = J.client.jingle.createMediaSession(peer, undefined, stream);
    const rec = track(s, 'initiator');
    if (data) useChannel(rec, s.pc.createDataChannel('chat'));
    await s.start();
    note(`${s.sid}: session-initiate sent to ${peer}`);
    return s.sid;
  };

  // XEP-0353 as a caller, which StanzaJS lacks: the page sends propose to
  // a bare JID, and the first device to proceed gets StanzaJS's
  // session-initiate with the same sid.
  J.propose = async (bare, {media = ['audio', 'video']} = {}) => {
    const sid = `jmi${Math.random().toString(36).slice(2, 12)}`;
    const proceeded = new Promise((resolve) => { J.proceeds[sid] = resolve; });
    J.client.sendMessage({to: bare, type: 'chat', jmiPropose: {id: sid}});
    note(`propose ${sid} sent to ${bare}`);
    const device = await proceeded;
    const stream = await M.stream(media);
    const s = J.client.jingle.createMediaSession(device, sid, stream);
    track(s, 'initiator');
    await s.start();
    note(`${s.sid}: session-initiate sent to ${device} after proceed`);
    return {sid: s.sid, device};
  };

  J.hangup = (sid, reason = 'success') => {
    const rec = J.calls.get(sid);
    rec.session.end(reason);
    rec.state = 'ended';
    rec.ended = {reason, at: Math.round(performance.now() - t0), local: true};
  };

  // StanzaJS restarts ICE only as the initiator (a transport-info with new
  // credentials, XEP-0176).
  J.restartIce = (sid) => J.calls.get(sid).session.restartIce();
  const ufrag = (d) => (d ? (d.sdp.match(/a=ice-ufrag:(\S+)/) || [])[1] : null);
  J.ufrags = (sid) => {
    const pc = J.calls.get(sid).session.pc;
    return {local: ufrag(pc.localDescription), remote: ufrag(pc.remoteDescription), restarting: J.calls.get(sid).session.restartingIce};
  };

  J.send = (sid, text) => J.calls.get(sid).dc.send(text);

  // What the runner checks, without the live objects.
  J.info = (sid) => {
    const r = J.calls.get(sid);
    if (!r) return null;
    const {session, dc, ...rest} = r;
    return {...rest, connectionState: session.pc.connectionState, dcState: dc ? dc.readyState : null,
      sessionState: session.state, remoteSdp: session.pc.remoteDescription && session.pc.remoteDescription.sdp};
  };
  J.sids = () => Array.from(J.calls.keys());
  J.stats = (sid) => M.stats(J.calls.get(sid).session.pc);
})();
