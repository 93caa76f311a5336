/* epodectl - administer the users of an Epode database, in the manner of
 * prosodyctl and ejabberdctl. See docs/store.md.
 *
 * Exit status: 0 success, 1 failure (the reason on standard error), 2 usage
 * error. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "store.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* The daemon's default (component/config.c). */
#define DEFAULT_DB "/var/lib/epode/epode.db"

#define DEFAULT_SOCKET "/run/epode/epode.sock"

static const char usage_text[] =
    "Usage: epodectl [--db PATH] [--socket PATH] COMMAND [ARGUMENTS]\n"
    "\n"
    "Administers the hosted users of an Epode database.\n"
    "\n"
    "Commands:\n"
    "  useradd JID [PASSWORD]  create a user (and the database if missing)\n"
    "  userdel JID             delete a user with their roster and presence\n"
    "  passwd JID [PASSWORD]   set a user's password\n"
    "  users                   list the users, one JID per line\n"
    "  roster JID              list a user's roster, one item per line:\n"
    "                          JID, subscription, flags, name, groups...\n"
    "                          separated by tabs\n"
    "  status                  ask the running daemon for its link state and\n"
    "                          counters (through its control socket)\n"
    "  send XML                have the running daemon send one stanza, from\n"
    "                          its domain, to the XMPP server\n"
    "\n"
    "Without PASSWORD, useradd and passwd ask for it twice on the terminal\n"
    "(without echo), or read one line from standard input when it is not a\n"
    "terminal. A password on the command line is visible to other users of\n"
    "the machine (ps) and kept in shell history.\n"
    "\n"
    "Options:\n"
    "  --db PATH   the database file (default: $EPODE_DB, else\n"
    "              " DEFAULT_DB ", the daemon's default)\n"
    "  --socket PATH  the daemon's control socket (default: $EPODE_SOCKET,\n"
    "              else " DEFAULT_SOCKET ")\n"
    "  --help      print this help\n"
    "  --version   print the version\n"
    "\n"
    "Exit status: 0 on success, 1 on failure, 2 on a usage error.\n";

/* The terminal settings to restore if a signal arrives while echo is off.
 * File-scope because a signal handler needs them. */
static struct termios saved_tty;
static volatile sig_atomic_t tty_saved;

static void restore_tty_and_die(int sig)
{
    if (tty_saved)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Reads one line (without its line end) into buf. Returns 0, 1 at end of
 * input with nothing read, -1 when the line is longer than the buffer. */
static int read_line(char *buf, size_t size)
{
    if (!fgets(buf, (int)size, stdin))
        return 1;
    size_t n = strlen(buf);
    if (n > 0 && buf[n - 1] == '\n') {
        buf[--n] = '\0';
        if (n > 0 && buf[n - 1] == '\r')
            buf[--n] = '\0';
        return 0;
    }
    if (n + 1 < size || feof(stdin))     /* last line without a newline */
        return 0;
    int c;
    while ((c = getchar()) != EOF && c != '\n')
        ;
    explicit_bzero(buf, size);
    return -1;
}

/* Prompts on stderr and reads a line from the terminal with echo off. */
static int read_secret(const char *prompt, char *buf, size_t size)
{
    struct termios noecho;
    if (tcgetattr(STDIN_FILENO, &saved_tty) != 0) {
        fprintf(stderr, "epodectl: cannot read the terminal: %s\n", strerror(errno));
        return -1;
    }
    noecho = saved_tty;
    noecho.c_lflag &= (tcflag_t)~ECHO;
    noecho.c_lflag |= ECHONL;   /* the Enter key still moves to a new line */
    struct sigaction sa = {0}, old_int, old_term, old_hup;
    sa.sa_handler = restore_tty_and_die;
    sigemptyset(&sa.sa_mask);
    tty_saved = 1;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGHUP, &sa, &old_hup);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &noecho);
    fputs(prompt, stderr);
    fflush(stderr);
    int rc = read_line(buf, size);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
    tty_saved = 0;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    if (rc == 1)
        fputc('\n', stderr);
    return rc;
}

/* Gets the new password: asked twice on a terminal, else one line of
 * standard input. Returns 0 with pw filled, or prints why and returns -1. */
static int get_password(char *pw, size_t size)
{
    if (isatty(STDIN_FILENO)) {
        char again[STORE_PASSWORD_MAX + 2];
        int rc = read_secret("Password: ", pw, size);
        if (rc == 0)
            rc = read_secret("Retype password: ", again, sizeof(again));
        if (rc == 0 && strcmp(pw, again) != 0) {
            fprintf(stderr, "epodectl: the passwords do not match\n");
            rc = -2;
        }
        explicit_bzero(again, sizeof(again));
        if (rc == 1)
            fprintf(stderr, "epodectl: no password given\n");
        if (rc == -1)
            fprintf(stderr, "epodectl: password longer than %u bytes\n", STORE_PASSWORD_MAX);
        if (rc)
            return -1;
    } else {
        int rc = read_line(pw, size);
        if (rc == 1) {
            fprintf(stderr, "epodectl: no password on standard input\n");
            return -1;
        }
        if (rc == -1) {
            fprintf(stderr, "epodectl: password longer than %u bytes\n", STORE_PASSWORD_MAX);
            return -1;
        }
    }
    if (!*pw) {
        fprintf(stderr, "epodectl: empty password\n");
        return -1;
    }
    return 0;
}

/* Prints text with control characters and backslashes escaped (\n, \t,
 * \xNN, \\): a roster name comes from the network and must not drive the
 * terminal nor split the tab-separated columns. */
static void put_escaped(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\\')
            fputs("\\\\", stdout);
        else if (c == '\n')
            fputs("\\n", stdout);
        else if (c == '\t')
            fputs("\\t", stdout);
        else if (c < 0x20 || c == 0x7f)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
}

static int fail_store(const char *cmd, struct store *st, int rc)
{
    const char *msg = store_errmsg(st);
    fprintf(stderr, "epodectl: %s: %s\n", cmd, *msg ? msg : store_strerror(rc));
    return EXIT_FAIL;
}

static int cmd_useradd(struct store *st, const char *jid, const char *arg_pw)
{
    char pw[STORE_PASSWORD_MAX + 2];
    int rc = store_user_exists(st, jid);
    if (rc == 0) {
        fprintf(stderr, "epodectl: useradd: %s: user already exists\n", jid);
        return EXIT_FAIL;
    }
    if (rc != STORE_ENOTFOUND)
        return fail_store("useradd", st, rc);
    if (!arg_pw && get_password(pw, sizeof(pw)))
        return EXIT_FAIL;
    rc = store_user_create(st, jid, arg_pw ? arg_pw : pw);
    explicit_bzero(pw, sizeof(pw));
    return rc ? fail_store("useradd", st, rc) : EXIT_OK;
}

static int cmd_passwd(struct store *st, const char *jid, const char *arg_pw)
{
    char pw[STORE_PASSWORD_MAX + 2];
    int rc = store_user_exists(st, jid);
    if (rc)
        return fail_store("passwd", st, rc);
    if (!arg_pw && get_password(pw, sizeof(pw)))
        return EXIT_FAIL;
    rc = store_user_set_password(st, jid, arg_pw ? arg_pw : pw);
    explicit_bzero(pw, sizeof(pw));
    return rc ? fail_store("passwd", st, rc) : EXIT_OK;
}

static int cmd_userdel(struct store *st, const char *jid)
{
    int rc = store_user_delete(st, jid);
    return rc ? fail_store("userdel", st, rc) : EXIT_OK;
}

static int cmd_users(struct store *st)
{
    struct store_user_list *list;
    int rc = store_user_list(st, &list);
    if (rc)
        return fail_store("users", st, rc);
    for (size_t i = 0; i < list->n; i++) {
        put_escaped(list->jids[i]);
        putchar('\n');
    }
    store_user_list_free(list);
    return EXIT_OK;
}

static int cmd_roster(struct store *st, const char *jid)
{
    struct store_roster *r;
    int rc = store_roster_get(st, jid, &r);
    if (rc)
        return fail_store("roster", st, rc);
    for (size_t i = 0; i < r->n; i++) {
        const struct store_roster_item *it = &r->items[i];
        put_escaped(it->jid);
        printf("\t%s\t", store_subscription_name(it->subscription));
        char flags[32];
        snprintf(flags, sizeof(flags), "%s%s%s", it->ask ? ",ask" : "",
                 it->pending_in ? ",pending-in" : "", it->approved ? ",approved" : "");
        printf("%s\t", flags[0] ? flags + 1 : "-");
        if (it->name)
            put_escaped(it->name);
        for (size_t g = 0; g < it->ngroups; g++) {
            putchar('\t');
            put_escaped(it->groups[g]);
        }
        putchar('\n');
    }
    store_roster_free(r);
    return EXIT_OK;
}

struct command {
    const char *name;
    int min_args, max_args;     /* after the command name */
    int creates;                /* may create the database */
};

static const struct command commands[] = {
    {"useradd", 1, 2, 1},
    {"userdel", 1, 1, 0},
    {"passwd", 1, 2, 0},
    {"users", 0, 0, 0},
    {"roster", 1, 1, 0},
};

/* One command line to the daemon's control socket; its answer to stdout.
 * The answer starts with "error" when the daemon refused. */
static int control_command(const char *path, const char *line)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "epodectl: socket path too long: %s\n", path);
        return EXIT_FAIL;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        fprintf(stderr, "epodectl: cannot reach the daemon at %s: %s (is epode running, with [epode] control set to it?)\n",
                path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return EXIT_FAIL;
    }
    size_t len = strlen(line);
    const char *p = line;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n <= 0) {
            fprintf(stderr, "epodectl: %s: %s\n", path, strerror(errno));
            close(fd);
            return EXIT_FAIL;
        }
        p += n;
        len -= (size_t)n;
    }
    if (write(fd, "\n", 1) != 1) {
        close(fd);
        return EXIT_FAIL;
    }
    char buf[4096];
    ssize_t n;
    int refused = -1;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        if (refused < 0)
            refused = n >= 5 && memcmp(buf, "error", 5) == 0;
        fwrite(buf, 1, (size_t)n, refused ? stderr : stdout);
    }
    close(fd);
    return refused == 0 ? EXIT_OK : EXIT_FAIL;
}

__attribute__((format(printf, 1, 2)))
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("epodectl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\nTry 'epodectl --help'.\n", stderr);
    va_end(ap);
    return EXIT_USAGE;
}

int main(int argc, char **argv)
{
    enum { O_DB = 1, O_HELP, O_VERSION, O_SOCKET };
    static const struct option longopts[] = {
        {"db", required_argument, NULL, O_DB},
        {"socket", required_argument, NULL, O_SOCKET},
        {"help", no_argument, NULL, O_HELP},
        {"version", no_argument, NULL, O_VERSION},
        {NULL, 0, NULL, 0},
    };
    const char *db = getenv("EPODE_DB");
    const char *sock = getenv("EPODE_SOCKET");
    int c;
    /* "+": options end at the command, so a password may start with '-'. */
    while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
        switch (c) {
        case O_DB:
            db = optarg;
            break;
        case O_SOCKET:
            sock = optarg;
            break;
        case 'h':
        case O_HELP:
            fputs(usage_text, stdout);
            return EXIT_OK;
        case O_VERSION:
            printf("epodectl %s (database schema %d)\n", EPODE_VERSION, STORE_SCHEMA_VERSION);
            return EXIT_OK;
        default:
            fputs("Try 'epodectl --help'.\n", stderr);
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[optind];
    char **args = argv + optind + 1;
    int nargs = argc - optind - 1;
    if (strcmp(name, "status") == 0 || strcmp(name, "send") == 0) {
        const int send = name[1] == 'e';
        if (nargs != send)
            return usage_error(send ? "send: one XML stanza expected" : "status: no arguments expected");
        if (send && strchr(args[0], '\n'))
            return usage_error("send: the stanza must be on one line");
        char line[65536];
        int n = snprintf(line, sizeof(line), send ? "send %s" : "status", send ? args[0] : "");
        if (n < 0 || (size_t)n >= sizeof(line))
            return usage_error("send: the stanza is longer than 64 KiB");
        return control_command(sock && *sock ? sock : DEFAULT_SOCKET, line);
    }
    const struct command *cmd = NULL;
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(name, commands[i].name) == 0)
            cmd = &commands[i];
    if (!cmd)
        return usage_error("unknown command '%s'", name);
    if (nargs < cmd->min_args)
        return usage_error("%s: missing JID", name);
    if (nargs > cmd->max_args)
        return usage_error("%s: too many arguments", name);
    if (!db)
        db = DEFAULT_DB;
    if (!*db)
        return usage_error("%s", "empty database path");
    char jid[STORE_JID_MAX + 1];
    if (nargs > 0 && store_jid_normalize(args[0], 0, 1, jid, sizeof(jid)) != 0)
        return usage_error("'%s' is not a user JID (user@domain)", args[0]);

    struct store_opts opts = {.no_create = !cmd->creates};
    struct store_error err;
    struct store *st = store_open_ex(db, &opts, &err);
    if (!st) {
        fprintf(stderr, "epodectl: %s\n", err.what);
        return EXIT_FAIL;
    }
    const char *pw = nargs > 1 ? args[1] : NULL;
    int rc;
    if (strcmp(name, "useradd") == 0)
        rc = cmd_useradd(st, jid, pw);
    else if (strcmp(name, "userdel") == 0)
        rc = cmd_userdel(st, jid);
    else if (strcmp(name, "passwd") == 0)
        rc = cmd_passwd(st, jid, pw);
    else if (strcmp(name, "users") == 0)
        rc = cmd_users(st);
    else
        rc = cmd_roster(st, jid);
    store_free(st);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "epodectl: cannot write the output: %s\n", strerror(errno));
        rc = EXIT_FAIL;
    }
    return rc;
}
