/* JSON as Python's json.dumps writes it (mb_bridge.h): Crossbar's answer bodies, byte for byte.
 * Python differs from jansson in three places that show: separators (", " and ": " unless told),
 * ensure_ascii (every non-ASCII character as a lowercase \uXXXX escape, astral ones as a surrogate
 * pair), and floats (repr: the shortest digits that read back, fixed notation for exponents -4 to
 * 15, "1.0" for whole numbers). */
#include "mb_bridge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int put(struct mb_buf *b, const char *s)
{
    return mb_buf_append(b, s, strlen(s));
}

/* Decodes one UTF-8 sequence at *p (jansson strings are valid UTF-8). */
static unsigned long utf8_next(const unsigned char **p, const unsigned char *end)
{
    unsigned char c = *(*p)++;
    int extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
    unsigned long cp = extra == 3 ? c & 0x07u : extra == 2 ? c & 0x0Fu : extra == 1 ? c & 0x1Fu : c;
    while (extra-- > 0 && *p < end)
        cp = cp << 6 | (*(*p)++ & 0x3Fu);
    return cp;
}

int mb_pyjson_str(struct mb_buf *b, const char *s, size_t n, enum mb_pyjson_style style)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    if (mb_buf_append(b, "\"", 1) < 0)
        return -1;
    while (p < end) {
        const unsigned char *run = p;
        /* bytes written as they are: printable ASCII, and (compact) every non-ASCII byte */
        while (p < end && *p != '"' && *p != '\\' && *p >= 0x20 && (style == MB_PYJSON_COMPACT || *p < 0x7F))
            p++;
        if (p > run && mb_buf_append(b, run, (size_t)(p - run)) < 0)
            return -1;
        if (p == end)
            break;
        char esc[24];
        unsigned long cp = *p < 0x80 ? *p++ : utf8_next(&p, end);
        switch (cp) {
        case '"': strcpy(esc, "\\\""); break;
        case '\\': strcpy(esc, "\\\\"); break;
        case '\n': strcpy(esc, "\\n"); break;
        case '\r': strcpy(esc, "\\r"); break;
        case '\t': strcpy(esc, "\\t"); break;
        case '\b': strcpy(esc, "\\b"); break;
        case '\f': strcpy(esc, "\\f"); break;
        default:
            if (cp >= 0x10000) {
                cp -= 0x10000;
                snprintf(esc, sizeof esc, "\\u%04lx\\u%04lx", (0xD800 | (cp >> 10)) & 0xFFFF, (0xDC00 | (cp & 0x3FF)) & 0xFFFF);
            } else {
                snprintf(esc, sizeof esc, "\\u%04lx", cp);
            }
        }
        if (put(b, esc) < 0)
            return -1;
    }
    return mb_buf_append(b, "\"", 1);
}

/* repr(float): Python's 'r' format (shortest round trip; exponent form when the decimal point
 * falls before the 4th leading zero or after 16 digits). */
static int put_real(struct mb_buf *b, double v)
{
    char e[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec - 1, v);
        if (strtod(e, NULL) == v)
            break;
    }
    /* e: [-]d[.ddd]e±XX */
    const char *q = e;
    char out[64], dig[24];
    size_t o = 0, nd = 0;
    if (*q == '-')
        out[o++] = *q++;
    for (; *q && *q != 'e'; q++)
        if (*q >= '0' && *q <= '9')
            dig[nd++] = *q;
    int decpt = atoi(q + 1) + 1;
    while (nd > 1 && dig[nd - 1] == '0')
        nd--;
    if (nd == 1 && dig[0] == '0')
        decpt = 1; /* zero: "0.0" */
    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0) {
            out[o++] = '0';
            out[o++] = '.';
            for (int i = 0; i < -decpt; i++)
                out[o++] = '0';
            memcpy(out + o, dig, nd);
            o += nd;
        } else if ((size_t)decpt >= nd) {
            memcpy(out + o, dig, nd);
            o += nd;
            for (size_t i = nd; i < (size_t)decpt; i++)
                out[o++] = '0';
            out[o++] = '.';
            out[o++] = '0';
        } else {
            memcpy(out + o, dig, (size_t)decpt);
            o += (size_t)decpt;
            out[o++] = '.';
            memcpy(out + o, dig + decpt, nd - (size_t)decpt);
            o += nd - (size_t)decpt;
        }
    } else {
        out[o++] = dig[0];
        if (nd > 1) {
            out[o++] = '.';
            memcpy(out + o, dig + 1, nd - 1);
            o += nd - 1;
        }
        int x = decpt - 1;
        o += (size_t)snprintf(out + o, sizeof out - o, "e%c%02d", x < 0 ? '-' : '+', x < 0 ? -x : x);
    }
    return mb_buf_append(b, out, o);
}

int mb_pyjson_dump(struct mb_buf *b, const json_t *v, enum mb_pyjson_style style)
{
    const char *item_sep = style == MB_PYJSON_COMPACT ? "," : ", ";
    const char *key_sep = style == MB_PYJSON_COMPACT ? ":" : ": ";
    char num[32];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *val;
        bool first = true;
        if (put(b, "{") < 0)
            return -1;
        json_object_foreach ((json_t *)v, key, val) {
            if ((!first && put(b, item_sep) < 0) || mb_pyjson_str(b, key, strlen(key), style) < 0 ||
                put(b, key_sep) < 0 || mb_pyjson_dump(b, val, style) < 0)
                return -1;
            first = false;
        }
        return put(b, "}");
    }
    case JSON_ARRAY: {
        if (put(b, "[") < 0)
            return -1;
        for (size_t i = 0; i < json_array_size(v); i++)
            if ((i && put(b, item_sep) < 0) || mb_pyjson_dump(b, json_array_get(v, i), style) < 0)
                return -1;
        return put(b, "]");
    }
    case JSON_STRING:
        return mb_pyjson_str(b, json_string_value(v), json_string_length(v), style);
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return put(b, num);
    case JSON_REAL:
        return put_real(b, json_real_value(v));
    case JSON_TRUE:
        return put(b, "true");
    case JSON_FALSE:
        return put(b, "false");
    default:
        return put(b, "null");
    }
}

int mb_pybytes_repr(struct mb_buf *b, const char *s, size_t n)
{
    char quote = memchr(s, '\'', n) && !memchr(s, '"', n) ? '"' : '\'';
    char pre[3] = { 'b', quote, '\0' };
    if (put(b, pre) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c == (unsigned char)quote || c == '\\')
            snprintf(esc, sizeof esc, "\\%c", c);
        else if (c == '\t')
            strcpy(esc, "\\t");
        else if (c == '\n')
            strcpy(esc, "\\n");
        else if (c == '\r')
            strcpy(esc, "\\r");
        else if (c < 0x20 || c >= 0x7F)
            snprintf(esc, sizeof esc, "\\x%02x", c);
        else {
            esc[0] = (char)c;
            esc[1] = '\0';
        }
        if (put(b, esc) < 0)
            return -1;
    }
    return mb_buf_append(b, &quote, 1);
}
