/* libFuzzer target: the SDP parser. Any input must either fail with a line
 * and a message, or parse into a model whose canonical text parses again to
 * the same text. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sdp_error err;
    struct sdp_session *s = sdp_session_parse((const char *)data, size, &err);
    if (!s) {
        if (!err.what[0])
            abort(); /* every failure says why */
        return 0;
    }
    size_t n1, n2;
    char *t1 = sdp_session_to_text(s, &n1);
    sdp_session_free(s);
    if (!t1)
        return 0;
    s = sdp_session_parse(t1, n1, &err);
    if (!s) {
        fprintf(stderr, "canonical text does not parse: %s\n%s", err.what, t1);
        abort();
    }
    char *t2 = sdp_session_to_text(s, &n2);
    if (!t2 || n1 != n2 || memcmp(t1, t2, n1) != 0) {
        fprintf(stderr, "canonical text is not stable:\n%s\n---\n%s", t1, t2 ? t2 : "");
        abort();
    }
    free(t1);
    free(t2);
    sdp_session_free(s);
    return 0;
}
