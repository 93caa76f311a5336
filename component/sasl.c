/* sasl.c - the SASL server for browser logins, on GNU SASL (see sasl.h).
 *
 * libgsasl runs the mechanisms; this file decides what is offered, checks
 * what libgsasl leaves to the application, and answers its callbacks from
 * the store:
 *   - base64 is decoded here, strictly (RFC 6120 6.4.2: RFC 4648 section 4,
 *     no whitespace, canonical padding), so that a bad encoding is told
 *     apart from a bad message;
 *   - SCRAM: libgsasl asks for GSASL_SCRAM_ITER once it has parsed the
 *     client-first message; the callback then sets the iteration count
 *     (decimal), the salt (base64) and StoredKey/ServerKey. libgsasl 2.2
 *     reads those two keys as base64 (lib/scram/server.c decodes them with
 *     gsasl_base64_from; its manual agrees, the comment in gsasl.h saying
 *     "hex" is wrong). libgsasl accepts the 'p' channel-binding flag on the
 *     non-PLUS mechanisms when the client's c= carries no binding data:
 *     refused here before it sees the message;
 *   - PLAIN: libgsasl replaces an empty authzid by the authcid, so the
 *     authzid is read here from the message itself;
 *   - ANONYMOUS: libgsasl refuses an empty trace token, which RFC 4505
 *     allows and browsers send: a fixed token stands in for it. */
#include "sasl.h"

#include <assert.h>
#include <gsasl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store.h"

#define SECRET_LEN 32u
#define ANON_RANDOM_BYTES 10u   /* 80 bits: 16 base32 characters */
#define ANON_TOKEN "anonymous"

enum mech_kind { MECH_SCRAM, MECH_PLAIN, MECH_ANONYMOUS };

struct mech_info {
    const char *name;
    enum mech_kind kind;
    enum store_scram_mech scram;    /* for MECH_SCRAM */
};

/* Best first: the order of sasl_mechanisms(). */
static const struct mech_info mechs[] = {
    {"SCRAM-SHA-256", MECH_SCRAM, STORE_SCRAM_SHA256},
    {"SCRAM-SHA-1", MECH_SCRAM, STORE_SCRAM_SHA1},
    {"PLAIN", MECH_PLAIN, 0},
    {"ANONYMOUS", MECH_ANONYMOUS, 0},
};
#define NMECHS (sizeof(mechs) / sizeof(mechs[0]))

struct sasl_server {
    Gsasl *ctx;
    struct store *st;
    char domain[STORE_PART_MAX + 1];
    int allow_anonymous;
    unsigned char secret[SECRET_LEN];   /* keys the fake salts */
};

struct sasl_exchange {
    struct sasl_server *s;
    const struct mech_info *mech;
    Gsasl_session *sctx;
    unsigned messages;      /* client messages handed to libgsasl */
    int done;               /* a final result was returned */
    int creds_loaded;       /* SCRAM: the callback has run */
    int known;              /* the credentials are a real user's */
    int temp_fail;          /* the store failed: end with TEMPORARY */
    int authenticated;
    char *authzid;          /* PLAIN: the authzid as sent; NULL if empty */
    char jid[STORE_JID_MAX + 1];
};

const char *sasl_condition(int result)
{
    switch (result) {
    case SASL_SUCCESS:
    case SASL_CONTINUE:
        return NULL;
    case SASL_E_INVALID_MECHANISM:
        return "invalid-mechanism";
    case SASL_E_MALFORMED:
        return "malformed-request";
    case SASL_E_INCORRECT_ENCODING:
        return "incorrect-encoding";
    case SASL_E_ENCRYPTION_REQUIRED:
        return "encryption-required";
    case SASL_E_TEMPORARY:
        return "temporary-auth-failure";
    case SASL_E_INVALID_AUTHZID:
        return "invalid-authzid";
    case SASL_E_ABORTED:
        return "aborted";
    case SASL_E_NOT_AUTHORIZED:
    default:
        return result > 0 ? NULL : "not-authorized";
    }
}

/* ---- base64 ----------------------------------------------------------------- */

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decodes the character data of <auth/> or <response/>. NULL, "" and "="
 * are empty (len 0, *out NULL). Returns 0, SASL_E_MALFORMED (longer than
 * SASL_MAX_B64), SASL_E_INCORRECT_ENCODING (a character outside the
 * alphabet, a length not a multiple of 4, misplaced padding or padding
 * bits that are not zero), SASL_E_TEMPORARY (no memory). */
static int b64_decode(const char *in, unsigned char **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    if (!in)
        return 0;
    size_t n = strnlen(in, SASL_MAX_B64 + 1);
    if (n > SASL_MAX_B64)
        return SASL_E_MALFORMED;
    if (n == 0 || (n == 1 && in[0] == '='))
        return 0;
    if (n % 4 != 0)
        return SASL_E_INCORRECT_ENCODING;
    size_t pad = in[n - 1] == '=' ? (in[n - 2] == '=' ? 2 : 1) : 0;
    unsigned char *buf = malloc(n / 4 * 3);
    if (!buf)
        return SASL_E_TEMPORARY;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        size_t chars = (i + 4 == n) ? 4 - pad : 4;
        for (size_t k = 0; k < 4; k++) {
            v[k] = k < chars ? b64_value((unsigned char)in[i + k]) : 0;
            if (v[k] < 0) {
                free(buf);
                return SASL_E_INCORRECT_ENCODING;
            }
        }
        unsigned long w = ((unsigned long)v[0] << 18) | ((unsigned long)v[1] << 12) |
                          ((unsigned long)v[2] << 6) | (unsigned long)v[3];
        /* The bits the padding leaves over must be zero: one encoding per
         * byte string. */
        if ((chars == 2 && (w & 0xffff)) || (chars == 3 && (w & 0xff))) {
            free(buf);
            return SASL_E_INCORRECT_ENCODING;
        }
        buf[o++] = (unsigned char)(w >> 16);
        if (chars > 2)
            buf[o++] = (unsigned char)(w >> 8);
        if (chars > 3)
            buf[o++] = (unsigned char)w;
    }
    *out = buf;
    *outlen = o;
    return 0;
}

/* A new NUL-terminated base64 text of `in` (no line breaks), or NULL. */
static char *b64_encode(const void *in, size_t len)
{
    if (len > 3 * SASL_MAX_B64)
        return NULL;
    char *out = malloc((len + 2) / 3 * 4 + 1);
    if (out)
        EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    return out;
}

/* ---- Identities ------------------------------------------------------------- */

/* Writes the normalised bare JID of localpart `authid` into out (of
 * STORE_JID_MAX + 1 bytes). -1 when `authid` is empty, holds '@' or '/',
 * or the JID is not valid. */
static int user_jid(const struct sasl_server *s, const char *authid, char *out)
{
    char buf[STORE_JID_MAX + 2];
    out[0] = '\0';
    if (!authid || !*authid || strpbrk(authid, "@/"))
        return -1;
    int n = snprintf(buf, sizeof(buf), "%s@%s", authid, s->domain);
    if (n < 0 || (size_t)n >= sizeof(buf))
        return -1;
    if (store_jid_normalize(buf, 0, 1, out, STORE_JID_MAX + 1) != 0) {
        out[0] = '\0';     /* it may have written part of it */
        return -1;
    }
    return 0;
}

/* SASL_SUCCESS when `authzid` is NULL, empty or the exchange's JID. */
static int check_authzid(const struct sasl_exchange *e, const char *authzid)
{
    char norm[STORE_JID_MAX + 1];
    if (!authzid || !*authzid)
        return SASL_SUCCESS;
    if (store_jid_normalize(authzid, 0, 1, norm, sizeof(norm)) != 0 ||
        strcmp(norm, e->jid) != 0)
        return SASL_E_INVALID_AUTHZID;
    return SASL_SUCCESS;
}

/* A fresh guest JID: 16 base32 characters @domain, not a hosted user. */
static int anonymous_jid(struct sasl_exchange *e)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
    for (int attempt = 0; attempt < 4; attempt++) {
        unsigned char r[ANON_RANDOM_BYTES];
        char local[ANON_RANDOM_BYTES * 8 / 5 + 1];
        if (RAND_bytes(r, sizeof(r)) != 1)
            return SASL_E_TEMPORARY;
        unsigned bits = 0, acc = 0;
        size_t o = 0;
        for (size_t i = 0; i < sizeof(r); i++) {
            acc = (acc << 8) | r[i];
            bits += 8;
            while (bits >= 5) {
                local[o++] = alphabet[(acc >> (bits - 5)) & 31];
                bits -= 5;
            }
        }
        local[o] = '\0';
        if (user_jid(e->s, local, e->jid) != 0)
            return SASL_E_TEMPORARY;
        int rc = store_user_exists(e->s->st, e->jid);
        if (rc == STORE_ENOTFOUND)
            return SASL_SUCCESS;
        if (rc != 0) {
            log_warn("sasl", "store failed checking a guest JID: %s",
                     store_errmsg(e->s->st));
            return SASL_E_TEMPORARY;
        }
    }
    return SASL_E_TEMPORARY;
}

/* ---- libgsasl callbacks ---------------------------------------------------------- */

static int set_b64_property(Gsasl_session *sctx, Gsasl_property prop, const void *data,
                            size_t len)
{
    char *b64 = b64_encode(data, len);
    if (!b64)
        return GSASL_MALLOC_ERROR;
    int rc = gsasl_property_set(sctx, prop, b64);
    OPENSSL_cleanse(b64, strlen(b64));
    free(b64);
    return rc;
}

/* Credentials an unknown user is answered with: a salt that depends only
 * on the server's secret, the mechanism and the name (so that asking twice
 * gives the same answer, as for a real user), the usual iteration count
 * and random keys no proof can match. */
static int fake_scram(const struct sasl_exchange *e, const char *name, struct store_scram *sc)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;
    unsigned char msg[64 + STORE_JID_MAX + 1];
    size_t mlen = strlen(e->mech->name) + 1, nlen = strnlen(name, STORE_JID_MAX);
    memcpy(msg, e->mech->name, mlen);       /* with its NUL as a separator */
    memcpy(msg + mlen, name, nlen);
    memset(sc, 0, sizeof(*sc));
    sc->mech = e->mech->scram;
    sc->iterations = STORE_SCRAM_ITERATIONS;
    sc->salt_len = STORE_SCRAM_SALT_LEN;
    sc->key_len = e->mech->scram == STORE_SCRAM_SHA1 ? 20 : 32;
    if (!HMAC(EVP_sha256(), e->s->secret, SECRET_LEN, msg, mlen + nlen, mac, &maclen) ||
        maclen < STORE_SCRAM_SALT_LEN)
        return -1;
    memcpy(sc->salt, mac, STORE_SCRAM_SALT_LEN);
    if (RAND_bytes(sc->stored_key, (int)sc->key_len) != 1 ||
        RAND_bytes(sc->server_key, (int)sc->key_len) != 1)
        return -1;
    return 0;
}

/* Sets the iteration count, salt and keys of the user libgsasl has just
 * parsed out of the client-first message (or fake ones). */
static int scram_load(struct sasl_exchange *e, Gsasl_session *sctx)
{
    if (e->creds_loaded)
        return GSASL_NO_CALLBACK;
    e->creds_loaded = 1;

    const char *authid = gsasl_property_fast(sctx, GSASL_AUTHID);
    struct store_scram sc, fake;
    int valid = user_jid(e->s, authid, e->jid) == 0;
    /* The fake credentials are made for every user, known or not, so that
     * both cost the same work. They are keyed by the name a real lookup
     * uses, so that "Bob" and "bob" get the same salt. */
    int rc = fake_scram(e, valid ? e->jid : authid ? authid : "", &fake);
    if (rc == 0 && valid)
        rc = store_user_get_scram(e->s->st, e->jid, e->mech->scram, &sc);
    else if (rc == 0)
        rc = STORE_ENOTFOUND;
    else
        rc = STORE_ECRYPTO;
    if (rc == 0) {
        e->known = 1;
    } else {
        if (rc != STORE_ENOTFOUND) {
            log_warn("sasl", "cannot read credentials user=%s: %s", e->jid,
                     rc == STORE_ECRYPTO ? "no random bytes" : store_errmsg(e->s->st));
            e->temp_fail = 1;
        }
        sc = fake;
        e->jid[0] = '\0';
    }
    OPENSSL_cleanse(&fake, sizeof(fake));

    char iter[16];
    snprintf(iter, sizeof(iter), "%u", sc.iterations);
    rc = gsasl_property_set(sctx, GSASL_SCRAM_ITER, iter);
    if (rc == GSASL_OK)
        rc = set_b64_property(sctx, GSASL_SCRAM_SALT, sc.salt, sc.salt_len);
    if (rc == GSASL_OK)
        rc = set_b64_property(sctx, GSASL_SCRAM_STOREDKEY, sc.stored_key, sc.key_len);
    if (rc == GSASL_OK)
        rc = set_b64_property(sctx, GSASL_SCRAM_SERVERKEY, sc.server_key, sc.key_len);
    OPENSSL_cleanse(&sc, sizeof(sc));
    if (rc != GSASL_OK)
        e->temp_fail = 1;
    return rc;
}

/* PLAIN: checks the password libgsasl has parsed against the store. */
static int plain_check(struct sasl_exchange *e, Gsasl_session *sctx)
{
    const char *authid = gsasl_property_fast(sctx, GSASL_AUTHID);
    const char *password = gsasl_property_fast(sctx, GSASL_PASSWORD);
    int result = GSASL_AUTHENTICATION_ERROR;
    if (password && user_jid(e->s, authid, e->jid) == 0) {
        int rc = store_user_check_password(e->s->st, e->jid, password);
        if (rc == 0) {
            e->known = 1;
            result = GSASL_OK;
        } else if (rc != STORE_EAUTH && rc != STORE_ENOTFOUND && rc != STORE_EINVAL) {
            log_warn("sasl", "store failed checking a password user=%s: %s", e->jid,
                     store_errmsg(e->s->st));
            e->temp_fail = 1;
        }
    }
    if (!e->known)
        e->jid[0] = '\0';
    /* libgsasl frees its copy without wiping it; it is not read again. */
    if (password) {
        OPENSSL_cleanse((char *)password, strlen(password));
        gsasl_property_free(sctx, GSASL_PASSWORD);
    }
    return result;
}

static int on_property(Gsasl *ctx, Gsasl_session *sctx, Gsasl_property prop)
{
    (void)ctx;
    struct sasl_exchange *e = sctx ? gsasl_session_hook_get(sctx) : NULL;
    if (!e)
        return GSASL_NO_CALLBACK;
    switch (prop) {
    case GSASL_SCRAM_ITER:
    case GSASL_SCRAM_SALT:
    case GSASL_SCRAM_STOREDKEY:
    case GSASL_SCRAM_SERVERKEY:
        return e->mech->kind == MECH_SCRAM ? scram_load(e, sctx) : GSASL_NO_CALLBACK;
    case GSASL_VALIDATE_SIMPLE:
        return e->mech->kind == MECH_PLAIN ? plain_check(e, sctx) : GSASL_AUTHENTICATION_ERROR;
    case GSASL_VALIDATE_ANONYMOUS:
        return e->mech->kind == MECH_ANONYMOUS && e->s->allow_anonymous
                   ? GSASL_OK
                   : GSASL_AUTHENTICATION_ERROR;
    default:
        /* Notably GSASL_CB_TLS_UNIQUE/EXPORTER: no channel binding, so a
         * client's 'y' flag is right and accepted. GSASL_PASSWORD: SCRAM
         * must never fall back to a password. */
        return GSASL_NO_CALLBACK;
    }
}

/* ---- The server ------------------------------------------------------------------ */

struct sasl_server *sasl_server_new(struct store *st, const char *domain, int allow_anonymous)
{
    if (!st || !domain)
        return NULL;
    struct sasl_server *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->st = st;
    s->allow_anonymous = allow_anonymous != 0;
    if (strnlen(domain, STORE_PART_MAX + 1) > STORE_PART_MAX || strpbrk(domain, "@/") ||
        store_jid_normalize(domain, 0, 0, s->domain, sizeof(s->domain)) != 0)
        goto fail;
    if (RAND_bytes(s->secret, sizeof(s->secret)) != 1)
        goto fail;
    if (gsasl_init(&s->ctx) != GSASL_OK) {
        s->ctx = NULL;
        goto fail;
    }
    for (size_t i = 0; i < NMECHS; i++) {
        if (!gsasl_server_support_p(s->ctx, mechs[i].name)) {
            log_error("sasl", "libgsasl lacks the server side of %s", mechs[i].name);
            goto fail;
        }
    }
    gsasl_callback_set(s->ctx, on_property);
    return s;
fail:
    sasl_server_free(s);
    return NULL;
}

void sasl_server_free(struct sasl_server *s)
{
    if (!s)
        return;
    if (s->ctx)
        gsasl_done(s->ctx);
    OPENSSL_cleanse(s->secret, sizeof(s->secret));
    free(s);
}

static int mech_offered(const struct sasl_server *s, const struct mech_info *m, int secure)
{
    if (m->kind == MECH_PLAIN)
        return secure != 0;
    if (m->kind == MECH_ANONYMOUS)
        return s->allow_anonymous;
    return 1;
}

size_t sasl_mechanisms(const struct sasl_server *s, int secure, const char **names, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; s && i < NMECHS && n < max; i++)
        if (mech_offered(s, &mechs[i], secure))
            names[n++] = mechs[i].name;
    return n;
}

/* ---- Exchanges ------------------------------------------------------------------- */

/* Ends the exchange with `result`. */
static int finish(struct sasl_exchange *e, int result)
{
    e->done = 1;
    if (result != SASL_SUCCESS)
        e->jid[0] = '\0';
    return result;
}

static int map_gsasl_error(int rc)
{
    switch (rc) {
    case GSASL_MECHANISM_PARSE_ERROR:
    case GSASL_BASE64_ERROR:    /* base64 inside the SCRAM message (c=, p=) */
    case GSASL_MECHANISM_CALLED_TOO_MANY_TIMES:
        return SASL_E_MALFORMED;
    case GSASL_MALLOC_ERROR:
        return SASL_E_TEMPORARY;
    default:
        return SASL_E_NOT_AUTHORIZED;
    }
}

/* Hands one decoded client message to libgsasl. */
static int run(struct sasl_exchange *e, const unsigned char *in, size_t len, char **reply)
{
    const char *authzid = NULL;

    switch (e->mech->kind) {
    case MECH_SCRAM:
        if (len == 0 || memchr(in, '\0', len))
            return finish(e, SASL_E_MALFORMED);
        /* The 'p' flag asks for channel binding, which the non-PLUS
         * mechanisms we offer do not do: RFC 5802 5.1 says fail. */
        if (e->messages == 0 && in[0] == 'p')
            return finish(e, SASL_E_NOT_AUTHORIZED);
        break;
    case MECH_PLAIN: {
        if (len == 0)
            return finish(e, SASL_E_MALFORMED);
        const unsigned char *nul = memchr(in, '\0', len);
        free(e->authzid);
        e->authzid = NULL;
        if (nul && nul > in) {
            e->authzid = strndup((const char *)in, (size_t)(nul - in));
            if (!e->authzid)
                return finish(e, SASL_E_TEMPORARY);
        }
        break;
    }
    case MECH_ANONYMOUS:
        if (len == 0) {
            in = (const unsigned char *)ANON_TOKEN;
            len = strlen(ANON_TOKEN);
        }
        break;
    }

    char *out = NULL;
    size_t outlen = 0;
    e->messages++;
    int rc = gsasl_step(e->sctx, (const char *)in, len, &out, &outlen);
    int result;
    if (e->temp_fail) {
        result = SASL_E_TEMPORARY;
    } else if (rc == GSASL_NEEDS_MORE) {
        *reply = b64_encode(out ? out : "", out ? outlen : 0);
        result = *reply ? SASL_CONTINUE : SASL_E_TEMPORARY;
    } else if (rc != GSASL_OK) {
        result = map_gsasl_error(rc);
    } else {
        result = SASL_SUCCESS;
        switch (e->mech->kind) {
        case MECH_SCRAM:
            if (!e->known || !e->jid[0])    /* random keys cannot match */
                result = SASL_E_NOT_AUTHORIZED;
            else
                authzid = gsasl_property_fast(e->sctx, GSASL_AUTHZID);
            break;
        case MECH_PLAIN:
            if (!e->known || !e->jid[0])
                result = SASL_E_NOT_AUTHORIZED;
            else
                authzid = e->authzid;
            break;
        case MECH_ANONYMOUS:
            result = anonymous_jid(e);
            break;
        }
        if (result == SASL_SUCCESS)
            result = check_authzid(e, authzid);
        if (result == SASL_SUCCESS && out && outlen > 0) {
            *reply = b64_encode(out, outlen);
            if (!*reply)
                result = SASL_E_TEMPORARY;
        }
        if (result == SASL_SUCCESS)
            e->authenticated = 1;
    }
    if (out) {
        OPENSSL_cleanse(out, outlen);
        gsasl_free(out);
    }
    if (result != SASL_CONTINUE) {
        if (result != SASL_SUCCESS) {
            free(*reply);
            *reply = NULL;
        }
        return finish(e, result);
    }
    return result;
}

/* Decodes `b64` and runs it. */
static int feed(struct sasl_exchange *e, const char *b64, char **reply)
{
    unsigned char *in = NULL;
    size_t len = 0;
    int rc = b64_decode(b64, &in, &len);
    if (rc != 0)
        return finish(e, rc);
    rc = run(e, in, len, reply);
    if (in) {
        OPENSSL_cleanse(in, len);
        free(in);
    }
    return rc;
}

int sasl_exchange_start(struct sasl_server *s, const char *mech, int secure, const char *b64,
                        struct sasl_exchange **out, char **challenge_b64)
{
    assert(s && out && challenge_b64);
    *out = NULL;
    *challenge_b64 = NULL;

    const struct mech_info *m = NULL;
    for (size_t i = 0; mech && i < NMECHS; i++)
        if (strcmp(mech, mechs[i].name) == 0)
            m = &mechs[i];
    if (!m)
        return SASL_E_INVALID_MECHANISM;
    if (m->kind == MECH_PLAIN && !secure)
        return SASL_E_ENCRYPTION_REQUIRED;
    if (!mech_offered(s, m, secure))
        return SASL_E_INVALID_MECHANISM;

    struct sasl_exchange *e = calloc(1, sizeof(*e));
    if (!e)
        return SASL_E_TEMPORARY;
    e->s = s;
    e->mech = m;
    if (gsasl_server_start(s->ctx, m->name, &e->sctx) != GSASL_OK) {
        e->sctx = NULL;
        sasl_exchange_free(e);
        return SASL_E_TEMPORARY;
    }
    gsasl_session_hook_set(e->sctx, e);

    int rc;
    if ((!b64 || !*b64) && m->kind != MECH_ANONYMOUS) {
        /* No initial response: an empty challenge asks for it. */
        *challenge_b64 = strdup("");
        rc = *challenge_b64 ? SASL_CONTINUE : SASL_E_TEMPORARY;
    } else {
        rc = feed(e, b64, challenge_b64);
    }
    if (rc < 0) {
        free(*challenge_b64);
        *challenge_b64 = NULL;
        sasl_exchange_free(e);
        return rc;
    }
    *out = e;
    return rc;
}

int sasl_exchange_step(struct sasl_exchange *e, const char *b64, char **challenge_b64)
{
    assert(e && challenge_b64);
    *challenge_b64 = NULL;
    if (e->done)
        return SASL_E_MALFORMED;
    return feed(e, b64, challenge_b64);
}

const char *sasl_exchange_jid(const struct sasl_exchange *e)
{
    return e && e->authenticated ? e->jid : NULL;
}

const char *sasl_exchange_mechanism(const struct sasl_exchange *e)
{
    return e ? e->mech->name : NULL;
}

/* Wipes and drops a libgsasl property (its own free does not wipe). */
static void wipe_property(Gsasl_session *sctx, Gsasl_property prop)
{
    const char *v = gsasl_property_fast(sctx, prop);
    if (v)
        OPENSSL_cleanse((char *)v, strlen(v));
    gsasl_property_free(sctx, prop);
}

void sasl_exchange_free(struct sasl_exchange *e)
{
    if (!e)
        return;
    if (e->sctx) {
        wipe_property(e->sctx, GSASL_SCRAM_STOREDKEY);
        wipe_property(e->sctx, GSASL_SCRAM_SERVERKEY);
        wipe_property(e->sctx, GSASL_PASSWORD);
        gsasl_finish(e->sctx);
    }
    free(e->authzid);
    OPENSSL_cleanse(e, sizeof(*e));
    free(e);
}
