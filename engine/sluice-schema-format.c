/* sluice-schema-format.c — `format` assertions
 *
 * Only used when format assertion is on (SLUICE_SCHEMA_ASSERT_FORMAT or
 * the 2020-12 format-assertion vocabulary).  Hand-written checks, ASCII
 * only (a Bengali digit is no digit here), after the RFCs the drafts name:
 *  - date-time, date, time: RFC 3339 (a leap second only at 23:59:60 UTC);
 *  - email: RFC 5321 Mailbox (dot-atom or quoted local part; a host name,
 *    [IPv4] or [IPv6:…] domain);
 *  - hostname: RFC 1123 labels; an A-label ("xn--") must decode as
 *    Punycode and pass IDNA2008's contextual rules and DISALLOWED
 *    exceptions, but not the full table of valid code points (a gap);
 *  - ipv4: dotted quad without leading zeros; ipv6: RFC 4291 text forms,
 *    without zone or prefix;
 *  - uri: RFC 3986 URI (with a scheme; a relative reference is not one);
 *  - uuid: RFC 4122 text form, any version.
 */
#define G_LOG_DOMAIN "sluice-schema"

#include "sluice-schema-node-private.h"

#include <string.h>

static const struct {
  const char  *name;
  SchemaFormat format;
} formats[] = {
  { "date-time", FORMAT_DATE_TIME },
  { "date", FORMAT_DATE },
  { "time", FORMAT_TIME },
  { "email", FORMAT_EMAIL },
  { "hostname", FORMAT_HOSTNAME },
  { "ipv4", FORMAT_IPV4 },
  { "ipv6", FORMAT_IPV6 },
  { "uri", FORMAT_URI },
  { "uuid", FORMAT_UUID },
};

SchemaFormat
schema_format_lookup (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (formats); i++)
    if (strcmp (formats[i].name, name) == 0)
      return formats[i].format;
  return FORMAT_NONE;
}

static gboolean
digits (const char *p,
        guint       n,
        guint      *value)
{
  *value = 0;
  for (guint i = 0; i < n; i++)
    {
      if (!g_ascii_isdigit (p[i]))
        return FALSE;
      *value = *value * 10 + (guint) (p[i] - '0');
    }
  return TRUE;
}

/* full-date; advances *p */
static gboolean
parse_date (const char **p)
{
  static const guint8 days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
  const char *s = *p;
  guint year, month, day, max;

  if (!digits (s, 4, &year) || s[4] != '-' || !digits (s + 5, 2, &month) || s[7] != '-' ||
      !digits (s + 8, 2, &day))
    return FALSE;
  if (month < 1 || month > 12 || day < 1)
    return FALSE;
  max = days[month - 1];
  if (month == 2 && year % 4 == 0 && (year % 100 != 0 || year % 400 == 0))
    max = 29;
  if (day > max)
    return FALSE;
  *p = s + 10;
  return TRUE;
}

/* full-time; advances *p */
static gboolean
parse_time (const char **p)
{
  const char *s = *p;
  guint hour, minute, second, off_hour = 0, off_minute = 0;
  int sign = 0;

  if (!digits (s, 2, &hour) || s[2] != ':' || !digits (s + 3, 2, &minute) || s[5] != ':' ||
      !digits (s + 6, 2, &second))
    return FALSE;
  s += 8;
  if (*s == '.')
    {
      s++;
      if (!g_ascii_isdigit (*s))
        return FALSE;
      while (g_ascii_isdigit (*s))
        s++;
    }
  if (*s == 'Z' || *s == 'z')
    s++;
  else if (*s == '+' || *s == '-')
    {
      sign = *s == '+' ? 1 : -1;
      if (!digits (s + 1, 2, &off_hour) || s[3] != ':' || !digits (s + 4, 2, &off_minute))
        return FALSE;
      if (off_hour > 23 || off_minute > 59)
        return FALSE;
      s += 6;
    }
  else
    return FALSE;
  if (hour > 23 || minute > 59 || second > 60)
    return FALSE;
  if (second == 60)
    {
      /* a leap second is the last second of a UTC day */
      int utc = (int) (hour * 60 + minute) - sign * (int) (off_hour * 60 + off_minute);

      utc = ((utc % 1440) + 1440) % 1440;
      if (utc != 23 * 60 + 59)
        return FALSE;
    }
  *p = s;
  return TRUE;
}

static gboolean
check_date_time (const char *s)
{
  if (!parse_date (&s) || (*s != 'T' && *s != 't'))
    return FALSE;
  s++;
  return parse_time (&s) && *s == '\0';
}

static gboolean
check_ipv4_n (const char *s,
              gsize       len)
{
  guint parts = 0;
  const char *end = s + len;

  while (s < end)
    {
      const char *start = s;
      guint value = 0, n = 0;

      while (s < end && g_ascii_isdigit (*s))
        {
          value = value * 10 + (guint) (*s - '0');
          n++;
          s++;
          if (n > 3)
            return FALSE;
        }
      if (n == 0 || value > 255 || (n > 1 && *start == '0'))
        return FALSE;
      parts++;
      if (s == end)
        break;
      if (*s != '.' || parts == 4)
        return FALSE;
      s++;
      if (s == end)
        return FALSE;
    }
  return parts == 4;
}

static gboolean
check_ipv6_n (const char *s,
              gsize       len)
{
  const char *end = s + len;
  guint groups = 0;
  gboolean compressed = FALSE;

  if (len >= 2 && s[0] == ':' && s[1] == ':')
    {
      compressed = TRUE;
      s += 2;
      if (s == end)
        return TRUE;
    }
  else if (len > 0 && s[0] == ':')
    return FALSE;

  while (s < end)
    {
      const char *start = s;
      guint n = 0;

      while (s < end && g_ascii_isxdigit (*s))
        s++, n++;
      if (s < end && *s == '.')
        {
          /* an IPv4 tail takes the last two groups */
          if (!check_ipv4_n (start, (gsize) (end - start)))
            return FALSE;
          groups += 2;
          s = end;
          break;
        }
      if (n == 0 || n > 4)
        return FALSE;
      groups++;
      if (s == end)
        break;
      if (*s != ':')
        return FALSE;
      s++;
      if (s < end && *s == ':')
        {
          if (compressed)
            return FALSE;
          compressed = TRUE;
          s++;
          if (s == end)
            break;
        }
      else if (s == end)
        return FALSE;
    }
  return compressed ? groups <= 7 : groups == 8;
}

static gboolean
is_atext (char c)
{
  return g_ascii_isalnum (c) || (c != '\0' && strchr ("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static gboolean check_hostname (const char *s, gsize len);

static gboolean
check_email (const char *s)
{
  const char *at;

  if (*s == '"')
    {
      const char *p = s + 1;

      for (; *p != '"'; p++)
        {
          if (*p == '\0' || (guchar) *p < 32 || (guchar) *p > 126)
            return FALSE;
          if (*p == '\\' && *++p == '\0')
            return FALSE;
        }
      at = p + 1;
      if (*at != '@' || p == s + 1)
        return FALSE;
    }
  else
    {
      const char *p = s;

      for (; *p != '@'; p++)
        {
          if (*p == '.')
            {
              if (p == s || p[-1] == '.' || p[1] == '@')
                return FALSE;
            }
          else if (!is_atext (*p))
            return FALSE;
        }
      if (p == s)
        return FALSE;
      at = p;
    }

  s = at + 1;
  if (*s == '[')
    {
      gsize len = strlen (s);

      if (len < 2 || s[len - 1] != ']')
        return FALSE;
      if (g_str_has_prefix (s, "[IPv6:"))
        return check_ipv6_n (s + 6, len - 7);
      return check_ipv4_n (s + 1, len - 2);
    }
  return check_hostname (s, strlen (s));
}

/* RFC 3492 Punycode: decodes an A-label's tail into at most @max code
 * points; -1 if it does not decode. */
static int
punycode_decode (const char *s,
                 gsize       len,
                 gunichar   *out,
                 int         max)
{
  const char *delim = NULL;
  guint64 n = 128, i = 0, bias = 72;
  int count = 0;
  const char *p;

  for (p = s; p < s + len; p++)
    if (*p == '-')
      delim = p;
  if (delim != NULL)
    for (p = s; p < delim; p++)
      {
        if (count == max || (guchar) *p >= 0x80)
          return -1;
        out[count++] = (gunichar) *p;
      }
  p = delim != NULL ? delim + 1 : s;
  if (p >= s + len)
    return -1;  /* nothing encoded */
  while (p < s + len)
    {
      guint64 old_i = i, w = 1;

      for (guint64 k = 36;; k += 36)
        {
          int digit;
          guint64 t;

          if (p >= s + len)
            return -1;
          if (g_ascii_islower (*p))
            digit = *p - 'a';
          else if (g_ascii_isupper (*p))
            digit = *p - 'A';
          else if (g_ascii_isdigit (*p))
            digit = *p - '0' + 26;
          else
            return -1;
          p++;
          i += (guint64) digit * w;
          if (i > (guint64) 0x10FFFF * 64)
            return -1;
          t = k <= bias ? 1 : k >= bias + 26 ? 26 : k - bias;
          if ((guint64) digit < t)
            break;
          w *= 36 - t;
        }
      {
        guint64 delta = old_i == 0 ? i / 700 : (i - old_i) / 2;
        guint64 k = 0;

        delta += delta / (guint64) (count + 1);
        while (delta > 455)
          {
            delta /= 35;
            k += 36;
          }
        bias = k + (36 * delta) / (delta + 38);
      }
      n += i / (guint64) (count + 1);
      i %= (guint64) (count + 1);
      if (n > 0x10FFFF || (n >= 0xD800 && n <= 0xDFFF) || count == max)
        return -1;
      memmove (out + i + 1, out + i, (gsize) (count - (int) i) * sizeof (gunichar));
      out[i] = (gunichar) n;
      count++;
      i++;
    }
  return count;
}

/* Some of IDNA2008's rules (RFC 5891 §5.4, RFC 5892 appendix A) on a
 * decoded label: no leading combining mark, the DISALLOWED exceptions,
 * and the contextual rules for the characters that have them.  The full
 * PVALID table is not checked. */
static gboolean
idna_label_ok (const gunichar *cp,
               int             len)
{
  gboolean has_arabic_indic = FALSE, has_extended = FALSE, has_kana_han = FALSE, has_katakana_dot = FALSE;

  if (len == 0)
    return FALSE;
  switch (g_unichar_type (cp[0]))
    {
    case G_UNICODE_SPACING_MARK:
    case G_UNICODE_NON_SPACING_MARK:
    case G_UNICODE_ENCLOSING_MARK:
      return FALSE;
    default:
      break;
    }
  for (int i = 0; i < len; i++)
    {
      gunichar c = cp[i];
      GUnicodeScript script = g_unichar_get_script (c);

      if (c == 0x0640 || c == 0x07FA || c == 0x302E || c == 0x302F || (c >= 0x3031 && c <= 0x3035) || c == 0x303B)
        return FALSE;
      if (c == 0x00B7 && (i == 0 || i == len - 1 || cp[i - 1] != 'l' || cp[i + 1] != 'l'))
        return FALSE;
      if (c == 0x0375 && (i == len - 1 || g_unichar_get_script (cp[i + 1]) != G_UNICODE_SCRIPT_GREEK))
        return FALSE;
      if ((c == 0x05F3 || c == 0x05F4) && (i == 0 || g_unichar_get_script (cp[i - 1]) != G_UNICODE_SCRIPT_HEBREW))
        return FALSE;
      if (c == 0x200D && (i == 0 || g_unichar_combining_class (cp[i - 1]) != 9))
        return FALSE;
      if (c == 0x30FB)
        has_katakana_dot = TRUE;
      else if (script == G_UNICODE_SCRIPT_HIRAGANA || script == G_UNICODE_SCRIPT_KATAKANA ||
               script == G_UNICODE_SCRIPT_HAN)
        has_kana_han = TRUE;
      has_arabic_indic |= c >= 0x0660 && c <= 0x0669;
      has_extended |= c >= 0x06F0 && c <= 0x06F9;
    }
  return !(has_katakana_dot && !has_kana_han) && !(has_arabic_indic && has_extended);
}

static gboolean
check_hostname (const char *s,
                gsize       len)
{
  const char *label = s;

  if (len == 0 || len > 253)
    return FALSE;
  for (const char *p = s; p <= s + len; p++)
    {
      if (p < s + len && *p != '.')
        {
          if (!g_ascii_isalnum (*p) && *p != '-')
            return FALSE;
          continue;
        }
      {
        gsize n = (gsize) (p - label);

        if (n == 0 || n > 63 || label[0] == '-' || label[n - 1] == '-')
          return FALSE;
        /* "--" at 3 and 4 is reserved for A-labels */
        if (n >= 4 && label[2] == '-' && label[3] == '-')
          {
            gunichar decoded[64];
            int count;

            if (strncmp (label, "xn", 2) != 0)
              return FALSE;
            count = punycode_decode (label + 4, n - 4, decoded, G_N_ELEMENTS (decoded));
            if (count < 0 || !idna_label_ok (decoded, count))
              return FALSE;
          }
        label = p + 1;
      }
    }
  return TRUE;
}

static gboolean
is_unreserved (char c)
{
  return g_ascii_isalnum (c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static gboolean
is_sub_delim (char c)
{
  return c != '\0' && strchr ("!$&'()*+,;=", c) != NULL;
}

/* Skips characters of a URI component; FALSE on a bad one. */
static gboolean
skip_component (const char **p,
                const char  *extra,
                const char  *stop)
{
  const char *s = *p;

  for (; *s != '\0' && strchr (stop, *s) == NULL; s++)
    {
      if (*s == '%')
        {
          if (!g_ascii_isxdigit (s[1]) || !g_ascii_isxdigit (s[2]))
            return FALSE;
          s += 2;
        }
      else if (!is_unreserved (*s) && !is_sub_delim (*s) && strchr (extra, *s) == NULL)
        return FALSE;
    }
  *p = s;
  return TRUE;
}

static gboolean
check_uri (const char *s)
{
  const char *p = s;

  if (!g_ascii_isalpha (*p))
    return FALSE;
  while (g_ascii_isalnum (*p) || *p == '+' || *p == '-' || *p == '.')
    p++;
  if (*p != ':')
    return FALSE;
  p++;

  if (p[0] == '/' && p[1] == '/')
    {
      const char *authority = p + 2;
      const char *end = authority + strcspn (authority, "/?#");
      const char *at = memchr (authority, '@', (gsize) (end - authority));
      const char *host = at != NULL ? at + 1 : authority;
      const char *port;

      if (at != NULL)
        {
          const char *u = authority;

          if (!skip_component (&u, ":", "@") || u != at)
            return FALSE;
        }
      if (*host == '[')
        {
          const char *close = memchr (host, ']', (gsize) (end - host));

          if (close == NULL || !check_ipv6_n (host + 1, (gsize) (close - host - 1)))
            return FALSE;
          port = close + 1;
        }
      else
        {
          const char *h = host;

          if (!skip_component (&h, "", ":/?#"))
            return FALSE;
          port = h;
        }
      if (port < end)
        {
          if (*port != ':')
            return FALSE;
          for (port++; port < end; port++)
            if (!g_ascii_isdigit (*port))
              return FALSE;
        }
      p = end;
    }
  if (!skip_component (&p, ":@/", "?#"))
    return FALSE;
  if (*p == '?')
    {
      p++;
      if (!skip_component (&p, ":@/?", "#"))
        return FALSE;
    }
  if (*p == '#')
    {
      p++;
      if (!skip_component (&p, ":@/?", ""))
        return FALSE;
    }
  return *p == '\0';
}

static gboolean
check_uuid (const char *s)
{
  for (guint i = 0; i < 36; i++)
    {
      if (i == 8 || i == 13 || i == 18 || i == 23)
        {
          if (s[i] != '-')
            return FALSE;
        }
      else if (!g_ascii_isxdigit (s[i]))
        return FALSE;
    }
  return s[36] == '\0';
}

gboolean
schema_format_check (SchemaFormat  format,
                     const char   *str)
{
  const char *p = str;

  switch (format)
    {
    case FORMAT_DATE_TIME:
      return check_date_time (str);
    case FORMAT_DATE:
      return parse_date (&p) && *p == '\0';
    case FORMAT_TIME:
      return parse_time (&p) && *p == '\0';
    case FORMAT_EMAIL:
      return check_email (str);
    case FORMAT_HOSTNAME:
      return check_hostname (str, strlen (str));
    case FORMAT_IPV4:
      return check_ipv4_n (str, strlen (str));
    case FORMAT_IPV6:
      return check_ipv6_n (str, strlen (str));
    case FORMAT_URI:
      return check_uri (str);
    case FORMAT_UUID:
      return check_uuid (str);
    case FORMAT_NONE:
    default:
      return TRUE;
    }
}
