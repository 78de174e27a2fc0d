/*
 * scalar.c - text forms of scalar values: UTF-8 checks, JSON string escaping,
 * integer and floating-point text, base64 and RFC 3339 times.
 *
 * Pure functions over bytes; no allocation except where noted. These sit on
 * the hot path of every encoder and decoder, so the common cases (ASCII
 * strings, short integers, decimals with few digits) take fast paths, and
 * the rare ones fall back to the C library.
 */
#include "apis/codec/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- UTF-8 -------------------------------------------------------------- */

size_t codec_utf8_sequence(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    if (c < 0x80)
        return 1;
    if (c < 0xC2)
        return 0;
    size_t need = c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF5 ? 4 : 0;
    if (need == 0 || (size_t)(end - p) < need)
        return 0;
    unsigned lo = 0x80, hi = 0xBF;
    if (c == 0xE0)
        lo = 0xA0;
    else if (c == 0xED)
        hi = 0x9F;
    else if (c == 0xF0)
        lo = 0x90;
    else if (c == 0xF4)
        hi = 0x8F;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < need; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return need;
}

int codec_utf8_valid(const char *text, size_t len)
{
    const unsigned char *p = (const unsigned char *)text, *end = p + len;
    while (p < end) {
        if (*p < 0x80) {
            p++;
            continue;
        }
        size_t n = codec_utf8_sequence(p, end);
        if (n == 0)
            return 0;
        p += n;
    }
    return 1;
}

/* ---- JSON string escaping ---------------------------------------------- */

static inline int byte_needs_care(unsigned char c)
{
    return c < 0x20 || c == '"' || c == '\\' || c >= 0x80;
}

kumo_error codec_json_escape(kumo_codec_buffer *out, const char *text, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)text, *end = p + len;
    if (codec_buffer_reserve(out, len + 2) != KUMO_ERROR_OK)
        return KUMO_ERROR_NOMEM;
    codec_buffer_put_char(out, '"');
    while (p < end) {
        const unsigned char *run = p;
        while (end - p >= 8) {
            uint64_t word;
            memcpy(&word, p, 8);
            if (codec_word_needs_care(word))
                break;
            p += 8;
        }
        while (p < end && !byte_needs_care(*p))
            p++;
        if (p > run) {
            if (codec_buffer_reserve(out, (size_t)(p - run) + 1) != KUMO_ERROR_OK)
                return KUMO_ERROR_NOMEM;
            codec_buffer_put(out, run, (size_t)(p - run));
        }
        if (p == end)
            break;
        unsigned char c = *p;
        if (c >= 0x80) {
            size_t n = codec_utf8_sequence(p, end);
            if (n == 0)
                return KUMO_ERROR_INVALID;
            if (codec_buffer_reserve(out, n + 1) != KUMO_ERROR_OK)
                return KUMO_ERROR_NOMEM;
            codec_buffer_put(out, p, n);
            p += n;
            continue;
        }
        if (codec_buffer_reserve(out, 7) != KUMO_ERROR_OK)
            return KUMO_ERROR_NOMEM;
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t esc_len = 2;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            esc_len = 6;
            break;
        }
        codec_buffer_put(out, esc, esc_len);
        p++;
    }
    if (codec_buffer_reserve(out, 1) != KUMO_ERROR_OK)
        return KUMO_ERROR_NOMEM;
    codec_buffer_put_char(out, '"');
    return KUMO_ERROR_OK;
}

/* ---- integers ----------------------------------------------------------- */

static const char digit_pairs[] = "00010203040506070809101112131415161718192021222324"
                                  "25262728293031323334353637383940414243444546474849"
                                  "50515253545556575859606162636465666768697071727374"
                                  "75767778798081828384858687888990919293949596979899";

size_t codec_format_uint64(char *buf, uint64_t value)
{
    char tmp[24];
    char *p = tmp + sizeof(tmp);
    while (value >= 100) {
        unsigned pair = (unsigned)(value % 100);
        value /= 100;
        p -= 2;
        memcpy(p, digit_pairs + pair * 2, 2);
    }
    if (value >= 10) {
        p -= 2;
        memcpy(p, digit_pairs + value * 2, 2);
    } else {
        *--p = (char)('0' + value);
    }
    size_t len = (size_t)(tmp + sizeof(tmp) - p);
    memcpy(buf, p, len);
    buf[len] = '\0';
    return len;
}

size_t codec_format_int64(char *buf, int64_t value)
{
    if (value < 0) {
        buf[0] = '-';
        return 1 + codec_format_uint64(buf + 1, (uint64_t)0 - (uint64_t)value);
    }
    return codec_format_uint64(buf, (uint64_t)value);
}

int codec_parse_uint64(const char *text, size_t len, uint64_t *out)
{
    if (len == 0)
        return 0;
    uint64_t v = 0;
    int overflow = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned d = (unsigned)(unsigned char)text[i] - '0';
        if (d > 9)
            return 0;
        if (v > (UINT64_MAX - d) / 10)
            overflow = 1;
        else
            v = v * 10 + d;
    }
    *out = v;
    return overflow ? -1 : 1;
}

int codec_parse_int64(const char *text, size_t len, int64_t *out)
{
    int negative = len > 0 && text[0] == '-';
    uint64_t magnitude;
    int r = codec_parse_uint64(text + negative, len - (size_t)negative, &magnitude);
    if (r <= 0)
        return r;
    if (negative) {
        if (magnitude > (uint64_t)INT64_MAX + 1)
            return -1;
        *out = magnitude == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)magnitude;
    } else {
        if (magnitude > (uint64_t)INT64_MAX)
            return -1;
        *out = (int64_t)magnitude;
    }
    return 1;
}

/* ---- floating point ----------------------------------------------------- */

static const double exact_powers_of_ten[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                             1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                             1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

int codec_number_syntax_valid(const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    if (p < end && *p == '-')
        p++;
    if (p == end)
        return 0;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    } else {
        return 0;
    }
    if (p < end && *p == '.') {
        p++;
        const char *digits = p;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        if (p == digits)
            return 0;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        const char *digits = p;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        if (p == digits)
            return 0;
    }
    return p == end;
}

int codec_parse_double(const char *text, size_t len, double *out)
{
    if (!codec_number_syntax_valid(text, len))
        return 0;
    /* Clinger's fast path: mantissa <= 2^53 and |exponent| <= 22 are exact. */
    const char *p = text, *end = text + len;
    int negative = *p == '-';
    p += negative;
    uint64_t mantissa = 0;
    int digits = 0, exponent = 0;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        if (mantissa != 0 || *p != '0')
            digits++;
        mantissa = mantissa * 10 + (uint64_t)(*p - '0');
        if (digits > 18)
            goto slow;
    }
    if (p < end && *p == '.') {
        for (p++; p < end && *p >= '0' && *p <= '9'; p++) {
            if (mantissa != 0 || *p != '0')
                digits++;
            mantissa = mantissa * 10 + (uint64_t)(*p - '0');
            exponent--;
            if (digits > 18)
                goto slow;
        }
    }
    if (p < end) { /* exponent part */
        p++;
        int exp_negative = 0, e = 0;
        if (*p == '+' || *p == '-')
            exp_negative = *p++ == '-';
        for (; p < end; p++) {
            if (e > 10000)
                goto slow;
            e = e * 10 + (*p - '0');
        }
        exponent += exp_negative ? -e : e;
    }
    if (mantissa <= (1ull << 53) && exponent >= -22 && exponent <= 22) {
        double v = (double)mantissa;
        v = exponent < 0 ? v / exact_powers_of_ten[-exponent] : v * exact_powers_of_ten[exponent];
        *out = negative ? -v : v;
        return 1;
    }
slow:;
    char small[64];
    char *copy = len < sizeof(small) ? small : malloc(len + 1);
    if (copy == NULL)
        return 0;
    memcpy(copy, text, len);
    copy[len] = '\0';
    *out = strtod(copy, NULL);
    if (copy != small)
        free(copy);
    return 1;
}

/* Writes the decimal r * 10^-k with k fraction digits (r integral, |r| < 2^53). */
static size_t format_scaled(char *buf, double r, int k)
{
    char digits[24];
    size_t n = 0;
    int negative = r < 0;
    uint64_t m = (uint64_t)(negative ? -r : r);
    n = codec_format_uint64(digits, m);
    size_t len = 0;
    if (negative)
        buf[len++] = '-';
    if ((int)n <= k) {
        buf[len++] = '0';
        buf[len++] = '.';
        for (int i = 0; i < k - (int)n; i++)
            buf[len++] = '0';
        memcpy(buf + len, digits, n);
        len += n;
    } else {
        memcpy(buf + len, digits, n - (size_t)k);
        len += n - (size_t)k;
        if (k > 0) {
            buf[len++] = '.';
            memcpy(buf + len, digits + n - (size_t)k, (size_t)k);
            len += (size_t)k;
        }
    }
    buf[len] = '\0';
    return len;
}

size_t codec_format_double(char *buf, double value)
{
    const double limit = 9007199254740992.0; /* 2^53 */
    if (value == 0) {
        if (signbit(value)) {
            memcpy(buf, "-0", 3);
            return 2;
        }
        memcpy(buf, "0", 2);
        return 1;
    }
    if (fabs(value) < 1e15 && fabs(value) >= 1e-7) {
        for (int k = 0; k <= 15; k++) {
            double scaled = value * exact_powers_of_ten[k];
            if (fabs(scaled) >= limit)
                break;
            double r = nearbyint(scaled);
            if (r / exact_powers_of_ten[k] == value && r != 0)
                return format_scaled(buf, r, k);
        }
    }
    for (int precision = 15; precision <= 17; precision++) {
        int n = snprintf(buf, 32, "%.*g", precision, value);
        if (strtod(buf, NULL) == value || precision == 17)
            return n > 0 ? (size_t)n : 0;
    }
    return 0;
}

size_t codec_format_float(char *buf, float value)
{
    if (value == 0)
        return codec_format_double(buf, (double)value);
    for (int precision = 6; precision <= 9; precision++) {
        int n = snprintf(buf, 32, "%.*g", precision, (double)value);
        if ((float)strtod(buf, NULL) == value || precision == 9) /* as the decoder reads it */
            return n > 0 ? (size_t)n : 0;
    }
    return 0;
}

/* ---- base64 -------------------------------------------------------------- */

static const char base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t codec_base64_encoded_size(size_t n)
{
    return (n + 2) / 3 * 4;
}

void codec_base64_encode(char *dst, const uint8_t *src, size_t n)
{
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8 | src[i + 2];
        *dst++ = base64_alphabet[v >> 18];
        *dst++ = base64_alphabet[(v >> 12) & 63];
        *dst++ = base64_alphabet[(v >> 6) & 63];
        *dst++ = base64_alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)src[i] << 16;
        *dst++ = base64_alphabet[v >> 18];
        *dst++ = base64_alphabet[(v >> 12) & 63];
        *dst++ = '=';
        *dst++ = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8;
        *dst++ = base64_alphabet[v >> 18];
        *dst++ = base64_alphabet[(v >> 12) & 63];
        *dst++ = base64_alphabet[(v >> 6) & 63];
        *dst++ = '=';
    }
}

static int base64_digit(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

int codec_base64_decode(const char *text, size_t len, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    size_t pad = 0;
    while (len > 0 && text[len - 1] == '=' && pad < 2) {
        len--;
        pad++;
    }
    if (len % 4 == 1 || (pad > 0 && (len + pad) % 4 != 0))
        return 0;
    if (len == 0)
        return 1;
    uint8_t *data = malloc(len / 4 * 3 + 3);
    if (data == NULL)
        return -1;
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int d = base64_digit((unsigned char)text[i]);
        if (d < 0) {
            free(data);
            return 0;
        }
        acc = acc << 6 | (uint32_t)d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            data[n++] = (uint8_t)(acc >> bits);
        }
    }
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) { /* non-zero leftover bits */
        free(data);
        return 0;
    }
    *out = data;
    *out_len = n;
    return 1;
}

/* ---- RFC 3339 times ------------------------------------------------------ */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* Seconds of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z. */
#define TIME_MIN_SECONDS (-62135596800LL)
#define TIME_MAX_SECONDS 253402300799LL

static int digits_at(const char *p, int n, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < n; i++) {
        unsigned d = (unsigned)(unsigned char)p[i] - '0';
        if (d > 9)
            return 0;
        v = v * 10 + d;
    }
    *out = v;
    return 1;
}

int codec_time_parse(const char *text, size_t len, int64_t *seconds, int32_t *nanos)
{
    unsigned year, month, day, hour, minute, second;
    const char *p = text, *end = text + len;
    if (len < 20 || !digits_at(p, 4, &year) || p[4] != '-' || !digits_at(p + 5, 2, &month) ||
        p[7] != '-' || !digits_at(p + 8, 2, &day) || (p[10] != 'T' && p[10] != 't') ||
        !digits_at(p + 11, 2, &hour) || p[13] != ':' || !digits_at(p + 14, 2, &minute) ||
        p[16] != ':' || !digits_at(p + 17, 2, &second))
        return 0;
    p += 19;
    uint32_t fraction = 0;
    if (p < end && *p == '.') {
        p++;
        int n = 0;
        while (p < end && *p >= '0' && *p <= '9') {
            if (n == 9)
                return 0;
            fraction = fraction * 10 + (uint32_t)(*p - '0');
            n++;
            p++;
        }
        if (n == 0)
            return 0;
        for (; n < 9; n++)
            fraction *= 10;
    }
    int64_t offset = 0;
    if (p < end && (*p == 'Z' || *p == 'z')) {
        p++;
    } else if (p < end && (*p == '+' || *p == '-')) {
        unsigned oh, om;
        if (end - p < 6 || !digits_at(p + 1, 2, &oh) || p[3] != ':' || !digits_at(p + 4, 2, &om) ||
            oh > 23 || om > 59)
            return 0;
        offset = (int64_t)(oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return 0;
    }
    if (p != end)
        return 0;
    static const unsigned char month_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (year < 1 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59)
        return 0;
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (day > (unsigned)(month_days[month - 1] + (month == 2 && leap)))
        return 0;
    int64_t s = days_from_civil(year, month, day) * 86400 +
                (int64_t)(hour * 3600 + minute * 60 + second) - offset;
    if (s < TIME_MIN_SECONDS || s > TIME_MAX_SECONDS)
        return 0;
    *seconds = s;
    *nanos = (int32_t)fraction;
    return 1;
}

static char *put2(char *p, unsigned v)
{
    memcpy(p, digit_pairs + (v % 100) * 2, 2);
    return p + 2;
}

size_t codec_time_format(char *buf, int64_t seconds, int32_t nanos)
{
    if (seconds < TIME_MIN_SECONDS || seconds > TIME_MAX_SECONDS || nanos < 0 || nanos > 999999999)
        return 0;
    int64_t days = seconds >= 0 ? seconds / 86400 : -((-seconds + 86399) / 86400);
    unsigned rest = (unsigned)(seconds - days * 86400);
    int64_t year;
    unsigned month, day;
    civil_from_days(days, &year, &month, &day);
    char *p = buf;
    p = put2(p, (unsigned)(year / 100));
    p = put2(p, (unsigned)(year % 100));
    *p++ = '-';
    p = put2(p, month);
    *p++ = '-';
    p = put2(p, day);
    *p++ = 'T';
    p = put2(p, rest / 3600);
    *p++ = ':';
    p = put2(p, rest / 60 % 60);
    *p++ = ':';
    p = put2(p, rest % 60);
    if (nanos != 0) {
        unsigned digits = 9, v = (unsigned)nanos;
        if (v % 1000000 == 0) {
            v /= 1000000;
            digits = 3;
        } else if (v % 1000 == 0) {
            v /= 1000;
            digits = 6;
        }
        *p++ = '.';
        for (unsigned i = digits; i-- > 0;) {
            p[i] = (char)('0' + v % 10);
            v /= 10;
        }
        p += digits;
    }
    *p++ = 'Z';
    *p = '\0';
    return (size_t)(p - buf);
}
