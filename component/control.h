/* control.h - the operator's control socket (a Unix socket, mode 0600):
 * one command line in, the answer out, then the connection closes.
 *
 *   status          link state and counters, one "key value" per line
 *   send XML        sends one stanza (on one line) to the XMPP server, from
 *                   the component; queued while the link is down
 *
 * epodectl speaks it (`epodectl --socket PATH status`). */
#ifndef EPODE_CONTROL_H
#define EPODE_CONTROL_H

#include <uv.h>

struct control;

struct control_ops {
    /* writes the status lines into buf (NUL-terminated) */
    void (*status)(void *ud, char *buf, size_t len);
    /* sends a stanza; 0, or -1 with a reason in err */
    int (*send)(void *ud, const char *xml, size_t len, char *err, size_t errlen);
    void *ud;
};

/* Listens on `path` (an existing socket file there is replaced). NULL with
 * the reason in err when it cannot. */
struct control *control_start(uv_loop_t *loop, const char *path, const struct control_ops *ops,
                              char *err, size_t errlen);
/* Stops listening, closes open connections and removes the socket file. */
void control_stop(struct control *c);

#endif
