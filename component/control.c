/* control.c - the control socket. See control.h. */
#include "control.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define CONTROL_MAX_LINE (64 * 1024)

struct control {
    uv_loop_t *loop;
    uv_pipe_t server;
    char *path;
    struct control_ops ops;
};

struct client {
    uv_pipe_t pipe;
    struct control *ctl;
    char *line;
    size_t len;
    int done;
};

static void client_closed(uv_handle_t *h)
{
    struct client *c = h->data;
    free(c->line);
    free(c);
}

struct reply {
    uv_write_t req;
    struct client *client;
    char text[];
};

static void reply_written(uv_write_t *req, int status)
{
    struct reply *r = (struct reply *)req;
    (void)status;
    uv_close((uv_handle_t *)&r->client->pipe, client_closed);
    free(r);
}

static void respond(struct client *c, const char *text)
{
    size_t n = strlen(text);
    struct reply *r = malloc(sizeof(*r) + n + 1);
    c->done = 1;
    uv_read_stop((uv_stream_t *)&c->pipe);
    if (!r) {
        uv_close((uv_handle_t *)&c->pipe, client_closed);
        return;
    }
    memcpy(r->text, text, n + 1);
    r->client = c;
    uv_buf_t b = uv_buf_init(r->text, (unsigned)n);
    if (uv_write(&r->req, (uv_stream_t *)&c->pipe, &b, 1, reply_written) != 0) {
        free(r);
        uv_close((uv_handle_t *)&c->pipe, client_closed);
    }
}

static void run_command(struct client *c)
{
    char *line = c->line;
    char out[4096];
    while (c->len && (line[c->len - 1] == '\n' || line[c->len - 1] == '\r'))
        line[--c->len] = '\0';
    if (strcmp(line, "status") == 0) {
        c->ctl->ops.status(c->ctl->ops.ud, out, sizeof(out));
        respond(c, out);
    } else if (strncmp(line, "send ", 5) == 0) {
        char err[256] = "";
        if (c->ctl->ops.send(c->ctl->ops.ud, line + 5, c->len - 5, err, sizeof(err)) == 0) {
            log_info("control", "stanza sent by the operator bytes=%zu", c->len - 5);
            respond(c, "ok\n");
        } else {
            snprintf(out, sizeof(out), "error %s\n", err);
            respond(c, out);
        }
    } else {
        respond(c, "error unknown command (status, send XML)\n");
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    buf->base = malloc(suggested);
    buf->len = buf->base ? suggested : 0;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct client *c = s->data;
    if (nread > 0 && !c->done) {
        if (c->len + (size_t)nread > CONTROL_MAX_LINE) {
            free(buf->base);
            respond(c, "error command longer than 64 KiB\n");
            return;
        }
        char *p = realloc(c->line, c->len + (size_t)nread + 1);
        if (!p) {
            free(buf->base);
            respond(c, "error out of memory\n");
            return;
        }
        c->line = p;
        memcpy(c->line + c->len, buf->base, (size_t)nread);
        c->len += (size_t)nread;
        c->line[c->len] = '\0';
        if (memchr(c->line, '\n', c->len)) {
            /* one command per connection: cut at the first line end */
            c->len = (size_t)((char *)memchr(c->line, '\n', c->len) - c->line);
            c->line[c->len] = '\0';
            run_command(c);
        }
    } else if (nread < 0 && !c->done) {
        if (c->len)
            run_command(c); /* EOF ends the command too */
        else
            uv_close((uv_handle_t *)&c->pipe, client_closed);
    }
    free(buf->base);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct control *ctl = server->data;
    if (status < 0)
        return;
    struct client *c = calloc(1, sizeof(*c));
    if (!c)
        return;
    c->ctl = ctl;
    uv_pipe_init(ctl->loop, &c->pipe, 0);
    c->pipe.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0) {
        uv_close((uv_handle_t *)&c->pipe, client_closed);
        return;
    }
    uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
}

struct control *control_start(uv_loop_t *loop, const char *path, const struct control_ops *ops,
                              char *err, size_t errlen)
{
    struct control *c = calloc(1, sizeof(*c));
    if (!c || !(c->path = strdup(path))) {
        free(c);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->loop = loop;
    c->ops = *ops;
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path); /* left by a previous run */
    uv_pipe_init(loop, &c->server, 0);
    c->server.data = c;
    mode_t old = umask(0077);
    int rc = uv_pipe_bind(&c->server, path);
    umask(old);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&c->server, 16, on_connection);
    if (rc != 0) {
        snprintf(err, errlen, "control socket %s: %s", path, uv_strerror(rc));
        uv_close((uv_handle_t *)&c->server, NULL);
        uv_run(loop, UV_RUN_NOWAIT);
        free(c->path);
        free(c);
        return NULL;
    }
    return c;
}

static void server_closed(uv_handle_t *h)
{
    struct control *c = h->data;
    free(c->path);
    free(c);
}

void control_stop(struct control *c)
{
    if (!c)
        return;
    unlink(c->path);
    uv_close((uv_handle_t *)&c->server, server_closed);
}
