/* sluice-parse-extract.c — finding the JSON in a model's answer.
 *
 * Reasoning blocks (<think> and the like) are dropped first. Extraction
 * then tries, in order: the whole text (any JSON value); the fenced
 * blocks (```json ones first, then plain ```); the top-level objects and
 * arrays amid prose (at most MAX_CANDIDATES of them): a value nested in
 * an earlier balanced one is never a candidate, so a clean inner object
 * cannot win over an outer one with a fixable flaw. Each candidate goes
 * through the scanner (sluice-parse-scanner.c), strictly and then, when
 * repair is asked for, repaired, before the next one is tried; then
 * through json-glib.
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
    case SLUICE_PARSE_FROM_BARE_TEXT:
      return "bare_text";
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

/* ---- reasoning blocks ------------------------------------------------------------ */

static const char * const reasoning_tags[] = { "think", "thinking", "reasoning" };

/* @text without its reasoning blocks: a model's thoughts may hold JSON
 * (drafts, examples) that is not the answer. A block left open at the
 * start runs to the end: the model has not answered yet. */
static GString *
strip_reasoning (const char *text,
                 gsize       length)
{
  GString *out = g_string_sized_new (length);
  const char *end = text + length;
  const char *p = text;

  while (p < end)
    {
      const char *open = NULL;
      guint tag = 0;
      g_autofree char *close_tag = NULL;
      const char *close;

      for (guint i = 0; i < G_N_ELEMENTS (reasoning_tags); i++)
        {
          g_autofree char *open_tag = g_strdup_printf ("<%s>", reasoning_tags[i]);
          const char *found = g_strstr_len (p, end - p, open_tag);

          if (found != NULL && (open == NULL || found < open))
            {
              open = found;
              tag = i;
            }
        }
      if (open == NULL)
        break;
      g_string_append_len (out, p, open - p);
      close_tag = g_strdup_printf ("</%s>", reasoning_tags[tag]);
      close = g_strstr_len (open, end - open, close_tag);
      if (close != NULL)
        {
          p = close + strlen (close_tag);
          continue;
        }
      /* Unclosed: at the start, all of it is thought; later, keep it. */
      p = end;
      for (gsize i = 0; i < out->len; i++)
        if (!g_ascii_isspace (out->str[i]))
          {
            g_string_append_len (out, open, end - open);
            break;
          }
      return out;
    }
  g_string_append_len (out, p, end - p);
  return out;
}

/* ---- candidates ------------------------------------------------------------------ */

typedef struct
{
  JsonNode *node;
  guint     repairs;
} Parsed;

static void
parsed_clear (gpointer data)
{
  Parsed *parsed = data;

  g_clear_pointer (&parsed->node, json_node_unref);
}

static const char *
skip_space (const char *p,
            const char *end)
{
  while (p < end && g_ascii_isspace (*p))
    p++;
  return p;
}

/* One object or array starting at @start, strictly and then (when @flags
 * ask for repair) repaired; with @closing only the pass that closes a cut
 * value. @whole: nothing but space may follow it before @end. */
static JsonNode *
try_span (const char       *start,
          const char       *end,
          gboolean          whole,
          SluiceParseFlags  flags,
          gboolean          closing,
          guint            *repairs,
          const char      **value_end)
{
  SluiceParseFlags passes[2];
  guint n = 0;

  if (closing)
    passes[n++] = flags & (SLUICE_PARSE_REPAIR | SLUICE_PARSE_CUT | SLUICE_PARSE_CLOSE_TRUNCATED);
  else
    {
      /* json-glib alone would take single quotes: the scanner, strict
       * here, makes sure that a value taken without repair is JSON. */
      passes[n++] = SLUICE_PARSE_STRICT;
      if (flags & SLUICE_PARSE_REPAIR)
        passes[n++] = SLUICE_PARSE_REPAIR;
    }
  for (guint i = 0; i < n; i++)
    {
      const char *after = NULL;
      g_autofree char *json = sluice_parse_repair (start, end - start, passes[i], repairs, &after);
      JsonNode *node;

      if (json == NULL)
        continue;
      if (whole && skip_space (after, end) != end)
        continue;
      if ((node = sluice_json_from_string (json, -1, NULL)) != NULL)
        {
          if (value_end != NULL)
            *value_end = after;
          return node;
        }
    }
  *repairs = 0;
  return NULL;
}

/* The whole text as a JSON scalar, strictly: a quoted string, a number,
 * true, false or null (json-glib takes more, such as single quotes). */
static JsonNode *
try_scalar (const char *start,
            const char *end)
{
  g_autofree char *copy = NULL;
  JsonNode *node;

  start = skip_space (start, end);
  while (end > start && g_ascii_isspace (end[-1]))
    end--;
  if (start == end || !(*start == '"' || *start == '-' || g_ascii_isdigit (*start) ||
                        *start == 't' || *start == 'f' || *start == 'n'))
    return NULL;
  copy = g_strndup (start, end - start);
  node = sluice_json_from_string (copy, -1, NULL);
  if (node != NULL && !JSON_NODE_HOLDS_VALUE (node) && !JSON_NODE_HOLDS_NULL (node))
    g_clear_pointer (&node, json_node_unref);
  return node;
}

/* Fenced blocks: the body runs from the line after ``` to the next ```
 * (or to the end: a cut answer). Called for ```json blocks, then the
 * others; each body is appended to @bodies as a start and an end. */
static void
add_fences (GPtrArray  *bodies,
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
        {
          g_ptr_array_add (bodies, (gpointer) body);
          g_ptr_array_add (bodies, (gpointer) (close != NULL ? close : end));
        }
      if (close == NULL)
        return;
      open = g_strstr_len (close + 3, end - (close + 3), "```");
    }
}

/* The top-level values amid prose that parse, in order, into @parsed;
 * the starts of those that did not (for the closing pass) into @failed. */
static void
scan_prose (const char       *text,
            const char       *end,
            SluiceParseFlags  flags,
            GArray           *parsed,
            GPtrArray        *failed)
{
  const char *p = text;
  guint n = 0;

  while (n < MAX_CANDIDATES)
    {
      const char *balanced;
      const char *value_end = NULL;
      gboolean ran_off;
      Parsed one = { NULL, 0 };

      while (p < end && *p != '{' && *p != '[')
        p++;
      if (p == end)
        break;
      n++;
      balanced = find_balanced_end (p, end, &ran_off);
      if ((one.node = try_span (p, end, FALSE, flags, FALSE, &one.repairs, &value_end)) != NULL)
        {
          g_array_append_val (parsed, one);
          p = value_end;     /* what it holds is not a candidate */
          continue;
        }
      g_ptr_array_add (failed, (gpointer) p);
      if (balanced != NULL)
        p = balanced;
      /* In a cut answer, what follows a value the cut left open is inside
       * it: an inner array is not the answer. */
      else if (ran_off && (flags & SLUICE_PARSE_CUT))
        break;
      else
        p++;       /* no balanced span: its brackets do not nest */
    }
}

/* Of several values, the first @accept takes, else the one at @fallback. */
static guint
choose (GArray                *parsed,
        SluiceParseAcceptFunc  accept,
        gpointer               user_data,
        guint                  fallback)
{
  if (accept != NULL)
    for (guint i = 0; i < parsed->len; i++)
      if (accept (g_array_index (parsed, Parsed, i).node, user_data))
        return i;
  return fallback;
}

static JsonNode *
take (GArray            *parsed,
      guint              index,
      SluiceParseSource  source,
      SluiceParseResult *result)
{
  Parsed *one = &g_array_index (parsed, Parsed, index);

  result->source = source;
  result->repairs = one->repairs;
  result->candidate = index + 1;
  result->n_candidates = parsed->len;
  return g_steal_pointer (&one->node);
}

/* One line of bare text, as a JSON string; not what looks like an
 * attempt at JSON (a bracket or a quote first). */
static JsonNode *
bare_string (const char *text,
             const char *end)
{
  g_autofree char *line = NULL;

  text = skip_space (text, end);
  while (end > text && g_ascii_isspace (end[-1]))
    end--;
  if (text == end || strchr ("{[\"'`", *text) != NULL || memchr (text, '\n', end - text) != NULL ||
      !g_utf8_validate (text, end - text, NULL))
    return NULL;
  line = g_strndup (text, end - text);
  return json_node_init_string (json_node_alloc (), line);
}

JsonNode *
sluice_parse_extract (const char            *text,
                      gsize                  length,
                      SluiceParseFlags       flags,
                      SluiceParseAcceptFunc  accept,
                      gpointer               user_data,
                      SluiceParseResult     *result)
{
  g_autoptr(GString) stripped = strip_reasoning (text, length);
  const char *start = stripped->str;
  const char *end = start + stripped->len;
  g_autoptr(GPtrArray) fences = g_ptr_array_new ();
  g_autoptr(GPtrArray) failed = g_ptr_array_new ();
  g_autoptr(GArray) parsed = g_array_new (FALSE, TRUE, sizeof (Parsed));
  JsonNode *node;
  guint repairs = 0;

  g_array_set_clear_func (parsed, parsed_clear);
  *result = (SluiceParseResult) { SLUICE_PARSE_FROM_WHOLE, 0, 1, 1 };

  /* The whole text: any JSON value, strictly; an object or array also repaired. */
  if ((node = try_scalar (start, end)) != NULL)
    return node;
  if ((node = try_span (start, end, TRUE, flags, FALSE, &repairs, NULL)) != NULL)
    {
      result->repairs = repairs;
      return node;
    }

  add_fences (fences, start, end, TRUE);
  add_fences (fences, start, end, FALSE);
  for (guint i = 0; i < fences->len; i += 2)
    {
      Parsed one = { NULL, 0 };

      if ((one.node = try_span (fences->pdata[i], fences->pdata[i + 1], TRUE, flags, FALSE, &one.repairs, NULL)) != NULL)
        g_array_append_val (parsed, one);
    }
  /* A fenced block is meant as the answer: the first one, unless a later
   * one fits the schema and it does not. */
  if (parsed->len > 0)
    return take (parsed, choose (parsed, accept, user_data, 0), SLUICE_PARSE_FROM_FENCE, result);

  scan_prose (start, end, flags, parsed, failed);
  /* Amid prose the last value, unless an earlier one fits the schema:
   * reasoning and examples come before the answer. */
  if (parsed->len > 0)
    return take (parsed, choose (parsed, accept, user_data, parsed->len - 1), SLUICE_PARSE_FROM_PROSE, result);

  /* Closing a cut value is a guess: only when nothing whole was found. */
  if (flags & SLUICE_PARSE_CLOSE_TRUNCATED)
    {
      if ((node = try_span (start, end, TRUE, flags, TRUE, &repairs, NULL)) != NULL)
        {
          result->repairs = repairs;
          return node;
        }
      for (guint i = 0; i < fences->len; i += 2)
        if ((node = try_span (fences->pdata[i], fences->pdata[i + 1], TRUE, flags, TRUE, &repairs, NULL)) != NULL)
          {
            *result = (SluiceParseResult) { SLUICE_PARSE_FROM_FENCE, repairs, 1, 1 };
            return node;
          }
      for (guint i = 0; i < failed->len; i++)
        if ((node = try_span (failed->pdata[i], end, FALSE, flags, TRUE, &repairs, NULL)) != NULL)
          {
            *result = (SluiceParseResult) { SLUICE_PARSE_FROM_PROSE, repairs, 1, 1 };
            return node;
          }
    }

  if ((flags & SLUICE_PARSE_BARE_STRING) && (node = bare_string (start, end)) != NULL)
    {
      result->source = SLUICE_PARSE_FROM_BARE_TEXT;
      return node;
    }
  result->candidate = result->n_candidates = 0;
  return NULL;
}
