/* sluice-cache-private.h — the pieces of the cache stage: the key of a
 * request (sluice-cache-key.c) and the SQLite store (sluice-cache-store.c).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <sluice.h>

G_BEGIN_DECLS

/* What the key covers besides the messages, fixed when the stage is
 * configured. */
typedef struct
{
  JsonNode *targets;         /* [{provider, model}, ...] in the call stage's order */
  JsonNode *parameters;      /* [{temperature, max_tokens, ...}, ...] per target */
  JsonNode *output_schema;   /* or NULL */
  char     *pipeline_version; /* SHA-256 of the pipeline file */
  gboolean  deterministic;   /* every target's temperature is set and 0 */
} CacheKeyParts;

gboolean cache_key_parts_init  (CacheKeyParts   *parts,
                                SluicePipeline  *pipeline,
                                GError         **error);
void     cache_key_parts_clear (CacheKeyParts   *parts);
/* @node with object members sorted by name and integral doubles written
 * as integers: the same request always gives the same text. */
char    *cache_canonical_json  (JsonNode        *node);
/* The SHA-256 (hex) of the canonical request: @messages and @parts. */
char    *cache_key_compute     (CacheKeyParts   *parts,
                                JsonArray       *messages);

typedef struct _CacheStore CacheStore;

CacheStore *cache_store_open      (const char    *path,
                                   gint64         ttl_ms,
                                   gint64         max_entries,
                                   GError       **error);
/* Synchronous, on the caller's thread: an indexed read of one row on a
 * connection of its own (WAL: never blocked by the writer). Returns the
 * stored output, or NULL when there is none or it is older than the TTL. */
JsonNode   *cache_store_lookup    (CacheStore    *self,
                                   const char    *key,
                                   GError       **error);
/* Queued for the writer thread: stores @output under @key (evicting the
 * least recently used entries beyond max_entries); @committed runs on
 * the writer thread once the store is done, committed or not. */
void        cache_store_put       (CacheStore    *self,
                                   const char    *key,
                                   JsonNode      *output,
                                   GDestroyNotify committed,
                                   gpointer       data);
void        cache_store_flush_async (CacheStore        *self,
                                     GAsyncReadyCallback callback,
                                     gpointer           user_data);
gboolean    cache_store_flush_finish (CacheStore   *self,
                                      GAsyncResult *result,
                                      GError      **error);
void        cache_store_free      (CacheStore    *self);

G_END_DECLS
