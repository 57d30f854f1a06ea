/* sluice-parse-scanner.c — the scanner that checks, and optionally
 * repairs, one JSON value in a model's answer.
 *
 * It is a small state machine, not a parser: it tracks what each open
 * object or array expects next (a key, a colon, a value, a comma) and,
 * when repair is asked for, rewrites the few defects models commonly
 * make; without repair any of them fails the scan, so that only JSON
 * passes (json-glib alone takes single-quoted strings). The result then
 * goes through json-glib like any other candidate. With
 * SLUICE_PARSE_CLOSE_TRUNCATED it also closes a value the answer ended
 * inside (the stage allows that only after finish reason `length`): an
 * open string is closed, a member whose value may be cut is dropped, and
 * the open brackets are closed.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-parse-extract.h"

#include <string.h>

static const struct { guint repair; const char *name; } repair_names[] = {
  { SLUICE_PARSE_REPAIR_TRAILING_COMMA, "trailing_comma" },
  { SLUICE_PARSE_REPAIR_SINGLE_QUOTES, "single_quotes" },
  { SLUICE_PARSE_REPAIR_UNQUOTED_KEYS, "unquoted_keys" },
  { SLUICE_PARSE_REPAIR_PYTHON_LITERALS, "python_literals" },
  { SLUICE_PARSE_REPAIR_COMMENTS, "comments" },
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

/* Skips a line (//) or block comment at s->p (to the end of the input if it is
 * cut); FALSE when the / starts none. */
static gboolean
skip_comment (Scanner *s)
{
  const char *close;

  if (s->p + 1 >= s->end || (s->p[1] != '/' && s->p[1] != '*'))
    return FALSE;
  if (s->p[1] == '/')
    {
      close = memchr (s->p, '\n', s->end - s->p);
      s->p = close != NULL ? close : s->end;
    }
  else
    {
      close = g_strstr_len (s->p + 2, s->end - (s->p + 2), "*/");
      s->p = close != NULL ? close + 2 : s->end;
    }
  s->repairs |= SLUICE_PARSE_REPAIR_COMMENTS;
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

        case '/':
          if (!s->repair || !skip_comment (s))
            return FALSE;
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
