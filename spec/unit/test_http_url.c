/* mb_http_url: the HTTP callee's base URL check, the joining of a caller's url under it, the
 * refusal of every form that would leave it, and the query built from params. */
#include "unit.h"

#include "mb_http_url.h"

static char why[256];

/* The joined URL (static buffer), or "REFUSED: why". */
static const char *join(const char *base, const char *rel)
{
    static char buf[512];
    char *out = NULL;
    if (mb_http_url_join(base, rel, NULL, 0, &out, why, sizeof why) < 0) {
        snprintf(buf, sizeof buf, "REFUSED: %s", why);
        return buf;
    }
    snprintf(buf, sizeof buf, "%s", out);
    free(out);
    return buf;
}

static int refused(const char *base, const char *rel)
{
    char *out = NULL;
    int rc = mb_http_url_join(base, rel, NULL, 0, &out, why, sizeof why);
    free(out);
    return rc < 0;
}

TEST(base_must_be_http_or_https_with_a_host)
{
    CHECK(mb_http_url_check_base("http://example.com", why, sizeof why) == 0);
    CHECK(mb_http_url_check_base("HTTPS://example.com:8443/api/", why, sizeof why) == 0);
    CHECK(mb_http_url_check_base("http://user:pw@example.com/", why, sizeof why) == 0);
    CHECK(mb_http_url_check_base("ftp://example.com/", why, sizeof why) < 0);
    CHECK(mb_http_url_check_base("example.com/api", why, sizeof why) < 0);
    CHECK(mb_http_url_check_base("", why, sizeof why) < 0);
    CHECK(mb_http_url_check_base(NULL, why, sizeof why) < 0);
    CHECK(mb_http_url_check_base("http:///path", why, sizeof why) < 0);
    CHECK(strstr(why, "no host") != NULL);
}

TEST(base_with_a_query_fragment_or_space_is_refused)
{
    CHECK(mb_http_url_check_base("http://h/api?key=1", why, sizeof why) < 0);
    CHECK(strstr(why, "query") != NULL);
    CHECK(mb_http_url_check_base("http://h/api#x", why, sizeof why) < 0);
    CHECK(mb_http_url_check_base("http://h/a b", why, sizeof why) < 0);
    CHECK(mb_http_url_check_base("http://h/a\\b", why, sizeof why) < 0);
}

TEST(paths_join_under_the_base_with_one_slash)
{
    CHECK_EQ_STR(join("http://h/api/", "get"), "http://h/api/get");
    CHECK_EQ_STR(join("http://h/api", "get"), "http://h/api/get");
    CHECK_EQ_STR(join("http://h/api/", "/get"), "http://h/api/get");
    CHECK_EQ_STR(join("http://h", "get"), "http://h/get");
    CHECK_EQ_STR(join("http://h/", "a/b/c.json"), "http://h/a/b/c.json");
    CHECK_EQ_STR(join("http://h:8080", "x"), "http://h:8080/x");
}

TEST(empty_url_is_the_base_itself)
{
    CHECK_EQ_STR(join("http://h/api", ""), "http://h/api");
    CHECK_EQ_STR(join("http://h/api", NULL), "http://h/api");
}

TEST(query_and_fragment_of_the_url)
{
    CHECK_EQ_STR(join("http://h/api", "?a=1"), "http://h/api?a=1");
    CHECK_EQ_STR(join("http://h/api/", "x?a=1&b=2"), "http://h/api/x?a=1&b=2");
    CHECK_EQ_STR(join("http://h/api/", "x#frag"), "http://h/api/x");
    CHECK_EQ_STR(join("http://h/api/", "x?q#frag"), "http://h/api/x?q");
}

TEST(single_dots_and_dots_inside_names_are_fine)
{
    CHECK_EQ_STR(join("http://h/api/", "./x"), "http://h/api/./x");
    CHECK_EQ_STR(join("http://h/api/", "a..b/..c/d.."), "http://h/api/a..b/..c/d..");
    CHECK_EQ_STR(join("http://h/api/", "x?path=../y"), "http://h/api/x?path=../y");
}

TEST(dotdot_segments_are_refused_in_every_spelling)
{
    CHECK(refused("http://h/api/", ".."));
    CHECK(strstr(why, "escapes baseurl") != NULL);
    CHECK(strstr(why, "..") != NULL);
    CHECK(refused("http://h/api/", "../admin"));
    CHECK(refused("http://h/api/", "a/../../admin"));
    CHECK(refused("http://h/api/", "a/.."));
    CHECK(refused("http://h/api/", "/../x"));
    CHECK(refused("http://h/api/", "%2e%2e/x"));
    CHECK(refused("http://h/api/", "%2E%2E/x"));
    CHECK(refused("http://h/api/", ".%2e/x"));
    CHECK(refused("http://h/api/", "%2e./x"));
    CHECK(refused("http://h/api/", "a%2f..%2fx"));   /* an encoded slash around a ".." */
    CHECK(refused("http://h/api/", "a%2F%2e%2E"));
    CHECK(refused("http://h/api/", "%252e%252e/x")); /* for servers that decode twice */
    CHECK(refused("http://h/api/", "%25252e%25252e/x"));             /* three times */
    CHECK(refused("http://h/api/", "%252525252e%252525252e/x"));     /* five times: past 4 rounds, refused */
    CHECK(!refused("http://h/api/", "100%25ff"));                    /* an encoded '%' alone is fine */
    CHECK(refused("http://h/api/", "..?x=1"));
    CHECK(refused("http://h/api/", "..#x"));
}

TEST(other_schemes_and_hosts_are_refused)
{
    CHECK(refused("http://h/api/", "http://evil.example/"));
    CHECK(strstr(why, "scheme") != NULL);
    CHECK(refused("http://h/api/", "https://h/api/x"));
    CHECK(refused("http://h/api/", "file:///etc/passwd"));
    CHECK(refused("http://h/api/", "javascript:alert(1)"));
    CHECK(refused("http://h/api/", "HTTP://evil/"));
    CHECK(refused("http://h/api/", "//evil.example/x"));
    CHECK(strstr(why, "another host") != NULL);
    CHECK(refused("http://h/api/", "a\\..\\b"));
    CHECK(refused("http://h/api/", "a b"));
    CHECK(refused("http://h/api/", "a\r\nHost: evil"));
}

TEST(look_alikes_of_a_host_stay_under_the_base)
{
    CHECK_EQ_STR(join("http://h", "@evil.example/x"), "http://h/@evil.example/x");
    CHECK_EQ_STR(join("http://h:80", ":8080/x"), "http://h:80/:8080/x");
    CHECK_EQ_STR(join("http://h/api", "1:2"), "http://h/api/1:2"); /* a digit first: no scheme */
}

TEST(non_ascii_bytes_are_percent_encoded)
{
    CHECK_EQ_STR(join("http://h/", "caf\xc3\xa9"), "http://h/caf%C3%A9");
}

TEST(params_make_an_encoded_query)
{
    struct mb_url_param p[] = { { "q", "a b&c=d" }, { "lang", "fr" }, { "x/y", "\xc3\xa9~-._" } };
    char *out = NULL;
    CHECK(mb_http_url_join("http://h/api", "search", p, 3, &out, why, sizeof why) == 0);
    CHECK_EQ_STR(out, "http://h/api/search?q=a%20b%26c%3Dd&lang=fr&x%2Fy=%C3%A9~-._");
    free(out);
    CHECK(mb_http_url_join("http://h/api", "search?page=2", p + 1, 1, &out, why, sizeof why) == 0);
    CHECK_EQ_STR(out, "http://h/api/search?page=2&lang=fr");
    free(out);
    CHECK(mb_http_url_join("http://h/api", "", p + 1, 1, &out, why, sizeof why) == 0);
    CHECK_EQ_STR(out, "http://h/api?lang=fr");
    free(out);
    struct mb_url_param empty[] = { { "flag", "" } };
    CHECK(mb_http_url_join("http://h/", "x#f", empty, 1, &out, why, sizeof why) == 0);
    CHECK_EQ_STR(out, "http://h/x?flag=");
    free(out);
}

UNIT_MAIN()
