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

/* The forms a secret takes when a server quotes it back: as it is, JSON
 * string-escaped, URL-escaped. */
static GPtrArray *
secret_forms (const char *secret)
{
  GPtrArray *forms = g_ptr_array_new_with_free_func (g_free);
  GString *json = g_string_new (NULL);

  for (const char *p = secret; *p != '\0'; p++)
    {
      if (*p == '"' || *p == '\\' || *p == '/')
        g_string_append_c (json, '\\');
      g_string_append_c (json, *p);
    }
  g_ptr_array_add (forms, g_strdup (secret));
  g_ptr_array_add (forms, g_string_free (json, FALSE));
  g_ptr_array_add (forms, g_uri_escape_string (secret, NULL, FALSE));
  return forms;
}

/* Every occurrence of needle in text, wherever it stands, replaced. */
static char *
replace_all (const char *text,
             const char *needle)
{
  GString *out = g_string_new (NULL);
  gsize needle_len = strlen (needle);
  const char *p = text, *hit;

  while (needle_len > 0 && (hit = strstr (p, needle)) != NULL)
    {
      g_string_append_len (out, p, (gssize) (hit - p));
      g_string_append (out, "[redacted]");
      p = hit + needle_len;
    }
  g_string_append (out, p);
  return g_string_free (out, FALSE);
}

char *
sluice_text_scrub_secret (const char *text,
                          const char *secret)
{
  g_autofree char *whole = g_strdup (text != NULL ? text : "");
  GString *out = g_string_new (NULL);
  gsize secret_len = secret != NULL ? strlen (secret) : 0;
  gsize prefix_len = MIN (secret_len / 2, 8);
  const char *p;

  /* The secret itself, even across white space (a key may hold a space). */
  if (secret_len > 0)
    {
      g_autoptr(GPtrArray) forms = secret_forms (secret);

      for (guint i = 0; i < forms->len; i++)
        {
          char *next = replace_all (whole, g_ptr_array_index (forms, i));

          g_free (whole);
          whole = next;
        }
    }

  /* Then each word holding its first half, or a masked form of a key. */
  p = whole;
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

      if ((contains (word, len, "**", 2) ||
           (prefix_len >= 4 && contains (word, len, secret, prefix_len))) &&
          !(len == strlen ("[redacted]") && memcmp (word, "[redacted]", len) == 0))
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
