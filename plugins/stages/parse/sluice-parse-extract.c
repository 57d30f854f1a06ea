/* sluice-parse-extract.c — finding the JSON in a model's answer.
 *
 * Extraction tries, in order: the whole text; the fenced blocks (```json
 * ones first, then plain ```); the first balanced object or array amid
 * prose (at most MAX_CANDIDATES starts). Each candidate goes through the
 * scanner (sluice-parse-scanner.c), strict unless repair is asked for,
 * then through json-glib.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-parse-extract.h"

#include <string.h>

/* Each candidate is scanned to its end, so only the first few are tried:
 * an answer made of thousands of brackets must not take minutes. */
#define MAX_CANDIDATES 16

const char *
sluice_parse_source_name (SluiceParseSource source)
{
  switch (source)
    {
    case SLUICE_PARSE_FROM_WHOLE:
      return "whole";
    case SLUICE_PARSE_FROM_FENCE:
      return "fence";
    case SLUICE_PARSE_FROM_PROSE:
    default:
      return "prose";
    }
}

/* ---- extraction ----------------------------------------------------------------- */

/* The end of the balanced value starting at start, or NULL; *@ran_off
 * says whether the text ended inside it. */
static const char *
find_balanced_end (const char *start,
                   const char *end,
                   gboolean   *ran_off)
{
  char stack[SLUICE_PARSE_MAX_DEPTH];
  guint depth = 0;
  gboolean in_string = FALSE;

  *ran_off = FALSE;
  for (const char *p = start; p < end; p++)
    {
      if (in_string)
        {
          if (*p == '\\' && p + 1 < end)
            p++;
          else if (*p == '"')
            in_string = FALSE;
          continue;
        }
      switch (*p)
        {
        case '"':
          in_string = TRUE;
          break;
        case '{':
        case '[':
          if (depth == sizeof stack)
            return NULL;
          stack[depth++] = *p == '{' ? '}' : ']';
          break;
        case '}':
        case ']':
          if (depth == 0 || stack[depth - 1] != *p)
            return NULL;
          if (--depth == 0)
            return p + 1;
          break;
        default:
          break;
        }
    }
  *ran_off = TRUE;
  return NULL;
}

typedef struct
{
  const char       *start;
  const char       *end;
  SluiceParseSource source;
} Candidate;

static void
add_candidate (GArray            *candidates,
               const char        *start,
               const char        *end,
               SluiceParseSource  source)
{
  Candidate candidate = { start, end, source };

  g_array_append_val (candidates, candidate);
}

/* Fenced blocks: the body runs from the line after ``` to the next ```
 * (or to the end: a cut answer). Called for ```json blocks, then the others. */
static void
add_fences (GArray     *candidates,
            const char *text,
            const char *end,
            gboolean    want_json)
{
  const char *open = g_strstr_len (text, end - text, "```");
  guint n = 0;

  while (open != NULL && n++ < MAX_CANDIDATES)
    {
      const char *info = open + 3;
      const char *body = memchr (info, '\n', end - info);
      const char *close;
      gboolean is_json;

      if (body == NULL)
        return;
      is_json = body - info >= 4 && g_ascii_strncasecmp (info, "json", 4) == 0;
      body++;
      close = g_strstr_len (body, end - body, "```");
      if (is_json == want_json)
        add_candidate (candidates, body, close != NULL ? close : end, SLUICE_PARSE_FROM_FENCE);
      if (close == NULL)
        return;
      open = g_strstr_len (close + 3, end - (close + 3), "```");
    }
}

static GArray *
find_candidates (const char       *text,
                 gsize             length,
                 SluiceParseFlags  flags)
{
  GArray *candidates = g_array_new (FALSE, FALSE, sizeof (Candidate));
  const char *end = text + length;
  const char *p = text;
  guint n = 0;

  add_candidate (candidates, text, end, SLUICE_PARSE_FROM_WHOLE);
  add_fences (candidates, text, end, TRUE);
  add_fences (candidates, text, end, FALSE);
  while (p < end && n++ < MAX_CANDIDATES)
    {
      while (p < end && *p != '{' && *p != '[')
        p++;
      if (p == end)
        break;
      add_candidate (candidates, p, end, SLUICE_PARSE_FROM_PROSE);
      /* In a cut answer, what follows a value the cut left open is inside
       * it: an inner array is not the answer. */
      if (flags & SLUICE_PARSE_CUT)
        {
          gboolean ran_off;

          if (find_balanced_end (p, end, &ran_off) == NULL && ran_off)
            break;
        }
      p++;
    }
  return candidates;
}

/* The first candidate that scans (strictly, or with the repairs @flags
 * allow) and then parses. */
static JsonNode *
try_candidates (GArray            *candidates,
                SluiceParseFlags   flags,
                guint             *repairs,
                SluiceParseSource *source)
{
  for (guint i = 0; i < candidates->len; i++)
    {
      Candidate *c = &g_array_index (candidates, Candidate, i);
      const char *value_end = NULL;
      g_autofree char *json = sluice_parse_repair (c->start, c->end - c->start, flags, repairs, &value_end);
      JsonNode *node;

      if (json == NULL)
        continue;
      /* The whole text, or a fenced block, is the value only if nothing
       * but space follows it; amid prose, anything may. */
      while (value_end < c->end && g_ascii_isspace (*value_end))
        value_end++;
      if (c->source != SLUICE_PARSE_FROM_PROSE && value_end != c->end)
        continue;
      if ((node = sluice_json_from_string (json, -1, NULL)) != NULL)
        {
          *source = c->source;
          return node;
        }
    }
  *repairs = 0;
  return NULL;
}

JsonNode *
sluice_parse_extract (const char        *text,
                      gsize              length,
                      SluiceParseFlags   flags,
                      guint             *repairs,
                      SluiceParseSource *source)
{
  g_autoptr(GArray) candidates = find_candidates (text, length, flags);
  JsonNode *node;

  *repairs = 0;
  *source = SLUICE_PARSE_FROM_WHOLE;
  /* json-glib alone would take single quotes: the scanner, strict here,
   * makes sure that a value taken without repair is JSON. */
  node = try_candidates (candidates, SLUICE_PARSE_STRICT, repairs, source);
  if (node != NULL || !(flags & SLUICE_PARSE_REPAIR))
    return node;
  /* Syntax repairs everywhere first: closing a cut value early in the text
   * must not win over a whole value later on. */
  node = try_candidates (candidates, SLUICE_PARSE_REPAIR, repairs, source);
  if (node == NULL && (flags & SLUICE_PARSE_CLOSE_TRUNCATED))
    node = try_candidates (candidates, flags, repairs, source);
  return node;
}
