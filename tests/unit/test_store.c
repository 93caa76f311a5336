/* test_store.c - the SQLite store: schema and migrations, users and SCRAM
 * credentials (RFC 5802 and RFC 7677 test vectors), roster, presence, Jingle
 * sessions, and the failures an operator meets: a wrong path, a corrupt
 * file, a locked database, a newer schema, a process killed mid-write.
 *
 * Every database lives in a fresh temporary directory, removed at the end.
 * Usage: test_store [ignored]   (ctest passes the test data directory) */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sqlite3.h>

#include "check.h"
#include "store.h"

static char tmpdir[256];

static const char *db_path(const char *name)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    return path;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs SQL on the file with a plain SQLite connection (not the store). */
static int raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open(path, &db);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

static long long raw_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    long long v = -1;
    if (sqlite3_open(path, &db) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

static void hex(const unsigned char *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static size_t b64_decode(const char *s, unsigned char *out)
{
    size_t len = strlen(s);
    int n = EVP_DecodeBlock(out, (const unsigned char *)s, (int)len);
    if (n < 0)
        return 0;
    while (len > 0 && s[len - 1] == '=') {     /* DecodeBlock counts padding */
        len--;
        n--;
    }
    return (size_t)n;
}

static struct store *open_new(const char *name)
{
    struct store_error err;
    struct store *st = store_open(db_path(name), &err);
    if (!st)
        fprintf(stderr, "store_open(%s): %s\n", name, err.what);
    return st;
}

/* ---- JIDs ------------------------------------------------------------------ */

static void test_jid(void)
{
    char out[STORE_JID_MAX + 1];
    CHECK_INT(store_jid_normalize("Alice@Example.COM", 0, 1, out, sizeof(out)), 0);
    CHECK_STR(out, "alice@example.com");
    CHECK_INT(store_jid_normalize("Alice@Example.COM/Phone X", 1, 1, out, sizeof(out)), 0);
    CHECK_STR(out, "alice@example.com/Phone X");
    CHECK_INT(store_jid_normalize("example.com.", 0, 0, out, sizeof(out)), 0);
    CHECK_STR(out, "example.com");
    CHECK_INT(store_jid_normalize("\xc3\x89lodie@example.com", 0, 1, out, sizeof(out)), 0);
    CHECK_STR(out, "\xc3\x89lodie@example.com");   /* non-ASCII kept as is */
    CHECK_INT(store_jid_normalize("a@b/r/with/slashes", 1, 1, out, sizeof(out)), 0);
    CHECK_STR(out, "a@b/r/with/slashes");

    CHECK_INT(store_jid_normalize("example.com", 0, 1, out, sizeof(out)), STORE_EINVAL);
    CHECK_INT(store_jid_normalize("a@b/r", 0, 1, out, sizeof(out)), STORE_EINVAL);
    CHECK_INT(store_jid_normalize("@example.com", 0, 0, out, sizeof(out)), STORE_EINVAL);
    CHECK_INT(store_jid_normalize("a@", 0, 0, out, sizeof(out)), STORE_EINVAL);
    CHECK_INT(store_jid_normalize("a@b/", 1, 0, out, sizeof(out)), STORE_EINVAL);
    CHECK_INT(store_jid_normalize("a b@example.com", 0, 0, out, sizeof(out)), STORE_EINVAL);
    CHECK_INT(store_jid_normalize("a:b@example.com", 0, 0, out, sizeof(out)), STORE_EINVAL);
    CHECK_INT(store_jid_normalize("a@b@c", 0, 0, out, sizeof(out)), STORE_EINVAL);
    CHECK_INT(store_jid_normalize("a@exa\nmple.com", 0, 0, out, sizeof(out)), STORE_EINVAL);
    CHECK_INT(store_jid_normalize("a@\xff.com", 0, 0, out, sizeof(out)), STORE_EINVAL);
    CHECK_INT(store_jid_normalize("", 0, 0, out, sizeof(out)), STORE_EINVAL);
    CHECK_INT(store_jid_normalize(NULL, 0, 0, out, sizeof(out)), STORE_EINVAL);
    CHECK_INT(store_jid_normalize("a@example.com", 0, 0, out, 5), STORE_EINVAL);

    char big[1100];
    memset(big, 'a', 1024);
    memcpy(big + 1024, "@x", 3);
    CHECK_INT(store_jid_normalize(big, 0, 0, out, sizeof(out)), STORE_EINVAL);
    memcpy(big + 1023, "@x", 3);    /* a 1023-byte localpart: the limit */
    CHECK_INT(store_jid_normalize(big, 0, 0, out, sizeof(out)), 0);
}

/* ---- SCRAM test vectors ------------------------------------------------------- */

/* Checks `c` against the SCRAM exchange of an RFC: the server verifies the
 * client's proof with StoredKey alone, and its own signature must be the
 * one the RFC prints. */
static void check_exchange(const struct store_scram *c, const char *auth_message,
                           const char *proof_b64, const char *server_sig_b64)
{
    const EVP_MD *md = c->mech == STORE_SCRAM_SHA1 ? EVP_sha1() : EVP_sha256();
    unsigned char sig[64], proof[64], expect_sig[64], client_key[64], h[64];
    unsigned n;
    size_t plen = b64_decode(proof_b64, proof);
    CHECK_INT(plen, c->key_len);
    /* ClientSignature = HMAC(StoredKey, AuthMessage); ClientKey = proof ^ it */
    HMAC(md, c->stored_key, (int)c->key_len, (const unsigned char *)auth_message,
         strlen(auth_message), sig, &n);
    for (size_t i = 0; i < c->key_len; i++)
        client_key[i] = proof[i] ^ sig[i];
    EVP_Digest(client_key, c->key_len, h, &n, md, NULL);
    CHECK(memcmp(h, c->stored_key, c->key_len) == 0);   /* H(ClientKey) == StoredKey */
    /* ServerSignature = HMAC(ServerKey, AuthMessage) */
    HMAC(md, c->server_key, (int)c->key_len, (const unsigned char *)auth_message,
         strlen(auth_message), sig, &n);
    CHECK_INT(b64_decode(server_sig_b64, expect_sig), c->key_len);
    CHECK(memcmp(sig, expect_sig, c->key_len) == 0);
}

static void test_scram_vectors(void)
{
    unsigned char salt[64];
    char h[2 * STORE_SCRAM_KEY_MAX + 1];
    struct store_scram c;

    /* RFC 5802 section 5: user "user", password "pencil". */
    size_t slen = b64_decode("QSXCR+Q6sek8bf92", salt);
    CHECK_INT(slen, 12);
    CHECK_INT(store_scram_derive(STORE_SCRAM_SHA1, "pencil", salt, slen, 4096, &c), 0);
    CHECK_INT(c.key_len, 20);
    CHECK_STR(c.salt_b64, "QSXCR+Q6sek8bf92");
    /* SaltedPassword 1d96ee3a529b5a5f9e47c01f229a2cb8a6e15f7d,
     * ClientKey e234c47bf6c36696dd6d852b99aaa2ba26555728 */
    hex(c.stored_key, c.key_len, h);
    CHECK_STR(h, "e9d94660c39d65c38fbad91c358f14da0eef2bd6");
    hex(c.server_key, c.key_len, h);
    CHECK_STR(h, "0fe09258b3ac852ba502cc62ba903eaacdbf7d31");
    check_exchange(&c,
                   "n=user,r=fyko+d2lbbFgONRv9qkxdawL,"
                   "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096,"
                   "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j",
                   "v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", "rmF9pqV8S7suAoZWja4dJRkFsKQ=");

    /* RFC 7677 section 3: the same user with SCRAM-SHA-256. */
    slen = b64_decode("W22ZaJ0SNY7soEsUEjb6gQ==", salt);
    CHECK_INT(slen, 16);
    CHECK_INT(store_scram_derive(STORE_SCRAM_SHA256, "pencil", salt, slen, 4096, &c), 0);
    CHECK_INT(c.key_len, 32);
    CHECK_STR(c.salt_b64, "W22ZaJ0SNY7soEsUEjb6gQ==");
    hex(c.stored_key, c.key_len, h);
    CHECK_STR(h, "586e5df283e6dceb5c3e791d8b8528ec191e664045ce971792e2e6b5bb13e2a6");
    hex(c.server_key, c.key_len, h);
    CHECK_STR(h, "c1f3cbc1c13a9d35a14c0990eed97629ea225863e566a4314ab99f3f00e5d9d5");
    check_exchange(&c,
                   "n=user,r=rOprNGfwEbeRWgbNEkqO,"
                   "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                   "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
                   "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
                   "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
                   "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");

    CHECK_INT(store_scram_derive(STORE_SCRAM_SHA1, "pencil", salt, 0, 4096, &c), STORE_EINVAL);
    CHECK_INT(store_scram_derive(STORE_SCRAM_SHA1, "pencil", salt, slen, 0, &c), STORE_EINVAL);
    CHECK_INT(store_scram_derive((enum store_scram_mech)7, "pencil", salt, slen, 1, &c),
              STORE_EINVAL);
    CHECK_STR(store_scram_mech_name(STORE_SCRAM_SHA256), "SCRAM-SHA-256");
}

/* ---- Schema ----------------------------------------------------------------------- */

static void test_schema(void)
{
    const char *path = db_path("schema.db");
    struct store_error err;
    struct store *a = store_open(path, &err);
    CHECK(a != NULL);
    if (!a)
        return;
    CHECK_INT(store_schema_version(a), STORE_SCHEMA_VERSION);
    CHECK_STR(store_errmsg(a), "");
    struct stat sb;
    CHECK_INT(stat(path, &sb), 0);
    CHECK_INT(sb.st_mode & 0777, 0600);     /* it holds password equivalents */

    /* A second connection while the first is open: no second migration. */
    struct store *b = store_open(path, &err);
    CHECK(b != NULL);
    CHECK_INT(store_user_create(a, "alice@example.com", "secret"), 0);
    char wal[600];
    snprintf(wal, sizeof(wal), "%s-wal", path);
    CHECK_INT(stat(wal, &sb), 0);
    CHECK_INT(sb.st_mode & 0777, 0600);     /* SQLite copies the file's mode */
    CHECK_INT(store_user_exists(b, "alice@example.com"), 0);
    store_free(b);
    store_free(a);

    CHECK_INT(raw_int(path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    CHECK_INT(raw_int(path, "PRAGMA application_id"), 0x45504f44);
    sqlite3 *db;
    sqlite3_stmt *q;
    if (sqlite3_open(path, &db) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL) == SQLITE_OK) {
        CHECK_INT(sqlite3_step(q), SQLITE_ROW);
        CHECK_STR((const char *)sqlite3_column_text(q, 0), "wal");
        sqlite3_finalize(q);
    }
    sqlite3_close(db);
    long long objects = raw_int(path, "SELECT count(*) FROM sqlite_schema");
    CHECK(objects >= 6);

    /* Re-open: same schema, data kept, nothing re-created. */
    for (int i = 0; i < 2; i++) {
        a = store_open(path, &err);
        CHECK(a != NULL);
        if (!a)
            return;
        CHECK_INT(store_schema_version(a), STORE_SCHEMA_VERSION);
        CHECK_INT(store_user_check_password(a, "alice@example.com", "secret"), 0);
        store_free(a);
        CHECK_INT(raw_int(path, "SELECT count(*) FROM sqlite_schema"), objects);
    }

    /* An in-memory store works the same way (for other modules' tests). */
    a = store_open(":memory:", &err);
    CHECK(a != NULL);
    CHECK_INT(store_user_create(a, "m@example.com", "x"), 0);
    CHECK_INT(store_user_exists(a, "m@example.com"), 0);
    store_free(a);
    store_free(NULL);
}

/* Several processes open one new file at the same moment: each waits for
 * the others' locks, the schema is created once, every open succeeds. */
static void test_concurrent_open(void)
{
    enum { N = 4 };
    const char *path = db_path("race.db");
    int go[2];
    pid_t pids[N];
    CHECK_INT(pipe(go), 0);
    for (int i = 0; i < N; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            char c;
            close(go[1]);
            if (read(go[0], &c, 1) != 0)    /* start together, at EOF */
                _exit(3);
            struct store_error err;
            struct store *st = store_open(path, &err);
            if (!st) {
                fprintf(stderr, "child %d: %s\n", i, err.what);
                _exit(1);
            }
            char jid[32];
            snprintf(jid, sizeof(jid), "racer%d@example.com", i);
            int rc = store_user_create(st, jid, "x");
            store_free(st);
            _exit(rc == 0 ? 0 : 2);
        }
    }
    close(go[0]);
    close(go[1]);
    for (int i = 0; i < N; i++) {
        int status = 0;
        waitpid(pids[i], &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    CHECK_INT(raw_int(path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM users"), N);
}

/* ---- Users ------------------------------------------------------------------------ */

static void test_users(void)
{
    struct store *st = open_new("users.db");
    if (!st)
        return;
    CHECK_INT(store_user_create(st, "Alice@Example.com", "secret"), 0);
    CHECK_INT(store_user_create(st, "alice@example.com", "other"), STORE_EEXISTS);
    CHECK_CONTAINS(store_errmsg(st), "alice@example.com: user already exists");
    CHECK_INT(store_user_create(st, "bob@example.com", "hunter2"), 0);
    CHECK_INT(store_user_create(st, "carol@example.com", ""), STORE_EINVAL);
    CHECK_CONTAINS(store_errmsg(st), "empty password");
    CHECK_INT(store_user_create(st, "example.com", "x"), STORE_EINVAL);
    CHECK_CONTAINS(store_errmsg(st), "bad user JID: no localpart");
    CHECK_INT(store_user_create(st, "dave@example.com/res", "x"), STORE_EINVAL);
    char longpw[STORE_PASSWORD_MAX + 2];
    memset(longpw, 'p', sizeof(longpw) - 1);
    longpw[sizeof(longpw) - 1] = '\0';
    CHECK_INT(store_user_create(st, "dave@example.com", longpw), STORE_EINVAL);
    CHECK_INT(store_user_exists(st, "dave@example.com"), STORE_ENOTFOUND);

    CHECK_INT(store_user_exists(st, "ALICE@example.com"), 0);
    CHECK_INT(store_user_check_password(st, "alice@EXAMPLE.com", "secret"), 0);
    CHECK_INT(store_user_check_password(st, "alice@example.com", "Secret"), STORE_EAUTH);
    CHECK_INT(store_user_check_password(st, "alice@example.com", ""), STORE_EAUTH);
    CHECK_INT(store_user_check_password(st, "nobody@example.com", "secret"), STORE_ENOTFOUND);

    /* Credentials as stored: random 16-byte salts, 4096 iterations, keys
     * that the derivation reproduces from the password. */
    struct store_scram c1, c256, again;
    CHECK_INT(store_user_get_scram(st, "alice@example.com", STORE_SCRAM_SHA1, &c1), 0);
    CHECK_INT(store_user_get_scram(st, "alice@example.com", STORE_SCRAM_SHA256, &c256), 0);
    CHECK_INT(c1.mech, STORE_SCRAM_SHA1);
    CHECK_INT(c1.key_len, 20);
    CHECK_INT(c256.key_len, 32);
    CHECK_INT(c1.iterations, 4096);
    CHECK_INT(c256.iterations, 4096);
    CHECK_INT(c1.salt_len, 16);
    CHECK_INT(strlen(c1.salt_b64), 24);
    CHECK(memcmp(c1.salt, c256.salt, 16) != 0);     /* a salt per mechanism */
    CHECK_INT(store_scram_derive(STORE_SCRAM_SHA256, "secret", c256.salt, c256.salt_len,
                                 c256.iterations, &again), 0);
    CHECK(memcmp(again.stored_key, c256.stored_key, 32) == 0);
    CHECK(memcmp(again.server_key, c256.server_key, 32) == 0);
    CHECK_STR(again.salt_b64, c256.salt_b64);
    CHECK_INT(store_user_get_scram(st, "nobody@example.com", STORE_SCRAM_SHA1, &c1),
              STORE_ENOTFOUND);

    /* The password itself is nowhere in the file. */
    store_free(st);
    size_t len = 0;
    char *raw = check_read_file(db_path("users.db"), &len);
    CHECK(raw != NULL);
    if (raw)
        CHECK(memmem(raw, len, "hunter2", 7) == NULL);
    free(raw);
    st = open_new("users.db");
    if (!st)
        return;

    /* New password: new salts, old password refused. */
    CHECK_INT(store_user_set_password(st, "alice@example.com", "n3w"), 0);
    CHECK_INT(store_user_check_password(st, "alice@example.com", "secret"), STORE_EAUTH);
    CHECK_INT(store_user_check_password(st, "alice@example.com", "n3w"), 0);
    CHECK_INT(store_user_get_scram(st, "alice@example.com", STORE_SCRAM_SHA256, &again), 0);
    CHECK(memcmp(again.salt, c256.salt, 16) != 0);
    CHECK_INT(store_user_set_password(st, "nobody@example.com", "x"), STORE_ENOTFOUND);
    CHECK_CONTAINS(store_errmsg(st), "no such user");

    /* PLAIN falls back to SCRAM-SHA-1 when a user has no SHA-256 row. */
    CHECK_INT(raw_exec(db_path("users.db"),
                       "DELETE FROM scram_credentials WHERE jid = 'bob@example.com'"
                       " AND mechanism = 'SCRAM-SHA-256'"), SQLITE_OK);
    CHECK_INT(store_user_check_password(st, "bob@example.com", "hunter2"), 0);
    CHECK_INT(store_user_check_password(st, "bob@example.com", "hunter3"), STORE_EAUTH);
    /* A stored key of the wrong size is reported, not copied. */
    CHECK_INT(raw_exec(db_path("users.db"),
                       "UPDATE scram_credentials SET stored_key = x'00'"
                       " WHERE jid = 'bob@example.com'"), SQLITE_OK);
    CHECK_INT(store_user_get_scram(st, "bob@example.com", STORE_SCRAM_SHA1, &c1),
              STORE_ECORRUPT);

    struct store_user_list *list = NULL;
    CHECK_INT(store_user_create(st, "aaron@example.com", "x"), 0);
    CHECK_INT(store_user_list(st, &list), 0);
    CHECK(list != NULL);
    if (list) {
        CHECK_INT(list->n, 3);
        if (list->n == 3) {
            CHECK_STR(list->jids[0], "aaron@example.com");
            CHECK_STR(list->jids[1], "alice@example.com");
            CHECK_STR(list->jids[2], "bob@example.com");
        }
    }
    store_user_list_free(list);

    CHECK_INT(store_user_delete(st, "Bob@Example.com"), 0);
    CHECK_INT(store_user_delete(st, "bob@example.com"), STORE_ENOTFOUND);
    CHECK_INT(store_user_exists(st, "bob@example.com"), STORE_ENOTFOUND);
    CHECK_INT(store_user_check_password(st, "bob@example.com", "hunter2"), STORE_ENOTFOUND);
    CHECK_INT(raw_int(db_path("users.db"),
                      "SELECT count(*) FROM scram_credentials WHERE jid = 'bob@example.com'"), 0);
    store_free(st);
}

/* ---- Roster ------------------------------------------------------------------------- */

static void test_roster(void)
{
    struct store *st = open_new("roster.db");
    if (!st)
        return;
    CHECK_INT(store_user_create(st, "alice@example.com", "x"), 0);

    struct store_roster *r = NULL;
    CHECK_INT(store_roster_get(st, "alice@example.com", &r), 0);
    CHECK(r != NULL && r->n == 0);
    store_roster_free(r);
    CHECK_INT(store_roster_get(st, "nobody@example.com", &r), STORE_ENOTFOUND);
    CHECK(r == NULL);

    const char *groups[] = {"Work", "Friends", "Work", "Line\nbreak, and \"quotes\""};
    struct store_roster_item bob = {
        .jid = "Bob@Example.org", .name = "Bob", .groups = groups, .ngroups = 4,
        .subscription = STORE_SUB_TO, .ask = 0, .approved = 1,
    };
    struct store_roster_item carol = {
        .jid = "carol@example.net", .subscription = STORE_SUB_NONE, .ask = 1,
        .pending_in = 1,
    };
    struct store_roster_item gateway = {.jid = "irc.example.net", .name = ""};
    CHECK_INT(store_roster_item_put(st, "alice@example.com", &carol), 0);
    CHECK_INT(store_roster_item_put(st, "alice@example.com", &bob), 0);
    CHECK_INT(store_roster_item_put(st, "alice@example.com", &gateway), 0);
    CHECK_INT(store_roster_item_put(st, "nobody@example.com", &bob), STORE_ENOTFOUND);
    CHECK_CONTAINS(store_errmsg(st), "nobody@example.com: no such user");

    CHECK_INT(store_roster_get(st, "alice@example.com", &r), 0);
    CHECK(r != NULL && r->n == 3);
    if (r && r->n == 3) {
        struct store_roster_item *b = &r->items[0], *c = &r->items[1], *g = &r->items[2];
        CHECK_STR(b->jid, "bob@example.org");
        CHECK_STR(b->name, "Bob");
        CHECK_INT(b->subscription, STORE_SUB_TO);
        CHECK_INT(b->approved, 1);
        CHECK_INT(b->ask, 0);
        CHECK_INT(b->ngroups, 3);   /* the duplicate "Work" merged */
        if (b->ngroups == 3) {
            CHECK_STR(b->groups[0], "Friends");
            CHECK_STR(b->groups[1], "Line\nbreak, and \"quotes\"");
            CHECK_STR(b->groups[2], "Work");
        }
        CHECK_STR(c->jid, "carol@example.net");
        CHECK(c->name == NULL);
        CHECK_INT(c->ngroups, 0);
        CHECK_INT(c->ask, 1);
        CHECK_INT(c->pending_in, 1);
        CHECK_STR(g->jid, "irc.example.net");
        CHECK(g->name == NULL);     /* "" is no name */
    }
    store_roster_free(r);

    /* Update: groups replaced, subscription changed. */
    const char *one[] = {"Family"};
    bob.groups = one;
    bob.ngroups = 1;
    bob.subscription = STORE_SUB_BOTH;
    bob.name = NULL;
    CHECK_INT(store_roster_item_put(st, "alice@example.com", &bob), 0);
    struct store_roster_item *it = NULL;
    CHECK_INT(store_roster_item_get(st, "alice@example.com", "bob@example.org", &it), 0);
    CHECK(it != NULL);
    if (it) {
        CHECK_INT(it->subscription, STORE_SUB_BOTH);
        CHECK(it->name == NULL);
        CHECK_INT(it->ngroups, 1);
        if (it->ngroups == 1)
            CHECK_STR(it->groups[0], "Family");
    }
    store_roster_item_free(it);
    CHECK_INT(store_roster_item_get(st, "alice@example.com", "dan@example.org", &it),
              STORE_ENOTFOUND);
    CHECK(it == NULL);
    store_roster_item_free(NULL);
    store_roster_free(NULL);

    /* Limits and bad values. */
    const char *many[STORE_ROSTER_GROUPS_MAX + 1];
    for (size_t i = 0; i <= STORE_ROSTER_GROUPS_MAX; i++)
        many[i] = "g";
    struct store_roster_item bad = {.jid = "x@example.org", .groups = many,
                                    .ngroups = STORE_ROSTER_GROUPS_MAX + 1};
    CHECK_INT(store_roster_item_put(st, "alice@example.com", &bad), STORE_EINVAL);
    const char *empty[] = {""};
    bad.groups = empty;
    bad.ngroups = 1;
    CHECK_INT(store_roster_item_put(st, "alice@example.com", &bad), STORE_EINVAL);
    bad.ngroups = 0;
    bad.subscription = (enum store_subscription)9;
    CHECK_INT(store_roster_item_put(st, "alice@example.com", &bad), STORE_EINVAL);
    bad.subscription = STORE_SUB_NONE;
    bad.jid = "x@example.org/res";
    CHECK_INT(store_roster_item_put(st, "alice@example.com", &bad), STORE_EINVAL);
    CHECK_INT(store_subscription_from_name("from"), STORE_SUB_FROM);
    CHECK_INT(store_subscription_from_name("sideways"), -1);

    CHECK_INT(store_roster_item_remove(st, "alice@example.com", "BOB@example.org"), 0);
    CHECK_INT(store_roster_item_remove(st, "alice@example.com", "bob@example.org"),
              STORE_ENOTFOUND);
    CHECK_INT(raw_int(db_path("roster.db"),
                      "SELECT count(*) FROM roster_groups WHERE jid = 'bob@example.org'"), 0);

    /* Deleting the user takes the roster along. */
    CHECK_INT(store_user_delete(st, "alice@example.com"), 0);
    CHECK_INT(raw_int(db_path("roster.db"), "SELECT count(*) FROM roster_items"), 0);
    store_free(st);
}

/* ---- Presence ---------------------------------------------------------------------- */

static void test_presence(void)
{
    struct store *st = open_new("presence.db");
    if (!st)
        return;
    CHECK_INT(store_user_create(st, "alice@example.com", "x"), 0);
    CHECK_INT(store_user_create(st, "bob@example.com", "x"), 0);

    CHECK_INT(store_presence_set(st, "alice@example.com", "phone", 0,
                                 "<presence><show>away</show></presence>"), 0);
    CHECK_INT(store_presence_set(st, "alice@example.com", "Laptop", 5, "<presence/>"), 0);
    CHECK_INT(store_presence_set(st, "bob@example.com", "web", 1, "<presence/>"), 0);
    CHECK_INT(store_presence_set(st, "nobody@example.com", "r", 0, "<presence/>"),
              STORE_ENOTFOUND);
    CHECK_INT(store_presence_set(st, "alice@example.com", "r", 128, "<presence/>"),
              STORE_EINVAL);
    CHECK_INT(store_presence_set(st, "alice@example.com", "", 0, "<presence/>"), STORE_EINVAL);
    CHECK_INT(store_presence_set(st, "alice@example.com", "r", 0, ""), STORE_EINVAL);

    struct store_presence_list *l = NULL;
    CHECK_INT(store_presence_list(st, "Alice@example.com", &l), 0);
    CHECK(l != NULL && l->n == 2);
    if (l && l->n == 2) {
        CHECK_STR(l->items[0].resource, "Laptop");  /* resource case kept */
        CHECK_INT(l->items[0].priority, 5);
        CHECK_STR(l->items[1].resource, "phone");
        CHECK_STR(l->items[1].stanza, "<presence><show>away</show></presence>");
        CHECK(l->items[1].updated_at_ms > 1600000000000LL);
    }
    store_presence_list_free(l);

    /* Replace one: now the phone is first. */
    CHECK_INT(store_presence_set(st, "alice@example.com", "phone", 10, "<presence/>"), 0);
    CHECK_INT(store_presence_list(st, "alice@example.com", &l), 0);
    if (l && l->n == 2) {
        CHECK_STR(l->items[0].resource, "phone");
        CHECK_STR(l->items[0].stanza, "<presence/>");
    }
    store_presence_list_free(l);

    CHECK_INT(store_presence_clear(st, "alice@example.com", "phone"), 0);
    CHECK_INT(store_presence_clear(st, "alice@example.com", "phone"), 0);
    CHECK_INT(store_presence_list(st, "alice@example.com", &l), 0);
    CHECK(l != NULL && l->n == 1);
    store_presence_list_free(l);
    CHECK_INT(store_presence_clear(st, "alice@example.com", NULL), 0);
    CHECK_INT(store_presence_list(st, "alice@example.com", &l), 0);
    CHECK(l != NULL && l->n == 0);
    store_presence_list_free(l);
    CHECK_INT(store_presence_list(st, "nobody@example.com", &l), 0);
    CHECK(l != NULL && l->n == 0);
    store_presence_list_free(l);

    CHECK_INT(store_presence_set(st, "alice@example.com", "a", 0, "<presence/>"), 0);
    CHECK_INT(store_presence_clear_all(st), 0);
    CHECK_INT(raw_int(db_path("presence.db"), "SELECT count(*) FROM presence"), 0);

    CHECK_INT(store_presence_set(st, "bob@example.com", "web", 1, "<presence/>"), 0);
    CHECK_INT(store_user_delete(st, "bob@example.com"), 0);
    CHECK_INT(raw_int(db_path("presence.db"), "SELECT count(*) FROM presence"), 0);
    store_presence_list_free(NULL);
    store_free(st);
}

/* ---- Jingle sessions ------------------------------------------------------------- */

static void test_sessions(void)
{
    struct store *st = open_new("sessions.db");
    if (!st)
        return;
    struct store_jingle_session s = {
        .sid = "a73sjjvkla37jfea", .initiator = "Romeo@Montague.LIT/orchard",
        .responder = "juliet@capulet.lit/balcony", .role = STORE_JINGLE_RESPONDER,
        .state = STORE_JINGLE_PENDING, .contents = "0 audio\n1 video",
    };
    CHECK_INT(store_jingle_session_put(st, &s), 0);
    CHECK_INT(store_jingle_session_put(st, &s), STORE_EEXISTS);
    CHECK_CONTAINS(store_errmsg(st), "already exists");

    struct store_jingle_session *got = NULL;
    CHECK_INT(store_jingle_session_get(st, "a73sjjvkla37jfea", &got), 0);
    CHECK(got != NULL);
    if (got) {
        CHECK_STR(got->sid, "a73sjjvkla37jfea");
        CHECK_STR(got->initiator, "romeo@montague.lit/orchard");
        CHECK_STR(got->responder, "juliet@capulet.lit/balcony");
        CHECK_INT(got->role, STORE_JINGLE_RESPONDER);
        CHECK_INT(got->state, STORE_JINGLE_PENDING);
        CHECK_STR(got->contents, "0 audio\n1 video");
        CHECK(got->created_at_ms > 0 && got->created_at_ms == got->updated_at_ms);
    }
    store_jingle_session_free(got);

    CHECK_INT(store_jingle_session_update(st, "a73sjjvkla37jfea", STORE_JINGLE_ACTIVE, NULL), 0);
    CHECK_INT(store_jingle_session_get(st, "a73sjjvkla37jfea", &got), 0);
    if (got) {
        CHECK_INT(got->state, STORE_JINGLE_ACTIVE);
        CHECK_STR(got->contents, "0 audio\n1 video");   /* NULL kept them */
    }
    store_jingle_session_free(got);
    CHECK_INT(store_jingle_session_update(st, "a73sjjvkla37jfea", STORE_JINGLE_ACTIVE,
                                          "0 audio\n1 video\n2 data"), 0);
    CHECK_INT(store_jingle_session_get(st, "a73sjjvkla37jfea", &got), 0);
    if (got)
        CHECK_STR(got->contents, "0 audio\n1 video\n2 data");
    store_jingle_session_free(got);
    CHECK_INT(store_jingle_session_update(st, "nope", STORE_JINGLE_ENDED, NULL), STORE_ENOTFOUND);
    CHECK_INT(store_jingle_session_update(st, "a73sjjvkla37jfea", (enum store_jingle_state)5,
                                          NULL), STORE_EINVAL);

    struct store_jingle_session bad = s;
    bad.sid = "";
    CHECK_INT(store_jingle_session_put(st, &bad), STORE_EINVAL);
    bad.sid = "x";
    bad.initiator = "romeo@";
    CHECK_INT(store_jingle_session_put(st, &bad), STORE_EINVAL);
    bad.initiator = s.initiator;
    bad.contents = NULL;
    CHECK_INT(store_jingle_session_put(st, &bad), 0);
    CHECK_INT(store_jingle_session_get(st, "x", &got), 0);
    if (got)
        CHECK_STR(got->contents, "");
    store_jingle_session_free(got);

    CHECK_INT(store_jingle_session_delete(st, "a73sjjvkla37jfea"), 0);
    CHECK_INT(store_jingle_session_delete(st, "a73sjjvkla37jfea"), STORE_ENOTFOUND);
    CHECK_INT(store_jingle_session_get(st, "a73sjjvkla37jfea", &got), STORE_ENOTFOUND);
    CHECK(got == NULL);
    CHECK_STR(store_jingle_state_name(STORE_JINGLE_ENDED), "ended");
    CHECK_STR(store_jingle_role_name(STORE_JINGLE_INITIATOR), "initiator");
    store_free(st);
}

/* ---- What an operator meets ---------------------------------------------------- */

static void test_wrong_path(void)
{
    struct store_error err;
    char path[600];

    snprintf(path, sizeof(path), "%s/no/such/dir/epode.db", tmpdir);
    CHECK(store_open(path, &err) == NULL);
    CHECK_INT(err.code, STORE_EACCESS);
    CHECK_CONTAINS(err.what, path);
    CHECK_CONTAINS(err.what, "No such file or directory");

    CHECK(store_open(tmpdir, &err) == NULL);
    CHECK_INT(err.code, STORE_EACCESS);
    CHECK_CONTAINS(err.what, "is a directory");

    /* The parent is a file (fails even for root). */
    snprintf(path, sizeof(path), "%s/plainfile", tmpdir);
    FILE *f = fopen(path, "w");
    if (f)
        fclose(f);
    snprintf(path, sizeof(path), "%s/plainfile/epode.db", tmpdir);
    CHECK(store_open(path, &err) == NULL);
    CHECK_INT(err.code, STORE_EACCESS);
    CHECK_CONTAINS(err.what, "Not a directory");

    struct store_opts o = {.no_create = 1};
    CHECK(store_open_ex(db_path("absent.db"), &o, &err) == NULL);
    CHECK_INT(err.code, STORE_EACCESS);
    CHECK_CONTAINS(err.what, "no such database file");
    CHECK(access(db_path("absent.db"), F_OK) != 0);

    CHECK(store_open("", &err) == NULL);
    CHECK_INT(err.code, STORE_EINVAL);
    CHECK(store_open(NULL, NULL) == NULL);

    /* Permissions only bind other users than root. */
    if (geteuid() != 0) {
        struct store *st = open_new("readonly.db");
        store_free(st);
        chmod(db_path("readonly.db"), 0400);
        CHECK(store_open(db_path("readonly.db"), &err) == NULL);
        CHECK_INT(err.code, STORE_EACCESS);
        CHECK_CONTAINS(err.what, "Permission denied");
        chmod(db_path("readonly.db"), 0600);
    }
}

static void test_corrupt(void)
{
    struct store_error err;
    const char *path = db_path("garbage.db");
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f)
        return;
    for (int i = 0; i < 8192; i++)
        fputc((i * 7919 + 13) & 0xff, f);
    fclose(f);
    CHECK(store_open(path, &err) == NULL);
    CHECK_INT(err.code, STORE_ECORRUPT);
    CHECK_CONTAINS(err.what, path);
    CHECK_CONTAINS(err.what, "file is not a database");

    /* A real database with its pages overwritten past the header: the
     * integrity check at open catches it. */
    path = db_path("damaged.db");
    struct store *st = open_new("damaged.db");
    if (!st)
        return;
    for (int i = 0; i < 50; i++) {
        char jid[64];
        snprintf(jid, sizeof(jid), "user%d@example.com", i);
        store_user_create(st, jid, "x");
        store_presence_set(st, jid, "r", 0, "<presence><status>Some status text to "
                           "fill the pages of the table</status></presence>");
    }
    store_free(st);     /* checkpoints: everything is in the main file */
    struct stat sb;
    CHECK_INT(stat(path, &sb), 0);
    long long page = raw_int(path, "PRAGMA page_size");
    CHECK(sb.st_size >= 4 * page);
    int fd = open(path, O_WRONLY);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    char junk[512];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (char)(i * 31 + 7);
    for (long long off = page; off + (long long)sizeof(junk) <= sb.st_size;
         off += (long long)sizeof(junk) * 3)
        CHECK_INT(pwrite(fd, junk, sizeof(junk), off), (long long)sizeof(junk));
    close(fd);
    CHECK(store_open(path, &err) == NULL);
    CHECK_INT(err.code, STORE_ECORRUPT);
    CHECK_CONTAINS(err.what, path);
    CHECK(strstr(err.what, "integrity check failed") || strstr(err.what, "malformed"));
    CHECK(strchr(err.what, '\n') == NULL);
}

static void test_schema_refused(void)
{
    struct store_error err;
    const char *path = db_path("future.db");
    store_free(open_new("future.db"));
    CHECK_INT(raw_exec(path, "PRAGMA user_version = 99"), SQLITE_OK);
    CHECK(store_open(path, &err) == NULL);
    CHECK_INT(err.code, STORE_ESCHEMA);
    CHECK_CONTAINS(err.what, "schema version 99 is newer than this Epode knows");

    path = db_path("other-app.db");
    CHECK_INT(raw_exec(path, "CREATE TABLE accounts (name TEXT)"), SQLITE_OK);
    CHECK(store_open(path, &err) == NULL);
    CHECK_INT(err.code, STORE_ESCHEMA);
    CHECK_CONTAINS(err.what, "not an Epode database");
    CHECK_INT(raw_int(path, "SELECT count(*) FROM sqlite_schema"), 1);  /* untouched */

    path = db_path("other-id.db");
    CHECK_INT(raw_exec(path, "PRAGMA application_id = 1234"), SQLITE_OK);
    CHECK(store_open(path, &err) == NULL);
    CHECK_INT(err.code, STORE_ESCHEMA);
    CHECK_CONTAINS(err.what, "application_id 0x000004d2");
}

/* Another process opens `path` and runs `sql`, then holds whatever locks
 * that left until *release is closed. Returns its pid, or -1. */
static pid_t lock_holder(const char *path, const char *sql, int *release)
{
    int ack[2], rel[2];
    if (pipe(ack) || pipe(rel))
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(ack[0]);
        close(rel[1]);
        sqlite3 *db = NULL;
        char c = 'k';
        if (sqlite3_open(path, &db) != SQLITE_OK ||
            sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
            c = 'e';
        if (write(ack[1], &c, 1) != 1)
            _exit(3);
        while (read(rel[0], &c, 1) > 0)
            ;
        _exit(0);   /* the kernel drops the locks */
    }
    close(ack[1]);
    close(rel[0]);
    char c = 0;
    if (pid < 0 || read(ack[0], &c, 1) != 1 || c != 'k') {
        close(ack[0]);
        close(rel[1]);
        if (pid > 0)
            waitpid(pid, NULL, 0);
        return -1;
    }
    close(ack[0]);
    *release = rel[1];
    return pid;
}

static void lock_release(pid_t pid, int release)
{
    close(release);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_locked(void)
{
    struct store_error err;
    const char *path = db_path("locked.db");
    struct store *st = open_new("locked.db");
    CHECK_INT(store_user_create(st, "alice@example.com", "x"), 0);
    store_free(st);
    struct store_opts o = {.busy_timeout_ms = 300};

    /* Exclusive locking mode: nobody else may even read. */
    int release = -1;
    pid_t pid = lock_holder(path, "PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE;"
                            " DELETE FROM presence; COMMIT;", &release);
    CHECK(pid > 0);
    if (pid <= 0)
        return;
    double t0 = now_s();
    st = store_open_ex(path, &o, &err);
    double waited = now_s() - t0;
    CHECK(st == NULL);
    store_free(st);
    CHECK_INT(err.code, STORE_EBUSY);
    CHECK_CONTAINS(err.what, path);
    CHECK_CONTAINS(err.what, "database is locked");
    CHECK(waited >= 0.25);      /* it waited for the busy timeout first */
    lock_release(pid, release);
    st = store_open_ex(path, &o, &err);
    CHECK(st != NULL);
    store_free(st);

    /* A writer in the middle of a transaction: readers go on (WAL), a
     * write waits for the busy timeout, then fails clearly. */
    pid = lock_holder(path, "BEGIN IMMEDIATE; DELETE FROM presence;", &release);
    CHECK(pid > 0);
    if (pid <= 0)
        return;
    st = store_open_ex(path, &o, &err);
    CHECK(st != NULL);
    if (st) {
        CHECK_INT(store_user_exists(st, "alice@example.com"), 0);
        t0 = now_s();
        CHECK_INT(store_user_create(st, "bob@example.com", "x"), STORE_EBUSY);
        CHECK(now_s() - t0 >= 0.25);
        CHECK_CONTAINS(store_errmsg(st), "database is locked");
        CHECK_INT(store_presence_set(st, "alice@example.com", "r", 0, "<presence/>"),
                  STORE_EBUSY);
    }
    lock_release(pid, release);
    if (st) {
        CHECK_INT(store_user_create(st, "bob@example.com", "x"), 0);
        store_free(st);
    }
    CHECK_STR(store_strerror(STORE_EBUSY), "database is locked");
}

/* A child creates users and acknowledges each over a pipe once
 * store_user_create() has returned; it is killed with SIGKILL mid-stream.
 * Every acknowledged user must be in the file. */
static void test_kill9(void)
{
    enum { ACKED = 12 };
    const char *path = db_path("kill9.db");
    store_free(open_new("kill9.db"));   /* create the schema first */
    int p[2];
    CHECK_INT(pipe(p), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        struct store_error err;
        struct store *st = store_open(path, &err);
        if (!st)
            _exit(3);
        for (uint32_t i = 0;; i++) {
            char jid[64], pw[32];
            snprintf(jid, sizeof(jid), "k%u@example.com", (unsigned)i);
            snprintf(pw, sizeof(pw), "pw%u", (unsigned)i);
            if (store_user_create(st, jid, pw) != 0)
                _exit(4);
            if (write(p[1], &i, sizeof(i)) != (ssize_t)sizeof(i))
                _exit(5);
        }
    }
    close(p[1]);
    CHECK(pid > 0);
    uint32_t last = 0, got = 0;
    int acks = 0;
    while (acks < ACKED && read(p[0], &got, sizeof(got)) == (ssize_t)sizeof(got)) {
        last = got;
        acks++;
    }
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    close(p[0]);
    CHECK_INT(acks, ACKED);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    /* The commits are in the WAL, not yet checkpointed into the file. */
    char wal[600];
    snprintf(wal, sizeof(wal), "%s-wal", path);
    struct stat sb;
    CHECK(stat(wal, &sb) == 0 && sb.st_size > 0);

    struct store *st = open_new("kill9.db");
    if (!st)
        return;
    for (uint32_t i = 0; i <= last; i++) {
        char jid[64], pw[32];
        snprintf(jid, sizeof(jid), "k%u@example.com", (unsigned)i);
        snprintf(pw, sizeof(pw), "pw%u", (unsigned)i);
        CHECK_INT(store_user_exists(st, jid), 0);
        if (i == last)
            CHECK_INT(store_user_check_password(st, jid, pw), 0);
    }
    store_free(st);
}

static void test_strerror(void)
{
    for (int c = 0; c >= STORE_EDB; c--) {
        const char *s = store_strerror(c);
        CHECK(s != NULL && *s && strcmp(s, "unknown error") != 0);
    }
    CHECK_STR(store_strerror(-99), "unknown error");
}

static void test_batch(void)
{
    struct store *st = open_new("batch.db");
    if (!st)
        return;
    struct store_jingle_session s = {
        .sid = "b1", .initiator = "a@x.lit/r", .responder = "b@y.lit/r",
        .role = STORE_JINGLE_INITIATOR, .state = STORE_JINGLE_PENDING, .contents = "x",
    };
    CHECK_INT(store_batch_begin(st), 0);
    CHECK_INT(store_batch_begin(st), STORE_EINVAL); /* no nesting */
    CHECK_INT(store_jingle_session_put(st, &s), 0);
    s.sid = "b2";
    CHECK_INT(store_jingle_session_put(st, &s), 0);
    /* a failing write inside does not undo the others */
    CHECK_INT(store_jingle_session_put(st, &s), STORE_EEXISTS);
    CHECK_INT(store_jingle_session_update(st, "b1", STORE_JINGLE_ACTIVE, NULL), 0);
    CHECK_INT(store_jingle_session_delete(st, "nope"), STORE_ENOTFOUND);
    /* another connection sees nothing before the end */
    char path[600];
    snprintf(path, sizeof(path), "%s/batch.db", tmpdir);
    struct store_error err;
    struct store_opts o = {.busy_timeout_ms = -1, .skip_check = 1};
    struct store *other = store_open_ex(path, &o, &err);
    CHECK(other != NULL);
    struct store_jingle_session *got = NULL;
    if (other)
        CHECK_INT(store_jingle_session_get(other, "b1", &got), STORE_ENOTFOUND);
    CHECK_INT(store_batch_end(st), 0);
    if (other) {
        CHECK_INT(store_jingle_session_get(other, "b1", &got), 0);
        if (got)
            CHECK_INT(got->state, STORE_JINGLE_ACTIVE);
        store_jingle_session_free(got);
        got = NULL;
        CHECK_INT(store_jingle_session_get(other, "b2", &got), 0);
        store_jingle_session_free(got);
        store_free(other);
    }
    CHECK_INT(store_batch_end(st), 0); /* nothing open: nothing to do */
    store_free(st);
}

int main(int argc, char **argv)
{
    (void)argc, (void)argv;
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof(tmpdir), "%s/epode-store-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_jid();
    test_scram_vectors();
    test_schema();
    test_concurrent_open();
    test_users();
    test_roster();
    test_presence();
    test_sessions();
    test_batch();
    test_wrong_path();
    test_corrupt();
    test_schema_refused();
    test_locked();
    test_kill9();
    test_strerror();
    nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return check_report("test_store");
}
