/* sluice-sanitize-scan.c — finding e-mail addresses, payment cards,
 * IBANs and phone numbers (see sluice-sanitize-scan.h)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-sanitize-scan.h"

#include <string.h>

/* ---- helpers ------------------------------------------------------------- */

/* Part of a word: a match may not start or end next to one. */
static inline gboolean
is_word (char c)
{
  return g_ascii_isalnum (c) || c == '_' || (guchar) c >= 0x80;
}

static inline gboolean
is_upper (char c)
{
  return c >= 'A' && c <= 'Z';
}

gboolean
sluice_sanitize_luhn_valid (const char *digits,
                            gsize       n)
{
  guint sum = 0;

  for (gsize i = 0; i < n; i++)
    {
      guint d = (guint) (digits[n - 1 - i] - '0');

      if (i % 2 == 1)
        d = d * 2 > 9 ? d * 2 - 9 : d * 2;
      sum += d;
    }
  return n > 0 && sum % 10 == 0;
}

/* ISO 13616: move the first four characters to the end, read letters as
 * 10..35, and the number is 1 modulo 97. */
gboolean
sluice_sanitize_iban_valid (const char *chars,
                            gsize       n)
{
  guint r = 0;

  if (n < 15 || n > 34 || !is_upper (chars[0]) || !is_upper (chars[1]) ||
      !g_ascii_isdigit (chars[2]) || !g_ascii_isdigit (chars[3]))
    return FALSE;
  for (gsize k = 0; k < n; k++)
    {
      char c = chars[(k + 4) % n];

      if (g_ascii_isdigit (c))
        r = (r * 10 + (guint) (c - '0')) % 97;
      else if (is_upper (c))
        r = (r * 100 + (guint) (c - 'A' + 10)) % 97;
      else
        return FALSE;
    }
  return r == 1;
}

/* ---- e-mail -------------------------------------------------------------- */

static inline gboolean
is_local_char (char c)
{
  return g_ascii_isalnum (c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-' || c == '\'';
}

/* Labels of letters, digits and inner hyphens, at least two, the last
 * (the top-level domain) of two or more letters. */
static gboolean
domain_valid (const char *d,
              gsize       n)
{
  gsize label_start = 0;
  guint labels = 0;

  for (gsize i = 0; i <= n; i++)
    if (i == n || d[i] == '.')
      {
        gsize len = i - label_start;

        if (len == 0 || len > 63 || d[label_start] == '-' || d[i - 1] == '-')
          return FALSE;
        labels++;
        if (i == n)
          {
            if (len < 2)
              return FALSE;
            for (gsize k = label_start; k < n; k++)
              if (!g_ascii_isalpha (d[k]))
                return FALSE;
          }
        label_start = i + 1;
      }
  return labels >= 2;
}

gboolean
sluice_sanitize_find_email (const char *text,
                            gsize       length,
                            gsize       from,
                            gsize      *start,
                            gsize      *end)
{
  gsize i = from;

  while (i < length)
    {
      const char *at = memchr (text + i, '@', length - i);
      gsize a, l, d, e;
      gboolean ok;

      if (at == NULL)
        return FALSE;
      a = (gsize) (at - text);
      /* the local part: at most 64 characters, no dot at either end */
      l = a;
      while (l > from && a - l < 64 && is_local_char (text[l - 1]))
        l--;
      ok = l < a && (l == 0 || !is_word (text[l - 1]));
      /* no dot or quote at either end: 'bob@example.com' is quoted */
      while (ok && l < a && (text[l] == '.' || text[l] == '\''))
        l++;
      ok = ok && l < a && text[a - 1] != '.' && text[a - 1] != '\'';
      /* the domain: at most 253 characters */
      d = e = a + 1;
      while (ok && e < length && e - d < 253 &&
             (g_ascii_isalnum (text[e]) || text[e] == '-' || text[e] == '.'))
        e++;
      while (e > d && (text[e - 1] == '.' || text[e - 1] == '-'))
        e--;
      ok = ok && e > d && domain_valid (text + d, e - d) &&
           (e == length || (!is_word (text[e]) && text[e] != '@'));
      if (ok)
        {
          *start = l;
          *end = e;
          return TRUE;
        }
      i = a + 1;
    }
  return FALSE;
}

/* ---- payment cards ------------------------------------------------------- */

/* 13 to 19 digits passing the Luhn check, written together or in groups
 * of 3 to 6 after a first group of 4 (4-4-4-4, 4-6-5), separated by
 * single spaces or dashes. A longer run of digits is not a card. */
gboolean
sluice_sanitize_find_card (const char *text,
                           gsize       length,
                           gsize       from,
                           gsize      *start,
                           gsize      *end)
{
  gsize i = from;

  while (i < length)
    {
      char digits[19];
      gsize n = 0, s, j;
      guint groups = 0;
      gboolean grouping_ok = TRUE;

      while (i < length && !g_ascii_isdigit (text[i]))
        i++;
      if (i >= length)
        return FALSE;
      s = j = i;
      for (;;)
        {
          gsize g = j;

          while (j < length && g_ascii_isdigit (text[j]))
            {
              if (n < G_N_ELEMENTS (digits))
                digits[n] = text[j];
              n++;
              j++;
            }
          if ((groups == 0 && j - g != 4) || j - g < 3 || j - g > 6)
            grouping_ok = FALSE;
          groups++;
          if (j + 1 < length && (text[j] == ' ' || text[j] == '-') && g_ascii_isdigit (text[j + 1]))
            {
              j++;
              continue;
            }
          break;
        }
      /* the whole run is examined once, whatever it is */
      i = j;
      if (n < 13 || n > 19 || (groups > 1 && !grouping_ok))
        continue;
      if (s > 0 && (is_word (text[s - 1]) || text[s - 1] == '+' || text[s - 1] == '.' ||
                    text[s - 1] == ','))
        continue;
      if (j < length && (is_word (text[j]) ||
                         ((text[j] == '.' || text[j] == ',') && j + 1 < length &&
                          g_ascii_isdigit (text[j + 1]))))
        continue;
      if (!sluice_sanitize_luhn_valid (digits, n))
        continue;
      *start = s;
      *end = j;
      return TRUE;
    }
  return FALSE;
}

/* ---- IBAN ---------------------------------------------------------------- */

/* Two letters, two check digits and up to 30 letters or digits (either
 * case), together or in groups separated by single spaces; the longest
 * grouping that passes mod 97 wins, so "DE89 3704 0044 0532 0130 00 BANK"
 * stops before BANK. */
gboolean
sluice_sanitize_find_iban (const char *text,
                           gsize       length,
                           gsize       from,
                           gsize      *start,
                           gsize      *end)
{
  for (gsize s = from; s + 4 <= length; s++)
    {
      char chars[35];
      gsize n = 0, j = s;
      gsize bounds_n[40], bounds_end[40];
      guint n_bounds = 0;

      if (!g_ascii_isalpha (text[s]) || !g_ascii_isalpha (text[s + 1]) ||
          !g_ascii_isdigit (text[s + 2]) || !g_ascii_isdigit (text[s + 3]) ||
          (s > 0 && is_word (text[s - 1])))
        continue;
      for (;;)
        {
          while (j < length && n < G_N_ELEMENTS (chars) && g_ascii_isalnum (text[j]))
            chars[n++] = g_ascii_toupper (text[j++]);
          bounds_n[n_bounds] = n;
          bounds_end[n_bounds] = j;
          n_bounds++;
          if (n < 34 && n_bounds < G_N_ELEMENTS (bounds_n) && j + 1 < length && text[j] == ' ' &&
              g_ascii_isalnum (text[j + 1]))
            {
              j++;
              continue;
            }
          break;
        }
      for (guint b = n_bounds; b-- > 0;)
        {
          gsize e = bounds_end[b];

          if (e < length && is_word (text[e]))
            continue;
          if (sluice_sanitize_iban_valid (chars, bounds_n[b]))
            {
              *start = s;
              *end = e;
              return TRUE;
            }
        }
    }
  return FALSE;
}

/* ---- phone numbers ------------------------------------------------------- */

/* The character before @s, skipping one space, is a currency sign. */
static gboolean
after_currency (const char *text,
                gsize       s)
{
  if (s > 0 && text[s - 1] == ' ')
    s--;
  return (s >= 1 && text[s - 1] == '$') ||
         (s >= 3 && memcmp (text + s - 3, "\xE2\x82\xAC", 3) == 0) ||   /* € */
         (s >= 2 && memcmp (text + s - 2, "\xC2\xA3", 2) == 0);         /* £ */
}

/* International numbers: '+', then 8 to 15 digits in any grouping with
 * spaces, dashes, dots or parentheses ("+1 (415) 555-2671", "+44 20 7946
 * 0958", "+4915123456789"), or the same after 00 ("0049 30 12345678").
 * National numbers need a shape: an area code in parentheses ("(415)
 * 555-2671"), or 9 to 12 digits in groups (the first of 2 to 5 digits,
 * the others of 2 to 8) with one kind of separator ("415-555-2671", "020
 * 7946 0958", "06 12 34 56 78", "415.555.2671", "07911 123456": two
 * groups only after a leading 0), or 1-800-555-0199. Not phones: bare
 * digit runs, dates, years ("2019 2020 2021") and numbers that start
 * with one ("2023-0045-7781"), amounts after a currency sign, numbers
 * grouped by thousands ("12 345 678"). */
gboolean
sluice_sanitize_find_phone (const char *text,
                            gsize       length,
                            gsize       from,
                            gsize      *start,
                            gsize      *end)
{
  gsize i = from;

  while (i < length)
    {
      gsize s, j, run_end;
      gboolean plus, paren = FALSE, mixed = FALSE, group_sizes_ok = TRUE;
      gboolean all_years = TRUE, first_year = FALSE, thousands = TRUE, ok;
      gsize first_length = 0;
      guint groups = 0, digits = 0;
      char sep = 0;

      while (i < length && text[i] != '+' && text[i] != '(' && !g_ascii_isdigit (text[i]))
        i++;
      if (i >= length)
        return FALSE;
      s = i;
      plus = text[s] == '+';
      j = run_end = s + (plus ? 1 : 0);
      for (;;)
        {
          gboolean in_paren = j < length && text[j] == '(';
          gsize g;

          g = j + (in_paren ? 1 : 0);
          j = g;
          while (j < length && g_ascii_isdigit (text[j]))
            j++;
          if (j == g || (in_paren && (j >= length || text[j] != ')')))
            break;
          if (in_paren)
            {
              paren = TRUE;
              j++;
            }
          if (j - g != 4 || !((text[g] == '1' && text[g + 1] == '9') || (text[g] == '2' && text[g + 1] == '0')))
            all_years = FALSE;
          else if (groups == 0)
            first_year = TRUE;
          if (groups == 0)
            first_length = j - g;
          if (groups > 0 && j - g != 3)
            thousands = FALSE;
          if (j - g < 2 || j - g > (groups == 0 ? 5u : 8u))
            group_sizes_ok = FALSE;
          groups++;
          digits += (guint) (j - g);
          run_end = j;
          if (digits > 17 || groups > 8)
            break;
          /* a separator, then a digit or '(' */
          if (j < length && (text[j] == ' ' || text[j] == '-' || text[j] == '.') &&
              j + 1 < length && (g_ascii_isdigit (text[j + 1]) || text[j + 1] == '('))
            {
              if (sep == 0)
                sep = text[j];
              else if (sep != text[j])
                mixed = TRUE;
              j++;
              continue;
            }
          if (j < length && text[j] == '(' && paren == FALSE)
            continue;
          /* "(0)30": digits may follow a closing parenthesis directly */
          if (in_paren && j < length && g_ascii_isdigit (text[j]))
            continue;
          break;
        }
      i = run_end > s ? run_end : s + 1;
      if (groups == 0)
        continue;

      if (plus)
        ok = digits >= 8 && digits <= 15;
      else if (text[s] == '0' && s + 1 < length && text[s + 1] == '0' && first_length >= 3)
        ok = groups >= 2 && digits >= 10 && digits <= 17 && !mixed;    /* 00 and a country code */
      else if (text[s] == '(')
        ok = groups >= 2 && digits >= 9 && digits <= 11;
      else
        ok = groups >= 2 && !mixed && !all_years && !first_year && !(thousands && sep != '-') &&
             (groups > 2 || text[s] == '0') && (sep != '.' || groups == 3) &&
             ((digits >= 9 && digits <= 12 && group_sizes_ok) ||
              (text[s] == '1' && first_length == 1 && groups == 4 && digits == 11));   /* 1-800-555-0199 */
      ok = ok && digits <= 17 &&
           (s == 0 || !(is_word (text[s - 1]) || text[s - 1] == '+' || text[s - 1] == '-' ||
                        text[s - 1] == '.' || text[s - 1] == '/' || text[s - 1] == ',')) &&
           !after_currency (text, s) &&
           (run_end == length ||
            !(is_word (text[run_end]) ||
              ((text[run_end] == '.' || text[run_end] == ',' || text[run_end] == '-' || text[run_end] == '/') &&
               run_end + 1 < length && g_ascii_isdigit (text[run_end + 1]))));
      if (ok)
        {
          *start = s;
          *end = run_end;
          return TRUE;
        }
    }
  return FALSE;
}
