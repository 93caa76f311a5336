/* store.h - Epode's persistent state in one SQLite file: hosted users and
 * their SCRAM credentials, rosters, presence per resource, Jingle sessions.
 *
 * All SQL lives in store.c; nothing outside it includes sqlite3.h. The file
 * is in WAL mode with synchronous=FULL: when a store_* call that writes has
 * returned 0 the change is on disk and survives the process being killed or
 * the machine losing power. The schema is versioned with PRAGMA user_version
 * and upgraded by store_open() (docs/store.md).
 *
 * JIDs are normalised before they are stored or looked up: the localpart and
 * domainpart are lower-cased (ASCII only; no PRECIS/IDNA mapping yet) and the
 * resourcepart is kept as written. "Alice@Example.COM" and "alice@example.com"
 * are the same user.
 *
 * Passwords are never stored: only the SCRAM-SHA-1 and SCRAM-SHA-256 salted
 * keys (RFC 5802, RFC 7677). Passwords are used as the UTF-8 bytes given
 * (no SASLprep): ASCII passwords are unaffected.
 *
 * Errors: functions return 0 or a negative STORE_E* code; store_strerror()
 * names the code and store_errmsg() says what failed in the last call.
 *
 * One store object belongs to one thread at a time. Several store objects
 * (in one process or in several, e.g. the daemon and epodectl) may use the
 * same file: a writer waits up to the busy timeout for another to finish,
 * then fails with STORE_EBUSY. */
#ifndef EPODE_STORE_H
#define EPODE_STORE_H

#include <stddef.h>
#include <stdint.h>

/* Error codes (negative). */
enum {
    STORE_OK = 0,
    STORE_EINVAL = -1,      /* bad argument: malformed JID, empty password */
    STORE_ENOMEM = -2,      /* out of memory */
    STORE_ENOTFOUND = -3,   /* no such user, roster item, session */
    STORE_EEXISTS = -4,     /* the user or session already exists */
    STORE_EAUTH = -5,       /* wrong password */
    STORE_EBUSY = -6,       /* database is locked by another connection */
    STORE_ECORRUPT = -7,    /* not a database, or failed its integrity check */
    STORE_ESCHEMA = -8,     /* schema newer than this binary, or not Epode's */
    STORE_EACCESS = -9,     /* cannot open, create or write the file */
    STORE_EIO = -10,        /* I/O error, disk full */
    STORE_ECRYPTO = -11,    /* OpenSSL failed (random bytes, PBKDF2, HMAC) */
    STORE_EDB = -12,        /* any other SQLite error */
};

/* A short fixed description of an error code ("database is locked"). Never
 * NULL; static storage. */
const char *store_strerror(int code);

/* The schema version this binary creates and understands. */
#define STORE_SCHEMA_VERSION 1

/* Limits. Lengths are in bytes, without the terminating NUL. */
#define STORE_JID_MAX           3071u   /* RFC 7622: 1023 per part + '@' '/' */
#define STORE_PART_MAX          1023u   /* one JID part, a resource, a name */
#define STORE_PASSWORD_MAX      1023u
#define STORE_ROSTER_GROUPS_MAX 64u     /* groups of one roster item */
#define STORE_PRESENCE_MAX      65536u  /* presence stanza text */
#define STORE_SID_MAX           256u    /* Jingle sid */
#define STORE_CONTENTS_MAX      16384u  /* Jingle contents text */

/* ---- Opening ---------------------------------------------------------- */

struct store;

/* Why store_open() failed: the code and a message naming the file and the
 * cause ("/var/lib/epode/epode.db: file is not a database"). */
struct store_error {
    int code;
    char what[512];
};

/* Options for store_open_ex(). Zero-initialised means the defaults. */
struct store_opts {
    int busy_timeout_ms;    /* how long to wait for another connection's
                               lock: 0 = default (5000), < 0 = do not wait */
    int no_create;          /* 1: fail with STORE_EACCESS when the file does
                               not exist instead of creating it */
    int skip_check;         /* 1: skip PRAGMA quick_check at open (it reads
                               the whole file) */
};

/* Opens (creating it with mode 0600 when missing) the database at `path`,
 * switches it to WAL, checks it (quick_check unless opts->skip_check) and
 * upgrades its schema to STORE_SCHEMA_VERSION. `path` may be ":memory:" for
 * a private in-memory database (tests). `opts` may be NULL.
 *
 * Returns a new store (free with store_free), or NULL with `err` filled:
 * STORE_EACCESS (missing directory, not a regular file, permissions,
 * read-only file), STORE_EBUSY (another connection holds the file longer
 * than the busy timeout: "database is locked"), STORE_ECORRUPT ("file is not
 * a database", failed quick_check), STORE_ESCHEMA (schema version newer than
 * this binary, or a database some other program owns), STORE_ENOMEM. */
struct store *store_open_ex(const char *path, const struct store_opts *opts,
                            struct store_error *err);

/* store_open_ex() with the default options. */
struct store *store_open(const char *path, struct store_error *err);

/* Closes the database and frees the store. NULL is a no-op. */
void store_free(struct store *st);

/* What failed in the last call on `st` that returned an error (with the
 * SQLite message where there is one). Owned by the store; valid until the
 * next call on it. "" after a success. */
const char *store_errmsg(const struct store *st);

/* The schema version of the open database (STORE_SCHEMA_VERSION after a
 * successful open). */
int store_schema_version(struct store *st);

/* Writes the normalised form of `jid` into `out` (of `size` bytes): bare
 * when `allow_resource` is 0 (a resource is then an error), or full. With
 * `need_local`, a JID without a localpart is an error. Returns 0, or
 * STORE_EINVAL when the JID is malformed, a part is empty or too long, or
 * `out` is too small. */
int store_jid_normalize(const char *jid, int allow_resource, int need_local,
                        char *out, size_t size);

/* Several writes in one transaction, so that they cost one fsync instead
 * of one each: store_batch_begin(), then only the single-statement writers
 * (store_jingle_session_put/update/delete, store_presence_set/clear),
 * then store_batch_end(), which commits. A writer that fails inside may
 * roll the whole batch back: its error says so, and store_batch_end()
 * then returns 0 with nothing written. Returns 0, STORE_EINVAL (a batch is
 * already open), STORE_EBUSY or a database error. */
int store_batch_begin(struct store *st);
int store_batch_end(struct store *st);

/* ---- SCRAM credentials -------------------------------------------------- */

enum store_scram_mech {
    STORE_SCRAM_SHA1 = 1,   /* SCRAM-SHA-1, RFC 5802 */
    STORE_SCRAM_SHA256 = 2, /* SCRAM-SHA-256, RFC 7677 */
};

#define STORE_SCRAM_ITERATIONS  4096u   /* for new passwords, both mechs */
#define STORE_SCRAM_SALT_LEN    16u     /* bytes of salt for new passwords */
#define STORE_SCRAM_SALT_MAX    64u     /* longest salt the store accepts */
#define STORE_SCRAM_KEY_MAX     32u     /* SHA-256 output */

/* What a SCRAM server needs for one user and mechanism. */
struct store_scram {
    enum store_scram_mech mech;
    unsigned iterations;
    unsigned char salt[STORE_SCRAM_SALT_MAX];
    size_t salt_len;
    char salt_b64[(STORE_SCRAM_SALT_MAX + 2) / 3 * 4 + 1]; /* for s= */
    size_t key_len;                         /* 20 (SHA-1) or 32 (SHA-256) */
    unsigned char stored_key[STORE_SCRAM_KEY_MAX];  /* H(ClientKey) */
    unsigned char server_key[STORE_SCRAM_KEY_MAX];  /* HMAC(SaltedPassword,
                                                       "Server Key") */
};

/* "SCRAM-SHA-1", "SCRAM-SHA-256", or NULL for an unknown value. */
const char *store_scram_mech_name(enum store_scram_mech mech);

/* Derives the credentials for `password` with the given salt and iteration
 * count into `out` (no database involved): SaltedPassword = PBKDF2(password,
 * salt, i), StoredKey = H(HMAC(SaltedPassword, "Client Key")), ServerKey =
 * HMAC(SaltedPassword, "Server Key"). Intermediate secrets are wiped.
 * Returns 0, STORE_EINVAL (salt empty or longer than STORE_SCRAM_SALT_MAX,
 * iterations 0, unknown mech) or STORE_ECRYPTO. */
int store_scram_derive(enum store_scram_mech mech, const char *password,
                       const unsigned char *salt, size_t salt_len,
                       unsigned iterations, struct store_scram *out);

/* ---- Users ---------------------------------------------------------------- */

/* Creates the hosted user `jid` (a bare JID with a localpart) with
 * credentials for both mechanisms derived from `password` (fresh random
 * salts, STORE_SCRAM_ITERATIONS). Returns 0, STORE_EEXISTS, STORE_EINVAL
 * (bad JID, empty or too long password), STORE_ECRYPTO, or a database
 * error. */
int store_user_create(struct store *st, const char *jid, const char *password);

/* Deletes the user with their credentials, roster and presence. Returns 0
 * or STORE_ENOTFOUND. */
int store_user_delete(struct store *st, const char *jid);

/* Replaces the user's credentials with ones derived from `password` (new
 * salts). Returns 0, STORE_ENOTFOUND, STORE_EINVAL. */
int store_user_set_password(struct store *st, const char *jid,
                            const char *password);

/* 0 when `jid` is a hosted user, STORE_ENOTFOUND when not. */
int store_user_exists(struct store *st, const char *jid);

/* The hosted users' JIDs, sorted. */
struct store_user_list {
    char **jids;
    size_t n;
};

/* Fills `*out` with a new list (free with store_user_list_free). Returns 0
 * or an error, leaving *out NULL. */
int store_user_list(struct store *st, struct store_user_list **out);
void store_user_list_free(struct store_user_list *list);

/* Copies the user's credentials for `mech` into `out`. Returns 0,
 * STORE_ENOTFOUND (no such user, or no credentials for that mechanism),
 * STORE_ECORRUPT (a stored value has an impossible size). */
int store_user_get_scram(struct store *st, const char *jid,
                         enum store_scram_mech mech, struct store_scram *out);

/* Checks `password` for SASL PLAIN: derives the keys with the user's
 * SCRAM-SHA-256 salt and iteration count (SCRAM-SHA-1 when there is no
 * SHA-256 row) and compares them in constant time. Returns 0 when it
 * matches, STORE_EAUTH when it does not, STORE_ENOTFOUND for an unknown
 * user (after spending the same time, so answer both the same way). */
int store_user_check_password(struct store *st, const char *jid,
                              const char *password);

/* ---- Roster (RFC 6121) ------------------------------------------------------ */

enum store_subscription {
    STORE_SUB_NONE = 0,
    STORE_SUB_TO,
    STORE_SUB_FROM,
    STORE_SUB_BOTH,
};

/* "none", "to", "from", "both"; NULL for an unknown value. */
const char *store_subscription_name(enum store_subscription sub);
/* The value for a name, or -1. */
int store_subscription_from_name(const char *name);

/* One roster item. Items returned by the store own their strings (freed by
 * store_roster_free / store_roster_item_free); items passed in are only
 * read. */
struct store_roster_item {
    const char *jid;            /* the contact's bare JID (normalised) */
    const char *name;           /* handle, or NULL */
    const char **groups;        /* group names, sorted, no duplicates */
    size_t ngroups;
    enum store_subscription subscription;
    int ask;                    /* 1: we asked to subscribe (ask='subscribe') */
    int pending_in;             /* 1: the contact asked; the user has not
                                   answered yet ("Pending In") */
    int approved;               /* 1: pre-approved (RFC 6121 3.4) */
};

struct store_roster {
    struct store_roster_item *items;    /* sorted by jid */
    size_t n;
};

/* Fills `*out` with the roster of user `owner` (free with
 * store_roster_free). Returns 0 (an empty roster is n == 0) or
 * STORE_ENOTFOUND when `owner` is not a hosted user. */
int store_roster_get(struct store *st, const char *owner,
                     struct store_roster **out);
void store_roster_free(struct store_roster *roster);

/* Fills `*out` with one item of `owner`'s roster (free with
 * store_roster_item_free). STORE_ENOTFOUND when there is none. */
int store_roster_item_get(struct store *st, const char *owner,
                          const char *jid, struct store_roster_item **out);
void store_roster_item_free(struct store_roster_item *item);

/* Adds or replaces (with its groups) the item `item->jid` of `owner`'s
 * roster. Duplicate group names are merged. Returns 0, STORE_ENOTFOUND (no
 * such user), STORE_EINVAL (bad JID, a name or group too long or empty
 * group, more than STORE_ROSTER_GROUPS_MAX groups). */
int store_roster_item_put(struct store *st, const char *owner,
                          const struct store_roster_item *item);

/* Removes an item. Returns 0 or STORE_ENOTFOUND. */
int store_roster_item_remove(struct store *st, const char *owner,
                             const char *jid);

/* ---- Presence ------------------------------------------------------------- */

struct store_presence {
    char *resource;
    int priority;               /* -128..127 */
    char *stanza;               /* the last presence stanza, as text */
    int64_t updated_at_ms;      /* Unix time in milliseconds */
};

struct store_presence_list {
    struct store_presence *items;   /* highest priority first, then the
                                       most recently updated */
    size_t n;
};

/* Records the last presence of `owner`'s `resource` (replacing the previous
 * one). Returns 0, STORE_ENOTFOUND (no such user), STORE_EINVAL (priority
 * out of range, empty or too long resource or stanza). */
int store_presence_set(struct store *st, const char *owner,
                       const char *resource, int priority, const char *stanza);

/* Forgets the presence of `resource`, or of every resource of `owner` when
 * `resource` is NULL. Clearing what is not there is not an error. */
int store_presence_clear(struct store *st, const char *owner,
                         const char *resource);

/* Forgets every presence of every user (the daemon's start: nobody is
 * online). */
int store_presence_clear_all(struct store *st);

/* Fills `*out` with `owner`'s available resources (free with
 * store_presence_list_free). An unknown owner has none. */
int store_presence_list(struct store *st, const char *owner,
                        struct store_presence_list **out);
void store_presence_list_free(struct store_presence_list *list);

/* ---- Jingle sessions --------------------------------------------------------- */

enum store_jingle_role {
    STORE_JINGLE_INITIATOR = 0, /* our user initiated the session */
    STORE_JINGLE_RESPONDER = 1,
};

enum store_jingle_state {       /* XEP-0166 session states */
    STORE_JINGLE_PENDING = 0,
    STORE_JINGLE_ACTIVE = 1,
    STORE_JINGLE_ENDED = 2,
};

/* "initiator"/"responder", "pending"/"active"/"ended"; NULL if unknown. */
const char *store_jingle_role_name(enum store_jingle_role role);
const char *store_jingle_state_name(enum store_jingle_state state);

/* A Jingle session. Sessions returned by the store own their strings (freed
 * by store_jingle_session_free); sessions passed in are only read. */
struct store_jingle_session {
    const char *sid;
    const char *initiator;      /* full JID (normalised) */
    const char *responder;      /* full JID (normalised) */
    enum store_jingle_role role;
    enum store_jingle_state state;
    const char *contents;       /* content names and mids, as text the
                                   caller chooses; NULL reads as "" */
    int64_t created_at_ms;      /* set by the store */
    int64_t updated_at_ms;      /* set by the store */
};

/* Records a new session. Returns 0, STORE_EEXISTS (the sid is taken),
 * STORE_EINVAL (bad JID, empty or too long sid or contents). */
int store_jingle_session_put(struct store *st,
                             const struct store_jingle_session *s);

/* Fills `*out` with the session `sid` (free with
 * store_jingle_session_free). STORE_ENOTFOUND when there is none. */
int store_jingle_session_get(struct store *st, const char *sid,
                             struct store_jingle_session **out);
void store_jingle_session_free(struct store_jingle_session *s);

/* Sets the state of session `sid`, and its contents when `contents` is not
 * NULL. Returns 0 or STORE_ENOTFOUND. */
int store_jingle_session_update(struct store *st, const char *sid,
                                enum store_jingle_state state,
                                const char *contents);

/* Deletes session `sid`. Returns 0 or STORE_ENOTFOUND. */
int store_jingle_session_delete(struct store *st, const char *sid);

#endif
