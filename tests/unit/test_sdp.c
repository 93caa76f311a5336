/* test_sdp.c - the SDP model: every modelled attribute parsed, written back
 * and round-tripped through Jingle; errors that name the line. */
#include "buf.h"
#include "check.h"
#include "jingle.h"
#include "sdp.h"

/* One description holding every attribute the model knows, plus one it
 * does not. */
static const char full_sdp[] =
    "v=0\r\n"
    "o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=group:BUNDLE 0 1 2\r\n"
    "a=group:LS 0 1\r\n"
    "a=extmap-allow-mixed\r\n"
    "a=msid-semantic: WMS stream1\r\n"
    "a=ice-options:trickle renomination\r\n"
    "a=fingerprint:sha-1 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB\r\n"
    "a=x-session-unknown:42\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 126 0\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "b=AS:64\r\n"
    "b=TIAS:64000\r\n"
    "a=rtcp:9 IN IP4 0.0.0.0\r\n"
    "a=candidate:1 1 udp 2122260223 192.0.2.1 54400 typ host generation 0 network-id 1 network-cost 10\r\n"
    "a=candidate:2 1 tcp 1518280447 192.0.2.1 9 typ host tcptype active generation 0 network-id 1\r\n"
    "a=candidate:3 1 udp 1686052607 203.0.113.7 54400 typ srflx raddr 192.0.2.1 rport 54400 generation 0 ufrag abcd\r\n"
    "a=candidate:4 1 udp 41885439 198.51.100.2 3478 typ relay raddr 203.0.113.7 rport 54400\r\n"
    "a=candidate:5 2 udp 1845501695 203.0.113.8 54401 typ prflx raddr 0.0.0.0 rport 0 x-custom yes\r\n"
    "a=candidate:6 1 udp 2122260223 3f1b2c3d-1a2b-4c5d-8e9f-0a1b2c3d4e5f.local 54400 typ host\r\n"
    "a=end-of-candidates\r\n"
    "a=ice-ufrag:abcd\r\n"
    "a=ice-pwd:0123456789abcdefghijklmn\r\n"
    "a=ice-options:trickle\r\n"
    "a=fingerprint:sha-256 AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89\r\n"
    "a=fingerprint:sha-512 00:11\r\n"
    "a=setup:actpass\r\n"
    "a=mid:0\r\n"
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
    "a=extmap:2/sendonly urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
    "a=extmap:3/recvonly http://example.com/ext attr1 attr2\r\n"
    "a=sendonly\r\n"
    "a=msid:stream1 track1\r\n"
    "a=rtcp-mux\r\n"
    "a=rtcp-rsize\r\n"
    "a=rtpmap:111 opus/48000/2\r\n"
    "a=rtcp-fb:111 transport-cc\r\n"
    "a=fmtp:111 minptime=10;useinbandfec=1\r\n"
    "a=rtpmap:63 red/48000/2\r\n"
    "a=fmtp:63 111/111\r\n"
    "a=rtpmap:126 telephone-event/8000\r\n"
    "a=fmtp:126 0-15\r\n"
    "a=rtcp-fb:* trr-int 100\r\n"
    "a=rtcp-fb:* nack\r\n"
    "a=ptime:20\r\n"
    "a=maxptime:120\r\n"
    "a=ssrc:1001 cname:abc\r\n"
    "a=ssrc:1001 msid:stream1 track1\r\n"
    "a=x-media-unknown\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:abcd\r\n"
    "a=ice-pwd:0123456789abcdefghijklmn\r\n"
    "a=fingerprint:sha-256 AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89\r\n"
    "a=setup:actpass\r\n"
    "a=mid:1\r\n"
    "a=recvonly\r\n"
    "a=rtcp-mux\r\n"
    "a=rtpmap:96 VP8/90000\r\n"
    "a=rtcp-fb:96 goog-remb\r\n"
    "a=rtcp-fb:96 nack pli\r\n"
    "a=rtcp-fb:96 ccm fir\r\n"
    "a=rtpmap:97 rtx/90000\r\n"
    "a=fmtp:97 apt=96\r\n"
    "a=rid:h send pt=96;max-width=1280\r\n"
    "a=rid:m send\r\n"
    "a=rid:l recv\r\n"
    "a=simulcast:send h;m recv l\r\n"
    "a=ssrc-group:FID 2001 2002\r\n"
    "a=ssrc-group:SIM 2001 2003\r\n"
    "a=ssrc-group:FEC-FR 2001 2004\r\n"
    "a=ssrc:2001 cname:abc\r\n"
    "a=ssrc:2002 cname:abc\r\n"
    "a=ssrc:2003 cname:abc\r\n"
    "a=ssrc:2004 cname:abc\r\n"
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:abcd\r\n"
    "a=ice-pwd:0123456789abcdefghijklmn\r\n"
    "a=setup:actpass\r\n"
    "a=mid:2\r\n"
    "a=sctp-port:5000\r\n"
    "a=max-message-size:1073741823\r\n"
    "m=application 9 TCP/DTLS/SCTP webrtc-datachannel\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=mid:3\r\n"
    "a=inactive\r\n"
    "a=sctp-port:5001\r\n";

static char *canon(const char *text, size_t len)
{
    struct sdp_error err;
    struct sdp_session *s = sdp_session_parse(text, len, &err);
    if (!s) {
        fprintf(stderr, "canon: %s\n", err.what);
        return NULL;
    }
    char *out = sdp_session_to_text(s, NULL);
    sdp_session_free(s);
    return out;
}

static void test_model(void)
{
    struct sdp_error err;
    struct sdp_session *s = sdp_session_parse(full_sdp, sizeof(full_sdp) - 1, &err);
    CHECK(s != NULL);
    if (!s) {
        fprintf(stderr, "parse: %s\n", err.what);
        return;
    }
    CHECK_INT(s->nmedia, 4);
    CHECK_STR(s->groups->semantics, "BUNDLE");
    CHECK_INT(s->groups->nmids, 3);
    CHECK_STR(s->groups->next->semantics, "LS");
    CHECK_STR(s->msid_semantic, " WMS stream1");
    CHECK_INT(s->extmap_allow_mixed, 1);
    CHECK_STR(s->ice_options, "trickle renomination");
    CHECK_STR(s->fingerprints->hash, "sha-1");
    CHECK_STR(s->other->name, "x-session-unknown");

    struct sdp_media *a = s->media;
    CHECK_STR(a->media, "audio");
    CHECK_STR(a->proto, "UDP/TLS/RTP/SAVPF");
    CHECK_INT(a->npayloads, 4);
    CHECK_STR(a->bandwidths->type, "AS");
    CHECK_INT(a->bandwidths->value, 64);
    CHECK_INT(a->bandwidths->next->value, 64000);
    CHECK_INT(a->rtcp_port, 9);
    CHECK_INT(a->direction, SDP_DIR_SENDONLY);
    CHECK_INT(a->rtcp_mux, 1);
    CHECK_INT(a->rtcp_rsize, 1);
    CHECK_STR(a->fingerprints->next->hash, "sha-512");
    CHECK_STR(a->setup, "actpass");
    CHECK_STR(a->payloads->name, "opus");
    CHECK_INT(a->payloads->clockrate, 48000);
    CHECK_INT(a->payloads->channels, 2);
    CHECK_STR(a->payloads->params->name, "minptime");
    CHECK_STR(a->payloads->params->next->value, "1");
    CHECK_STR(a->payloads->fb->type, "transport-cc");
    CHECK_STR(a->payloads->next->fmtp_raw, "111/111");
    CHECK_STR(a->payloads->next->next->fmtp_raw, "0-15");
    CHECK_INT(a->payloads->next->next->next->pt, 0);
    CHECK_STR(a->fb_all->type, "trr-int");
    CHECK_STR(a->fb_all->subtype, "100");
    CHECK_INT(a->extmaps->next->direction, SDP_DIR_SENDONLY);
    CHECK_STR(a->extmaps->next->next->attributes, "attr1 attr2");
    CHECK_STR(a->msids->track, "track1");
    CHECK_INT(a->ptime, 20);
    CHECK_INT(a->maxptime, 120);
    CHECK_INT(a->ssrcs->ssrc, 1001);
    CHECK_STR(a->ssrcs->attrs->next->value, "stream1 track1");
    CHECK_INT(a->end_of_candidates, 1);
    CHECK_STR(a->other->name, "x-media-unknown");
    CHECK(a->other->value == NULL);

    const struct sdp_candidate *c = a->candidates;
    CHECK_STR(c->transport, "udp");
    CHECK_INT(c->priority, 2122260223u);
    CHECK_INT(c->generation, 0);
    CHECK_INT(c->network_id, 1);
    CHECK_INT(c->network_cost, 10);
    c = c->next;
    CHECK_STR(c->tcptype, "active");
    CHECK_INT(c->port, 9);
    c = c->next;
    CHECK_STR(c->type, "srflx");
    CHECK_STR(c->raddr, "192.0.2.1");
    CHECK_INT(c->rport, 54400);
    CHECK_STR(c->ufrag, "abcd");
    c = c->next;
    CHECK_STR(c->type, "relay");
    CHECK_INT(c->generation, -1);
    c = c->next;
    CHECK_INT(c->component, 2);
    CHECK_STR(c->type, "prflx");
    CHECK_STR(c->ext->name, "x-custom");
    c = c->next;
    CHECK_STR(c->address, "3f1b2c3d-1a2b-4c5d-8e9f-0a1b2c3d4e5f.local");

    struct sdp_media *v = a->next;
    CHECK_INT(v->direction, SDP_DIR_RECVONLY);
    CHECK_STR(v->rids->params, "pt=96;max-width=1280");
    CHECK_STR(v->rids->next->next->direction, "recv");
    CHECK_STR(v->simulcast, "send h;m recv l");
    CHECK_STR(v->ssrc_groups->semantics, "FID");
    CHECK_INT(v->ssrc_groups->ssrcs[1], 2002);
    CHECK_STR(v->ssrc_groups->next->next->semantics, "FEC-FR");
    CHECK_STR(v->payloads->fb->next->subtype, "pli");

    struct sdp_media *d = v->next;
    CHECK_STR(d->proto, "UDP/DTLS/SCTP");
    CHECK_STR(d->fmt, "webrtc-datachannel");
    CHECK_INT(d->sctp_port, 5000);
    CHECK_INT(d->max_message_size, 1073741823);
    CHECK_STR(d->next->proto, "TCP/DTLS/SCTP");
    CHECK_INT(d->next->direction, SDP_DIR_INACTIVE);

    /* Writing is canonical: write(parse(write(x))) == write(x). */
    char *w1 = sdp_session_to_text(s, NULL);
    char *w2 = w1 ? canon(w1, strlen(w1)) : NULL;
    CHECK_STR(w1, w2);
    CHECK_CONTAINS(w1, "a=x-media-unknown\r\n");
    CHECK_CONTAINS(w1, "a=x-session-unknown:42\r\n");
    CHECK_CONTAINS(w1, "a=candidate:5 2 udp 1845501695 203.0.113.8 54401 typ prflx raddr 0.0.0.0 rport 0 x-custom yes\r\n");
    CHECK_CONTAINS(w1, "a=fmtp:63 111/111\r\n");
    free(w1);
    free(w2);

    /* And through Jingle and back, as the initiator's offer. */
    struct buf b;
    buf_init(&b, 0);
    struct jingle_write_opts o = {.action = JINGLE_SESSION_INITIATE, .sid = "s1",
                                  .author = JINGLE_ROLE_INITIATOR, .wrap_iq = 1};
    struct jingle_error jerr;
    CHECK_INT(jingle_write(s, &o, &b, &jerr), 0);
    CHECK_CONTAINS(b.data, "senders=\"initiator\"");   /* sendonly from the initiator */
    CHECK_CONTAINS(b.data, "senders=\"responder\"");   /* recvonly */
    CHECK_CONTAINS(b.data, "senders=\"none\"");
    CHECK_CONTAINS(b.data, "<parameter value=\"111/111\"/>");
    CHECK_CONTAINS(b.data, "<rtcp-fb-trr-int xmlns=\"urn:xmpp:jingle:apps:rtp:rtcp-fb:0\" value=\"100\"/>");
    CHECK_CONTAINS(b.data, "tcptype=\"active\"");
    CHECK_CONTAINS(b.data, "<line>a=rid:h send pt=96;max-width=1280</line>");
    CHECK_CONTAINS(b.data, "<sctpmap xmlns=\"urn:xmpp:jingle:transports:dtls-sctp:1\" number=\"5000\"");
    struct jingle *j = jingle_parse_xml(b.data, b.len, &jerr);
    CHECK(j != NULL);
    if (j) {
        char *back = jingle_to_sdp(j, JINGLE_ROLE_INITIATOR, NULL);
        char *c1 = canon(full_sdp, sizeof(full_sdp) - 1);
        char *c2 = back ? canon(back, strlen(back)) : NULL;
        CHECK_STR(c1, c2);
        free(back);
        free(c1);
        free(c2);
        /* The same Jingle read by the responder: directions flip. */
        jingle_apply_senders(j, JINGLE_ROLE_RESPONDER);
        CHECK_INT(j->sdp->media->direction, SDP_DIR_RECVONLY);
        CHECK_INT(j->sdp->media->next->direction, SDP_DIR_SENDONLY);
        jingle_free(j);
    } else {
        fprintf(stderr, "jingle: %s\n", jerr.what);
    }
    buf_free(&b);
    sdp_session_free(s);
}

struct bad_case {
    const char *sdp;
    int line;
    const char *what;
};

#define HEAD "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
#define MA HEAD "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n"

static const struct bad_case bad_cases[] = {
    {"", 0, "ends before the mandatory v= line"},
    {"v=1\r\n", 1, "must start with \"v=0\""},
    {"v=0\r\ns=-\r\n", 2, "o= line must follow"},
    {"v=0\r\no=- 1 2 IN IP4\r\n", 2, "o=: expected"},
    {"v=0\r\no=- x 2 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n", 2, "sess-id must be digits"},
    {"v=0\r\no=- 1 2 IN IP4 1.2.3.4\r\ns=-\r\n", 0, "mandatory t= line"},
    {HEAD "x=1\r\n", 5, "unknown line type"},
    {HEAD "hello\r\n", 5, "expected \"<type>=<value>\""},
    {HEAD "a=group:BUNDLE 0\r\n", 0, "names mid \"0\", which no m-line has"},
    {HEAD "m=audio 9 UDP/TLS/RTP/SAVPF 300\r\n", 5, "payload types must be numbers from 0 to 127"},
    {HEAD "m=audio 70000 UDP/TLS/RTP/SAVPF 0\r\n", 5, "port must be a number"},
    {HEAD "m=audio 9 UDP/TLS/RTP/SAVPF\r\n", 5, "no media formats"},
    {HEAD "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n", 5, "dynamic payload type 111 has no a=rtpmap"},
    {MA "a=rtpmap:112 opus/48000\r\n", 7, "payload type 112 is not listed on the m= line"},
    {MA "a=rtpmap:111 opus/48000\r\n", 7, "mapped twice"},
    {MA "a=fmtp:111 a=1\r\na=fmtp:111 b=2\r\n", 8, "two fmtp lines"},
    {MA "a=rtcp-fb:abc nack\r\n", 7, "payload type must be * or a number"},
    {MA "a=rtcp-fb:* trr-int x\r\n", 7, "trr-int needs an interval"},
    {MA "a=extmap:0 urn:x\r\n", 7, "id must be a number from 1 to 4095"},
    {MA "a=extmap:1/sideways urn:x\r\n", 7, "direction must be"},
    {MA "a=extmap:1 urn:x\r\na=extmap:1 urn:y\r\n", 8, "id 1 is used twice"},
    {MA "a=mid:0\r\na=mid:1\r\n", 8, "appears twice"},
    {MA "a=mid:0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n", 9, "already used by m-line 0"},
    {MA "a=setup:maybe\r\n", 7, "a=setup: must be actpass"},
    {MA "a=fingerprint:sha-256 XYZ\r\n", 7, "hex bytes separated by colons"},
    {MA "a=sendrecv\r\na=recvonly\r\n", 8, "second direction attribute"},
    {MA "a=candidate:1 1 udp 2122260223 192.0.2.1 54400 host\r\n", 7, "expected \"typ\""},
    {MA "a=candidate:1 0 udp 2122260223 192.0.2.1 54400 typ host\r\n", 7, "component id must be 1 to 256"},
    {MA "a=candidate:1 1 udp 99999999999 192.0.2.1 54400 typ host\r\n", 7, "priority must be"},
    {MA "a=candidate:1 1 udp 1 192.0.2.1 54400 typ host generation\r\n", 7, "has no value"},
    {MA "a=candidate:1 1 udp 1 bad<addr 54400 typ host\r\n", 7, "not an IP address or host name"},
    {MA "a=ssrc:1\r\n", 7, "missing source attribute"},
    {MA "a=ssrc-group:FID 1 2\r\n", 5, "names SSRC 1, which has no a=ssrc line"},
    {MA "a=rid:h sideways\r\n", 7, "direction must be \"send\" or \"recv\""},
    {MA "a=ptime:abc\r\n", 7, "a=ptime: value must be a number"},
    {MA "a=sctp-port:70000\r\n", 7, "a=sctp-port: value must be a number"},
    {MA "a=rtcp-mux\r\n\r\na=rtcp-rsize\r\n", 8, "empty line inside"},
    {MA "a=tool\x01\r\n", 7, "control character"},
    {HEAD "b=AS\r\n", 5, "b=: expected"},
    {HEAD "c=IN IP4\r\n", 5, "c=: expected"},
    {HEAD "a=group:BUNDLE 0\r\nm=audio 9 RTP/AVP 0\r\n", 0, "no m-line has"},
};

static void test_errors(void)
{
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const struct bad_case *bc = &bad_cases[i];
        struct sdp_error err;
        struct sdp_session *s = sdp_session_parse(bc->sdp, strlen(bc->sdp), &err);
        CHECK(s == NULL);
        if (s) {
            fprintf(stderr, "  case %zu parsed but should not: %s\n", i, bc->what);
            sdp_session_free(s);
            continue;
        }
        CHECK_INT(err.line, bc->line);
        CHECK_CONTAINS(err.what, bc->what);
    }
    /* LF line ends and a trailing blank line are accepted. */
    const char lf[] = "v=0\no=- 1 2 IN IP4 127.0.0.1\ns=-\nt=0 0\nm=audio 9 RTP/AVP 0\n\n";
    struct sdp_error err;
    struct sdp_session *s = sdp_session_parse(lf, sizeof(lf) - 1, &err);
    CHECK(s != NULL);
    sdp_session_free(s);
    /* Oversized input is refused before parsing. */
    size_t big = SDP_MAX_TEXT + 1;
    char *huge = malloc(big);
    memset(huge, 'a', big);
    s = sdp_session_parse(huge, big, &err);
    CHECK(s == NULL);
    CHECK_CONTAINS(err.what, "more than");
    free(huge);
}

static void test_candidate(void)
{
    struct arena ar;
    arena_init(&ar, 0);
    struct sdp_candidate c;
    struct sdp_error err = {0};
    const char *line = "candidate:842163049 1 udp 1677729535 203.0.113.7 60769 typ srflx raddr 0.0.0.0 rport 0 generation 0 ufrag Xy+z network-cost 999";
    CHECK_INT(sdp_candidate_parse(&ar, line, strlen(line), &c, &err), 0);
    struct buf b;
    buf_init(&b, 0);
    sdp_candidate_write(&c, &b);
    CHECK_STR(b.data, line);
    buf_free(&b);
    CHECK(sdp_candidate_parse(&ar, "a=candidate:1 1 udp 1 ::1 1 typ host", 36, &c, &err) == 0);
    CHECK_STR(c.address, "::1");
    CHECK(sdp_candidate_parse(&ar, "candidat:1 1 udp 1 ::1 1 typ host", 33, &c, &err) != 0);
    arena_release(&ar);
}

int main(void)
{
    test_model();
    test_errors();
    test_candidate();
    return check_report("test_sdp");
}
