/* test_sasl.c - the SASL server (component/sasl.c) driven by a SCRAM client
 * written here with OpenSSL primitives (PBKDF2, HMAC, SHA), independent of
 * libgsasl and checked first against the RFC 5802 and RFC 7677 exchanges.
 *
 * Covers SCRAM-SHA-1 and SCRAM-SHA-256 (success with the server signature
 * verified, wrong password, unknown user, bad nonce, tampered proof,
 * malformed messages, channel-binding flags), PLAIN, ANONYMOUS, authzid,
 * base64 and length limits, and measures the server's time per exchange.
 *
 * The RFC 7677 exchange itself cannot be replayed through the server:
 * libgsasl draws its server nonce (base64 of 18 random bytes, 24
 * characters) with no way to set it, and the RFC's server nonce
 * ("%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0") is not even base64.
 *
 * Usage: test_sasl [ignored]   (ctest passes the test data directory) */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "check.h"
#include "sasl.h"
#include "store.h"

#define DOMAIN "example.org"
#define ALICE_PW "correct horse battery staple"

static struct store *st;

/* snprintf that stops the test when the buffer is too small. */
__attribute__((format(printf, 3, 4)))
static void fmt(char *dst, size_t size, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(dst, size, f, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= size) {
        fprintf(stderr, "test_sasl: a test buffer is too small\n");
        abort();
    }
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* ---- base64 for the test (OpenSSL's, not the server's) -------------------- */

static void b64enc(const void *in, size_t len, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

/* Decodes standard padded base64; returns the length or -1. */
static int b64dec(const char *in, unsigned char *out)
{
    size_t n = strlen(in);
    if (n == 0)
        return 0;
    int len = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
    if (len < 0)
        return -1;
    if (n >= 1 && in[n - 1] == '=')
        len--;
    if (n >= 2 && in[n - 2] == '=')
        len--;
    return len;
}

/* ---- The test's SCRAM client (RFC 5802) ------------------------------------------ */

struct scram_client {
    const EVP_MD *md;
    size_t hlen;
    char gs2[128];              /* gs2 header as sent, e.g. "n,," */
    char first_bare[4096];      /* client-first-message-bare */
    char cnonce[64];
    char server_sig_b64[64];    /* what v= must carry */
    /* PBKDF2 is the client's slow part: cached per (salt, iterations) so
     * that the benchmark measures the server. */
    unsigned char cache_salt[64];
    int cache_salt_len;
    unsigned cache_iter;
    unsigned char salted[32];
};

static void client_init(struct scram_client *c, int sha256)
{
    memset(c, 0, sizeof(*c));
    c->md = sha256 ? EVP_sha256() : EVP_sha1();
    c->hlen = sha256 ? 32 : 20;
}

/* Writes the client-first message for `user` (already escaped) into out. */
static void client_first(struct scram_client *c, const char *gs2, const char *user,
                         const char *cnonce, char *out, size_t size)
{
    fmt(c->gs2, sizeof(c->gs2), "%s", gs2);
    fmt(c->cnonce, sizeof(c->cnonce), "%s", cnonce);
    fmt(c->first_bare, sizeof(c->first_bare), "n=%s,r=%s", user, cnonce);
    fmt(out, size, "%s%s", c->gs2, c->first_bare);
}

static void hmac(const struct scram_client *c, const unsigned char *key, size_t klen,
                 const void *msg, size_t mlen, unsigned char *out)
{
    unsigned len = 0;
    HMAC(c->md, key, (int)klen, msg, mlen, out, &len);
}

/* Reads the server-first message and writes the client-final message for
 * `password`. Returns 0, or -1 when server-first does not parse or its
 * nonce does not extend ours. `nonce_override`, when not NULL, replaces
 * the nonce sent back (the bad-nonce test). */
static int client_final(struct scram_client *c, const char *server_first, const char *password,
                        const char *nonce_override, char *out, size_t size)
{
    char nonce[4096], salt_b64[256];
    unsigned iter = 0;
    const char *r = strstr(server_first, "r="), *s = strstr(server_first, ",s="),
               *i = strstr(server_first, ",i=");
    if (r != server_first || !s || !i || s > i)
        return -1;
    size_t nlen = (size_t)(s - (r + 2)), slen = (size_t)(i - (s + 3));
    if (nlen >= sizeof(nonce) || slen >= sizeof(salt_b64))
        return -1;
    memcpy(nonce, r + 2, nlen);
    nonce[nlen] = '\0';
    memcpy(salt_b64, s + 3, slen);
    salt_b64[slen] = '\0';
    iter = (unsigned)strtoul(i + 3, NULL, 10);
    if (strncmp(nonce, c->cnonce, strlen(c->cnonce)) != 0 || nlen <= strlen(c->cnonce) ||
        iter == 0)
        return -1;
    unsigned char salt[256];
    int saltlen = b64dec(salt_b64, salt);
    if (saltlen <= 0 || saltlen > (int)sizeof(c->cache_salt))
        return -1;

    if (saltlen != c->cache_salt_len || memcmp(salt, c->cache_salt, (size_t)saltlen) != 0 ||
        iter != c->cache_iter) {
        PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, saltlen, (int)iter, c->md,
                          (int)c->hlen, c->salted);
        memcpy(c->cache_salt, salt, (size_t)saltlen);
        c->cache_salt_len = saltlen;
        c->cache_iter = iter;
    }
    unsigned char client_key[32], stored_key[32], server_key[32], sig[32], proof[32];
    hmac(c, c->salted, c->hlen, "Client Key", 10, client_key);
    unsigned mdlen = 0;
    EVP_Digest(client_key, c->hlen, stored_key, &mdlen, c->md, NULL);
    hmac(c, c->salted, c->hlen, "Server Key", 10, server_key);

    char cbind[256], without_proof[4400];
    b64enc(c->gs2, strlen(c->gs2), cbind);
    fmt(without_proof, sizeof(without_proof), "c=%s,r=%s", cbind,
             nonce_override ? nonce_override : nonce);
    static char auth_message[12300];
    fmt(auth_message, sizeof(auth_message), "%s,%s,%s", c->first_bare, server_first,
             without_proof);
    hmac(c, stored_key, c->hlen, auth_message, strlen(auth_message), sig);
    for (size_t k = 0; k < c->hlen; k++)
        proof[k] = client_key[k] ^ sig[k];
    hmac(c, server_key, c->hlen, auth_message, strlen(auth_message), sig);
    b64enc(sig, c->hlen, c->server_sig_b64);
    char proof_b64[64];
    b64enc(proof, c->hlen, proof_b64);
    fmt(out, size, "%s,p=%s", without_proof, proof_b64);
    return 0;
}

/* The test client on the exchanges printed in RFC 5802 section 5 and RFC
 * 7677 section 3 (user "user", password "pencil"). */
static void test_client_vectors(void)
{
    static const struct {
        int sha256;
        const char *first, *server_first, *final, *v;
    } v[] = {
        {0, "n=user,r=fyko+d2lbbFgONRv9qkxdawL",
         "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
         "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
         "rmF9pqV8S7suAoZWja4dJRkFsKQ="},
        {1, "n=user,r=rOprNGfwEbeRWgbNEkqO",
         "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
         "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
         "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
         "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="},
    };
    for (size_t k = 0; k < sizeof(v) / sizeof(v[0]); k++) {
        struct scram_client c;
        char first[256], final[512];
        client_init(&c, v[k].sha256);
        client_first(&c, "n,,", "user", strchr(v[k].first, ',') + 3, first, sizeof(first));
        CHECK_STR(first + 3, v[k].first);
        CHECK_INT(client_final(&c, v[k].server_first, "pencil", NULL, final, sizeof(final)), 0);
        CHECK_STR(final, v[k].final);
        CHECK_STR(c.server_sig_b64, v[k].v);
    }
}

/* ---- Driving the server ------------------------------------------------------------ */

/* Starts with raw bytes as the initial response (base64-encoded here);
 * raw NULL: no initial response. */
static int start_raw(struct sasl_server *s, const char *mech, int secure, const void *raw,
                     size_t len, struct sasl_exchange **e, char **out)
{
    static char b64[8192];
    if (raw && len == 0)
        return sasl_exchange_start(s, mech, secure, "=", e, out);
    if (raw)
        b64enc(raw, len, b64);
    return sasl_exchange_start(s, mech, secure, raw ? b64 : NULL, e, out);
}

static int step_raw(struct sasl_exchange *e, const void *raw, size_t len, char **out)
{
    static char b64[8192];
    b64enc(raw, len, b64);
    return sasl_exchange_step(e, len ? b64 : "=", out);
}

/* Decodes a challenge into text (NUL-terminated). */
static const char *text_of(const char *b64)
{
    static unsigned char buf[8192];
    int n = b64 ? b64dec(b64, buf) : -1;
    if (n < 0)
        return "(bad base64)";
    buf[n] = '\0';
    return (const char *)buf;
}

struct scram_run {
    int start_rc, step_rc;
    char server_first[4096];
    char success_text[256];
    char jid[STORE_JID_MAX + 1];
    int v_ok;               /* v= matched the client's expectation */
};

/* A whole SCRAM exchange: `gs2` header, escaped `user`, `password`. */
static void scram(struct sasl_server *s, int sha256, const char *gs2, const char *user,
                  const char *password, struct scram_run *r)
{
    struct scram_client c;
    struct sasl_exchange *e = NULL;
    char first[4096], final[8192], *out = NULL;
    static unsigned counter;
    char cnonce[32];
    memset(r, 0, sizeof(*r));
    fmt(cnonce, sizeof(cnonce), "cn%08uXYZ", ++counter);
    client_init(&c, sha256);
    client_first(&c, gs2, user, cnonce, first, sizeof(first));
    r->start_rc = start_raw(s, sha256 ? "SCRAM-SHA-256" : "SCRAM-SHA-1", 0, first,
                            strlen(first), &e, &out);
    r->step_rc = 99;
    if (r->start_rc == SASL_CONTINUE) {
        fmt(r->server_first, sizeof(r->server_first), "%s", text_of(out));
        free(out);
        out = NULL;
        if (client_final(&c, r->server_first, password, NULL, final, sizeof(final)) == 0) {
            r->step_rc = step_raw(e, final, strlen(final), &out);
            if (r->step_rc == SASL_SUCCESS) {
                fmt(r->success_text, sizeof(r->success_text), "%s", text_of(out));
                fmt(r->jid, sizeof(r->jid), "%s",
                         sasl_exchange_jid(e) ? sasl_exchange_jid(e) : "(null)");
                char want[80];
                fmt(want, sizeof(want), "v=%s", c.server_sig_b64);
                r->v_ok = strcmp(r->success_text, want) == 0;
            } else {
                CHECK(out == NULL);
                CHECK(sasl_exchange_jid(e) == NULL);
            }
        }
    } else {
        CHECK(e == NULL);
        CHECK(out == NULL);
    }
    free(out);
    sasl_exchange_free(e);
}

/* The s= of a server-first message, decoded; returns its length. */
static int salt_of(const char *server_first, unsigned char *salt)
{
    const char *s = strstr(server_first, ",s=");
    char b64[128];
    if (!s)
        return -1;
    s += 3;
    size_t n = strcspn(s, ",");
    if (n >= sizeof(b64))
        return -1;
    memcpy(b64, s, n);
    b64[n] = '\0';
    return b64dec(b64, salt);
}

/* ---- Tests ---------------------------------------------------------------------------- */

static void test_conditions(void)
{
    CHECK(sasl_condition(SASL_SUCCESS) == NULL);
    CHECK(sasl_condition(SASL_CONTINUE) == NULL);
    CHECK_STR(sasl_condition(SASL_E_INVALID_MECHANISM), "invalid-mechanism");
    CHECK_STR(sasl_condition(SASL_E_NOT_AUTHORIZED), "not-authorized");
    CHECK_STR(sasl_condition(SASL_E_MALFORMED), "malformed-request");
    CHECK_STR(sasl_condition(SASL_E_INCORRECT_ENCODING), "incorrect-encoding");
    CHECK_STR(sasl_condition(SASL_E_ENCRYPTION_REQUIRED), "encryption-required");
    CHECK_STR(sasl_condition(SASL_E_TEMPORARY), "temporary-auth-failure");
    CHECK_STR(sasl_condition(SASL_E_INVALID_AUTHZID), "invalid-authzid");
    CHECK_STR(sasl_condition(SASL_E_ABORTED), "aborted");
    CHECK_STR(sasl_condition(-100), "not-authorized");
}

static void test_new(void)
{
    CHECK(sasl_server_new(st, "", 0) == NULL);
    CHECK(sasl_server_new(st, "a@example.org", 0) == NULL);
    CHECK(sasl_server_new(st, "example.org/r", 0) == NULL);
    CHECK(sasl_server_new(st, "exa mple.org", 0) == NULL);
    CHECK(sasl_server_new(NULL, DOMAIN, 0) == NULL);
    sasl_server_free(NULL);
}

static void test_mechanisms(struct sasl_server *s, struct sasl_server *anon)
{
    const char *m[8];
    size_t n = sasl_mechanisms(s, 1, m, 8);
    CHECK_INT(n, 3);
    if (n == 3) {
        CHECK_STR(m[0], "SCRAM-SHA-256");
        CHECK_STR(m[1], "SCRAM-SHA-1");
        CHECK_STR(m[2], "PLAIN");
    }
    n = sasl_mechanisms(s, 0, m, 8);
    CHECK_INT(n, 2);
    for (size_t i = 0; i < n; i++)
        CHECK(strcmp(m[i], "PLAIN") != 0);
    n = sasl_mechanisms(anon, 1, m, 8);
    CHECK_INT(n, 4);
    if (n == 4)
        CHECK_STR(m[3], "ANONYMOUS");
    n = sasl_mechanisms(anon, 0, m, 8);
    CHECK_INT(n, 3);
    if (n == 3)
        CHECK_STR(m[2], "ANONYMOUS");
    n = sasl_mechanisms(anon, 1, m, 1);
    CHECK_INT(n, 1);
    CHECK_STR(m[0], "SCRAM-SHA-256");
    CHECK_INT(sasl_mechanisms(anon, 1, m, 0), 0);
}

static void test_invalid_mechanism(struct sasl_server *s)
{
    static const char *bad[] = {"DIGEST-MD5", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS",
                                "scram-sha-1", "CRAM-MD5", "EXTERNAL", "", "ANONYMOUS"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct sasl_exchange *e = (struct sasl_exchange *)1;
        char *out = (char *)1;
        CHECK_INT(sasl_exchange_start(s, bad[i], 1, NULL, &e, &out), SASL_E_INVALID_MECHANISM);
        CHECK(e == NULL);
        CHECK(out == NULL);
    }
    struct sasl_exchange *e = NULL;
    char *out = NULL;
    CHECK_INT(sasl_exchange_start(s, NULL, 1, NULL, &e, &out), SASL_E_INVALID_MECHANISM);
}

static void test_scram_success(struct sasl_server *s)
{
    struct scram_run r;
    for (int sha256 = 0; sha256 <= 1; sha256++) {
        scram(s, sha256, "n,,", "alice", ALICE_PW, &r);
        CHECK_INT(r.start_rc, SASL_CONTINUE);
        CHECK_INT(r.step_rc, SASL_SUCCESS);
        CHECK(r.v_ok);
        CHECK_STR(r.jid, "alice@" DOMAIN);
        CHECK_CONTAINS(r.server_first, ",i=4096");

        /* The localpart is case-folded like the store's JIDs. */
        scram(s, sha256, "n,,", "Alice", ALICE_PW, &r);
        CHECK_INT(r.step_rc, SASL_SUCCESS);
        CHECK_STR(r.jid, "alice@" DOMAIN);

        /* ',' and '=' travel escaped in n= (RFC 5802 5.1). */
        scram(s, sha256, "n,,", "o=2Ck=3Dx", "odd", &r);
        CHECK_INT(r.step_rc, SASL_SUCCESS);
        CHECK_STR(r.jid, "o,k=x@" DOMAIN);
        CHECK(r.v_ok);

        /* 'y': the client could bind but thinks we cannot, which is true. */
        scram(s, sha256, "y,,", "alice", ALICE_PW, &r);
        CHECK_INT(r.step_rc, SASL_SUCCESS);
        CHECK(r.v_ok);

        /* An authzid that is the user's own bare JID, in any case. */
        scram(s, sha256, "n,a=Alice@Example.ORG,", "alice", ALICE_PW, &r);
        CHECK_INT(r.step_rc, SASL_SUCCESS);
        CHECK_STR(r.jid, "alice@" DOMAIN);
    }

    /* The salt each mechanism gets is the user's own for it. */
    unsigned char salt[64];
    struct store_scram want;
    scram(s, 1, "n,,", "alice", ALICE_PW, &r);
    CHECK_INT(store_user_get_scram(st, "alice@" DOMAIN, STORE_SCRAM_SHA256, &want), 0);
    CHECK_INT(salt_of(r.server_first, salt), (int)want.salt_len);
    CHECK(memcmp(salt, want.salt, want.salt_len) == 0);
}

/* No initial response: an empty challenge, then the client-first. */
static void test_scram_no_initial_response(struct sasl_server *s)
{
    struct scram_client c;
    struct sasl_exchange *e = NULL;
    char first[256], final[1024], *out = NULL;
    client_init(&c, 1);
    client_first(&c, "n,,", "alice", "abcdefgh12345678", first, sizeof(first));
    CHECK_INT(sasl_exchange_start(s, "SCRAM-SHA-256", 0, NULL, &e, &out), SASL_CONTINUE);
    CHECK_STR(out, "");
    free(out);
    CHECK_INT(step_raw(e, first, strlen(first), &out), SASL_CONTINUE);
    char server_first[1024];
    fmt(server_first, sizeof(server_first), "%s", text_of(out));
    free(out);
    CHECK_INT(client_final(&c, server_first, ALICE_PW, NULL, final, sizeof(final)), 0);
    CHECK_INT(step_raw(e, final, strlen(final), &out), SASL_SUCCESS);
    char want[80];
    fmt(want, sizeof(want), "v=%s", c.server_sig_b64);
    CHECK_STR(text_of(out), want);
    CHECK_STR(sasl_exchange_jid(e), "alice@" DOMAIN);
    CHECK_STR(sasl_exchange_mechanism(e), "SCRAM-SHA-256");
    free(out);
    /* The exchange is over: another response is refused. */
    CHECK_INT(step_raw(e, final, strlen(final), &out), SASL_E_MALFORMED);
    CHECK(out == NULL);
    sasl_exchange_free(e);

    /* "" as the <auth/> text is no initial response too. */
    e = NULL;
    CHECK_INT(sasl_exchange_start(s, "SCRAM-SHA-1", 0, "", &e, &out), SASL_CONTINUE);
    CHECK_STR(out, "");
    free(out);
    /* An empty response to that is not a client-first message. */
    CHECK_INT(sasl_exchange_step(e, "=", &out), SASL_E_MALFORMED);
    CHECK(out == NULL);
    sasl_exchange_free(e);
    e = NULL;
    CHECK_INT(sasl_exchange_start(s, "SCRAM-SHA-1", 0, NULL, &e, &out), SASL_CONTINUE);
    free(out);
    CHECK_INT(sasl_exchange_step(e, NULL, &out), SASL_E_MALFORMED);
    sasl_exchange_free(e);

    /* "=": an empty initial response, which SCRAM cannot take. */
    e = (struct sasl_exchange *)1;
    CHECK_INT(sasl_exchange_start(s, "SCRAM-SHA-256", 0, "=", &e, &out), SASL_E_MALFORMED);
    CHECK(e == NULL);
}

static void test_scram_failures(struct sasl_server *s)
{
    struct scram_run r, r2;
    for (int sha256 = 0; sha256 <= 1; sha256++) {
        scram(s, sha256, "n,,", "alice", "wrong password", &r);
        CHECK_INT(r.start_rc, SASL_CONTINUE);
        CHECK_INT(r.step_rc, SASL_E_NOT_AUTHORIZED);

        /* An unknown user gets a salt and the usual count like anyone,
         * the same salt each time, and fails at the proof. */
        scram(s, sha256, "n,,", "ghost", "whatever", &r);
        CHECK_INT(r.start_rc, SASL_CONTINUE);
        CHECK_INT(r.step_rc, SASL_E_NOT_AUTHORIZED);
        CHECK_CONTAINS(r.server_first, ",i=4096");
        unsigned char s1[64], s2[64];
        CHECK_INT(salt_of(r.server_first, s1), STORE_SCRAM_SALT_LEN);
        scram(s, sha256, "n,,", "Ghost", "other", &r2);
        CHECK_INT(r2.step_rc, SASL_E_NOT_AUTHORIZED);
        CHECK_INT(salt_of(r2.server_first, s2), STORE_SCRAM_SALT_LEN);
        CHECK(memcmp(s1, s2, STORE_SCRAM_SALT_LEN) == 0);
        scram(s, sha256, "n,,", "phantom", "x", &r2);
        CHECK_INT(salt_of(r2.server_first, s2), STORE_SCRAM_SALT_LEN);
        CHECK(memcmp(s1, s2, STORE_SCRAM_SALT_LEN) != 0);
        scram(s, !sha256, "n,,", "ghost", "x", &r2);
        CHECK_INT(salt_of(r2.server_first, s2), STORE_SCRAM_SALT_LEN);
        CHECK(memcmp(s1, s2, STORE_SCRAM_SALT_LEN) != 0);

        /* Names that cannot be a localpart: the same path, the same end. */
        scram(s, sha256, "n,,", "alice@" DOMAIN, ALICE_PW, &r);
        CHECK_INT(r.start_rc, SASL_CONTINUE);
        CHECK_INT(r.step_rc, SASL_E_NOT_AUTHORIZED);
        scram(s, sha256, "n,,", "alice/res", ALICE_PW, &r);
        CHECK_INT(r.step_rc, SASL_E_NOT_AUTHORIZED);

        /* The right password but someone else's authzid. */
        scram(s, sha256, "n,a=bob@" DOMAIN ",", "alice", ALICE_PW, &r);
        CHECK_INT(r.step_rc, SASL_E_INVALID_AUTHZID);
        CHECK(r.jid[0] == '\0');
        scram(s, sha256, "n,a=alice,", "alice", ALICE_PW, &r);
        CHECK_INT(r.step_rc, SASL_E_INVALID_AUTHZID);
        scram(s, sha256, "n,a=alice@" DOMAIN "/res,", "alice", ALICE_PW, &r);
        CHECK_INT(r.step_rc, SASL_E_INVALID_AUTHZID);

        /* Channel binding asked for, on a mechanism without it. */
        scram(s, sha256, "p=tls-unique,,", "alice", ALICE_PW, &r);
        CHECK_INT(r.start_rc, SASL_E_NOT_AUTHORIZED);
        CHECK(r.step_rc != SASL_SUCCESS && r.jid[0] == '\0');
        scram(s, sha256, "p=tls-exporter,,", "alice", ALICE_PW, &r);
        CHECK_INT(r.start_rc, SASL_E_NOT_AUTHORIZED);
        CHECK(r.step_rc != SASL_SUCCESS && r.jid[0] == '\0');
    }
}

/* Runs the first step of a SCRAM-SHA-256 exchange for alice and returns
 * the exchange with the client state, for the tampering tests. */
static struct sasl_exchange *scram_half(struct sasl_server *s, struct scram_client *c,
                                        char *server_first, size_t size)
{
    struct sasl_exchange *e = NULL;
    char first[256], *out = NULL;
    client_init(c, 1);
    client_first(c, "n,,", "alice", "tamper0123456789", first, sizeof(first));
    CHECK_INT(start_raw(s, "SCRAM-SHA-256", 0, first, strlen(first), &e, &out), SASL_CONTINUE);
    fmt(server_first, size, "%s", text_of(out));
    free(out);
    return e;
}

static void test_scram_tampering(struct sasl_server *s)
{
    struct scram_client c;
    char sf[1024], final[2048], *out = NULL;
    struct sasl_exchange *e;

    /* Bad nonce: the client echoes a nonce that is not the server's. */
    e = scram_half(s, &c, sf, sizeof(sf));
    char nonce[512];
    fmt(nonce, sizeof(nonce), "%.*s", (int)(strstr(sf, ",s=") - sf - 2), sf + 2);
    nonce[strlen(nonce) - 1] ^= 1;
    CHECK_INT(client_final(&c, sf, ALICE_PW, nonce, final, sizeof(final)), 0);
    CHECK_INT(step_raw(e, final, strlen(final), &out), SASL_E_NOT_AUTHORIZED);
    CHECK(out == NULL);
    CHECK(sasl_exchange_jid(e) == NULL);
    sasl_exchange_free(e);

    /* Only the client's own nonce, without the server's part. */
    e = scram_half(s, &c, sf, sizeof(sf));
    CHECK_INT(client_final(&c, sf, ALICE_PW, "tamper0123456789", final, sizeof(final)), 0);
    CHECK_INT(step_raw(e, final, strlen(final), &out), SASL_E_NOT_AUTHORIZED);
    sasl_exchange_free(e);

    /* Tampered proof: one bit flipped. */
    e = scram_half(s, &c, sf, sizeof(sf));
    CHECK_INT(client_final(&c, sf, ALICE_PW, NULL, final, sizeof(final)), 0);
    char *p = strstr(final, ",p=") + 3;
    p[0] = p[0] == 'A' ? 'B' : 'A';
    CHECK_INT(step_raw(e, final, strlen(final), &out), SASL_E_NOT_AUTHORIZED);
    sasl_exchange_free(e);

    /* A proof of the wrong length. */
    e = scram_half(s, &c, sf, sizeof(sf));
    CHECK_INT(client_final(&c, sf, ALICE_PW, NULL, final, sizeof(final)), 0);
    p = strstr(final, ",p=") + 3;
    strcpy(p, "AAAA");
    CHECK_INT(step_raw(e, final, strlen(final), &out), SASL_E_MALFORMED);
    sasl_exchange_free(e);

    /* c= that is not the gs2 header sent in client-first ('y' claimed
     * afterwards: a downgrade attempt). */
    e = scram_half(s, &c, sf, sizeof(sf));
    fmt(c.gs2, sizeof(c.gs2), "y,,");
    CHECK_INT(client_final(&c, sf, ALICE_PW, NULL, final, sizeof(final)), 0);
    CHECK_INT(step_raw(e, final, strlen(final), &out), SASL_E_NOT_AUTHORIZED);
    sasl_exchange_free(e);

    /* A client-final message without its proof, and one that is not one. */
    static const char *bad_final[] = {"c=biws,r=abc", "hello world", "p=abc,c=biws,r=x"};
    for (size_t i = 0; i < sizeof(bad_final) / sizeof(bad_final[0]); i++) {
        e = scram_half(s, &c, sf, sizeof(sf));
        CHECK_INT(step_raw(e, bad_final[i], strlen(bad_final[i]), &out), SASL_E_MALFORMED);
        CHECK(out == NULL);
        sasl_exchange_free(e);
    }

    /* Not base64 in <response/>. */
    e = scram_half(s, &c, sf, sizeof(sf));
    CHECK_INT(sasl_exchange_step(e, "c=biws,r=x", &out), SASL_E_INCORRECT_ENCODING);
    CHECK(out == NULL);
    sasl_exchange_free(e);
}

static void test_scram_malformed(struct sasl_server *s)
{
    static const char *bad[] = {
        "n,,r=abcdefgh",                /* no n= */
        "x,,n=alice,r=abcdefgh",        /* bad gs2 flag */
        "n,n=alice,r=abcdefgh",         /* gs2 header cut short */
        "n,,n=alice",                   /* no nonce */
        "n,,n=,r=abcdefgh",             /* empty name */
        "n,,n=alice,r=",                /* empty nonce */
        "n,x=bob,n=alice,r=abcdefgh",   /* not an authzid field */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct sasl_exchange *e = NULL;
        char *out = NULL;
        int rc = start_raw(s, "SCRAM-SHA-1", 0, bad[i], strlen(bad[i]), &e, &out);
        if (rc != SASL_E_MALFORMED)
            fprintf(stderr, "  for \"%s\":\n", bad[i]);
        CHECK_INT(rc, SASL_E_MALFORMED);
        CHECK(e == NULL);
        CHECK(out == NULL);
    }

    /* A NUL inside the message. */
    struct sasl_exchange *e = NULL;
    char *out = NULL;
    static const char nul[] = "n,,n=ali\0ce,r=abcdefgh";
    CHECK_INT(start_raw(s, "SCRAM-SHA-256", 0, nul, sizeof(nul) - 1, &e, &out), SASL_E_MALFORMED);

    /* Base64 that is not (RFC 4648 section 4, as RFC 6120 6.4.2 wants). */
    static const char *not64[] = {"!!!!", "abc", "QQ=", "QR==", "QUI=x", "Q===",
                                  "QU=I", "bixu bj1h", "bixu\n", "=QUI", "===="};
    for (size_t i = 0; i < sizeof(not64) / sizeof(not64[0]); i++) {
        e = (struct sasl_exchange *)1;
        out = (char *)1;
        int rc = sasl_exchange_start(s, "SCRAM-SHA-1", 0, not64[i], &e, &out);
        if (rc != SASL_E_INCORRECT_ENCODING)
            fprintf(stderr, "  for \"%s\":\n", not64[i]);
        CHECK_INT(rc, SASL_E_INCORRECT_ENCODING);
        CHECK(e == NULL);
        CHECK(out == NULL);
    }
    /* The canonical forms of the same data are accepted as base64 (and
     * then fail as SCRAM): "QQ==" is "A", "QUI=" is "AB". */
    CHECK_INT(sasl_exchange_start(s, "SCRAM-SHA-1", 0, "QQ==", &e, &out), SASL_E_MALFORMED);
    CHECK_INT(sasl_exchange_start(s, "SCRAM-SHA-1", 0, "QUI=", &e, &out), SASL_E_MALFORMED);
}

static void test_plain(struct sasl_server *s)
{
    struct sasl_exchange *e = NULL;
    char *out = (char *)1;
    static const char good[] = "\0alice\0" ALICE_PW;

    CHECK_INT(start_raw(s, "PLAIN", 1, good, sizeof(good) - 1, &e, &out), SASL_SUCCESS);
    CHECK(out == NULL);     /* no additional data */
    CHECK_STR(sasl_exchange_jid(e), "alice@" DOMAIN);
    CHECK_STR(sasl_exchange_mechanism(e), "PLAIN");
    sasl_exchange_free(e);

    /* Insecure: refused before anything is read, and not offered. */
    e = (struct sasl_exchange *)1;
    CHECK_INT(start_raw(s, "PLAIN", 0, good, sizeof(good) - 1, &e, &out),
              SASL_E_ENCRYPTION_REQUIRED);
    CHECK(e == NULL);
    CHECK(out == NULL);

    static const struct {
        const char *msg;
        size_t len;
        int want;
    } cases[] = {
#define C(lit, want) {lit, sizeof(lit) - 1, want}
        C("\0alice\0wrong", SASL_E_NOT_AUTHORIZED),
        C("\0ghost\0" ALICE_PW, SASL_E_NOT_AUTHORIZED),
        C("\0Alice\0" ALICE_PW, SASL_SUCCESS),
        C("alice@" DOMAIN "\0alice\0" ALICE_PW, SASL_SUCCESS),
        C("ALICE@example.org\0alice\0" ALICE_PW, SASL_SUCCESS),
        C("bob@" DOMAIN "\0alice\0" ALICE_PW, SASL_E_INVALID_AUTHZID),
        C("alice\0alice\0" ALICE_PW, SASL_E_INVALID_AUTHZID),
        C("bob@" DOMAIN "\0alice\0wrong", SASL_E_NOT_AUTHORIZED),
        C("\0alice@" DOMAIN "\0" ALICE_PW, SASL_E_NOT_AUTHORIZED),
        C("\0alice\0", SASL_E_NOT_AUTHORIZED),
        C("\0\0" ALICE_PW, SASL_E_NOT_AUTHORIZED),
        C("alice " ALICE_PW, SASL_E_MALFORMED),
        C("\0alice", SASL_E_MALFORMED),
        C("\0alice\0pw\0x", SASL_E_MALFORMED),
#undef C
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        e = NULL;
        out = NULL;
        int rc = start_raw(s, "PLAIN", 1, cases[i].msg, cases[i].len, &e, &out);
        if (rc != cases[i].want)
            fprintf(stderr, "  PLAIN case %zu:\n", i);
        CHECK_INT(rc, cases[i].want);
        CHECK(out == NULL);
        if (rc == SASL_SUCCESS)
            CHECK_STR(sasl_exchange_jid(e), "alice@" DOMAIN);
        else
            CHECK(e == NULL);
        sasl_exchange_free(e);
    }

    /* No initial response: empty challenge, then the message. */
    e = NULL;
    CHECK_INT(sasl_exchange_start(s, "PLAIN", 1, NULL, &e, &out), SASL_CONTINUE);
    CHECK_STR(out, "");
    free(out);
    CHECK_INT(step_raw(e, good, sizeof(good) - 1, &out), SASL_SUCCESS);
    CHECK_STR(sasl_exchange_jid(e), "alice@" DOMAIN);
    sasl_exchange_free(e);

    /* Zero-length initial response: not a PLAIN message. */
    CHECK_INT(sasl_exchange_start(s, "PLAIN", 1, "=", &e, &out), SASL_E_MALFORMED);
}

static int is_guest_jid(const char *jid)
{
    if (!jid || strlen(jid) != 16 + strlen("@" DOMAIN) || strcmp(jid + 16, "@" DOMAIN) != 0)
        return 0;
    for (int i = 0; i < 16; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyz234567", jid[i]))
            return 0;
    return 1;
}

static void test_anonymous(struct sasl_server *off, struct sasl_server *on)
{
    struct sasl_exchange *e = NULL, *e2 = NULL;
    char *out = (char *)1;

    CHECK_INT(sasl_exchange_start(off, "ANONYMOUS", 1, NULL, &e, &out), SASL_E_INVALID_MECHANISM);
    CHECK(e == NULL);

    /* No trace token: success at once (what strophe.js expects). */
    CHECK_INT(sasl_exchange_start(on, "ANONYMOUS", 0, NULL, &e, &out), SASL_SUCCESS);
    CHECK(out == NULL);
    CHECK(is_guest_jid(sasl_exchange_jid(e)));
    CHECK_STR(sasl_exchange_mechanism(e), "ANONYMOUS");
    CHECK_INT(sasl_exchange_start(on, "ANONYMOUS", 1, "=", &e2, &out), SASL_SUCCESS);
    CHECK(is_guest_jid(sasl_exchange_jid(e2)));
    if (sasl_exchange_jid(e) && sasl_exchange_jid(e2))
        CHECK(strcmp(sasl_exchange_jid(e), sasl_exchange_jid(e2)) != 0);
    sasl_exchange_free(e);
    sasl_exchange_free(e2);

    /* With a trace token (RFC 4505). */
    e = NULL;
    CHECK_INT(start_raw(on, "ANONYMOUS", 1, "guest@example.net", 17, &e, &out), SASL_SUCCESS);
    CHECK(is_guest_jid(sasl_exchange_jid(e)));
    sasl_exchange_free(e);

    /* A token longer than RFC 4505's 255 characters. */
    char big[1100];
    memset(big, 'a', sizeof(big));
    e = NULL;
    CHECK_INT(start_raw(on, "ANONYMOUS", 1, big, sizeof(big), &e, &out), SASL_E_MALFORMED);
    CHECK(e == NULL);

    /* Many guests, all different. */
    char seen[64][STORE_JID_MAX + 1];
    int distinct = 1;
    for (int i = 0; i < 64; i++) {
        e = NULL;
        CHECK_INT(sasl_exchange_start(on, "ANONYMOUS", 1, NULL, &e, &out), SASL_SUCCESS);
        fmt(seen[i], sizeof(seen[i]), "%s", sasl_exchange_jid(e) ? sasl_exchange_jid(e) : "");
        for (int k = 0; k < i; k++)
            if (strcmp(seen[i], seen[k]) == 0)
                distinct = 0;
        sasl_exchange_free(e);
    }
    CHECK(distinct);
}

static void test_lengths(struct sasl_server *s)
{
    /* 3072 bytes encode to exactly SASL_MAX_B64 characters: accepted as
     * far as length goes (then refused: the password is too long for the
     * store). One more block is malformed-request, before decoding. */
    static char msg[3076];
    static char b64[8192];
    memset(msg, 'x', sizeof(msg));
    memcpy(msg, "\0alice\0", 7);
    struct sasl_exchange *e = NULL;
    char *out = NULL;
    b64enc(msg, 3072, b64);
    CHECK_INT(strlen(b64), SASL_MAX_B64);
    CHECK_INT(sasl_exchange_start(s, "PLAIN", 1, b64, &e, &out), SASL_E_NOT_AUTHORIZED);
    b64enc(msg, 3075, b64);
    CHECK_INT(sasl_exchange_start(s, "PLAIN", 1, b64, &e, &out), SASL_E_MALFORMED);
    CHECK(e == NULL);

    /* The same in a <response/>. */
    CHECK_INT(sasl_exchange_start(s, "PLAIN", 1, NULL, &e, &out), SASL_CONTINUE);
    free(out);
    CHECK_INT(sasl_exchange_step(e, b64, &out), SASL_E_MALFORMED);
    CHECK(out == NULL);
    sasl_exchange_free(e);

    /* Not even valid base64 past the limit: the length is what counts. */
    memset(b64, '!', 5000);
    b64[5000] = '\0';
    e = NULL;
    CHECK_INT(sasl_exchange_start(s, "SCRAM-SHA-1", 0, b64, &e, &out), SASL_E_MALFORMED);
}

/* Two logins at once do not mix. */
static void test_interleaved(struct sasl_server *s)
{
    struct scram_client c1, c2;
    struct sasl_exchange *e1 = NULL, *e2 = NULL;
    char f1[256], f2[256], sf1[1024], sf2[1024], fin[2048], *out = NULL;
    client_init(&c1, 1);
    client_init(&c2, 0);
    client_first(&c1, "n,,", "alice", "one1111111111111", f1, sizeof(f1));
    client_first(&c2, "n,,", "o=2Ck=3Dx", "two2222222222222", f2, sizeof(f2));
    CHECK_INT(start_raw(s, "SCRAM-SHA-256", 0, f1, strlen(f1), &e1, &out), SASL_CONTINUE);
    fmt(sf1, sizeof(sf1), "%s", text_of(out));
    free(out);
    CHECK_INT(start_raw(s, "SCRAM-SHA-1", 0, f2, strlen(f2), &e2, &out), SASL_CONTINUE);
    fmt(sf2, sizeof(sf2), "%s", text_of(out));
    free(out);
    CHECK_INT(client_final(&c2, sf2, "odd", NULL, fin, sizeof(fin)), 0);
    CHECK_INT(step_raw(e2, fin, strlen(fin), &out), SASL_SUCCESS);
    free(out);
    CHECK_INT(client_final(&c1, sf1, ALICE_PW, NULL, fin, sizeof(fin)), 0);
    CHECK_INT(step_raw(e1, fin, strlen(fin), &out), SASL_SUCCESS);
    free(out);
    CHECK_STR(sasl_exchange_jid(e1), "alice@" DOMAIN);
    CHECK_STR(sasl_exchange_jid(e2), "o,k=x@" DOMAIN);
    sasl_exchange_free(e2);
    sasl_exchange_free(e1);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Server time of one SCRAM-SHA-256 exchange (start + step, the client's
 * computations outside the clock). Returns the result of the step. */
static int timed_scram(struct sasl_server *s, struct scram_client *c, const char *user,
                       const char *password, double *server_us)
{
    struct sasl_exchange *e = NULL;
    char first[256], sf[1024], fin[2048], *out = NULL;
    static unsigned n;
    char cnonce[40];
    fmt(cnonce, sizeof(cnonce), "bench%010u", ++n);
    client_first(c, "n,,", user, cnonce, first, sizeof(first));
    char b64[512];
    b64enc(first, strlen(first), b64);
    double t0 = now_us();
    int rc = sasl_exchange_start(s, "SCRAM-SHA-256", 0, b64, &e, &out);
    double t1 = now_us();
    if (rc != SASL_CONTINUE) {
        *server_us = t1 - t0;
        return rc;
    }
    fmt(sf, sizeof(sf), "%s", text_of(out));
    free(out);
    out = NULL;
    if (client_final(c, sf, password, NULL, fin, sizeof(fin)) != 0) {
        sasl_exchange_free(e);
        return 99;
    }
    static char fb64[4096];
    b64enc(fin, strlen(fin), fb64);
    double t2 = now_us();
    rc = sasl_exchange_step(e, fb64, &out);
    free(out);
    sasl_exchange_free(e);
    double t3 = now_us();
    *server_us = (t1 - t0) + (t3 - t2);
    return rc;
}

static void test_timing(struct sasl_server *s)
{
    enum { N = 2000 };
    static double ok[N], wrong[N], unknown[N];
    struct scram_client cok, cwrong, cunknown;
    client_init(&cok, 1);
    client_init(&cwrong, 1);
    client_init(&cunknown, 1);
    int fails = 0;
    /* Interleaved, so that the machine's moods hit the three alike. */
    for (int i = 0; i < N; i++) {
        fails += timed_scram(s, &cok, "alice", ALICE_PW, &ok[i]) != SASL_SUCCESS;
        fails += timed_scram(s, &cwrong, "alice", "wrong", &wrong[i]) != SASL_E_NOT_AUTHORIZED;
        fails += timed_scram(s, &cunknown, "ghost", "wrong", &unknown[i]) !=
                 SASL_E_NOT_AUTHORIZED;
    }
    CHECK_INT(fails, 0);
    double total = 0;
    for (int i = 0; i < N; i++)
        total += ok[i];
    qsort(ok, N, sizeof(double), cmp_double);
    qsort(wrong, N, sizeof(double), cmp_double);
    qsort(unknown, N, sizeof(double), cmp_double);
    printf("SCRAM-SHA-256 server side, %d exchanges each: success mean %.1f us, median %.1f "
           "us, p99 %.1f us; wrong password median %.1f us; unknown user median %.1f us\n",
           N, total / N, ok[N / 2], ok[N * 99 / 100], wrong[N / 2], unknown[N / 2]);
    /* An unknown user must cost about what a wrong password costs: the
     * same steps, one store lookup each (measured here: within 3%). A
     * factor of 2 either way leaves room for a busy machine. */
    CHECK(unknown[N / 2] * 2 > wrong[N / 2]);
    CHECK(wrong[N / 2] * 2 > unknown[N / 2]);

    /* PLAIN: the store derives the keys for unknown users too. */
    enum { P = 40 };
    double pw[P], pu[P];
    static const char wrongmsg[] = "\0alice\0wrong";
    static const char unknownmsg[] = "\0ghost\0wrong";
    for (int i = 0; i < P; i++) {
        struct sasl_exchange *e = NULL;
        char *out = NULL;
        double t0 = now_us();
        CHECK_INT(start_raw(s, "PLAIN", 1, wrongmsg, sizeof(wrongmsg) - 1, &e, &out),
                  SASL_E_NOT_AUTHORIZED);
        double t1 = now_us();
        CHECK_INT(start_raw(s, "PLAIN", 1, unknownmsg, sizeof(unknownmsg) - 1, &e, &out),
                  SASL_E_NOT_AUTHORIZED);
        double t2 = now_us();
        pw[i] = t1 - t0;
        pu[i] = t2 - t1;
    }
    qsort(pw, P, sizeof(double), cmp_double);
    qsort(pu, P, sizeof(double), cmp_double);
    printf("PLAIN: wrong password median %.0f us, unknown user median %.0f us\n", pw[P / 2],
           pu[P / 2]);
    CHECK(pu[P / 2] * 3 > pw[P / 2]);
    CHECK(pw[P / 2] * 3 > pu[P / 2]);
}

int main(int argc, char **argv)
{
    (void)argc, (void)argv;
    struct store_error err;
    st = store_open(":memory:", &err);
    if (!st) {
        fprintf(stderr, "store_open: %s\n", err.what);
        return 1;
    }
    CHECK_INT(store_user_create(st, "alice@" DOMAIN, ALICE_PW), 0);
    CHECK_INT(store_user_create(st, "bob@" DOMAIN, "bob's password"), 0);
    CHECK_INT(store_user_create(st, "o,k=x@" DOMAIN, "odd"), 0);

    struct sasl_server *s = sasl_server_new(st, "Example.ORG", 0);
    struct sasl_server *anon = sasl_server_new(st, DOMAIN, 1);
    CHECK(s != NULL);
    CHECK(anon != NULL);
    if (!s || !anon)
        return check_report("test_sasl");

    test_conditions();
    test_new();
    test_client_vectors();
    test_mechanisms(s, anon);
    test_invalid_mechanism(s);
    test_scram_success(s);
    test_scram_no_initial_response(s);
    test_scram_failures(s);
    test_scram_tampering(s);
    test_scram_malformed(s);
    test_plain(s);
    test_anonymous(s, anon);
    test_lengths(s);
    test_interleaved(s);
    test_timing(s);

    sasl_server_free(anon);
    sasl_server_free(s);
    store_free(st);
    return check_report("test_sasl");
}
