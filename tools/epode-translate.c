/* epode-translate - translate WebRTC SDP to Jingle and back, from the shell.
 *
 * The same translation library the daemon uses; a tool to debug interop
 * between browsers and Jingle clients. See docs/epode-translate.md. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "buf.h"
#include "jingle.h"

#define MAX_INPUT (1024u * 1024)

static const char usage_text[] =
    "Usage:\n"
    "  epode-translate sdp2jingle [options] < offer.sdp > offer.xml\n"
    "  epode-translate jingle2sdp [options] < stanza.xml > description.sdp\n"
    "  epode-translate candidate  [options] < candidate.txt > transport-info.xml\n"
    "\n"
    "sdp2jingle reads an SDP description on standard input and prints the Jingle\n"
    "(XEP-0166) <iq/> that carries it.\n"
    "  --action ACTION     session-initiate (default), session-accept, content-add,\n"
    "                      content-accept, content-modify, transport-info,\n"
    "                      transport-replace, transport-accept, description-info,\n"
    "                      content-remove, content-reject\n"
    "  --sid SID           Jingle session id (default: random)\n"
    "  --initiator JID     initiator attribute\n"
    "  --responder JID     responder attribute\n"
    "  --role ROLE         who wrote the SDP: initiator or responder (default:\n"
    "                      responder for session-accept and content-accept,\n"
    "                      otherwise initiator); decides how a=sendonly and\n"
    "                      a=recvonly become Jingle 'senders'\n"
    "  --from JID, --to JID, --id ID   attributes of the <iq/>\n"
    "  --bare              print only the <jingle/> element, no <iq/>\n"
    "\n"
    "jingle2sdp reads a Jingle <iq/> (or a bare <jingle/>) on standard input and\n"
    "prints the SDP description it carries, with CRLF line ends. For a\n"
    "transport-info it prints each candidate as the JSON a browser's\n"
    "RTCPeerConnection.addIceCandidate() takes, one per line.\n"
    "  --offer FILE        the SDP offer this Jingle answers: the answer then\n"
    "                      keeps the offer's m-line order (contents the answer\n"
    "                      lacks come out rejected, port 0), and candidates get\n"
    "                      their sdpMLineIndex from it\n"
    "  --role ROLE         who sent the Jingle (default: from the action)\n"
    "\n"
    "candidate reads one trickle ICE candidate line (\"candidate:...\", with or\n"
    "without \"a=\"; an empty line means end-of-candidates) and prints the\n"
    "transport-info that carries it.\n"
    "  --mid MID           the candidate's sdpMid\n"
    "  --mline-index N     the candidate's sdpMLineIndex (with --offer)\n"
    "  --offer FILE        the description the candidate belongs to\n"
    "  --ufrag UFRAG, --pwd PWD  the ICE credentials of the transport\n"
    "  --sid, --initiator, --responder, --from, --to, --id, --bare as above\n"
    "\n"
    "Exit status: 0 on success, 1 when the input is invalid (the reason, with\n"
    "the SDP line number where there is one, goes to standard error), 2 on a\n"
    "usage error.\n";

static void usage(FILE *f)
{
    fputs(usage_text, f);
}

static char *read_all(FILE *f, size_t *len)
{
    struct buf b;
    buf_init(&b, MAX_INPUT);
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        buf_append(&b, tmp, n);
    if (ferror(f) || buf_failed(&b)) {
        buf_free(&b);
        return NULL;
    }
    return buf_steal(&b, len);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "epode-translate: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char *s = read_all(f, len);
    fclose(f);
    if (!s)
        fprintf(stderr, "epode-translate: %s: cannot read it (larger than %u bytes?)\n", path, MAX_INPUT);
    return s;
}

static struct sdp_session *parse_sdp_or_die(const char *text, size_t len, const char *what)
{
    struct sdp_error err;
    struct sdp_session *s = sdp_session_parse(text, len, &err);
    if (!s)
        fprintf(stderr, "epode-translate: invalid SDP%s%s: %s\n", what ? " in " : "", what ? what : "",
                err.what);
    return s;
}

struct opts {
    struct jingle_write_opts w;
    int role_set;
    const char *offer;
    const char *mid;
    int mline_index;
    const char *ufrag;
    const char *pwd;
    char sid[33];
};

static int parse_role(const char *s, enum jingle_role *out)
{
    if (strcmp(s, "initiator") == 0)
        *out = JINGLE_ROLE_INITIATOR;
    else if (strcmp(s, "responder") == 0)
        *out = JINGLE_ROLE_RESPONDER;
    else
        return -1;
    return 0;
}

static void random_sid(char out[33])
{
    unsigned char raw[16];
    static const char hex[] = "0123456789abcdef";
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        memset(raw, 0x5a, sizeof(raw));
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[32] = '\0';
}

static int print_buf(struct buf *b)
{
    buf_putc(b, '\n');
    if (buf_failed(b))
        return 1;
    fwrite(b->data, 1, b->len, stdout);
    return fflush(stdout) ? 1 : 0;
}

static int cmd_sdp2jingle(struct opts *o)
{
    size_t len;
    char *text = read_all(stdin, &len);
    if (!text) {
        fprintf(stderr, "epode-translate: cannot read standard input (larger than %u bytes?)\n", MAX_INPUT);
        return 1;
    }
    int rc = 1;
    struct buf b;
    buf_init(&b, 0);
    struct sdp_session *s = parse_sdp_or_die(text, len, NULL);
    if (s) {
        if (!o->role_set)
            o->w.author = (o->w.action == JINGLE_SESSION_ACCEPT || o->w.action == JINGLE_CONTENT_ACCEPT)
                              ? JINGLE_ROLE_RESPONDER : JINGLE_ROLE_INITIATOR;
        struct jingle_error err;
        if (jingle_write(s, &o->w, &b, &err))
            fprintf(stderr, "epode-translate: %s\n", err.what);
        else
            rc = print_buf(&b);
    }
    buf_free(&b);
    sdp_session_free(s);
    free(text);
    return rc;
}

static void json_str(struct buf *b, const char *s)
{
    buf_putc(b, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf_putc(b, '\\');
            buf_putc(b, (char)c);
        } else if (c < 0x20) {
            static const char hex[] = "0123456789abcdef";
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            buf_append(b, esc, 6);
        } else {
            buf_putc(b, (char)c);
        }
    }
    buf_putc(b, '"');
}

/* transport-info -> one JSON RTCIceCandidateInit per line. */
static int print_candidates(const struct jingle *j, const struct sdp_session *offer)
{
    struct buf b;
    buf_init(&b, 0);
    for (const struct sdp_media *m = j->sdp->media; m; m = m->next) {
        int index = -1;
        if (offer) {
            const struct sdp_media *om = sdp_media_by_mid(offer, m->mid);
            if (!om) {
                fprintf(stderr, "epode-translate: content '%s' is not in the offer\n", m->mid);
                buf_free(&b);
                return 1;
            }
            index = (int)om->index;
        }
        for (const struct sdp_candidate *c = m->candidates; c; c = c->next) {
            struct buf cb;
            buf_init(&cb, 0);
            sdp_candidate_write(c, &cb);
            if (!c->ufrag && m->ice_ufrag) {
                buf_puts(&cb, " ufrag ");
                buf_puts(&cb, m->ice_ufrag);
            }
            buf_puts(&b, "{\"candidate\":");
            json_str(&b, cb.data ? cb.data : "");
            buf_free(&cb);
            buf_puts(&b, ",\"sdpMid\":");
            json_str(&b, m->mid);
            if (index >= 0) {
                buf_puts(&b, ",\"sdpMLineIndex\":");
                buf_put_u64(&b, (uint64_t)index);
            }
            if (m->ice_ufrag) {
                buf_puts(&b, ",\"usernameFragment\":");
                json_str(&b, m->ice_ufrag);
            }
            buf_puts(&b, "}\n");
        }
        if (m->end_of_candidates) {
            buf_puts(&b, "{\"candidate\":\"\",\"sdpMid\":");
            json_str(&b, m->mid);
            if (index >= 0) {
                buf_puts(&b, ",\"sdpMLineIndex\":");
                buf_put_u64(&b, (uint64_t)index);
            }
            if (m->ice_ufrag) {
                /* after an ICE restart it says which generation is done */
                buf_puts(&b, ",\"usernameFragment\":");
                json_str(&b, m->ice_ufrag);
            }
            buf_puts(&b, "}\n");
        }
    }
    int rc = 1;
    if (!buf_failed(&b)) {
        if (b.data)
            fwrite(b.data, 1, b.len, stdout);
        rc = fflush(stdout) ? 1 : 0;
    }
    buf_free(&b);
    return rc;
}

/* JSEP: an answer has the offer's m-lines in the offer's order. Contents the
 * Jingle answer does not carry come out rejected (port 0). */
static int align_to_offer(struct jingle *j, const struct sdp_session *offer)
{
    struct sdp_session *s = j->sdp;
    struct sdp_media *ordered = NULL, **tail = &ordered;
    unsigned idx = 0;
    for (const struct sdp_media *om = offer->media; om; om = om->next, idx++) {
        struct sdp_media **pp = &s->media, *m = NULL;
        for (; *pp; pp = &(*pp)->next)
            if (om->mid && (*pp)->mid && strcmp(om->mid, (*pp)->mid) == 0) {
                m = *pp;
                *pp = m->next;
                break;
            }
        if (!m) {
            m = arena_alloc(&s->arena, sizeof(*m));
            if (!m)
                return -1;
            m->rtcp_port = -1;
            m->sctp_port = -1;
            m->max_message_size = -1;
            m->media = sdp_strdup(s, om->media);
            m->proto = sdp_strdup(s, om->proto);
            m->mid = om->mid ? sdp_strdup(s, om->mid) : NULL;
            m->c_addrtype = sdp_strdup(s, "IP4");
            m->c_address = sdp_strdup(s, "0.0.0.0");
            m->direction = SDP_DIR_INACTIVE;
            if (sdp_media_is_rtp(om)) {
                /* a rejected RTP section still lists one format */
                struct sdp_payload *p = arena_alloc(&s->arena, sizeof(*p));
                if (!p)
                    return -1;
                *p = *om->payloads;
                p->next = NULL;
                p->fb = NULL;
                p->params = NULL;
                p->fmtp_raw = NULL;
                m->payloads = p;
                m->npayloads = 1;
            } else {
                m->fmt = sdp_strdup(s, om->fmt);
            }
        }
        m->index = idx;
        m->next = NULL;
        *tail = m;
        tail = &m->next;
    }
    if (s->media) {
        fprintf(stderr, "epode-translate: content '%s' is not in the offer\n",
                s->media->mid ? s->media->mid : "?");
        return -1;
    }
    s->media = ordered;
    s->nmedia = idx;
    s->tails = NULL;
    return 0;
}

static int cmd_jingle2sdp(struct opts *o)
{
    size_t len, olen;
    char *text = read_all(stdin, &len);
    char *otext = NULL;
    struct sdp_session *offer = NULL;
    struct jingle *j = NULL;
    int rc = 1;
    if (!text) {
        fprintf(stderr, "epode-translate: cannot read standard input (larger than %u bytes?)\n", MAX_INPUT);
        return 1;
    }
    if (o->offer) {
        otext = read_file(o->offer, &olen);
        if (!otext || !(offer = parse_sdp_or_die(otext, olen, o->offer)))
            goto out;
    }
    struct jingle_error err;
    j = jingle_parse_xml(text, len, &err);
    if (!j) {
        fprintf(stderr, "epode-translate: invalid Jingle: %s\n", err.what);
        goto out;
    }
    if (j->action == JINGLE_TRANSPORT_INFO) {
        rc = print_candidates(j, offer);
        goto out;
    }
    if (!j->sdp->media) {
        fprintf(stderr, "epode-translate: a %s carries no description\n", jingle_action_name(j->action));
        goto out;
    }
    enum jingle_role author = o->w.author;
    if (!o->role_set) {
        switch (j->action) {
        case JINGLE_SESSION_ACCEPT:
        case JINGLE_CONTENT_ACCEPT:
            author = JINGLE_ROLE_RESPONDER;
            break;
        case JINGLE_CONTENT_ADD:
            author = j->sdp->media->jingle_creator && strcmp(j->sdp->media->jingle_creator, "responder") == 0
                         ? JINGLE_ROLE_RESPONDER : JINGLE_ROLE_INITIATOR;
            break;
        default:
            author = JINGLE_ROLE_INITIATOR;
        }
    }
    if (offer && align_to_offer(j, offer))
        goto out;
    size_t slen;
    char *sdp = jingle_to_sdp(j, author, &slen);
    if (!sdp) {
        fprintf(stderr, "epode-translate: out of memory\n");
        goto out;
    }
    fwrite(sdp, 1, slen, stdout);
    free(sdp);
    rc = fflush(stdout) ? 1 : 0;
out:
    jingle_free(j);
    sdp_session_free(offer);
    free(otext);
    free(text);
    return rc;
}

static int cmd_candidate(struct opts *o)
{
    size_t len, olen;
    char *text = read_all(stdin, &len);
    char *otext = NULL;
    struct sdp_session *offer = NULL;
    int rc = 1;
    if (!text) {
        fprintf(stderr, "epode-translate: cannot read standard input\n");
        return 1;
    }
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        text[--len] = '\0';
    if (memchr(text, '\n', len)) {
        fprintf(stderr, "epode-translate: expected one candidate line\n");
        goto out;
    }
    if (o->offer) {
        otext = read_file(o->offer, &olen);
        if (!otext || !(offer = parse_sdp_or_die(otext, olen, o->offer)))
            goto out;
    }
    struct buf b;
    buf_init(&b, 0);
    struct jingle_error err;
    if (jingle_write_candidate(text, o->mid, o->mline_index, offer, o->ufrag, o->pwd, &o->w, &b, &err))
        fprintf(stderr, "epode-translate: invalid candidate: %s\n", err.what);
    else
        rc = print_buf(&b);
    buf_free(&b);
out:
    sdp_session_free(offer);
    free(otext);
    free(text);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("epode-translate %s\n", EPODE_VERSION);
        return 0;
    }
    const char *cmd = argv[1];
    struct opts o = {0};
    o.mline_index = -1;
    o.w.action = JINGLE_SESSION_INITIATE;
    o.w.wrap_iq = 1;
    o.w.iq_id = "epode-translate";
    enum {
        O_ACTION = 1, O_SID, O_INITIATOR, O_RESPONDER, O_ROLE, O_FROM, O_TO, O_ID,
        O_BARE, O_OFFER, O_MID, O_MLINE, O_UFRAG, O_PWD, O_HELP,
    };
    static const struct option longopts[] = {
        {"action", required_argument, NULL, O_ACTION},
        {"sid", required_argument, NULL, O_SID},
        {"initiator", required_argument, NULL, O_INITIATOR},
        {"responder", required_argument, NULL, O_RESPONDER},
        {"role", required_argument, NULL, O_ROLE},
        {"from", required_argument, NULL, O_FROM},
        {"to", required_argument, NULL, O_TO},
        {"id", required_argument, NULL, O_ID},
        {"bare", no_argument, NULL, O_BARE},
        {"offer", required_argument, NULL, O_OFFER},
        {"mid", required_argument, NULL, O_MID},
        {"mline-index", required_argument, NULL, O_MLINE},
        {"ufrag", required_argument, NULL, O_UFRAG},
        {"pwd", required_argument, NULL, O_PWD},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    optind = 2;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case O_ACTION:
            o.w.action = jingle_action_from_name(optarg);
            if (o.w.action == JINGLE_ACTION_NONE) {
                fprintf(stderr, "epode-translate: unknown action '%s'\n", optarg);
                return 2;
            }
            break;
        case O_SID: o.w.sid = optarg; break;
        case O_INITIATOR: o.w.initiator = optarg; break;
        case O_RESPONDER: o.w.responder = optarg; break;
        case O_ROLE:
            if (parse_role(optarg, &o.w.author)) {
                fprintf(stderr, "epode-translate: --role is initiator or responder\n");
                return 2;
            }
            o.role_set = 1;
            break;
        case O_FROM: o.w.iq_from = optarg; break;
        case O_TO: o.w.iq_to = optarg; break;
        case O_ID: o.w.iq_id = optarg; break;
        case O_BARE: o.w.wrap_iq = 0; break;
        case O_OFFER: o.offer = optarg; break;
        case O_MID: o.mid = optarg; break;
        case O_MLINE: {
            uint64_t v;
            if (sdp_parse_uint(optarg, strlen(optarg), 63, &v)) {
                fprintf(stderr, "epode-translate: --mline-index takes a number from 0 to 63\n");
                return 2;
            }
            o.mline_index = (int)v;
            break;
        }
        case O_UFRAG: o.ufrag = optarg; break;
        case O_PWD: o.pwd = optarg; break;
        case 'h':
        case O_HELP:
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "epode-translate: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!o.w.sid) {
        random_sid(o.sid);
        o.w.sid = o.sid;
    }
    if (strcmp(cmd, "sdp2jingle") == 0)
        return cmd_sdp2jingle(&o);
    if (strcmp(cmd, "jingle2sdp") == 0)
        return cmd_jingle2sdp(&o);
    if (strcmp(cmd, "candidate") == 0)
        return cmd_candidate(&o);
    fprintf(stderr, "epode-translate: unknown command '%s' (sdp2jingle, jingle2sdp, candidate)\n", cmd);
    return 2;
}
