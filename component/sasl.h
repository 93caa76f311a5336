/* sasl.h - the SASL server (RFC 6120 section 6, RFC 4422) with which
 * hosted users log in from browsers, built on GNU SASL (libgsasl 2.2).
 *
 * Mechanisms, best first:
 *   SCRAM-SHA-256, SCRAM-SHA-1 (RFC 7677, RFC 5802) against the keys in
 *     the store; no -PLUS variants (no channel binding yet), so a client
 *     that asks for channel binding (gs2 flag 'p') fails and one that
 *     says it could but thinks we cannot ('y') succeeds;
 *   PLAIN (RFC 4616), only on a secure connection (TLS, or loopback);
 *   ANONYMOUS (RFC 4505), only when enabled: the user gets a fresh random
 *     JID in the domain. The trace token is optional, as in Prosody and
 *     ejabberd: <auth mechanism='ANONYMOUS'/> succeeds at once.
 *
 * Identities: the authentication identity (SCRAM's n=, PLAIN's authcid)
 * is the localpart; the user is authcid@domain, normalised with
 * store_jid_normalize(). An authorization identity must be empty or that
 * same bare JID, else invalid-authzid (checked once the credentials have
 * been verified). An unknown user and a wrong password both end in
 * not-authorized after the same steps: SCRAM answers an unknown user with
 * a salt that is stable per name (HMAC of a secret drawn at start) and
 * the usual iteration count, and fails at the proof.
 *
 * Transport-agnostic: text in and out is the base64 character data of
 * <auth/>, <challenge/>, <response/> and <success/>; XML is the caller's.
 * Every piece of client data is capped at SASL_MAX_B64 characters.
 *
 * One thread: every call for one sasl_server (and its exchanges) on the
 * same thread. The store lookups are synchronous. */
#ifndef EPODE_SASL_H
#define EPODE_SASL_H

#include <stddef.h>

struct store;

/* Longest base64 text accepted in <auth/> or <response/>; longer is
 * malformed-request. */
#define SASL_MAX_B64 4096u

/* How many mechanisms sasl_mechanisms() can write at most. */
#define SASL_MECH_MAX 4u

/* Results. SASL_CONTINUE: send a <challenge/>; SASL_SUCCESS: send
 * <success/>; negative: send <failure/> with sasl_condition(result). */
enum sasl_result {
    SASL_CONTINUE = 1,
    SASL_SUCCESS = 0,
    SASL_E_INVALID_MECHANISM = -1,  /* unknown or not offered here */
    SASL_E_NOT_AUTHORIZED = -2,     /* bad credentials, unknown user */
    SASL_E_MALFORMED = -3,          /* breaks the mechanism's syntax, too long */
    SASL_E_INCORRECT_ENCODING = -4, /* not base64 (RFC 4648 section 4) */
    SASL_E_ENCRYPTION_REQUIRED = -5,/* PLAIN on an insecure connection */
    SASL_E_TEMPORARY = -6,          /* the store failed, out of memory */
    SASL_E_INVALID_AUTHZID = -7,    /* authzid is not the user's bare JID */
    SASL_E_ABORTED = -8,            /* for the caller: the client sent <abort/> */
};

/* The RFC 6120 section 6.5 condition element name for a negative result
 * ("not-authorized", "malformed-request", ...): static text, never NULL
 * for a negative value (an unknown one reads "not-authorized"). NULL for
 * SASL_SUCCESS and SASL_CONTINUE. */
const char *sasl_condition(int result);

/* ---- The server: one per daemon ------------------------------------------ */

struct sasl_server;

/* A new server for users of `domain` (normalised and copied), looking
 * users up in `st` (borrowed: it must outlive the server). ANONYMOUS is
 * offered when `allow_anonymous` is non-zero. Draws the secret for the
 * salts of unknown users. Returns NULL when `domain` is not a valid
 * domainpart, libgsasl lacks one of the mechanisms, random bytes or memory
 * are not available. */
struct sasl_server *sasl_server_new(struct store *st, const char *domain, int allow_anonymous);

/* Frees the server. Every exchange must have been freed before. NULL is
 * a no-op. */
void sasl_server_free(struct sasl_server *s);

/* Writes to names[0..max) the mechanisms to offer, best first, on a
 * connection that is `secure` (TLS or loopback: PLAIN is offered) or not.
 * The strings are static. Returns how many were written (at most
 * SASL_MECH_MAX, at most `max`). */
size_t sasl_mechanisms(const struct sasl_server *s, int secure, const char **names, size_t max);

/* ---- One login attempt on one stream ----------------------------------------- */

struct sasl_exchange;

/* Starts mechanism `mech` (the <auth/> element's attribute) on a
 * connection that is `secure` or not, with the initial response `b64`:
 * the element's character data, NULL or "" when it has none (no initial
 * response: SCRAM and PLAIN then answer with an empty challenge), "=" for
 * an empty initial response (RFC 6120 6.4.2).
 *
 * On SASL_CONTINUE, `*challenge_b64` is the text for <challenge/> ("" for
 * an empty one). On SASL_SUCCESS it is the additional data for <success/>
 * (SCRAM's v=...), or NULL when the mechanism has none. The caller frees
 * it with free(). On both, `*out` is the new exchange (free with
 * sasl_exchange_free).
 *
 * On failure (negative result) `*out` and `*challenge_b64` are NULL:
 * SASL_E_INVALID_MECHANISM (unknown, not offered, ANONYMOUS disabled),
 * SASL_E_ENCRYPTION_REQUIRED (PLAIN and not `secure`), or any failure of
 * sasl_exchange_step(). */
int sasl_exchange_start(struct sasl_server *s, const char *mech, int secure, const char *b64,
                        struct sasl_exchange **out, char **challenge_b64);

/* Continues the exchange with the character data of the client's
 * <response/> (NULL, "" and "=" all mean empty). `*challenge_b64` as for
 * sasl_exchange_start (NULL on failure).
 *
 * Failures: SASL_E_INCORRECT_ENCODING (not base64), SASL_E_MALFORMED
 * (over SASL_MAX_B64 characters, breaks the mechanism's syntax, or the
 * exchange had already ended), SASL_E_NOT_AUTHORIZED (wrong password,
 * unknown user, bad nonce or proof, channel binding asked for),
 * SASL_E_INVALID_AUTHZID, SASL_E_TEMPORARY (the store failed, no memory).
 * After any result but SASL_CONTINUE the exchange has ended: free it. */
int sasl_exchange_step(struct sasl_exchange *e, const char *b64, char **challenge_b64);

/* After SASL_SUCCESS: the authenticated bare JID (user@domain,
 * normalised), or for ANONYMOUS a fresh random one (16 base32 characters
 * @domain). Owned by the exchange. NULL before success. */
const char *sasl_exchange_jid(const struct sasl_exchange *e);

/* The mechanism's name ("SCRAM-SHA-256"), static text; for logs. */
const char *sasl_exchange_mechanism(const struct sasl_exchange *e);

/* Frees the exchange, wiping what it held of the credentials. NULL is a
 * no-op. */
void sasl_exchange_free(struct sasl_exchange *e);

#endif
