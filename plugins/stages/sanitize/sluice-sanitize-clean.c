/* sluice-sanitize-clean.c — making a value valid UTF-8 in NFC without
 * control or invisible characters, and cutting it to size (see
 * sluice-sanitize-scan.h)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-sanitize-scan.h"

#include <string.h>

/* Characters a reader cannot see that change how text reads or hides
 * text: C1 controls, bidirectional embeddings, overrides and isolates
 * (the "Trojan Source" characters), zero-width space, word joiner, BOM,
 * and the tag block used to smuggle invisible instructions. Zero-width
 * (non-)joiners stay: emoji and several scripts need them. */
static gboolean
is_invisible (gunichar ch)
{
  return (ch >= 0x80 && ch <= 0x9F) ||
         (ch >= 0x202A && ch <= 0x202E) ||
         (ch >= 0x2066 && ch <= 0x2069) ||
         ch == 0x200B || ch == 0x2060 || ch == 0xFEFF ||
         (ch >= 0xE0000 && ch <= 0xE007F);
}

/* UAX #15's stream-safe limit: no real text stacks more combining marks
 * on one character, and GLib orders a run of them by swapping. */
#define MAX_COMBINING_RUN 30
/* NFC is applied this many bytes at a time (at least): g_utf8_normalize()
 * takes quadratic time over a text with many compositions. */
#define NFC_CHUNK 1024

/* Whether NFC of a text split before @ch is NFC of its two parts: @ch is
 * a starter that composes with nothing before it (not a mark, not a
 * Hangul vowel or trailing consonant jamo). */
static gboolean
nfc_boundary_before (gunichar ch)
{
  GUnicodeType type;

  if (ch < 0x80)
    return TRUE;
  if (g_unichar_combining_class (ch) != 0 ||
      (ch >= 0x1160 && ch <= 0x11FF) || (ch >= 0xD7B0 && ch <= 0xD7FF))
    return FALSE;
  type = g_unichar_type (ch);
  return type != G_UNICODE_SPACING_MARK && type != G_UNICODE_NON_SPACING_MARK &&
         type != G_UNICODE_ENCLOSING_MARK;
}

static void
append_nfc (GString    *out,
            const char *text,
            gsize       length)
{
  g_autofree char *normalized = g_utf8_normalize (text, (gssize) length, G_NORMALIZE_NFC);

  g_string_append (out, normalized);
}

static char *
normalize_nfc (const char *text,
               gsize       length,
               gsize      *out_length)
{
  GString *out = g_string_sized_new (length + 1);
  const char *p = text, *end = text + length, *chunk = text;

  while (p < end)
    {
      if ((gsize) (p - chunk) >= NFC_CHUNK && nfc_boundary_before (g_utf8_get_char (p)))
        {
          append_nfc (out, chunk, p - chunk);
          chunk = p;
        }
      p = g_utf8_next_char (p);
    }
  append_nfc (out, chunk, end - chunk);
  *out_length = out->len;
  return g_string_free (out, FALSE);
}

char *
sluice_sanitize_clean (const char            *text,
                       gsize                  length,
                       gboolean               drop_invalid,
                       gsize                 *out_length,
                       SluiceSanitizeCleaned *cleaned)
{
  GString *out = g_string_sized_new (length + 1);
  const char *p = text, *end = text + length;
  gboolean ascii = TRUE;
  guint marks = 0;     /* combining marks in a row */
  char *normalized;

  memset (cleaned, 0, sizeof *cleaned);
  while (p < end)
    {
      guchar c = (guchar) *p;
      gunichar ch;
      const char *run;

      if (c < 0x80)
        {
          /* printable ASCII goes over in runs */
          run = p;
          marks = 0;
          while (p < end && (guchar) *p >= 0x20 && (guchar) *p < 0x7F)
            p++;
          if (p > run)
            g_string_append_len (out, run, p - run);
          if (p < end && (guchar) *p < 0x80)
            {
              if (*p == '\n' || *p == '\t')
                g_string_append_c (out, *p);
              else
                cleaned->controls++;
              p++;
            }
          continue;
        }

      ch = g_utf8_get_char_validated (p, end - p);
      if (ch == (gunichar) -1 || ch == (gunichar) -2)
        {
          cleaned->invalid_bytes++;
          if (!drop_invalid)
            {
              g_string_append_len (out, "\xEF\xBF\xBD", 3);
              ascii = FALSE;
            }
          p++;
          continue;
        }
      marks = g_unichar_combining_class (ch) != 0 ? marks + 1 : 0;
      if (is_invisible (ch) || marks > MAX_COMBINING_RUN)
        cleaned->controls++;
      else
        {
          g_string_append_len (out, p, g_utf8_skip[c]);
          ascii = FALSE;
        }
      p += g_utf8_skip[c];
    }

  /* ASCII is its own NFC: a long English text skips the UCS-4 copy that
   * g_utf8_normalize() makes. */
  if (ascii)
    {
      *out_length = out->len;
      return g_string_free (out, FALSE);
    }
  normalized = normalize_nfc (out->str, out->len, out_length);
  g_string_free (out, TRUE);
  return normalized;
}

gsize
sluice_sanitize_cut (const char *text,
                     gsize       length,
                     gsize       max)
{
  gsize n = max;

  if (length <= max)
    return length;
  while (n > 0 && ((guchar) text[n] & 0xC0) == 0x80)
    n--;
  return n;
}

