/* turn.h - time-limited TURN credentials in the coturn REST form
 * ("use-auth-secret"): username "EXPIRY:USER", password
 * base64(HMAC-SHA1(secret, username)). */
#ifndef EPODE_TURN_H
#define EPODE_TURN_H

#include <stddef.h>
#include <time.h>

/* Writes the username and password for `user`, valid until now + ttl
 * (expiry in *expires). 0, or -1 when a buffer is too small. */
int turn_credentials(const char *secret, const char *user, time_t now, unsigned ttl,
                     char *username, size_t ulen, char *password, size_t plen,
                     time_t *expires);

#endif
