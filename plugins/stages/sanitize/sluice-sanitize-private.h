/* sluice-sanitize-private.h — shared by the sanitize stage's files
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <sluice.h>

#include "sluice-sanitize-rules.h"

G_BEGIN_DECLS

/* The key of the request's SluiceSanitizeState on its context
 * (g_object_get_data()), shared by every sanitize stage of a pipeline. */
#define SLUICE_SANITIZE_STATE_KEY "sluice-sanitize-state"
/* The key under which any later stage (they cannot see this header)
 * finds the placeholder table: a GHashTable of placeholder → original,
 * both strings, owned by the context. */
#define SLUICE_SANITIZE_PLACEHOLDERS_KEY "sluice-sanitize-placeholders"

typedef struct
{
  GHashTable *by_value;    /* "rule\037same-key" → placeholder */
  GHashTable *originals;   /* placeholder → the original text */
  GHashTable *distinct;    /* rule name → distinct values so far (numbering) */
  GHashTable *counts;      /* rule name → values redacted */
  GPtrArray  *injection;   /* names of the injection rules that matched */
} SluiceSanitizeState;

/* One string the stage works on: a node of the request's own copy. */
typedef struct
{
  JsonNode *node;
  char     *path;          /* JSON Pointer, for messages */
} SluiceSanitizeLeaf;

typedef struct
{
  guint redacted;
  guint controls;
  guint invalid_bytes;
  guint truncated;
} SluiceSanitizeTally;

/* The request's table, made on first use and kept on the context. */
SluiceSanitizeState *sluice_sanitize_get_state (SluiceContext *context);
/* @text with every match of @rules (SluiceSanitizeRule*, in order of
 * preference) replaced by its placeholder, or NULL when nothing matched
 * or when a pattern gave up (its rule's name goes to @gave_up). */
char     *sluice_sanitize_redact  (GPtrArray            *rules,
                                   SluiceSanitizeState  *state,
                                   const char           *text,
                                   gsize                 length,
                                   guint                *n_redacted,
                                   const char          **gave_up);

/* Replaces the template variables (and the messages a batch line
 * brought) with copies the stage may change, and returns their string
 * leaves: every one, or those under @fields (JSON Pointers). */
GArray   *sluice_sanitize_collect (SluiceContext *context,
                                   GPtrArray     *fields);
/* A copy of @node whose strings have each placeholder of @originals
 * replaced by its original. */
JsonNode *sluice_sanitize_restore (JsonNode      *node,
                                   GHashTable    *originals);

G_END_DECLS
