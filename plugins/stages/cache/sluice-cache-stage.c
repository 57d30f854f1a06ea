/* sluice-cache-stage.c — answers a repeated request from the cache.
 *
 * On the way in (after assemble, before call) the stage computes the
 * request's key (sluice-cache-key.c) and looks it up: a hit sets the
 * stored output and responds at once, skipping call, parse and validate
 * (the ledger's request says cache_hit 1, 0 attempts, cost 0). On the
 * way out a request that missed stores its output if it ended without
 * an error, that is after parse and validate accepted it: an error or a
 * failed validation is never stored.
 *
 * Single flight: identical requests in flight in one process make one
 * provider call. The first (the leader) goes on; the others wait for it
 * and are answered with its output, as hits. The leader's entry stays in
 * the table until its store is committed, so a repeat that arrives in
 * between is answered from memory rather than calling again. When the
 * leader fails, its waiters do not get its error: each goes on to the
 * provider by itself, all at once (a valid answer among them is stored).
 *
 * The cache is bypassed (cache_hit NULL in the ledger: nothing was looked
 * up) when a target's temperature is above 0 or not set (the providers'
 * default is 1), unless `force: true`; with --no-cache; and for a dry run.
 * --refresh-cache skips the lookup (cache_hit NULL) and stores the answer.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-cache-stage.h"
#include "sluice-cache-private.h"

#define DEFAULT_TTL "7d"
#define DEFAULT_MAX_ENTRIES 100000
#define LEADER_KEY "sluice-cache-leader-key"

typedef enum {
  FLIGHT_CALLING,    /* the leader is on its way to the provider */
  FLIGHT_STORING,    /* answered; the store is not committed yet */
} FlightState;

typedef struct
{
  FlightState state;
  JsonNode   *output;    /* FLIGHT_STORING */
  GQueue      waiters;   /* GTask* of requests waiting for the leader */
} Flight;

/* key → Flight; shared with the writer thread, which removes a stored
 * flight once its row is committed. */
typedef struct
{
  GMutex      lock;
  GHashTable *flights;
} FlightTable;

struct _SluiceCacheStage
{
  GObject        parent_instance;

  SluiceEngine  *engine;     /* not owned: the pipeline's */
  CacheStore    *store;
  FlightTable   *table;      /* atomic refcounted: store items hold it */
  CacheKeyParts  parts;
  gboolean       force;
};

static void sluice_cache_stage_iface_init (SluiceStageInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (SluiceCacheStage, sluice_cache_stage, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (SLUICE_TYPE_STAGE, sluice_cache_stage_iface_init))

static void
flight_free (Flight *flight)
{
  /* Only a flight without waiters is ever dropped. */
  g_warn_if_fail (g_queue_is_empty (&flight->waiters));
  g_clear_pointer (&flight->output, json_node_unref);
  g_free (flight);
}

static void
flight_table_clear (FlightTable *table)
{
  g_hash_table_unref (table->flights);
  g_mutex_clear (&table->lock);
}

static FlightTable *
flight_table_new (void)
{
  FlightTable *table = g_atomic_rc_box_new0 (FlightTable);

  g_mutex_init (&table->lock);
  table->flights = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) flight_free);
  return table;
}

static void
flight_table_unref (FlightTable *table)
{
  g_atomic_rc_box_release_full (table, (GDestroyNotify) flight_table_clear);
}

static void
annotate_hit (SluiceContext *context,
              gboolean       hit)
{
  g_autoptr(JsonNode) value = json_node_init_boolean (json_node_alloc (), hit);

  sluice_context_set_annotation (context, "cache_hit", value);
}

static void
answer_hit (GTask    *task,
            JsonNode *output)
{
  SluiceContext *context = g_task_get_task_data (task);
  g_autoptr(JsonNode) copy = json_node_copy (output);

  sluice_context_set_output (context, copy);
  annotate_hit (context, TRUE);
  g_task_return_int (task, SLUICE_VERDICT_RESPOND);
}

/* The lookup, or the wait for an identical request in flight. Takes
 * @task over. */
static void
acquire (SluiceCacheStage *self,
         GTask            *task,
         const char       *key)
{
  SluiceContext *context = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) stored = NULL;
  Flight *flight;

  g_mutex_lock (&self->table->lock);
  flight = g_hash_table_lookup (self->table->flights, key);
  if (flight != NULL && flight->state == FLIGHT_CALLING)
    {
      g_queue_push_tail (&flight->waiters, task);
      g_mutex_unlock (&self->table->lock);
      return;
    }
  if (flight != NULL)
    {
      g_autoptr(JsonNode) output = json_node_ref (flight->output);

      g_mutex_unlock (&self->table->lock);
      answer_hit (task, output);
      g_object_unref (task);
      return;
    }
  g_mutex_unlock (&self->table->lock);

  stored = cache_store_lookup (self->store, key, &error);
  if (error != NULL)
    /* A cache that cannot be read is a miss, not a failed request. */
    g_warning ("%s", error->message);
  if (stored != NULL)
    {
      answer_hit (task, stored);
      g_object_unref (task);
      return;
    }

  flight = g_new0 (Flight, 1);
  flight->state = FLIGHT_CALLING;
  g_queue_init (&flight->waiters);
  g_mutex_lock (&self->table->lock);
  g_hash_table_insert (self->table->flights, g_strdup (key), flight);
  g_mutex_unlock (&self->table->lock);

  g_object_set_data_full (G_OBJECT (context), LEADER_KEY, g_strdup (key), g_free);
  annotate_hit (context, FALSE);
  g_task_return_int (task, SLUICE_VERDICT_CONTINUE);
  g_object_unref (task);
}

static void
sluice_cache_stage_process_async (SluiceStage         *stage,
                                  SluiceContext       *context,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  SluiceCacheStage *self = SLUICE_CACHE_STAGE (stage);
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  SluiceCacheMode mode = sluice_engine_get_cache_mode (self->engine);
  JsonArray *messages = sluice_context_get_messages (context);
  g_autofree char *key = NULL;

  g_task_set_source_tag (task, sluice_cache_stage_process_async);
  g_task_set_task_data (task, g_object_ref (context), g_object_unref);

  if (messages == NULL)
    {
      g_task_return_new_error (task, SLUICE_ERROR, SLUICE_ERROR_FAILED,
                               "there are no messages to look up: put an assemble stage before cache");
      g_object_unref (task);
      return;
    }
  /* A re-run from before this stage (a correction) is still the leader's
   * own request, and a bypassed one stays bypassed. */
  if (mode == SLUICE_CACHE_MODE_OFF || sluice_context_get_dry_run (context) ||
      (!self->parts.deterministic && !self->force) ||
      g_object_get_data (G_OBJECT (context), LEADER_KEY) != NULL)
    {
      g_task_return_int (task, SLUICE_VERDICT_CONTINUE);
      g_object_unref (task);
      return;
    }

  key = cache_key_compute (&self->parts, messages);
  if (mode == SLUICE_CACHE_MODE_REFRESH)
    {
      /* No lookup and no coalescing: the fresh answer replaces the entry. */
      g_object_set_data_full (G_OBJECT (context), LEADER_KEY, g_steal_pointer (&key), g_free);
      g_task_return_int (task, SLUICE_VERDICT_CONTINUE);
      g_object_unref (task);
      return;
    }
  acquire (self, task, key);
}

typedef struct
{
  FlightTable *table;
  char        *key;
} Stored;

/* On the writer thread, once the row is committed (or given up on): from
 * now on the file answers. */
static void
on_stored (gpointer data)
{
  Stored *stored = data;
  Flight *flight;

  g_mutex_lock (&stored->table->lock);
  flight = g_hash_table_lookup (stored->table->flights, stored->key);
  if (flight != NULL && flight->state == FLIGHT_STORING)
    g_hash_table_remove (stored->table->flights, stored->key);
  g_mutex_unlock (&stored->table->lock);
  flight_table_unref (stored->table);
  g_free (stored->key);
  g_free (stored);
}

static void
sluice_cache_stage_complete_async (SluiceStage         *stage,
                                   SluiceContext       *context,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  SluiceCacheStage *self = SLUICE_CACHE_STAGE (stage);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  const char *key = g_object_get_data (G_OBJECT (context), LEADER_KEY);
  JsonNode *output = sluice_context_get_output (context);
  gboolean valid = sluice_context_get_error (context) == NULL && output != NULL;
  GQueue waiters = G_QUEUE_INIT;
  Flight *flight;

  g_task_set_source_tag (task, sluice_cache_stage_complete_async);
  if (key == NULL)
    {
      g_task_return_boolean (task, TRUE);   /* a hit, a bypass or a request that never got here */
      return;
    }

  g_mutex_lock (&self->table->lock);
  flight = g_hash_table_lookup (self->table->flights, key);
  if (flight != NULL && flight->state == FLIGHT_CALLING)
    {
      waiters = flight->waiters;
      g_queue_init (&flight->waiters);
      if (valid)
        {
          flight->state = FLIGHT_STORING;
          flight->output = json_node_copy (output);
        }
      else
        g_hash_table_remove (self->table->flights, key);
    }
  else
    flight = NULL;   /* --refresh-cache: a request of its own */
  g_mutex_unlock (&self->table->lock);

  if (valid)
    {
      Stored *stored = NULL;

      if (flight != NULL)
        {
          stored = g_new0 (Stored, 1);
          stored->table = g_atomic_rc_box_acquire (self->table);
          stored->key = g_strdup (key);
        }
      cache_store_put (self->store, key, output, stored != NULL ? on_stored : NULL, stored);
    }

  for (GTask *waiter; (waiter = g_queue_pop_head (&waiters)) != NULL;)
    {
      if (valid)
        {
          answer_hit (waiter, output);
          g_object_unref (waiter);
        }
      else
        {
          /* Each goes on by itself, all at once: taking turns as leaders
           * would line identical failing requests up one after another. */
          SluiceContext *waiting = g_task_get_task_data (waiter);

          g_object_set_data_full (G_OBJECT (waiting), LEADER_KEY, g_strdup (key), g_free);
          annotate_hit (waiting, FALSE);
          g_task_return_int (waiter, SLUICE_VERDICT_CONTINUE);
          g_object_unref (waiter);
        }
    }
  g_object_set_data (G_OBJECT (context), LEADER_KEY, NULL);
  g_task_return_boolean (task, TRUE);
}

static void
on_flushed (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  SluiceCacheStage *self = g_task_get_source_object (task);
  GError *error = NULL;

  if (cache_store_flush_finish (self->store, result, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static void
sluice_cache_stage_flush_async (SluiceStage         *stage,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  SluiceCacheStage *self = SLUICE_CACHE_STAGE (stage);
  GTask *task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, sluice_cache_stage_flush_async);
  cache_store_flush_async (self->store, on_flushed, task);
}

static gboolean
sluice_cache_stage_configure (SluiceStage     *stage,
                              SluicePipeline  *pipeline,
                              JsonObject      *config,
                              GError         **error)
{
  SluiceCacheStage *self = SLUICE_CACHE_STAGE (stage);
  const char *path = sluice_json_get_string (config, "path");
  const char *ttl = sluice_json_get_string (config, "ttl");
  g_autofree char *file = NULL;
  gint64 ttl_ms = 0;
  gint64 max_entries = sluice_json_get_int (config, "max_entries", DEFAULT_MAX_ENTRIES);

  if (!sluice_parse_duration (ttl != NULL ? ttl : DEFAULT_TTL, &ttl_ms) || ttl_ms <= 0)
    return sluice_config_invalid (error, "ttl: must be a duration above 0 such as 24h, not '%s'", ttl);
  if (max_entries < 1)
    return sluice_config_invalid (error, "max_entries: must be at least 1");
  self->force = json_object_get_boolean_member_with_default (config, "force", FALSE);
  self->engine = sluice_pipeline_get_engine (pipeline);
  if (!cache_key_parts_init (&self->parts, pipeline, error))
    return FALSE;

  file = path != NULL ? sluice_pipeline_resolve_path (pipeline, path)
                      : g_build_filename (sluice_get_state_dir (), "cache.db", NULL);
  self->store = cache_store_open (file, ttl_ms, max_entries, error);
  return self->store != NULL;
}

static void
sluice_cache_stage_finalize (GObject *object)
{
  SluiceCacheStage *self = SLUICE_CACHE_STAGE (object);

  g_clear_pointer (&self->store, cache_store_free);
  g_clear_pointer (&self->table, flight_table_unref);
  cache_key_parts_clear (&self->parts);

  G_OBJECT_CLASS (sluice_cache_stage_parent_class)->finalize (object);
}

static void
sluice_cache_stage_class_init (SluiceCacheStageClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sluice_cache_stage_finalize;
}

static void
sluice_cache_stage_init (SluiceCacheStage *self)
{
  self->table = flight_table_new ();
}

static void
sluice_cache_stage_iface_init (SluiceStageInterface *iface)
{
  iface->configure = sluice_cache_stage_configure;
  iface->process_async = sluice_cache_stage_process_async;
  iface->complete_async = sluice_cache_stage_complete_async;
  iface->flush_async = sluice_cache_stage_flush_async;
}
