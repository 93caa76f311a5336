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
  // streams, plus the addresses of the selected candidate pair.
  async stats(pc) {
    const out = {audio: {sent: 0, received: 0}, video: {sent: 0, received: 0}, pair: null};
    if (!pc) return out;
    const report = await pc.getStats();
    const byId = new Map();
    report.forEach((s) => byId.set(s.id, s));
    report.forEach((s) => {
      const kind = s.kind || s.mediaType;
      if (s.type === 'outbound-rtp' && out[kind]) out[kind].sent += s.bytesSent || 0;
      if (s.type === 'inbound-rtp' && out[kind]) out[kind].received += s.bytesReceived || 0;
      if (s.type === 'candidate-pair' && (s.selected || s.nominated) && s.state === 'succeeded') {
        const l = byId.get(s.localCandidateId);
        const r = byId.get(s.remoteCandidateId);
        if (l && r) out.pair = `${l.address || l.ip}:${l.port} ${l.candidateType} -> ${r.address || r.ip}:${r.port} ${r.candidateType}`;
      }
    });
    return out;
  },
};
