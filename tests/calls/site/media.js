// Shared by both test pages: the fake camera and microphone, and byte
// counters from getStats(). A classic script: defines window.M.
'use strict';

window.M = {
  // The fake devices (Chromium --use-fake-device-for-media-stream, Firefox
  // media.navigator.streams.fake).
  stream(kinds) {
    return navigator.mediaDevices.getUserMedia({audio: kinds.includes('audio'), video: kinds.includes('video')});
  },

  // Bytes sent and received per media kind on `pc`, summed over its RTP
  // streams, plus the addresses of the selected candidate pair and the
  // ICE ufrag of its local candidate (which changes with an ICE restart).
  async stats(pc) {
    const out = {audio: {sent: 0, received: 0}, video: {sent: 0, received: 0}, pair: null, pairUfrag: null};
    if (!pc) return out;
    const report = await pc.getStats();
    const byId = new Map();
    report.forEach((s) => byId.set(s.id, s));
    // The selected pair: the transport's selectedCandidatePairId (after an
    // ICE restart the old nominated pair is still listed), else a
    // succeeded pair marked selected or nominated (Firefox).
    let pairId = null;
    report.forEach((s) => {
      if (s.type === 'transport' && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId;
    });
    report.forEach((s) => {
      const kind = s.kind || s.mediaType;
      if (s.type === 'outbound-rtp' && out[kind]) out[kind].sent += s.bytesSent || 0;
      if (s.type === 'inbound-rtp' && out[kind]) out[kind].received += s.bytesReceived || 0;
      if (!pairId && s.type === 'candidate-pair' && (s.selected || s.nominated) && s.state === 'succeeded') pairId = s.id;
    });
    const p = byId.get(pairId);
    const l = p && byId.get(p.localCandidateId);
    const r = p && byId.get(p.remoteCandidateId);
    if (l && r) {
      out.pair = `${l.address || l.ip}:${l.port} ${l.candidateType} -> ${r.address || r.ip}:${r.port} ${r.candidateType}`;
      out.pairUfrag = l.usernameFragment || null;
    }
    return out;
  },
};
