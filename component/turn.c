#include "turn.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

int turn_credentials(const char *secret, const char *user, time_t now, unsigned ttl,
                     char *username, size_t ulen, char *password, size_t plen,
                     time_t *expires)
{
    time_t exp = now + (time_t)ttl;
    int n = snprintf(username, ulen, "%lld:%s", (long long)exp, user);
    if (n < 0 || (size_t)n >= ulen)
        return -1;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    if (!HMAC(EVP_sha1(), secret, (int)strlen(secret), (const unsigned char *)username,
              (size_t)n, mac, &maclen))
        return -1;
    /* base64 of 20 bytes is 28 characters plus the NUL */
    if (plen < 4 * ((maclen + 2) / 3) + 1)
        return -1;
    EVP_EncodeBlock((unsigned char *)password, mac, (int)maclen);
    if (expires)
        *expires = exp;
    return 0;
}
