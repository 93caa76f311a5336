/* test_http.c - the HTTP side's parts that need no network (bosh/http_util.c):
 * Host headers, announced URLs, XEP-0156 documents, the CORS allow-list,
 * request paths and content types; and the [http] configuration keys. */
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "http_util.h"

static void test_buf(void)
{
    char mem[8];
    struct http_buf b;
    http_buf_init(&b, mem, sizeof(mem));
    http_buf_printf(&b, "%s", "abc");
    http_buf_append(&b, "def", 3);
    CHECK_STR(b.p, "abcdef");
    CHECK_INT(b.overflow, 0);
    http_buf_append(&b, "gh", 2); /* 8 with the NUL: does not fit */
    CHECK_INT(b.overflow, 1);
    CHECK_STR(b.p, "abcdef");
    http_buf_init(&b, mem, sizeof(mem));
    http_buf_printf(&b, "%d", 123456789);
    CHECK_INT(b.overflow, 1);
    CHECK_INT(b.len, 0);
    CHECK_STR(b.p, "");
}

static void test_host(void)
{
    CHECK_INT(http_host_valid("example.com"), 0);
    CHECK_INT(http_host_valid("example.com:5280"), 0);
    CHECK_INT(http_host_valid("127.0.0.1:80"), 0);
    CHECK_INT(http_host_valid("[::1]:5280"), 0);
    CHECK_INT(http_host_valid("[::1]"), 0);
    CHECK_INT(http_host_valid("xn--bcher-kva.example"), 0);
    CHECK_INT(http_host_valid(""), -1);
    CHECK_INT(http_host_valid("a'b"), -1);
    CHECK_INT(http_host_valid("a\"b"), -1);
    CHECK_INT(http_host_valid("a<b>"), -1);
    CHECK_INT(http_host_valid("a b"), -1);
    CHECK_INT(http_host_valid("a/b"), -1);
    CHECK_INT(http_host_valid("user@host"), -1);
    CHECK_INT(http_host_valid("host:"), -1);
    CHECK_INT(http_host_valid("host:123456"), -1);
    CHECK_INT(http_host_valid("host:80x"), -1);
    CHECK_INT(http_host_valid("[::1"), -1);
    CHECK_INT(http_host_valid("[]"), -1);
    CHECK_INT(http_host_valid(".example.com"), -1);
    char longhost[300];
    memset(longhost, 'a', sizeof(longhost) - 1);
    longhost[sizeof(longhost) - 1] = '\0';
    CHECK_INT(http_host_valid(longhost), -1);
}

static void test_bases(void)
{
    char hb[128], wb[128];
    CHECK_INT(http_bases("", "example.com:5280", 0, hb, sizeof(hb), wb, sizeof(wb)), 0);
    CHECK_STR(hb, "http://example.com:5280");
    CHECK_STR(wb, "ws://example.com:5280");
    CHECK_INT(http_bases(NULL, "example.com", 1, hb, sizeof(hb), wb, sizeof(wb)), 0);
    CHECK_STR(hb, "https://example.com");
    CHECK_STR(wb, "wss://example.com");
    /* public_url wins over Host, and keeps its path */
    CHECK_INT(http_bases("https://chat.example.com/epode", "evil.example", 0, hb, sizeof(hb), wb, sizeof(wb)), 0);
    CHECK_STR(hb, "https://chat.example.com/epode");
    CHECK_STR(wb, "wss://chat.example.com/epode");
    CHECK_INT(http_bases("http://10.0.0.1:8080", NULL, 1, hb, sizeof(hb), wb, sizeof(wb)), 0);
    CHECK_STR(wb, "ws://10.0.0.1:8080");
    CHECK_INT(http_bases("", "bad'host", 0, hb, sizeof(hb), wb, sizeof(wb)), -1);
    CHECK_INT(http_bases("", NULL, 0, hb, sizeof(hb), wb, sizeof(wb)), -1);
    CHECK_INT(http_bases("", "example.com", 0, hb, 10, wb, sizeof(wb)), -1);
}

static void test_host_meta(void)
{
    char mem[2048];
    struct http_buf b;
    http_buf_init(&b, mem, sizeof(mem));
    http_host_meta_xml(&b, "https://x.example", "wss://x.example");
    CHECK_INT(b.overflow, 0);
    CHECK_CONTAINS(b.p, "<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>");
    CHECK_CONTAINS(b.p, "<Link rel='urn:xmpp:alt-connections:xbosh' href='https://x.example/http-bind'/>");
    CHECK_CONTAINS(b.p, "<Link rel='urn:xmpp:alt-connections:websocket' href='wss://x.example/xmpp-websocket'/>");
    http_buf_init(&b, mem, sizeof(mem));
    http_host_meta_json(&b, "https://x.example", "wss://x.example");
    CHECK_CONTAINS(b.p, "{\"rel\": \"urn:xmpp:alt-connections:xbosh\", \"href\": \"https://x.example/http-bind\"}");
    CHECK_CONTAINS(b.p,
                   "{\"rel\": \"urn:xmpp:alt-connections:websocket\", \"href\": \"wss://x.example/xmpp-websocket\"}");
}

static void test_origins(void)
{
    const char *list = "https://app.example.com  http://localhost:8000";
    CHECK_INT(http_origin_allowed(list, "https://app.example.com"), 1);
    CHECK_INT(http_origin_allowed(list, "HTTPS://APP.example.com"), 1);
    CHECK_INT(http_origin_allowed(list, "http://localhost:8000"), 1);
    CHECK_INT(http_origin_allowed(list, "http://localhost:8001"), 0);
    CHECK_INT(http_origin_allowed(list, "http://localhost"), 0);
    CHECK_INT(http_origin_allowed(list, "https://app.example.com.evil.example"), 0);
    CHECK_INT(http_origin_allowed(list, "https://app.example.co"), 0);
    CHECK_INT(http_origin_allowed(list, "null"), 0);
    CHECK_INT(http_origin_allowed(list, ""), 0);
    CHECK_INT(http_origin_allowed("", "https://app.example.com"), 0);
    CHECK_INT(http_origin_allowed(NULL, "https://app.example.com"), 0);
    CHECK_INT(http_origin_allowed("*", "https://anything.example"), 1);
    CHECK_INT(http_origin_allowed("https://a.example *", "null"), 1);
}

static void test_paths(void)
{
    CHECK_INT(http_path_safe("/"), 0);
    CHECK_INT(http_path_safe("/index.html"), 0);
    CHECK_INT(http_path_safe("/js/app.min.js"), 0);
    CHECK_INT(http_path_safe("/a b.html"), 0);
    CHECK_INT(http_path_safe("/file.with.dots"), 0);
    CHECK_INT(http_path_safe(""), -1);
    CHECK_INT(http_path_safe("index.html"), -1);
    CHECK_INT(http_path_safe("/../etc/passwd"), -1);
    CHECK_INT(http_path_safe("/a/../../etc/passwd"), -1);
    CHECK_INT(http_path_safe("/a/.."), -1);
    CHECK_INT(http_path_safe("/./a"), -1);
    CHECK_INT(http_path_safe("/.git/config"), -1);
    CHECK_INT(http_path_safe("/.htpasswd"), -1);
    CHECK_INT(http_path_safe("/a\\..\\b"), -1);
    CHECK_INT(http_path_safe("/a\nb"), -1);
    CHECK_INT(http_path_safe("/a\x7f"), -1);
    char longp[HTTP_PATH_MAX + 10];
    memset(longp, 'a', sizeof(longp) - 1);
    longp[0] = '/';
    longp[sizeof(longp) - 1] = '\0';
    CHECK_INT(http_path_safe(longp), -1);
}

static void test_mime(void)
{
    CHECK_STR(http_mime_type("/index.html"), "text/html; charset=utf-8");
    CHECK_STR(http_mime_type("/x/INDEX.HTM"), "text/html; charset=utf-8");
    CHECK_STR(http_mime_type("/app.js"), "text/javascript; charset=utf-8");
    CHECK_STR(http_mime_type("/app.mjs"), "text/javascript; charset=utf-8");
    CHECK_STR(http_mime_type("/style.css"), "text/css; charset=utf-8");
    CHECK_STR(http_mime_type("/logo.svg"), "image/svg+xml");
    CHECK_STR(http_mime_type("/a.wasm"), "application/wasm");
    CHECK_STR(http_mime_type("/a.json"), "application/json");
    CHECK_STR(http_mime_type("/README"), "application/octet-stream");
    CHECK_STR(http_mime_type("/.hidden"), "application/octet-stream");
    CHECK_STR(http_mime_type("/dir.d/file"), "application/octet-stream");
    CHECK_STR(http_mime_type("/a.exe"), "application/octet-stream");
}

static void test_log_safe(void)
{
    char out[16];
    CHECK_STR(http_log_safe(out, sizeof(out), "/a\nb\"c"), "/a?b?c");
    CHECK_STR(http_log_safe(out, 4, "/abcdef"), "/ab");
    CHECK_STR(http_log_safe(out, sizeof(out), NULL), "");
}

static int set(struct epode_config *c, const char *key, const char *value, char *err)
{
    return config_set(c, "http", key, value, err, 300);
}

static void test_config(void)
{
    struct epode_config c;
    char err[300];
    config_defaults(&c);
    CHECK_INT(c.http_max_connections, 20000);
    CHECK_INT(c.http_idle_timeout, 30);
    CHECK_INT(c.http_request_timeout, 10);
    CHECK_INT(c.http_metrics_public, 0);
    CHECK_STR(c.http_public_url, "");
    CHECK_STR(c.http_allowed_origins, "");

    CHECK_INT(set(&c, "public_url", "https://chat.example.com/epode/", err), 0);
    CHECK_STR(c.http_public_url, "https://chat.example.com/epode");
    CHECK_INT(set(&c, "public_url", "ftp://x", err), -1);
    CHECK_CONTAINS(err, "public_url");
    CHECK_INT(set(&c, "public_url", "https://x/?a=1", err), -1);
    CHECK_INT(set(&c, "public_url", "https://x/'><script>", err), -1);
    CHECK_INT(set(&c, "public_url", "https://", err), -1);
    CHECK_INT(set(&c, "public_url", "", err), 0);
    CHECK_STR(c.http_public_url, "");

    CHECK_INT(set(&c, "allowed_origins", "https://a.example http://localhost:8000", err), 0);
    CHECK_INT(set(&c, "allowed_origins", "*", err), 0);
    CHECK_INT(set(&c, "allowed_origins", "https://a.example/", err), -1);
    CHECK_CONTAINS(err, "trailing slash");
    CHECK_INT(set(&c, "allowed_origins", "a.example", err), -1);

    CHECK_INT(set(&c, "metrics_public", "yes", err), 0);
    CHECK_INT(c.http_metrics_public, 1);
    CHECK_INT(set(&c, "metrics_public", "false", err), 0);
    CHECK_INT(c.http_metrics_public, 0);
    CHECK_INT(set(&c, "metrics_public", "maybe", err), -1);

    CHECK_INT(set(&c, "max_connections", "0", err), -1);
    CHECK_INT(set(&c, "max_connections", "500", err), 0);
    CHECK_INT(c.http_max_connections, 500);
    CHECK_INT(set(&c, "idle_timeout", "5", err), 0);
    CHECK_INT(set(&c, "request_timeout", "0", err), -1);
    CHECK_INT(set(&c, "nonsense", "1", err), -1);

    /* tls_cert and tls_key go together, and must be readable */
    config_defaults(&c);
    snprintf(c.domain, sizeof(c.domain), "webrtc.localhost");
    snprintf(c.secret, sizeof(c.secret), "s");
    CHECK_INT(config_validate(&c, err, sizeof(err)), 0);
    CHECK_INT(set(&c, "tls_cert", "/nonexistent/cert.pem", err), 0);
    CHECK_INT(config_validate(&c, err, sizeof(err)), -1);
    CHECK_CONTAINS(err, "tls_key");
    CHECK_INT(set(&c, "tls_key", "/nonexistent/key.pem", err), 0);
    CHECK_INT(config_validate(&c, err, sizeof(err)), -1);
    CHECK_CONTAINS(err, "/nonexistent/cert.pem");
    config_defaults(&c);
    snprintf(c.domain, sizeof(c.domain), "webrtc.localhost");
    snprintf(c.secret, sizeof(c.secret), "s");
    CHECK_INT(set(&c, "web_root", "/nonexistent-web-root", err), 0);
    CHECK_INT(config_validate(&c, err, sizeof(err)), -1);
    CHECK_CONTAINS(err, "web_root");
    CHECK_INT(set(&c, "web_root", "/tmp", err), 0);
    CHECK_INT(config_validate(&c, err, sizeof(err)), 0);
}

int main(void)
{
    test_buf();
    test_host();
    test_bases();
    test_host_meta();
    test_origins();
    test_paths();
    test_mime();
    test_log_safe();
    test_config();
    return check_report("test_http");
}
