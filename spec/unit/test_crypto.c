/* mb_crypto: hex and base64, constant-time comparison, WAMP-CRA (HMAC-SHA256, PBKDF2 as
 * autobahn derives keys) and WAMP-Cryptosign (Ed25519 over challenge XOR channel id). */
#include "unit.h"

#include <stdint.h>

#include "mb_crypto.h"

/* hex → bytes for the test's own constants; the length must be right */
static void unhex(const char *hex, unsigned char *out, size_t n)
{
    if (mb_hex_decode(hex, strlen(hex), out, n) != (int)n) {
        fprintf(stderr, "bad constant %s\n", hex);
        exit(2);
    }
}

/* First in the file, so first to run (unit.h runs tests in file order): libsodium is started
 * before any other test uses it, as mb_crypto.h asks of every caller. */
TEST(init_starts_libsodium_and_may_be_called_again)
{
    CHECK_EQ_INT(mb_crypto_init(), 0);
    CHECK_EQ_INT(mb_crypto_init(), 0);
}

/* ---------------------------------------------------------------- hex */

TEST(hex_encodes_lowercase_and_round_trips_every_byte)
{
    unsigned char all[256], back[256];
    char hex[513];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    mb_hex_encode(all, sizeof all, hex);
    CHECK_EQ_INT(strlen(hex), 512);
    CHECK(strncmp(hex, "000102", 6) == 0);
    CHECK_EQ_STR(hex + 500, "fafbfcfdfeff");
    CHECK_EQ_INT(mb_hex_decode(hex, 512, back, sizeof back), 256);
    CHECK(memcmp(all, back, sizeof all) == 0);

    mb_hex_encode(all, 0, hex);
    CHECK_EQ_STR(hex, "");
    CHECK_EQ_INT(mb_hex_decode("", 0, back, 0), 0);
}

TEST(hex_decodes_either_case)
{
    unsigned char out[4];
    CHECK_EQ_INT(mb_hex_decode("DeadBEEF", 8, out, sizeof out), 4);
    CHECK(memcmp(out, "\xde\xad\xbe\xef", 4) == 0);
}

TEST(hex_refuses_odd_length_bad_digits_and_too_little_room)
{
    unsigned char out[8];
    CHECK_EQ_INT(mb_hex_decode("abc", 3, out, sizeof out), -1);
    CHECK_EQ_INT(mb_hex_decode("0g", 2, out, sizeof out), -1);
    CHECK_EQ_INT(mb_hex_decode("g0", 2, out, sizeof out), -1);
    CHECK_EQ_INT(mb_hex_decode("0 ", 2, out, sizeof out), -1);
    CHECK_EQ_INT(mb_hex_decode(" 0", 2, out, sizeof out), -1);
    CHECK_EQ_INT(mb_hex_decode("0x00", 4, out, sizeof out), -1);
    CHECK_EQ_INT(mb_hex_decode("00\0" "0", 4, out, sizeof out), -1);
    CHECK_EQ_INT(mb_hex_decode("000102", 6, out, 2), -1);
    CHECK_EQ_INT(mb_hex_decode("000102", 6, out, 3), 3);
}

/* ---------------------------------------------------------------- base64 */

static int b64(const char *s, unsigned char *out, size_t cap)
{
    return mb_base64_decode(s, strlen(s), out, cap);
}

TEST(base64_encodes_rfc4648_vectors_with_padding)
{
    /* RFC 4648 §10 */
    static const char *const want[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
    for (size_t n = 0; n <= 6; n++) {
        char out[16];
        size_t len = mb_base64_encode((const unsigned char *)"foobar", n, out);
        CHECK_EQ_STR(out, want[n]);
        CHECK_EQ_INT(len, strlen(want[n]));
    }
}

TEST(base64_round_trips_every_length_padded_and_unpadded)
{
    unsigned char in[64], back[64];
    char text[100];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (unsigned char)(i * 37 + 250);
    for (size_t n = 0; n <= sizeof in; n++) {
        size_t len = mb_base64_encode(in, n, text);
        CHECK_EQ_INT(len, 4 * ((n + 2) / 3));
        CHECK_EQ_INT(mb_base64_decode(text, len, back, n), (int)n);
        CHECK(memcmp(in, back, n) == 0);
        while (len > 0 && text[len - 1] == '=')
            len--;
        CHECK_EQ_INT(mb_base64_decode(text, len, back, n), (int)n);
        CHECK(memcmp(in, back, n) == 0);
    }
}

TEST(base64_accepts_the_url_safe_alphabet)
{
    unsigned char out[8];
    /* fb ff bf: "+/+/" standard, "-_-_" URL-safe */
    CHECK_EQ_INT(b64("+/+/", out, sizeof out), 3);
    CHECK(memcmp(out, "\xfb\xff\xbf", 3) == 0);
    memset(out, 0, sizeof out);
    CHECK_EQ_INT(b64("-_-_", out, sizeof out), 3);
    CHECK(memcmp(out, "\xfb\xff\xbf", 3) == 0);
    CHECK_EQ_INT(b64("-_8", out, sizeof out), 2);
    CHECK_EQ_INT(b64("-_8=", out, sizeof out), 2);
}

TEST(base64_accepts_non_zero_trailing_bits)
{
    unsigned char out[4];
    /* "Zh==" and "Zg==" both decode to "f": the spare bits are not checked */
    CHECK_EQ_INT(b64("Zh==", out, sizeof out), 1);
    CHECK_EQ_INT(out[0], 'f');
    CHECK_EQ_INT(b64("Zm9=", out, sizeof out), 2);
    CHECK(memcmp(out, "fo", 2) == 0);
}

TEST(base64_refuses_whitespace_and_bad_characters)
{
    unsigned char out[16];
    static const char *const bad[] = {
        "Zm9v\n", "Zm9v ", " Zm9v", "Zm 9v", "Zm9v\r\n", "Zm\t9v", "Zm9v!", "Zm.v",
        "Zm9v*A==", "Zm\xc3\xa9v", "+/-_", "-_+/", "Zm9v+A-A",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (b64(bad[i], out, sizeof out) != -1)
            unit_fail(__FILE__, __LINE__, "accepted \"%s\"", bad[i]);
    }
    /* a NUL inside the given length is a bad character, not an end */
    CHECK_EQ_INT(mb_base64_decode("Zm\0v", 4, out, sizeof out), -1);
}

TEST(base64_refuses_impossible_lengths_and_bad_padding)
{
    unsigned char out[16];
    static const char *const bad[] = {
        "Z", "Zm9vY", "Z===", "====", "=", "==", "Zg=", "Zg===", "Zm9=v", "Zg==Zg==", "Z=g=",
        "=Zm9", "Zm9vY===", "Zm8==", "Zg=A",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (b64(bad[i], out, sizeof out) != -1)
            unit_fail(__FILE__, __LINE__, "accepted \"%s\"", bad[i]);
    }
}

TEST(base64_refuses_output_over_outcap)
{
    unsigned char out[6];
    CHECK_EQ_INT(b64("Zm9vYmFy", out, 5), -1);
    CHECK_EQ_INT(b64("Zm9vYmFy", out, 6), 6);
    CHECK_EQ_INT(b64("Zm9vYg==", out, 3), -1);
    CHECK_EQ_INT(b64("Zm9vYg", out, 4), 4);
    CHECK_EQ_INT(b64("", out, 0), 0);
}

/* ---------------------------------------------------------------- constant-time compare */

TEST(ct_equal_compares_every_byte)
{
    unsigned char a[33], b[33];
    memset(a, 0x5a, sizeof a);
    memcpy(b, a, sizeof b);
    CHECK(mb_ct_equal(a, b, sizeof a));
    CHECK(mb_ct_equal(a, b, 0));
    for (size_t i = 0; i < sizeof a; i++) {
        b[i] ^= 0x80;
        if (mb_ct_equal(a, b, sizeof a))
            unit_fail(__FILE__, __LINE__, "a difference at byte %zu went unseen", i);
        CHECK(mb_ct_equal(a, b, i)); /* the bytes before it still equal */
        b[i] ^= 0x80;
    }
}

/* ---------------------------------------------------------------- HMAC, PBKDF2 */

/* PBKDF2 through mb_wampcra_derive_key: the base64 it prints, decoded */
static int pbkdf2_bytes(const char *pass, const char *salt, unsigned iter, unsigned keylen,
                        unsigned char *out)
{
    char text[1400];
    int n = mb_wampcra_derive_key(pass, strlen(pass), salt, strlen(salt), iter, keylen, text, sizeof text);
    if (n < 0)
        return -1;
    return mb_base64_decode(text, (size_t)n, out, 1024);
}

TEST(hmac_sha256_matches_rfc4231_test_case_2)
{
    static const char *msg = "what do ya want for nothing?";
    unsigned char want[32], got[32];
    char sig[45];
    unhex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", want, 32);
    mb_wampcra_sign("Jefe", 4, msg, strlen(msg), sig);
    CHECK_EQ_INT(strlen(sig), 44);
    REQUIRE(mb_base64_decode(sig, strlen(sig), got, sizeof got) == 32);
    CHECK(memcmp(got, want, 32) == 0);
}

TEST(pbkdf2_hmac_sha256_matches_rfc7914_section_11)
{
    unsigned char want[64], got[1024];
    unhex("55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
          "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783", want, 64);
    REQUIRE(pbkdf2_bytes("passwd", "salt", 1, 64, got) == 64);
    CHECK(memcmp(got, want, 64) == 0);
    /* a shorter key is the longer one's prefix */
    REQUIRE(pbkdf2_bytes("passwd", "salt", 1, 20, got) == 20);
    CHECK(memcmp(got, want, 20) == 0);
}

/* ---------------------------------------------------------------- WAMP-CRA */

/* The example challenge of the WAMP spec (rfc/text/advanced/authentication_cra.md), on one line. */
static const char spec_challenge[] =
    "{\"nonce\": \"LHRTC9zeOIrt_9U3\", \"authprovider\": \"userdb\", \"authid\": \"peter\", "
    "\"timestamp\": \"2014-06-22T16:36:25.448Z\", \"authrole\": \"user\", \"authmethod\": "
    "\"wampcra\", \"session\": 3251278072152162}";

/* Produced with autobahn-python 22.x (Debian's python3-autobahn):
 *   /usr/bin/python3 -c "from autobahn.wamp import auth; print(auth.derive_key(SECRET, SALT, ITER, KEYLEN))"
 *   /usr/bin/python3 -c "from autobahn.wamp import auth; print(auth.compute_wcs(KEY, CHALLENGE))"
 * with CHALLENGE = spec_challenge; str arguments, which autobahn encodes as UTF-8. */
static const struct {
    const char *secret, *salt;
    unsigned iterations, keylen;
    const char *key;
} autobahn_keys[] = {
    { "secret", "salt123", 1000, 32, "MDS8Yxpu4J/vkHJ8dNEgqECYsI0uRDh2oZ5eN0vYPvo=" },
    { "secret", "salt123", 1, 32, "qGZ++d8w8zwLAOoeBsTpjK6jG/PlmWY/cWHZlQnmFuk=" },
    { "secret", "salt123", 1000, 16, "MDS8Yxpu4J/vkHJ8dNEgqA==" },
    { "secret", "salt123", 1000, 64,
      "MDS8Yxpu4J/vkHJ8dNEgqECYsI0uRDh2oZ5eN0vYPvrXjwQuMJZUjFu4+pit7TEx/nU0hn6YOfWGXxjgGDE60w==" },
    { "p\xc3\xa4ssw\xc3\xb6rd", "NaCl", 1, 16, "QGuYzHCXfKG/LAreIkpwZQ==" },
    { "", "salt", 1000, 32, "lPtWrz6iLl0+0bBUCFsTbKMBt12LQGyALEiUefJzh8Y=" },
};
static const char wcs_plain[] = "LQpJFUeu0TY2c8Sd4OIW2jmSZ5/8bLdLrideMBuDJcU=";   /* key "secret" */
static const char wcs_derived[] = "cT5Oj1Sl4ne6ixgHpkabI0xC2pEk/V0dhmDtDjT8/4Q="; /* key autobahn_keys[0].key */
static const char wcs_empty_key[] = "UbWbAMzZ0FO/4X9B+IUtnWSYSHy67h49ASMOtfx+2+w=";
static const char wcs_empty_challenge[] = "+eZuF5tnR65UEI+C+K3os8Jddv0wr95sOVgixTAZYWk="; /* key "secret" */

TEST(wampcra_derive_key_matches_autobahn)
{
    for (size_t i = 0; i < sizeof autobahn_keys / sizeof autobahn_keys[0]; i++) {
        char out[200];
        int n = mb_wampcra_derive_key(autobahn_keys[i].secret, strlen(autobahn_keys[i].secret),
                                      autobahn_keys[i].salt, strlen(autobahn_keys[i].salt),
                                      autobahn_keys[i].iterations, autobahn_keys[i].keylen,
                                      out, sizeof out);
        CHECK_EQ_INT(n, strlen(autobahn_keys[i].key));
        CHECK_EQ_STR(out, autobahn_keys[i].key);
    }
}

TEST(wampcra_derive_key_refuses_bad_parameters_and_small_buffers)
{
    char out[1400];
    CHECK_EQ_INT(mb_wampcra_derive_key("s", 1, "salt", 4, 0, 32, out, sizeof out), -1);
    CHECK_EQ_INT(mb_wampcra_derive_key("s", 1, "salt", 4, 1, 0, out, sizeof out), -1);
    CHECK_EQ_INT(mb_wampcra_derive_key("s", 1, "salt", 4, 1, 1025, out, sizeof out), -1);
    CHECK_EQ_INT(mb_wampcra_derive_key("s", 1, "salt", 4, (unsigned)INT32_MAX + 1u, 32, out, sizeof out), -1);
    CHECK_EQ_INT(mb_wampcra_derive_key("s", 1, "salt", 4, 1, 1024, out, sizeof out), 1368);
    CHECK_EQ_INT(strlen(out), 1368);
    /* 32 bytes are 44 characters and the NUL */
    CHECK_EQ_INT(mb_wampcra_derive_key("s", 1, "salt", 4, 1, 32, out, 44), -1);
    CHECK_EQ_INT(mb_wampcra_derive_key("s", 1, "salt", 4, 1, 32, out, 45), 44);
    /* an empty salt is a salt (autobahn allows it) */
    CHECK(mb_wampcra_derive_key("s", 1, "", 0, 1, 32, out, sizeof out) == 44);
}

TEST(wampcra_sign_matches_autobahn_for_a_plain_and_a_derived_key)
{
    char sig[45];
    mb_wampcra_sign("secret", 6, spec_challenge, strlen(spec_challenge), sig);
    CHECK_EQ_STR(sig, wcs_plain);
    /* salted: the HMAC key is the derived key's base64 text, as autobahn uses it */
    const char *key = autobahn_keys[0].key;
    mb_wampcra_sign(key, strlen(key), spec_challenge, strlen(spec_challenge), sig);
    CHECK_EQ_STR(sig, wcs_derived);
    mb_wampcra_sign("", 0, spec_challenge, strlen(spec_challenge), sig);
    CHECK_EQ_STR(sig, wcs_empty_key);
    mb_wampcra_sign("secret", 6, "", 0, sig);
    CHECK_EQ_STR(sig, wcs_empty_challenge);
}

static bool cra_ok(const char *key, const char *challenge, const char *sig)
{
    return mb_wampcra_verify(key, strlen(key), challenge, strlen(challenge), sig, strlen(sig));
}

TEST(wampcra_verify_accepts_the_right_signature_in_every_spelling)
{
    const char *dkey = autobahn_keys[0].key;
    CHECK(cra_ok("secret", spec_challenge, wcs_plain));
    CHECK(cra_ok(dkey, spec_challenge, wcs_derived));
    CHECK(cra_ok("", spec_challenge, wcs_empty_key));
    /* unpadded */
    char s[64];
    snprintf(s, sizeof s, "%.43s", wcs_plain);
    CHECK(cra_ok("secret", spec_challenge, s));
    /* URL-safe, padded and not */
    snprintf(s, sizeof s, "%s", wcs_derived);
    for (char *p = s; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    CHECK(strchr(s, '_') != NULL); /* the vector has a '/' to turn */
    CHECK(cra_ok(dkey, spec_challenge, s));
    s[43] = '\0';
    CHECK(cra_ok(dkey, spec_challenge, s));
}

TEST(wampcra_verify_refuses_wrong_key_altered_challenge_truncation_and_garbage)
{
    const char *dkey = autobahn_keys[0].key;
    CHECK(!cra_ok("Secret", spec_challenge, wcs_plain));
    CHECK(!cra_ok("secret", spec_challenge, wcs_derived)); /* the password, not the derived key */
    CHECK(!cra_ok(dkey, spec_challenge, wcs_plain));

    char ch[sizeof spec_challenge];
    memcpy(ch, spec_challenge, sizeof ch);
    ch[10] ^= 1;
    CHECK(!cra_ok("secret", ch, wcs_plain));
    CHECK(!mb_wampcra_verify("secret", 6, spec_challenge, strlen(spec_challenge) - 1,
                             wcs_plain, strlen(wcs_plain)));

    char s[64];
    for (size_t n = 0; n < 43; n++) { /* every truncation short of the unpadded form */
        snprintf(s, sizeof s, "%.*s", (int)n, wcs_plain);
        if (cra_ok("secret", spec_challenge, s))
            unit_fail(__FILE__, __LINE__, "accepted %zu characters", n);
    }
    snprintf(s, sizeof s, "%sAAAA", wcs_plain);               /* longer */
    CHECK(!cra_ok("secret", spec_challenge, s));
    snprintf(s, sizeof s, "%s\n", wcs_plain);                 /* a newline, as b2a_base64 writes */
    CHECK(!cra_ok("secret", spec_challenge, s));
    snprintf(s, sizeof s, " %s", wcs_plain);
    CHECK(!cra_ok("secret", spec_challenge, s));
    snprintf(s, sizeof s, "%s", wcs_plain);
    s[5] = s[5] == 'A' ? 'B' : 'A';                           /* one character changed */
    CHECK(!cra_ok("secret", spec_challenge, s));
    CHECK(!cra_ok("secret", spec_challenge, ""));
    CHECK(!cra_ok("secret", spec_challenge, "not base64 at all!"));
    CHECK(!cra_ok("secret", spec_challenge, "????????????????????????????????????????????"));
    /* the HMAC as hex is not a WAMP-CRA signature */
    CHECK(!cra_ok("secret", spec_challenge,
                  "2d0a491547aed1363673c49de0e216da3992679ffc6cb74bae275e301b8325c5"));
}

/* ---------------------------------------------------------------- WAMP-Cryptosign */

/* The WAMP spec's cryptosign test vectors: seed, challenge, channel id (or none), and what
 * autobahn sends (hex of the signature, then of the message signed). */
static const struct {
    const char *seed, *pub, *challenge, *channel_id, *sig;
} cs_vectors[] = {
    { "4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510",
      "1adfc8bfe1d35616e64dffbd900096f23b066f914c8c2ffbb66f6075b96e116d",
      "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", NULL,
      "b32675b221f08593213737bef8240e7c15228b07028e19595294678c90d11c0c"
      "ae80a357331bfc5cc9fb71081464e6e75013517c2cf067ad566a6b7b728e5d03"
      "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff" },
    { "d511fe78e23934b3dadb52fcd022974b80bd92bccc7c5cf404e46cc0a8a2f5cd",
      "6ed32739ff04a6074044ff0b0e3bfc7c856bc9d5f1d25efc57363bda0af3a8b0",
      "b26c1f87c13fc1da14997f1b5a71995dff8fbe0a62fae8473c7bdbd05bfb607d", NULL,
      "d4209ad10d5aff6bfbc009d7e924795de138a63515efc7afc6b01b7fe5201372"
      "190374886a70207b042294af5bd64ce725cd8dceb344e6d11c09d1aaaf4d660f"
      "b26c1f87c13fc1da14997f1b5a71995dff8fbe0a62fae8473c7bdbd05bfb607d" },
    { "6e1fde9cf9e2359a87420b65a87dc0c66136e66945196ba2475990d8a0c3a25b",
      "28e11f427b82b9a625ee7ac89a7d29326b505f2dc11dd88c1245f83b6da79a85",
      "b05e6b8ad4d69abf74aa3be3c0ee40ae07d66e1895b9ab09285a2f1192d562d2", NULL,
      "7beb282184baadd08f166f16dd683b39cab53816ed81e6955def951cb2ddad1e"
      "c184e206746fd82bda075af03711d3d5658fc84a76196b0fa8d1ebc92ef9f30b"
      "b05e6b8ad4d69abf74aa3be3c0ee40ae07d66e1895b9ab09285a2f1192d562d2" },
    { "4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510",
      "1adfc8bfe1d35616e64dffbd900096f23b066f914c8c2ffbb66f6075b96e116d",
      "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
      "62e935ae755f3d48f80d4d59f6121358c435722a67e859cc0caa8b539027f2ff",
      "9b6f41540c9b95b4b7b281c3042fa9c54cef43c842d62ea3fd6030fcb66e70b3"
      "e80d49d44c29d1635da9348d02ec93f3ed1ef227dfb59a07b580095c2b82f80f"
      "9d16ca518aa0c2b707f2b2a609edeca73bca8dd59817a633f35574ac6fd80d00" },
    { "d511fe78e23934b3dadb52fcd022974b80bd92bccc7c5cf404e46cc0a8a2f5cd",
      "6ed32739ff04a6074044ff0b0e3bfc7c856bc9d5f1d25efc57363bda0af3a8b0",
      "b26c1f87c13fc1da14997f1b5a71995dff8fbe0a62fae8473c7bdbd05bfb607d",
      "62e935ae755f3d48f80d4d59f6121358c435722a67e859cc0caa8b539027f2ff",
      "305aaa3ac25e98f651427688b3fc43fe7d8a68a7ec1d7d61c61517c519bd4a42"
      "7c3015599d83ca28b4c652333920223844ef0725eb5dc2febfd6af7677b73f01"
      "d0852a29b460fc92ec943242ac638a053bbacc200512b18b30d15083cbdc9282" },
    { "6e1fde9cf9e2359a87420b65a87dc0c66136e66945196ba2475990d8a0c3a25b",
      "28e11f427b82b9a625ee7ac89a7d29326b505f2dc11dd88c1245f83b6da79a85",
      "b05e6b8ad4d69abf74aa3be3c0ee40ae07d66e1895b9ab09285a2f1192d562d2",
      "62e935ae755f3d48f80d4d59f6121358c435722a67e859cc0caa8b539027f2ff",
      "ee3c7644fd8070532bc1fde3d70d742267da545d8c8f03e63bda63f1ad4214f4"
      "d2c4bfdb4eb9526def42deeb7e31602a6ff99eba893e0a4ad4d45892ca75e608"
      "d2b75e24a189a7f78ca776ba36fc53f6c3e31c32f251f2c524f0a44202f2902d" },
};
#define NVEC (sizeof cs_vectors / sizeof cs_vectors[0])

struct cs_case {
    unsigned char pub[32], challenge[32], channel_id[32];
    const unsigned char *cid; /* channel_id, or NULL */
};

static void cs_load(size_t i, struct cs_case *c)
{
    unhex(cs_vectors[i].pub, c->pub, 32);
    unhex(cs_vectors[i].challenge, c->challenge, 32);
    c->cid = NULL;
    if (cs_vectors[i].channel_id) {
        unhex(cs_vectors[i].channel_id, c->channel_id, 32);
        c->cid = c->channel_id;
    }
}

static bool cs_ok(const struct cs_case *c, const char *sig, size_t len)
{
    return mb_cryptosign_verify(c->pub, c->challenge, c->cid, sig, len);
}

TEST(cryptosign_pubkey_of_each_vector_seed_is_autobahns)
{
    for (size_t i = 0; i < NVEC; i++) {
        char pub[65];
        REQUIRE(mb_cryptosign_pubkey(cs_vectors[i].seed, pub) == 0);
        CHECK_EQ_STR(pub, cs_vectors[i].pub);
    }
}

TEST(cryptosign_sign_gives_the_spec_vectors)
{
    for (size_t i = 0; i < NVEC; i++) {
        struct cs_case c;
        char sig[193];
        cs_load(i, &c);
        REQUIRE(mb_cryptosign_sign(cs_vectors[i].seed, c.challenge, c.cid, sig) == 0);
        CHECK_EQ_INT(strlen(sig), 192);
        CHECK_EQ_STR(sig, cs_vectors[i].sig);
    }
}

TEST(cryptosign_verify_accepts_the_spec_vectors_in_192_and_128_digits)
{
    for (size_t i = 0; i < NVEC; i++) {
        struct cs_case c;
        cs_load(i, &c);
        if (!cs_ok(&c, cs_vectors[i].sig, 192))
            unit_fail(__FILE__, __LINE__, "vector %zu refused (192 digits)", i + 1);
        if (!cs_ok(&c, cs_vectors[i].sig, 128))
            unit_fail(__FILE__, __LINE__, "vector %zu refused (128 digits)", i + 1);
    }
}

TEST(cryptosign_verify_accepts_uppercase_hex)
{
    struct cs_case c;
    char sig[193];
    cs_load(3, &c);
    for (int k = 0; k < 192; k++)
        sig[k] = (char)(cs_vectors[3].sig[k] >= 'a' ? cs_vectors[3].sig[k] - 32 : cs_vectors[3].sig[k]);
    sig[192] = '\0';
    CHECK(cs_ok(&c, sig, 192));
}

TEST(cryptosign_verify_refuses_any_flipped_bit_of_the_signature)
{
    struct cs_case c;
    cs_load(4, &c);
    unsigned char raw[96];
    char sig[193];
    unhex(cs_vectors[4].sig, raw, 96);
    int accepted = 0;
    for (int bit = 0; bit < 64 * 8; bit++) {
        raw[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        mb_hex_encode(raw, 96, sig);
        accepted += cs_ok(&c, sig, 192) + cs_ok(&c, sig, 128);
        raw[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
    CHECK_EQ_INT(accepted, 0);
}

TEST(cryptosign_verify_refuses_the_wrong_public_key)
{
    for (size_t i = 0; i < NVEC; i++) {
        struct cs_case c, other;
        cs_load(i, &c);
        cs_load((i + 1) % 3, &other); /* a vector whose seed differs */
        memcpy(c.pub, other.pub, 32);
        CHECK(!cs_ok(&c, cs_vectors[i].sig, 192));
        CHECK(!cs_ok(&c, cs_vectors[i].sig, 128));
    }
}

TEST(cryptosign_verify_refuses_the_wrong_channel_id)
{
    for (size_t i = 0; i < NVEC; i++) {
        struct cs_case c;
        cs_load(i, &c);
        if (c.cid) { /* a bound signature checked without the binding, or another one */
            c.cid = NULL;
            CHECK(!cs_ok(&c, cs_vectors[i].sig, 192));
            CHECK(!cs_ok(&c, cs_vectors[i].sig, 128));
            c.cid = c.channel_id;
            c.channel_id[31] ^= 1;
        } else { /* an unbound signature checked against a binding */
            memset(c.channel_id, 0x42, 32);
            c.cid = c.channel_id;
        }
        CHECK(!cs_ok(&c, cs_vectors[i].sig, 192));
        CHECK(!cs_ok(&c, cs_vectors[i].sig, 128));
    }
}

TEST(cryptosign_verify_refuses_an_appended_message_that_is_not_the_one_signed)
{
    struct cs_case c;
    char sig[193];
    cs_load(3, &c);
    /* the signature part is right, the message part is the challenge without the XOR */
    memcpy(sig, cs_vectors[3].sig, 128);
    memcpy(sig + 128, cs_vectors[3].challenge, 64);
    sig[192] = '\0';
    CHECK(!cs_ok(&c, sig, 192));
    CHECK(cs_ok(&c, sig, 128));
    /* one digit of the message part changed */
    memcpy(sig, cs_vectors[3].sig, 193);
    sig[191] = sig[191] == '0' ? '1' : '0';
    CHECK(!cs_ok(&c, sig, 192));
}

TEST(cryptosign_verify_refuses_bad_hex_and_wrong_lengths)
{
    struct cs_case c;
    char sig[200];
    cs_load(0, &c);
    memcpy(sig, cs_vectors[0].sig, 193);
    sig[7] = 'g';
    CHECK(!cs_ok(&c, sig, 192));
    CHECK(!cs_ok(&c, sig, 128));
    memcpy(sig, cs_vectors[0].sig, 193);
    sig[150] = ' ';
    CHECK(!cs_ok(&c, sig, 192));
    static const size_t lens[] = { 0, 2, 64, 126, 127, 129, 130, 190, 191 };
    for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
        if (cs_ok(&c, cs_vectors[0].sig, lens[k]))
            unit_fail(__FILE__, __LINE__, "accepted %zu digits", lens[k]);
    }
    snprintf(sig, sizeof sig, "%s00", cs_vectors[0].sig);
    CHECK(!cs_ok(&c, sig, 194));
}

TEST(cryptosign_refuses_private_keys_not_64_hex_digits)
{
    unsigned char challenge[32] = { 0 };
    char pub[65], sig[193];
    CHECK_EQ_INT(mb_cryptosign_pubkey("", pub), -1);
    CHECK_EQ_INT(mb_cryptosign_pubkey("4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de280451", pub), -1);
    CHECK_EQ_INT(mb_cryptosign_pubkey("4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de28045100", pub), -1);
    CHECK_EQ_INT(mb_cryptosign_pubkey("4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de280451x", pub), -1);
    CHECK_EQ_INT(mb_cryptosign_sign("zz57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510",
                                    challenge, NULL, sig), -1);
}

TEST(cryptosign_keygen_gives_fresh_keys_that_sign_and_verify)
{
    char priv1[65], pub1[65], priv2[65], pub2[65], pub[65], sig[193];
    REQUIRE(mb_cryptosign_keygen(priv1, pub1) == 0);
    REQUIRE(mb_cryptosign_keygen(priv2, pub2) == 0);
    CHECK_EQ_INT(strlen(priv1), 64);
    CHECK_EQ_INT(strlen(pub1), 64);
    CHECK(strcmp(priv1, priv2) != 0);
    CHECK(strcmp(pub1, pub2) != 0);
    CHECK(strspn(priv1, "0123456789abcdef") == 64);
    CHECK(strspn(pub1, "0123456789abcdef") == 64);

    REQUIRE(mb_cryptosign_pubkey(priv1, pub) == 0);
    CHECK_EQ_STR(pub, pub1);
    REQUIRE(mb_cryptosign_pubkey(priv2, pub) == 0);
    CHECK_EQ_STR(pub, pub2);

    unsigned char challenge[32], channel_id[32], pk1[32], pk2[32];
    mb_random_bytes(challenge, sizeof challenge);
    mb_random_bytes(channel_id, sizeof channel_id);
    unhex(pub1, pk1, 32);
    unhex(pub2, pk2, 32);
    REQUIRE(mb_cryptosign_sign(priv1, challenge, channel_id, sig) == 0);
    CHECK(mb_cryptosign_verify(pk1, challenge, channel_id, sig, 192));
    CHECK(mb_cryptosign_verify(pk1, challenge, channel_id, sig, 128));
    CHECK(!mb_cryptosign_verify(pk2, challenge, channel_id, sig, 192));
    CHECK(!mb_cryptosign_verify(pk1, challenge, NULL, sig, 192));
}

TEST(random_bytes_differ_between_calls)
{
    unsigned char a[32], b[32], zero[32] = { 0 };
    mb_random_bytes(a, sizeof a);
    mb_random_bytes(b, sizeof b);
    CHECK(memcmp(a, b, sizeof a) != 0);
    CHECK(memcmp(a, zero, sizeof a) != 0);
    mb_random_bytes(a, 0); /* nothing to do, nothing written */
}

UNIT_MAIN()
