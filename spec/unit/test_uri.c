/* mb_uri: the loose and strict URI rules, pattern mode (empty components) and the reserved
 * "wamp." namespace. */
#include "unit.h"

#include "mb_uri.h"

static bool loose(const char *s) { return mb_uri_valid(s, strlen(s), MB_URI_LOOSE, false); }
static bool strict(const char *s) { return mb_uri_valid(s, strlen(s), MB_URI_STRICT, false); }
static bool loose_pat(const char *s) { return mb_uri_valid(s, strlen(s), MB_URI_LOOSE, true); }
static bool strict_pat(const char *s) { return mb_uri_valid(s, strlen(s), MB_URI_STRICT, true); }
static bool reserved(const char *s) { return mb_uri_reserved(s, strlen(s)); }

TEST(loose_accepts_plain_and_dotted_uris)
{
    CHECK(loose("a"));
    CHECK(loose("a.b.c"));
    CHECK(loose("com.myapp.x_1"));
    CHECK(loose("com.myapp.topic1"));
    CHECK(loose("0.1.2"));
}

TEST(loose_accepts_unicode_dashes_and_capitals)
{
    CHECK(loose("caf\xc3\xa9.\xc3\xbc")); /* café.ü in UTF-8 */
    CHECK(loose("\xe6\x97\xa5\xe6\x9c\xac.\xe8\xaa\x9e")); /* 日本.語 */
    CHECK(loose("a-b"));
    CHECK(loose("A.b"));
    CHECK(loose("com.MyApp.Do-It!"));
    CHECK(loose("a/b.c:d"));
}

TEST(loose_rejects_empty_uri_and_empty_components)
{
    CHECK(!loose(""));
    CHECK(!loose("."));
    CHECK(!loose(".a"));
    CHECK(!loose("a."));
    CHECK(!loose("a..b"));
    CHECK(!loose("a.b."));
    CHECK(!loose("..."));
}

TEST(loose_rejects_whitespace_and_hash)
{
    CHECK(!loose("a b"));
    CHECK(!loose("a\tb"));
    CHECK(!loose("a\nb"));
    CHECK(!loose("a\vb"));
    CHECK(!loose("a\fb"));
    CHECK(!loose("a\rb"));
    CHECK(!loose(" a"));
    CHECK(!loose("a "));
    CHECK(!loose("a#b"));
    CHECK(!loose("#"));
    CHECK(!loose("a.#.c"));
}

TEST(strict_accepts_lowercase_digits_and_underscore)
{
    CHECK(strict("a"));
    CHECK(strict("a.b.c"));
    CHECK(strict("com.myapp.x_1"));
    CHECK(strict("0.9_z"));
    CHECK(strict("_"));
}

TEST(strict_rejects_capitals_dashes_unicode_and_punctuation)
{
    CHECK(!strict("A.b"));
    CHECK(!strict("a.B"));
    CHECK(!strict("a-b"));
    CHECK(!strict("caf\xc3\xa9"));
    CHECK(!strict("a:b"));
    CHECK(!strict("a/b"));
    CHECK(!strict("a b"));
    CHECK(!strict("a#b"));
}

TEST(strict_rejects_empty_uri_and_empty_components)
{
    CHECK(!strict(""));
    CHECK(!strict(".a"));
    CHECK(!strict("a."));
    CHECK(!strict("a..b"));
}

TEST(pattern_mode_accepts_empty_components_anywhere)
{
    const char *ok[] = { "a..c", "..c", "a..", "a...d", "a.b.c", "a", ".a", "a." };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        if (!loose_pat(ok[i]))
            unit_fail(__FILE__, __LINE__, "loose pattern \"%s\" rejected", ok[i]);
        if (!strict_pat(ok[i]))
            unit_fail(__FILE__, __LINE__, "strict pattern \"%s\" rejected", ok[i]);
    }
}

TEST(pattern_mode_still_rejects_bad_characters_and_empty_string)
{
    CHECK(!loose_pat("a b..c"));
    CHECK(!loose_pat("a..c d"));
    CHECK(!loose_pat("a#..c"));
    CHECK(!loose_pat("a..\tc"));
    CHECK(!loose_pat(""));
    CHECK(!strict_pat("A..c"));
    CHECK(!strict_pat("a..c-d"));
    CHECK(!strict_pat(""));
}

TEST(validity_uses_the_given_length_not_the_nul)
{
    /* the bytes past len do not count, whatever they are */
    CHECK(mb_uri_valid("a.b", 1, MB_URI_LOOSE, false));
    CHECK(mb_uri_valid("a b", 1, MB_URI_STRICT, false));
    CHECK(!mb_uri_valid("a.b", 2, MB_URI_LOOSE, false)); /* "a." */
    CHECK(!mb_uri_valid("a.b", 0, MB_URI_LOOSE, true));
}

TEST(wamp_prefix_is_reserved)
{
    CHECK(reserved("wamp.session.list"));
    CHECK(reserved("wamp.error.invalid_uri"));
    CHECK(reserved("wamp."));
    CHECK(!reserved("wampx.a"));
    CHECK(!reserved("wamp"));
    CHECK(!reserved("wam"));
    CHECK(!reserved(""));
    CHECK(!reserved("com.wamp.x"));
    CHECK(!reserved("WAMP.session.list"));
    CHECK(!mb_uri_reserved("wamp.x", 4)); /* only "wamp" counts */
}

static char *long_uri(size_t len, size_t comp)
{
    /* components of comp letters separated by dots, len bytes, not ending in a dot */
    char *s = malloc(len + 1);
    if (!s)
        return NULL;
    for (size_t i = 0; i < len; i++)
        s[i] = (comp && (i + 1) % (comp + 1) == 0 && i + 1 < len) ? '.' : 'a' + (char)(i % 26);
    s[len] = '\0';
    return s;
}

TEST(very_long_uris_are_checked_in_full)
{
    size_t len = 100 * 1024;
    char *s = long_uri(len, 7);
    REQUIRE(s);
    CHECK(strlen(s) == len);
    CHECK(mb_uri_valid(s, len, MB_URI_LOOSE, false));
    CHECK(mb_uri_valid(s, len, MB_URI_STRICT, false));

    s[len - 1] = ' '; /* a bad byte at the very end is found */
    CHECK(!mb_uri_valid(s, len, MB_URI_LOOSE, false));
    s[len - 1] = 'Q';
    CHECK(mb_uri_valid(s, len, MB_URI_LOOSE, false));
    CHECK(!mb_uri_valid(s, len, MB_URI_STRICT, false));
    s[len - 1] = 'q';

    /* an empty component in the middle: only a pattern */
    size_t mid = len / 2;
    while (s[mid] != '.')
        mid++;
    s[mid + 1] = '.';
    CHECK(s[mid] == '.' && s[mid + 1] == '.');
    CHECK(!mb_uri_valid(s, len, MB_URI_LOOSE, false));
    CHECK(mb_uri_valid(s, len, MB_URI_LOOSE, true));
    free(s);

    /* one component of 100 KB */
    s = long_uri(len, 0);
    REQUIRE(s);
    CHECK(mb_uri_valid(s, len, MB_URI_STRICT, false));
    memcpy(s, "wamp.", 5);
    CHECK(mb_uri_reserved(s, len));
    CHECK(mb_uri_valid(s, len, MB_URI_STRICT, false));
    free(s);
}

UNIT_MAIN()
