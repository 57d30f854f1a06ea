/* sluice-parse-extract.c — finding, and optionally repairing, the JSON in
 * a model's answer.
 *
 * Extraction tries, in order: the whole text; the fenced blocks (```json
 * ones first, then plain ```); the first balanced object or array amid
 * prose (at most MAX_CANDIDATES starts). Each candidate goes through the
 * scanner below, strict unless repair is asked for (json-glib alone
 * takes single-quoted strings), then through json-glib.
 *
 * Repair is a small scanner over one value, not a parser: it tracks what
 * each open object or array expects next (a key, a colon, a value, a
 * comma) and rewrites the few defects models commonly make, then the
 * result goes through the strict parser like any other candidate. With
 * SLUICE_PARSE_CLOSE_TRUNCATED it also closes a value the answer ended
 * inside (the stage allows that only after finish reason `length`): an
 * open string is closed, a member without its value is dropped, and the
 * open brackets are closed.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-parse-extract.h"

#include <string.h>

/* Each candidate is scanned to its end, so only the first few are tried:
 * an answer made of thousands of brackets must not take minutes. */
#define MAX_CANDIDATES 16

static const struct { guint repair; const char *name; } repair_names[] = {
  { SLUICE_PARSE_REPAIR_TRAILING_COMMA, "trailing_comma" },
  { SLUICE_PARSE_REPAIR_SINGLE_QUOTES, "single_quotes" },
  { SLUICE_PARSE_REPAIR_UNQUOTED_KEYS, "unquoted_keys" },
  { SLUICE_PARSE_REPAIR_PYTHON_LITERALS, "python_literals" },
  { SLUICE_PARSE_REPAIR_CLOSED_STRING, "closed_string" },
  { SLUICE_PARSE_REPAIR_DROPPED_MEMBER, "dropped_partial_member" },
  { SLUICE_PARSE_REPAIR_CLOSED_BRACKETS, "closed_brackets" },
};

const char **
sluice_parse_repair_names (guint repairs)
{
  const char **names = g_new0 (const char *, G_N_ELEMENTS (repair_names) + 1);
  guint n = 0;

  for (guint i = 0; i < G_N_ELEMENTS (repair_names); i++)
    if (repairs & repair_names[i].repair)
      names[n++] = repair_names[i].name;
  return names;
}

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

/* ---- the repair scanner ----------------------------------------------------- */

typedef enum
{
  EXPECT_KEY,       /* objects: after { or , */
  EXPECT_COLON,     /* objects: after a key */
  EXPECT_VALUE,     /* objects after :, arrays after [ or , */
  EXPECT_COMMA,     /* after a value */
} Expect;

typedef struct
{
  char     closer;        /* } or ] */
  Expect   expect;
  gboolean after_comma;
  gsize    member_start;  /* output length before the current member's comma */
} Level;

typedef struct
{
  const char *p, *end;
  GString    *out;
  guint       repairs;
  Level       stack[SLUICE_PARSE_MAX_DEPTH];
  guint       depth;
  gboolean    repair;     /* else any defect fails the scan: strict JSON only */
} Scanner;

static gboolean
is_word_char (char c)
{
  return g_ascii_isalnum (c) || c == '_' || c == '$' || c == '-';
}

typedef enum
{
  STRING_DONE,
  STRING_CUT,       /* the input ended inside it */
  STRING_REFUSED,   /* single-quoted, and no repair */
} StringEnd;

/* Copies the string at s->p (double- or single-quoted) as a JSON string.
 * Raw control characters are kept: json-glib takes them. */
static StringEnd
scan_string (Scanner *s)
{
  char quote = *s->p++;

  if (quote == '\'')
    {
      if (!s->repair)
        return STRING_REFUSED;
      s->repairs |= SLUICE_PARSE_REPAIR_SINGLE_QUOTES;
    }
  g_string_append_c (s->out, '"');
  while (s->p < s->end)
    {
      char c = *s->p++;

      if (c == quote)
        {
          g_string_append_c (s->out, '"');
          return STRING_DONE;
        }
      if (c == '\\')
        {
          if (s->p == s->end)
            return STRING_CUT;      /* a lone backslash at the cut is dropped */
          if (quote == '\'' && *s->p == '\'')
            g_string_append_c (s->out, '\'');
          else
            {
              g_string_append_c (s->out, '\\');
              g_string_append_c (s->out, *s->p);
            }
          s->p++;
        }
      else if (c == '"')       /* only inside single quotes */
        g_string_append (s->out, "\\\"");
      else
        g_string_append_c (s->out, c);
    }
  return STRING_CUT;
}

static void
value_done (Scanner *s)
{
  Level *top = &s->stack[s->depth - 1];

  top->expect = top->closer == '}' && top->expect == EXPECT_KEY ? EXPECT_COLON : EXPECT_COMMA;
}

static gboolean
push (Scanner *s,
      char     opener)
{
  Level *level;

  if (s->depth == SLUICE_PARSE_MAX_DEPTH)
    return FALSE;
  g_string_append_c (s->out, opener);
  level = &s->stack[s->depth++];
  level->closer = opener == '{' ? '}' : ']';
  level->expect = opener == '{' ? EXPECT_KEY : EXPECT_VALUE;
  level->after_comma = FALSE;
  level->member_start = s->out->len;
  return TRUE;
}

/* A bare word: an unquoted key, a literal, or a Python literal. */
static gboolean
scan_word (Scanner  *s,
           gboolean *cut)
{
  Level *top = &s->stack[s->depth - 1];
  const char *start = s->p;
  gsize len;

  while (s->p < s->end && is_word_char (*s->p))
    s->p++;
  len = (gsize) (s->p - start);
  *cut = s->p == s->end;
  if (*cut)
    return TRUE;
  if (top->expect == EXPECT_KEY)
    {
      if (!s->repair)
        return FALSE;
      s->repairs |= SLUICE_PARSE_REPAIR_UNQUOTED_KEYS;
      g_string_append_c (s->out, '"');
      g_string_append_len (s->out, start, (gssize) len);
      g_string_append_c (s->out, '"');
      top->expect = EXPECT_COLON;
      return TRUE;
    }
  if (top->expect != EXPECT_VALUE)
    return FALSE;
  if ((len == 4 && memcmp (start, "true", 4) == 0) || (len == 5 && memcmp (start, "false", 5) == 0) ||
      (len == 4 && memcmp (start, "null", 4) == 0))
    g_string_append_len (s->out, start, (gssize) len);
  else if (!s->repair)
    return FALSE;
  else if (len == 4 && memcmp (start, "True", 4) == 0)
    g_string_append (s->out, "true");
  else if (len == 5 && memcmp (start, "False", 5) == 0)
    g_string_append (s->out, "false");
  else if (len == 4 && memcmp (start, "None", 4) == 0)
    g_string_append (s->out, "null");
  else
    return FALSE;
  if (start[0] == 'T' || start[0] == 'F' || start[0] == 'N')
    s->repairs |= SLUICE_PARSE_REPAIR_PYTHON_LITERALS;
  value_done (s);
  return TRUE;
}

/* Closes what the cut answer left open. @partial: the input ended inside
 * a token of the innermost level's current member. */
static gboolean
close_truncated (Scanner  *s,
                 gboolean  partial,
                 gboolean  closed_string)
{
  Level *top = &s->stack[s->depth - 1];
  gboolean incomplete = partial || top->expect == EXPECT_COLON ||
                        (top->closer == '}' && top->expect == EXPECT_VALUE);

  if (incomplete && top->member_start < s->out->len)
    {
      /* A key without its value, or a number or word that may be cut:
       * keeping either would invent data. */
      g_string_truncate (s->out, top->member_start);
      s->repairs |= SLUICE_PARSE_REPAIR_DROPPED_MEMBER;
      closed_string = FALSE;
    }
  else if (top->after_comma && (top->expect == EXPECT_KEY || top->expect == EXPECT_VALUE))
    {
      g_string_truncate (s->out, top->member_start);
      s->repairs |= SLUICE_PARSE_REPAIR_TRAILING_COMMA;
    }
  if (closed_string)
    s->repairs |= SLUICE_PARSE_REPAIR_CLOSED_STRING;
  while (s->depth > 0)
    g_string_append_c (s->out, s->stack[--s->depth].closer);
  s->repairs |= SLUICE_PARSE_REPAIR_CLOSED_BRACKETS;
  return TRUE;
}

static gboolean
scan (Scanner          *s,
      SluiceParseFlags  flags,
      const char      **end)
{
  while (s->p < s->end && g_ascii_isspace (*s->p))
    s->p++;
  if (s->p == s->end || (*s->p != '{' && *s->p != '['))
    return FALSE;
  push (s, *s->p++);

  while (s->p < s->end)
    {
      Level *top = &s->stack[s->depth - 1];
      char c = *s->p;
      gboolean cut = FALSE;
      StringEnd string_end;

      if (g_ascii_isspace (c))
        {
          g_string_append_c (s->out, c);
          s->p++;
          continue;
        }
      switch (c)
        {
        case '{':
        case '[':
          if (top->expect != EXPECT_VALUE || !push (s, c))
            return FALSE;
          s->p++;
          break;

        case '}':
        case ']':
          if (c != top->closer || top->expect == EXPECT_COLON ||
              (c == '}' && top->expect == EXPECT_VALUE))
            return FALSE;
          if (top->after_comma && top->expect != EXPECT_COMMA)
            {
              if (!s->repair)
                return FALSE;
              g_string_truncate (s->out, top->member_start);
              s->repairs |= SLUICE_PARSE_REPAIR_TRAILING_COMMA;
            }
          g_string_append_c (s->out, c);
          s->p++;
          if (--s->depth == 0)
            {
              *end = s->p;
              return TRUE;
            }
          value_done (s);
          break;

        case ',':
          if (top->expect != EXPECT_COMMA)
            return FALSE;
          top->member_start = s->out->len;
          top->after_comma = TRUE;
          top->expect = top->closer == '}' ? EXPECT_KEY : EXPECT_VALUE;
          g_string_append_c (s->out, c);
          s->p++;
          break;

        case ':':
          if (top->expect != EXPECT_COLON)
            return FALSE;
          top->expect = EXPECT_VALUE;
          g_string_append_c (s->out, c);
          s->p++;
          break;

        case '"':
        case '\'':
          if (top->expect != EXPECT_KEY && top->expect != EXPECT_VALUE)
            return FALSE;
          string_end = scan_string (s);
          if (string_end == STRING_REFUSED)
            return FALSE;
          if (string_end == STRING_CUT)
            {
              if (!(flags & SLUICE_PARSE_CLOSE_TRUNCATED))
                return FALSE;
              g_string_append_c (s->out, '"');
              value_done (s);
              *end = s->end;
              return close_truncated (s, FALSE, TRUE);
            }
          value_done (s);
          break;

        default:
          if (g_ascii_isalpha (c) || c == '_' || c == '$')
            {
              if (!scan_word (s, &cut))
                return FALSE;
            }
          else if (g_ascii_isdigit (c) || c == '-' || c == '+' || c == '.')
            {
              const char *start = s->p;

              if (top->expect != EXPECT_VALUE)
                return FALSE;
              while (s->p < s->end && (g_ascii_isdigit (*s->p) || strchr ("+-.eE", *s->p) != NULL))
                s->p++;
              cut = s->p == s->end;
              if (!cut)
                {
                  g_string_append_len (s->out, start, s->p - start);
                  value_done (s);
                }
            }
          else
            return FALSE;
          if (cut)
            {
              if (!(flags & SLUICE_PARSE_CLOSE_TRUNCATED))
                return FALSE;
              *end = s->end;
              return close_truncated (s, TRUE, FALSE);
            }
          break;
        }
    }

  if (!(flags & SLUICE_PARSE_CLOSE_TRUNCATED))
    return FALSE;
  *end = s->end;
  return close_truncated (s, FALSE, FALSE);
}

char *
sluice_parse_repair (const char        *text,
                     gsize              length,
                     SluiceParseFlags   flags,
                     guint             *repairs,
                     const char       **end)
{
  g_autoptr(GString) out = g_string_sized_new (length + 16);
  Scanner s = { .p = text, .end = text + length, .out = out, .repair = (flags & SLUICE_PARSE_REPAIR) != 0 };
  const char *value_end = NULL;

  *repairs = 0;
  if (end != NULL)
    *end = NULL;
  if (!scan (&s, flags, &value_end))
    return NULL;
  *repairs = s.repairs;
  if (end != NULL)
    *end = value_end;
  return g_string_free (g_steal_pointer (&out), FALSE);
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
