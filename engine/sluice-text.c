/* sluice-text.c — provider text made safe for error messages, and a rough
 * token estimate.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "sluice-text"

#include "sluice.h"

#include <string.h>

static gboolean
contains (const char *word,
          gsize       len,
          const char *needle,
          gsize       needle_len)
{
  for (gsize i = 0; needle_len > 0 && i + needle_len <= len; i++)
    if (memcmp (word + i, needle, needle_len) == 0)
      return TRUE;
  return FALSE;
}

char *
sluice_text_scrub_secret (const char *text,
                          const char *secret)
{
  GString *out = g_string_new (NULL);
  gsize secret_len = secret != NULL ? strlen (secret) : 0;
  gsize prefix_len = MIN (secret_len / 2, 8);
  const char *p = text != NULL ? text : "";

  while (*p != '\0')
    {
      const char *word = p;
      gsize len;

      if (g_ascii_isspace (*p))
        {
          g_string_append_c (out, *p++);
          continue;
        }
      while (*p != '\0' && !g_ascii_isspace (*p))
        p++;
      len = (gsize) (p - word);

      if (contains (word, len, "**", 2) ||
          contains (word, len, secret, secret_len) ||
          (prefix_len >= 4 && contains (word, len, secret, prefix_len)))
        g_string_append (out, "[redacted]");
      else
        g_string_append_len (out, word, (gssize) len);
    }
  return g_string_free (out, FALSE);
}

char *
sluice_text_excerpt (const char *data,
                     gssize      len,
                     guint       max_chars,
                     const char *secret)
{
  g_autofree char *valid = NULL;
  g_autoptr(GString) line = g_string_new (NULL);
  gboolean space = FALSE;
  guint n = 0;
  gsize size;

  if (data == NULL)
    data = "";
  size = len < 0 ? strlen (data) : (gsize) len;
  /* Four bytes per character at most: no need to look further. */
  valid = g_utf8_make_valid (data, (gssize) MIN (size, (gsize) max_chars * 4 + 4));

  for (const char *p = valid; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (g_unichar_isspace (c) || g_unichar_iscntrl (c))
        {
          space = line->len > 0;
          continue;
        }
      if (n >= max_chars)
        {
          g_string_append (line, "…");
          break;
        }
      if (space)
        {
          g_string_append_c (line, ' ');
          n++;
          space = FALSE;
        }
      g_string_append_unichar (line, c);
      n++;
    }
  return sluice_text_scrub_secret (line->str, secret);
}

gint64
sluice_estimate_tokens (const char *text)
{
  gint64 bytes = 0, words = 0;
  gboolean in_word = FALSE;

  if (text == NULL)
    return 0;
  for (const char *p = text; *p != '\0'; p++)
    {
      bytes++;
      if (g_ascii_isspace (*p))
        in_word = FALSE;
      else if (!in_word)
        {
          in_word = TRUE;
          words++;
        }
    }
  /* Byte-pair encodings average about four bytes of English per token;
   * short words are a token each whatever their length. */
  return MAX ((bytes + 3) / 4, words);
}
