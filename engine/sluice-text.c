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

/* JSON string escaping of @secret; @slash also escapes '/', @unicode
 * writes a quote as \u0022. */
static char *
json_escaped (const char *secret,
              gboolean    slash,
              gboolean    unicode)
{
  GString *json = g_string_new (NULL);

  for (const char *p = secret; *p != '\0'; p++)
    {
      if (*p == '"' && unicode)
        g_string_append (json, "\\u0022");
      else if (*p == '"' || *p == '\\' || (*p == '/' && slash))
        g_string_append_c (json, '\\');
      if (*p != '"' || !unicode)
        g_string_append_c (json, *p);
    }
  return g_string_free (json, FALSE);
}

/* The forms a secret takes when a server quotes it back: as it is, JSON
 * string-escaped (three ways), URL- and form-encoded. */
static GPtrArray *
secret_forms (const char *secret)
{
  GPtrArray *forms = g_ptr_array_new_with_free_func (g_free);
  char *uri = g_uri_escape_string (secret, NULL, FALSE);
  char *form = g_strdup (uri);
  char *spot;

  /* In a form, a space is a '+'. */
  while ((spot = strstr (form, "%20")) != NULL)
    {
      *spot = '+';
      memmove (spot + 1, spot + 3, strlen (spot + 3) + 1);
    }
  g_ptr_array_add (forms, g_strdup (secret));
  g_ptr_array_add (forms, json_escaped (secret, FALSE, FALSE));
  g_ptr_array_add (forms, json_escaped (secret, TRUE, FALSE));
  g_ptr_array_add (forms, json_escaped (secret, FALSE, TRUE));
  g_ptr_array_add (forms, uri);
  g_ptr_array_add (forms, form);
  return forms;
}

static char *
replace_literal (const char *text,
                 const char *needle)
{
  GString *out = g_string_new (NULL);
  gsize needle_len = strlen (needle);
  const char *p = text, *hit;

  while ((hit = strstr (p, needle)) != NULL)
    {
      g_string_append_len (out, p, (gssize) (hit - p));
      g_string_append (out, "[redacted]");
      p = hit + needle_len;
    }
  g_string_append (out, p);
  return g_string_free (out, FALSE);
}

/* Every occurrence of needle in text replaced; white space in the needle
 * matches any run of white space (a message may fold or widen it), and
 * percent escapes match in either case. */
static char *
replace_all (const char *text,
             const char *needle)
{
  g_autoptr(GString) pattern = g_string_new (NULL);
  g_autoptr(GRegex) regex = NULL;
  const char *p = needle;
  char *replaced;

  if (*needle == '\0')
    return g_strdup (text);
  if (strpbrk (needle, " \t\r\n%") == NULL)
    return replace_literal (text, needle);
  while (*p != '\0')
    {
      const char *run = p;

      if (g_ascii_isspace (*p))
        {
          while (g_ascii_isspace (*p))
            p++;
          g_string_append (pattern, "\\s+");
          continue;
        }
      while (*p != '\0' && !g_ascii_isspace (*p))
        p++;
      {
        g_autofree char *word = g_strndup (run, (gsize) (p - run));
        g_autofree char *quoted = g_regex_escape_string (word, -1);

        g_string_append (pattern, quoted);
      }
    }
  regex = g_regex_new (pattern->str, strchr (needle, '%') != NULL ? G_REGEX_CASELESS : 0, 0, NULL);
  replaced = regex != NULL ? g_regex_replace_literal (regex, text, -1, 0, "[redacted]", 0, NULL) : NULL;
  /* Should the pattern fail, the plain needle is still taken out. */
  return replaced != NULL ? replaced : replace_literal (text, needle);
}

/* No provider issues keys this short; scrubbing a placeholder such as
 * "x" or "test" would mangle ordinary text (a prompt, a request id). */
#define MIN_SECRET_LEN 8

char *
sluice_text_scrub_secret (const char *text,
                          const char *secret)
{
  /* Valid UTF-8 first: the patterns match text, not bytes. */
  g_autofree char *whole = g_utf8_make_valid (text != NULL ? text : "", -1);
  GString *out = g_string_new (NULL);
  gsize secret_len = secret != NULL && strlen (secret) >= MIN_SECRET_LEN ? strlen (secret) : 0;
  gsize prefix_len = MIN (secret_len / 2, 8);
  const char *p;

  /* The secret itself, even across white space (a key may hold a space). */
  if (secret_len > 0)
    {
      g_autoptr(GPtrArray) forms = secret_forms (secret);

      for (guint i = 0; i < forms->len; i++)
        {
          const char *form = g_ptr_array_index (forms, i);
          char *next;

          /* Most keys have one form only: each is searched once. */
          for (guint j = 0; j < i && form != NULL; j++)
            if (g_str_equal (form, g_ptr_array_index (forms, j)))
              form = NULL;
          if (form == NULL)
            continue;
          next = replace_all (whole, form);

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
