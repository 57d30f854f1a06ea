/* sluice-breaker.c — closed → open → half-open → closed, on consecutive
 * failures or on a failure rate over a rolling window.
 *
 * The window is a ring of buckets (a tenth of the window each), so that
 * counting a call and reading the rate cost the same however busy the
 * target is. Transitions emit "state-changed" and are logged.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "sluice-breaker"

#include "sluice.h"

#define N_BUCKETS 10

typedef struct
{
  gint64 start_ms;   /* -1: empty */
  guint  calls;
  guint  failures;
} Bucket;

struct _SluiceBreaker
{
  GObject               parent_instance;

  char                 *key;
  SluiceBreakerSettings settings;
  SluiceBreakerState    state;
  gint64                opened_ms;
  guint                 consecutive;
  guint                 probes_out;     /* admitted while half-open, not yet back */
  guint                 n_opened;
  guint64               n_refused;
  Bucket                buckets[N_BUCKETS];
};

G_DEFINE_FINAL_TYPE (SluiceBreaker, sluice_breaker, G_TYPE_OBJECT)

enum { STATE_CHANGED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void
sluice_breaker_finalize (GObject *object)
{
  g_free (SLUICE_BREAKER (object)->key);
  G_OBJECT_CLASS (sluice_breaker_parent_class)->finalize (object);
}

static void
sluice_breaker_class_init (SluiceBreakerClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sluice_breaker_finalize;

  /**
   * SluiceBreaker::state-changed:
   * @self: the breaker
   * @old_state: a #SluiceBreakerState
   * @new_state: a #SluiceBreakerState
   */
  signals[STATE_CHANGED] = g_signal_new ("state-changed", G_TYPE_FROM_CLASS (klass),
                                         G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                         G_TYPE_NONE, 2, G_TYPE_INT, G_TYPE_INT);
}

static void
sluice_breaker_init (SluiceBreaker *self)
{
  for (guint i = 0; i < N_BUCKETS; i++)
    self->buckets[i].start_ms = -1;
}

SluiceBreaker *
sluice_breaker_new (const char                  *key,
                    const SluiceBreakerSettings *settings)
{
  SluiceBreaker *self = g_object_new (SLUICE_TYPE_BREAKER, NULL);

  g_return_val_if_fail (settings != NULL, self);
  self->key = g_strdup (key != NULL ? key : "");
  self->settings = *settings;
  self->settings.probes = MAX (self->settings.probes, 1);
  self->settings.window_ms = MAX (self->settings.window_ms, N_BUCKETS);
  return self;
}

const char *
sluice_breaker_get_key (SluiceBreaker *self)
{
  g_return_val_if_fail (SLUICE_IS_BREAKER (self), NULL);
  return self->key;
}

const char *
sluice_breaker_state_to_string (SluiceBreakerState state)
{
  switch (state)
    {
    case SLUICE_BREAKER_CLOSED:    return "closed";
    case SLUICE_BREAKER_OPEN:      return "open";
    case SLUICE_BREAKER_HALF_OPEN: return "half-open";
    default:                       return "unknown";
    }
}

static void
clear_window (SluiceBreaker *self)
{
  for (guint i = 0; i < N_BUCKETS; i++)
    self->buckets[i] = (Bucket) { -1, 0, 0 };
}

static void
set_state (SluiceBreaker      *self,
           SluiceBreakerState  state,
           gint64              now_ms)
{
  SluiceBreakerState old = self->state;

  if (old == state)
    return;
  self->state = state;
  self->probes_out = 0;
  self->consecutive = 0;
  if (state == SLUICE_BREAKER_OPEN)
    {
      self->opened_ms = now_ms;
      self->n_opened++;
    }
  if (state == SLUICE_BREAKER_CLOSED)
    clear_window (self);
  g_message ("circuit breaker %s: %s -> %s", self->key,
             sluice_breaker_state_to_string (old), sluice_breaker_state_to_string (state));
  g_signal_emit (self, signals[STATE_CHANGED], 0, (int) old, (int) state);
}

/* An open breaker turns half-open lazily, when it is next asked. */
static void
advance (SluiceBreaker *self,
         gint64         now_ms)
{
  if (self->state == SLUICE_BREAKER_OPEN && now_ms - self->opened_ms >= self->settings.reset_ms)
    set_state (self, SLUICE_BREAKER_HALF_OPEN, now_ms);
}

SluiceBreakerState
sluice_breaker_get_state (SluiceBreaker *self,
                          gint64         now_ms)
{
  g_return_val_if_fail (SLUICE_IS_BREAKER (self), SLUICE_BREAKER_CLOSED);
  if (self->state == SLUICE_BREAKER_OPEN && now_ms - self->opened_ms >= self->settings.reset_ms)
    return SLUICE_BREAKER_HALF_OPEN;
  return self->state;
}

gboolean
sluice_breaker_is_available (SluiceBreaker *self,
                             gint64         now_ms)
{
  g_return_val_if_fail (SLUICE_IS_BREAKER (self), TRUE);

  switch (sluice_breaker_get_state (self, now_ms))
    {
    case SLUICE_BREAKER_CLOSED:
      return TRUE;
    case SLUICE_BREAKER_HALF_OPEN:
      return self->state == SLUICE_BREAKER_OPEN || self->probes_out < self->settings.probes;
    default:
      return FALSE;
    }
}

gboolean
sluice_breaker_try_acquire (SluiceBreaker *self,
                            gint64         now_ms)
{
  g_return_val_if_fail (SLUICE_IS_BREAKER (self), TRUE);

  advance (self, now_ms);
  if (self->state == SLUICE_BREAKER_CLOSED)
    return TRUE;
  if (self->state == SLUICE_BREAKER_HALF_OPEN && self->probes_out < self->settings.probes)
    {
      self->probes_out++;
      return TRUE;
    }
  self->n_refused++;
  return FALSE;
}

static Bucket *
current_bucket (SluiceBreaker *self,
                gint64         now_ms)
{
  gint64 width = self->settings.window_ms / N_BUCKETS;
  gint64 start = now_ms - (now_ms % width);
  Bucket *bucket = &self->buckets[(start / width) % N_BUCKETS];

  if (bucket->start_ms != start)
    *bucket = (Bucket) { start, 0, 0 };
  return bucket;
}

static gboolean
rate_exceeded (SluiceBreaker *self,
               gint64         now_ms)
{
  guint calls = 0, failures = 0;

  if (self->settings.failure_rate <= 0)
    return FALSE;
  for (guint i = 0; i < N_BUCKETS; i++)
    if (self->buckets[i].start_ms >= 0 && now_ms - self->buckets[i].start_ms < self->settings.window_ms)
      {
        calls += self->buckets[i].calls;
        failures += self->buckets[i].failures;
      }
  return calls >= MAX (self->settings.min_calls, 1) &&
         (gdouble) failures >= self->settings.failure_rate * (gdouble) calls;
}

void
sluice_breaker_record (SluiceBreaker *self,
                       gint64         now_ms,
                       gboolean       healthy)
{
  Bucket *bucket;

  g_return_if_fail (SLUICE_IS_BREAKER (self));

  advance (self, now_ms);
  switch (self->state)
    {
    case SLUICE_BREAKER_HALF_OPEN:
      if (self->probes_out > 0)
        self->probes_out--;
      set_state (self, healthy ? SLUICE_BREAKER_CLOSED : SLUICE_BREAKER_OPEN, now_ms);
      return;
    case SLUICE_BREAKER_OPEN:
      return;   /* a call admitted before it opened: already counted against */
    default:
      break;
    }

  bucket = current_bucket (self, now_ms);
  bucket->calls++;
  if (healthy)
    {
      self->consecutive = 0;
      return;
    }
  bucket->failures++;
  self->consecutive++;
  if ((self->settings.failures > 0 && self->consecutive >= self->settings.failures) ||
      rate_exceeded (self, now_ms))
    set_state (self, SLUICE_BREAKER_OPEN, now_ms);
}

void
sluice_breaker_release (SluiceBreaker *self)
{
  g_return_if_fail (SLUICE_IS_BREAKER (self));
  if (self->state == SLUICE_BREAKER_HALF_OPEN && self->probes_out > 0)
    self->probes_out--;
}

guint
sluice_breaker_get_n_opened (SluiceBreaker *self)
{
  g_return_val_if_fail (SLUICE_IS_BREAKER (self), 0);
  return self->n_opened;
}

guint64
sluice_breaker_get_n_refused (SluiceBreaker *self)
{
  g_return_val_if_fail (SLUICE_IS_BREAKER (self), 0);
  return self->n_refused;
}
