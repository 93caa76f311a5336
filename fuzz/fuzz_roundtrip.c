/* libFuzzer target: SDP -> Jingle -> SDP. Every description the parser
 * accepts must come back from Jingle with the same canonical text, whatever
 * the role and action. This is the lossless promise of jingle/. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jingle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    /* The last byte also picks the role and action, so plain SDP files are
     * good seeds. */
    const uint8_t flags = data[size - 1];
    const enum jingle_role role = (flags & 1) ? JINGLE_ROLE_RESPONDER : JINGLE_ROLE_INITIATOR;
    const enum jingle_action action = (flags & 4) ? JINGLE_CONTENT_ADD : JINGLE_SESSION_INITIATE;
    struct sdp_error err;
    struct sdp_session *s = sdp_session_parse((const char *)data, size, &err);
    if (!s)
        return 0;
    size_t n1, n2;
    char *t1 = sdp_session_to_text(s, &n1);
    struct buf b;
    buf_init(&b, 0);
    struct jingle_write_opts o = {.action = action, .sid = "fuzz", .author = role, .wrap_iq = 1};
    struct jingle_error jerr;
    if (jingle_write(s, &o, &b, &jerr) != 0) {
        fprintf(stderr, "jingle_write failed: %s\n", jerr.what);
        abort();
    }
    struct jingle *j = jingle_parse_xml(b.data, b.len, &jerr);
    if (!j) {
        fprintf(stderr, "our own Jingle does not parse: %s\n%s\n", jerr.what, b.data);
        abort();
    }
    char *t2 = jingle_to_sdp(j, role, &n2);
    if (!t1 || !t2 || n1 != n2 || memcmp(t1, t2, n1) != 0) {
        fprintf(stderr, "round trip lost facts:\n%s\n---\n%s\n", t1 ? t1 : "", t2 ? t2 : "");
        abort();
    }
    free(t1);
    free(t2);
    jingle_free(j);
    buf_free(&b);
    sdp_session_free(s);
    return 0;
}
