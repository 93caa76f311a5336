/* test_component.c - the daemon's parts that need no network: the
 * configuration file, TURN credentials, and the answers of services.c to
 * stanzas (parsed by libstrophe, as they arrive from the server). */
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "services.h"
#include "turn.h"

static char sent[64 * 1024];

static int capture(void *ud, const char *to, const char *xml, size_t len)
{
    (void)ud, (void)to;
    if (len >= sizeof(sent))
        return -1;
    memcpy(sent, xml, len);
    sent[len] = '\0';
    return 0;
}

static int users(void *ud, const char *bare)
{
    (void)ud;
    return strcmp(bare, "alice@webrtc.localhost") == 0;
}

static time_t fixed_now(void)
{
    return 1700000000;
}

static char *write_tmp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/epode-test-conf-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        return NULL;
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? path : NULL;
}

static void test_config(void)
{
    struct epode_config c;
    char err[512];
    config_defaults(&c);
    CHECK_INT(c.server_port, 5275);
    char *p = write_tmp("[epode]\ndomain = webrtc.localhost\nserver = [::1]:15275\nsecret = s3cret\n"
                        "[ice]\nstun = stun.example.com:3478\nturn = turn.example.com:3478/tcp\n"
                        "turn_secret = t\ncredential_ttl = 600\n[link]\nqueue_max = 5\n");
    CHECK(p != NULL);
    CHECK_INT(config_load(&c, p, err, sizeof(err)), 0);
    unlink(p);
    CHECK_STR(c.domain, "webrtc.localhost");
    CHECK_STR(c.server_host, "::1");
    CHECK_INT(c.server_port, 15275);
    CHECK_INT(c.nice, 2);
    CHECK_STR(c.ice[1].transport, "tcp");
    CHECK_INT(c.turn_ttl, 600);
    CHECK_INT(c.queue_max, 5);
    CHECK_INT(config_validate(&c, err, sizeof(err)), 0);

    /* errors name the file and the line */
    config_defaults(&c);
    p = write_tmp("[epode]\ndomain = x\n\nserver = nowhere\n");
    CHECK_INT(config_load(&c, p, err, sizeof(err)), -1);
    CHECK_CONTAINS(err, ":4: server must be HOST:PORT");
    unlink(p);
    p = write_tmp("[epode]\ncolour = blue\n");
    CHECK_INT(config_load(&c, p, err, sizeof(err)), -1);
    CHECK_CONTAINS(err, ":2: unknown key 'colour' in section [epode]");
    unlink(p);
    p = write_tmp("[link]\nping_interval = 0\n");
    CHECK_INT(config_load(&c, p, err, sizeof(err)), -1);
    CHECK_CONTAINS(err, ":2: ping_interval must be a number from 1 to 3600");
    unlink(p);
    p = write_tmp("not ini at all\n");
    CHECK_INT(config_load(&c, p, err, sizeof(err)), -1);
    CHECK_CONTAINS(err, ":1:");
    unlink(p);
    CHECK_INT(config_load(&c, "/nonexistent/epode.conf", err, sizeof(err)), -1);
    CHECK_CONTAINS(err, "No such file");

    config_defaults(&c);
    CHECK_INT(config_validate(&c, err, sizeof(err)), -1);
    CHECK_CONTAINS(err, "no domain");
    CHECK_INT(config_set(&c, "epode", "domain", "webrtc.localhost", err, sizeof(err)), 0);
    CHECK_INT(config_validate(&c, err, sizeof(err)), -1);
    CHECK_CONTAINS(err, "no component secret");
    CHECK_INT(config_set(&c, "epode", "secret", "s", err, sizeof(err)), 0);
    CHECK_INT(config_set(&c, "ice", "turn", "t.example.com:3478", err, sizeof(err)), 0);
    CHECK_INT(config_validate(&c, err, sizeof(err)), -1);
    CHECK_CONTAINS(err, "turn_secret");
    CHECK_INT(config_set(&c, "ice", "turn", "t.example.com:3478/sctp", err, sizeof(err)), -1);
    CHECK_INT(config_set(&c, "epode", "log_level", "loud", err, sizeof(err)), -1);
}

static void test_turn(void)
{
    char user[128], pass[64];
    time_t exp;
    /* coturn's REST form. The expected password was computed apart, with
     * Python's hmac module: base64(HMAC-SHA1("turnsecret",
     * "1700086400:alice@localhost")). */
    CHECK_INT(turn_credentials("turnsecret", "alice@localhost", 1700000000, 86400, user, sizeof(user),
                               pass, sizeof(pass), &exp), 0);
    CHECK_STR(user, "1700086400:alice@localhost");
    CHECK_INT(exp, 1700086400);
    CHECK_INT(strlen(pass), 28);
    CHECK_STR(pass, "1VTxLfgeQ4soPGiPsSo1UMmEyOM=");
    CHECK_INT(turn_credentials("s", "u", 0, 1, user, 3, pass, sizeof(pass), NULL), -1);
}

static xmpp_ctx_t *ctx;

static const char *answer(struct services *sv, const char *xml)
{
    sent[0] = '\0';
    xmpp_stanza_t *st = xmpp_stanza_new_from_string(ctx, xml);
    CHECK(st != NULL);
    if (!st)
        return "";
    if (!services_handle(sv, st))
        snprintf(sent, sizeof(sent), "(not handled)");
    xmpp_stanza_release(st);
    return sent;
}

static void test_services(void)
{
    struct epode_config c;
    char err[256];
    config_defaults(&c);
    config_set(&c, "epode", "domain", "webrtc.localhost", err, sizeof(err));
    config_set(&c, "ice", "stun", "127.0.0.1:13478", err, sizeof(err));
    config_set(&c, "ice", "turn", "127.0.0.1:13478/udp", err, sizeof(err));
    config_set(&c, "ice", "turn_secret", "turnsecret", err, sizeof(err));
    struct services sv = {.cfg = &c, .send = capture, .user_exists = users, .now = fixed_now};

    const char *r = answer(&sv, "<iq type='get' id='d1' from='bob@localhost/x' to='webrtc.localhost'>"
                                "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
    CHECK_CONTAINS(r, "<iq type='result' from='webrtc.localhost' to='bob@localhost/x' id='d1'>");
    CHECK_CONTAINS(r, "<feature var='urn:xmpp:extdisco:2'/>");
    CHECK_CONTAINS(r, "<identity category='server' type='im'");

    r = answer(&sv, "<iq type='get' id='d2' from='bob@localhost/x' to='alice@webrtc.localhost'>"
                    "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
    CHECK_CONTAINS(r, "<identity category='account' type='registered'/>");
    r = answer(&sv, "<iq type='get' id='d3' from='bob@localhost/x' to='nobody@webrtc.localhost'>"
                    "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
    CHECK_CONTAINS(r, "<service-unavailable");

    r = answer(&sv, "<iq type='get' id='v' from='bob@localhost/x' to='webrtc.localhost'>"
                    "<query xmlns='jabber:iq:version'/></iq>");
    CHECK_CONTAINS(r, "<name>Epode</name><version>" EPODE_VERSION "</version>");
    CHECK(strstr(r, "<os>") == NULL);

    r = answer(&sv, "<iq type='get' id='p' from='bob@localhost/x' to='webrtc.localhost'>"
                    "<ping xmlns='urn:xmpp:ping'/></iq>");
    CHECK_STR(r, "<iq type='result' from='webrtc.localhost' to='bob@localhost/x' id='p'></iq>");

    r = answer(&sv, "<iq type='get' id='s' from='bob@localhost/x' to='webrtc.localhost'>"
                    "<services xmlns='urn:xmpp:extdisco:2'/></iq>");
    CHECK_CONTAINS(r, "<service type='stun' host='127.0.0.1' port='13478' transport='udp'/>");
    CHECK_CONTAINS(r, "type='turn' host='127.0.0.1' port='13478' transport='udp' "
                      "username='1700086400:bob@localhost' password='");
    CHECK_CONTAINS(r, "expires='2023-11-15T22:13:20Z' restricted='1'/>");

    r = answer(&sv, "<iq type='get' id='s2' from='bob@localhost/x' to='webrtc.localhost'>"
                    "<services xmlns='urn:xmpp:extdisco:2' type='stun'/></iq>");
    CHECK(strstr(r, "type='turn'") == NULL);
    r = answer(&sv, "<iq type='get' id='c' from='bob@localhost/x' to='webrtc.localhost'>"
                    "<credentials xmlns='urn:xmpp:extdisco:2'><service type='turn' host='127.0.0.1'/></credentials></iq>");
    CHECK_CONTAINS(r, "<credentials xmlns='urn:xmpp:extdisco:2'><service type='turn'");
    r = answer(&sv, "<iq type='get' id='c2' from='bob@localhost/x' to='webrtc.localhost'>"
                    "<credentials xmlns='urn:xmpp:extdisco:2'><service type='turn' host='elsewhere'/></credentials></iq>");
    CHECK_CONTAINS(r, "<item-not-found");

    /* unknown, malformed */
    r = answer(&sv, "<iq type='get' id='u' from='bob@localhost/x' to='webrtc.localhost'>"
                    "<query xmlns='jabber:iq:last'/></iq>");
    CHECK_CONTAINS(r, "<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>");
    r = answer(&sv, "<iq type='get' from='bob@localhost/x' to='webrtc.localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
    CHECK_CONTAINS(r, "<bad-request");
    CHECK_CONTAINS(r, "iq without an id");
    r = answer(&sv, "<iq type='get' id='two' from='bob@localhost/x' to='webrtc.localhost'>"
                    "<ping xmlns='urn:xmpp:ping'/><ping xmlns='urn:xmpp:ping'/></iq>");
    CHECK_CONTAINS(r, "exactly one child element");
    r = answer(&sv, "<iq type='fetch' id='t' from='bob@localhost/x' to='webrtc.localhost'/>");
    CHECK_CONTAINS(r, "<bad-request");
    r = answer(&sv, "<iq type='error' id='e' from='bob@localhost/x' to='webrtc.localhost'/>");
    CHECK_STR(r, ""); /* errors are never answered */
    r = answer(&sv, "<iq type='get' id='o' from='bob@localhost/x' to='elsewhere.localhost'>"
                    "<ping xmlns='urn:xmpp:ping'/></iq>");
    CHECK_STR(r, "(not handled)");
    /* attribute values are escaped in replies */
    r = answer(&sv, "<iq type='get' id='a&apos;b&lt;' from='bob@localhost/x' to='webrtc.localhost'>"
                    "<ping xmlns='urn:xmpp:ping'/></iq>");
    CHECK_CONTAINS(r, "id='a&apos;b&lt;'");
}

int main(void)
{
    xmpp_initialize();
    ctx = xmpp_ctx_new(NULL, NULL);
    test_config();
    test_turn();
    test_services();
    xmpp_ctx_free(ctx);
    xmpp_shutdown();
    return check_report("test_component");
}
