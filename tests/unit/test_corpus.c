/* test_corpus.c - every real description and stanza in tests/data.
 *
 * - each SDP of tests/data/sdp goes SDP -> Jingle -> SDP, through the
 *   expat reader and through libstrophe stanza objects, and comes back with
 *   the same canonical text (every fact kept);
 * - each trickled candidate of *-candidates.json becomes a transport-info
 *   and comes back as the same candidate line;
 * - each Jingle stanza of tests/data/jingle is read the same way by both
 *   readers, and what it carries becomes an SDP our own parser accepts.
 *
 * Usage: test_corpus DATA_DIR */
#include <dirent.h>
#include <jansson.h>

#include "buf.h"
#include "check.h"
#include "jingle.h"
#include "jingle_stanza.h"

static xmpp_ctx_t *ctx;
static int files;

static char *canon_sdp(const char *text, size_t len, struct sdp_error *err)
{
    struct sdp_session *s = sdp_session_parse(text, len, err);
    if (!s)
        return NULL;
    char *out = sdp_session_to_text(s, NULL);
    sdp_session_free(s);
    return out;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static char *path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* The model of a Jingle document, read once with expat and once through
 * libstrophe; both must give the same SDP. */
static char *jingle_sdp_both_ways(const char *name, const char *xml, size_t len,
                                  enum jingle_role role, struct jingle **out)
{
    struct jingle_error err;
    struct jingle *j = jingle_parse_xml(xml, len, &err);
    if (!j) {
        fprintf(stderr, "%s: expat reader: %s\n", name, err.what);
        CHECK(j != NULL);
        return NULL;
    }
    char *a = jingle_to_sdp(j, role, NULL);
    char *copy = strndup(xml, len);
    xmpp_stanza_t *st = xmpp_stanza_new_from_string(ctx, copy);
    free(copy);
    CHECK(st != NULL);
    if (st) {
        struct jingle *j2 = jingle_from_stanza(st, &err);
        if (!j2)
            fprintf(stderr, "%s: stanza reader: %s\n", name, err.what);
        CHECK(j2 != NULL);
        if (j2) {
            char *b = jingle_to_sdp(j2, role, NULL);
            if (a && b && strcmp(a, b) != 0)
                fprintf(stderr, "%s: the two readers disagree\n", name);
            CHECK_STR(a, b);
            free(b);
            CHECK_INT(j->action, j2->action);
            CHECK_STR(j->sid, j2->sid);
            jingle_free(j2);
        }
        xmpp_stanza_release(st);
    }
    if (out)
        *out = j;
    else
        jingle_free(j);
    return a;
}

static void roundtrip_sdp(const char *dir, const char *name)
{
    char *path = path_join(dir, name);
    size_t len = 0;
    char *text = check_read_file(path, &len);
    CHECK(text != NULL);
    free(path);
    if (!text)
        return;
    files++;
    const int answer = strstr(name, "-answer") != NULL;
    const enum jingle_role role = answer ? JINGLE_ROLE_RESPONDER : JINGLE_ROLE_INITIATOR;
    struct sdp_error serr;
    char *orig = canon_sdp(text, len, &serr);
    if (!orig)
        fprintf(stderr, "%s: %s\n", name, serr.what);
    CHECK(orig != NULL);
    struct sdp_session *s = sdp_session_parse(text, len, &serr);
    if (orig && s) {
        struct buf b;
        buf_init(&b, 0);
        struct jingle_write_opts o = {
            .action = answer ? JINGLE_SESSION_ACCEPT : JINGLE_SESSION_INITIATE,
            .sid = "corpus", .author = role, .wrap_iq = 1,
            .initiator = "alice@example.com/a", .responder = "bob@example.com/b",
            .iq_from = "alice@example.com/a", .iq_to = "bob@example.com/b", .iq_id = "x1",
        };
        struct jingle_error jerr;
        CHECK_INT(jingle_write(s, &o, &b, &jerr), 0);
        char *back = jingle_sdp_both_ways(name, b.data, b.len, role, NULL);
        if (back) {
            char *c2 = canon_sdp(back, strlen(back), &serr);
            if (!c2 || strcmp(orig, c2) != 0)
                fprintf(stderr, "%s: round trip changed the description\n", name);
            CHECK_STR(orig, c2);
            free(c2);
        }
        free(back);
        buf_free(&b);
    }
    sdp_session_free(s);
    free(orig);
    free(text);
}

/* Removes " ufrag X" from a candidate line: the transport carries it. */
static void strip_ufrag(char *line)
{
    char *u = strstr(line, " ufrag ");
    if (!u)
        return;
    char *end = strchr(u + 7, ' ');
    memmove(u, end ? end : u + strlen(u), strlen(end ? end : u + strlen(u)) + 1);
}

static void roundtrip_candidates(const char *dir, const char *name)
{
    /* x-offer-candidates.json belongs to x-offer.sdp */
    char sdpname[512];
    size_t n = strlen(name) - strlen("-candidates.json");
    snprintf(sdpname, sizeof(sdpname), "%.*s.sdp", (int)n, name);
    char *sp = path_join(dir, sdpname), *cp = path_join(dir, name);
    size_t slen = 0;
    char *sdptext = check_read_file(sp, &slen);
    json_error_t jerr;
    json_t *arr = json_load_file(cp, 0, &jerr);
    free(sp);
    free(cp);
    CHECK(sdptext != NULL);
    CHECK(json_is_array(arr));
    if (!sdptext || !json_is_array(arr)) {
        free(sdptext);
        json_decref(arr);
        return;
    }
    files++;
    struct sdp_error serr;
    struct sdp_session *offer = sdp_session_parse(sdptext, slen, &serr);
    CHECK(offer != NULL);
    size_t i;
    json_t *c;
    json_array_foreach(arr, i, c) {
        if (json_is_null(c))
            continue; /* the browser's final "gathering done" event */
        const char *cand = json_string_value(json_object_get(c, "candidate"));
        const char *mid = json_string_value(json_object_get(c, "sdpMid"));
        json_t *idx = json_object_get(c, "sdpMLineIndex");
        const char *ufrag = json_string_value(json_object_get(c, "usernameFragment"));
        CHECK(cand != NULL);
        if (!cand || !offer)
            continue;
        struct buf b;
        buf_init(&b, 0);
        struct jingle_write_opts o = {.action = JINGLE_TRANSPORT_INFO, .sid = "corpus",
                                      .author = JINGLE_ROLE_INITIATOR, .wrap_iq = 1};
        struct jingle_error je;
        int rc = jingle_write_candidate(cand, mid, json_is_integer(idx) ? (int)json_integer_value(idx) : -1,
                                        offer, ufrag, NULL, &o, &b, &je);
        if (rc)
            fprintf(stderr, "%s: candidate %zu: %s\n", name, i, je.what);
        CHECK_INT(rc, 0);
        struct jingle *j = rc ? NULL : jingle_parse_xml(b.data, b.len, &je);
        CHECK(rc || j != NULL);
        if (j) {
            CHECK_INT(j->action, JINGLE_TRANSPORT_INFO);
            CHECK_INT(j->sdp->nmedia, 1);
            struct sdp_media *m = j->sdp->media;
            CHECK_STR(m->mid, mid);
            if (!*cand) {
                CHECK_INT(m->end_of_candidates, 1);   /* Firefox's "" candidate */
            } else if (m->candidates) {
                struct buf cb;
                buf_init(&cb, 0);
                sdp_candidate_write(m->candidates, &cb);
                char *want = strdup(cand);
                strip_ufrag(want);
                CHECK_STR(cb.data, want);
                if (ufrag)
                    CHECK_STR(m->ice_ufrag, ufrag);
                free(want);
                buf_free(&cb);
            } else {
                CHECK(m->candidates != NULL);
            }
            jingle_free(j);
        }
        buf_free(&b);
    }
    sdp_session_free(offer);
    json_decref(arr);
    free(sdptext);
}

/* Stanzas that are wrong on purpose, and what we must say about them. */
static const struct {
    const char *file;
    const char *error;
} bad_jingle[] = {
    /* Movim rejects mDNS names, then sends a <jingle/> with no sid */
    {"movim-transport-info-mdns.xml", "without the required 'sid' attribute"},
};

static void read_jingle(const char *dir, const char *name)
{
    char *path = path_join(dir, name);
    size_t len = 0;
    char *xml = check_read_file(path, &len);
    free(path);
    CHECK(xml != NULL);
    if (!xml)
        return;
    files++;
    for (size_t i = 0; i < sizeof(bad_jingle) / sizeof(bad_jingle[0]); i++) {
        if (strcmp(bad_jingle[i].file, name) != 0)
            continue;
        struct jingle_error err;
        struct jingle *j = jingle_parse_xml(xml, len, &err);
        CHECK(j == NULL);
        if (!j)
            CHECK_CONTAINS(err.what, bad_jingle[i].error);
        jingle_free(j);
        free(xml);
        return;
    }
    struct jingle *j = NULL;
    enum jingle_role role = strstr(name, "accept") ? JINGLE_ROLE_RESPONDER : JINGLE_ROLE_INITIATOR;
    char *sdp = jingle_sdp_both_ways(name, xml, len, role, &j);
    if (j && j->sdp->media && j->action != JINGLE_TRANSPORT_INFO) {
        struct sdp_error serr;
        char *c1 = canon_sdp(sdp, strlen(sdp), &serr);
        if (!c1)
            fprintf(stderr, "%s: its SDP does not parse: %s\n%s", name, serr.what, sdp);
        CHECK(c1 != NULL);
        /* and that description survives another trip through Jingle */
        struct buf b;
        buf_init(&b, 0);
        struct jingle_write_opts o = {.action = j->action, .sid = j->sid, .author = role};
        struct jingle_error je;
        CHECK_INT(jingle_write(j->sdp, &o, &b, &je), 0);
        struct jingle *j2 = jingle_parse_xml(b.data, b.len, &je);
        CHECK(j2 != NULL);
        if (j2 && c1) {
            char *again = jingle_to_sdp(j2, role, NULL);
            char *c2 = again ? canon_sdp(again, strlen(again), &serr) : NULL;
            CHECK_STR(c1, c2);
            free(again);
            free(c2);
        }
        jingle_free(j2);
        buf_free(&b);
        free(c1);
    }
    if (j && j->action == JINGLE_SESSION_TERMINATE)
        CHECK(j->reason != NULL);
    jingle_free(j);
    free(sdp);
    free(xml);
}

static void each_file(const char *dir, const char *suffix, void (*fn)(const char *, const char *))
{
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (ends_with(e->d_name, suffix))
            fn(dir, e->d_name);
    closedir(d);
}

int main(int argc, char **argv)
{
    const char *data = argc > 1 ? argv[1] : "tests/data";
    xmpp_initialize();
    ctx = xmpp_ctx_new(NULL, NULL);
    char *sdpdir = path_join(data, "sdp"), *jdir = path_join(data, "jingle");
    each_file(sdpdir, ".sdp", roundtrip_sdp);
    each_file(sdpdir, "-candidates.json", roundtrip_candidates);
    each_file(jdir, ".xml", read_jingle);
    printf("test_corpus: %d files\n", files);
    CHECK(files > 150);
    free(sdpdir);
    free(jdir);
    xmpp_ctx_free(ctx);
    xmpp_shutdown();
    return check_report("test_corpus");
}
