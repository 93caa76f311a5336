/* store.c - the SQLite store (see store.h and docs/store.md).
 *
 * The only file that includes sqlite3.h. Every statement is written once, in
 * stmt_sql[], prepared on first use and kept in the store object until
 * store_free(). A statement is reset as soon as its result has been read, so
 * no read transaction stays open between calls (an open one would stop WAL
 * checkpoints). Writes that touch several rows run in BEGIN IMMEDIATE
 * transactions: they take the write lock up front, so the busy timeout
 * applies to them (a deferred transaction that upgrades from read to write
 * can fail at once with SQLITE_BUSY in WAL mode). */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sqlite3.h>

#include "store.h"

/* PRAGMA application_id of an Epode database: "EPOD". It lets store_open()
 * refuse a database that belongs to another program. */
#define STORE_APPLICATION_ID 0x45504f44
#define STORE_BUSY_DEFAULT_MS 5000
/* A stored iteration count above this is taken for corruption: PLAIN logins
 * would otherwise spend minutes in PBKDF2. */
#define STORE_ITERATIONS_MAX 10000000u

/* ---- Schema ------------------------------------------------------------- */

/* migrations[i] takes a database from user_version i to i + 1. Published
 * entries are never edited: a change to the schema is a new entry (and
 * STORE_SCHEMA_VERSION + 1). All pending entries and the new user_version
 * are applied in one transaction. */
static const char *const migrations[] = {
    /* 0 -> 1: the first schema. Times are Unix milliseconds. */
    "CREATE TABLE users ("
    "  jid TEXT PRIMARY KEY NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  password_changed_at INTEGER NOT NULL"
    ") STRICT, WITHOUT ROWID;"

    /* One row per user and mechanism: a new mechanism (SCRAM-SHA-512) is
     * new rows, not new columns. */
    "CREATE TABLE scram_credentials ("
    "  jid TEXT NOT NULL REFERENCES users(jid) ON DELETE CASCADE,"
    "  mechanism TEXT NOT NULL"
    "    CHECK (mechanism IN ('SCRAM-SHA-1', 'SCRAM-SHA-256')),"
    "  salt BLOB NOT NULL,"
    "  iterations INTEGER NOT NULL CHECK (iterations > 0),"
    "  stored_key BLOB NOT NULL,"
    "  server_key BLOB NOT NULL,"
    "  PRIMARY KEY (jid, mechanism)"
    ") STRICT, WITHOUT ROWID;"

    "CREATE TABLE roster_items ("
    "  owner TEXT NOT NULL REFERENCES users(jid) ON DELETE CASCADE,"
    "  jid TEXT NOT NULL,"
    "  name TEXT,"
    "  subscription TEXT NOT NULL DEFAULT 'none'"
    "    CHECK (subscription IN ('none', 'to', 'from', 'both')),"
    "  ask INTEGER NOT NULL DEFAULT 0 CHECK (ask IN (0, 1)),"
    "  pending_in INTEGER NOT NULL DEFAULT 0 CHECK (pending_in IN (0, 1)),"
    "  approved INTEGER NOT NULL DEFAULT 0 CHECK (approved IN (0, 1)),"
    "  updated_at INTEGER NOT NULL,"
    "  PRIMARY KEY (owner, jid)"
    ") STRICT, WITHOUT ROWID;"

    /* Groups in a child table: a group name is any XML text (newlines,
     * commas, quotes), the primary key makes the set unique, and renaming
     * or listing a group is plain SQL. */
    "CREATE TABLE roster_groups ("
    "  owner TEXT NOT NULL,"
    "  jid TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  PRIMARY KEY (owner, jid, name),"
    "  FOREIGN KEY (owner, jid) REFERENCES roster_items(owner, jid)"
    "    ON DELETE CASCADE"
    ") STRICT, WITHOUT ROWID;"

    "CREATE TABLE presence ("
    "  owner TEXT NOT NULL REFERENCES users(jid) ON DELETE CASCADE,"
    "  resource TEXT NOT NULL,"
    "  priority INTEGER NOT NULL CHECK (priority BETWEEN -128 AND 127),"
    "  stanza TEXT NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  PRIMARY KEY (owner, resource)"
    ") STRICT, WITHOUT ROWID;"

    "CREATE TABLE jingle_sessions ("
    "  sid TEXT PRIMARY KEY NOT NULL,"
    "  initiator TEXT NOT NULL,"
    "  responder TEXT NOT NULL,"
    "  role TEXT NOT NULL CHECK (role IN ('initiator', 'responder')),"
    "  state TEXT NOT NULL CHECK (state IN ('pending', 'active', 'ended')),"
    "  contents TEXT NOT NULL DEFAULT '',"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL"
    ") STRICT, WITHOUT ROWID;",
};

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == STORE_SCHEMA_VERSION,
               "one migration per schema version");

/* ---- Statements --------------------------------------------------------- */

enum stmt_id {
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_USER_INSERT,
    S_USER_TOUCH,
    S_USER_DELETE,
    S_USER_EXISTS,
    S_USER_LIST,
    S_SCRAM_PUT,
    S_SCRAM_GET,
    S_ROSTER_GET,
    S_ROSTER_ITEM_GET,
    S_ROSTER_UPSERT,
    S_ROSTER_GROUPS_DELETE,
    S_ROSTER_GROUP_INSERT,
    S_ROSTER_DELETE,
    S_PRESENCE_SET,
    S_PRESENCE_CLEAR,
    S_PRESENCE_CLEAR_OWNER,
    S_PRESENCE_CLEAR_ALL,
    S_PRESENCE_LIST,
    S_JINGLE_INSERT,
    S_JINGLE_GET,
    S_JINGLE_UPDATE,
    S_JINGLE_DELETE,
    S_COUNT
};

#define ROSTER_SELECT                                                          \
    "SELECT i.jid, i.name, i.subscription, i.ask, i.pending_in, i.approved,"  \
    " g.name FROM roster_items i LEFT JOIN roster_groups g"                   \
    " ON g.owner = i.owner AND g.jid = i.jid"

static const char *const stmt_sql[S_COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_USER_INSERT] =
        "INSERT INTO users (jid, created_at, password_changed_at)"
        " VALUES (?1, ?2, ?2)",
    [S_USER_TOUCH] = "UPDATE users SET password_changed_at = ?2 WHERE jid = ?1",
    [S_USER_DELETE] = "DELETE FROM users WHERE jid = ?1",
    [S_USER_EXISTS] = "SELECT 1 FROM users WHERE jid = ?1",
    [S_USER_LIST] = "SELECT jid FROM users ORDER BY jid",
    [S_SCRAM_PUT] =
        "INSERT OR REPLACE INTO scram_credentials"
        " (jid, mechanism, salt, iterations, stored_key, server_key)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [S_SCRAM_GET] =
        "SELECT salt, iterations, stored_key, server_key"
        " FROM scram_credentials WHERE jid = ?1 AND mechanism = ?2",
    [S_ROSTER_GET] = ROSTER_SELECT " WHERE i.owner = ?1 ORDER BY i.jid, g.name",
    [S_ROSTER_ITEM_GET] =
        ROSTER_SELECT " WHERE i.owner = ?1 AND i.jid = ?2 ORDER BY g.name",
    [S_ROSTER_UPSERT] =
        "INSERT INTO roster_items"
        " (owner, jid, name, subscription, ask, pending_in, approved, updated_at)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
        " ON CONFLICT (owner, jid) DO UPDATE SET name = excluded.name,"
        " subscription = excluded.subscription, ask = excluded.ask,"
        " pending_in = excluded.pending_in, approved = excluded.approved,"
        " updated_at = excluded.updated_at",
    [S_ROSTER_GROUPS_DELETE] =
        "DELETE FROM roster_groups WHERE owner = ?1 AND jid = ?2",
    [S_ROSTER_GROUP_INSERT] =
        "INSERT OR IGNORE INTO roster_groups (owner, jid, name) VALUES (?1, ?2, ?3)",
    [S_ROSTER_DELETE] = "DELETE FROM roster_items WHERE owner = ?1 AND jid = ?2",
    [S_PRESENCE_SET] =
        "INSERT INTO presence (owner, resource, priority, stanza, updated_at)"
        " VALUES (?1, ?2, ?3, ?4, ?5)"
        " ON CONFLICT (owner, resource) DO UPDATE SET"
        " priority = excluded.priority, stanza = excluded.stanza,"
        " updated_at = excluded.updated_at",
    [S_PRESENCE_CLEAR] = "DELETE FROM presence WHERE owner = ?1 AND resource = ?2",
    [S_PRESENCE_CLEAR_OWNER] = "DELETE FROM presence WHERE owner = ?1",
    [S_PRESENCE_CLEAR_ALL] = "DELETE FROM presence",
    [S_PRESENCE_LIST] =
        "SELECT resource, priority, stanza, updated_at FROM presence"
        " WHERE owner = ?1 ORDER BY priority DESC, updated_at DESC, resource",
    [S_JINGLE_INSERT] =
        "INSERT INTO jingle_sessions (sid, initiator, responder, role, state,"
        " contents, created_at, updated_at)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
    [S_JINGLE_GET] =
        "SELECT initiator, responder, role, state, contents, created_at,"
        " updated_at FROM jingle_sessions WHERE sid = ?1",
    [S_JINGLE_UPDATE] =
        "UPDATE jingle_sessions SET state = ?2, contents = coalesce(?3, contents),"
        " updated_at = ?4 WHERE sid = ?1",
    [S_JINGLE_DELETE] = "DELETE FROM jingle_sessions WHERE sid = ?1",
};

struct store {
    sqlite3 *db;
    sqlite3_stmt *stmts[S_COUNT];
    int busy_timeout_ms;
    char errmsg[512];
};

/* ---- Errors --------------------------------------------------------------- */

const char *store_strerror(int code)
{
    switch (code) {
    case STORE_OK: return "success";
    case STORE_EINVAL: return "invalid argument";
    case STORE_ENOMEM: return "out of memory";
    case STORE_ENOTFOUND: return "not found";
    case STORE_EEXISTS: return "already exists";
    case STORE_EAUTH: return "wrong password";
    case STORE_EBUSY: return "database is locked";
    case STORE_ECORRUPT: return "database is corrupt";
    case STORE_ESCHEMA: return "unsupported database schema";
    case STORE_EACCESS: return "cannot open or write the database file";
    case STORE_EIO: return "I/O error";
    case STORE_ECRYPTO: return "cryptography error";
    case STORE_EDB: return "database error";
    }
    return "unknown error";
}

const char *store_errmsg(const struct store *st)
{
    return st ? st->errmsg : "";
}

__attribute__((format(printf, 3, 4)))
static int fail(struct store *st, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->errmsg, sizeof(st->errmsg), fmt, ap);
    va_end(ap);
    return code;
}

static int code_from_sqlite(int rc)
{
    switch (rc) {
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_UNIQUE:
        return STORE_EEXISTS;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        return STORE_ENOTFOUND;
    }
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return STORE_EBUSY;
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
        return STORE_ECORRUPT;
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return STORE_EACCESS;
    case SQLITE_NOMEM:
        return STORE_ENOMEM;
    case SQLITE_IOERR:
    case SQLITE_FULL:
        return STORE_EIO;
    case SQLITE_CONSTRAINT:
        return STORE_EINVAL;
    }
    return STORE_EDB;
}

/* Records the failure of a SQLite call on `what` (NULL: the message alone)
 * and returns its code. Must run before anything else touches the
 * connection (sqlite3_errmsg() is the message of the last call). */
static int db_fail(struct store *st, int rc, const char *what)
{
    int code = code_from_sqlite(rc);
    char msg[160];
    if (code == STORE_EBUSY)
        snprintf(msg, sizeof(msg), "database is locked (another connection "
                 "held it past the busy timeout, %d ms)", st->busy_timeout_ms);
    else
        snprintf(msg, sizeof(msg), "%s", sqlite3_errmsg(st->db));
    if (!what)
        return fail(st, code, "%s", msg);
    return fail(st, code, "%s: %s", what, msg);
}

/* ---- Statements and transactions ------------------------------------------- */

static int stmt_get(struct store *st, enum stmt_id id, sqlite3_stmt **out)
{
    assert(id < S_COUNT && stmt_sql[id]);
    if (!st->stmts[id]) {
        int rc = sqlite3_prepare_v3(st->db, stmt_sql[id], -1,
                                    SQLITE_PREPARE_PERSISTENT, &st->stmts[id], NULL);
        if (rc != SQLITE_OK) {
            st->stmts[id] = NULL;
            *out = NULL;
            return db_fail(st, rc, "prepare");
        }
    }
    *out = st->stmts[id];
    return 0;
}

static void stmt_done(sqlite3_stmt *q)
{
    if (q) {
        sqlite3_reset(q);
        sqlite3_clear_bindings(q);
    }
}

/* Binds `s` (NULL binds SQL NULL). The text is used before the statement is
 * reset, so SQLite need not copy it. */
static int bind_text(sqlite3_stmt *q, int i, const char *s)
{
    if (!s)
        return sqlite3_bind_null(q, i);
    return sqlite3_bind_text(q, i, s, -1, SQLITE_STATIC);
}

/* Runs a statement that returns no rows and resets it. *changes, when not
 * NULL, gets the number of rows it changed. */
static int run(struct store *st, sqlite3_stmt *q, const char *what, int *changes)
{
    int rc = sqlite3_step(q);
    int ret = 0;
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        ret = db_fail(st, rc, what);
    else if (changes)
        *changes = sqlite3_changes(st->db);
    stmt_done(q);
    return ret;
}

static int run_id(struct store *st, enum stmt_id id, const char *what)
{
    sqlite3_stmt *q = NULL;
    int rc = stmt_get(st, id, &q);
    return rc ? rc : run(st, q, what, NULL);
}

static int tx_begin(struct store *st)
{
    return run_id(st, S_BEGIN, "begin transaction");
}

static int tx_commit(struct store *st)
{
    return run_id(st, S_COMMIT, "commit");
}

/* Rolls back the open transaction, if any. The error being reported is kept
 * in errmsg. */
static void tx_rollback(struct store *st)
{
    if (sqlite3_get_autocommit(st->db))
        return;
    sqlite3_stmt *q = NULL;
    if (stmt_get(st, S_ROLLBACK, &q) == 0) {
        sqlite3_step(q);
        stmt_done(q);
    }
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A malloc'd copy of text column `i`; NULL stays NULL. */
static int col_dup(sqlite3_stmt *q, int i, char **out)
{
    *out = NULL;
    if (sqlite3_column_type(q, i) == SQLITE_NULL)
        return 0;
    const unsigned char *t = sqlite3_column_text(q, i);
    if (!t)
        return STORE_ENOMEM;
    size_t n = (size_t)sqlite3_column_bytes(q, i);
    char *s = malloc(n + 1);
    if (!s)
        return STORE_ENOMEM;
    memcpy(s, t, n);
    s[n] = '\0';
    *out = s;
    return 0;
}

/* Returns `ptr` (an array of *cap elements of `size` bytes) grown to hold at
 * least n + 1 elements, or NULL (ptr untouched) when out of memory. */
static void *grow(void *ptr, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return ptr;
    size_t ncap = *cap ? *cap * 2 : 8;
    void *t = realloc(ptr, ncap * size);
    if (t)
        *cap = ncap;
    return t;
}

/* ---- Text checks and JIDs ----------------------------------------------------- */

static int utf8_valid(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned min;
        if ((c & 0xe0) == 0xc0) {
            n = 1, min = 0x80, c &= 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2, min = 0x800, c &= 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3, min = 0x10000, c &= 0x07;
        } else {
            return 0;
        }
        if (len - i <= n)
            return 0;
        for (size_t k = 1; k <= n; k++) {
            unsigned b = s[i + k];
            if ((b & 0xc0) != 0x80)
                return 0;
            c = (c << 6) | (b & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
            return 0;
        i += n + 1;
    }
    return 1;
}

enum text_kind {
    TEXT_STRICT,    /* no control character at all (resource, sid) */
    TEXT_XML,       /* what XML character data may hold: tab, CR, LF too */
};

/* Checks that `s` is 1..max bytes of valid UTF-8 of the given kind. */
static int text_ok(const char *s, size_t max, enum text_kind kind)
{
    if (!s)
        return 0;
    size_t len = strnlen(s, max + 1);
    if (len == 0 || len > max)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 && (kind == TEXT_STRICT || (c != '\t' && c != '\n' && c != '\r')))
            return 0;
    }
    return utf8_valid((const unsigned char *)s, len);
}

/* Copies one non-empty JID part into out, lower-casing ASCII when `fold`.
 * Refuses control characters, space when `fold`, and the characters in
 * `banned`. Returns NULL, or what is wrong. */
static const char *jid_part(const char *p, size_t n, const char *banned, int fold,
                            char *out)
{
    if (n > STORE_PART_MAX)
        return "a part is longer than 1023 bytes";
    if (!utf8_valid((const unsigned char *)p, n))
        return "not UTF-8";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x20 || c == 0x7f || (fold && c == ' ') || (banned && strchr(banned, c)))
            return "a control character, space or one of \" & ' / : < > @ "
                   "where it is not allowed";
        out[i] = (char)(fold && c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    return NULL;
}

/* The normaliser; on failure *why says what is wrong. */
static int jid_normalize(const char *jid, int allow_resource, int need_local,
                         char *out, size_t size, const char **why)
{
    *why = "no JID";
    if (!jid)
        return STORE_EINVAL;
    size_t len = strnlen(jid, STORE_JID_MAX + 1);
    *why = "longer than 3071 bytes";
    if (len > STORE_JID_MAX)
        return STORE_EINVAL;
    *why = "does not fit the buffer";
    if (size <= len)
        return STORE_EINVAL;
    const char *slash = memchr(jid, '/', len);
    size_t bare = slash ? (size_t)(slash - jid) : len;
    const char *at = memchr(jid, '@', bare);
    const char *dom = at ? at + 1 : jid;
    size_t dlen = bare - (size_t)(dom - jid);
    /* RFC 7622 3.2: a trailing dot of the domainpart is dropped. */
    if (dlen > 1 && dom[dlen - 1] == '.')
        dlen--;
    *why = "no localpart (expected user@domain)";
    if (need_local && !at)
        return STORE_EINVAL;
    *why = "a resource is not allowed here";
    if (slash && !allow_resource)
        return STORE_EINVAL;

    size_t o = 0;
    *why = "empty localpart";
    if (at == jid)
        return STORE_EINVAL;
    *why = "empty domainpart";
    if (dlen == 0 || (dlen == 1 && dom[0] == '.'))
        return STORE_EINVAL;
    *why = "empty resourcepart";
    if (slash && slash + 1 == jid + len)
        return STORE_EINVAL;

    if (at) {
        /* RFC 7622 3.3.1: these may not appear in a localpart. */
        if ((*why = jid_part(jid, (size_t)(at - jid), "\"&'/:<>@", 1, out)))
            return STORE_EINVAL;
        o = (size_t)(at - jid);
        out[o++] = '@';
    }
    if ((*why = jid_part(dom, dlen, "\"&'/<>@\\", 1, out + o)))
        return STORE_EINVAL;
    o += dlen;
    if (slash) {
        size_t rlen = len - bare - 1;
        if ((*why = jid_part(slash + 1, rlen, NULL, 0, out + o + 1)))
            return STORE_EINVAL;
        out[o] = '/';
        o += 1 + rlen;
    }
    out[o] = '\0';
    return 0;
}

int store_jid_normalize(const char *jid, int allow_resource, int need_local,
                        char *out, size_t size)
{
    const char *why;
    return jid_normalize(jid, allow_resource, need_local, out, size, &why);
}

/* Normalises `jid` for `st`, with a message naming `what` on failure. */
static int norm(struct store *st, const char *jid, int allow_resource,
                int need_local, char *out, const char *what)
{
    const char *why;
    int rc = jid_normalize(jid, allow_resource, need_local, out,
                           STORE_JID_MAX + 1, &why);
    if (rc)
        return fail(st, rc, "bad %s JID: %s", what, why);
    return 0;
}

static void clear_err(struct store *st)
{
    st->errmsg[0] = '\0';
}

/* ---- Opening -------------------------------------------------------------------- */

__attribute__((format(printf, 3, 4)))
static void open_fail(struct store_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err->code = code;
    vsnprintf(err->what, sizeof(err->what), fmt, ap);
    va_end(ap);
}

/* Checks the path before SQLite sees it, for errors that name the cause, and
 * creates a missing file with mode 0600 (it holds password-equivalent keys;
 * SQLite gives its -wal and -shm files the same mode). Never opens an
 * existing file: closing a descriptor would drop the POSIX locks SQLite
 * holds on it in this process. */
static int prepare_file(const char *path, const struct store_opts *o,
                        struct store_error *err)
{
    struct stat sb;
    if (stat(path, &sb) == 0) {
        if (S_ISDIR(sb.st_mode)) {
            open_fail(err, STORE_EACCESS, "%s: is a directory", path);
            return -1;
        }
        if (!S_ISREG(sb.st_mode)) {
            open_fail(err, STORE_EACCESS, "%s: not a regular file", path);
            return -1;
        }
        if (access(path, R_OK | W_OK) != 0) {
            open_fail(err, STORE_EACCESS, "%s: %s", path, strerror(errno));
            return -1;
        }
        return 0;
    }
    if (errno != ENOENT) {
        open_fail(err, STORE_EACCESS, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (o->no_create) {
        open_fail(err, STORE_EACCESS, "%s: no such database file", path);
        return -1;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        if (errno == EEXIST)    /* created meanwhile by another process */
            return 0;
        open_fail(err, STORE_EACCESS, "%s: cannot create it: %s%s", path, strerror(errno),
                  errno == ENOENT ? " (does the directory exist?)" : "");
        return -1;
    }
    close(fd);
    return 0;
}

/* Reads the first column of the first row of `sql` as an integer or (when
 * text is not NULL) as text into text[size]. */
static int query_one(struct store *st, const char *sql, long long *num,
                     char *text, size_t size)
{
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(st->db, sql, -1, &q, NULL);
    if (rc != SQLITE_OK)
        return db_fail(st, rc, NULL);
    rc = sqlite3_step(q);
    int ret = 0;
    if (rc == SQLITE_ROW) {
        if (num)
            *num = sqlite3_column_int64(q, 0);
        if (text) {
            const unsigned char *t = sqlite3_column_text(q, 0);
            snprintf(text, size, "%s", t ? (const char *)t : "");
        }
    } else if (rc == SQLITE_DONE) {
        if (num)
            *num = 0;
        if (text && size)
            text[0] = '\0';
    } else {
        ret = db_fail(st, rc, NULL);
    }
    sqlite3_finalize(q);
    return ret;
}

/* Reads the application id, the schema version and the number of schema
 * objects in one statement, hence from one snapshot: another process may be
 * migrating the file at this very moment. */
static int read_header(struct store *st, long long *app_id, long long *version,
                       long long *objects)
{
    static const char sql[] =
        "SELECT (SELECT application_id FROM pragma_application_id),"
        " (SELECT user_version FROM pragma_user_version),"
        " (SELECT count(*) FROM sqlite_schema)";
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(st->db, sql, -1, &q, NULL);
    if (rc != SQLITE_OK)
        return db_fail(st, rc, NULL);
    rc = sqlite3_step(q);
    int ret = 0;
    if (rc == SQLITE_ROW) {
        *app_id = sqlite3_column_int64(q, 0);
        *version = sqlite3_column_int64(q, 1);
        *objects = sqlite3_column_int64(q, 2);
    } else {
        ret = db_fail(st, rc, NULL);
    }
    sqlite3_finalize(q);
    return ret;
}

static int exec(struct store *st, const char *sql, const char *what)
{
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : db_fail(st, rc, what);
}

/* Brings the schema to STORE_SCHEMA_VERSION. Idempotent: the version is read
 * again under the write lock, so two processes opening a new file at once
 * migrate it once. */
static int migrate(struct store *st)
{
    long long v;
    int rc = query_one(st, "PRAGMA user_version", &v, NULL, 0);
    if (rc || v == STORE_SCHEMA_VERSION)
        return rc;
    if ((rc = tx_begin(st)))
        return rc;
    if ((rc = query_one(st, "PRAGMA user_version", &v, NULL, 0)))
        goto out;
    if (v > STORE_SCHEMA_VERSION || v < 0) {
        rc = fail(st, STORE_ESCHEMA, "schema version %lld is newer than this "
                  "Epode knows (%d): use a newer Epode", v, STORE_SCHEMA_VERSION);
        goto out;
    }
    for (; v < STORE_SCHEMA_VERSION; v++) {
        char what[64];
        snprintf(what, sizeof(what), "migration to schema version %lld", v + 1);
        if ((rc = exec(st, migrations[v], what)))
            goto out;
    }
    char sql[128];
    snprintf(sql, sizeof(sql), "PRAGMA application_id = %d; PRAGMA user_version = %d",
             STORE_APPLICATION_ID, STORE_SCHEMA_VERSION);
    if ((rc = exec(st, sql, "set schema version")))
        goto out;
    rc = tx_commit(st);
out:
    if (rc)
        tx_rollback(st);
    return rc;
}

/* The checks and settings of store_open_ex once SQLite has the file. On
 * failure st->errmsg says why. */
static int setup(struct store *st, int memory, const struct store_opts *o)
{
    int rc;
    sqlite3_extended_result_codes(st->db, 1);
    sqlite3_busy_timeout(st->db, st->busy_timeout_ms);
    /* No writable_schema tricks and no functions run from the schema: the
     * file is data, not code. */
    sqlite3_db_config(st->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(st->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);

    /* The first statement reads the header: garbage fails here with
     * SQLITE_NOTADB, a lock held elsewhere with SQLITE_BUSY after the
     * timeout. */
    char mode[16];
    if ((rc = query_one(st, "PRAGMA journal_mode = WAL", NULL, mode, sizeof(mode))))
        return rc;
    if (strcmp(mode, memory ? "memory" : "wal") != 0)
        return fail(st, STORE_EDB, "cannot switch to WAL mode (journal_mode is %s)", mode);

    /* Durability. In WAL mode synchronous=NORMAL survives the process being
     * killed (a commit has reached the OS) but a power cut or kernel crash
     * may lose the last commits; FULL syncs the WAL at every commit, so an
     * acknowledged write (an account created, a roster change the client
     * was told about) survives those too. Our writes are small and few per
     * user action: one fsync each is affordable. */
    if ((rc = exec(st, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON",
                   "set pragmas")))
        return rc;

    long long app_id = 0, version = 0, objects = 0;
    if ((rc = read_header(st, &app_id, &version, &objects)))
        return rc;
    if (app_id != 0 && app_id != STORE_APPLICATION_ID)
        return fail(st, STORE_ESCHEMA, "not an Epode database (application_id "
                    "0x%08llx)", (unsigned long long)app_id & 0xffffffffu);
    if (version == 0 && objects > 0)
        return fail(st, STORE_ESCHEMA, "not an Epode database (it has tables "
                    "but no Epode schema version)");
    if (version > STORE_SCHEMA_VERSION || version < 0)
        return fail(st, STORE_ESCHEMA, "schema version %lld is newer than this "
                    "Epode knows (%d): use a newer Epode", version,
                    STORE_SCHEMA_VERSION);

    if (!o->skip_check && objects > 0) {
        char res[256];
        if ((rc = query_one(st, "PRAGMA quick_check(1)", NULL, res, sizeof(res))))
            return rc;
        if (strcmp(res, "ok") != 0) {
            for (char *p = res; *p; p++)    /* one line for logs */
                if (*p == '\n')
                    *p = ' ';
            return fail(st, STORE_ECORRUPT, "integrity check failed: %s", res);
        }
    }
    return migrate(st);
}

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000 + (double)ts.tv_nsec / 1e6;
}

/* Finalizes the statements and closes the connection, if open. */
static void db_close(struct store *st)
{
    for (int i = 0; i < S_COUNT; i++) {
        sqlite3_finalize(st->stmts[i]);
        st->stmts[i] = NULL;
    }
    /* Every statement is finalized, so this closes (and, as the last
     * connection, checkpoints and removes the WAL). */
    sqlite3_close(st->db);
    st->db = NULL;
}

/* One attempt at opening: SQLite's open, then setup(). On failure `err` is
 * filled and the connection closed. */
static int db_open(struct store *st, const char *path, int memory,
                   const struct store_opts *o, struct store_error *err)
{
    int flags = SQLITE_OPEN_READWRITE | (o->no_create ? 0 : SQLITE_OPEN_CREATE);
    int rc = sqlite3_open_v2(path, &st->db, flags, NULL);
    if (rc != SQLITE_OK) {
        rc = code_from_sqlite(rc);
        open_fail(err, rc, "%s: %s", path,
                  st->db ? sqlite3_errmsg(st->db) : "out of memory");
    } else if (sqlite3_db_readonly(st->db, "main") == 1) {
        /* SQLite falls back to read-only when it may not write the file. */
        rc = STORE_EACCESS;
        open_fail(err, rc, "%s: read-only for this user", path);
    } else if ((rc = setup(st, memory, o))) {
        /* The file itself was checked before: what is left is the
         * directory. */
        const char *hint = "";
        if (rc == STORE_EACCESS && !memory)
            hint = " (the directory must be writable for the -wal and -shm files)";
        open_fail(err, rc, "%s: %s%s", path, st->errmsg, hint);
    }
    if (rc)
        db_close(st);
    return rc;
}

struct store *store_open_ex(const char *path, const struct store_opts *opts,
                            struct store_error *err)
{
    struct store_error scratch;
    struct store_opts o = {0};
    if (!err)
        err = &scratch;
    err->code = 0;
    err->what[0] = '\0';
    if (opts)
        o = *opts;
    if (!path || !*path) {
        open_fail(err, STORE_EINVAL, "no database path");
        return NULL;
    }
    int memory = strcmp(path, ":memory:") == 0;
    if (!memory && prepare_file(path, &o, err))
        return NULL;

    struct store *st = calloc(1, sizeof(*st));
    if (!st) {
        open_fail(err, STORE_ENOMEM, "%s: out of memory", path);
        return NULL;
    }
    st->busy_timeout_ms = o.busy_timeout_ms == 0 ? STORE_BUSY_DEFAULT_MS
                        : o.busy_timeout_ms < 0 ? 0 : o.busy_timeout_ms;
    /* Where waiting could deadlock, SQLite answers SQLITE_BUSY at once
     * without calling the busy handler: two connections switching a new
     * file to WAL together, a reader that must upgrade. Everything setup()
     * does is idempotent, so back off and start over, within the busy
     * timeout. */
    double start = mono_ms();
    for (unsigned attempt = 1;; attempt++) {
        int rc = db_open(st, path, memory, &o, err);
        if (rc == 0)
            break;
        if (rc != STORE_EBUSY || mono_ms() - start >= st->busy_timeout_ms) {
            store_free(st);
            return NULL;
        }
        /* 10 to 40 ms, varied so that the contenders do not meet again. */
        long ms = 10 + (long)(((unsigned)getpid() * 7u + attempt * 13u) % 31u);
        struct timespec pause = {0, ms * 1000000L};
        nanosleep(&pause, NULL);
    }
    clear_err(st);
    return st;
}

struct store *store_open(const char *path, struct store_error *err)
{
    return store_open_ex(path, NULL, err);
}

void store_free(struct store *st)
{
    if (!st)
        return;
    db_close(st);
    free(st);
}

int store_schema_version(struct store *st)
{
    long long v = -1;
    clear_err(st);
    if (query_one(st, "PRAGMA user_version", &v, NULL, 0))
        return -1;
    return (int)v;
}

/* ---- SCRAM ---------------------------------------------------------------------- */

const char *store_scram_mech_name(enum store_scram_mech mech)
{
    switch (mech) {
    case STORE_SCRAM_SHA1: return "SCRAM-SHA-1";
    case STORE_SCRAM_SHA256: return "SCRAM-SHA-256";
    }
    return NULL;
}

static const EVP_MD *scram_md(enum store_scram_mech mech)
{
    switch (mech) {
    case STORE_SCRAM_SHA1: return EVP_sha1();
    case STORE_SCRAM_SHA256: return EVP_sha256();
    }
    return NULL;
}

int store_scram_derive(enum store_scram_mech mech, const char *password,
                       const unsigned char *salt, size_t salt_len,
                       unsigned iterations, struct store_scram *out)
{
    const EVP_MD *md = scram_md(mech);
    if (!md || !password || !salt || salt_len == 0 ||
        salt_len > STORE_SCRAM_SALT_MAX || iterations == 0 ||
        iterations > STORE_ITERATIONS_MAX)
        return STORE_EINVAL;
    size_t pwlen = strnlen(password, STORE_PASSWORD_MAX + 1);
    if (pwlen > STORE_PASSWORD_MAX)
        return STORE_EINVAL;
    int klen = EVP_MD_get_size(md);
    assert(klen > 0 && (size_t)klen <= STORE_SCRAM_KEY_MAX);

    memset(out, 0, sizeof(*out));
    out->mech = mech;
    out->iterations = iterations;
    memcpy(out->salt, salt, salt_len);
    out->salt_len = salt_len;
    EVP_EncodeBlock((unsigned char *)out->salt_b64, salt, (int)salt_len);
    out->key_len = (size_t)klen;

    unsigned char salted[STORE_SCRAM_KEY_MAX], client_key[STORE_SCRAM_KEY_MAX];
    unsigned int n;
    int ret = STORE_ECRYPTO;
    if (!PKCS5_PBKDF2_HMAC(password, (int)pwlen, salt, (int)salt_len,
                           (int)iterations, md, klen, salted))
        goto out;
    if (!HMAC(md, salted, klen, (const unsigned char *)"Client Key", 10,
              client_key, &n) || n != (unsigned)klen)
        goto out;
    if (!EVP_Digest(client_key, (size_t)klen, out->stored_key, &n, md, NULL) ||
        n != (unsigned)klen)
        goto out;
    if (!HMAC(md, salted, klen, (const unsigned char *)"Server Key", 10,
              out->server_key, &n) || n != (unsigned)klen)
        goto out;
    ret = 0;
out:
    OPENSSL_cleanse(salted, sizeof(salted));
    OPENSSL_cleanse(client_key, sizeof(client_key));
    if (ret)
        OPENSSL_cleanse(out, sizeof(*out));
    return ret;
}

static int password_ok(struct store *st, const char *password)
{
    if (!password || !*password)
        return fail(st, STORE_EINVAL, "empty password");
    if (strnlen(password, STORE_PASSWORD_MAX + 1) > STORE_PASSWORD_MAX)
        return fail(st, STORE_EINVAL, "password longer than %u bytes",
                    STORE_PASSWORD_MAX);
    return 0;
}

/* Fresh credentials for both mechanisms, each with its own random salt. */
static int credentials_new(struct store *st, const char *password,
                           struct store_scram creds[2])
{
    static const enum store_scram_mech mechs[2] = {STORE_SCRAM_SHA1, STORE_SCRAM_SHA256};
    for (int i = 0; i < 2; i++) {
        unsigned char salt[STORE_SCRAM_SALT_LEN];
        if (RAND_bytes(salt, sizeof(salt)) != 1)
            return fail(st, STORE_ECRYPTO, "RAND_bytes failed");
        int rc = store_scram_derive(mechs[i], password, salt, sizeof(salt),
                                    STORE_SCRAM_ITERATIONS, &creds[i]);
        if (rc)
            return fail(st, rc, "cannot derive %s credentials",
                        store_scram_mech_name(mechs[i]));
    }
    return 0;
}

/* Inside a transaction: writes both credential rows of `jid`. */
static int credentials_put(struct store *st, const char *jid,
                           const struct store_scram creds[2])
{
    sqlite3_stmt *q = NULL;
    int rc = stmt_get(st, S_SCRAM_PUT, &q);
    for (int i = 0; rc == 0 && i < 2; i++) {
        const struct store_scram *c = &creds[i];
        if (bind_text(q, 1, jid) || bind_text(q, 2, store_scram_mech_name(c->mech)) ||
            sqlite3_bind_blob(q, 3, c->salt, (int)c->salt_len, SQLITE_STATIC) ||
            sqlite3_bind_int64(q, 4, c->iterations) ||
            sqlite3_bind_blob(q, 5, c->stored_key, (int)c->key_len, SQLITE_STATIC) ||
            sqlite3_bind_blob(q, 6, c->server_key, (int)c->key_len, SQLITE_STATIC)) {
            rc = db_fail(st, sqlite3_errcode(st->db), "bind credentials");
            stmt_done(q);
            break;
        }
        rc = run(st, q, "store credentials", NULL);
    }
    return rc;
}

int store_user_create(struct store *st, const char *jid, const char *password)
{
    char bare[STORE_JID_MAX + 1];
    struct store_scram creds[2];
    int rc;
    clear_err(st);
    memset(creds, 0, sizeof(creds));
    if ((rc = norm(st, jid, 0, 1, bare, "user")) || (rc = password_ok(st, password)))
        return rc;
    /* PBKDF2 before taking the write lock, not while holding it. */
    if ((rc = credentials_new(st, password, creds)))
        goto out;
    if ((rc = tx_begin(st)))
        goto out;
    sqlite3_stmt *q = NULL;
    if ((rc = stmt_get(st, S_USER_INSERT, &q)))
        goto out;
    if (bind_text(q, 1, bare) || sqlite3_bind_int64(q, 2, now_ms())) {
        rc = db_fail(st, sqlite3_errcode(st->db), "bind");
        stmt_done(q);
        goto out;
    }
    rc = run(st, q, "add user", NULL);
    if (rc == STORE_EEXISTS)
        rc = fail(st, rc, "%s: user already exists", bare);
    if (rc || (rc = credentials_put(st, bare, creds)))
        goto out;
    rc = tx_commit(st);
out:
    if (rc)
        tx_rollback(st);
    OPENSSL_cleanse(creds, sizeof(creds));
    return rc;
}

int store_user_set_password(struct store *st, const char *jid, const char *password)
{
    char bare[STORE_JID_MAX + 1];
    struct store_scram creds[2];
    int rc, changes = 0;
    clear_err(st);
    memset(creds, 0, sizeof(creds));
    if ((rc = norm(st, jid, 0, 1, bare, "user")) || (rc = password_ok(st, password)))
        return rc;
    if ((rc = credentials_new(st, password, creds)))
        goto out;
    if ((rc = tx_begin(st)))
        goto out;
    sqlite3_stmt *q = NULL;
    if ((rc = stmt_get(st, S_USER_TOUCH, &q)))
        goto out;
    if (bind_text(q, 1, bare) || sqlite3_bind_int64(q, 2, now_ms())) {
        rc = db_fail(st, sqlite3_errcode(st->db), "bind");
        stmt_done(q);
        goto out;
    }
    if ((rc = run(st, q, "set password", &changes)))
        goto out;
    if (changes == 0) {
        rc = fail(st, STORE_ENOTFOUND, "%s: no such user", bare);
        goto out;
    }
    if ((rc = credentials_put(st, bare, creds)))
        goto out;
    rc = tx_commit(st);
out:
    if (rc)
        tx_rollback(st);
    OPENSSL_cleanse(creds, sizeof(creds));
    return rc;
}

/* Runs a one-key DELETE or UPDATE; STORE_ENOTFOUND when no row changed. */
static int delete_by(struct store *st, enum stmt_id id, const char *k1,
                     const char *k2, const char *what, const char *missing)
{
    sqlite3_stmt *q = NULL;
    int rc, changes = 0;
    if ((rc = stmt_get(st, id, &q)))
        return rc;
    if (bind_text(q, 1, k1) || (k2 && bind_text(q, 2, k2))) {
        rc = db_fail(st, sqlite3_errcode(st->db), "bind");
        stmt_done(q);
        return rc;
    }
    if ((rc = run(st, q, what, &changes)))
        return rc;
    if (changes == 0 && missing)
        return fail(st, STORE_ENOTFOUND, "%s", missing);
    return 0;
}

int store_user_delete(struct store *st, const char *jid)
{
    char bare[STORE_JID_MAX + 1], msg[STORE_JID_MAX + 32];
    int rc;
    clear_err(st);
    if ((rc = norm(st, jid, 0, 1, bare, "user")))
        return rc;
    snprintf(msg, sizeof(msg), "%s: no such user", bare);
    /* The foreign keys' ON DELETE CASCADE removes the credentials, roster
     * items (and their groups) and presence in the same statement. */
    return delete_by(st, S_USER_DELETE, bare, NULL, "delete user", msg);
}

/* 0 when the normalised `bare` is a user, STORE_ENOTFOUND when not. */
static int user_exists(struct store *st, const char *bare)
{
    sqlite3_stmt *q = NULL;
    int rc = stmt_get(st, S_USER_EXISTS, &q);
    if (rc)
        return rc;
    if (bind_text(q, 1, bare)) {
        rc = db_fail(st, sqlite3_errcode(st->db), "bind");
    } else {
        int s = sqlite3_step(q);
        if (s == SQLITE_DONE)
            rc = fail(st, STORE_ENOTFOUND, "%s: no such user", bare);
        else if (s != SQLITE_ROW)
            rc = db_fail(st, s, "find user");
    }
    stmt_done(q);
    return rc;
}

int store_user_exists(struct store *st, const char *jid)
{
    char bare[STORE_JID_MAX + 1];
    int rc;
    clear_err(st);
    if ((rc = norm(st, jid, 0, 1, bare, "user")))
        return rc;
    return user_exists(st, bare);
}

void store_user_list_free(struct store_user_list *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->n; i++)
        free(list->jids[i]);
    free(list->jids);
    free(list);
}

int store_user_list(struct store *st, struct store_user_list **out)
{
    sqlite3_stmt *q = NULL;
    size_t cap = 0;
    int rc, s;
    clear_err(st);
    *out = NULL;
    struct store_user_list *list = calloc(1, sizeof(*list));
    if (!list)
        return fail(st, STORE_ENOMEM, "out of memory");
    if ((rc = stmt_get(st, S_USER_LIST, &q)))
        goto out;
    while ((s = sqlite3_step(q)) == SQLITE_ROW) {
        char **t = grow(list->jids, &cap, list->n, sizeof(*t));
        if (!t) {
            rc = STORE_ENOMEM;
            goto out;
        }
        list->jids = t;
        if ((rc = col_dup(q, 0, &list->jids[list->n])))
            goto out;
        if (list->jids[list->n])
            list->n++;
    }
    if (s != SQLITE_DONE)
        rc = db_fail(st, s, "list users");
out:
    stmt_done(q);
    if (rc) {
        if (rc == STORE_ENOMEM)
            fail(st, rc, "out of memory");
        store_user_list_free(list);
        return rc;
    }
    *out = list;
    return 0;
}

/* Reads the credentials of the normalised `bare` for `mech`. */
static int scram_get(struct store *st, const char *bare, enum store_scram_mech mech,
                     struct store_scram *out)
{
    const char *name = store_scram_mech_name(mech);
    const EVP_MD *md = scram_md(mech);
    sqlite3_stmt *q = NULL;
    int rc;
    if (!name || !md)
        return fail(st, STORE_EINVAL, "unknown SCRAM mechanism %d", (int)mech);
    if ((rc = stmt_get(st, S_SCRAM_GET, &q)))
        return rc;
    memset(out, 0, sizeof(*out));
    if (bind_text(q, 1, bare) || bind_text(q, 2, name)) {
        rc = db_fail(st, sqlite3_errcode(st->db), "bind");
        goto out;
    }
    int s = sqlite3_step(q);
    if (s == SQLITE_DONE) {
        rc = fail(st, STORE_ENOTFOUND, "%s: no %s credentials", bare, name);
        goto out;
    }
    if (s != SQLITE_ROW) {
        rc = db_fail(st, s, "read credentials");
        goto out;
    }
    size_t klen = (size_t)EVP_MD_get_size(md);
    const void *salt = sqlite3_column_blob(q, 0);
    size_t salt_len = (size_t)sqlite3_column_bytes(q, 0);
    long long iter = sqlite3_column_int64(q, 1);
    const void *stored = sqlite3_column_blob(q, 2);
    size_t stored_len = (size_t)sqlite3_column_bytes(q, 2);
    const void *server = sqlite3_column_blob(q, 3);
    size_t server_len = (size_t)sqlite3_column_bytes(q, 3);
    /* The file is ours, but it is read back from disk: check sizes before
     * copying into fixed arrays. */
    if (!salt || salt_len == 0 || salt_len > STORE_SCRAM_SALT_MAX || iter <= 0 ||
        iter > STORE_ITERATIONS_MAX || !stored || stored_len != klen || !server ||
        server_len != klen) {
        rc = fail(st, STORE_ECORRUPT, "%s: stored %s credentials are malformed",
                  bare, name);
        goto out;
    }
    out->mech = mech;
    out->iterations = (unsigned)iter;
    memcpy(out->salt, salt, salt_len);
    out->salt_len = salt_len;
    EVP_EncodeBlock((unsigned char *)out->salt_b64, out->salt, (int)salt_len);
    out->key_len = klen;
    memcpy(out->stored_key, stored, klen);
    memcpy(out->server_key, server, klen);
out:
    stmt_done(q);
    return rc;
}

int store_user_get_scram(struct store *st, const char *jid,
                         enum store_scram_mech mech, struct store_scram *out)
{
    char bare[STORE_JID_MAX + 1];
    int rc;
    clear_err(st);
    if ((rc = norm(st, jid, 0, 1, bare, "user")))
        return rc;
    return scram_get(st, bare, mech, out);
}

int store_user_check_password(struct store *st, const char *jid, const char *password)
{
    char bare[STORE_JID_MAX + 1];
    struct store_scram have, got;
    int rc;
    clear_err(st);
    if ((rc = norm(st, jid, 0, 1, bare, "user")))
        return rc;
    if (!password || strnlen(password, STORE_PASSWORD_MAX + 1) > STORE_PASSWORD_MAX)
        return fail(st, STORE_EAUTH, "%s: wrong password", bare);
    rc = scram_get(st, bare, STORE_SCRAM_SHA256, &have);
    if (rc == STORE_ENOTFOUND)
        rc = scram_get(st, bare, STORE_SCRAM_SHA1, &have);
    if (rc == STORE_ENOTFOUND) {
        /* Spend the time a real check costs, so that the answer time does
         * not tell which users exist. */
        static const unsigned char dummy_salt[STORE_SCRAM_SALT_LEN];
        store_scram_derive(STORE_SCRAM_SHA256, password, dummy_salt,
                           sizeof(dummy_salt), STORE_SCRAM_ITERATIONS, &got);
        OPENSSL_cleanse(&got, sizeof(got));
        return fail(st, STORE_ENOTFOUND, "%s: no such user", bare);
    }
    if (rc)
        return rc;
    rc = store_scram_derive(have.mech, password, have.salt, have.salt_len,
                            have.iterations, &got);
    if (rc) {
        rc = fail(st, rc, "%s: cannot derive credentials", bare);
    } else if (CRYPTO_memcmp(got.stored_key, have.stored_key, have.key_len) != 0 ||
               CRYPTO_memcmp(got.server_key, have.server_key, have.key_len) != 0) {
        rc = fail(st, STORE_EAUTH, "%s: wrong password", bare);
    }
    OPENSSL_cleanse(&got, sizeof(got));
    OPENSSL_cleanse(&have, sizeof(have));
    return rc;
}

/* ---- Roster --------------------------------------------------------------------- */

static const char *const sub_names[] = {"none", "to", "from", "both"};

const char *store_subscription_name(enum store_subscription sub)
{
    if ((unsigned)sub >= sizeof(sub_names) / sizeof(sub_names[0]))
        return NULL;
    return sub_names[sub];
}

int store_subscription_from_name(const char *name)
{
    for (size_t i = 0; name && i < sizeof(sub_names) / sizeof(sub_names[0]); i++)
        if (strcmp(name, sub_names[i]) == 0)
            return (int)i;
    return -1;
}

static void item_clear(struct store_roster_item *it)
{
    free((void *)it->jid);
    free((void *)it->name);
    for (size_t i = 0; i < it->ngroups; i++)
        free((void *)it->groups[i]);
    free(it->groups);
    memset(it, 0, sizeof(*it));
}

void store_roster_item_free(struct store_roster_item *item)
{
    if (!item)
        return;
    item_clear(item);
    free(item);
}

void store_roster_free(struct store_roster *roster)
{
    if (!roster)
        return;
    for (size_t i = 0; i < roster->n; i++)
        item_clear(&roster->items[i]);
    free(roster->items);
    free(roster);
}

/* Fills `it` from the item columns of the current row. */
static int item_from_row(struct store *st, sqlite3_stmt *q, struct store_roster_item *it)
{
    char *jid, *name;
    int rc = col_dup(q, 0, &jid);
    if (rc)
        return rc;
    it->jid = jid;
    if ((rc = col_dup(q, 1, &name)))
        return rc;
    it->name = name;
    int sub = store_subscription_from_name((const char *)sqlite3_column_text(q, 2));
    if (!jid || sub < 0)
        return fail(st, STORE_ECORRUPT, "malformed roster item");
    it->subscription = (enum store_subscription)sub;
    it->ask = sqlite3_column_int(q, 3) != 0;
    it->pending_in = sqlite3_column_int(q, 4) != 0;
    it->approved = sqlite3_column_int(q, 5) != 0;
    return 0;
}

/* Reads the rows of S_ROSTER_GET or S_ROSTER_ITEM_GET (one per item and
 * group, ordered by item) into `r`. */
static int roster_read(struct store *st, sqlite3_stmt *q, struct store_roster *r)
{
    size_t cap = 0, gcap = 0;
    int s, rc = 0;
    while ((s = sqlite3_step(q)) == SQLITE_ROW) {
        const char *jid = (const char *)sqlite3_column_text(q, 0);
        if (!jid)
            return fail(st, STORE_ENOMEM, "out of memory");
        if (r->n == 0 || strcmp(r->items[r->n - 1].jid, jid) != 0) {
            struct store_roster_item *t = grow(r->items, &cap, r->n, sizeof(*t));
            if (!t)
                return fail(st, STORE_ENOMEM, "out of memory");
            r->items = t;
            struct store_roster_item *it = &r->items[r->n++];
            memset(it, 0, sizeof(*it));
            gcap = 0;
            if ((rc = item_from_row(st, q, it)))
                return rc == STORE_ENOMEM ? fail(st, rc, "out of memory") : rc;
        }
        if (sqlite3_column_type(q, 6) != SQLITE_NULL) {
            struct store_roster_item *it = &r->items[r->n - 1];
            const char **t = grow(it->groups, &gcap, it->ngroups, sizeof(*t));
            if (!t)
                return fail(st, STORE_ENOMEM, "out of memory");
            it->groups = t;
            char *g;
            if ((rc = col_dup(q, 6, &g)))
                return fail(st, rc, "out of memory");
            it->groups[it->ngroups++] = g;
        }
    }
    if (s != SQLITE_DONE)
        return db_fail(st, s, "read roster");
    return 0;
}

int store_roster_get(struct store *st, const char *owner, struct store_roster **out)
{
    char bare[STORE_JID_MAX + 1];
    sqlite3_stmt *q = NULL;
    int rc;
    clear_err(st);
    *out = NULL;
    if ((rc = norm(st, owner, 0, 1, bare, "owner")))
        return rc;
    struct store_roster *r = calloc(1, sizeof(*r));
    if (!r)
        return fail(st, STORE_ENOMEM, "out of memory");
    if ((rc = stmt_get(st, S_ROSTER_GET, &q)))
        goto out;
    if (bind_text(q, 1, bare)) {
        rc = db_fail(st, sqlite3_errcode(st->db), "bind");
        goto out;
    }
    rc = roster_read(st, q, r);
    stmt_done(q);
    q = NULL;
    /* No items: an empty roster, or no such user. */
    if (rc == 0 && r->n == 0)
        rc = user_exists(st, bare);
out:
    stmt_done(q);
    if (rc) {
        store_roster_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int store_roster_item_get(struct store *st, const char *owner, const char *jid,
                          struct store_roster_item **out)
{
    char bare[STORE_JID_MAX + 1], contact[STORE_JID_MAX + 1];
    struct store_roster r = {0};
    sqlite3_stmt *q = NULL;
    int rc;
    clear_err(st);
    *out = NULL;
    if ((rc = norm(st, owner, 0, 1, bare, "owner")) ||
        (rc = norm(st, jid, 0, 0, contact, "contact")))
        return rc;
    if ((rc = stmt_get(st, S_ROSTER_ITEM_GET, &q)))
        return rc;
    if (bind_text(q, 1, bare) || bind_text(q, 2, contact)) {
        rc = db_fail(st, sqlite3_errcode(st->db), "bind");
    } else if ((rc = roster_read(st, q, &r)) == 0 && r.n == 0) {
        rc = fail(st, STORE_ENOTFOUND, "%s has no roster item %s", bare, contact);
    }
    stmt_done(q);
    if (rc == 0) {
        assert(r.n == 1);
        *out = malloc(sizeof(**out));
        if (!*out)
            rc = fail(st, STORE_ENOMEM, "out of memory");
        else
            **out = r.items[0];
    }
    if (rc) {
        for (size_t i = 0; i < r.n; i++)
            item_clear(&r.items[i]);
    }
    free(r.items);
    return rc;
}

int store_roster_item_put(struct store *st, const char *owner,
                          const struct store_roster_item *item)
{
    char bare[STORE_JID_MAX + 1], contact[STORE_JID_MAX + 1];
    sqlite3_stmt *q = NULL;
    int rc;
    clear_err(st);
    if (!item)
        return fail(st, STORE_EINVAL, "no roster item");
    if ((rc = norm(st, owner, 0, 1, bare, "owner")) ||
        (rc = norm(st, item->jid, 0, 0, contact, "contact")))
        return rc;
    const char *sub = store_subscription_name(item->subscription);
    if (!sub)
        return fail(st, STORE_EINVAL, "bad subscription %d", (int)item->subscription);
    /* An empty name is no name (RFC 6121 2.1.2.4). */
    const char *name = item->name && *item->name ? item->name : NULL;
    if (name && !text_ok(name, STORE_PART_MAX, TEXT_XML))
        return fail(st, STORE_EINVAL, "bad roster item name (control characters, "
                    "not UTF-8, or longer than %u bytes)", STORE_PART_MAX);
    if (item->ngroups > STORE_ROSTER_GROUPS_MAX)
        return fail(st, STORE_EINVAL, "more than %u groups", STORE_ROSTER_GROUPS_MAX);
    for (size_t i = 0; i < item->ngroups; i++)
        if (!text_ok(item->groups[i], STORE_PART_MAX, TEXT_XML))
            return fail(st, STORE_EINVAL, "bad group name (empty, control characters, "
                        "not UTF-8, or longer than %u bytes)", STORE_PART_MAX);

    if ((rc = tx_begin(st)))
        return rc;
    if ((rc = stmt_get(st, S_ROSTER_UPSERT, &q)))
        goto out;
    if (bind_text(q, 1, bare) || bind_text(q, 2, contact) || bind_text(q, 3, name) ||
        bind_text(q, 4, sub) || sqlite3_bind_int(q, 5, !!item->ask) ||
        sqlite3_bind_int(q, 6, !!item->pending_in) ||
        sqlite3_bind_int(q, 7, !!item->approved) || sqlite3_bind_int64(q, 8, now_ms())) {
        rc = db_fail(st, sqlite3_errcode(st->db), "bind");
        stmt_done(q);
        goto out;
    }
    if ((rc = run(st, q, "put roster item", NULL))) {
        if (rc == STORE_ENOTFOUND)
            rc = fail(st, rc, "%s: no such user", bare);
        goto out;
    }
    if ((rc = delete_by(st, S_ROSTER_GROUPS_DELETE, bare, contact, "clear groups", NULL)) ||
        (rc = stmt_get(st, S_ROSTER_GROUP_INSERT, &q)))
        goto out;
    for (size_t i = 0; i < item->ngroups; i++) {
        if (bind_text(q, 1, bare) || bind_text(q, 2, contact) ||
            bind_text(q, 3, item->groups[i])) {
            rc = db_fail(st, sqlite3_errcode(st->db), "bind");
            stmt_done(q);
            goto out;
        }
        if ((rc = run(st, q, "add group", NULL)))
            goto out;
    }
    rc = tx_commit(st);
out:
    if (rc)
        tx_rollback(st);
    return rc;
}

int store_roster_item_remove(struct store *st, const char *owner, const char *jid)
{
    char bare[STORE_JID_MAX + 1], contact[STORE_JID_MAX + 1];
    char msg[2 * STORE_JID_MAX + 32];
    int rc;
    clear_err(st);
    if ((rc = norm(st, owner, 0, 1, bare, "owner")) ||
        (rc = norm(st, jid, 0, 0, contact, "contact")))
        return rc;
    snprintf(msg, sizeof(msg), "%s has no roster item %s", bare, contact);
    return delete_by(st, S_ROSTER_DELETE, bare, contact, "remove roster item", msg);
}

/* ---- Presence ------------------------------------------------------------------- */

int store_presence_set(struct store *st, const char *owner, const char *resource,
                       int priority, const char *stanza)
{
    char bare[STORE_JID_MAX + 1];
    sqlite3_stmt *q = NULL;
    int rc;
    clear_err(st);
    if ((rc = norm(st, owner, 0, 1, bare, "owner")))
        return rc;
    if (!text_ok(resource, STORE_PART_MAX, TEXT_STRICT))
        return fail(st, STORE_EINVAL, "bad resource (empty, control characters, "
                    "not UTF-8, or longer than %u bytes)", STORE_PART_MAX);
    if (priority < -128 || priority > 127)
        return fail(st, STORE_EINVAL, "priority %d is not in -128..127", priority);
    if (!text_ok(stanza, STORE_PRESENCE_MAX, TEXT_XML))
        return fail(st, STORE_EINVAL, "bad presence stanza (empty, not UTF-8, "
                    "or longer than %u bytes)", STORE_PRESENCE_MAX);
    if ((rc = stmt_get(st, S_PRESENCE_SET, &q)))
        return rc;
    if (bind_text(q, 1, bare) || bind_text(q, 2, resource) ||
        sqlite3_bind_int(q, 3, priority) || bind_text(q, 4, stanza) ||
        sqlite3_bind_int64(q, 5, now_ms())) {
        rc = db_fail(st, sqlite3_errcode(st->db), "bind");
        stmt_done(q);
        return rc;
    }
    rc = run(st, q, "set presence", NULL);
    if (rc == STORE_ENOTFOUND)
        rc = fail(st, rc, "%s: no such user", bare);
    return rc;
}

int store_presence_clear(struct store *st, const char *owner, const char *resource)
{
    char bare[STORE_JID_MAX + 1];
    int rc;
    clear_err(st);
    if ((rc = norm(st, owner, 0, 1, bare, "owner")))
        return rc;
    if (resource)
        return delete_by(st, S_PRESENCE_CLEAR, bare, resource, "clear presence", NULL);
    return delete_by(st, S_PRESENCE_CLEAR_OWNER, bare, NULL, "clear presence", NULL);
}

int store_presence_clear_all(struct store *st)
{
    clear_err(st);
    return run_id(st, S_PRESENCE_CLEAR_ALL, "clear all presence");
}

void store_presence_list_free(struct store_presence_list *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->n; i++) {
        free(list->items[i].resource);
        free(list->items[i].stanza);
    }
    free(list->items);
    free(list);
}

int store_presence_list(struct store *st, const char *owner,
                        struct store_presence_list **out)
{
    char bare[STORE_JID_MAX + 1];
    sqlite3_stmt *q = NULL;
    size_t cap = 0;
    int rc, s;
    clear_err(st);
    *out = NULL;
    if ((rc = norm(st, owner, 0, 1, bare, "owner")))
        return rc;
    struct store_presence_list *list = calloc(1, sizeof(*list));
    if (!list)
        return fail(st, STORE_ENOMEM, "out of memory");
    if ((rc = stmt_get(st, S_PRESENCE_LIST, &q)))
        goto out;
    if (bind_text(q, 1, bare)) {
        rc = db_fail(st, sqlite3_errcode(st->db), "bind");
        goto out;
    }
    while ((s = sqlite3_step(q)) == SQLITE_ROW) {
        struct store_presence *t = grow(list->items, &cap, list->n, sizeof(*t));
        if (!t) {
            rc = fail(st, STORE_ENOMEM, "out of memory");
            goto out;
        }
        list->items = t;
        struct store_presence *p = &list->items[list->n];
        memset(p, 0, sizeof(*p));
        list->n++;
        if ((rc = col_dup(q, 0, &p->resource)) || (rc = col_dup(q, 2, &p->stanza))) {
            rc = fail(st, rc, "out of memory");
            goto out;
        }
        p->priority = sqlite3_column_int(q, 1);
        p->updated_at_ms = sqlite3_column_int64(q, 3);
        if (!p->resource || !p->stanza) {
            rc = fail(st, STORE_ECORRUPT, "malformed presence row");
            goto out;
        }
    }
    if (s != SQLITE_DONE)
        rc = db_fail(st, s, "list presence");
out:
    stmt_done(q);
    if (rc) {
        store_presence_list_free(list);
        return rc;
    }
    *out = list;
    return 0;
}

/* ---- Jingle sessions ---------------------------------------------------------------- */

static const char *const role_names[] = {"initiator", "responder"};
static const char *const state_names[] = {"pending", "active", "ended"};

const char *store_jingle_role_name(enum store_jingle_role role)
{
    if ((unsigned)role >= sizeof(role_names) / sizeof(role_names[0]))
        return NULL;
    return role_names[role];
}

const char *store_jingle_state_name(enum store_jingle_state state)
{
    if ((unsigned)state >= sizeof(state_names) / sizeof(state_names[0]))
        return NULL;
    return state_names[state];
}

static int name_index(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; s && i < n; i++)
        if (strcmp(names[i], s) == 0)
            return (int)i;
    return -1;
}

static int sid_ok(struct store *st, const char *sid)
{
    if (!text_ok(sid, STORE_SID_MAX, TEXT_STRICT))
        return fail(st, STORE_EINVAL, "bad sid (empty, control characters, not "
                    "UTF-8, or longer than %u bytes)", STORE_SID_MAX);
    return 0;
}

static int contents_ok(struct store *st, const char *contents)
{
    if (contents && *contents && !text_ok(contents, STORE_CONTENTS_MAX, TEXT_XML))
        return fail(st, STORE_EINVAL, "bad contents (not UTF-8, or longer than "
                    "%u bytes)", STORE_CONTENTS_MAX);
    return 0;
}

int store_jingle_session_put(struct store *st, const struct store_jingle_session *s)
{
    char ini[STORE_JID_MAX + 1], resp[STORE_JID_MAX + 1];
    sqlite3_stmt *q = NULL;
    int rc;
    clear_err(st);
    if (!s)
        return fail(st, STORE_EINVAL, "no session");
    const char *role = store_jingle_role_name(s->role);
    const char *state = store_jingle_state_name(s->state);
    if ((rc = sid_ok(st, s->sid)) || (rc = norm(st, s->initiator, 1, 0, ini, "initiator")) ||
        (rc = norm(st, s->responder, 1, 0, resp, "responder")) ||
        (rc = contents_ok(st, s->contents)))
        return rc;
    if (!role || !state)
        return fail(st, STORE_EINVAL, "bad role or state");
    if ((rc = stmt_get(st, S_JINGLE_INSERT, &q)))
        return rc;
    if (bind_text(q, 1, s->sid) || bind_text(q, 2, ini) || bind_text(q, 3, resp) ||
        bind_text(q, 4, role) || bind_text(q, 5, state) ||
        bind_text(q, 6, s->contents ? s->contents : "") ||
        sqlite3_bind_int64(q, 7, now_ms())) {
        rc = db_fail(st, sqlite3_errcode(st->db), "bind");
        stmt_done(q);
        return rc;
    }
    rc = run(st, q, "put session", NULL);
    if (rc == STORE_EEXISTS)
        rc = fail(st, rc, "session %s already exists", s->sid);
    return rc;
}

void store_jingle_session_free(struct store_jingle_session *s)
{
    if (!s)
        return;
    free((void *)s->sid);
    free((void *)s->initiator);
    free((void *)s->responder);
    free((void *)s->contents);
    free(s);
}

int store_jingle_session_get(struct store *st, const char *sid,
                             struct store_jingle_session **out)
{
    sqlite3_stmt *q = NULL;
    int rc;
    clear_err(st);
    *out = NULL;
    if ((rc = sid_ok(st, sid)))
        return rc;
    struct store_jingle_session *s = calloc(1, sizeof(*s));
    char *sid_copy = strdup(sid);
    if (!s || !sid_copy) {
        free(sid_copy);
        free(s);
        return fail(st, STORE_ENOMEM, "out of memory");
    }
    s->sid = sid_copy;
    if ((rc = stmt_get(st, S_JINGLE_GET, &q)))
        goto out;
    if (bind_text(q, 1, sid)) {
        rc = db_fail(st, sqlite3_errcode(st->db), "bind");
        goto out;
    }
    int r = sqlite3_step(q);
    if (r == SQLITE_DONE) {
        rc = fail(st, STORE_ENOTFOUND, "no session %s", sid);
        goto out;
    }
    if (r != SQLITE_ROW) {
        rc = db_fail(st, r, "read session");
        goto out;
    }
    char *ini, *resp, *contents;
    if ((rc = col_dup(q, 0, &ini)) == 0)
        s->initiator = ini;
    if (rc == 0 && (rc = col_dup(q, 1, &resp)) == 0)
        s->responder = resp;
    if (rc == 0 && (rc = col_dup(q, 4, &contents)) == 0)
        s->contents = contents;
    if (rc) {
        rc = fail(st, rc, "out of memory");
        goto out;
    }
    int role = name_index(role_names, sizeof(role_names) / sizeof(role_names[0]),
                          (const char *)sqlite3_column_text(q, 2));
    int state = name_index(state_names, sizeof(state_names) / sizeof(state_names[0]),
                           (const char *)sqlite3_column_text(q, 3));
    if (!s->initiator || !s->responder || !s->contents || role < 0 || state < 0) {
        rc = fail(st, STORE_ECORRUPT, "malformed session %s", sid);
        goto out;
    }
    s->role = (enum store_jingle_role)role;
    s->state = (enum store_jingle_state)state;
    s->created_at_ms = sqlite3_column_int64(q, 5);
    s->updated_at_ms = sqlite3_column_int64(q, 6);
out:
    stmt_done(q);
    if (rc) {
        store_jingle_session_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int store_jingle_session_update(struct store *st, const char *sid,
                                enum store_jingle_state state, const char *contents)
{
    sqlite3_stmt *q = NULL;
    int rc, changes = 0;
    clear_err(st);
    const char *sname = store_jingle_state_name(state);
    if ((rc = sid_ok(st, sid)) || (rc = contents_ok(st, contents)))
        return rc;
    if (!sname)
        return fail(st, STORE_EINVAL, "bad state %d", (int)state);
    if ((rc = stmt_get(st, S_JINGLE_UPDATE, &q)))
        return rc;
    if (bind_text(q, 1, sid) || bind_text(q, 2, sname) || bind_text(q, 3, contents) ||
        sqlite3_bind_int64(q, 4, now_ms())) {
        rc = db_fail(st, sqlite3_errcode(st->db), "bind");
        stmt_done(q);
        return rc;
    }
    if ((rc = run(st, q, "update session", &changes)))
        return rc;
    if (changes == 0)
        return fail(st, STORE_ENOTFOUND, "no session %s", sid);
    return 0;
}

int store_jingle_session_delete(struct store *st, const char *sid)
{
    char msg[STORE_SID_MAX + 32];
    int rc;
    clear_err(st);
    if ((rc = sid_ok(st, sid)))
        return rc;
    snprintf(msg, sizeof(msg), "no session %s", sid);
    return delete_by(st, S_JINGLE_DELETE, sid, NULL, "delete session", msg);
}

/* ---- Batches ---------------------------------------------------------------- */

int store_batch_begin(struct store *st)
{
    clear_err(st);
    if (!sqlite3_get_autocommit(st->db))
        return fail(st, STORE_EINVAL, "a transaction is already open");
    return tx_begin(st);
}

int store_batch_end(struct store *st)
{
    if (sqlite3_get_autocommit(st->db))
        return 0; /* a failed write inside rolled it back already */
    int rc = tx_commit(st);
    if (rc)
        tx_rollback(st);
    return rc;
}
