/* sluice-parse-extract.h — finding (sluice-parse-extract.c), and
 * optionally repairing (sluice-parse-scanner.c), the JSON in a model's
 * answer. Plain functions, no GObject: the unit tests compile both files
 * directly.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <sluice.h>

G_BEGIN_DECLS

/* How deep a repaired value may nest; deeper is refused, not repaired. */
#define SLUICE_PARSE_MAX_DEPTH 128

/* Each repair the scanner may make; the names are what records show. */
typedef enum
{
  SLUICE_PARSE_REPAIR_TRAILING_COMMA   = 1 << 0,   /* "trailing_comma" */
  SLUICE_PARSE_REPAIR_SINGLE_QUOTES    = 1 << 1,   /* "single_quotes" */
  SLUICE_PARSE_REPAIR_UNQUOTED_KEYS    = 1 << 2,   /* "unquoted_keys" */
  SLUICE_PARSE_REPAIR_PYTHON_LITERALS  = 1 << 3,   /* "python_literals" */
  SLUICE_PARSE_REPAIR_CLOSED_STRING    = 1 << 4,   /* "closed_string" */
  SLUICE_PARSE_REPAIR_DROPPED_MEMBER   = 1 << 5,   /* "dropped_partial_member" */
  SLUICE_PARSE_REPAIR_CLOSED_BRACKETS  = 1 << 6,   /* "closed_brackets" */
  SLUICE_PARSE_REPAIR_COMMENTS         = 1 << 7,   /* "comments": line and block comments removed */
} SluiceParseRepair;

typedef enum
{
  SLUICE_PARSE_STRICT = 0,
  SLUICE_PARSE_REPAIR = 1 << 0,           /* the syntax repairs */
  SLUICE_PARSE_CLOSE_TRUNCATED = 1 << 1,  /* also close what a cut answer left open (give CUT too) */
  SLUICE_PARSE_CUT = 1 << 2,              /* the answer was cut at the token limit: a value
                                           * inside one the cut left open is not the answer */
  SLUICE_PARSE_BARE_STRING = 1 << 3,      /* the output schema takes only strings: one line of
                                           * bare text, when nothing else is found, is the string */
} SluiceParseFlags;

/* Where the JSON was found. */
typedef enum
{
  SLUICE_PARSE_FROM_WHOLE,      /* "whole": the text is the value */
  SLUICE_PARSE_FROM_FENCE,      /* "fence": a Markdown fenced block */
  SLUICE_PARSE_FROM_PROSE,      /* "prose": a top-level value amid prose */
  SLUICE_PARSE_FROM_BARE_TEXT,  /* "bare_text": unquoted text taken as a JSON string */
} SluiceParseSource;

/* What sluice_parse_extract() did. */
typedef struct
{
  SluiceParseSource source;
  guint             repairs;       /* SluiceParseRepair bits; 0 when clean */
  guint             candidate;     /* which of n_candidates was taken, from 1 */
  guint             n_candidates;  /* the values that parsed at that source */
} SluiceParseResult;

/* Whether @value is a fit answer (valid against the output schema). */
typedef gboolean (*SluiceParseAcceptFunc) (JsonNode *value,
                                           gpointer  user_data);

const char *sluice_parse_source_name (SluiceParseSource source);

/* The names of the repairs in @repairs, in a fixed order (NULL-terminated,
 * the strings static). */
const char **sluice_parse_repair_names (guint repairs);

/* Repairs the one JSON value that starts at @text (an object or array,
 * after optional white space) and returns it as strict JSON text, with
 * *@repairs the repairs made and *@end where the value ended in @text.
 * NULL when it cannot be repaired (bad syntax the scanner does not fix,
 * nesting deeper than SLUICE_PARSE_MAX_DEPTH, or a cut value without
 * SLUICE_PARSE_CLOSE_TRUNCATED). The result is not checked: parse it. */
char       *sluice_parse_repair      (const char        *text,
                                      gsize              length,
                                      SluiceParseFlags   flags,
                                      guint             *repairs,
                                      const char       **end);

/* Finds the JSON answer in @text, after dropping reasoning blocks
 * (<think>, <thinking>, <reasoning>; an unclosed one at the start means
 * no answer yet). In order: the whole text (any JSON value); the fenced
 * blocks (```json ones first); the top-level values amid prose (a value
 * that starts inside an earlier balanced one is never a candidate).
 * Each candidate is parsed strictly, then with SLUICE_PARSE_REPAIR
 * repaired, before the next is tried. Of several fenced or prose values
 * the first that @accept takes wins; when none does (or @accept is NULL)
 * the first fenced block, else the last prose value (models put the
 * answer after their reasoning and examples). Only when nothing parses
 * is a cut value closed (SLUICE_PARSE_CLOSE_TRUNCATED), and then, with
 * SLUICE_PARSE_BARE_STRING, one line of bare text taken as a string.
 * Returns the value or NULL; *@result says where it came from and what
 * was repaired. */
JsonNode   *sluice_parse_extract     (const char            *text,
                                      gsize                  length,
                                      SluiceParseFlags       flags,
                                      SluiceParseAcceptFunc  accept,
                                      gpointer               user_data,
                                      SluiceParseResult     *result);

G_END_DECLS
