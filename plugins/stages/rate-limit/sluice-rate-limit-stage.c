/* sluice-rate-limit-stage.c — holds requests to a budget of requests and
 * tokens per minute, per key.
 *
 * Each key has up to two token buckets, refilled continuously from the
 * monotonic clock: one of requests, one of tokens. A request takes one
 * request and its token estimate. When a bucket lacks, the request is
 * refused (on_limit: reject) or waits in the key's queue, first come
 * first served: a small request never overtakes a big one ahead of it.
 * One timer per key wakes at the exact time the head of the queue fits.
 *
 * On the way out the token bucket is corrected with the real usage, and
 * lowered to what the provider's rate-limit headers say is left.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-rate-limit-stage.h"

#include <string.h>

/* Bucket units per request or token: a per-minute rate is then exactly
 * that many units per millisecond, and all arithmetic stays integer. */
#define SCALE               G_GINT64_CONSTANT (60000)
#define DEFAULT_MAX_WAIT_MS (30 * 1000)
#define DEFAULT_MAX_QUEUE   10000
/* Keys seen once (one per user, say) are forgotten when they hold nothing
 * a fresh key would not: checked when the table has grown this far. */
#define MIN_PRUNE_AT        1024
#define TIMING_NAME         "rate_limit_wait"

typedef enum {
  PART_TEXT,
  PART_LABEL,
  PART_INPUT,
} PartKind;

typedef struct
{
  PartKind  kind;
  char     *text;      /* the literal text, or the label or input member name */
} Part;

typedef struct
{
  gint64 level;        /* units; below 0 is debt (usage beyond the estimate) */
  gint64 capacity;     /* units; 0: the bucket is not in use */
  gint64 rate;         /* units per ms: the per-minute limit */
  gint64 updated_ms;   /* refilled up to here; in the future while the
                        * provider says its limit is exhausted */
} Bucket;

typedef struct _SluiceRateLimitStage SluiceRateLimitStage;

typedef struct
{
  char    *name;
  Bucket   requests;
  Bucket   tokens;
  GQueue   waiting;        /* of GTask, the oldest first; each holds a reference */
  gint64   waiting_tokens; /* the sum of their estimates */
  GSource *timer;          /* wakes when the head may fit, or its max_wait ends */
} Key;

struct _SluiceRateLimitStage
{
  GObject      parent_instance;

  GArray      *key_parts;   /* of Part */
  gint64       requests_per_minute;
  gint64       tokens_per_minute;
  gint64       burst;
  gint64       token_burst;
  gboolean     reject;
  gint64       max_wait_ms;
  gint64       max_queue;
  gint64       expected_completion_tokens;
  char        *ticket_name;  /* where this stage keeps its charge on a context */

  GHashTable  *keys;         /* name → Key */
  guint        prune_at;
};

/* What a request was charged, kept on its context for the way out. */
typedef struct
{
  char   *key;
  gint64  tokens;
} Ticket;

/* One request in process_async; the task's data. */
typedef struct
{
  SluiceContext *context;
  Key           *key;           /* while waiting */
  GList         *link;          /* in key->waiting, while waiting */
  gint64         tokens;
  gint64         started_ms;
  gint64         deadline_ms;
  SluiceCancelWatch cancel_watch;
  GError        *error;         /* the outcome, once decided */
} Wait;

static void stage_iface_init (SluiceStageInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (SluiceRateLimitStage, sluice_rate_limit_stage, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (SLUICE_TYPE_STAGE, stage_iface_init))

static void
clear_source (GSource **source)
{
  if (*source != NULL)
    {
      g_source_destroy (*source);
      g_clear_pointer (source, g_source_unref);
    }
}

static void
part_clear (Part *part)
{
  g_free (part->text);
}

static void
ticket_free (Ticket *ticket)
{
  g_free (ticket->key);
  g_free (ticket);
}

static void
key_free (Key *key)
{
  /* Every waiting task holds the stage: none is left when it goes. */
  g_warn_if_fail (g_queue_is_empty (&key->waiting));
  clear_source (&key->timer);
  g_free (key->name);
  g_free (key);
}

static void
sluice_rate_limit_stage_finalize (GObject *object)
{
  SluiceRateLimitStage *self = SLUICE_RATE_LIMIT_STAGE (object);

  g_clear_pointer (&self->key_parts, g_array_unref);
  g_clear_pointer (&self->keys, g_hash_table_unref);
  g_free (self->ticket_name);

  G_OBJECT_CLASS (sluice_rate_limit_stage_parent_class)->finalize (object);
}

static void
sluice_rate_limit_stage_class_init (SluiceRateLimitStageClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sluice_rate_limit_stage_finalize;
}

static void
sluice_rate_limit_stage_init (SluiceRateLimitStage *self)
{
  self->keys = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) key_free);
  self->prune_at = MIN_PRUNE_AT;
  /* Two rate-limit stages in one pipeline keep their charges apart. */
  self->ticket_name = g_strdup_printf ("sluice-rate-limit-ticket-%p", (void *) self);
}

/* ---- buckets -------------------------------------------------------------------- */

static void
bucket_init (Bucket *bucket,
             gint64  per_minute,
             gint64  size,
             gint64  now)
{
  bucket->rate = per_minute;
  bucket->capacity = per_minute > 0 ? size * SCALE : 0;
  bucket->level = bucket->capacity;
  bucket->updated_ms = now;
}

static void
bucket_refill (Bucket *bucket,
               gint64  now)
{
  gint64 elapsed = now - bucket->updated_ms;

  if (bucket->capacity == 0 || elapsed <= 0)
    return;
  /* Compared before multiplying: a key idle for years must not overflow. */
  if (bucket->level >= bucket->capacity ||
      elapsed >= (bucket->capacity - bucket->level + bucket->rate - 1) / bucket->rate)
    bucket->level = bucket->capacity;
  else
    bucket->level += elapsed * bucket->rate;
  bucket->updated_ms = now;
}

/* Milliseconds until the bucket holds @need units (0: now). */
static gint64
bucket_wait (Bucket *bucket,
             gint64  need,
             gint64  now)
{
  gint64 frozen;

  if (bucket->capacity == 0)
    return 0;
  bucket_refill (bucket, now);
  frozen = MAX (bucket->updated_ms - now, 0);
  if (bucket->level >= need)
    return frozen;
  return frozen + (need - bucket->level + bucket->rate - 1) / bucket->rate;
}

static void
bucket_take (Bucket *bucket,
             gint64  units)
{
  if (bucket->capacity != 0)
    bucket->level -= units;
}

static gboolean
bucket_is_full (Bucket *bucket,
                gint64  now)
{
  bucket_refill (bucket, now);
  return bucket->capacity == 0 || (bucket->level >= bucket->capacity && bucket->updated_ms <= now);
}

/* ---- keys ----------------------------------------------------------------------- */

/* A key that holds nothing a fresh one would not is forgotten. */
static void
prune_keys (SluiceRateLimitStage *self,
            gint64                now)
{
  GHashTableIter iter;
  Key *key;

  g_hash_table_iter_init (&iter, self->keys);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &key))
    if (g_queue_is_empty (&key->waiting) && key->timer == NULL &&
        bucket_is_full (&key->requests, now) && bucket_is_full (&key->tokens, now))
      g_hash_table_iter_remove (&iter);
  self->prune_at = MAX (MIN_PRUNE_AT, 2 * g_hash_table_size (self->keys));
}

static Key *
lookup_key (SluiceRateLimitStage *self,
            const char           *name,
            gint64                now)
{
  Key *key = g_hash_table_lookup (self->keys, name);

  if (key != NULL)
    return key;
  if (g_hash_table_size (self->keys) >= self->prune_at)
    prune_keys (self, now);

  key = g_new0 (Key, 1);
  key->name = g_strdup (name);
  g_queue_init (&key->waiting);
  bucket_init (&key->requests, self->requests_per_minute, self->burst, now);
  bucket_init (&key->tokens, self->tokens_per_minute, self->token_burst, now);
  g_hash_table_insert (self->keys, key->name, key);
  return key;
}

/* Milliseconds until the key has room for @n_requests and @tokens at
 * once; *out_tokens_bind says whether the token bucket is the reason. */
static gint64
key_wait (Key      *key,
          gint64    n_requests,
          gint64    tokens,
          gint64    now,
          gboolean *out_tokens_bind)
{
  gint64 for_requests = bucket_wait (&key->requests, n_requests * SCALE, now);
  gint64 for_tokens = bucket_wait (&key->tokens, tokens * SCALE, now);

  if (out_tokens_bind != NULL)
    *out_tokens_bind = for_tokens > for_requests;
  return MAX (for_requests, for_tokens);
}

/* "600 requests/minute reached", or what the provider said. */
static char *
describe_limit (SluiceRateLimitStage *self,
                Key                  *key,
                gboolean              tokens_bind,
                gint64                now)
{
  Bucket *bucket = tokens_bind ? &key->tokens : &key->requests;
  const char *what = tokens_bind ? "tokens" : "requests";

  if (bucket->updated_ms > now)
    return g_strdup_printf ("the provider reports its %s limit exhausted", what);
  return g_strdup_printf ("%" G_GINT64_FORMAT " %s/minute reached",
                          tokens_bind ? self->tokens_per_minute : self->requests_per_minute, what);
}

static GError *
rate_limited (Key        *key,
              const char *format,
              ...) G_GNUC_PRINTF (2, 3);

static GError *
rate_limited (Key        *key,
              const char *format,
              ...)
{
  g_autofree char *detail = NULL;
  va_list args;

  va_start (args, format);
  detail = g_strdup_vprintf (format, args);
  va_end (args);
  return g_error_new (SLUICE_ERROR, SLUICE_ERROR_RATE_LIMITED, "rate limit of key '%s': %s", key->name, detail);
}

/* ---- one request ----------------------------------------------------------------- */

static void
wait_free (Wait *wait)
{
  sluice_cancel_watch_stop (&wait->cancel_watch);
  g_clear_object (&wait->context);
  g_clear_error (&wait->error);
  g_free (wait);
}

/* Ends the request with wait->error, or admits it; drops the reference
 * the caller (the queue, or process_async) held. */
static void
wait_return (GTask *task)
{
  Wait *wait = g_task_get_task_data (task);

  sluice_cancel_watch_stop (&wait->cancel_watch);
  if (wait->error != NULL)
    g_task_return_error (task, g_steal_pointer (&wait->error));
  else
    g_task_return_int (task, SLUICE_VERDICT_CONTINUE);
  g_object_unref (task);
}

static void
dequeue (GTask *task)
{
  Wait *wait = g_task_get_task_data (task);

  if (wait->link == NULL)
    return;
  g_queue_delete_link (&wait->key->waiting, wait->link);
  wait->key->waiting_tokens -= wait->tokens;
  wait->link = NULL;
  wait->key = NULL;
}

/* Charges the request and remembers the charge for complete_async. */
static void
admit (SluiceRateLimitStage *self,
       Key                  *key,
       Wait                 *wait,
       gint64                now)
{
  Ticket *ticket = g_object_get_data (G_OBJECT (wait->context), self->ticket_name);

  bucket_take (&key->requests, SCALE);
  bucket_take (&key->tokens, wait->tokens * SCALE);
  sluice_context_add_timing (wait->context, TIMING_NAME, now - wait->started_ms);

  /* A re-run from an earlier stage passes here again: both charges count. */
  if (ticket != NULL && g_str_equal (ticket->key, key->name))
    {
      ticket->tokens += wait->tokens;
      return;
    }
  ticket = g_new0 (Ticket, 1);
  ticket->key = g_strdup (key->name);
  ticket->tokens = wait->tokens;
  g_object_set_data_full (G_OBJECT (wait->context), self->ticket_name, ticket, (GDestroyNotify) ticket_free);
}

static gboolean on_key_timer (gpointer user_data);

/* Admits the head of the queue while it fits, fails a head whose
 * max_wait is over, and sets the key's timer for the next event. The
 * tasks are returned last, once the key is consistent: their callbacks
 * may well send the next request here. */
static void
key_drain (SluiceRateLimitStage *self,
           Key                  *key)
{
  g_autoptr(GPtrArray) done = g_ptr_array_new ();
  gint64 now = sluice_monotonic_ms ();

  clear_source (&key->timer);
  while (!g_queue_is_empty (&key->waiting))
    {
      GTask *task = g_queue_peek_head (&key->waiting);
      Wait *wait = g_task_get_task_data (task);
      gboolean tokens_bind;
      gint64 ms = key_wait (key, 1, wait->tokens, now, &tokens_bind);

      if (ms > 0 && now < wait->deadline_ms)
        {
          key->timer = g_timeout_source_new ((guint) MIN (MIN (ms, wait->deadline_ms - now), G_MAXUINT));
          g_source_set_callback (key->timer, on_key_timer, key, NULL);
          g_source_attach (key->timer, g_task_get_context (task));
          break;
        }

      dequeue (task);
      if (ms == 0)
        admit (self, key, wait, now);
      else
        {
          g_autofree char *limit = describe_limit (self, key, tokens_bind, now);

          wait->error = rate_limited (key, "%s; not admitted within max_wait (%" G_GINT64_FORMAT " ms)",
                                      limit, self->max_wait_ms);
        }
      g_ptr_array_add (done, task);
    }

  for (guint i = 0; i < done->len; i++)
    wait_return (g_ptr_array_index (done, i));
}

static gboolean
on_key_timer (gpointer user_data)
{
  Key *key = user_data;
  GTask *head = g_queue_peek_head (&key->waiting);

  g_clear_pointer (&key->timer, g_source_unref);   /* it removes itself */
  if (head != NULL)
    key_drain (g_task_get_source_object (head), key);
  return G_SOURCE_REMOVE;
}

static gboolean
on_wait_cancelled (gpointer user_data)
{
  GTask *task = user_data;
  SluiceRateLimitStage *self = g_task_get_source_object (task);
  Wait *wait = g_task_get_task_data (task);
  Key *key = wait->key;

  if (wait->link == NULL)
    return G_SOURCE_REMOVE;
  dequeue (task);
  wait->error = g_error_new_literal (SLUICE_ERROR, SLUICE_ERROR_CANCELLED,
                                     "the request was cancelled while it waited for its rate limit");
  /* The head may have changed: the timer is set again. */
  key_drain (self, key);
  wait_return (task);
  return G_SOURCE_REMOVE;
}

static void
append_member (GString    *out,
               JsonObject *object,
               const char *name)
{
  JsonNode *node = object != NULL ? json_object_get_member (object, name) : NULL;
  char number[G_ASCII_DTOSTR_BUF_SIZE];

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return;
  switch (json_node_get_value_type (node))
    {
    case G_TYPE_STRING:
      g_string_append (out, json_node_get_string (node));
      break;
    case G_TYPE_INT64:
      g_string_append_printf (out, "%" G_GINT64_FORMAT, json_node_get_int (node));
      break;
    case G_TYPE_DOUBLE:
      g_string_append (out, g_ascii_dtostr (number, sizeof number, json_node_get_double (node)));
      break;
    default:
      break;
    }
}

static char *
render_key (SluiceRateLimitStage *self,
            SluiceContext        *context)
{
  JsonNode *input = sluice_context_get_input (context);
  JsonObject *fields = input != NULL && JSON_NODE_HOLDS_OBJECT (input) ? json_node_get_object (input) : NULL;
  GString *out = g_string_new (NULL);

  for (guint i = 0; i < self->key_parts->len; i++)
    {
      Part *part = &g_array_index (self->key_parts, Part, i);

      if (part->kind == PART_TEXT)
        g_string_append (out, part->text);
      else if (part->kind == PART_LABEL)
        g_string_append (out, sluice_context_get_label (context, part->text) ?: "");
      else
        append_member (out, fields, part->text);
    }
  return g_string_free (out, FALSE);
}

/* The variable input_tokens when a stage counted them; else a quarter of
 * the bytes of the messages (or of the input, before assemble), rounded
 * up; plus expected_completion_tokens. */
static gint64
estimate_tokens (SluiceRateLimitStage *self,
                 SluiceContext        *context)
{
  JsonObject *variables = sluice_context_get_variables (context);
  JsonNode *counted = variables != NULL ? json_object_get_member (variables, "input_tokens") : NULL;
  JsonArray *messages = sluice_context_get_messages (context);
  gint64 tokens;

  if (counted != NULL && JSON_NODE_HOLDS_VALUE (counted) &&
      json_node_get_value_type (counted) == G_TYPE_INT64 && json_node_get_int (counted) >= 0)
    tokens = MIN (json_node_get_int (counted), SLUICE_MAX_COUNT);
  else
    {
      gsize bytes = 0;

      if (messages != NULL && json_array_get_length (messages) > 0)
        for (guint i = 0; i < json_array_get_length (messages); i++)
          {
            JsonNode *node = json_array_get_element (messages, i);
            JsonObject *message = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
            JsonNode *content = message != NULL ? json_object_get_member (message, "content") : NULL;
            const char *text = sluice_json_get_string (message, "content");

            if (text != NULL)
              bytes += strlen (text);
            else if (content != NULL && !JSON_NODE_HOLDS_NULL (content))
              {
                g_autofree char *json = sluice_json_to_string (content);   /* content parts */

                bytes += strlen (json);
              }
          }
      else if (sluice_context_get_input (context) != NULL)
        {
          g_autofree char *json = sluice_json_to_string (sluice_context_get_input (context));

          bytes = strlen (json);
        }
      tokens = (gint64) MIN ((bytes + 3) / 4, (gsize) SLUICE_MAX_COUNT);
    }
  return tokens + self->expected_completion_tokens;
}

/* Decides at once when it can: admitted, or refused. */
static GError *
try_now (SluiceRateLimitStage  *self,
         Key                   *key,
         Wait                  *wait,
         gint64                 now,
         gboolean              *out_admitted)
{
  guint n_waiting = g_queue_get_length (&key->waiting);
  g_autofree char *limit = NULL;
  gboolean tokens_bind;
  gint64 ms;

  *out_admitted = FALSE;
  if (key->tokens.capacity != 0 && wait->tokens * SCALE > key->tokens.capacity)
    return rate_limited (key, "the request's estimated %" G_GINT64_FORMAT " tokens are more than the "
                         "%" G_GINT64_FORMAT " the bucket holds (token_burst, default tokens_per_minute / 6): "
                         "it could never pass", wait->tokens, key->tokens.capacity / SCALE);

  /* First come, first served: nobody overtakes the queue. */
  if (n_waiting == 0 && key_wait (key, 1, wait->tokens, now, NULL) == 0)
    {
      *out_admitted = TRUE;
      return NULL;
    }

  /* When the queue ahead and this request will all have fitted. */
  ms = key_wait (key, n_waiting + 1, key->waiting_tokens + wait->tokens, now, &tokens_bind);
  limit = describe_limit (self, key, tokens_bind, now);
  if (self->reject)
    return rate_limited (key, "%s; retry in %" G_GINT64_FORMAT " ms", limit, ms);
  if ((gint64) n_waiting >= self->max_queue)
    return rate_limited (key, "%s and %u requests wait already (max_queue); retry in %" G_GINT64_FORMAT " ms",
                         limit, n_waiting, ms);
  if (ms > self->max_wait_ms)
    return rate_limited (key, "%s; its turn would come in %" G_GINT64_FORMAT " ms, after max_wait "
                         "(%" G_GINT64_FORMAT " ms)", limit, ms, self->max_wait_ms);
  return NULL;
}

static void
sluice_rate_limit_stage_process_async (SluiceStage         *stage,
                                       SluiceContext       *context,
                                       GCancellable        *cancellable,
                                       GAsyncReadyCallback  callback,
                                       gpointer             user_data)
{
  SluiceRateLimitStage *self = SLUICE_RATE_LIMIT_STAGE (stage);
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  g_autofree char *name = NULL;
  gint64 now = sluice_monotonic_ms ();
  gboolean admitted;
  Wait *wait;
  Key *key;

  g_task_set_source_tag (task, sluice_rate_limit_stage_process_async);
  /* A cancelled request fails with SLUICE_ERROR_CANCELLED, not GIO's. */
  g_task_set_check_cancellable (task, FALSE);

  wait = g_new0 (Wait, 1);
  wait->context = g_object_ref (context);
  wait->started_ms = now;
  g_task_set_task_data (task, wait, (GDestroyNotify) wait_free);

  if (self->key_parts == NULL)
    {
      wait->error = g_error_new_literal (SLUICE_ERROR, SLUICE_ERROR_FAILED,
                                         "the rate-limit stage was used before it was configured");
      wait_return (task);
      return;
    }
  if (g_cancellable_is_cancelled (cancellable))
    {
      wait->error = g_error_new_literal (SLUICE_ERROR, SLUICE_ERROR_CANCELLED, "the request was cancelled");
      wait_return (task);
      return;
    }
  if (sluice_context_get_dry_run (context))
    {
      wait_return (task);   /* nothing will be sent: nothing is charged */
      return;
    }

  name = render_key (self, context);
  key = lookup_key (self, name, now);
  wait->tokens = estimate_tokens (self, context);
  wait->error = try_now (self, key, wait, now, &admitted);
  if (wait->error != NULL || admitted)
    {
      if (admitted)
        admit (self, key, wait, now);
      wait_return (task);
      return;
    }

  /* The queue holds the task's one reference until it is returned. */
  wait->key = key;
  wait->deadline_ms = now + self->max_wait_ms;
  g_queue_push_tail (&key->waiting, task);
  wait->link = g_queue_peek_tail_link (&key->waiting);
  key->waiting_tokens += wait->tokens;
  sluice_cancel_watch_start (&wait->cancel_watch, cancellable, g_task_get_context (task),
                             on_wait_cancelled, task);
  if (wait->link == g_queue_peek_head_link (&key->waiting))
    key_drain (self, key);   /* the first to wait sets the timer */
}

/* ---- on the way out ------------------------------------------------------------ */

/* The provider counts every client of the key: what it says is left wins
 * over a fuller bucket, and an exhausted limit stays empty until its reset. */
static void
learn (Bucket *bucket,
       gint64  remaining,
       gint64  reset_ms,
       gint64  now)
{
  if (bucket->capacity == 0 || remaining < 0)
    return;
  bucket_refill (bucket, now);
  bucket->level = MIN (bucket->level, remaining * SCALE);
  if (remaining == 0 && reset_ms > 0)
    bucket->updated_ms = MAX (bucket->updated_ms, now + reset_ms);
}

static void
sluice_rate_limit_stage_complete_async (SluiceStage         *stage,
                                        SluiceContext       *context,
                                        GCancellable        *cancellable,
                                        GAsyncReadyCallback  callback,
                                        gpointer             user_data)
{
  SluiceRateLimitStage *self = SLUICE_RATE_LIMIT_STAGE (stage);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  Ticket *ticket = g_object_steal_data (G_OBJECT (context), self->ticket_name);
  SluiceResponse *response = sluice_context_get_response (context);
  gint64 now = sluice_monotonic_ms ();
  gint64 used, reset;
  Key *key;

  g_task_set_source_tag (task, sluice_rate_limit_stage_complete_async);
  if (ticket == NULL)
    {
      /* Refused, cancelled, or never got this far: nothing was charged. */
      g_task_return_boolean (task, TRUE);
      return;
    }

  key = lookup_key (self, ticket->key, now);
  /* What the attempts used, for the estimate charged: a debt or a refund. */
  used = MAX (sluice_context_get_prompt_tokens (context), 0) +
         MAX (sluice_context_get_completion_tokens (context), 0);
  if (key->tokens.capacity != 0)
    {
      bucket_refill (&key->tokens, now);
      key->tokens.level = MIN (key->tokens.level - (used - ticket->tokens) * SCALE, key->tokens.capacity);
    }

  if (response != NULL)
    {
      reset = sluice_response_get_ratelimit_reset_ms (response);
      learn (&key->requests, sluice_response_get_ratelimit_remaining_requests (response), reset, now);
      learn (&key->tokens, sluice_response_get_ratelimit_remaining_tokens (response), reset, now);
    }
  ticket_free (ticket);

  /* The head's time may have moved either way. */
  if (!g_queue_is_empty (&key->waiting))
    key_drain (self, key);
  g_task_return_boolean (task, TRUE);
}

static gboolean
sluice_rate_limit_stage_complete_finish (SluiceStage   *stage,
                                         GAsyncResult  *result,
                                         GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, stage), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ---- configuration ------------------------------------------------------------ */

static void
add_part (GArray     *parts,
          PartKind    kind,
          const char *text,
          gssize      len)
{
  Part part = { kind, len < 0 ? g_strdup (text) : g_strndup (text, (gsize) len) };

  g_array_append_val (parts, part);
}

/* Literal text with {{labels.NAME}} and {{input.FIELD}}. */
static GArray *
parse_key (const char  *template,
           GError     **error)
{
  g_autoptr(GArray) parts = g_array_new (FALSE, FALSE, sizeof (Part));
  const char *p = template;

  g_array_set_clear_func (parts, (GDestroyNotify) part_clear);
  while (*p != '\0')
    {
      const char *open = strstr (p, "{{");
      const char *close;
      g_autofree char *inner = NULL;

      if (open == NULL)
        {
          add_part (parts, PART_TEXT, p, -1);
          break;
        }
      if (open > p)
        add_part (parts, PART_TEXT, p, open - p);
      close = strstr (open + 2, "}}");
      if (close == NULL)
        {
          g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                       "key: '{{' at offset %d is not closed with '}}'", (int) (open - template));
          return NULL;
        }
      inner = g_strstrip (g_strndup (open + 2, close - open - 2));
      if (g_str_has_prefix (inner, "labels.") && inner[7] != '\0')
        add_part (parts, PART_LABEL, inner + 7, -1);
      else if (g_str_has_prefix (inner, "input.") && inner[6] != '\0')
        add_part (parts, PART_INPUT, inner + 6, -1);
      else
        {
          g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                       "key: '{{%s}}' is not {{labels.NAME}} or {{input.FIELD}}", inner);
          return NULL;
        }
      p = close + 2;
    }
  return g_steal_pointer (&parts);
}

/* An integer member from @min to SLUICE_MAX_COUNT; -1 when absent. */
static gboolean
read_count (JsonObject  *config,
            const char  *member,
            gint64       min,
            gint64      *out_value,
            GError     **error)
{
  JsonNode *node = json_object_get_member (config, member);

  *out_value = -1;
  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64 ||
      json_node_get_int (node) < min || json_node_get_int (node) > SLUICE_MAX_COUNT)
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                   "'%s' must be an integer from %" G_GINT64_FORMAT " to %" G_GINT64_FORMAT,
                   member, min, SLUICE_MAX_COUNT);
      return FALSE;
    }
  *out_value = json_node_get_int (node);
  return TRUE;
}

static gboolean
sluice_rate_limit_stage_configure (SluiceStage     *stage,
                                   SluicePipeline  *pipeline,
                                   JsonObject      *config,
                                   GError         **error)
{
  SluiceRateLimitStage *self = SLUICE_RATE_LIMIT_STAGE (stage);
  gint64 rpm, tpm, burst, token_burst, max_queue, expected;
  const char *on_limit = sluice_json_get_string (config, "on_limit");
  const char *template = sluice_json_get_string (config, "key");
  g_autoptr(GArray) parts = NULL;

  if (!read_count (config, "requests_per_minute", 1, &rpm, error) ||
      !read_count (config, "tokens_per_minute", 1, &tpm, error) ||
      !read_count (config, "burst", 1, &burst, error) ||
      !read_count (config, "token_burst", 1, &token_burst, error) ||
      !read_count (config, "max_queue", 0, &max_queue, error) ||
      !read_count (config, "expected_completion_tokens", 0, &expected, error) ||
      !sluice_config_get_duration (config, "max_wait", DEFAULT_MAX_WAIT_MS, &self->max_wait_ms, error))
    return FALSE;

  if (rpm < 0 && tpm < 0)
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                           "give requests_per_minute, tokens_per_minute or both, "
                           "e.g. requests_per_minute: 600");
      return FALSE;
    }
  if ((burst > 0 && rpm < 0) || (token_burst > 0 && tpm < 0))
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                           burst > 0 && rpm < 0 ? "'burst' needs requests_per_minute"
                                                : "'token_burst' needs tokens_per_minute");
      return FALSE;
    }
  if (on_limit != NULL && !g_str_equal (on_limit, "wait") && !g_str_equal (on_limit, "reject"))
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                           "'on_limit' must be \"wait\" or \"reject\"");
      return FALSE;
    }

  if (template != NULL)
    parts = parse_key (template, error);
  else
    {
      parts = g_array_new (FALSE, FALSE, sizeof (Part));
      g_array_set_clear_func (parts, (GDestroyNotify) part_clear);
      add_part (parts, PART_TEXT, pipeline != NULL ? sluice_pipeline_get_name (pipeline) : "default", -1);
    }
  if (parts == NULL)
    return FALSE;

  g_clear_pointer (&self->key_parts, g_array_unref);
  self->key_parts = g_steal_pointer (&parts);
  self->requests_per_minute = MAX (rpm, 0);
  self->tokens_per_minute = MAX (tpm, 0);
  self->burst = burst > 0 ? burst : MAX (1, rpm / 60);
  self->token_burst = token_burst > 0 ? token_burst : MAX (1, tpm / 6);
  self->reject = g_strcmp0 (on_limit, "reject") == 0;
  self->max_queue = max_queue >= 0 ? max_queue : DEFAULT_MAX_QUEUE;
  self->expected_completion_tokens = MAX (expected, 0);
  /* Buckets sized by the old settings would mislead. */
  g_hash_table_remove_all (self->keys);
  return TRUE;
}

static void
stage_iface_init (SluiceStageInterface *iface)
{
  iface->configure = sluice_rate_limit_stage_configure;
  /* process_finish: the default reads the verdict the task returns. */
  iface->process_async = sluice_rate_limit_stage_process_async;
  iface->complete_async = sluice_rate_limit_stage_complete_async;
  iface->complete_finish = sluice_rate_limit_stage_complete_finish;
}
